"""Signalling benchmark (driven by bench/signalling.sh; see bench/README.md).

Runs inside the private network namespace of tests/lib/with-netns.sh, with a
private PostgreSQL (tests/lib/pg_instance.py) as the plugin's database
(BENCH_DB=0: none) and, for each size in BENCH_DEVICES, a fresh private Janus
with the plugin (tests/lib/janus_instance.py, auth = "none", no rate limit).

For each size N:

  1. N devices, one user each, each with a Janus session and a handle of its
     own, as every real client has; the sessions share BENCH_CONNS
     WebSockets (Janus sends each session's events down the WebSocket that
     made it). All register. Users "c00000".. call, users "r00000".. are
     called: N/2 fixed pairs, caller i always calling callee i.
  2. At rest: BENCH_CALLS cycles, one at a time, on the pairs in a random
     order (each pair's turn comes round only after all the others'). A cycle is
     `call {to, video: true}` + JSEP offer -> `calling` reply, `ringing` at
     the caller and `incoming_call` (with the offer) at the callee;
     `accept` + JSEP answer -> `accepted` reply and `accepted` (with the
     answer) at the caller; the caller's `hangup` -> `hungup` reply and
     `ended {reason: "hangup"}` at the callee.
  3. Throughput: for each C in BENCH_CONCURRENCY, C workers run cycles back
     to back for BENCH_STEP_S seconds, each taking the pair idle longest. A
     pair waits BENCH_COOLDOWN_MS after its hangup before its next call:
     Janus frees a handle's PeerConnection on its loop thread, and the
     plugin lets a handle settle 250 ms after that before it offers it a new
     call (calls_call.c), so an earlier call would measure that wait. The
     sweep stops once two steps in a row fall short of 5% over the best
     throughput so far: the machine is saturated.

Measured per phase: the latencies (send -> the event at the other device,
stamped as the client reads it), calls a second, and the CPU (utime + stime
from /proc) of Janus, of each of its threads by name, of this client and of
PostgreSQL, and the machine's busy share (/proc/stat); the plugin's handler
thread is also sampled (where its wall time goes). BENCH_PERF=1 also runs one
more step at the best C with perf recording Janus, by thread, library and
function, and the handler thread with call graphs.

The JSEP pair is made once at start by two aiortc PeerConnections (audio +
video, as a real client sends) with the candidates taken out: Janus's core
parses it, makes an ICE agent for each of the two handles, gathers its own
candidates and waits for the peer's, which never come, until the hangup
closes it. No media flows.

Prints tables. Exit status 1 when setup failed or an answer was missing or
wrong (a reply, an event, a PeerConnection Janus never reported closed).
"""

import asyncio
import collections
import contextlib
import os
import random
import signal
import subprocess
import threading
import time

import benchlib
from benchlib import (Janus, admin_stats, arguments, begin, cpu_seconds, env_int, env_list, finish, log, log_counts,
                      ms, num, pct, plugin_conf, postgres, run_async, status_field, stop_janus, table, threads)
from calls_client import AdminClient, Media
from group import machine_cpu
from pg_instance import PgCluster
from push import dist, thread_ids

RING_TIMEOUT = 600       # the plugin's maximum: no call ends by itself
EVENT_WAIT = 30          # seconds an awaited event may take
FAILED_COOLDOWN = 5.0    # a pair whose cycle failed rests this long (RELEASE_WAIT is 3 s)
PLATEAU = 1.05           # a step must beat the best so far by this much...
PLATEAU_STEPS = 2        # ... or, this many times in a row, the sweep ends


# ---------------------------------------------------------------- the JSEP pair

def without_candidates(jsep):
    """No candidates: Janus never starts connectivity checks, so its ICE
    agent just waits until the PeerConnection is closed."""
    lines = [x for x in jsep["sdp"].splitlines()
             if not x.startswith(("a=candidate:", "a=end-of-candidates"))]
    return {"type": jsep["type"], "sdp": "\r\n".join(lines) + "\r\n"}


async def jsep_pair():
    offerer, answerer = Media("offerer"), Media("answerer")
    try:
        offer = await offerer.offer(audio=True, video=True)
        answer = await answerer.answer(offer)
    finally:
        await offerer.close()
        await answerer.close()
    return without_candidates(offer), without_candidates(answer)


# ---------------------------------------------------------------- the clients

class Session:
    """A device's own Janus session on a shared WebSocket: what Dev needs of
    a Conn. Handle ids are unique across sessions, so Conn's reader routes
    the events of every session on it by sender alone."""

    __slots__ = ("conn", "session_id")

    def __init__(self, conn, session_id):
        self.conn = conn
        self.session_id = session_id

    async def request(self, msg, timeout=None):
        msg["session_id"] = self.session_id
        return await self.conn.request(msg, timeout)


class Dev(benchlib.Dev):
    __slots__ = ("waits",)

    def __init__(self, user, conn):
        super().__init__(user, conn)
        self.waits = {}         # event name -> future of (time read, data)

    def expect(self, name):
        """Set before the request that causes it: the event can come before
        the request's own reply."""
        fut = asyncio.get_running_loop().create_future()
        self.waits[name] = fut
        return fut

    async def event(self, fut, name, call_id):
        try:
            t, data = await asyncio.wait_for(fut, EVENT_WAIT)
        except asyncio.TimeoutError:
            raise RuntimeError("no %s at %s for call %s within %d s" % (name, self.user, call_id, EVENT_WAIT)) from None
        if data.get("call_id") != call_id:
            raise RuntimeError("%s at %s for call %r, not %s" % (name, self.user, data.get("call_id"), call_id))
        return t, data


class Bench(benchlib.Bench):
    def __init__(self, url, conns_n, offer, answer):
        super().__init__(url, conns_n)
        self.offer = offer
        self.answer = answer
        self.pairs = []
        self.ready = collections.deque()    # (free from, caller, callee), idle longest first

    def on_event(self, sender, t, data):
        d = self.by_handle.get(sender)
        name = data.get("calls")
        fut = d.waits.pop(name, None) if d is not None else None
        if fut is None or fut.done():
            self.other_event(name)
            return
        fut.set_result((t, data))

    async def devices(self, n, seed, limit=200):
        """n devices with a session each, the WebSockets taking turns; the
        session Conn.open made is the first device's on each."""
        devs = []
        for i in range(n):
            conn = self.conns[i % self.conns_n]
            user = ("c%05d" if i % 2 == 0 else "r%05d") % (i // 2)
            devs.append(Dev(user, Session(conn, conn.session_id) if i < self.conns_n else conn))

        async def create(d):
            r, _ = await d.conn.request({"janus": "create", "session_id": None})
            if r.get("janus") != "success":
                raise RuntimeError("create failed: %r" % r)
            d.conn = Session(d.conn, r["data"]["id"])
        t0 = time.monotonic()
        await self.pool((lambda d=d: create(d) for d in devs[self.conns_n:]), limit, "sessions")
        t_sessions = time.monotonic() - t0
        t_attach = await self.attach(devs, limit, "attach")

        async def register(d):
            await d.ok({"request": "register", "user": d.user, "device": "d"}, "registered")
        t_register = await self.pool((lambda d=d: register(d) for d in devs), limit, "register")
        self.pairs = [(devs[i], devs[i + 1]) for i in range(0, n - 1, 2)]
        order = list(self.pairs)
        random.Random(seed).shuffle(order)
        self.ready.extend((0.0, c, r) for c, r in order)
        return t_sessions, t_attach, t_register


async def cycle(caller, callee, offer, answer):
    """One call set up and ended; the times of its steps (seconds)."""
    ringing = caller.expect("ringing")
    incoming = callee.expect("incoming_call")
    call_id = None
    try:
        t0 = time.monotonic()
        data, t_calling = await caller.ok({"request": "call", "to": callee.user, "video": True}, "calling", offer)
        call_id = data.get("call_id")
        t_inc, inc = await callee.event(incoming, "incoming_call", call_id)
        if inc.get("waiting"):
            # The offer follows once the callee's last PeerConnection is
            # down; accepting now would be 409.
            raise RuntimeError("%s got call %s as a waiting call (its last PeerConnection still closing)"
                               % (callee.user, call_id))
        accepted = caller.expect("accepted")
        t1 = time.monotonic()
        _, t_acc_reply = await callee.ok({"request": "accept", "call_id": call_id}, "accepted", answer)
        t_acc, _ = await caller.event(accepted, "accepted", call_id)
        await caller.event(ringing, "ringing", call_id)
        ended = callee.expect("ended")
        t2 = time.monotonic()
        _, t_hungup = await caller.ok({"request": "hangup", "call_id": call_id}, "hungup")
        t_end, end = await callee.event(ended, "ended", call_id)
    except BaseException:
        caller.waits.clear()
        callee.waits.clear()
        if call_id is not None:
            with contextlib.suppress(Exception):
                await caller.send({"request": "hangup", "call_id": call_id})
        raise
    if end.get("reason") != "hangup":
        raise RuntimeError("%s: call %s ended with %r, not hangup" % (callee.user, call_id, end.get("reason")))
    return {"calling": t_calling - t0, "incoming": t_inc - t0, "accept_reply": t_acc_reply - t1,
            "accepted": t_acc - t1, "hungup": t_hungup - t2, "ended": t_end - t2, "cycle": t_end - t0}


# ---------------------------------------------------------------- CPU

def thread_seconds(pid):
    """{tid: (name, CPU seconds)} of the threads of pid, digits dropped from
    the names so that Janus's per-handle loops add up. From schedstat
    (nanoseconds): stat counts whole clock ticks per thread, which loses
    most of what each of thousands of handle threads does in a call."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = "".join(c for c in f.read().strip() if not c.isdigit()).strip() or "?"
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                out[tid] = (name, int(f.read().split()[0]) / 1e9)
        except (OSError, ValueError, IndexError):
            continue
    return out


class Meter:
    """CPU of Janus (whole and by thread name), of this client and of
    PostgreSQL, and the machine's, between two reads."""

    def __init__(self, janus_pid, pg):
        self.pid = janus_pid
        self.pg = pg
        self.handler = thread_ids(janus_pid, ("calls handler",)).get("calls handler")
        if self.handler is None:
            raise RuntimeError("Janus has no 'calls handler' thread: did the plugin start?")

    def read(self):
        pg = sum(cpu_seconds(p, default=0.0) for p in self.pg.pids()) if self.pg is not None else 0.0
        return {"t": time.monotonic(), "janus": cpu_seconds(self.pid), "threads": thread_seconds(self.pid),
                "self": cpu_seconds(os.getpid()), "pg": pg, "machine": machine_cpu()}

    @staticmethod
    def diff(a, b):
        busy = b["machine"][0] - a["machine"][0]
        total = b["machine"][1] - a["machine"][1]
        # By thread id: a thread that ended in between takes its time with
        # it (Janus's request pool lets idle workers go), so it is left to
        # the process total.
        by_name = {}
        for tid, (name, v) in b["threads"].items():
            by_name[name] = by_name.get(name, 0.0) + v - a["threads"].get(tid, (name, 0.0))[1]
        out = {"time": b["t"] - a["t"], "janus": b["janus"] - a["janus"], "self": b["self"] - a["self"],
               "pg": b["pg"] - a["pg"], "busy": 100.0 * busy / total if total else float("nan"),
               "threads": by_name}
        # What the rest of the machine did meanwhile.
        own = out["janus"] + out["self"] + out["pg"]
        out["other"] = max(0.0, out["busy"] - 100.0 * own / (out["time"] * os.cpu_count())) if out["time"] else 0.0
        return out


# Syscalls by number (x86_64) as the handler thread is found in them.
SYSCALLS = {"0": "read", "1": "write", "7": "poll", "20": "writev", "35": "nanosleep", "41": "socket",
            "44": "sendto", "46": "sendmsg", "49": "bind", "202": "futex", "230": "clock_nanosleep",
            "232": "epoll_wait", "271": "ppoll"}


class Sampler:
    """Where one thread of Janus spends its wall time: what
    /proc/<pid>/task/<tid>/syscall shows, read every 2 ms on a thread of this
    process. The plugin's handler thread waits for work on one futex (its
    queue's); a futex at any other address is a lock. nanosleep there is
    Janus's core inside push_event polling, 1 ms at a time, until the ICE
    agent it just made for the receiving handle has gathered its candidates
    (half-trickle: they go into the SDP it sends)."""

    def __init__(self, pid, tid):
        self.path = "/proc/%d/task/%d/syscall" % (pid, tid)
        self.counts = {}
        self.futex = {}          # futex address -> samples
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.wait(0.002):
            try:
                with open(self.path) as f:
                    fields = f.read().split()
            except OSError:
                return
            if not fields:
                continue
            what = SYSCALLS.get(fields[0], fields[0]) if fields[0] != "running" else "running"
            self.counts[what] = self.counts.get(what, 0) + 1
            if what == "futex" and len(fields) > 1:
                self.futex[fields[1]] = self.futex.get(fields[1], 0) + 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def shares(self):
        """{running, sleep, idle, lock, other, samples}: percent of the
        samples; idle: the futex the thread waits on most (its queue)."""
        total = sum(self.counts.values())
        if not total:
            return None
        idle = max(self.futex.values()) if self.futex else 0
        sleep = self.counts.get("nanosleep", 0) + self.counts.get("clock_nanosleep", 0)
        lock = self.counts.get("futex", 0) - idle
        running = self.counts.get("running", 0)
        other = total - idle - sleep - lock - running
        others = sorted(((v, k) for k, v in self.counts.items()
                         if k not in ("running", "futex", "nanosleep", "clock_nanosleep")), reverse=True)
        return {"samples": total, "running": 100.0 * running / total, "sleep": 100.0 * sleep / total,
                "idle": 100.0 * idle / total, "lock": 100.0 * lock / total, "other": 100.0 * other / total,
                "others": ", ".join("%s %.0f%%" % (k, 100.0 * v / total) for v, k in others[:3])}


# ---------------------------------------------------------------- phases

async def phase(bench, meter, cfg, conc, what, calls=None, seconds=None):
    """conc workers running cycles back to back, each on the pair idle
    longest, until calls cycles have started or seconds have passed."""
    ready = bench.ready
    rows = []
    fails = [0]
    waits = [0]
    started = [0]
    in_time = [0]            # cycles done before the deadline (the rest drain after it)
    deadline = time.monotonic() + seconds if seconds else None

    def more():
        if calls is not None:
            return started[0] < calls
        return time.monotonic() < deadline

    async def worker():
        while more():
            started[0] += 1
            free_at, caller, callee = ready.popleft()
            delay = free_at - time.monotonic()
            if delay > 0:
                waits[0] += 1
                await asyncio.sleep(delay)
            rest = cfg["cooldown"]
            try:
                rows.append(await cycle(caller, callee, bench.offer, bench.answer))
                in_time[0] += deadline is None or time.monotonic() <= deadline
            except Exception as e:  # noqa: BLE001
                fails[0] += 1
                rest = FAILED_COOLDOWN
                bench.problem_note("%s: %s" % (what, e))
            ready.append((time.monotonic() + rest, caller, callee))

    c0 = meter.read()
    with Sampler(meter.pid, meter.handler) as sampler:
        await asyncio.gather(*(worker() for _ in range(min(conc, len(ready)))))
    cpu = Meter.diff(c0, meter.read())
    return {"conc": conc, "rows": rows, "failed": fails[0], "waits": waits[0], "cpu": cpu,
            "rate": in_time[0] / (seconds or cpu["time"] or 1.0), "handler": sampler.shares()}


async def sweep(bench, meter, cfg):
    """The steps of BENCH_CONCURRENCY, until PLATEAU_STEPS of them in a row
    fall short of PLATEAU times the best so far."""
    out = []
    best = 0.0
    short = 0
    for conc in cfg["concurrency"]:
        if conc > len(bench.pairs):
            log("  C=%d skipped: only %d pairs" % (conc, len(bench.pairs)))
            break
        r = await phase(bench, meter, cfg, conc, "C=%d" % conc, seconds=cfg["step_s"])
        out.append(r)
        log("  C=%d: %.0f calls/s, janus %.2f cores, client %.2f, machine %.0f%% busy, %d failed" % (
            conc, r["rate"], r["cpu"]["janus"] / r["cpu"]["time"], r["cpu"]["self"] / r["cpu"]["time"],
            r["cpu"]["busy"], r["failed"]))
        short = 0 if r["rate"] > best * PLATEAU else short + 1
        best = max(best, r["rate"])
        if short >= PLATEAU_STEPS:
            break
        # The last cycles' PeerConnections close before the next step.
        await asyncio.sleep(cfg["cooldown"])
    return out


async def profiled(bench, meter, cfg, janus, work, conc):
    """One more step at conc with perf recording the machine (perf -p needs
    descriptors for each of Janus's thousands of threads), reported for
    Janus alone, and the plugin's handler thread alone with call graphs."""
    path = os.path.join(work, "perf.data")
    graph = os.path.join(work, "perf-handler.data")
    perfs = [await asyncio.create_subprocess_exec(
        "perf", "record", "-q", *args, "-o", out, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL) for args, out in (
        (["-F", "999", "-e", "cpu-clock", "-a"], path),
        (["-F", "499", "-e", "cpu-clock", "--call-graph", "dwarf,16384", "-t", str(meter.handler)], graph))]
    r = await phase(bench, meter, cfg, conc, "profiled C=%d" % conc, seconds=cfg["step_s"])
    for perf in perfs:
        perf.send_signal(signal.SIGINT)
        await perf.wait()
    pid = str(janus.proc.pid)
    r["perf_comm"] = await asyncio.to_thread(perf_rows, path, "comm,dso", "--pid", pid)
    r["perf_sym"] = await asyncio.to_thread(perf_rows, path, "dso,sym", "--pid", pid)
    r["perf_handler"] = await asyncio.to_thread(handler_split, graph)
    return r


def perf_rows(path, sort, *extra):
    """[(share %, key...)] of perf report --sort sort, largest first, shares
    of the samples kept by extra (a filter); digits dropped from thread
    names, so that Janus's per-handle loops add up."""
    text = subprocess.run(["perf", "report", "-i", path, "--stdio", "-q", "--sort", sort, "--percentage",
                           "relative", "--percent-limit", "0.05", *extra],
                          capture_output=True, text=True, check=False).stdout
    keys = sort.split(",")
    merged = {}
    for line in text.splitlines():
        share, _, rest = line.strip().partition("%")
        fields = rest.split()
        if len(fields) < len(keys):
            continue
        if keys[0] == "comm":
            # A thread name may hold spaces; the library never does.
            fields = [" ".join(fields[:-1]), fields[-1]]
            fields[0] = "".join(c for c in fields[0] if not c.isdigit()).strip()
        elif keys[-1] == "sym":
            # "[.] name" or "[k] name" after the library
            fields = [fields[0], " ".join(fields[2:])]
        key = tuple(fields[:len(keys)])
        try:
            merged[key] = merged.get(key, 0.0) + float(share)
        except ValueError:
            continue
    return sorted(((v,) + k for k, v in merged.items()), reverse=True)


# Functions on the handler thread's stack, as (symbol, what), in the order
# the table shows them; the core's are what the plugin calls it for.
SPLIT = (("handler_thread", "the handler thread's loop (everything it does)"),
         ("calls_dispatch", "plugin: a request, checked and carried out"),
         ("calls_call_tick", "plugin: timers, and the devices waiting for their PeerConnection to close"),
         ("calls_store_write", "plugin: a record handed to the store thread"),
         ("calls_out_flush", "plugin: the outbox flushed, with what it calls in the core:"),
         ("janus_plugin_push_event", "  core: push_event (a reply or event to a handle)"),
         ("janus_plugin_handle_sdp", "    core: ... with a JSEP: parse, merge, ICE"),
         ("janus_ice_setup_local", "      core: ... a new ICE agent for the receiving handle"),
         ("getifaddrs", "        libc: ... the machine's interfaces, read over netlink"),
         ("janus_sdp_merge", "      core: ... its own ICE and DTLS lines into the SDP"),
         ("janus_websockets_send_message", "    core: ... queued for the WebSocket, its thread woken"),
         ("janus_plugin_close_pc", "  core: close_pc"),
         ("janus_plugin_notify_event", "  core: notify_event (event handlers)"))


def handler_split(path):
    """{function: percent of the handler thread's samples with it on the
    stack}, for the functions of SPLIT."""
    names = {sym for sym, _ in SPLIT}
    text = subprocess.run(["perf", "report", "-i", path, "--stdio", "-q", "--children", "--sort", "sym",
                           "-g", "none", "--percent-limit", "0.1"],
                          capture_output=True, text=True, check=False).stdout
    out = {}
    for line in text.splitlines():
        fields = line.split()
        sym = fields[-1].replace("__GI___", "") if fields else ""
        if len(fields) >= 4 and fields[0].endswith("%") and sym in names:
            out[sym] = max(out.get(sym, 0.0), float(fields[0][:-1]))
    return out


async def run_size(a, pg, n, cfg, offer, answer, res):
    work = os.path.join(a.work, "n%d" % n)
    os.makedirs(work, exist_ok=True)
    conninfo = pg.conninfo if pg is not None else ""
    janus = Janus(plugin_dir=a.plugin_dir, workdir=os.path.join(work, "janus"), debug_level=cfg["debug_level"],
                  plugin_conf=plugin_conf(conninfo, os.path.join(work, "spool"), "bench-signalling",
                                          general={"ring_timeout": RING_TIMEOUT}))
    janus.event_loops = cfg["event_loops"]
    conns = max(1, min(cfg["conns"], n))
    bench = Bench(janus.ws_url, conns, offer, answer)
    res["problems"] = bench.problems
    admin, log_start = None, 0
    try:
        pid = janus.start(timeout=60).proc.pid
        admin = await AdminClient(janus.admin_url).connect()
        await admin_stats(admin, check=True)
        # What start-up logged (from a thread of Janus's own) is written by now.
        await asyncio.sleep(0.5)
        log_start = os.path.getsize(janus.log_path)
        log("N=%s: janus up (pid %d, log %s)" % (num(n), pid, janus.log_path))

        await bench.connect()
        res["setup"] = await bench.devices(n, cfg["seed"])
        st = await admin_stats(admin, check=True)
        if st.get("devices") != n:
            bench.problem("N=%d: the plugin counts %r devices after registering" % (n, st.get("devices")))
        res["rss"] = status_field(pid, "VmRSS")
        res["threads"] = threads(pid)
        log("N=%s: %s sessions, handles and devices on %d WebSockets (%.1f + %.1f + %.1f s)"
            % (num(n), num(n), conns, *res["setup"]))
        meter = Meter(pid, pg)
        hangups0 = bench.core_events.get("hangup", 0)
        # Janus's own cost of holding the handles, before any call: its
        # event loops wake up by themselves.
        c0 = meter.read()
        await asyncio.sleep(2.0)
        res["idle"] = Meter.diff(c0, meter.read())

        res["rest"] = await phase(bench, meter, cfg, 1, "at rest", calls=cfg["calls"])
        log("N=%s: %d calls at rest" % (num(n), len(res["rest"]["rows"])))
        await asyncio.sleep(cfg["cooldown"])
        res["steps"] = await sweep(bench, meter, cfg)
        if cfg["perf"] and res["steps"]:
            best = max(res["steps"], key=lambda x: x["rate"])
            await asyncio.sleep(cfg["cooldown"])
            res["profiled"] = await profiled(bench, meter, cfg, janus, work, best["conc"])

        # Janus reports each PeerConnection it freed with a `hangup`: two a call.
        phases = [res["rest"]] + res["steps"] + ([res["profiled"]] if "profiled" in res else [])
        done = sum(len(p["rows"]) for p in phases)
        failed = sum(p["failed"] for p in phases)
        want = 2 * (done + failed)
        t0 = time.monotonic()
        while bench.core_events.get("hangup", 0) - hangups0 < want and time.monotonic() - t0 < 10:
            await asyncio.sleep(0.2)
        res["hangups"] = (bench.core_events.get("hangup", 0) - hangups0, want)
        if res["hangups"][0] < 2 * done:
            bench.problem("N=%d: Janus reported %d PeerConnections closed for %d calls (2 each expected)"
                          % (n, res["hangups"][0], done))
        st = await admin_stats(admin, check=True)
        if st.get("active_calls") not in (0, None):
            bench.problem("N=%d: %r calls still active at the end" % (n, st.get("active_calls")))
        res["calls"] = done
    finally:
        res.update(await stop_janus(janus, admin, bench, log_start, 180, " (N=%d)" % n))
    return res


# ---------------------------------------------------------------- tables

THREAD_NOTE = ("pool-janus: Janus's request workers (a `message` with its JSEP: the core parses the SDP, makes the "
               "handle's ICE agent for an offer, then calls the plugin's handle_message, which queues it); "
               "calls handler: the plugin's own thread (the call logic, and the core's work for each event it "
               "pushes: JSON, and for an event with a JSEP the SDP merge and the receiving handle's ICE agent); "
               "hloop: Janus's per-handle loops (candidate gathering, the PeerConnection's close); ws thread: the "
               "WebSocket transport (reading and writing every message); janus: the main thread; calls store: "
               "call records to PostgreSQL. "
               "Digits of the names dropped.")


def rate_of(r, key):
    return [x[key] for x in r["rows"]]


def per_call_ms(seconds, calls):
    return "%.2f" % (seconds * 1000.0 / calls) if calls else "-"


def cores(seconds, cpu):
    return "%.2f" % (seconds / cpu["time"]) if cpu["time"] else "-"


def rest_table(results, cfg):
    rows = []
    for res in results:
        r = res.get("rest")
        if not r:
            continue
        n = len(r["rows"])
        rows.append([num(res["n"]), n] + dist(rate_of(r, "incoming")) + dist(rate_of(r, "accepted")) +
                    [ms(pct(rate_of(r, "calling"), 50)), ms(pct(rate_of(r, "accept_reply"), 50)),
                     ms(pct(rate_of(r, "ended"), 50)), ms(pct(rate_of(r, "cycle"), 50)),
                     per_call_ms(r["cpu"]["janus"], n), per_call_ms(r["cpu"]["threads"].get("calls handler", 0.0), n),
                     r["failed"]])
    return table("At rest, one call at a time: call -> incoming_call at the callee, accept -> accepted at the "
                 "caller (ms)",
                 ["devices", "calls", "incoming p50", "p99", "max", "accepted p50", "p99", "max",
                  "calling reply p50", "accepted reply p50", "hangup -> ended p50", "cycle p50",
                  "janus CPU ms/call", "of it handler ms/call", "failed"], rows,
                 "Times from sending the request to reading the event at the other device (one Python client, "
                 "on the same 2 CPUs). A cycle: call + offer, incoming_call, accept + answer, accepted, the "
                 "caller's hangup, ended at the callee. Janus CPU: utime + stime of the janus process over the "
                 "phase, per cycle; handler: the plugin's 'calls handler' thread.")


def sweep_table(results, cfg):
    rows = []
    for res in results:
        steps = [(x["conc"], x) for x in res.get("steps") or ()]
        if res.get("profiled"):
            steps.append(("%d, perf" % res["profiled"]["conc"], res["profiled"]))
        for conc, s in steps:
            cpu = s["cpu"]
            n = len(s["rows"])
            rows.append([num(res["n"]), conc, "%.0f" % s["rate"],
                         ms(pct(rate_of(s, "incoming"), 50)), ms(pct(rate_of(s, "incoming"), 99)),
                         ms(pct(rate_of(s, "accepted"), 50)), ms(pct(rate_of(s, "accepted"), 99)),
                         ms(pct(rate_of(s, "cycle"), 50)),
                         cores(cpu["janus"], cpu), per_call_ms(cpu["janus"], n),
                         cores(cpu["self"], cpu), cores(cpu["pg"], cpu),
                         "%.0f%% / %.0f%%" % (cpu["busy"], cpu["other"]), num(n), s["waits"], s["failed"]])
    return table("Throughput: C callers at once, each running call / accept / hangup cycles back to back "
                 "for %d s" % cfg["step_s"],
                 ["devices", "C", "calls/s", "incoming p50", "p99", "accepted p50", "p99", "cycle p50",
                  "janus cores", "janus CPU ms/call", "client cores", "pg cores", "busy / other", "calls",
                  "cooldown waits", "failed"], rows,
                 "calls/s: cycles completed within the step (those under way then finish after it); latencies "
                 "in ms as at rest. cores: CPU seconds per second (the machine has %d); client: this benchmark's "
                 "one Python process; pg: PostgreSQL (every process of the cluster); busy: the whole machine "
                 "(/proc/stat, a virtual machine's steal time included); other: busy less Janus, the client and "
                 "PostgreSQL (the kernel's own threads, other work on the machine). cooldown waits: cycles that "
                 "waited for their pair's %d ms rest (pairs: devices / 2)."
                 % (os.cpu_count(), cfg["cooldown"] * 1000))


def summary_table(results, cfg):
    rows = []
    for res in results:
        r, steps = res.get("rest"), res.get("steps")
        if not r or not steps:
            continue
        best = max(steps, key=lambda x: x["rate"])
        n = len(best["rows"]) or 1
        janus_ms = best["cpu"]["janus"] * 1000.0 / n
        rows.append([num(res["n"]), ms(pct(rate_of(r, "incoming"), 50)), ms(pct(rate_of(r, "incoming"), 99)),
                     ms(pct(rate_of(r, "accepted"), 50)), ms(pct(rate_of(r, "accepted"), 99)),
                     "%.0f (C=%d)" % (best["rate"], best["conc"]),
                     ms(pct(rate_of(best, "incoming"), 50)), ms(pct(rate_of(best, "incoming"), 99)),
                     "%.2f" % janus_ms, "%.0f" % (os.cpu_count() * 1000.0 / janus_ms if janus_ms else 0)])
    return table("Summary", ["devices", "incoming p50 at rest", "p99", "accepted p50 at rest", "p99",
                             "calls/s at best", "incoming p50 there", "p99", "janus CPU ms/call there",
                             "calls/s if Janus had all %d CPUs" % os.cpu_count()], rows,
                 "Latencies in ms. The last column is the CPUs over Janus's CPU per call at the best step: "
                 "what this machine would carry with the client and PostgreSQL elsewhere, if nothing else "
                 "(the handler thread, locks) limits it first.")


def thread_table(results, cfg):
    picks = []
    for res in results:
        if res.get("rest"):
            picks.append(("%s at rest" % num(res["n"]), res["rest"]["cpu"], len(res["rest"]["rows"])))
        steps = res.get("steps") or ()
        if steps:
            s = max(steps, key=lambda x: x["rate"])
            picks.append(("%s C=%d (best)" % (num(res["n"]), s["conc"]), s["cpu"], len(s["rows"])))
    names = {}
    for _, cpu, _ in picks:
        for k, v in cpu["threads"].items():
            names[k] = names.get(k, 0.0) + v
    total = sum(names.values()) or 1.0
    top = [k for k, v in sorted(names.items(), key=lambda x: -x[1]) if v / total >= 0.01][:8]
    rows = []
    for what, cpu, n in picks:
        n = n or 1
        named = sum(cpu["threads"].get(k, 0.0) for k in top)
        rows.append([what, "%.0f" % (cpu["janus"] * 1e6 / n)] +
                    ["%.0f" % (cpu["threads"].get(k, 0.0) * 1e6 / n) for k in top] +
                    ["%.0f" % (max(0.0, cpu["janus"] - named) * 1e6 / n)])
    return table("Janus CPU per call by thread (us per cycle)", ["phase", "all threads"] + top + ["others"], rows,
                 THREAD_NOTE + " others: the rest, mostly threads that ended during the phase (Janus's request "
                 "pool starts workers as requests pile up and lets idle ones go); all threads: the process's "
                 "/proc stat, in clock ticks, so others is only good to 10 ms over the phase.")


def handler_table(results, cfg):
    rows = []
    for res in results:
        phases = [("at rest", res.get("rest"))] + [("C=%d" % x["conc"], x) for x in res.get("steps") or ()]
        for what, r in phases:
            if not r or not r.get("handler"):
                continue
            h = r["handler"]
            n = len(r["rows"]) or 1
            wall = r["cpu"]["time"] * 1000.0 / n
            rows.append([num(res["n"]), what, num(h["samples"]), "%.0f%%" % (100.0 - h["idle"]),
                         "%.0f%%" % h["running"], "%.0f%%" % h["sleep"], "%.0f%%" % h["lock"],
                         "%.0f%%" % h["other"], h["others"] or "-",
                         "%.2f" % (wall * (100.0 - h["idle"]) / 100.0), "%.2f" % (wall * h["sleep"] / 100.0)])
    return table("The plugin's handler thread: where its wall time goes (sampled every 2 ms)",
                 ["devices", "phase", "samples", "busy", "running", "nanosleep", "lock", "other syscalls",
                  "largest other syscalls", "busy ms/call", "nanosleep ms/call"], rows,
                 "From /proc/<pid>/task/<tid>/syscall of the 'calls handler' thread. busy: not waiting for work "
                 "on its queue; running: on a CPU or runnable; nanosleep: Janus's core inside push_event of an "
                 "event with a JSEP, polling every 1 ms until the receiving handle's new ICE agent has gathered "
                 "its candidates (Janus sends them in the SDP: half-trickle); lock: waiting on any other futex. "
                 "The thread is the plugin's only one for signalling: at 100% busy it is the limit.")


def perf_tables(results, cfg):
    out = []
    for res in results:
        s = res.get("profiled")
        if s:
            tag = "%s devices, C=%d" % (num(res["n"]), s["conc"])
            rows = [["%.1f" % p, c, d] for p, c, d in s["perf_comm"][:cfg["perf_top"]]]
            # By library from the rows by thread: perf's own --sort dso with
            # --pid misattributes samples (perf 6.1).
            libs = {}
            for p, _, d in s["perf_comm"]:
                libs[d] = libs.get(d, 0.0) + p
            libs = sorted(((p, d) for d, p in libs.items()), reverse=True)
            out.append(table("Janus profile by thread and library, %s (perf record -e cpu-clock; share of "
                             "Janus's samples)" % tag, ["share %", "thread", "library"], rows,
                             "by library: " + ", ".join("%s %.1f%%" % (d, p) for p, d in libs[:12])))
            rows = [["%.1f" % p, d, sym[:60]] for p, d, sym in s["perf_sym"][:cfg["perf_top"]]]
            out.append(table("Janus profile by function, %s" % tag, ["share %", "library", "function"], rows))
            split = s.get("perf_handler") or {}
            per_call = s["cpu"]["threads"].get("calls handler", 0.0) * 1e6 / (len(s["rows"]) or 1)
            rows = [[what, sym, "%.1f" % split[sym], "%.0f" % (split[sym] * per_call / 100.0)]
                    for sym, what in SPLIT if sym in split]
            out.append(table("The plugin's handler thread by function, %s (perf record --call-graph dwarf of that "
                             "thread; callees included)" % tag, ["what", "function", "share %", "us/call"], rows,
                             "share: of the thread's samples, those with the function on the stack; us/call: that "
                             "share of the thread's CPU per call in this step (%.0f us)." % per_call))
    return out


def setup_table(results, cfg):
    rows = []
    for res in results:
        n = num(res["n"])
        if res.get("setup"):
            ts, ta, tr = res["setup"]
            rows.append([n, "create sessions / attach handles / register (s)", "%.1f / %.1f / %.1f" % (ts, ta, tr)])
            rows.append([n, "janus RSS / threads after registering",
                         "%.1f MiB / %s" % (res["rss"] / 1024.0, num(res["threads"]))])
        if res.get("idle"):
            idle = res["idle"]
            top = sorted(((v, k) for k, v in idle["threads"].items()), reverse=True)[:3]
            rows.append([n, "janus CPU while idle, after registering (2 s)", "%.3f cores (%s)" % (
                idle["janus"] / idle["time"], ", ".join("%s %.3f" % (k, v / idle["time"]) for v, k in top))])
        if res.get("calls") is not None:
            rows.append([n, "calls made (at rest + sweep)", num(res["calls"])])
            rows.append([n, "PeerConnections Janus reported closed (`hangup`) / expected",
                         "%s / %s" % (num(res["hangups"][0]), num(res["hangups"][1]))])
        rows.append([n, "other plugin events / core messages", "%s / %s" % (
            sorted(res["other_events"].items()), sorted(res["core_events"].items()))])
        rows.append([n, "janus log while measuring: warnings / errors", log_counts(res.get("janus_log"))])
        rows.append([n, "janus log while stopping: warnings / errors", log_counts(res.get("janus_log_stop"))])
        rows.append([n, "janus stop (SIGTERM) took", "%.1f s" % res.get("stop", float("nan"))])
    return table("Setup and bookkeeping", ["devices", "what", "value"], rows,
                 "Each device has its own Janus session and handle; %d WebSockets carry them (Janus's event_loops "
                 "%d; 0: a thread per handle). Core messages: hangup (a PeerConnection freed), two a call; Janus "
                 "sends its candidates inside its SDP (half-trickle), so there is no trickle."
                 % (cfg["conns"], cfg["event_loops"]))


# ---------------------------------------------------------------- main

def main():
    ap = arguments()
    a = ap.parse_args()
    cfg = {
        "sizes": env_list("BENCH_DEVICES", "1000,10000"),
        "conns": env_int("BENCH_CONNS", 50),
        "calls": env_int("BENCH_CALLS", 500),
        "concurrency": env_list("BENCH_CONCURRENCY", "1,2,4,8,16,32,64,128,256"),
        "step_s": env_int("BENCH_STEP_S", 10),
        "cooldown": env_int("BENCH_COOLDOWN_MS", 1000) / 1000.0,
        "db": env_int("BENCH_DB", 1),
        "perf": env_int("BENCH_PERF", 0),
        "perf_top": env_int("BENCH_PERF_TOP", 20),
        "seed": env_int("BENCH_SEED", 1),
        "debug_level": env_int("BENCH_DEBUG_LEVEL", 3),
        "event_loops": env_int("BENCH_EVENT_LOOPS", 0),
    }
    started = begin("signalling", " ".join("%s=%s" % kv for kv in (
        ("BENCH_DEVICES", ",".join(map(str, cfg["sizes"]))), ("BENCH_CONNS", cfg["conns"]),
        ("BENCH_CALLS", cfg["calls"]), ("BENCH_CONCURRENCY", ",".join(map(str, cfg["concurrency"]))),
        ("BENCH_STEP_S", cfg["step_s"]), ("BENCH_COOLDOWN_MS", int(cfg["cooldown"] * 1000)),
        ("BENCH_DB", cfg["db"]), ("BENCH_PERF", cfg["perf"]), ("BENCH_SEED", cfg["seed"]),
        ("BENCH_EVENT_LOOPS", cfg["event_loops"]))))
    problems = []
    results = []
    try:
        offer, answer = asyncio.run(jsep_pair())
    except Exception as e:  # noqa: BLE001
        finish(["making the JSEP pair with aiortc: %s: %s" % (type(e).__name__, e)], "", started)
    log("JSEP: offer %d bytes, answer %d bytes (aiortc, audio + video, no candidates)"
        % (len(offer["sdp"]), len(answer["sdp"])))

    def runs(pg):
        for n in cfg["sizes"]:
            res = {"n": n, "problems": [], "other_events": {}, "core_events": {}}
            results.append(res)
            run_async(run_size(a, pg, n, cfg, offer, answer, res), res, "N=%d" % n)
            problems.extend(res["problems"])

    if cfg["db"]:
        with postgres(PgCluster(os.path.join(a.work, "pg"))) as pg:
            runs(pg)
    else:
        runs(None)
    tables = [summary_table(results, cfg), rest_table(results, cfg), sweep_table(results, cfg),
              thread_table(results, cfg),
              handler_table(results, cfg)]
    tables += perf_tables(results, cfg)
    tables.append(setup_table(results, cfg))
    for t in tables:
        print(t)
    finish(problems, "No problems found (every request answered, every event at its device, every "
                     "PeerConnection closed).", started)


if __name__ == "__main__":
    main()

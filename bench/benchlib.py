"""What the benchmarks in bench/ (history.py, presence.py, push.py, group.py) share:
settings from the environment, progress lines on stderr, numbers,
percentiles and text tables, /proc readings, a Janus with the plugin and its
log, a lean WebSocket client carrying many handles, and the frame of a run
(arguments, header, PostgreSQL, the end).

Importing it puts tests/lib and tests/integration on sys.path, so that a
benchmark imports pg_instance, janus_instance, push_servers and calls_client
after it."""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import websockets  # noqa: E402
from janus_instance import JanusInstance  # noqa: E402

ADMIN_KEY = "bench-admin-key"
PLUGIN = "janus.plugin.calls"


# ---------------------------------------------------------------- settings and progress

def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def env_list(name, default):
    """A comma- or space-separated list of integers."""
    v = os.environ.get(name)
    v = default if v in (None, "") else v
    return [int(x) for x in v.replace(" ", ",").split(",") if x != ""]


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- numbers and tables

def ms(v, places=1):
    """Seconds as milliseconds with that many decimals; "-" for NaN."""
    return "%.*f" % (places, v * 1000.0) if v == v else "-"


def num(n):
    return "{:,}".format(int(n))


def pct(values, p):
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def table(title, header, rows, note=None):
    """A text table: the first column left-aligned, the others right-aligned."""
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    out = ["", "== %s ==" % title, line]
    for n, r in enumerate(cells):
        out.append("| " + " | ".join(c.rjust(w) if n and i else c.ljust(w)
                                     for i, (c, w) in enumerate(zip(r, widths))) + " |")
        if n == 0:
            out.append(line)
    out.append(line)
    if note:
        out.append(note)
    return "\n".join(out)


# ---------------------------------------------------------------- /proc

def cpu_seconds(pid, tid=None, default=None):
    """User + system CPU seconds of a process, or of one of its threads;
    default when it cannot be read (None: the OSError goes up)."""
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%d/stat" % (pid, tid)
    try:
        with open(path) as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        if default is None:
            raise
        return default
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_field(pid, name):
    """A number of /proc/<pid>/status (None if it has no such line)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return None


def threads(pid):
    return status_field(pid, "Threads") or 0


# ---------------------------------------------------------------- Janus and its log

class Janus(JanusInstance):
    """JanusInstance without session timeouts (a benchmark's sessions stay
    idle, for minutes, while others are measured), and optionally with a
    fixed number of event loops (Janus's default is one thread per handle)."""

    event_loops = 0

    def write_config(self):
        super().write_config()
        path = os.path.join(self.conf_dir, "janus.jcfg")
        with open(path) as f:
            text = f.read()
        new = text.replace("session_timeout = 60", "session_timeout = 0" + (
            "\n\tevent_loops = %d" % self.event_loops if self.event_loops > 0 else ""))
        if new == text:
            raise RuntimeError("janus.jcfg: session_timeout not found to turn off")
        with open(path, "w") as f:
            f.write(new)


def plugin_conf(conninfo, spool_dir, node, general=None, database=None, **groups):
    """The plugin's configuration for a benchmark: no authentication, no rate
    limit, no event handlers, the admin key ADMIN_KEY, the private
    PostgreSQL; general, database and further groups add to it."""
    conf = {"general": {"auth": "none", "admin_key": ADMIN_KEY, "rate_limit": 0, "events": False},
            "database": {"conninfo": conninfo, "spool_dir": spool_dir, "node": node}}
    conf["general"].update(general or {})
    conf["database"].update(database or {})
    conf.update(groups)
    return conf


async def admin_stats(admin, timeout=30, check=False):
    """The plugin's stats over the Admin API ({} when it has none; with
    check, that is an error)."""
    r = await admin.message_plugin({"request": "stats", "admin_key": ADMIN_KEY}, timeout=timeout)
    if check and (not r or r.get("calls") != "stats"):
        raise RuntimeError("admin stats: %r" % r)
    return r or {}


def count_log(path, offset=0, end=None):
    """Warnings and errors Janus logged between two offsets of its log."""
    out = {"warn": 0, "err": 0, "samples": []}
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read() if end is None else f.read(max(0, end - offset))
    except OSError:
        return out
    for line in data.decode(errors="replace").splitlines():
        if "[WARN]" in line:
            out["warn"] += 1
        elif "[ERR]" in line or "[FATAL]" in line:
            out["err"] += 1
        else:
            continue
        if len(out["samples"]) < 5:
            out["samples"].append(line.strip()[:200])
    return out


def log_counts(lw):
    """A count_log result as "warnings / errors (first: ...)"."""
    lw = lw or {"warn": 0, "err": 0, "samples": []}
    return "%d / %d%s" % (lw["warn"], lw["err"],
                          (" (first: %s)" % lw["samples"][0][:110]) if lw["samples"] else "")


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
    except OSError:
        return ""


async def stop_janus(janus, admin, bench, log_start, timeout, where=""):
    """The end of a Janus run: notes the events nobody waited for, stops
    Janus (before the connections close, which would be work of their own),
    closes the admin client and the connections. Returns other_events,
    core_events, stop (seconds SIGTERM took), janus_log and janus_log_stop
    (count_log while measuring and while stopping); a problem if Janus was
    no longer running."""
    out = {"other_events": dict(bench.other_events), "core_events": dict(bench.core_events)}
    alive = janus.alive()
    log_stop = os.path.getsize(janus.log_path) if os.path.exists(janus.log_path) else 0
    t0 = time.monotonic()
    janus.stop(timeout=timeout)
    out["stop"] = time.monotonic() - t0
    if admin is not None:
        await admin.close()
    await bench.close()
    out["janus_log"] = count_log(janus.log_path, log_start, log_stop)
    out["janus_log_stop"] = count_log(janus.log_path, log_stop)
    if not alive:
        bench.problem("janus was not running at the end%s; log tail:\n%s" % (where, tail(janus.log_path)))
    return out


# ---------------------------------------------------------------- a lean Janus client

class Conn:
    """One WebSocket with one Janus session carrying many handles. Replies
    are matched by transaction and stamped with the time they were read;
    plugin events without one go to bench.on_event(sender, time, data),
    other messages without one to bench.core_other(kind)."""

    def __init__(self, bench, url):
        self.bench = bench
        self.url = url
        self.ws = None
        self.session_id = None
        self.pending = {}
        self.tx = 0
        self.reader = None

    async def open(self):
        self.ws = await websockets.connect(self.url, subprotocols=["janus-protocol"], max_size=None,
                                           ping_interval=None, open_timeout=10, max_queue=None)
        self.reader = asyncio.ensure_future(self._read())
        r, _ = await self.request({"janus": "create"})
        if r.get("janus") != "success":
            raise RuntimeError("create failed: %r" % r)
        self.session_id = r["data"]["id"]
        return self

    async def _read(self):
        loads = json.loads
        bench = self.bench
        try:
            async for text in self.ws:
                t = time.monotonic()
                msg = loads(text)
                tx = msg.get("transaction")
                kind = msg.get("janus")
                if tx is not None:
                    if kind == "ack":
                        continue
                    fut = self.pending.pop(tx, None)
                    if fut is not None and not fut.done():
                        fut.set_result((msg, t))
                    else:
                        bench.problem_note("a reply to no pending request: %s" % text[:200])
                    continue
                if kind == "event":
                    data = (msg.get("plugindata") or {}).get("data") or {}
                    bench.on_event(msg.get("sender"), t, data)
                else:
                    bench.core_other(kind)
        except websockets.ConnectionClosed:
            pass
        finally:
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(RuntimeError("WebSocket closed before the reply"))

    async def request(self, msg, timeout=None):
        """(reply, time it was read); timeout: bench.timeout by default."""
        timeout = self.bench.timeout if timeout is None else timeout
        self.tx += 1
        tx = "t%d" % self.tx
        msg["transaction"] = tx
        if self.session_id is not None and "session_id" not in msg:
            msg["session_id"] = self.session_id
        fut = asyncio.get_running_loop().create_future()
        self.pending[tx] = fut
        try:
            await self.ws.send(json.dumps(msg))
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise RuntimeError("no reply within %ss to %s" % (timeout, json.dumps(msg)[:300])) from None
        finally:
            self.pending.pop(tx, None)

    async def close(self):
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 3)


class Dev:
    """A device: a handle on one of the connections (attached by
    Bench.attach)."""

    __slots__ = ("user", "conn", "handle")

    def __init__(self, user, conn):
        self.user = user
        self.conn = conn
        self.handle = None

    async def send(self, body, jsep=None, timeout=None):
        """(plugin data or None, raw reply, time the reply was read)."""
        msg = {"janus": "message", "handle_id": self.handle, "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        r, t = await self.conn.request(msg, timeout)
        if r.get("janus") != "event":
            return None, r, t
        return (r.get("plugindata") or {}).get("data") or {}, r, t

    async def ok(self, body, expect, jsep=None):
        """(plugin data, time): the reply must be the event `expect`."""
        data, raw, t = await self.send(body, jsep)
        if data is None or data.get("calls") != expect:
            raise RuntimeError("%s by %s: %s, not %s" % (body.get("request"), self.user,
                                                         json.dumps(raw)[:400], expect))
        return data, t


class Bench:
    """The connections and handles of a benchmark, and the problems it
    found. A subclass has on_event(sender, time, data) for plugin events."""

    timeout = 60        # seconds a request waits for its reply, by default

    def __init__(self, url, conns_n):
        self.url = url
        self.conns_n = conns_n
        self.conns = []
        self.by_handle = {}
        self.problems = []
        self.notes = set()
        self.other_events = {}       # plugin events nobody waited for, by name
        self.core_events = {}        # core messages without a transaction, by kind

    def problem(self, text):
        log("PROBLEM: " + text)
        self.problems.append(text)

    def problem_note(self, text):
        """A problem, once per text (20 at the most)."""
        if text not in self.notes and len(self.notes) < 20:
            self.notes.add(text)
            self.problem(text)

    def other_event(self, name):
        self.other_events[name] = self.other_events.get(name, 0) + 1

    def core_other(self, kind):
        self.core_events[kind] = self.core_events.get(kind, 0) + 1

    async def pool(self, jobs, limit, what=None):
        """Runs the jobs (coroutine functions) limit at a time; the seconds it
        took. With what, a progress line every 15 s."""
        it = iter(jobs)
        done = [0]
        t0 = time.monotonic()
        last = [t0]

        async def worker():
            for job in it:
                await job()
                if what is None:
                    continue
                done[0] += 1
                now = time.monotonic()
                if now - last[0] > 15:
                    last[0] = now
                    log("  %s: %s done (%.0f s)" % (what, num(done[0]), now - t0))

        await asyncio.gather(*(worker() for _ in range(limit)))
        return time.monotonic() - t0

    async def connect(self):
        self.conns = [await Conn(self, self.url).open() for _ in range(self.conns_n)]

    async def attach(self, devs, limit, what=None):
        async def job(d):
            r, _ = await d.conn.request({"janus": "attach", "plugin": PLUGIN})
            if r.get("janus") != "success":
                raise RuntimeError("attach failed: %r" % r)
            d.handle = r["data"]["id"]
            self.by_handle[d.handle] = d
        return await self.pool((lambda d=d: job(d) for d in devs), limit, what)

    async def close(self):
        for c in self.conns:
            await c.close()


# ---------------------------------------------------------------- the frame of a run

def arguments():
    """The arguments every benchmark takes (the .sh script passes them);
    add more before parse_args()."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--plugin-dir", required=True)
    return ap


def begin(what, settings):
    """Prints the header (what, when, CPUs, BENCH_COMMIT) and the settings;
    from now on SIGTERM stops the run like ^C. Returns the start time."""
    started = time.time()
    print("janus-calls %s benchmark, %s, %d CPUs, commit %s" % (
        what, time.strftime("%Y-%m-%d %H:%M %Z"), os.cpu_count(), os.environ.get("BENCH_COMMIT", "?")), flush=True)
    print(settings, flush=True)
    signal.signal(signal.SIGTERM, lambda *x: (_ for _ in ()).throw(KeyboardInterrupt()))
    return started


@contextlib.contextmanager
def postgres(cluster, where=None):
    """Starts the PgCluster; stops it at the end (thawed if frozen)."""
    try:
        log("starting PostgreSQL" + (" in %s" % where if where else ""))
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        except Exception as e:  # noqa: BLE001
            log("stopping PostgreSQL: %s" % e)


def run_async(coro, res, where=""):
    """asyncio.run(coro); an error it stops with is logged and goes to
    res["problems"] (where: what was running, for both)."""
    try:
        asyncio.run(coro)
    except Exception as e:  # noqa: BLE001
        log("%sstopped by an error:\n%s" % (where + " " if where else "", traceback.format_exc()))
        res["problems"].append("%sstopped by %s: %s" % (where + ": " if where else "", type(e).__name__, e))


def finish(problems, fine, started):
    """Prints the problems (or fine, when there are none) and the total time;
    exits 1 if there were problems."""
    if problems:
        print("\nPROBLEMS (%d):" % len(problems))
        for p in problems:
            print("  - " + p)
    else:
        print("\n" + fine)
    print("\nTotal time %.0f s" % (time.time() - started))
    sys.exit(1 if problems else 0)

"""Push delivery benchmark (driven by bench/push.sh; see bench/README.md).

Runs inside the private network namespace of tests/lib/with-netns.sh, with a
private PostgreSQL (tests/lib/pg_instance.py), a private Janus with the
plugin (tests/lib/janus_instance.py) whose `push` group points at the
webhook stand-in of tests/lib/push_servers.py, run by this process (its
records are stamped with time.monotonic(), the clock the calls are timed
with).

Setup: BENCH_CALLS + BENCH_INFLIGHT callees ("p00000"..) are made offline
with one webhook registration each (register device "phone", push_register,
unregister, then wait until PostgreSQL holds them all); one caller device
per call ("a00000"..; a handle's first offer makes its PeerConnection, so a
caller calls once) and 2 x BENCH_SIGNAL online callees ("s00000"..) are
registered. Calls carry a fixed minimal SDP offer (no candidates; nothing is
ever answered).

  1. idle signalling: BENCH_SIGNAL calls, one at a time, to online callees:
     `call` -> the `calling` reply, and `call` -> `incoming_call` at the
     callee, which then declines.
  2. latency: BENCH_CALLS calls, one at a time, each to its own offline
     callee: `call` -> `calling`, and `call` -> the webhook request arriving
     at the stand-in; the caller hangs up once it arrived (which sends
     call_ended and missed_call).
  3. slow endpoint: the stand-in answers each request after BENCH_SLOW_S
     seconds (push.max_in_flight = BENCH_INFLIGHT, push.timeout_ms well
     above the delay). BENCH_INFLIGHT calls to offline callees are placed
     at once (BENCH_PLACE_WORKERS concurrent); once all their pushes have
     arrived, and before the first is answered, the signalling of part 1 is
     measured again with the other BENCH_SIGNAL online callees. Then the
     time until every slow push is delivered (admin stats and the
     stand-in's answers); the delay goes back to 0 and the calls are hung up.

Checks (exit status 1 when one failed): every call of parts 2 and 3 pushed
exactly one incoming_call, and after the hangup one call_ended and one
missed_call, each with a valid signature and body (the stand-in's
`problems` empty) for the right callee, device and token; no push for any
other call; all slow pushes were in flight at the same time; at the end
admin stats shows every push sent, none failed, none pending; every request
answered as expected; Janus still running.
"""

import asyncio
import json
import os
import sys
import time

import benchlib
from benchlib import (Janus, admin_stats, arguments, begin, cpu_seconds, env_int, finish, log, log_counts, ms, num,
                      pct, plugin_conf, postgres, run_async, stop_janus, table, threads)
from pg_instance import PgCluster
from push_servers import WebhookServer
from calls_client import AdminClient

WEBHOOK_SECRET = "bench-webhook-secret"
WARMUP = 10          # signalling calls before the first measured one
RING_TIMEOUT = 600   # the plugin's maximum: no call of the run ends by itself

# A minimal audio offer Janus's core accepts: ICE credentials, a DTLS
# fingerprint, rtcp-mux, no candidates (trickle that never comes), so no
# connectivity check is ever made and the PeerConnection just waits.
OFFER_SDP = "\r\n".join([
    "v=0",
    "o=- 1000000000000000001 1 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=msid-semantic: WMS",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:bnch",
    "a=ice-pwd:benchbenchbenchbenchbench",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 " + ":".join(["5A"] * 32),
    "a=setup:actpass",
    "a=mid:0",
    "a=sendrecv",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
]) + "\r\n"
OFFER = {"type": "offer", "sdp": OFFER_SDP}


# ---------------------------------------------------------------- numbers

def dist(values):
    """p50, p99, max (ms) of a list of seconds."""
    return [ms(pct(values, 50)), ms(pct(values, 99)), ms(max(values) if values else float("nan"))]


# ---------------------------------------------------------------- /proc

def thread_ids(pid, names):
    """{name: tid} of the threads of pid with these names (comm)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in names and comm not in out:
            out[comm] = int(tid)
    return out


class Cpu:
    """CPU seconds of Janus and of the plugin's handler and push threads."""

    NAMES = ("calls handler", "calls push", "calls store")

    def __init__(self, pid):
        self.pid = pid
        self.tids = thread_ids(pid, self.NAMES)

    def read(self):
        out = {"janus": cpu_seconds(self.pid, default=0.0)}
        for name in self.NAMES:
            tid = self.tids.get(name)
            out[name] = cpu_seconds(self.pid, tid, default=0.0) if tid else float("nan")
        return out

    @staticmethod
    def diff(a, b):
        return {k: b[k] - a[k] for k in a}


# ---------------------------------------------------------------- the clients and the stand-in

class Dev(benchlib.Dev):
    __slots__ = ("incoming",)

    def __init__(self, user, conn):
        super().__init__(user, conn)
        self.incoming = None    # future: (time, data) of the next incoming_call


class Webhook(WebhookServer):
    """The stand-in, telling the benchmark's event loop of each request as
    soon as it is read (the record is the stand-in's own; its `answered`
    is filled in later, when the answer is written)."""

    def __init__(self, secret, notify):
        self.notify = notify
        super().__init__(secret)

    def _handle(self, handler, raw):
        out = super()._handle(handler, raw)
        self.notify(out[1])
        return out


# ---------------------------------------------------------------- the benchmark

class Bench(benchlib.Bench):
    def __init__(self, url, conns_n):
        super().__init__(url, conns_n)
        self.next_conn = 0
        self.loop = None
        # Pushes by call id, in arrival order; waiters by (call id, type).
        self.pushes = {}
        self.push_waiters = {}
        self.push_total = 0
        self.arrival_times = []          # arrival of every incoming_call, for the in-flight count

    # -- events
    def on_event(self, sender, t, data):
        d = self.by_handle.get(sender)
        name = data.get("calls")
        if d is not None and name == "incoming_call" and d.incoming is not None and not d.incoming.done():
            d.incoming.set_result((t, data))
            return
        self.other_event(name)

    # -- pushes (the stand-in's threads call notify)
    def notify(self, rec):
        self.loop.call_soon_threadsafe(self.on_push, rec)

    def on_push(self, rec):
        self.push_total += 1
        body = rec.get("body") if isinstance(rec.get("body"), dict) else {}
        cid = body.get("call_id")
        self.pushes.setdefault(cid, []).append(rec)
        fut = self.push_waiters.pop((cid, body.get("type")), None)
        if fut is not None and not fut.done():
            fut.set_result(rec)

    async def wait_push(self, call_id, type_, timeout):
        for rec in self.pushes.get(call_id, ()):
            if (rec.get("body") or {}).get("type") == type_:
                return rec
        fut = self.loop.create_future()
        self.push_waiters[(call_id, type_)] = fut
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            self.push_waiters.pop((call_id, type_), None)

    def devices(self, users):
        """New devices, spread over the connections in turn."""
        out = []
        for u in users:
            out.append(Dev(u, self.conns[self.next_conn % self.conns_n]))
            self.next_conn += 1
        return out

    async def register_all(self, devs, device="d", limit=100):
        async def job(d):
            await d.ok({"request": "register", "user": d.user, "device": device}, "registered")
        return await self.pool((lambda d=d: job(d) for d in devs), limit)


async def stats(admin):
    return await admin_stats(admin, check=True)


def token_of(user):
    return "tok-" + user


async def make_offline(bench, workers, users):
    """Each user: device "phone" registers, push_registers a webhook token
    and unregisters (a few handles take turns)."""
    it = iter(users)

    async def worker(d):
        for user in it:
            d.user = user
            await d.ok({"request": "register", "user": user, "device": "phone"}, "registered")
            await d.ok({"request": "push_register", "platform": "webhook", "token": token_of(user)},
                       "push_registered")
            await d.ok({"request": "unregister"}, "unregistered")

    t0 = time.monotonic()
    await asyncio.gather(*(worker(d) for d in workers))
    return time.monotonic() - t0


async def wait_registrations(pg, want, timeout=120):
    t0 = time.monotonic()
    got = None
    while time.monotonic() - t0 < timeout:
        got = int(await asyncio.to_thread(pg.scalar, "SELECT count(*) FROM calls_push_registrations"))
        if got >= want:
            return got, time.monotonic() - t0
        await asyncio.sleep(0.2)
    raise RuntimeError("PostgreSQL holds %s push registrations after %d s, %d expected" % (got, timeout, want))


async def signal_calls(bench, pairs, gap):
    """One call at a time from each caller to its online callee, which
    declines. Rows: (start, calling, incoming, end) times."""
    rows = []
    for caller, callee in pairs:
        callee.incoming = bench.loop.create_future()
        t0 = time.monotonic()
        data, t_reply = await caller.ok({"request": "call", "to": callee.user, "video": False}, "calling", OFFER)
        call_id = data.get("call_id")
        try:
            t_inc, inc = await asyncio.wait_for(callee.incoming, 30)
        except asyncio.TimeoutError:
            bench.problem("signalling: no incoming_call at %s for call %s within 30 s" % (callee.user, call_id))
            callee.incoming = None
            continue
        callee.incoming = None
        if inc.get("call_id") != call_id:
            bench.problem("signalling: %s got incoming_call %r, not %s" % (callee.user, inc.get("call_id"), call_id))
        await callee.ok({"request": "decline", "call_id": call_id}, "declined")
        t_end = time.monotonic()
        rows.append({"t0": t0, "calling": t_reply - t0, "incoming": t_inc - t0, "end": t_end, "call_id": call_id})
        if gap:
            await asyncio.sleep(gap)
    return rows


async def latency_calls(bench, pairs, gap):
    """One call at a time to an offline callee; hang up once its push came."""
    rows = []
    for caller, callee_user in pairs:
        t0 = time.monotonic()
        data, t_reply = await caller.ok({"request": "call", "to": callee_user, "video": False}, "calling", OFFER)
        call_id = data["call_id"]
        rec = await bench.wait_push(call_id, "incoming_call", 30)
        if rec is None:
            bench.problem("latency: no incoming_call push for call %s to %s within 30 s" % (call_id, callee_user))
        await caller.ok({"request": "hangup", "call_id": call_id}, "hungup")
        rows.append({"call_id": call_id, "caller": caller.user, "callee": callee_user,
                     "calling": t_reply - t0, "push": (rec["arrived"] - t0) if rec else float("nan")})
        if gap:
            await asyncio.sleep(gap)
    return rows


def check_pushes(bench, calls, what):
    """Every call: one incoming_call, one call_ended (cancelled), one
    missed_call, each valid and for the right callee, device and token."""
    bad = 0
    for c in calls:
        recs = bench.pushes.get(c["call_id"], [])
        types = [(r.get("body") or {}).get("type") for r in recs]
        wrong = []
        if sorted(types) != ["call_ended", "incoming_call", "missed_call"]:
            wrong.append("pushes %s" % types)
        for r in recs:
            b = r.get("body") or {}
            if r["problems"] or r.get("signature_ok") is not True:
                wrong.append("%s: the stand-in found %s" % (b.get("type"), r["problems"]))
            if (b.get("to"), b.get("from"), b.get("device"), b.get("token"), b.get("platform")) != \
                    (c["callee"], c["caller"], "phone", token_of(c["callee"]), "webhook"):
                wrong.append("%s: to %r from %r device %r token %r platform %r" % (
                    b.get("type"), b.get("to"), b.get("from"), b.get("device"), b.get("token"), b.get("platform")))
            if b.get("type") == "call_ended" and b.get("reason") != "cancelled":
                wrong.append("call_ended with reason %r" % b.get("reason"))
            if r.get("status") != 200:
                wrong.append("%s answered %r" % (b.get("type"), r.get("status")))
        if types and types[0] != "incoming_call":
            wrong.append("incoming_call not first: %s" % types)
        if wrong:
            bad += 1
            if bad <= 10:
                bench.problem("%s: call %s (%s -> %s): %s" % (what, c["call_id"], c["caller"], c["callee"],
                                                             "; ".join(wrong)))
    if bad > 10:
        bench.problem("%s: %d calls in all with wrong pushes" % (what, bad))
    return bad


async def wait_all_pushes(bench, calls, n_each, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if all(len(bench.pushes.get(c["call_id"], ())) >= n_each for c in calls):
            return True
        await asyncio.sleep(0.1)
    return False


async def run(a, pg, cfg, res):
    n_lat, n_slow, n_sig = cfg["calls"], cfg["inflight"], cfg["signal"]
    bench = Bench(None, cfg["conns"])
    bench.loop = asyncio.get_running_loop()
    res["problems"] = bench.problems
    webhook = Webhook(WEBHOOK_SECRET, bench.notify)
    timeout_ms = cfg["timeout_ms"]
    janus = Janus(plugin_dir=a.plugin_dir, workdir=os.path.join(a.work, "janus"), debug_level=cfg["debug_level"],
                  plugin_conf=plugin_conf(
                      pg.conninfo, os.path.join(a.work, "spool"), "bench-push", general={"ring_timeout": RING_TIMEOUT},
                      push={"webhook_url": webhook.url, "webhook_secret": WEBHOOK_SECRET,
                            "timeout_ms": timeout_ms, "push_retries": 3, "max_in_flight": cfg["max_in_flight"]}))
    janus.event_loops = cfg["event_loops"]
    bench.url = janus.ws_url
    admin = None
    log_start = 0
    try:
        janus.start(timeout=60)
        pid = janus.proc.pid
        log("janus up (pid %d, log %s); webhook stand-in at %s" % (pid, janus.log_path, webhook.url))
        admin = await AdminClient(janus.admin_url).connect()
        st = await stats(admin)
        for k in ("pushes_sent", "pushes_failed", "pushes_pending"):
            if k not in st:
                raise RuntimeError("admin stats has no %s: is this a plugin with push delivery? %r" % (k, st))
        # Janus writes its log from a thread of its own: what start-up wrote
        # is there by now.
        await asyncio.sleep(0.5)
        log_start = os.path.getsize(janus.log_path)
        cpu = Cpu(pid)
        if "calls push" not in cpu.tids:
            bench.problem("no 'calls push' thread in Janus: push delivery did not start (log: %s)" % janus.log_path)

        # ---- setup
        await bench.connect()
        offline = ["p%05d" % i for i in range(n_lat + n_slow)]
        workers = bench.devices(["setup%03d" % i for i in range(min(100, len(offline)))])
        callers = bench.devices(["a%05d" % i for i in range(n_lat + n_slow + 3 * n_sig + WARMUP)])
        sig_callees = bench.devices(["s%05d" % i for i in range(3 * n_sig + WARMUP)])
        dt = await bench.attach(workers + callers + sig_callees, 100)
        res["setup"].append(("attach %s handles" % num(len(bench.by_handle)), dt))
        dt = await make_offline(bench, workers, offline)
        res["setup"].append(("%s offline callees: register, push_register, unregister" % num(len(offline)), dt))
        got, dt = await wait_registrations(pg, len(offline))
        res["setup"].append(("... until PostgreSQL holds the %s registrations" % num(got), dt))
        if got != len(offline):
            bench.problem("PostgreSQL holds %d push registrations, %d expected" % (got, len(offline)))
        dt = await bench.register_all(callers + sig_callees)
        res["setup"].append(("register %s callers and %s online callees" % (num(len(callers)), num(len(sig_callees))),
                             dt))
        log("setup done: %d handles, %d offline callees with a webhook registration" % (len(bench.by_handle),
                                                                                       len(offline)))
        lat_callers = callers[:n_lat]
        slow_callers = callers[n_lat:n_lat + n_slow]
        sig_callers = callers[n_lat + n_slow:]
        gap = cfg["gap"]

        # ---- 1. idle signalling (after a few calls not measured: the
        # first call of a run pays for first uses)
        await signal_calls(bench, list(zip(sig_callers[3 * n_sig:], sig_callees[3 * n_sig:])), gap)
        st0 = await stats(admin)
        c0 = cpu.read()
        rows = await signal_calls(bench, list(zip(sig_callers[:n_sig], sig_callees[:n_sig])), gap)
        res["cpu"]["idle signalling"] = (Cpu.diff(c0, cpu.read()), len(rows))
        res["signal"]["idle"] = rows
        log("idle signalling: %d calls" % len(rows))
        st = await stats(admin)
        if st["pushes_sent"] != st0["pushes_sent"] or bench.push_total:
            bench.problem("calls to online callees without registrations pushed something (%d requests)"
                          % bench.push_total)

        # ---- 2. latency
        c0 = cpu.read()
        t_phase = time.monotonic()
        lat = await latency_calls(bench, list(zip(lat_callers, offline[:n_lat])), gap)
        res["latency_time"] = time.monotonic() - t_phase
        res["cpu"]["latency phase"] = (Cpu.diff(c0, cpu.read()), len(lat))
        res["latency"] = lat
        log("latency: %d calls in %.1f s" % (len(lat), res["latency_time"]))
        if not await wait_all_pushes(bench, lat, 3, 30):
            bench.problem("latency: not every call's call_ended and missed_call came within 30 s")
        res["bad_latency"] = check_pushes(bench, lat, "latency")

        # ---- 3. slow endpoint
        await asyncio.sleep(0.5)
        st0 = await stats(admin)
        if st0["pushes_pending"]:
            bench.problem("%d pushes pending before the slow phase" % st0["pushes_pending"])
        webhook.delay = cfg["slow_s"]
        slow = []
        c0 = cpu.read()
        place_t0 = time.monotonic()

        async def place(caller, callee_user):
            t = time.monotonic()
            data, t_reply = await caller.ok({"request": "call", "to": callee_user, "video": False}, "calling",
                                            OFFER)
            slow.append({"call_id": data["call_id"], "caller": caller.user, "callee": callee_user, "t0": t,
                         "calling": t_reply - t, "caller_dev": caller})

        await bench.pool((lambda c=c, u=u: place(c, u) for c, u in zip(slow_callers, offline[n_lat:])),
                         cfg["place_workers"])
        place_t1 = time.monotonic()
        log("slow endpoint: %d calls placed in %.2f s" % (len(slow), place_t1 - place_t0))
        ids = {c["call_id"] for c in slow}

        def slow_recs():
            return [r for cid in ids for r in bench.pushes.get(cid, ())
                    if (r.get("body") or {}).get("type") == "incoming_call"]

        # All their pushes at the stand-in.
        deadline = time.monotonic() + cfg["slow_s"] * 3 + 60
        while len(slow_recs()) < len(slow) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        t_all_arrived = time.monotonic()
        arrived_n = len(slow_recs())
        st_arrived = await stats(admin)
        log("slow endpoint: %d of %d pushes at the stand-in, %.2f s after the first call; plugin: %d pending"
            % (arrived_n, len(slow), t_all_arrived - place_t0, st_arrived["pushes_pending"]))
        if arrived_n < len(slow):
            bench.problem("slow endpoint: only %d of %d pushes reached the stand-in within %.0f s"
                          % (arrived_n, len(slow), cfg["slow_s"] * 3 + 60))
        c_sig = cpu.read()
        sig = await signal_calls(bench, list(zip(sig_callers[n_sig:2 * n_sig], sig_callees[n_sig:2 * n_sig])), gap)
        res["cpu"]["signalling beside the slow pushes"] = (Cpu.diff(c_sig, cpu.read()), len(sig))
        st_sig = await stats(admin)
        res["signal"]["slow"] = sig
        log("slow endpoint: %d signalling calls measured, plugin: %d pending" % (len(sig), st_sig["pushes_pending"]))

        # Until every slow push is delivered (admin stats), then the stand-in's record.
        target = st0["pushes_sent"] + len(slow)
        t_deliv = None
        st = st_sig
        deadline = time.monotonic() + cfg["slow_s"] * 3 + timeout_ms / 1000.0 * 4 + 60
        while time.monotonic() < deadline:
            st = await stats(admin)
            if st["pushes_sent"] + st["pushes_failed"] >= target + st0["pushes_failed"] and not st["pushes_pending"]:
                t_deliv = time.monotonic()
                break
            await asyncio.sleep(0.05)
        res["cpu"]["slow phase: first call -> all delivered"] = (Cpu.diff(c0, cpu.read()), len(slow))
        st_deliv = st
        # The same signalling again: the calls still ring, their pushes are done.
        c1 = cpu.read()
        res["signal"]["after"] = await signal_calls(bench, list(zip(sig_callers[2 * n_sig:3 * n_sig],
                                                                    sig_callees[2 * n_sig:3 * n_sig])), gap)
        res["cpu"]["signalling after the slow pushes, calls ringing"] = (Cpu.diff(c1, cpu.read()),
                                                                         len(res["signal"]["after"]))
        recs = slow_recs()
        arrived = [r["arrived"] for r in recs]
        answered = [r["answered"] for r in recs if r.get("answered") is not None]
        first_answer = min(answered) if answered else float("inf")
        concurrent = sum(1 for t in arrived if t < first_answer)
        # Signalling calls that ran entirely while all slow pushes were in flight.
        inside = [r for r in sig if r["t0"] >= (max(arrived) if arrived else 0) and r["end"] < first_answer]
        res["slow"] = {
            "n": len(slow), "place": place_t1 - place_t0, "calling": [c["calling"] for c in slow],
            "push": [r["arrived"] - c["t0"] for c in slow for r in bench.pushes.get(c["call_id"], ())
                     if (r.get("body") or {}).get("type") == "incoming_call"],
            "all_arrived": (max(arrived) - place_t0) if arrived else float("nan"),
            "concurrent": concurrent,
            "pending_arrived": st_arrived["pushes_pending"], "pending_after_signal": st_sig["pushes_pending"],
            "first_answer": first_answer - place_t0 if answered else float("nan"),
            "last_answer": (max(answered) - place_t0) if answered else float("nan"),
            "delivered": (t_deliv - place_t0) if t_deliv else float("nan"),
            "sent": st_deliv["pushes_sent"] - st0["pushes_sent"],
            "failed": st_deliv["pushes_failed"] - st0["pushes_failed"],
            "sig_inside": len(inside), "sig_n": len(sig),
            "janus_threads": threads(pid),
        }
        log("slow endpoint: %d in flight at once at the stand-in; all delivered %.2f s after the first call"
            % (concurrent, res["slow"]["delivered"]))
        if t_deliv is None:
            bench.problem("slow endpoint: the slow pushes were not all delivered: stats %r" % st_deliv)
        if res["slow"]["failed"]:
            bench.problem("slow endpoint: %d pushes failed" % res["slow"]["failed"])
        if res["slow"]["sent"] != len(slow):
            bench.problem("slow endpoint: %d pushes sent for %d calls" % (res["slow"]["sent"], len(slow)))
        if concurrent < len(slow):
            bench.problem("slow endpoint: only %d of %d pushes were at the stand-in before its first answer "
                          "(not all in flight at once)" % (concurrent, len(slow)))
        if len(inside) < len(sig):
            log("note: %d of %d signalling calls ran outside the time all slow pushes were in flight"
                % (len(sig) - len(inside), len(sig)))

        # Hang up (quickly answered now): call_ended and missed_call each.
        webhook.delay = 0

        async def hang(c):
            await c["caller_dev"].ok({"request": "hangup", "call_id": c["call_id"]}, "hungup")

        await bench.pool((lambda c=c: hang(c) for c in slow), cfg["place_workers"])
        if not await wait_all_pushes(bench, slow, 3, 60):
            bench.problem("slow endpoint: not every call's call_ended and missed_call came within 60 s")
        res["bad_slow"] = check_pushes(bench, slow, "slow endpoint")
        for c in slow:
            c.pop("caller_dev", None)

        # ---- the end
        deadline = time.monotonic() + 30
        while True:
            st = await stats(admin)
            if not st["pushes_pending"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        st = await stats(admin)
        res["final_stats"] = st
        want = 3 * (len(lat) + len(slow))
        if (st["pushes_sent"], st["pushes_failed"], st["pushes_pending"]) != (want, 0, 0):
            bench.problem("at the end admin stats shows %d sent, %d failed, %d pending; %d, 0, 0 expected"
                          % (st["pushes_sent"], st["pushes_failed"], st["pushes_pending"], want))
        if bench.push_total != want:
            bench.problem("the stand-in got %d requests in all, %d expected (3 per call)" % (bench.push_total, want))
        known = {c["call_id"] for c in lat} | ids
        strays = [cid for cid in bench.pushes if cid not in known]
        if strays:
            bench.problem("%d pushes for calls the benchmark did not push to (e.g. %r)" % (
                sum(len(bench.pushes[c]) for c in strays), strays[:3]))
        res["push_total"] = bench.push_total
        res["webhook_connections"] = webhook.connections
        log("stand-in intake: %d requests sent at once by a plain client" % n_slow)
        try:
            res["intake"] = await intake(n_slow)
        except Exception as e:  # noqa: BLE001  (a reference figure, not a check)
            log("the stand-in's intake could not be measured: %r" % e)
        if not janus.alive():
            bench.problem("janus died; log tail:\n%s" % janus.log_tail())
    finally:
        res.update(await stop_janus(janus, admin, bench, log_start, 120))
        webhook.close()


# A plain HTTP/1.1 client: one connection per request, all opened at once,
# each POST written as soon as its connection is up; prints when the first
# and the last were written (time.monotonic() is the same clock in every
# process here).
INTAKE_CLIENT = r"""
import asyncio, json, sys, time
n, port = int(sys.argv[1]), int(sys.argv[2])
body = b'{"type": "intake"}'
head = (b"POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body))
async def one(sent):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(head + body)
    await w.drain()
    sent.append(time.monotonic())
    await r.read(1)
async def main():
    sent = []
    t0 = time.monotonic()
    await asyncio.gather(*(one(sent) for _ in range(n)), return_exceptions=True)
    print(json.dumps({"t0": t0, "first": min(sent), "last": max(sent), "n": len(sent)}))
asyncio.run(main())
"""


async def intake(n):
    """How fast the stand-in itself takes in n requests that come at once
    (a fresh one, holding every answer until all have come): what the slow
    phase's arrival times include besides the plugin."""
    srv = WebhookServer("intake")
    srv.delay = 3600
    try:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", INTAKE_CLIENT, str(n), str(srv.port),
                                                    stdout=asyncio.subprocess.PIPE)
        deadline = time.monotonic() + 60
        while srv.log._total < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        # Ends the held requests: the client's reads return.
        srv.close()
    out, _ = await proc.communicate()
    info = json.loads(out)
    arrived = sorted(r["arrived"] for r in srv.requests)
    return {"n": len(arrived), "sent": info["last"] - info["t0"],
            "first": arrived[0] - info["t0"] if arrived else float("nan"),
            "p50": arrived[len(arrived) // 2] - info["t0"] if arrived else float("nan"),
            "last": arrived[-1] - info["t0"] if arrived else float("nan")}


# ---------------------------------------------------------------- tables

def tables(res, cfg):
    out = []
    lat = res.get("latency") or []
    if lat:
        tenth = max(1, len(lat) // 10)
        rows = []
        for what, key in (("'calling' reply", "calling"), ("webhook request at the stand-in", "push")):
            for part, rs in (("", lat), (", first %d calls" % tenth, lat[:tenth]),
                             (", last %d calls" % tenth, lat[-tenth:])):
                v = [r[key] for r in rs if r[key] == r[key]]
                rows.append([what + part, len(v)] + dist(v))
        out.append(table(
            "Push latency: one call at a time to an offline callee with one webhook registration (ms)",
            ["from call to", "n", "p50", "p99", "max"], rows,
            "%d calls, each to its own callee; the caller hangs up once the push arrived (its call_ended and "
            "missed_call follow). The push waits for the callee's registrations to be read from PostgreSQL, "
            "then goes to the plugin's push thread and over HTTP/1.1 (keep-alive) to the stand-in; the time "
            "is the stand-in's, once it has read the request. First and last calls: the plugin keeps every "
            "call of the last hour in memory." % len(lat)))
    sig = res.get("signal") or {}
    s = res.get("slow")
    if sig:
        rows = []
        nslow = num(s["n"]) if s else "?"
        for key, label in (("idle", "idle: no push traffic, no other call"),
                           ("slow", "%s pushes in flight (endpoint answers after %g s), %s calls ringing"
                            % (num(s["concurrent"]) if s else "?", cfg["slow_s"], nslow)),
                           ("after", "those pushes delivered, the %s calls still ringing" % nslow)):
            rs = sig.get(key) or []
            if not rs:
                continue
            rows.append([label, len(rs)] + dist([r["calling"] for r in rs]) + dist([r["incoming"] for r in rs]))
        note = ("Calls one at a time between online devices (the callee declines each); times from sending "
                "'call'.")
        if s:
            note += (" %d of the %d calls beside the slow pushes started after the last of them reached the "
                     "stand-in and ended before its first answer." % (s["sig_inside"], s["sig_n"]))
        out.append(table("Signalling latency, idle and beside a slow push endpoint (ms)",
                         ["condition", "n", "calling p50", "calling p99", "calling max",
                          "incoming_call p50", "incoming_call p99", "incoming_call max"], rows, note))
    if s:
        rows = [
            ["calls placed (%d concurrent requests)" % cfg["place_workers"], "%s in %.2f s" % (num(s["n"]), s["place"])],
            ["'calling' reply while placing them: p50 / p99 / max", " / ".join(dist(s["calling"])) + " ms"],
            ["call -> its push at the stand-in: p50 / p99 / max", " / ".join(dist(s["push"])) + " ms"],
            ["first call -> last push at the stand-in", "%.2f s" % s["all_arrived"]],
            ["pushes at the stand-in before its first answer (in flight at once)", num(s["concurrent"])],
            ["plugin's pushes_pending once all had arrived / after the signalling calls",
             "%s / %s" % (num(s["pending_arrived"]), num(s["pending_after_signal"]))],
            ["first call -> first / last answer of the stand-in", "%.2f s / %.2f s" % (s["first_answer"],
                                                                                       s["last_answer"])],
            ["first call -> all delivered (admin stats, polled after the signalling calls)",
             "%.2f s" % s["delivered"]],
            ["pushes sent / failed (stats, this phase)", "%s / %s" % (num(s["sent"]), num(s["failed"]))],
            ["janus threads", num(s["janus_threads"])],
        ]
        it = res.get("intake")
        if it:
            rows.append(["stand-in alone: %s requests at once from a plain client (all sent in %.2f s), "
                         "arrival first / p50 / last" % (num(it["n"]), it["sent"]),
                         "%.2f / %.2f / %.2f s" % (it["first"], it["p50"], it["last"])])
        out.append(table("Slow endpoint: %s calls to offline callees, the webhook answering each after %g s"
                         % (num(s["n"]), cfg["slow_s"]), ["what", "value"], rows,
                         "push.max_in_flight = %d, push.timeout_ms = %d. Delivered 'about the delay' after the "
                         "last call means the pushes waited side by side, not in turn."
                         % (cfg["max_in_flight"], cfg["timeout_ms"])))
    if res.get("cpu"):
        rows = []
        for what, (d, n) in res["cpu"].items():
            rows.append([what, n, "%.2f" % d["janus"], "%.2f" % (d["janus"] / n * 1000) if n else "-",
                         "%.2f" % d["calls handler"], "%.3f" % d["calls push"], "%.2f" % d["calls store"]])
        out.append(table("Janus CPU (user + system seconds)", ["phase", "calls", "janus", "janus ms/call",
                                                               "handler thread", "push thread", "store thread"],
                         rows, "janus: the whole process (its core's ICE and WebSocket work included); the "
                               "threads are the plugin's."))
    rows = [[what, "%.1f s" % dt] for what, dt in res.get("setup", [])]
    st = res.get("final_stats")
    if st:
        rows.append(["admin stats at the end: pushes sent / failed / pending",
                     "%s / %s / %s" % (num(st["pushes_sent"]), num(st["pushes_failed"]), num(st["pushes_pending"]))])
    if "push_total" in res:
        rows.append(["webhook requests at the stand-in / TCP connections it accepted",
                     "%s / %s" % (num(res["push_total"]), num(res["webhook_connections"]))])
    if "latency_time" in res:
        rows.append(["latency phase (%d calls, one at a time)" % len(lat), "%.1f s" % res["latency_time"]])
    rows.append(["other plugin events / core messages", "%s / %s" % (
        json.dumps(res.get("other_events", {}), sort_keys=True), json.dumps(res.get("core_events", {}), sort_keys=True))])
    rows.append(["janus log while measuring: warnings / errors", log_counts(res.get("janus_log"))])
    if "stop" in res:
        rows.append(["janus stop (SIGTERM) took", "%.1f s" % res["stop"]])
    out.append(table("Setup and bookkeeping", ["what", "value"], rows))
    return out


# ---------------------------------------------------------------- main

def main():
    a = arguments().parse_args()

    slow_s = env_int("BENCH_SLOW_S", 5)
    inflight = env_int("BENCH_INFLIGHT", 1000)
    cfg = {
        "calls": env_int("BENCH_CALLS", 500),
        "inflight": inflight,
        "slow_s": slow_s,
        "signal": env_int("BENCH_SIGNAL", 100),
        "conns": max(1, env_int("BENCH_CONNS", 20)),
        "place_workers": max(1, env_int("BENCH_PLACE_WORKERS", 50)),
        "gap": env_int("BENCH_GAP_MS", 5) / 1000.0,
        "max_in_flight": max(1, min(10000, env_int("BENCH_MAX_IN_FLIGHT", inflight))),
        "timeout_ms": env_int("BENCH_TIMEOUT_MS", slow_s * 1000 + 10000),
        "debug_level": env_int("BENCH_DEBUG_LEVEL", 3),
        "event_loops": env_int("BENCH_EVENT_LOOPS", 0),
    }
    started = begin("push", "BENCH_CALLS=%d BENCH_INFLIGHT=%d BENCH_SLOW_S=%d BENCH_SIGNAL=%d BENCH_CONNS=%d "
                    "BENCH_PLACE_WORKERS=%d BENCH_GAP_MS=%d BENCH_MAX_IN_FLIGHT=%d BENCH_TIMEOUT_MS=%d "
                    "BENCH_EVENT_LOOPS=%d" % (
                        cfg["calls"], cfg["inflight"], cfg["slow_s"], cfg["signal"], cfg["conns"],
                        cfg["place_workers"], cfg["gap"] * 1000, cfg["max_in_flight"], cfg["timeout_ms"],
                        cfg["event_loops"]))

    res = {"setup": [], "cpu": {}, "signal": {}, "problems": []}
    with postgres(PgCluster(os.path.join(a.work, "pg"))) as pg:
        run_async(run(a, pg, cfg, res), res)

    for t in tables(res, cfg):
        print(t)
    finish(res["problems"], "No problems found (every push arrived once, signed and addressed right; all slow "
           "pushes in flight at once and delivered; none failed).", started)


if __name__ == "__main__":
    main()

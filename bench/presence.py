"""Presence benchmark (driven by bench/presence.sh; see bench/README.md).

Runs inside the private network namespace of tests/lib/with-netns.sh, with a
private PostgreSQL (tests/lib/pg_instance.py) and, for each presence window
asked for, a private Janus with the plugin (tests/lib/janus_instance.py).

For each window (BENCH_WINDOWS, default "500,0": the default
presence_window_ms, then no window):

  1. N devices (BENCH_DEVICES, one user each, "u00000".., device "d") are
     attached over BENCH_CONNS WebSocket connections (one Janus session per
     connection, many handles per session) and registered.
  2. For each S in BENCH_SUBS (ascending): every device subscribes to S users
     (presence_subscribe, at most 100 ids a request). The graph is circulant:
     device i watches users (i + o) mod N for o in the first S of one fixed
     random list of distinct offsets, so every user has exactly S subscribers
     and the graph of a larger S contains the smaller one.
  3. Latency: BENCH_CHANGES state changes of random users (half offline: the
     user's only device unregisters; half online: it registers again), one at
     a time; the time from sending the request to the presence notification
     at the first and at the last of the user's S subscribers.
  4. Flapping: one user unregisters and registers again BENCH_FLAPS times
     within BENCH_FLAP_MS; the notifications each of its subscribers gets.
  5. Janus's RSS (VmRSS of /proc/<pid>/status) after start, after attaching,
     after registering, after each subscription step.

Prints tables; everything it starts it stops. Exit status 1 when a check
failed (a notification missing, doubled, in the wrong state, at a device that
does not subscribe, a request refused).
"""

import asyncio
import json
import os
import random
import time

import benchlib
from benchlib import (Janus, admin_stats, arguments, begin, cpu_seconds, env_int, env_list, finish, log, log_counts,
                      ms, num, pct, plugin_conf, postgres, run_async, status_field, stop_janus, table, threads)
from pg_instance import PgCluster
from calls_client import AdminClient

CHUNK = 100          # ids per presence_subscribe (the protocol's maximum)


# ---------------------------------------------------------------- numbers

def mib(nbytes):
    return "%.1f MiB" % (nbytes / 1048576.0)


# ---------------------------------------------------------------- /proc

def rss_bytes(pid):
    kib = status_field(pid, "VmRSS")
    if kib is None:
        raise RuntimeError("no VmRSS for pid %d" % pid)
    return kib * 1024


# ---------------------------------------------------------------- the clients

class Dev(benchlib.Dev):
    __slots__ = ("idx",)

    def __init__(self, idx, user, conn):
        super().__init__(user, conn)
        self.idx = idx


class Track:
    """The presence entries of one user that arrive while a change is being
    measured. expect: the state every subscriber should be told (None: count
    everything, for the flapping check)."""

    def __init__(self, user, expect, subscribers):
        self.user = user
        self.expect = expect
        self.subscribers = subscribers
        self.arrived = {}       # device index -> first arrival time
        self.counts = {}        # device index -> entries received
        self.states = {}        # device index -> states received, in order
        self.dup = 0
        self.outsiders = 0
        self.wrong = []
        self.done = asyncio.Event()

    def on(self, idx, t, entry):
        if idx not in self.subscribers:
            self.outsiders += 1
            return
        self.counts[idx] = self.counts.get(idx, 0) + 1
        self.states.setdefault(idx, []).append(entry.get("state"))
        if idx in self.arrived:
            self.dup += 1
            return
        self.arrived[idx] = t
        if self.expect is not None and entry.get("state") != self.expect:
            self.wrong.append(entry)
        if len(self.arrived) == len(self.subscribers):
            self.done.set()


class Bench(benchlib.Bench):
    timeout = 120

    def __init__(self, n, conns_n, url, rng):
        super().__init__(url, conns_n)
        self.n = n
        self.rng = rng
        self.devs = [None] * n
        self.track = None
        self.stray = 0               # presence entries outside any measurement
        self.stray_samples = []
        self.notifications = 0       # presence events received (all)

    def user(self, i):
        return "u%05d" % i

    def on_event(self, sender, t, data):
        dev = self.by_handle.get(sender)
        name = data.get("calls")
        if name != "presence" or dev is None:
            self.other_event(name)
            return
        self.notifications += 1
        tr = self.track
        for e in data.get("users") or ():
            if tr is not None and e.get("user") == tr.user:
                tr.on(dev.idx, t, e)
            else:
                self.stray += 1
                if len(self.stray_samples) < 10:
                    self.stray_samples.append("%s got %s" % (dev.user, json.dumps(e)))

    async def connect(self):
        await super().connect()
        for i in range(self.n):
            self.devs[i] = Dev(i, self.user(i), self.conns[i % self.conns_n])

    async def attach_all(self, limit=200):
        return await self.attach(self.devs, limit, "attach")

    async def register(self, d):
        data, raw, _ = await d.send({"request": "register", "user": d.user, "device": "d"})
        if data is None or data.get("calls") != "registered":
            raise RuntimeError("register %s: %r" % (d.user, raw))

    async def unregister(self, d):
        data, raw, _ = await d.send({"request": "unregister"})
        if data is None or data.get("calls") != "unregistered":
            raise RuntimeError("unregister %s: %r" % (d.user, raw))

    async def register_all(self, limit=200):
        return await self.pool((lambda d=d: self.register(d) for d in self.devs), limit, "register")

    async def subscribe(self, d, users):
        data, raw, _ = await d.send({"request": "presence_subscribe", "users": users})
        if data is None or data.get("calls") != "presence":
            raise RuntimeError("presence_subscribe by %s: %s" % (d.user, json.dumps(raw)[:400]))
        got = [e.get("user") for e in data.get("users") or ()]
        if got != users:
            self.problem_note("presence_subscribe by %s: reply lists %d users, %d asked (or another order)"
                              % (d.user, len(got), len(users)))
        return data

    def targets(self, i, offsets):
        return [self.user((i + o) % self.n) for o in offsets]

    async def subscribe_offsets(self, d, offsets):
        t = self.targets(d.idx, offsets)
        for k in range(0, len(t), CHUNK):
            await self.subscribe(d, t[k:k + CHUNK])

    async def subscribe_all(self, offsets, limit=200):
        jobs = []
        for d in self.devs:
            t = self.targets(d.idx, offsets)
            for k in range(0, len(t), CHUNK):
                jobs.append((d, t[k:k + CHUNK]))
        return await self.pool((lambda j=j: self.subscribe(*j) for j in jobs), limit, "subscribe"), len(jobs)


# ---------------------------------------------------------------- measurements

async def snap(pid, what, devices, subscriptions, wait=1.0):
    """(stage, RSS, devices, subscriptions, threads) of Janus, after a moment to settle."""
    await asyncio.sleep(wait)
    return (what, rss_bytes(pid), devices, subscriptions, threads(pid))


async def measure_change(bench, d, kind, subscribers, window_ms, gap):
    """One state change of d's user: the times until its subscribers hear it."""
    tr = Track(d.user, kind, subscribers)
    bench.track = tr
    t0 = time.monotonic()
    if kind == "offline":
        await bench.unregister(d)
    else:
        await bench.register(d)
    t_reply = time.monotonic() - t0
    try:
        await asyncio.wait_for(tr.done.wait(), window_ms / 1000.0 + 10)
    except asyncio.TimeoutError:
        pass
    # A quiet gap: late or doubled notifications still count against this change.
    await asyncio.sleep(gap)
    bench.track = None
    times = [t - t0 for t in tr.arrived.values()]
    return {"kind": kind, "reply": t_reply,
            "first": min(times) if times else float("nan"),
            "last": max(times) if times else float("nan"),
            "got": len(tr.arrived), "missing": len(subscribers) - len(tr.arrived),
            "dup": tr.dup, "outsiders": tr.outsiders, "wrong": tr.wrong}


async def latency_phase(bench, janus_pid, s, offsets, n_changes, window_ms, gap):
    n = bench.n
    pairs = max(1, n_changes // 2)
    subjects = bench.rng.sample(range(n), min(pairs, n))
    out = []
    cpu_janus = 0.0
    t_phase = time.monotonic()
    for k, i in enumerate(subjects):
        d = bench.devs[i]
        subscribers = {(i - o) % n for o in offsets}
        for kind in ("offline", "online"):
            c0 = cpu_seconds(janus_pid)
            r = await measure_change(bench, d, kind, subscribers, window_ms, gap)
            cpu_janus += cpu_seconds(janus_pid) - c0
            out.append(r)
            if r["missing"] or r["dup"] or r["outsiders"] or r["wrong"]:
                bench.problem("window %d ms, S=%d: %s of %s: %d of %d subscribers notified, %d doubled, "
                              "%d at non-subscribers, %d in the wrong state%s"
                              % (window_ms, s, kind, d.user, r["got"], len(subscribers), r["dup"],
                                 r["outsiders"], len(r["wrong"]),
                                 (" (e.g. %s)" % json.dumps(r["wrong"][0])) if r["wrong"] else ""))
        # Registering again started with no subscriptions: restore this
        # device's part of the graph (not measured).
        await bench.subscribe_offsets(d, offsets)
        if (k + 1) % 25 == 0:
            log("  latency: %d of %d users changed (%.0f s)" % (k + 1, len(subjects), time.monotonic() - t_phase))
    return out, cpu_janus, time.monotonic() - t_phase


async def flap_phase(bench, s, offsets, flaps, flap_ms, window_ms):
    n = bench.n
    i = bench.rng.randrange(n)
    d = bench.devs[i]
    subscribers = {(i - o) % n for o in offsets}
    tr = Track(d.user, None, subscribers)
    bench.track = tr
    t0 = time.monotonic()
    for k in range(flaps):
        at = t0 + k * (flap_ms / 1000.0) / flaps
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await bench.unregister(d)
        await bench.register(d)
    dur = time.monotonic() - t0
    # Every window the flap opened has closed well before this.
    await asyncio.sleep(2 * window_ms / 1000.0 + 1.0)
    bench.track = None
    await bench.subscribe_offsets(d, offsets)
    counts = [tr.counts.get(x, 0) for x in subscribers]
    hist = {}
    for c in counts:
        hist[c] = hist.get(c, 0) + 1
    finals = {}
    for x in subscribers:
        st = tr.states.get(x)
        if st:
            finals[st[-1]] = finals.get(st[-1], 0) + 1
    # A user is announced at most once a window; the first change opens the
    # first window, so a flap of length dur touches at most 1 + dur // window
    # windows. Without a window every change may be announced.
    bound = (1 + int(dur * 1000 // window_ms)) if window_ms > 0 else 2 * flaps
    res = {"user": d.user, "dur": dur, "subscribers": len(subscribers), "hist": hist,
           "max": max(counts) if counts else 0, "total": sum(counts), "bound": bound,
           "finals": finals, "outsiders": tr.outsiders}
    if res["max"] > bound:
        bench.problem("window %d ms, S=%d: flapping %s (%d flaps in %.0f ms): a subscriber got %d notifications, "
                      "at most %d expected" % (window_ms, s, d.user, flaps, dur * 1000, res["max"], bound))
    if any(f != "online" for f in finals):
        bench.problem("window %d ms, S=%d: after flapping (ending online) some subscribers were last told %r"
                      % (window_ms, s, finals))
    if tr.outsiders:
        bench.problem("window %d ms: flapping %s reached %d non-subscribers" % (window_ms, d.user, tr.outsiders))
    return res


async def run_window(a, pg, window_ms, cfg, res):
    n, subs, conns_n = cfg["n"], cfg["subs"], cfg["conns"]
    rng = random.Random(cfg["seed"])
    # One list of distinct offsets; S subscriptions = its first S.
    offsets_all = rng.sample(range(1, n), max(subs)) if subs else []
    janus = Janus(plugin_dir=a.plugin_dir, workdir=os.path.join(a.work, "janus-w%d" % window_ms),
                  debug_level=cfg["debug_level"], plugin_conf=plugin_conf(
                      pg.conninfo, os.path.join(a.work, "spool-w%d" % window_ms), "bench-presence",
                      general={"max_subscriptions": max(subs + [1]), "presence_window_ms": window_ms}))
    janus.event_loops = cfg["event_loops"]
    bench = Bench(n, conns_n, janus.ws_url, rng)
    res["problems"] = bench.problems
    admin = None
    log_start = 0
    try:
        janus.start(timeout=60)
        pid = janus.proc.pid
        log_start = os.path.getsize(janus.log_path)
        log("window %d ms: janus up (pid %d, log %s)" % (window_ms, pid, janus.log_path))
        admin = await AdminClient(janus.admin_url).connect()
        await admin_stats(admin)   # the plugin answers
        res["rss"].append(await snap(pid, "started", 0, 0, wait=2.0))

        await bench.connect()
        res["rss"].append(await snap(pid, "%d WebSockets, one session each" % conns_n, 0, 0))
        dt = await bench.attach_all()
        res["times"]["attach"] = dt
        res["rss"].append(await snap(pid, "%s handles attached" % num(n), 0, 0))
        log("window %d ms: %s handles attached in %.1f s" % (window_ms, num(n), dt))

        dt = await bench.register_all()
        res["times"]["register"] = dt
        st = await admin_stats(admin)
        if st.get("devices") != n:
            bench.problem("after registering %d devices the plugin counts %r" % (n, st.get("devices")))
        res["rss"].append(await snap(pid, "%s devices registered" % num(n), st.get("devices"),
                                     st.get("subscriptions")))
        log("window %d ms: %s devices registered in %.1f s" % (window_ms, num(n), dt))

        have = 0
        for s in subs:
            dt, nreq = await bench.subscribe_all(offsets_all[have:s])
            have = s
            offsets = offsets_all[:s]
            st = await admin_stats(admin)
            if st.get("subscriptions") != n * s:
                bench.problem("S=%d: the plugin counts %r subscriptions, %d expected" % (s, st.get("subscriptions"), n * s))
            res["rss"].append(await snap(pid, "S=%d: %s subscriptions" % (s, num(n * s)), st.get("devices"),
                                         st.get("subscriptions")))
            res["times"]["subscribe S=%d" % s] = (dt, nreq)
            log("window %d ms, S=%d: %s presence_subscribe requests in %.1f s" % (window_ms, s, num(nreq), dt))

            lat, cpu, dt = await latency_phase(bench, pid, s, offsets, cfg["changes"], window_ms, cfg["gap"])
            res["latency"][s] = {"rows": lat, "cpu": cpu, "time": dt}
            log("window %d ms, S=%d: %d changes measured in %.0f s" % (window_ms, s, len(lat), dt))
            res["flap"][s] = await flap_phase(bench, s, offsets, cfg["flaps"], cfg["flap_ms"], window_ms)
            st = await admin_stats(admin)
            if st.get("subscriptions") != n * s or st.get("devices") != n:
                bench.problem("S=%d after the changes: %r devices, %r subscriptions (%d, %d expected)"
                              % (s, st.get("devices"), st.get("subscriptions"), n, n * s))
            res["rss"].append(await snap(pid, "S=%d: after its changes and flap" % s, st.get("devices"),
                                         st.get("subscriptions")))
        if not janus.alive():
            bench.problem("janus died (window %d ms); log tail:\n%s" % (window_ms, janus.log_tail()))
    finally:
        res["stray"] = bench.stray
        res["stray_samples"] = bench.stray_samples
        res["notifications"] = bench.notifications
        # Janus stops before the sockets close: closing them first would make
        # every device leave, one presence change each.
        res.update(await stop_janus(janus, admin, bench, log_start, 180, " (window %d ms)" % window_ms))
    if bench.stray:
        bench.problem("window %d ms: %d presence entries arrived outside any measured change (e.g. %s)"
                      % (window_ms, bench.stray, bench.stray_samples[:3]))
    return res


# ---------------------------------------------------------------- tables

def latency_tables(results, cfg):
    rows = []
    for res in results:
        w = res["window"]
        for s, lat in sorted(res["latency"].items()):
            per_kind = [("offline", [r for r in lat["rows"] if r["kind"] == "offline"]),
                        ("online", [r for r in lat["rows"] if r["kind"] == "online"]),
                        ("both", lat["rows"])]
            for kind, rs in per_kind:
                first = [r["first"] for r in rs if r["got"]]
                last = [r["last"] for r in rs if r["got"]]
                reply = [r["reply"] for r in rs]
                missing = sum(r["missing"] for r in rs)
                bad = sum(r["dup"] + r["outsiders"] + len(r["wrong"]) for r in rs)
                cpu = ("%.1f" % (lat["cpu"] / len(lat["rows"]) * 1000)) if kind == "both" else ""
                rows.append([w, s, kind, len(rs), ms(pct(reply, 50)),
                             ms(pct(first, 50)), ms(pct(first, 99)),
                             ms(pct(last, 50)), ms(pct(last, 99)), ms(max(last) if last else float("nan")),
                             ms(pct([x - y for x, y in zip(last, first)], 50)),
                             "%d" % missing, "%d" % bad, cpu])
    return table("Presence latency: state change -> notification at the first / last of the user's S subscribers (ms)",
                 ["window ms", "S", "change", "n", "reply p50", "first p50", "first p99", "last p50", "last p99",
                  "last max", "spread p50", "missing", "wrong", "janus CPU ms/change"], rows,
                 "%s devices (one user each), every user watched by exactly S devices. offline: the user's only "
                 "device sends unregister; online: it registers again. Times from sending the request; 'reply' is "
                 "its own reply, 'spread' = last - first. missing: subscribers never notified (within window + 10 s); "
                 "wrong: doubled, in the wrong state or at a non-subscriber. Janus CPU: user + system time of the "
                 "janus process per change, quiet gap of %d ms included." % (num(cfg["n"]), cfg["gap"] * 1000))


def memory_table(results, cfg):
    n = cfg["n"]
    out = []
    for res in results:
        rows = []
        base = res["rss"][0][1] if res["rss"] else 0
        prev = base
        for what, rss, devs, subs, nthreads in res["rss"]:
            rows.append([what, mib(rss), mib(rss - prev), mib(rss - base),
                         num(devs) if devs is not None else "-", num(subs) if subs is not None else "-",
                         num(nthreads)])
            prev = rss
        out.append(table("Janus memory (VmRSS), presence_window_ms = %d" % res["window"],
                         ["stage", "RSS", "step", "since start", "devices", "subscriptions", "janus threads"], rows))
        # Derived: per 1,000 devices and per subscription.
        d = {w[0]: w[1] for w in res["rss"]}
        ws = d.get("%d WebSockets, one session each" % cfg["conns"])
        att = d.get("%s handles attached" % num(n))
        reg = d.get("%s devices registered" % num(n))
        rows = []
        if ws is not None and att is not None and reg is not None:
            rows.append(["%d WebSockets and sessions (Janus core)" % cfg["conns"], mib(ws - base)])
            rows.append(["Janus handle (attach), per 1,000 devices", mib((att - ws) * 1000.0 / n)])
            rows.append(["plugin device (register), per 1,000 devices", mib((reg - att) * 1000.0 / n)])
            rows.append(["handle + device, per 1,000 devices", mib((reg - ws) * 1000.0 / n)])
        prev_s, prev_rss = 0, reg
        for s in cfg["subs"]:
            r = d.get("S=%d: %s subscriptions" % (s, num(n * s)))
            if r is None or prev_rss is None:
                continue
            added = n * (s - prev_s)
            per = (r - prev_rss) / float(added)
            rows.append(["subscriptions %s -> %s: bytes per subscription" % (num(n * prev_s), num(n * s)),
                         "%.0f B (%s per 1,000)" % (per, "%.1f kB" % (per * 1000 / 1024.0))])
            prev_s, prev_rss = s, r
        if reg is not None and cfg["subs"]:
            top = max(cfg["subs"])
            r = d.get("S=%d: %s subscriptions" % (top, num(n * top)))
            if r is not None:
                per = (r - reg) / float(n * top)
                rows.append(["all %s subscriptions: bytes per subscription" % num(n * top),
                             "%.0f B (%s per 1,000)" % (per, "%.1f kB" % (per * 1000 / 1024.0))])
                rows.append(["RSS growth from start to S=%d, per 1,000 devices" % top,
                             mib((r - base) * 1000.0 / n)])
        out.append(table("Janus memory per device and per subscription, presence_window_ms = %d" % res["window"],
                         ["what", "value"], rows,
                         "Differences of VmRSS of the janus process, read 1 s after each step. RSS also holds "
                         "what malloc keeps after the requests' own buffers were freed."))
    return out


def flap_table(results, cfg):
    rows = []
    for res in results:
        for s, f in sorted(res["flap"].items()):
            hist = ", ".join("%d: %s" % (k, num(v)) for k, v in sorted(f["hist"].items()))
            finals = ", ".join("%s %s" % (k, num(v)) for k, v in sorted(f["finals"].items())) or "-"
            rows.append([res["window"], s, f["user"], "%.0f" % (f["dur"] * 1000), f["subscribers"], hist,
                         f["max"], f["bound"], finals, "ok" if f["max"] <= f["bound"] else "OVER"])
    return table("Flapping: one user unregisters and registers again %d times within %d ms"
                 % (cfg["flaps"], cfg["flap_ms"]),
                 ["window ms", "S", "user", "flap ms", "subscribers", "notifications per subscriber: count",
                  "max", "at most", "last state told", "check"], rows,
                 "'at most': one a window (1 + flap time // window), or every change without a window. "
                 "The flap ends online, as it started: with a window it should reach nobody.")


def setup_table(results, cfg):
    rows = []
    for res in results:
        t = res["times"]
        rows.append([res["window"], "attach %s handles" % num(cfg["n"]), "%.1f s" % t.get("attach", float("nan"))])
        rows.append([res["window"], "register %s devices" % num(cfg["n"]), "%.1f s" % t.get("register", float("nan"))])
        prev = 0
        for s in cfg["subs"]:
            v = t.get("subscribe S=%d" % s)
            if v:
                rows.append([res["window"], "subscribe to S=%d (%s requests, %s subscriptions)"
                             % (s, num(v[1]), num(cfg["n"] * (s - prev))),
                             "%.1f s (%s/s)" % (v[0], num(cfg["n"] * (s - prev) / v[0]))])
                prev = s
        for s, lat in sorted(res["latency"].items()):
            rows.append([res["window"], "latency phase S=%d (%d changes)" % (s, len(lat["rows"])),
                         "%.0f s" % lat["time"]])
        rows.append([res["window"], "presence notifications received (all)", num(res["notifications"])])
        rows.append([res["window"], "other plugin events / core messages",
                     "%s / %s" % (json.dumps(res["other_events"]), json.dumps(res["core_events"]))])
        for what, key in (("janus log while measuring: warnings / errors", "janus_log"),
                          ("janus log while stopping: warnings / errors", "janus_log_stop")):
            rows.append([res["window"], what, log_counts(res.get(key))])
        rows.append([res["window"], "janus stop (SIGTERM) took", "%.1f s" % res.get("stop", float("nan"))])
    return table("Setup and bookkeeping", ["window ms", "what", "value"], rows,
                 "%d WebSocket connections, one Janus session each, %s handles per session; requests from "
                 "200 concurrent workers, presence_subscribe with %d ids each."
                 % (cfg["conns"], num((cfg["n"] + cfg["conns"] - 1) // cfg["conns"]), CHUNK))


# ---------------------------------------------------------------- main

def main():
    a = arguments().parse_args()

    n = env_int("BENCH_DEVICES", 10000)
    subs_asked = sorted(set(env_list("BENCH_SUBS", "100,300,1000")))
    subs = [s for s in subs_asked if 0 < s < n]
    cfg = {
        "n": n, "subs": subs,
        "windows": env_list("BENCH_WINDOWS", "500,0"),
        "changes": env_int("BENCH_CHANGES", 200),
        "conns": max(1, min(env_int("BENCH_CONNS", 40), n)),
        "gap": env_int("BENCH_GAP_MS", 100) / 1000.0,
        "flaps": env_int("BENCH_FLAPS", 10),
        "flap_ms": env_int("BENCH_FLAP_MS", 300),
        "seed": env_int("BENCH_SEED", 1),
        "debug_level": env_int("BENCH_DEBUG_LEVEL", 3),
        "event_loops": env_int("BENCH_EVENT_LOOPS", 0),
    }
    started = begin("presence", "BENCH_DEVICES=%d BENCH_SUBS=%s BENCH_WINDOWS=%s BENCH_CHANGES=%d BENCH_CONNS=%d "
                    "BENCH_GAP_MS=%d BENCH_FLAPS=%d BENCH_FLAP_MS=%d BENCH_SEED=%d BENCH_EVENT_LOOPS=%d" % (
                        n, ",".join(map(str, subs)), ",".join(map(str, cfg["windows"])), cfg["changes"],
                        cfg["conns"], cfg["gap"] * 1000, cfg["flaps"], cfg["flap_ms"], cfg["seed"],
                        cfg["event_loops"]))
    skipped = [s for s in subs_asked if s not in subs]
    if skipped:
        print("S=%s skipped: a device can watch at most %d other users here" % (
            ",".join(map(str, skipped)), n - 1), flush=True)

    results = []
    problems = []
    with postgres(PgCluster(os.path.join(a.work, "pg"))) as pg:
        for w in cfg["windows"]:
            res = {"window": w, "rss": [], "latency": {}, "flap": {}, "times": {}, "problems": [],
                   "stray": 0, "other_events": {}, "core_events": {}, "notifications": 0,
                   "janus_log": {"warn": 0, "err": 0, "samples": []}}
            results.append(res)
            run_async(run_window(a, pg, w, cfg, res), res, "window %d ms" % w)
            problems += res["problems"]

    tables = [latency_tables(results, cfg), flap_table(results, cfg)]
    tables += memory_table(results, cfg)
    tables.append(setup_table(results, cfg))
    for t in tables:
        print(t)
    finish(problems, "No problems found (every subscriber notified once, in the right state; nothing at others).",
           started)


if __name__ == "__main__":
    main()

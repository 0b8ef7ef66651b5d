"""A bounded soak with faults (issue 8).

Many calls at once for CALLS_SOAK_SECONDS (default 60; the documented long
run is in docs/security.md), between a pool of users whose devices come and
go: answered calls with real media, declines, cancels, ring timeouts, group
calls, and faults: apps killed (the WebSocket dropped without a close
frame, the PeerConnection without a DTLS alert) in the ring and mid-call;
clients that vanish without a word (as above, but the socket stays open:
only Janus's session timeout notices); answers whose ICE cannot succeed. A user is in one
episode at a time, so each call's outcome is known in advance.

The work runs in rounds; after each, with every device closed, the plugin's
admin `stats` must be back to zero (users, devices, calls, participants,
presence subscriptions), Janus must hold no session, and Janus's resident
memory is read. At the end memory must be flat after the first round, and
every call must be in SQL once, ended, with the expected outcomes, and in
each user's `history` once.

A second test kills Janus with SIGKILL in the middle of answered, ringing and
group calls, starts it again, and checks that the calls are closed once.

CALLS_SOAK_SECONDS, CALLS_SOAK_WORKERS (4), CALLS_SOAK_SEED (the time) tune
the first test; the seed is printed, and a failure names the episode.
"""

import asyncio
import os
import random
import re
import shutil
import subprocess
import time

import pytest

import calls_client
from flows import answer, check_ended, hang_up, ring
from group_peer import GroupPeer
from conftest import ADMIN_KEY, CORE, VARIANTS
from test_history import (call_row, full_history, id_list, participant_rows, sql, sql_value,
                          wait_stats)

SECONDS = float(os.environ.get("CALLS_SOAK_SECONDS", "60"))
WORKERS = int(os.environ.get("CALLS_SOAK_WORKERS", "4"))
SEED = int(os.environ.get("CALLS_SOAK_SEED", str(int(time.time()))))
ROUND_SECONDS = 30
POOL = 3 * WORKERS + 3
# The soak variant's timers (conftest.py): short, so that faults end calls
# quickly, and ended calls are forgotten before memory is read; clients keep
# their sessions alive more often than the session timeout.
CALL_INFO_TTL = VARIANTS["soak"]["general"]["call_info_ttl"]
RING_TIMEOUT = VARIANTS["soak"]["general"]["ring_timeout"]
SESSION_TIMEOUT = CORE["soak"]["session_timeout"]
KEEPALIVE = SESSION_TIMEOUT / 3
# How long the other side may wait for `ended` after a fault: a vanished
# client is noticed by the session timeout (checked every 2 s); ICE that
# cannot succeed by libnice's checks, then ice_grace.
VANISH_LIMIT = SESSION_TIMEOUT + 10
ICE_FAIL_LIMIT = 60
# Janus's heap in use may differ this much between the first round and the
# last: between rounds of 100 calls it moves by up to about 150 kB either way
# (Janus's own caches and timers), a leak of a few kB per call shows.
HEAP_SLACK_KB = 512
# Where gdb cannot attach to Janus (no ptrace), resident memory is checked
# instead, which also holds what the allocator keeps: 2.5 MB over 300 s here.
RSS_SLACK_KB = 8192

STATS_ZERO = ("users", "devices", "active_calls", "participants", "subscriptions", "presence_people")

# scenario: weight. Each is a method of Soak, ep_<scenario>.
SCENARIOS = {"hangup": 6, "declined": 2, "cancelled": 2, "no_answer": 1, "abort_ringing": 1,
             "abort_answered": 2, "vanish": 1, "ice_fail": 1, "group": 2}

# A direct call's expected rows: (caller outcome, callee outcome, reasons).
DIRECT = {
    "hangup": ("answered", "answered", {"hangup"}),
    "declined": ("declined", "declined", {"declined"}),
    "cancelled": ("cancelled", "missed", {"cancelled", "hangup"}),
    "no_answer": ("no_answer", "missed", {"no_answer"}),
    "abort_answered": ("answered", "answered", {"failed"}),
    "vanish": ("answered", "answered", {"failed"}),
    "ice_fail": ("answered", "answered", {"failed"}),
}


def janus_rss_kb(janus):
    with open("/proc/%d/status" % janus.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def janus_heap_kb(janus):
    """Bytes Janus's allocator has handed out and not got back (glibc's
    malloc_stats(), called through gdb at a quiet moment; its report goes
    to Janus's log), in kB; None without gdb. Unlike RSS, this does not
    count freed memory the allocator keeps."""
    if not shutil.which("gdb"):
        return None
    with open(janus.log_path, "rb") as f:
        f.seek(0, os.SEEK_END)
        start = f.tell()
    subprocess.run(["gdb", "-p", str(janus.proc.pid), "-batch", "-nx",
                    "-ex", "call (void) malloc_stats()"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    with open(janus.log_path, "rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    m = re.findall(r"Total \(incl\. mmap\):\s*system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)", text)
    return int(m[-1][1]) // 1024 if m else None


def unreachable(sdp):
    """The SDP with every ICE candidate moved to a documentation address
    (RFC 5737) nobody answers on."""
    n = [0]

    def move(m):
        n[0] += 1
        return "a=candidate:%s %s udp %s 192.0.2.1 %d typ host" % (m.group(1), m.group(2), m.group(3), 9 + n[0])
    out = re.sub(r"a=candidate:(\S+) (\d+) \S+ (\d+) \S+ \d+ typ \S+[^\r\n]*", move, sdp)
    return re.sub(r"c=IN IP4 \S+", "c=IN IP4 192.0.2.1", out)


async def vanish(dev):
    """dev's client is gone without a word: no keepalives, no close, no DTLS alert."""
    dev.conn.go_silent()
    if dev.media is not None:
        await dev.media.vanish()
        dev.media = None


async def abort(dev):
    """dev's app is killed: the socket closes without a WebSocket close frame
    (the kernel closes it), the PeerConnection stops without a DTLS alert."""
    dev.conn.abort()
    await vanish(dev)


async def wait_ended_any(dev, call_id, reasons, timeout):
    ev = await dev.handle.events.take(lambda e: e.name == "ended" and e.get("call_id") == call_id, timeout)
    assert ev is not None, "%s: no `ended` for %s within %ss; events: %s" % (
        dev.label, call_id, timeout, [calls_client.short(e.data) for e in dev.handle.events.history[-8:]])
    assert ev.get("reason") in reasons, "%s: ended %s with %r, expected one of %s" % (
        dev.label, call_id, ev.get("reason"), sorted(reasons))
    return ev


class Soak:
    def __init__(self, calls, seed):
        self.calls = calls
        self.rng = random.Random(seed)
        self.users = [calls.uid("s%02d" % i) for i in range(POOL)]
        self.free = list(self.users)
        self.direct = []        # (call_id, caller, callee, scenario)
        self.groups = []        # (call_id, {user: outcome}, scenario)
        self.user_calls = {u: [] for u in self.users}
        self.failures = []
        self.done = {}
        self.seconds = {}       # scenario -> durations of its episodes
        self.open = []          # devices of the running episodes

    def take(self, n):
        picked = self.rng.sample(self.free, n)
        for u in picked:
            self.free.remove(u)
        return picked

    async def device(self, user, watch=()):
        d = calls_client.Device(self.calls.janus.ws_url, label=user)
        self.open.append(d)
        await d.open()
        await d.register(user=user, display=user.upper())
        if watch:
            await d.ok({"request": "presence_subscribe", "users": list(watch)}, "presence")
        return d

    async def close(self, *devs):
        for d in devs:
            try:
                await asyncio.wait_for(d.close(), 10)
            except Exception:
                pass
            if d in self.open:
                self.open.remove(d)

    async def run_round(self, until):
        async def worker():
            while time.monotonic() < until:
                name = self.rng.choices(list(SCENARIOS), weights=list(SCENARIOS.values()))[0]
                users = self.take(3 if name == "group" else 2)
                t0 = time.monotonic()
                try:
                    await asyncio.wait_for(getattr(self, "ep_" + name)(*users), 120)
                    self.done[name] = self.done.get(name, 0) + 1
                    self.seconds.setdefault(name, []).append(time.monotonic() - t0)
                except BaseException as e:
                    if isinstance(e, asyncio.CancelledError):
                        raise
                    self.failures.append("%s %s: %s: %s" % (name, users, type(e).__name__, str(e)[:1500]))
                finally:
                    self.free.extend(users)
        await asyncio.gather(*(worker() for _ in range(WORKERS)))

    # ------------------------------------------------------------ direct calls

    async def pair(self, ua, ub):
        a = await self.device(ua, watch=[ub])
        b = await self.device(ub, watch=[ua])
        return a, b

    def record(self, call_id, ua, ub, name):
        self.direct.append((call_id, ua, ub, name))
        self.user_calls[ua].append(call_id)
        self.user_calls[ub].append(call_id)

    async def ringing(self, ua, ub, name, video=False):
        """A new pair of devices, ua's calling ub's, recorded as episode name."""
        a, b = await self.pair(ua, ub)
        call_id, inc = await ring(a, [b], video=video)
        self.record(call_id, ua, ub, name)
        return a, b, call_id, inc[b]

    async def answered(self, ua, ub, name):
        video = self.rng.random() < 0.25
        a, b, call_id, inc = await self.ringing(ua, ub, name, video=video)
        await answer(a, b, inc)
        # real media, both ways
        for x in (a, b):
            await x.media.wait_frames(audio=10, video=2 if video else 0, timeout=20)
        await asyncio.sleep(self.rng.uniform(0, 2))
        return a, b, call_id

    async def ep_hangup(self, ua, ub):
        a, b, call_id = await self.answered(ua, ub, "hangup")
        x, y = (a, b) if self.rng.random() < 0.5 else (b, a)
        await hang_up(x, call_id)
        check_ended(await y.wait_event("ended", 5, call_id=call_id), call_id, "hangup", answered=True)
        await self.close(a, b)

    async def ep_declined(self, ua, ub):
        a, b, call_id, _ = await self.ringing(ua, ub, "declined")
        await b.ok({"request": "decline", "call_id": call_id}, "declined")
        check_ended(await a.wait_event("ended", 5, call_id=call_id), call_id, "declined")
        await self.close(a, b)

    async def ep_cancelled(self, ua, ub):
        a, b, call_id, _ = await self.ringing(ua, ub, "cancelled")
        await asyncio.sleep(self.rng.uniform(0, 1))
        await hang_up(a, call_id)
        check_ended(await b.wait_event("ended", 5, call_id=call_id), call_id, "cancelled")
        await self.close(a, b)

    async def ep_no_answer(self, ua, ub):
        a, b, call_id, _ = await self.ringing(ua, ub, "no_answer")
        check_ended(await a.wait_event("ended", RING_TIMEOUT + 4, call_id=call_id), call_id, "no_answer")
        await b.wait_event("ended", 5, call_id=call_id)
        await self.close(a, b)

    async def ep_abort_ringing(self, ua, ub):
        """Either side's connection drops while it rings."""
        a, b, call_id, _ = await self.ringing(ua, ub, "abort_ringing")
        if self.rng.random() < 0.5:
            await abort(a)
            await wait_ended_any(b, call_id, {"cancelled", "failed"}, 10)
        else:
            # the callee's only device is gone: nobody is left to ring
            await abort(b)
            await wait_ended_any(a, call_id, {"unavailable", "failed", "no_answer"}, RING_TIMEOUT + 4)
        await self.close(a, b)

    async def ep_abort_answered(self, ua, ub):
        a, b, call_id = await self.answered(ua, ub, "abort_answered")
        x, y = (a, b) if self.rng.random() < 0.5 else (b, a)
        await abort(x)
        await wait_ended_any(y, call_id, {"failed"}, 10)
        await self.close(a, b)

    async def ep_vanish(self, ua, ub):
        a, b, call_id = await self.answered(ua, ub, "vanish")
        x, y = (a, b) if self.rng.random() < 0.5 else (b, a)
        await vanish(x)
        await wait_ended_any(y, call_id, {"failed"}, VANISH_LIMIT)
        await self.close(a, b)

    async def ep_ice_fail(self, ua, ub):
        """The callee answers with candidates nobody answers on."""
        a, b, call_id, inc = await self.ringing(ua, ub, "ice_fail")
        jsep = await b.answer(inc.jsep)
        await b.drop_media()
        bad = {"type": "answer", "sdp": unreachable(jsep["sdp"])}
        await b.ok({"request": "accept", "call_id": call_id}, "accepted", jsep=bad)
        ev = await a.wait_event("accepted", 5, call_id=call_id)
        await a.apply(ev.jsep)
        await wait_ended_any(a, call_id, {"failed"}, ICE_FAIL_LIMIT)
        await wait_ended_any(b, call_id, {"failed"}, 5)
        await self.close(a, b)

    # ------------------------------------------------------------ group calls

    async def ep_group(self, ua, ub, uc):
        """ua calls ub and uc (voice); ub joins; uc joins, declines, or lets
        it ring out; then one of those in the call may drop its connection
        or vanish; the others leave, the last leave ends the call."""
        peers = {}
        for u, others in ((ua, [ub, uc]), (ub, [ua]), (uc, [ua])):
            dev = await self.device(u, watch=others)
            peers[u] = GroupPeer(dev)
        a, b, c = peers[ua], peers[ub], peers[uc]
        await a.group_call([ub, uc], video=False)
        call_id = a.call_id
        for u in (ua, ub, uc):
            self.user_calls[u].append(call_id)
        outcome = {ua: "answered", ub: "answered"}
        await b.dev.wait_event("incoming_call", 10, call_id=call_id)
        await c.dev.wait_event("incoming_call", 10, call_id=call_id)
        await b.join(call_id, video=False)
        await a.subscribe()
        await b.subscribe()
        in_call = [a, b]
        what = self.rng.choice(["join", "decline", "ring_out"])
        if what == "join":
            await c.join(call_id, video=False)
            await c.subscribe()
            in_call.append(c)
            outcome[uc] = "answered"
        elif what == "decline":
            await c.dev.ok({"request": "decline", "call_id": call_id}, "declined")
            outcome[uc] = "declined"
        else:
            await c.dev.wait_event("ended", RING_TIMEOUT + 4, call_id=call_id)
            outcome[uc] = "missed"
        # real media: everyone in the call hears the others
        for p in in_call:
            for q in in_call:
                if q is not p:
                    await p.wait_from(q.user, audio=10, video=0, timeout=20)
        self.groups.append((call_id, outcome, "group/" + what))
        fault = self.rng.choice([None, "abort", "vanish"])
        gone = None
        if fault is not None:
            gone = self.rng.choice(in_call)
            if gone.sub_task is not None:
                gone.sub_task.cancel()
            await (abort if fault == "abort" else vanish)(gone.dev)
            await calls_client.vanish_pc(gone.subpc.pc, gone.subpc.tasks)
            stay = [p for p in in_call if p is not gone]
            limit = 10 if fault == "abort" else VANISH_LIMIT
            ev = await stay[0].dev.handle.events.take(
                lambda e: e.name == "participant_left" and e.get("user") == gone.user, limit)
            assert ev is not None, "%s: no participant_left for %s (%s) within %ss" % (
                stay[0].label, gone.user, fault, limit)
            in_call = stay
        for p in in_call:
            await p.leave()
        await self.close(a.dev, b.dev, c.dev)
        for p in (a, b, c):
            await p.close()


async def quiet(adm, timeout):
    """Waits until the plugin holds nothing and Janus no session; returns the
    stats and the number of sessions. adm: one Admin API connection for the
    whole test (each new one would stay open in Janus until the test ends)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = await adm.message_plugin({"request": "stats", "admin_key": ADMIN_KEY})
        sessions = await adm.conn.transact({"janus": "list_sessions", "admin_secret": adm.admin_secret})
        held = {k: stats[k] for k in STATS_ZERO if stats.get(k)}
        left = sessions.get("sessions") or []
        if not held and not left:
            return {k: stats[k] for k in STATS_ZERO}, len(left)
        if time.monotonic() > deadline:
            raise AssertionError("after the round: stats %s, Janus sessions %s" % (held, left))
        await asyncio.sleep(0.5)


async def check_history(calls, db, soak):
    # every record written
    await wait_stats(calls, lambda s: s["store_queue"] == 0 and s["spooled"] == 0, "history written", 30)
    ids = [c[0] for c in soak.direct] + [g[0] for g in soak.groups]
    rows = await sql(db, "SELECT call_id, count(*), bool_and(ended_at IS NOT NULL) FROM calls_calls"
                         " WHERE call_id = ANY(string_to_array(:'ids', ',')::uuid[]) GROUP BY call_id",
                     ids=id_list(ids))
    have = {r[0]: r for r in rows}
    wrong = ["%s missing from calls_calls" % i for i in ids if i not in have]
    wrong += ["%s: %s rows, ended %s" % (r[0], r[1], r[2]) for r in rows if r[1] != "1" or r[2] != "t"]
    for call_id, ua, ub, name in soak.direct:
        if call_id not in have:
            continue
        row = await call_row(db, call_id)
        parts, _ = await participant_rows(db, call_id)
        if name == "abort_ringing":
            ok = parts[ub]["outcome"] == "missed" and parts[ua]["outcome"] in (
                "cancelled", "failed", "unavailable", "no_answer")
            if not ok:
                wrong.append("%s %s: outcomes %s/%s, reason %s" % (name, call_id, parts[ua]["outcome"],
                                                                    parts[ub]["outcome"], row["reason"]))
            continue
        want_a, want_b, reasons = DIRECT[name]
        if (parts[ua]["outcome"], parts[ub]["outcome"]) != (want_a, want_b) or row["reason"] not in reasons:
            wrong.append("%s %s: outcomes %s/%s reason %s, expected %s/%s %s" % (
                name, call_id, parts[ua]["outcome"], parts[ub]["outcome"], row["reason"], want_a, want_b,
                sorted(reasons)))
    for call_id, outcome, name in soak.groups:
        parts, _ = await participant_rows(db, call_id)
        have_o = {u: parts[u]["outcome"] for u in outcome if u in parts}
        if have_o != outcome:
            wrong.append("%s %s: outcomes %s, expected %s" % (name, call_id, have_o, outcome))
    n = await sql_value(db, "SELECT count(*) FROM calls_group_segments WHERE left_at IS NULL AND call_id ="
                            " ANY(string_to_array(:'ids', ',')::uuid[])", ids=id_list(ids))
    if n != "0":
        wrong.append("%s group segments still open" % n)
    assert not wrong, "history after the soak:\n" + "\n".join(wrong[:40])
    # and through the plugin: each user's log lists each of its calls once
    for u in soak.users:
        dev = await calls.device(u, device="reader")
        got = [e["call_id"] for e in await full_history(dev, limit=50)]
        dup = sorted({i for i in got if got.count(i) > 1})
        assert not dup, "%s: calls listed twice in history: %s" % (u, dup)
        assert sorted(got) == sorted(soak.user_calls[u]), "%s: history %s, made %s" % (
            u, sorted(got), sorted(soak.user_calls[u]))
        await dev.close()


@pytest.mark.janus("soak")
@pytest.mark.timeout(SECONDS * 1.3 + 300)
async def test_soak_with_faults(calls, db):
    keepalive, calls_client.KEEPALIVE_SECONDS = calls_client.KEEPALIVE_SECONDS, KEEPALIVE
    soak = Soak(calls, SEED)
    adm = await calls.admin()
    print("soak: seed %d, %d s, %d workers, %d users" % (SEED, SECONDS, WORKERS, POOL))
    rss = []
    heap = []       # the allocator's bytes in use (gdb), not under a sanitizer or valgrind
    instrumented = os.environ.get("CALLS_JANUS_PRELOAD") or os.environ.get("CALLS_JANUS_WRAPPER")
    start = time.monotonic()
    rounds = max(2, int(round(SECONDS / ROUND_SECONDS)))
    try:
        for r in range(rounds):
            # New episodes start until the round's share of SECONDS is over;
            # the ones running then finish (up to about a minute).
            await soak.run_round(start + SECONDS * (r + 1) / rounds)
            await soak.close(*list(soak.open))
            zero, sessions = await quiet(adm, VANISH_LIMIT + 10)
            await asyncio.sleep(CALL_INFO_TTL + 1.5)
            rss.append(janus_rss_kb(calls.janus))
            if not instrumented:
                heap.append(janus_heap_kb(calls.janus))
            print("soak: round %d done at %.0f s: %s episodes; stats %s, %d Janus sessions; Janus RSS %d kB,"
                  " heap in use %s kB" % (r + 1, time.monotonic() - start, sum(soak.done.values()), zero, sessions,
                                          rss[-1], heap[-1] if heap else "-"))
    finally:
        calls_client.KEEPALIVE_SECONDS = keepalive
    for name, ts in sorted(soak.seconds.items()):
        print("soak: %-15s %4d episodes, %5.1f s median, %5.1f s longest" % (
            name, len(ts), sorted(ts)[len(ts) // 2], max(ts)))
    print("soak: Janus RSS after each round (kB): %s" % rss)
    assert not soak.failures, "%d episodes failed (seed %d):\n%s" % (
        len(soak.failures), SEED, "\n".join(soak.failures[:10]))
    assert set(soak.done) >= set(SCENARIOS) - {"ice_fail", "vanish", "no_answer", "abort_ringing"} or \
        SECONDS < 60, "scenarios never run: %s" % (set(SCENARIOS) - set(soak.done))
    await check_history(calls, db, soak)
    print("soak: %d direct and %d group calls, each once in SQL and in history" % (
        len(soak.direct), len(soak.groups)))
    # Flat: what Janus's allocator has handed out and not got back (RSS also
    # holds freed memory the allocator keeps, and grows with fragmentation).
    print("soak: Janus heap in use after each round (kB): %s" % heap)
    if instrumented:
        return
    if None in heap:
        print("soak: Janus's heap could not be read (gdb, malloc_stats): checking its RSS instead")
        assert rss[-1] - rss[0] <= RSS_SLACK_KB, "Janus RSS grew %d kB after the first round: %s" % (
            rss[-1] - rss[0], rss)
        return
    growth = heap[-1] - heap[0]
    assert growth <= HEAP_SLACK_KB, "Janus's heap in use grew %d kB after the first round: %s" % (growth, heap)


@pytest.mark.janus("soak")
@pytest.mark.timeout(180)
async def test_sigkill_mid_calls_closed_once(calls, db):
    """Janus killed (SIGKILL) during two answered calls with media, a ringing
    call and a group call with a member still ringing; after the restart every
    one of them is in SQL once, closed as server_shutdown, with the outcomes
    of a call the server ended, and the restarted Janus serves calls again."""
    u = {k: calls.uid(k) for k in ("a1", "b1", "a2", "b2", "a3", "b3", "g1", "g2", "g3", "g4")}
    direct = []
    for x, y in (("a1", "b1"), ("a2", "b2")):
        a = await calls.device(u[x])
        b = await calls.device(u[y])
        call_id, inc = await ring(a, [b])
        await answer(a, b, inc[b])
        await a.media.wait_frames(audio=10, timeout=20)
        direct.append((call_id, u[x], u[y], ("answered", "answered")))
    a3 = await calls.device(u["a3"])
    b3 = await calls.device(u["b3"])
    ringing_id, _ = await ring(a3, [b3])
    direct.append((ringing_id, u["a3"], u["b3"], ("failed", "missed")))
    g = {k: GroupPeer(await calls.device(u[k])) for k in ("g1", "g2", "g3", "g4")}
    await g["g1"].group_call([u["g2"], u["g3"], u["g4"]], video=False)
    group_id = g["g1"].call_id
    for k in ("g2", "g3"):
        await g[k].dev.wait_event("incoming_call", 10, call_id=group_id)
        await g[k].join(group_id, video=False)
    for k in ("g1", "g2", "g3"):
        await g[k].subscribe()
    await g["g1"].wait_from(u["g2"], audio=10, video=0, timeout=20)
    ids = [d[0] for d in direct] + [group_id]
    await wait_stats(calls, lambda s: s["store_queue"] == 0 and s["spooled"] == 0 and s["active_calls"] == 4,
                     "four calls on, every write done", 20)

    calls.janus.kill()
    for p in g.values():
        p.dev.conn.abort()
        await p.close()
    for d in calls.closables:
        if isinstance(d, calls_client.Device):
            d.conn.abort()
    calls.janus.start()
    await wait_stats(calls, lambda s: s["store_queue"] == 0 and s["spooled"] == 0 and s["devices"] == 0,
                     "a fresh Janus, nothing to write", 30)

    rows = await sql(db, "SELECT call_id, count(*), bool_and(ended_at IS NOT NULL), min(reason) FROM calls_calls"
                         " WHERE call_id = ANY(string_to_array(:'ids', ',')::uuid[]) GROUP BY call_id",
                     ids=id_list(ids))
    assert sorted(r[0] for r in rows) == sorted(ids), "calls in SQL: %s, made %s" % (rows, ids)
    assert all(r[1] == "1" and r[2] == "t" and r[3] == "server_shutdown" for r in rows), rows
    for call_id, ua, ub, want in direct:
        parts, _ = await participant_rows(db, call_id)
        assert (parts[ua]["outcome"], parts[ub]["outcome"]) == want, (call_id, parts)
    parts, _ = await participant_rows(db, group_id)
    have = {k: parts[u[k]]["outcome"] for k in ("g1", "g2", "g3", "g4")}
    assert have == {"g1": "answered", "g2": "answered", "g3": "answered", "g4": "missed"}, have
    n = await sql_value(db, "SELECT count(*) FROM calls_group_segments WHERE call_id = :'id'"
                            " AND left_at IS NULL", id=group_id)
    assert n == "0", "%s group segments still open after the restart" % n

    # Each user's history lists the call once; the restarted Janus makes calls.
    for call_id, ua, ub, _ in direct:
        for user in (ua, ub):
            dev = await calls.device(user, device="after")
            got = [e["call_id"] for e in await full_history(dev)]
            assert got == [call_id], "%s: history %s, expected [%s]" % (user, got, call_id)
            await dev.close()
    dev = await calls.device(u["g4"], device="after")
    assert [e["call_id"] for e in await full_history(dev)] == [group_id]
    a = await calls.device(u["a1"], device="again")
    b = await calls.device(u["b1"], device="again")
    call_id, inc = await ring(a, [b])
    await answer(a, b, inc[b])
    for x in (a, b):
        await x.media.wait_frames(audio=10, timeout=20)
    await hang_up(a, call_id)
    await b.wait_event("ended", 5, call_id=call_id)

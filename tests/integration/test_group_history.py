"""Call history of group calls: calls_put_call / calls_put_calls with group
documents, calls_group_segments, the calls_log and calls_cdr views, and the
history request, missed_calls and the missed filter of each user.

The documents are written straight into the session's PostgreSQL, as the
plugin would write them (the start, every join and leave, the end), replayed
and duplicated as its spool may, so that these tests do not depend on the
group call signalling. Every user then reads its log through the plugin.
"""

import asyncio
import datetime
import json
import time
import uuid

import pytest

pytestmark = pytest.mark.janus("history")

BOOT = "00000000-0000-4000-8000-00000000a001"


# ------------------------------------------------------------ SQL

async def sql(db, query, **params):
    """Rows of one statement (lists of strings, None for NULL); :'name' is a parameter."""
    return await asyncio.to_thread(db.query, query, params)


async def put(db, doc):
    """One document through calls_put_call(), as the plugin's single records."""
    await sql(db, "SELECT calls_put_call(:'doc'::jsonb)", doc=json.dumps(doc))


async def put_batch(db, docs):
    """Several through calls_put_calls(), as the plugin's batches."""
    await sql(db, "SELECT calls_put_calls(:'docs'::jsonb)", docs=json.dumps(docs))


async def store_up(calls, timeout=20):
    """Waits until the plugin has migrated the schema and serves reads: a
    test may be the first to use this Janus, and it writes behind its back."""
    dev = await calls.device(calls.uid("probe"))
    deadline = time.monotonic() + timeout
    while True:
        reply = await dev.request({"request": "history", "limit": 1})
        if reply.name == "history":
            return
        assert reply.error_code == 503 and time.monotonic() < deadline, \
            "history while the plugin connects to the database: %r" % reply
        await asyncio.sleep(0.2)


# ------------------------------------------------------------ times

class Clock:
    """Times of one call: whole seconds after a start with microseconds, so
    that the milliseconds the API shows are a truncation to check."""

    def __init__(self, ago, after=None):
        if after is not None:
            self.t0 = after.t0 + datetime.timedelta(seconds=ago)
            return
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        self.t0 = now - datetime.timedelta(seconds=ago) + datetime.timedelta(microseconds=123456)

    def us(self, s):
        """RFC 3339 with microseconds, as the plugin writes."""
        return (self.t0 + datetime.timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def ms(self, s):
        """RFC 3339 with milliseconds, as the API and calls_ts() show."""
        t = self.t0 + datetime.timedelta(seconds=s)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def doc_of(call_id, clock, caller, media="video", title="", node="itest-group-sql", **fields):
    d = {"call_id": call_id, "kind": "group", "media": media, "caller": caller["user"],
         "caller_device": caller["device"], "title": title, "started_at": clock.us(0),
         "node": node, "boot": BOOT}
    d.update(fields)
    return d


def part(user, clock, role="member", invited=0, joined=None, left=None, outcome=None, device=None):
    p = {"user": user, "role": role, "invited_at": clock.us(invited)}
    if joined is not None:
        p["answered_at"] = clock.us(joined)
        p["device"] = device
    if left is not None:
        p["left_at"] = clock.us(left)
    if outcome is not None:
        p["outcome"] = outcome
    return p


def seg(user, device, clock, joined, left=None):
    s = {"user": user, "device": device, "joined_at": clock.us(joined)}
    if left is not None:
        s["left_at"] = clock.us(left)
    return s


# ------------------------------------------------------------ the API

async def history(dev, **fields):
    body = {"request": "history"}
    body.update(fields)
    reply = await dev.ok(body, "history")
    assert isinstance(reply.data.get("entries"), list), reply
    return reply.data


def check_group_entry(e, call_id, clock, title, media, direction, outcome, ended, participants,
                      answered=None, duration=0):
    """Every field of one user's entry of a group call: exactly these keys."""
    want = {"call_id": call_id, "kind": "group", "media": media, "direction": direction,
            "title": title, "started_at": clock.ms(0), "ended_at": clock.ms(ended),
            "duration": duration, "outcome": outcome, "participants": participants}
    if answered is not None:
        want["answered_at"] = clock.ms(answered)
    assert e == want, "group entry:\n got  %s\n want %s" % (e, want)


def who(user, clock, outcome, joined=None, left=None):
    p = {"user": user, "outcome": outcome}
    if joined is not None:
        p["joined_at"] = clock.ms(joined)
    if left is not None:
        p["left_at"] = clock.ms(left)
    return p


# ------------------------------------------------------------ the scenario

async def test_group_calls_history(calls, db):
    """Call 1 ("Team standup", video): the caller; bob joins, leaves, rejoins on
    another device (two segments); carol declines; dave misses it; ann is
    invited half a minute in, joins and leaves. Call 2 (no title, audio):
    nobody joins, the caller gives up; carol and dave miss it."""
    await store_up(calls)
    u = {n: calls.uid(n) for n in ("alice", "bob", "carol", "dave", "ann")}
    A, B, C, D, N = (u[n] for n in ("alice", "bob", "carol", "dave", "ann"))
    # ann sorts before the others by id but was invited last: the list is
    # in invitation order, not id order.
    assert N < B < C < D
    caller = {"user": A, "device": "a1"}

    # -- call 1, written as the plugin would, with replays
    c1, k1 = str(uuid.uuid4()), Clock(600)
    invited = [part(D, k1), part(C, k1), part(B, k1)]    # not in id order on purpose
    start = doc_of(c1, k1, caller, title="Team standup",
                   participants=[part(A, k1, "caller", joined=0, device="a1")] + invited,
                   segments=[seg(A, "a1", k1, 0)])
    bob_in = doc_of(c1, k1, caller, title="Team standup", answered_at=k1.us(5),
                    participants=[part(A, k1, "caller", joined=0, device="a1"),
                                  part(D, k1), part(C, k1), part(B, k1, joined=5, device="b1")],
                    segments=[seg(A, "a1", k1, 0), seg(B, "b1", k1, 5)])
    ann_invited_bob_out = doc_of(
        c1, k1, caller, title="Team standup", answered_at=k1.us(5),
        participants=bob_in["participants"] + [part(N, k1, invited=30)],
        segments=[seg(A, "a1", k1, 0), seg(B, "b1", k1, 5, 35)])
    ann_in_bob_back = doc_of(
        c1, k1, caller, title="Team standup", answered_at=k1.us(5),
        participants=bob_in["participants"] + [part(N, k1, invited=30, joined=40, device="n1")],
        segments=[seg(A, "a1", k1, 0), seg(B, "b1", k1, 5, 35), seg(N, "n1", k1, 40),
                  seg(B, "b2", k1, 60)])
    final = doc_of(
        c1, k1, caller, title="Team standup", answered_at=k1.us(5), ended_at=k1.us(120),
        reason="left",
        participants=[part(A, k1, "caller", joined=0, left=120, outcome="answered", device="a1"),
                      part(D, k1, outcome="missed"), part(C, k1, outcome="declined"),
                      part(B, k1, joined=5, left=110, outcome="answered", device="b1"),
                      part(N, k1, invited=30, joined=40, left=70, outcome="answered", device="n1")],
        segments=[seg(A, "a1", k1, 0, 120), seg(B, "b1", k1, 5, 35), seg(N, "n1", k1, 40, 70),
                  seg(B, "b2", k1, 60, 110)])

    await put(db, start)
    await put(db, bob_in)
    # a call still on is in nobody's log yet
    rows = await sql(db, "SELECT count(*) FROM calls_log WHERE call_id = :'id'", id=c1)
    assert rows == [["0"]], "a group call still on is in calls_log: %s" % rows
    await put_batch(db, [ann_invited_bob_out, ann_in_bob_back, final])
    # replays: the spool after an outage, a batch whose answer was lost
    await put(db, bob_in)
    await put(db, final)
    await put_batch(db, [start, final])
    await put(db, dict(start, title="Renamed later", caller_device="zz"))

    # -- call 2: the caller alone, then gives up
    c2, k2 = str(uuid.uuid4()), Clock(300)
    caller2 = {"user": A, "device": "a2"}
    await put(db, doc_of(c2, k2, caller2, media="audio",
                         participants=[part(A, k2, "caller", joined=0, device="a2"),
                                       part(C, k2), part(D, k2)],
                         segments=[seg(A, "a2", k2, 0)]))
    end2 = doc_of(c2, k2, caller2, media="audio", ended_at=k2.us(20), reason="left",
                  participants=[part(A, k2, "caller", joined=0, left=20, outcome="cancelled",
                                     device="a2"),
                                part(C, k2, outcome="missed"), part(D, k2, outcome="missed")],
                  segments=[seg(A, "a2", k2, 0, 20)])
    await put(db, end2)
    await put(db, end2)

    # -- the rows themselves
    rows = await sql(db, "SELECT kind, media, caller, caller_device, callee, title, calls_ts(answered_at),"
                         " calls_ts(ended_at), reason FROM calls_calls WHERE call_id = :'id'", id=c1)
    assert rows == [["group", "video", A, "a1", None, "Team standup", k1.ms(5), k1.ms(120), "left"]], rows
    rows = await sql(db, "SELECT user_id, role, calls_ts(invited_at), calls_ts(answered_at),"
                         " calls_ts(left_at), outcome, device_id FROM calls_participants"
                         " WHERE call_id = :'id' ORDER BY user_id", id=c1)
    assert rows == sorted([
        [A, "caller", k1.ms(0), k1.ms(0), k1.ms(120), "answered", "a1"],
        [B, "member", k1.ms(0), k1.ms(5), k1.ms(110), "answered", "b1"],
        [C, "member", k1.ms(0), None, None, "declined", None],
        [D, "member", k1.ms(0), None, None, "missed", None],
        [N, "member", k1.ms(30), k1.ms(40), k1.ms(70), "answered", "n1"]]), rows
    # segments keep their microseconds: they are the key
    rows = await sql(db, "SELECT call_id, user_id, device_id,"
                         " to_char(joined_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
                         " to_char(left_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
                         " FROM calls_group_segments WHERE call_id IN (:'a', :'b')"
                         " ORDER BY call_id = :'a' DESC, user_id, joined_at", a=c1, b=c2)
    assert rows == [
        [c1, A, "a1", k1.us(0), k1.us(120)],
        [c1, N, "n1", k1.us(40), k1.us(70)],
        [c1, B, "b1", k1.us(5), k1.us(35)],
        [c1, B, "b2", k1.us(60), k1.us(110)],
        [c2, A, "a2", k2.us(0), k2.us(20)]], "calls_group_segments: %s" % rows

    # calls_cdr: one row per member, from its invitation
    rows = await sql(db, "SELECT dst, src, dcontext, to_char(calldate AT TIME ZONE 'UTC', 'HH24:MI:SS.US'),"
                         " duration, billsec, disposition, uniqueid, linkedid, channel, dstchannel, userfield"
                         " FROM calls_cdr WHERE linkedid = :'id' ORDER BY dst", id=c1)
    hms = lambda k, s: (k.t0 + datetime.timedelta(seconds=s)).strftime("%H:%M:%S.%f")  # noqa: E731
    assert rows == sorted([
        [B, A, "group", hms(k1, 0), "110", "80", "ANSWERED", c1 + "/" + B, c1,
         "WebRTC/%s-a1" % A, "WebRTC/%s-b1" % B, "Team standup"],
        [C, A, "group", hms(k1, 0), "120", "0", "NO ANSWER", c1 + "/" + C, c1,
         "WebRTC/%s-a1" % A, "WebRTC/%s" % C, "Team standup"],
        [D, A, "group", hms(k1, 0), "120", "0", "NO ANSWER", c1 + "/" + D, c1,
         "WebRTC/%s-a1" % A, "WebRTC/%s" % D, "Team standup"],
        [N, A, "group", hms(k1, 30), "40", "30", "ANSWERED", c1 + "/" + N, c1,
         "WebRTC/%s-a1" % A, "WebRTC/%s-n1" % N, "Team standup"]]), "calls_cdr: %s" % rows
    rows = await sql(db, "SELECT dst, disposition, billsec, userfield FROM calls_cdr"
                         " WHERE linkedid = :'id' ORDER BY dst", id=c2)
    assert rows == [[C, "NO ANSWER", "0", ""], [D, "NO ANSWER", "0", ""]], rows

    # -- each user's history, through the plugin
    p1 = [who(A, k1, "answered", 0, 120), who(B, k1, "answered", 5, 110), who(C, k1, "declined"),
          who(D, k1, "missed"), who(N, k1, "answered", 40, 70)]
    p2 = [who(A, k2, "cancelled", 0, 20), who(C, k2, "missed"), who(D, k2, "missed")]

    devs = {}
    for n in ("alice", "bob", "carol", "dave", "ann"):
        devs[n] = await calls.device(u[n], display=n.capitalize())
    missed = {n: devs[n].registered.get("missed_calls") for n in devs}
    assert missed == {"alice": 0, "bob": 0, "carol": 1, "dave": 2, "ann": 0}, \
        "missed_calls at register: %s" % missed

    a = (await history(devs["alice"]))["entries"]
    assert [e["call_id"] for e in a] == [c2, c1], a
    check_group_entry(a[0], c2, k2, "", "audio", "outgoing", "cancelled", 20, p2)
    check_group_entry(a[1], c1, k1, "Team standup", "video", "outgoing", "answered", 120, p1,
                      answered=0, duration=120)

    b = (await history(devs["bob"]))["entries"]
    assert [e["call_id"] for e in b] == [c1], b
    # in the call 5..35 and 60..110: 80 s, not the 105 s from first join to last leave
    check_group_entry(b[0], c1, k1, "Team standup", "video", "incoming", "answered", 110, p1,
                      answered=5, duration=80)

    c = (await history(devs["carol"]))["entries"]
    assert [e["call_id"] for e in c] == [c2, c1], c
    check_group_entry(c[0], c2, k2, "", "audio", "incoming", "missed", 20, p2)
    check_group_entry(c[1], c1, k1, "Team standup", "video", "incoming", "declined", 120, p1)

    d = (await history(devs["dave"]))["entries"]
    check_group_entry(d[0], c2, k2, "", "audio", "incoming", "missed", 20, p2)
    check_group_entry(d[1], c1, k1, "Team standup", "video", "incoming", "missed", 120, p1)

    n = (await history(devs["ann"]))["entries"]
    assert [e["call_id"] for e in n] == [c1], n
    check_group_entry(n[0], c1, k1, "Team standup", "video", "incoming", "answered", 70, p1,
                      answered=40, duration=30)

    # the missed filter, and pages of group entries
    got = {k: [e["call_id"] for e in (await history(devs[k], filter="missed"))["entries"]]
           for k in devs}
    assert got == {"alice": [], "bob": [], "carol": [c2], "dave": [c2, c1], "ann": []}, got
    page = await history(devs["dave"], filter="missed", limit=1)
    assert [e["call_id"] for e in page["entries"]] == [c2] and page.get("next"), page
    page = await history(devs["dave"], filter="missed", limit=1, before=page["next"])
    assert [e["call_id"] for e in page["entries"]] == [c1] and "next" not in page, page
    check_group_entry(page["entries"][0], c1, k1, "Team standup", "video", "incoming", "missed",
                      120, p1)

    # history_seen clears group missed calls like any other
    await devs["dave"].ok({"request": "history_seen"}, "history_seen")
    again = await calls.device(D, device="d2")
    assert again.registered.get("missed_calls") == 0, again.registered

    # history_delete is per user: carol's delete leaves her in the others' lists
    reply = await devs["carol"].ok({"request": "history_delete", "call_ids": [c1]}, "history_deleted")
    assert reply.data.get("count") == 1, reply
    assert [e["call_id"] for e in (await history(devs["carol"]))["entries"]] == [c2]
    b = (await history(devs["bob"]))["entries"]
    assert b[0]["participants"] == p1, b


async def test_group_call_left_open_by_a_crash(calls, db):
    """A group call its Janus never finished writing: the next start of that
    node closes it (calls_close_orphans): open segments end with the call,
    the outcomes are those of the people who had joined, and a caller left
    alone gets `failed`."""
    await store_up(calls)
    u = {n: calls.uid(n) for n in ("alice", "bob", "carol", "dave")}
    A, B, C, D = (u[n] for n in ("alice", "bob", "carol", "dave"))
    node = "itest-crashed-" + calls.tag
    old_boot, new_boot = str(uuid.uuid4()), str(uuid.uuid4())
    k = Clock(900)
    # the crashed run was last alive 100 s into the call
    await sql(db, "INSERT INTO calls_nodes (node, boot, started_at, alive_at)"
                  " VALUES (:'n', :'b', :'t0'::timestamptz - interval '1 hour', :'alive')",
              n=node, b=old_boot, t0=k.us(0), alive=k.us(100))
    c1 = str(uuid.uuid4())
    await put(db, doc_of(c1, k, {"user": A, "device": "a1"}, title="Crash", node=node, boot=old_boot,
                         answered_at=k.us(10),
                         participants=[part(A, k, "caller", joined=0, device="a1"),
                                       part(B, k, joined=10, device="b1"),
                                       part(C, k, joined=20, device="c1"), part(D, k)],
                         segments=[seg(A, "a1", k, 0), seg(B, "b1", k, 10),
                                   seg(C, "c1", k, 20, 30)]))
    c2 = str(uuid.uuid4())
    k2 = Clock(50, after=k)           # started before that heartbeat: ends at it, 50 s in
    await put(db, doc_of(c2, k2, {"user": A, "device": "a1"}, title="Alone", node=node, boot=old_boot,
                         participants=[part(A, k2, "caller", joined=0, device="a1"), part(B, k2)],
                         segments=[seg(A, "a1", k2, 0)]))

    rows = await sql(db, "SELECT calls_close_orphans(:'n', :'b')", n=node, b=new_boot)
    assert rows == [["2"]], rows

    rows = await sql(db, "SELECT user_id, outcome, calls_ts(left_at) FROM calls_participants"
                         " WHERE call_id = :'id' ORDER BY user_id", id=c1)
    assert rows == sorted([[A, "answered", k.ms(100)], [B, "answered", k.ms(100)],
                           [C, "answered", k.ms(30)], [D, "missed", None]]), rows
    rows = await sql(db, "SELECT user_id, calls_ts(joined_at), calls_ts(left_at) FROM calls_group_segments"
                         " WHERE call_id = :'id' ORDER BY user_id", id=c1)
    assert rows == sorted([[A, k.ms(0), k.ms(100)], [B, k.ms(10), k.ms(100)],
                           [C, k.ms(20), k.ms(30)]]), rows
    rows = await sql(db, "SELECT user_id, outcome FROM calls_participants WHERE call_id = :'id'"
                         " ORDER BY user_id", id=c2)
    assert rows == sorted([[A, "failed"], [B, "missed"]]), rows

    # the second start of the same run closes nothing more
    rows = await sql(db, "SELECT calls_close_orphans(:'n', :'b')", n=node, b=new_boot)
    assert rows == [["0"]], rows

    dev = await calls.device(B)
    assert dev.registered.get("missed_calls") == 1, dev.registered
    entries = (await history(dev))["entries"]
    assert [e["call_id"] for e in entries] == [c2, c1], entries
    assert entries[0]["outcome"] == "missed" and entries[0]["title"] == "Alone", entries
    check_group_entry(entries[1], c1, k, "Crash", "video", "incoming", "answered", 100,
                      [who(A, k, "answered", 0, 100), who(B, k, "answered", 10, 100),
                       who(C, k, "answered", 20, 30), who(D, k, "missed")],
                      answered=10, duration=90)
    dev = await calls.device(A)
    entries = (await history(dev))["entries"]
    assert [e["call_id"] for e in entries] == [c2, c1], entries
    check_group_entry(entries[0], c2, k2, "Alone", "video", "outgoing", "failed", 50,
                      [who(A, k2, "failed", 0, 50), who(B, k2, "missed")])


async def test_group_call_through_the_plugin_lands_in_history(calls, db):
    """A real group call: Bob joins, leaves and joins again, Carol declines,
    Dave never answers. Each user's history and the segments in SQL say so."""
    from group_peer import participant
    await store_up(calls)
    a = await participant(calls, calls.uid("alice"), display="Alice")
    b = await participant(calls, calls.uid("bob"), display="Bob")
    c = await participant(calls, calls.uid("carol"))
    dave = calls.uid("dave")
    await a.group_call([b.user, c.user, dave], video=False, title="Sync")
    call_id = a.call_id
    await b.dev.wait_event("incoming_call", call_id=call_id)
    await c.dev.wait_event("incoming_call", call_id=call_id)
    await c.dev.ok({"request": "decline", "call_id": call_id}, "declined")
    await b.join(call_id=call_id, video=False)
    await asyncio.sleep(1.1)
    await b.leave()
    await b.join(call_id=call_id, video=False)
    await asyncio.sleep(1.1)
    await b.leave()
    await a.leave()
    deadline = time.monotonic() + 15
    while True:
        rows = await sql(db, "SELECT user_id, device_id, left_at IS NOT NULL FROM calls_group_segments "
                             "WHERE call_id = :'id' ORDER BY joined_at", id=call_id)
        ended = await sql(db, "SELECT ended_at IS NOT NULL FROM calls_calls WHERE call_id = :'id'", id=call_id)
        if ended == [["t"]] and len(rows) == 3 and all(r[2] == "t" for r in rows):
            break
        assert time.monotonic() < deadline, (rows, ended)
        await asyncio.sleep(0.3)
    assert [r[0] for r in rows] == [a.user, b.user, b.user], rows
    want = {a.user: ("outgoing", "answered"), b.user: ("incoming", "answered"),
            c.user: ("incoming", "declined")}
    for peer in (a, b, c):
        page = await history(peer.dev)
        e = next(x for x in page["entries"] if x["call_id"] == call_id)
        assert e["kind"] == "group" and e["title"] == "Sync" and e["media"] == "audio", e
        assert (e["direction"], e["outcome"]) == want[peer.user], e
        outcomes = {p["user"]: p["outcome"] for p in e["participants"]}
        assert outcomes == {a.user: "answered", b.user: "answered", c.user: "declined", dave: "missed"}, e
        joined = {p["user"] for p in e["participants"] if "joined_at" in p}
        assert joined == {a.user, b.user}, e
    # Dave was never online: his missed call waits for him.
    d = await calls.device(dave)
    assert d.registered["missed_calls"] >= 1, d.registered
    missed = await history(d, filter="missed")
    assert [x["call_id"] for x in missed["entries"]] == [call_id], missed

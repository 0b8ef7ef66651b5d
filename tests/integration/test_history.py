"""Call history in PostgreSQL: history, history_delete, history_seen, missed_calls,
and calls written exactly once through database outages and a Janus crash.

Every check reads the rows themselves (calls_calls, calls_participants and the
calls_log / calls_cdr views, through psql), not only the plugin's replies.
The Janus of these tests writes to the session's private PostgreSQL (the `pg`
and `db` fixtures of conftest.py) with database.timeout_ms = DB_TIMEOUT_MS.
"""

import asyncio
import os
import datetime
import re
import time
import uuid

import pytest

from conftest import ADMIN_KEY, DB_TIMEOUT_MS
from flows import answer, check_incoming, hang_up, ring, wait_ended, UUID_RE

pytestmark = pytest.mark.janus("history")

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
OUTCOMES = {"answered", "missed", "declined", "cancelled", "no_answer", "busy", "unavailable",
            "failed"}
# How long rows may take to reach PostgreSQL once a call has ended (the
# plugin writes from a thread of its own, in batches).
WRITE_TIMEOUT = 15
# How long the plugin may take to find PostgreSQL back and replay its spool.
RECOVERY_TIMEOUT = 45
DB_TIMEOUT = DB_TIMEOUT_MS / 1000.0


# ------------------------------------------------------------ SQL

async def sql(db, query, **params):
    """Rows of one statement (lists of strings, None for NULL); :'name' is a parameter."""
    return await asyncio.to_thread(db.query, query, params)


async def sql_value(db, query, **params):
    rows = await sql(db, query, **params)
    return rows[0][0] if rows and rows[0] else None


def id_list(ids):
    return ",".join(ids)


async def wait_sql(db, query, pred, what, timeout=WRITE_TIMEOUT, **params):
    """Polls a query until pred(rows) holds; fails with the last rows."""
    deadline = time.monotonic() + timeout
    rows = None
    while True:
        rows = await sql(db, query, **params)
        if pred(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError("database: %s not seen within %ss; last rows: %s"
                                 % (what, timeout, rows))
        await asyncio.sleep(0.2)


async def wait_written(db, call_ids, users=2, timeout=WRITE_TIMEOUT):
    """Waits until each call has ended in calls_calls and has an outcome for
    `users` users in calls_participants."""
    if isinstance(call_ids, str):
        call_ids = [call_ids]
    want = len(call_ids)
    await wait_sql(
        db, "SELECT (SELECT count(*) FROM calls_calls WHERE call_id = ANY(string_to_array(:'ids', ',')::uuid[])"
            " AND ended_at IS NOT NULL),"
            " (SELECT count(*) FROM calls_participants WHERE call_id = ANY(string_to_array(:'ids', ',')::uuid[])"
            " AND outcome IS NOT NULL)",
        lambda rows: rows == [[str(want), str(want * users)]],
        "%d ended call(s) with %d outcome(s) each (%s)" % (want, users, call_ids[:3]),
        timeout=timeout, ids=id_list(call_ids))


async def call_row(db, call_id):
    rows = await sql(db, "SELECT kind, media, caller, callee, calls_ts(started_at), calls_ts(answered_at),"
                         " calls_ts(ended_at), reason, node FROM calls_calls WHERE call_id = :'id'",
                     id=call_id)
    assert len(rows) == 1, "calls_calls rows for %s: %s" % (call_id, rows)
    return dict(zip(("kind", "media", "caller", "callee", "started_at", "answered_at", "ended_at",
                     "reason", "node"), rows[0]))


async def participant_rows(db, call_id):
    rows = await sql(db, "SELECT user_id, role, outcome, calls_ts(answered_at), seen, deleted"
                         " FROM calls_participants WHERE call_id = :'id' ORDER BY role, user_id",
                     id=call_id)
    return {r[0]: dict(zip(("role", "outcome", "answered_at", "seen", "deleted"), r[1:]))
            for r in rows}, len(rows)


async def log_rows(db, call_id):
    rows = await sql(db, "SELECT user_id, kind, media, direction, peer, calls_ts(started_at),"
                         " calls_ts(answered_at), calls_ts(ended_at), duration, outcome"
                         " FROM calls_log WHERE call_id = :'id'", id=call_id)
    keys = ("kind", "media", "direction", "peer", "started_at", "answered_at", "ended_at",
            "duration", "outcome")
    return {r[0]: dict(zip(keys, r[1:])) for r in rows}, len(rows)


async def cdr_rows(db, call_id):
    return await sql(db, "SELECT src, dst, disposition, billsec, duration, uniqueid, dcontext"
                         " FROM calls_cdr WHERE linkedid = :'id'", id=call_id)


# ------------------------------------------------------------ the API

async def history(dev, expect_code=None, timeout=10, **fields):
    """A history request: its reply data, checked for shape; or, with
    expect_code, the error reply."""
    body = {"request": "history"}
    body.update(fields)
    if expect_code is not None:
        return await dev.err(body, expect_code, timeout=timeout)
    reply = await dev.ok(body, "history", timeout=timeout)
    data = reply.data
    assert isinstance(data.get("entries"), list), "history without an entries list: %r" % reply
    if "next" in data:
        assert isinstance(data["next"], str) and data["next"], "history next not a cursor: %r" % reply
    for e in data["entries"]:
        check_entry_shape(e)
    return data


async def full_history(dev, limit=100, **fields):
    """Every entry of the user's log, page after page."""
    out = []
    cursor = None
    for _ in range(100):
        kw = dict(fields, limit=limit)
        if cursor:
            kw["before"] = cursor
        data = await history(dev, **kw)
        out.extend(data["entries"])
        cursor = data.get("next")
        if not cursor:
            return out
    raise AssertionError("history: more than 100 pages")


def parse_ts(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def check_entry_shape(e):
    assert isinstance(e, dict), e
    assert isinstance(e.get("call_id"), str) and UUID_RE.match(e["call_id"]), "entry call_id: %r" % e
    assert e.get("kind") in ("direct", "group"), "entry kind: %r" % e
    assert e.get("media") in ("audio", "video"), "entry media: %r" % e
    assert e.get("direction") in ("incoming", "outgoing"), "entry direction: %r" % e
    assert e.get("outcome") in OUTCOMES, "entry outcome: %r" % e
    if e["kind"] == "direct":
        assert isinstance(e.get("peer"), str) and e["peer"], "direct entry without peer: %r" % e
    for k in ("started_at", "ended_at"):
        assert isinstance(e.get(k), str) and RFC3339_MS.match(e[k]), \
            "entry %s is not RFC 3339 UTC with milliseconds: %r" % (k, e)
    d = e.get("duration")
    assert isinstance(d, int) and not isinstance(d, bool) and d >= 0, "entry duration: %r" % e
    started, ended = parse_ts(e["started_at"]), parse_ts(e["ended_at"])
    assert started <= ended, "entry ends before it starts: %r" % e
    if e.get("answered_at") is not None:
        assert isinstance(e["answered_at"], str) and RFC3339_MS.match(e["answered_at"]), \
            "entry answered_at is not RFC 3339 UTC with milliseconds: %r" % e
        answered = parse_ts(e["answered_at"])
        assert started <= answered <= ended, "entry times out of order: %r" % e
        span = (ended - answered).total_seconds()
        assert abs(d - span) <= 1, "entry duration %s is not answered_at..ended_at (%.3fs): %r" % (
            d, span, e)
    else:
        assert d == 0, "entry never answered with duration %s: %r" % (d, e)


def check_entry(e, call_id, direction, peer, outcome, media="audio", display=None,
                answered=False, duration=None):
    """One user's entry of a direct call; display=None: the peer never registered."""
    assert e["call_id"] == call_id, "entry of another call: %r (want %s)" % (e, call_id)
    assert e["kind"] == "direct", e
    assert e["media"] == media, "entry media %r, expected %r: %r" % (e["media"], media, e)
    assert e["direction"] == direction, "entry direction %r, expected %r: %r" % (
        e["direction"], direction, e)
    assert e["peer"] == peer, "entry peer %r, expected %r: %r" % (e["peer"], peer, e)
    assert e["outcome"] == outcome, "entry outcome %r, expected %r: %r" % (e["outcome"], outcome, e)
    if display is None:
        assert "display" not in e, "display of a peer that never registered must be absent: %r" % e
    else:
        assert e.get("display") == display, "entry display %r, expected %r: %r" % (
            e.get("display"), display, e)
    if answered:
        assert e.get("answered_at") is not None, "answered entry without answered_at: %r" % e
    else:
        assert e.get("answered_at") is None, "unanswered entry with answered_at: %r" % e
        assert e["duration"] == 0, e
    if duration is not None:
        assert abs(e["duration"] - duration) <= 1, "entry duration %s, the ended event said %s: %r" % (
            e["duration"], duration, e)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - parse_ts(e["started_at"])).total_seconds()) < 300, \
        "entry started_at far from now: %r" % e


def entry_matches_log(e, row):
    """The API entry and the calls_log row of the same user agree."""
    for k in ("started_at", "ended_at", "direction", "peer", "outcome", "media", "kind"):
        assert e.get(k) == row[k], "history %s %r but calls_log says %r: %r / %r" % (
            k, e.get(k), row[k], e, row)
    assert e.get("answered_at") == row["answered_at"], (e, row)
    assert str(e["duration"]) == row["duration"], "history duration %s, calls_log %s: %r" % (
        e["duration"], row["duration"], e)


async def stats(calls, adm=None):
    adm = adm or await calls.admin()
    resp = await adm.message_plugin({"request": "stats", "admin_key": ADMIN_KEY})
    assert isinstance(resp, dict) and resp.get("calls") == "stats", resp
    for k in ("store_queue", "spooled"):
        assert isinstance(resp.get(k), int) and not isinstance(resp.get(k), bool), \
            "stats.%s is not a number: %s" % (k, resp)
    return resp


async def wait_stats(calls, pred, what, timeout):
    adm = await calls.admin()
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = await stats(calls, adm)
            if pred(last):
                return last
        except Exception as e:          # noqa: BLE001 - the admin socket of a restarted Janus
            last = repr(e)
            adm = await calls.admin()
        if time.monotonic() > deadline:
            raise AssertionError("admin stats: %s not seen within %ss; last: %s" % (what, timeout, last))
        await asyncio.sleep(0.25)


async def wait_readable(dev, timeout=RECOVERY_TIMEOUT):
    """Polls history until the plugin reads the database again (not 503)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = await dev.request({"request": "history", "limit": 1}, timeout=DB_TIMEOUT + 8)
        if reply.name == "history":
            return reply.data
        assert reply.error_code == 503, "history while waiting for the database: %r" % reply
        if time.monotonic() > deadline:
            raise AssertionError("history still 503 %ss after the database came back" % timeout)
        await asyncio.sleep(0.25)


# ------------------------------------------------------------ calls

async def settle(dev, timeout=3):
    """After a call: Janus's hangup of the handle's PeerConnection (if it had
    one), so that the device can take or make the next call with a fresh offer."""
    try:
        await dev.handle.wait_core("hangup", timeout)
    except AssertionError:
        pass
    await dev.drop_media()


async def place_call(a, to, video=False):
    """call {to} with a fresh offer; returns the call id. Janus's core
    refuses an offer (490) while it still frees the handle's previous
    PeerConnection, which can outlast its `hangup` event by a moment; a
    client then offers again, and so does this."""
    for attempt in range(5):
        jsep = await a.offer(video=video)
        reply = await a.request({"request": "call", "to": to, "video": video}, jsep=jsep)
        if reply.kind == "core_error" and reply.code == 490 and attempt < 4:
            await a.drop_media()
            await asyncio.sleep(0.3)
            continue
        assert not reply.is_error and reply.name == "calling", \
            "%s: call %s expected calling, got %r" % (a.label, to, reply)
        return reply.data["call_id"]


async def ring_again(a, callees, video=False):
    """flows.ring for a device that called before: with place_call's retry."""
    call_id = await place_call(a, callees[0].user, video=video)
    incoming = {}
    for d in callees:
        ev = await d.wait_event("incoming_call", call_id=call_id)
        check_incoming(ev, call_id, a, video)
        incoming[d] = ev
    await a.wait_event("ringing", call_id=call_id)
    return call_id, incoming


async def one_call(a, b, how, offline=None):
    """One call from device a, ending as `how`: answered (then a hangs up),
    declined, cancelled, or unavailable (to the user `offline`, never
    registered). Both devices are idle again afterwards. Returns the call id."""
    if how == "unavailable":
        call_id = await place_call(a, offline)
        await wait_ended(a, call_id, "unavailable")
        await a.wait_pc_down()
        return call_id
    call_id, inc = await ring_again(a, [b])
    if how == "answered":
        await answer(a, b, inc[b])
        await hang_up(a, call_id)
        await wait_ended(b, call_id, "hangup", answered=True)
    elif how == "declined":
        await b.ok({"request": "decline", "call_id": call_id}, "declined")
        await wait_ended(a, call_id, "declined")
    elif how == "cancelled":
        await hang_up(a, call_id)
        await wait_ended(b, call_id, "cancelled")
    else:
        raise ValueError(how)
    await a.wait_pc_down()
    await settle(b)
    return call_id


# caller outcome, callee outcome, calls_cdr disposition, calls_calls reasons accepted
EXPECT = {
    "answered": ("answered", "answered", "ANSWERED", {"hangup"}),
    "answered_kicked": ("answered", "answered", "ANSWERED", {"kicked"}),
    "cancelled": ("cancelled", "missed", "NO ANSWER", {"cancelled", "hangup"}),
    "no_answer": ("no_answer", "missed", "NO ANSWER", {"no_answer"}),
    "declined": ("declined", "declined", "NO ANSWER", {"declined"}),
    "declined_busy": ("busy", "declined", "BUSY", {"busy"}),
    "all_busy": ("busy", "missed", "BUSY", {"busy"}),
    "unavailable": ("unavailable", "missed", "FAILED", {"unavailable"}),
    "kicked_ringing": ("failed", "missed", "FAILED", {"kicked"}),
}
ONE_WAY = {"answered": EXPECT["answered"][:2], "declined": EXPECT["declined"][:2],
           "cancelled": EXPECT["cancelled"][:2], "unavailable": EXPECT["unavailable"][:2]}


async def check_rows(db, call_id, caller, callee, case, media="audio"):
    """calls_calls, calls_participants, calls_log and calls_cdr for one direct call."""
    caller_outcome, callee_outcome, disposition, reasons = EXPECT[case]
    answered = caller_outcome == "answered"
    await wait_written(db, call_id)
    c = await call_row(db, call_id)
    assert c["kind"] == "direct" and c["media"] == media, c
    assert c["caller"] == caller and c["callee"] == callee, c
    assert c["ended_at"] is not None and c["reason"] in reasons, \
        "calls_calls of a %s call: reason %r (expected one of %s): %s" % (case, c["reason"],
                                                                          sorted(reasons), c)
    assert (c["answered_at"] is not None) == answered, "calls_calls answered_at: %s" % c
    parts, n = await participant_rows(db, call_id)
    assert n == 2, "calls_participants rows of %s: %d (%s)" % (call_id, n, parts)
    assert parts[caller]["role"] == "caller" and parts[callee]["role"] == "callee", parts
    assert parts[caller]["outcome"] == caller_outcome, \
        "caller outcome %r, expected %r (%s)" % (parts[caller]["outcome"], caller_outcome, case)
    assert parts[callee]["outcome"] == callee_outcome, \
        "callee outcome %r, expected %r (%s)" % (parts[callee]["outcome"], callee_outcome, case)
    logs, n = await log_rows(db, call_id)
    assert n == 2 and set(logs) == {caller, callee}, "calls_log rows: %s" % logs
    assert logs[caller]["direction"] == "outgoing" and logs[caller]["peer"] == callee, logs
    assert logs[callee]["direction"] == "incoming" and logs[callee]["peer"] == caller, logs
    for u in (caller, callee):
        assert logs[u]["kind"] == "direct" and logs[u]["media"] == media, logs
        assert logs[u]["started_at"] == c["started_at"], (logs, c)
        if not answered:
            assert logs[u]["duration"] == "0", logs
    cdr = await cdr_rows(db, call_id)
    assert len(cdr) == 1, "calls_cdr rows of a direct call: %s" % cdr
    src, dst, disp, billsec, duration, uniqueid, dcontext = cdr[0]
    assert (src, dst, uniqueid, dcontext) == (caller, callee, call_id, "direct"), cdr
    assert disp == disposition, "calls_cdr disposition %r, expected %r (%s)" % (disp, disposition, case)
    if answered:
        assert billsec == logs[callee]["duration"], (cdr, logs)
    else:
        assert billsec == "0", cdr
    assert int(duration) >= int(billsec), cdr
    return logs


async def check_history(dev, db, call_id, logs, direction, peer, outcome, media="audio",
                        display=None, duration=None, log=None):
    """The user's history holds this call as calls_log has it; and, newest
    first, the calls of `log` (default: this call alone)."""
    data = await history(dev)
    entries = data["entries"]
    want = log or [call_id]
    assert [x["call_id"] for x in entries] == want and "next" not in data, \
        "%s: history should hold the calls %s: %s" % (dev.user, want, data)
    e = entries[want.index(call_id)]
    check_entry(e, call_id, direction, peer, outcome, media=media, display=display,
                answered=outcome == "answered", duration=duration)
    entry_matches_log(e, logs[dev.user])
    return e


# ------------------------------------------------------------ every one-to-one outcome

CASES = [
    "answered", "answered_kicked", "cancelled",
    pytest.param("no_answer", marks=pytest.mark.janus("history_short")),
    "declined", "declined_busy",
    pytest.param("all_busy", marks=pytest.mark.janus("history_nowait")),
    "unavailable", "kicked_ringing",
]


@pytest.mark.parametrize("case", CASES)
async def test_outcome_rows_and_history(calls, db, case):
    a = await calls.device(calls.uid("a"), display="Alice %s" % case)
    bu = calls.uid("b")
    b_display = "Bob %s" % case
    media = "video" if case == "answered" else "audio"
    duration = None
    b = None
    b_log = None
    if case != "unavailable":
        b = await calls.device(bu, display=b_display)

    if case == "unavailable":
        reply = await a.call(bu)
        call_id = reply.data["call_id"]
        await wait_ended(a, call_id, "unavailable")
    elif case == "all_busy":
        c = await calls.device(calls.uid("c"))
        busy_id, inc = await ring(c, [b])
        await answer(c, b, inc[b])
        reply = await a.call(bu)
        call_id = reply.data["call_id"]
        await wait_ended(a, call_id, "busy")
        await b.no_event("incoming_call", within=0.3)
        await hang_up(c, busy_id)
        await wait_written(db, busy_id)
        b_log = [call_id, busy_id]
    else:
        call_id, inc = await ring(a, [b], video=media == "video")
        if case == "answered":
            await answer(a, b, inc[b])
            await asyncio.sleep(1.3)
            await hang_up(b, call_id)
            ev = await wait_ended(a, call_id, "hangup", answered=True, min_duration=1)
            duration = ev["duration"]
        elif case == "answered_kicked":
            await answer(a, b, inc[b])
            await calls.admin_ok({"request": "end_call", "call_id": call_id}, "call_ended")
            ev = await wait_ended(a, call_id, "kicked", answered=True)
            await wait_ended(b, call_id, "kicked", answered=True)
            duration = ev["duration"]
        elif case == "cancelled":
            await hang_up(a, call_id)
            await wait_ended(b, call_id, "cancelled")
        elif case == "no_answer":
            await wait_ended(a, call_id, "no_answer", timeout=8)
            await wait_ended(b, call_id, "missed", timeout=2)
        elif case == "declined":
            await b.ok({"request": "decline", "call_id": call_id}, "declined")
            await wait_ended(a, call_id, "declined")
        elif case == "declined_busy":
            await b.ok({"request": "decline", "call_id": call_id, "reason": "busy"}, "declined")
            await wait_ended(a, call_id, "busy")
        elif case == "kicked_ringing":
            await calls.admin_ok({"request": "end_call", "call_id": call_id}, "call_ended")
            await wait_ended(a, call_id, "kicked")
            await wait_ended(b, call_id, "kicked")

    caller_outcome, callee_outcome = EXPECT[case][:2]
    logs = await check_rows(db, call_id, a.user, bu, case, media=media)
    # the caller's entry (read before the callee of "unavailable" ever registers)
    await check_history(a, db, call_id, logs, "outgoing", bu, caller_outcome, media=media,
                        display=None if case == "unavailable" else b_display, duration=duration)
    if b is None:
        b = await calls.device(bu, display=b_display)
        assert b.registered.get("missed_calls") == 1, \
            "missed_calls of a user called while offline: %s" % b.registered
    await check_history(b, db, call_id, logs, "incoming", a.user, callee_outcome, media=media,
                        display="Alice %s" % case, duration=duration, log=b_log)


# ------------------------------------------------------------ missed_calls, history_seen, filter

async def test_missed_calls_seen_and_filter(calls, db):
    a = await calls.device(calls.uid("a"), display="Alice")
    bu = calls.uid("b")
    missed = []
    for _ in range(2):                 # b offline: unavailable for a, missed for b
        missed.append(await place_call(a, bu))
        await wait_ended(a, missed[-1], "unavailable")
        await a.wait_pc_down()
    await wait_written(db, missed)

    b1 = await calls.device(bu, device="b1", display="Bob")
    assert b1.registered.get("missed_calls") == 2, b1.registered
    b2 = await calls.device(bu, device="b2", display="Bob")
    assert b2.registered.get("missed_calls") == 2, b2.registered

    # a declined call is in the log but not missed
    declined, inc = await ring_again(a, [b1, b2])
    await b1.ok({"request": "decline", "call_id": declined}, "declined")
    await wait_ended(a, declined, "declined")
    await wait_ended(b2, declined, "declined_elsewhere")
    await a.wait_pc_down()
    await wait_written(db, declined)
    b3 = await calls.device(bu, device="b3")
    assert b3.registered.get("missed_calls") == 2, b3.registered
    await b3.close()

    everything = await full_history(b1)
    assert [e["call_id"] for e in everything] == [declined] + missed[::-1], everything
    only_missed = await history(b1, filter="missed")
    assert [e["call_id"] for e in only_missed["entries"]] == missed[::-1], only_missed
    assert all(e["outcome"] == "missed" for e in only_missed["entries"]), only_missed
    assert [e["call_id"] for e in (await history(b1, filter="all"))["entries"]] == \
        [declined] + missed[::-1]
    assert (await history(a, filter="missed"))["entries"] == [], "a missed nothing"

    # history_seen: the reply, and the other device's badge clears
    reply = await b1.ok({"request": "history_seen"}, "history_seen")
    ev = await b2.wait_event("missed_calls")
    assert ev.get("count") == 0, ev
    await b1.no_event("missed_calls", within=0.5)
    await a.no_event("missed_calls", within=0.1)
    await wait_sql(db, "SELECT count(*) FILTER (WHERE seen), count(*) FROM calls_participants"
                       " WHERE user_id = :'u' AND outcome = 'missed'",
                   lambda rows: rows == [["2", "2"]], "both missed calls seen", u=bu)
    b4 = await calls.device(bu, device="b4")
    assert b4.registered.get("missed_calls") == 0, b4.registered
    await b4.close()
    # seen calls stay in the log, missed filter included
    assert [e["call_id"] for e in (await history(b1, filter="missed"))["entries"]] == missed[::-1]

    # a new missed call counts again
    await settle(b1)
    await settle(b2)
    cancelled, _ = await ring_again(a, [b1, b2])
    await hang_up(a, cancelled)
    await wait_ended(b1, cancelled, "cancelled")
    await wait_ended(b2, cancelled, "cancelled")
    await wait_written(db, cancelled)
    b5 = await calls.device(bu, device="b5")
    assert b5.registered.get("missed_calls") == 1, b5.registered
    await b5.close()
    assert [e["call_id"] for e in (await history(b2, filter="missed"))["entries"]] == \
        [cancelled] + missed[::-1]

    # a deleted missed call no longer counts
    reply = await b2.ok({"request": "history_delete", "call_ids": [cancelled]}, "history_deleted")
    assert reply.data.get("count") == 1, reply
    b6 = await calls.device(bu, device="b6")
    assert b6.registered.get("missed_calls") == 0, b6.registered
    # a's own log is untouched by all of this
    assert [e["call_id"] for e in await full_history(a)] == [cancelled, declined] + missed[::-1]


# ------------------------------------------------------------ history_delete

async def test_history_delete(calls, db):
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    ids = [await one_call(a, b, "declined") for _ in range(3)]
    await wait_written(db, ids)
    newest_first = ids[::-1]
    assert [e["call_id"] for e in (await history(a))["entries"]] == newest_first

    unknown = str(uuid.uuid4())
    reply = await a.ok({"request": "history_delete", "call_ids": [ids[0], ids[2], unknown]},
                       "history_deleted")
    assert reply.data.get("count") == 2, reply
    assert [e["call_id"] for e in (await history(a))["entries"]] == [ids[1]]
    assert [e["call_id"] for e in (await history(b))["entries"]] == newest_first, \
        "a's delete changed b's log"
    rows = await sql(db, "SELECT user_id, count(*) FILTER (WHERE deleted), count(*)"
                         " FROM calls_participants WHERE call_id = ANY(string_to_array(:'ids', ',')::uuid[])"
                         " GROUP BY user_id ORDER BY user_id", ids=id_list(ids))
    assert sorted(rows) == sorted([[a.user, "2", "3"], [b.user, "0", "3"]]), rows
    assert await sql_value(db, "SELECT count(*) FROM calls_log WHERE user_id = :'u'", u=a.user) == "1"
    assert await sql_value(db, "SELECT count(*) FROM calls_log WHERE user_id = :'u'", u=b.user) == "3"
    assert await sql_value(db, "SELECT count(*) FROM calls_calls WHERE call_id ="
                               " ANY(string_to_array(:'ids', ',')::uuid[])", ids=id_list(ids)) == "3"

    # again: nothing left to remove; a repeated id counts once
    reply = await a.ok({"request": "history_delete", "call_ids": [ids[0], ids[2]]}, "history_deleted")
    assert reply.data.get("count") == 0, reply
    reply = await a.ok({"request": "history_delete", "call_ids": [ids[1], ids[1]]}, "history_deleted")
    assert reply.data.get("count") == 1, reply
    assert (await history(a))["entries"] == []
    reply = await b.ok({"request": "history_delete", "call_ids": [ids[0]]}, "history_deleted")
    assert reply.data.get("count") == 1, reply

    # limits and bad ids change nothing
    keep = [ids[2], ids[1]]
    too_many = [str(uuid.uuid4()) for _ in range(100)] + [ids[1]]
    await b.err({"request": "history_delete", "call_ids": too_many}, 413)
    for bad in ([], ["not-a-uuid"], [7], [None], [ids[1], "x"], [ids[1], 5], "abc", ids[1], 7, None,
                {"id": ids[1]}):
        await b.err({"request": "history_delete", "call_ids": bad}, 400)
    await b.err({"request": "history_delete"}, 400)
    assert [e["call_id"] for e in (await history(b))["entries"]] == keep, \
        "a refused history_delete changed the log"
    assert await sql_value(db, "SELECT count(*) FROM calls_log WHERE user_id = :'u'", u=b.user) == "2"
    # exactly 100 ids is fine
    reply = await b.ok({"request": "history_delete", "call_ids": too_many[1:]}, "history_deleted")
    assert reply.data.get("count") == 1, reply
    assert [e["call_id"] for e in (await history(b))["entries"]] == [ids[2]]


# ------------------------------------------------------------ limit, filter, cursor

async def test_history_limit_filter_cursor(calls, db):
    a = await calls.device(calls.uid("a"))
    empty = await history(a)
    assert empty["entries"] == [] and "next" not in empty, empty
    ids = [await one_call(a, None, "unavailable", offline=calls.uid("z%d" % i)) for i in range(3)]
    await wait_written(db, ids)
    newest_first = ids[::-1]

    for bad in (0, 101, -1, 1000, "5", 1.5, True, [5], {}):
        await history(a, expect_code=400, limit=bad)
    for bad in ("MISSED", "none", "", 3, True, ["missed"]):
        await history(a, expect_code=400, filter=bad)
    for bad in ("", "abc", "123", "123_", "_" + ids[0], "x_" + ids[0], ids[0], "12_34_" + ids[0],
                "1700000000000000_not-a-uuid", 5, True, ["x"], {}):
        await history(a, expect_code=400, before=bad)

    assert [e["call_id"] for e in (await history(a))["entries"]] == newest_first
    assert [e["call_id"] for e in (await history(a, filter="all", limit=100))["entries"]] == newest_first
    page = await history(a, limit=3)
    assert [e["call_id"] for e in page["entries"]] == newest_first and "next" not in page, page
    page = await history(a, limit=1)
    assert [e["call_id"] for e in page["entries"]] == newest_first[:1] and page.get("next"), page
    page = await history(a, limit=2)
    assert [e["call_id"] for e in page["entries"]] == newest_first[:2] and page.get("next"), page
    last = await history(a, limit=2, before=page["next"])
    assert [e["call_id"] for e in last["entries"]] == newest_first[2:] and "next" not in last, last
    # a cursor is reusable and gives the same page
    again = await history(a, limit=2, before=page["next"])
    assert again == last, (again, last)
    # cursors combine with the missed filter (a missed nothing)
    assert (await history(a, filter="missed", before=page["next"]))["entries"] == []


# ------------------------------------------------------------ pagination while calls arrive

@pytest.mark.timeout(240)
async def test_pagination_exact_while_calls_arrive(calls, db):
    a = await calls.device(calls.uid("a"))
    z = calls.uid("z")                # never registers: every call ends at once, unavailable
    ids = [await one_call(a, None, "unavailable", offline=z) for _ in range(45)]
    await wait_written(db, ids, timeout=30)
    order = [r[0] for r in await sql(db, "SELECT call_id FROM calls_log WHERE user_id = :'u'"
                                         " ORDER BY started_at DESC, call_id DESC", u=a.user)]
    assert order == ids[::-1], "calls_log order differs from the order the calls were made"

    pages, new_ids, cursor, sizes = [], [], None, []
    for _ in range(10):
        kw = {"limit": 10}
        if cursor:
            kw["before"] = cursor
        page = await history(a, **kw)
        got = [e["call_id"] for e in page["entries"]]
        sizes.append(len(got))
        pages.extend(got)
        cursor = page.get("next")
        if not cursor:
            break
        for _ in range(2):            # newer calls arrive between pages
            new_ids.append(await one_call(a, None, "unavailable", offline=z))
    assert sizes == [10, 10, 10, 10, 5], "page sizes %s (45 calls, limit 10)" % sizes
    dupes = sorted({c for c in pages if pages.count(c) > 1})
    assert not dupes, "calls on two pages: %s" % dupes
    missing = [c for c in ids if c not in pages]
    extra = [c for c in pages if c not in ids]
    assert not missing and not extra, "pages missed %s and added %s" % (missing, extra)
    assert pages == ids[::-1], "pages out of order"

    # the calls made meanwhile lead a fresh first page
    await wait_written(db, new_ids)
    page = await history(a, limit=10)
    assert [e["call_id"] for e in page["entries"]] == new_ids[::-1] + ids[::-1][:10 - len(new_ids)]
    total = await full_history(a, limit=100)
    assert [e["call_id"] for e in total] == new_ids[::-1] + ids[::-1]


# ------------------------------------------------------------ the database down

@pytest.mark.timeout(150)
@pytest.mark.parametrize("how", ["freeze", "stop"])
async def test_database_down_503_calls_still_work(calls, db, how):
    a = await calls.device(calls.uid("a"), display="Alice")
    bu = calls.uid("b")
    b1 = await calls.device(bu, device="b1")
    b2 = await calls.device(bu, device="b2")
    before = await one_call(a, b1, "cancelled")
    await settle(b2)
    await wait_written(db, before)
    assert (await history(a))["entries"][0]["call_id"] == before
    await wait_stats(calls, lambda s: s["spooled"] == 0, "spooled 0 before the outage", 20)

    if how == "freeze":
        db.freeze()
    else:
        db.stop("fast")
    try:
        # reads that need the database: 503 once timeout_ms has passed at the latest
        for body in ({"request": "history"}, {"request": "history", "filter": "missed", "limit": 5},
                     {"request": "history_delete", "call_ids": [before]}):
            t = time.monotonic()
            await a.err(body, 503, timeout=DB_TIMEOUT + 8)
            took = time.monotonic() - t
            assert took <= DB_TIMEOUT + 3, "503 after %.1fs, timeout_ms is %d" % (took, DB_TIMEOUT_MS)

        # calls go on
        during, inc = await ring_again(a, [b1, b2])
        await answer(a, b1, inc[b1])
        await wait_ended(b2, during, "answered_elsewhere")
        await asyncio.sleep(1.1)
        await hang_up(a, during)
        await wait_ended(b1, during, "hangup", answered=True)

        # a device registering now is registered all the same, with no missed calls
        t = time.monotonic()
        b3 = await calls.device(bu, device="b3")
        assert b3.registered.get("missed_calls") == 0, b3.registered
        assert time.monotonic() - t <= DB_TIMEOUT + 3

        # history_seen is taken (written later); the other devices' badges clear
        await b1.ok({"request": "history_seen"}, "history_seen", timeout=DB_TIMEOUT + 8)
        for other in (b2, b3):
            ev = await other.wait_event("missed_calls", timeout=DB_TIMEOUT + 3)
            assert ev.get("count") == 0, ev

        st = await wait_stats(calls, lambda s: s["spooled"] > 0, "spooled > 0 while the database is down",
                              DB_TIMEOUT + 15)
        # still 503 after the writes went to the spool
        await a.err({"request": "history"}, 503, timeout=DB_TIMEOUT + 8)
    finally:
        if how == "freeze":
            db.thaw()
        else:
            db.start()

    await wait_stats(calls, lambda s: s["spooled"] == 0 and s["store_queue"] == 0,
                     "spool replayed (spooled 0, store_queue 0)", RECOVERY_TIMEOUT)
    await wait_written(db, [before, during])
    parts, n = await participant_rows(db, during)
    assert n == 2 and parts[a.user]["outcome"] == "answered" and parts[bu]["outcome"] == "answered", parts
    await wait_sql(db, "SELECT seen FROM calls_participants WHERE call_id = :'id' AND user_id = :'u'",
                   lambda rows: rows == [["t"]], "the missed call marked seen (history_seen during the outage)",
                   id=before, u=bu)
    # reads work again, and show the call made during the outage
    entries = (await history(a))["entries"]
    assert [e["call_id"] for e in entries] == [during, before], entries
    assert entries[0]["outcome"] == "answered" and entries[0]["duration"] >= 1, entries[0]
    reply = await a.ok({"request": "history_delete", "call_ids": [before]}, "history_deleted")
    assert reply.data.get("count") == 1, reply
    b4 = await calls.device(bu, device="b4")
    assert b4.registered.get("missed_calls") == 0, b4.registered
    assert st["spooled"] > 0


# ------------------------------------------------------------ outage in the middle of traffic

@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", ["stop", "freeze"])
async def test_outage_mid_traffic_every_call_once(calls, db, how):
    """Calls one after another while PostgreSQL goes away and comes back, and
    two calls that span the edges: answered before the outage and ended in
    it, answered in it and ended after it."""
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    c = await calls.device(calls.uid("c"))
    d = await calls.device(calls.uid("d"))
    z = calls.uid("z")
    plan = ["answered", "declined", "cancelled", "unavailable"] * 4
    made = []                         # (call_id, kind, caller, callee)
    max_spooled = 0
    adm = await calls.admin()

    async def span_start():
        call_id, inc = await ring_again(c, [d])
        await answer(c, d, inc[d])
        made.append((call_id, "answered", c.user, d.user))
        return call_id

    async def span_end(call_id):
        await hang_up(c, call_id)
        await wait_ended(d, call_id, "hangup", answered=True)
        await c.wait_pc_down()
        await settle(d)

    for i, kind in enumerate(plan):
        if i == 4:
            span = await span_start()
            db.freeze() if how == "freeze" else db.stop("fast")
        if i == 8:
            await span_end(span)
            span = await span_start()
        if i == 12:
            st = await wait_stats(calls, lambda s: s["spooled"] > 0, "spooled > 0 during the outage",
                                  DB_TIMEOUT + 15)
            max_spooled = max(max_spooled, st["spooled"])
            db.thaw() if how == "freeze" else db.start()
        call_id = await one_call(a, b, kind, offline=z)
        made.append((call_id, kind, a.user, z if kind == "unavailable" else b.user))
        if 4 <= i < 12:
            max_spooled = max(max_spooled, (await stats(calls, adm))["spooled"])
    await span_end(span)
    assert max_spooled > 0, "nothing was spooled while the database was down"

    await wait_stats(calls, lambda s: s["spooled"] == 0 and s["store_queue"] == 0,
                     "spool replayed (spooled 0, store_queue 0)", RECOVERY_TIMEOUT)
    ids = [m[0] for m in made]
    await wait_written(db, ids)
    rows = await sql(db, "SELECT call_id, count(*) FROM calls_calls WHERE call_id ="
                         " ANY(string_to_array(:'ids', ',')::uuid[]) GROUP BY call_id", ids=id_list(ids))
    assert sorted(r[0] for r in rows) == sorted(ids) and all(r[1] == "1" for r in rows), \
        "calls_calls: %d of %d calls, rows %s" % (len(rows), len(ids), rows)
    rows = await sql(db, "SELECT call_id, user_id, outcome FROM calls_participants WHERE call_id ="
                         " ANY(string_to_array(:'ids', ',')::uuid[])", ids=id_list(ids))
    assert len(rows) == 2 * len(ids), "calls_participants: %d rows for %d calls" % (len(rows), len(ids))
    got = {(r[0], r[1]): r[2] for r in rows}
    wrong = []
    for call_id, kind, caller, callee in made:
        have = (got.get((call_id, caller)), got.get((call_id, callee)))
        if have != ONE_WAY[kind]:
            wrong.append("%s %s: %s, expected %s" % (kind, call_id, have, ONE_WAY[kind]))
    assert not wrong, "outcomes after the outage:\n" + "\n".join(wrong)
    spans = [m[0] for m in made if m[2] == c.user]
    rows = await sql(db, "SELECT count(*) FROM calls_calls WHERE call_id ="
                         " ANY(string_to_array(:'ids', ',')::uuid[]) AND answered_at IS NOT NULL"
                         " AND ended_at > answered_at AND reason = 'hangup'", ids=id_list(spans))
    assert rows == [["2"]], "the calls spanning the outage's edges: %s" % rows
    # and the API agrees, each call once
    hist = await full_history(a)
    assert [e["call_id"] for e in hist] == [m[0] for m in made if m[2] == a.user][::-1]
    assert [e["call_id"] for e in await full_history(d)] == spans[::-1]


# ------------------------------------------------------------ Janus killed while writes are spooled

@pytest.mark.timeout(240)
async def test_janus_killed_with_spooled_rows(calls, db):
    janus = calls.janus
    z = calls.uid("z")
    # X: answered while the database is up, still on at the kill
    x_a = await calls.device(calls.uid("xa"))
    x_b = await calls.device(calls.uid("xb"))
    x_id, inc = await ring(x_a, [x_b])
    await answer(x_a, x_b, inc[x_b])
    await wait_sql(db, "SELECT count(*) FROM calls_calls WHERE call_id = :'id'", lambda r: r == [["1"]],
                   "the active call X in calls_calls before the outage", id=x_id)
    await wait_stats(calls, lambda s: s["spooled"] == 0 and s["store_queue"] == 0,
                     "nothing waiting before the outage", 20)

    db.stop("fast")
    c = await calls.device(calls.uid("c"))
    d = await calls.device(calls.uid("d"))
    done = [(await one_call(c, d, kind, offline=z), kind)
            for kind in ("answered", "declined", "cancelled", "unavailable")]
    # Y: answered during the outage; W: ringing during the outage
    y_a = await calls.device(calls.uid("ya"))
    y_b = await calls.device(calls.uid("yb"))
    y_id, inc = await ring(y_a, [y_b])
    await answer(y_a, y_b, inc[y_b])
    w_a = await calls.device(calls.uid("wa"))
    w_b = await calls.device(calls.uid("wb"))
    w_id, _ = await ring(w_a, [w_b])
    # everything on disk, nothing only in memory
    await wait_stats(calls, lambda s: s["spooled"] > 0 and s["store_queue"] == 0,
                     "all writes spooled (spooled > 0, store_queue 0)", DB_TIMEOUT + 15)

    janus.kill()
    db.start()
    # Before Janus is back: the calls of the outage are nowhere but in the
    # spool, and X is still open.
    outage_ids = [i for i, _ in done] + [y_id, w_id]
    n = await sql_value(db, "SELECT count(*) FROM calls_calls WHERE call_id ="
                            " ANY(string_to_array(:'ids', ',')::uuid[])", ids=id_list(outage_ids))
    assert n == "0", "calls made while PostgreSQL was stopped are in it already: %s" % n
    assert (await call_row(db, x_id))["ended_at"] is None
    janus.start()
    await wait_stats(calls, lambda s: s["spooled"] == 0 and s["store_queue"] == 0,
                     "spool replayed after the restart", RECOVERY_TIMEOUT)

    all_ids = [i for i, _ in done] + [x_id, y_id, w_id]
    await wait_written(db, all_ids)
    rows = await sql(db, "SELECT call_id, count(*) FROM calls_calls WHERE call_id ="
                         " ANY(string_to_array(:'ids', ',')::uuid[]) GROUP BY call_id", ids=id_list(all_ids))
    assert sorted(r[0] for r in rows) == sorted(all_ids) and all(r[1] == "1" for r in rows), rows
    n = await sql_value(db, "SELECT count(*) FROM calls_participants WHERE call_id ="
                            " ANY(string_to_array(:'ids', ',')::uuid[])", ids=id_list(all_ids))
    assert n == str(2 * len(all_ids)), "calls_participants: %s rows for %d calls" % (n, len(all_ids))

    for call_id, kind in done:
        callee = z if kind == "unavailable" else d.user
        parts, _ = await participant_rows(db, call_id)
        have = (parts[c.user]["outcome"], parts[callee]["outcome"])
        assert have == ONE_WAY[kind], "%s call %s after the restart: %s" % (kind, call_id, have)
        row = await call_row(db, call_id)
        assert row["reason"] != "server_shutdown", row

    for call_id, caller, callee, want in ((x_id, x_a.user, x_b.user, ("answered", "answered")),
                                          (y_id, y_a.user, y_b.user, ("answered", "answered")),
                                          (w_id, w_a.user, w_b.user, ("failed", "missed"))):
        row = await call_row(db, call_id)
        assert row["reason"] == "server_shutdown" and row["ended_at"] is not None, \
            "call open at the kill: %s" % row
        assert row["node"] == "itest-history", row
        parts, _ = await participant_rows(db, call_id)
        have = (parts[caller]["outcome"], parts[callee]["outcome"])
        assert have == want, "call open at the kill (%s): outcomes %s, expected %s" % (call_id, have, want)

    # the restarted Janus serves the log: the callee of the ringing call missed it
    wb = await calls.device(w_b.user, device="again")
    assert wb.registered.get("missed_calls") == 1, wb.registered
    entries = (await history(wb))["entries"]
    assert [e["call_id"] for e in entries] == [w_id] and entries[0]["outcome"] == "missed", entries
    ca = await calls.device(c.user, device="again")
    assert [e["call_id"] for e in await full_history(ca)] == [i for i, _ in done][::-1]


# ------------------------------------------------------------ display, register order, no database

async def test_display_as_last_registered(calls, db):
    a = await calls.device(calls.uid("a"), display="Alice")
    bu = calls.uid("b")
    b = await calls.device(bu, device="b1", display="Bob One")
    call_id = await one_call(a, b, "declined")
    await wait_written(db, call_id)
    assert (await history(a))["entries"][0].get("display") == "Bob One"
    b2 = await calls.device(bu, device="b2", display="Bob Two")
    await wait_sql(db, "SELECT display FROM calls_users WHERE user_id = :'u'",
                   lambda rows: rows == [["Bob Two"]], "the new display name of b", u=bu)
    e = (await history(a))["entries"][0]
    assert e["call_id"] == call_id and e.get("display") == "Bob Two", \
        "display should be the peer's as last registered: %r" % e
    assert (await history(b2))["entries"][0].get("display") == "Alice"


@pytest.mark.timeout(120)
async def test_requests_wait_for_registered(calls, db):
    """While a register waits for missed_calls from a database that does not
    answer, later requests of the handle wait too, and are served after
    `registered`, in order (not 401). (Each request is sent once the one
    before has reached the plugin: Janus's core hands a handle's messages to
    the plugin from a pool of threads, so messages sent back to back may
    reach it in any order.)"""
    a = await calls.device(calls.uid("a"))
    bu = calls.uid("b")
    call_id = await one_call(a, None, "unavailable", offline=bu)
    await wait_written(db, call_id)
    dev = await calls.device(register=False)
    done = []

    async def send(body, after):
        await asyncio.sleep(after)
        reply = await dev.request(body, timeout=DB_TIMEOUT + 8)
        done.append((body["request"], time.monotonic()))
        return reply

    db.freeze()
    try:
        t = time.monotonic()
        reg, info, media = await asyncio.gather(
            send({"request": "register", "user": bu, "device": "d1"}, 0),
            send({"request": "call_info", "call_id": call_id}, 0.4),
            send({"request": "media", "call_id": call_id, "audio": True, "video": False}, 0.8))
    finally:
        db.thaw()
    assert reg.name == "registered" and reg.data.get("missed_calls") == 0, \
        "register while the database does not answer: %r" % reg
    assert done[0][1] - t >= DB_TIMEOUT - 0.5, \
        "registered after %.1fs: did it wait for missed_calls at all?" % (done[0][1] - t)
    assert info.name == "call_info" and info.data.get("state") == "ended", \
        "call_info sent while register waited: %r" % info
    assert media.name == "error" and media.error_code == 404, \
        "media on an ended call sent while register waited: %r" % media
    assert [r for r, _ in done] == ["register", "call_info", "media"], "replies out of order: %s" % done
    # once the plugin has the database back, missed_calls is read again
    await wait_readable(a)
    again = await calls.device(bu, device="d2")
    assert again.registered.get("missed_calls") == 1, again.registered


@pytest.mark.janus("default")
async def test_no_database_history_503(calls):
    a = await calls.device(calls.uid("a"))
    assert a.registered.get("missed_calls") == 0, a.registered
    await history(a, expect_code=503)
    await history(a, expect_code=503, limit=5, filter="missed")
    await a.err({"request": "history_delete", "call_ids": [str(uuid.uuid4())]}, 503)
    # still checked for shape first
    await history(a, expect_code=400, limit=0)
    await a.err({"request": "history_delete", "call_ids": []}, 400)


@pytest.mark.timeout(120)
async def test_refused_record_is_kept_aside(calls, db):
    """A record the database refuses on its own (here a trigger refuses one
    user's rows) is set aside in rejected.jsonl of the spool folder, and the
    records batched with it are still written, from memory and from the
    spool alike."""
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    poison = "poison-" + calls.tag
    await sql(db, "CREATE OR REPLACE FUNCTION calls_test_refuse() RETURNS trigger LANGUAGE plpgsql AS"
                  " $$BEGIN IF NEW.user_id LIKE 'poison-%' THEN RAISE EXCEPTION 'refused by the test';"
                  " END IF; RETURN NEW; END$$")
    await sql(db, "CREATE TRIGGER calls_test_refuse BEFORE INSERT ON calls_participants"
                  " FOR EACH ROW EXECUTE FUNCTION calls_test_refuse()")
    rejected = os.path.join(calls.janus.workdir, "spool", "rejected.jsonl")
    try:
        # From memory: the refused call and a good one, back to back.
        bad1 = await one_call(a, b, "unavailable", offline=poison)
        good1 = await one_call(a, b, "declined")
        await wait_written(db, good1)
        # From the spool: both made while the database is stopped, replayed
        # as one batch, which fails and is retried a record at a time.
        await asyncio.to_thread(db.stop)
        bad2 = await one_call(a, b, "unavailable", offline=poison)
        good2 = await one_call(a, b, "declined")
        await wait_stats(calls, lambda s: s["spooled"] >= 4, "the outage calls spooled", 20)
        await asyncio.to_thread(db.start)
        await wait_written(db, good2, timeout=RECOVERY_TIMEOUT)
        await wait_stats(calls, lambda s: s["spooled"] == 0 and s["store_queue"] == 0,
                         "spool and queue empty", RECOVERY_TIMEOUT)
        for bad in (bad1, bad2):
            assert await sql_value(db, "SELECT count(*) FROM calls_calls WHERE call_id = :'id'", id=bad) == "0"
        for good in (good1, good2):
            assert await sql_value(db, "SELECT count(*) FROM calls_participants WHERE call_id = :'id'",
                                   id=good) == "2"
        with open(rejected) as f:
            lines = f.read().splitlines()
        for bad in (bad1, bad2):
            # its start and its end record
            kept = [l for l in lines if bad in l]
            assert len(kept) == 2 and all(l.startswith("call\t{") for l in kept), \
                "rejected.jsonl should hold both records of %s: %s" % (bad, lines)
        assert not any(good1 in l or good2 in l for l in lines), lines
    finally:
        await sql(db, "DROP TRIGGER IF EXISTS calls_test_refuse ON calls_participants")

"""Admin API (message_plugin with admin_key)."""

import asyncio

import pytest

from conftest import ADMIN_KEY
from flows import answer, ring, wait_ended, UUID_RE

STATS_KEYS = ("users", "devices", "active_calls", "participants", "store_queue", "spooled",
              "pushes_sent", "pushes_failed")


def check_admin_error(resp, code):
    assert isinstance(resp, dict) and resp.get("calls") == "error" and resp.get("error_code") == code, \
        "admin: expected error %d, got %s" % (code, resp)
    assert isinstance(resp.get("error"), str) and resp["error"], resp


@pytest.mark.parametrize("request_body", [
    {"request": "stats"},
    {"request": "stats", "admin_key": "wrong"},
    {"request": "stats", "admin_key": ""},
    {"request": "stats", "admin_key": 42},
    {"request": "list_users", "admin_key": ADMIN_KEY.upper()},
    {"request": "end_call", "call_id": "00000000-0000-4000-8000-000000000000"},
    {"request": "frobnicate"},
    {},
], ids=["missing", "wrong", "empty", "number", "case", "end_call", "unknown", "empty_body"])
async def test_admin_key_required_403(calls, request_body):
    adm = await calls.admin()
    check_admin_error(await adm.message_plugin(request_body), 403)


async def test_admin_no_request_object(calls):
    adm = await calls.admin()
    resp = await adm.message_plugin(None, include_request=False)
    check_admin_error(resp, 403)
    await calls.admin_ok({"request": "stats"}, "stats")


async def test_admin_unknown_request_400(calls):
    adm = await calls.admin()
    check_admin_error(await adm.message_plugin({"request": "frobnicate", "admin_key": ADMIN_KEY}), 400)
    check_admin_error(await adm.message_plugin({"admin_key": ADMIN_KEY}), 400)
    check_admin_error(await adm.message_plugin({"request": "end_call", "admin_key": ADMIN_KEY}), 400)
    check_admin_error(await adm.message_plugin({"request": "kick", "admin_key": ADMIN_KEY, "user": 5}), 400)


def stats_of(resp):
    for k in STATS_KEYS:
        assert isinstance(resp.get(k), int) and not isinstance(resp.get(k), bool) and resp[k] >= 0, \
            "stats.%s is not a whole number: %s" % (k, resp)
    return resp


async def test_list_users_and_calls_and_stats(calls):
    base = stats_of(await calls.admin_ok({"request": "stats"}, "stats"))
    a = await calls.device(calls.uid("a"), device="a1")
    bu = calls.uid("b")
    b1 = await calls.device(bu, device="b1")
    b2 = await calls.device(bu, device="b2")

    resp = await calls.admin_ok({"request": "list_users"}, "users")
    entries = {e["user"]: e for e in resp["entries"] if e.get("user") in (a.user, bu)}
    assert entries.get(a.user, {}).get("devices") == ["a1"] and entries[a.user]["state"] == "online", resp
    assert sorted(entries[bu]["devices"]) == ["b1", "b2"] and entries[bu]["state"] == "online", resp

    st = stats_of(await calls.admin_ok({"request": "stats"}, "stats"))
    assert st["users"] - base["users"] == 2 and st["devices"] - base["devices"] == 3, (base, st)
    assert st["active_calls"] == base["active_calls"], (base, st)

    call_id, inc = await ring(a, [b1, b2])
    resp = await calls.admin_ok({"request": "list_calls"}, "active_calls")
    mine = [e for e in resp["entries"] if e.get("call_id") == call_id]
    assert len(mine) == 1, resp
    e = mine[0]
    assert e.get("kind") == "direct" and e.get("state") == "ringing", e
    assert a.user in e["participants"] and set(e["participants"]) <= {a.user, bu}, e
    st = stats_of(await calls.admin_ok({"request": "stats"}, "stats"))
    assert st["active_calls"] - base["active_calls"] == 1, (base, st)

    await answer(a, b1, inc[b1])
    await wait_ended(b2, call_id, "answered_elsewhere")
    resp = await calls.admin_ok({"request": "list_calls"}, "active_calls")
    e = [x for x in resp["entries"] if x.get("call_id") == call_id][0]
    assert e["state"] == "active" and sorted(e["participants"]) == sorted([a.user, bu]), e
    resp = await calls.admin_ok({"request": "list_users"}, "users")
    entries = {x["user"]: x for x in resp["entries"] if x.get("user") in (a.user, bu)}
    assert entries[a.user]["state"] == "in_call" and entries[bu]["state"] == "in_call", resp
    st = stats_of(await calls.admin_ok({"request": "stats"}, "stats"))
    assert st["active_calls"] - base["active_calls"] == 1, (base, st)
    assert st["participants"] - base["participants"] == 2, (base, st)
    assert st["store_queue"] == 0 and st["spooled"] == 0, st          # no database configured
    assert st["pushes_sent"] == 0 and st["pushes_failed"] == 0, st    # no push configured

    await a.ok({"request": "hangup", "call_id": call_id}, "hungup")
    await wait_ended(b1, call_id, "hangup", answered=True)
    resp = await calls.admin_ok({"request": "list_calls"}, "active_calls")
    assert not [x for x in resp["entries"] if x.get("call_id") == call_id], resp
    st = stats_of(await calls.admin_ok({"request": "stats"}, "stats"))
    assert st["active_calls"] == base["active_calls"] and st["participants"] == base["participants"], \
        (base, st)


async def test_end_call_kicked(calls):
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    call_id, inc = await ring(a, [b])
    await answer(a, b, inc[b])
    resp = await calls.admin_ok({"request": "end_call", "call_id": call_id}, "call_ended")
    await wait_ended(a, call_id, "kicked", answered=True)
    await wait_ended(b, call_id, "kicked", answered=True)
    info = await a.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data["state"] == "ended" and info.data.get("reason") == "kicked", info
    adm = await calls.admin()
    resp = await adm.message_plugin({"request": "end_call", "call_id": call_id, "admin_key": ADMIN_KEY})
    check_admin_error(resp, 404)
    resp = await adm.message_plugin({"request": "end_call", "admin_key": ADMIN_KEY,
                                     "call_id": "00000000-0000-4000-8000-000000000000"})
    check_admin_error(resp, 404)


async def test_end_ringing_call_kicked(calls):
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    call_id, inc = await ring(a, [b])
    await calls.admin_ok({"request": "end_call", "call_id": call_id}, "call_ended")
    await wait_ended(a, call_id, "kicked")
    await wait_ended(b, call_id, "kicked")


async def test_kick_user(calls):
    a = await calls.device(calls.uid("a"))
    bu = calls.uid("b")
    b1 = await calls.device(bu, device="k1")
    b2 = await calls.device(bu, device="k2")
    call_id, inc = await ring(a, [b1, b2])
    await answer(a, b1, inc[b1])
    await wait_ended(b2, call_id, "answered_elsewhere")
    await calls.admin_ok({"request": "kick", "user": bu}, "kicked")
    for d in (b1, b2):
        ev = await d.wait_event("unregistered")
        assert ev.get("reason") == "kicked", ev
    await wait_ended(a, call_id, "kicked", answered=True)
    await b1.err({"request": "call_info", "call_id": call_id}, 401)
    resp = await calls.admin_ok({"request": "list_users"}, "users")
    assert not [e for e in resp["entries"] if e.get("user") == bu], resp
    assert [e for e in resp["entries"] if e.get("user") == a.user], resp
    # the kicked handle may register again
    await b1.register(user=bu, device="k1")


async def test_kick_unknown_user(calls):
    adm = await calls.admin()
    resp = await adm.message_plugin({"request": "kick", "user": calls.uid("ghost"), "admin_key": ADMIN_KEY})
    assert resp.get("calls") == "kicked" or (resp.get("calls") == "error" and resp.get("error_code") == 404), resp

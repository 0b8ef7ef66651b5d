"""Garbage never crashes Janus, and every request gets exactly one well-formed reply."""

import asyncio
import json

import pytest

import calls_client
from flows import ring

pytestmark = [pytest.mark.janus("robust"), pytest.mark.timeout(150)]

REQUESTS = ["register", "unregister", "call", "accept", "decline", "hangup", "update", "media",
            "call_info"]
FIELDS = ["call_id", "to", "video", "audio", "user", "display", "device", "token", "reason"]
BAD_VALUES = [None, True, False, 0, -1, 1.5, 1e308, -1e308, 9223372036854775807,
              -9223372036854775808, "", "x" * 65, "\u00fc\u00f1\u00ee", "a b", "../../etc",
              "%s%s%n", [], [1, "a"], {}, {"a": {"b": [None, {"c": 1}]}}]


REQUIRED = {"register": ["user"], "unregister": [], "call": ["to"], "accept": ["call_id"],
            "decline": ["call_id"], "hangup": ["call_id"], "update": ["call_id"],
            "media": ["call_id", "audio", "video"], "call_info": ["call_id"]}


def expected_codes(req, field, value, registered):
    """Which error codes a single-field body {request, field: value} may get:
    a missing or ill-typed required field is 400 (checked before 401)."""
    required = REQUIRED[req]
    if not required:
        return {401}                      # unregister when not registered (fields ignored)
    if required != [field] or not isinstance(value, str):
        return {400}
    if req in ("register", "call"):
        return {400}                      # every string in BAD_VALUES is a bad user id
    if not registered:
        return {400, 401}                 # a string call_id: bad id, or not registered
    return {400, 404, 409} if req in ("accept", "update") else {400, 404}


async def send_all(dev, bodies):
    out = []
    for body in bodies:
        reply = await dev.request(body, timeout=5)
        out.append((body, reply))
    return out


async def test_single_field_garbage(calls):
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    fresh = await calls.device(register=False)
    call_id, _ = await ring(a, [b])

    failures = []
    for dev, registered in ((fresh, False), (b, True)):
        bodies = []
        for req in REQUESTS:
            if req == "unregister" and registered:
                continue
            for field in FIELDS:
                for value in BAD_VALUES:
                    bodies.append({"request": req, field: value})
        for body, reply in await send_all(dev, bodies):
            req = body["request"]
            field, value = [(k, v) for k, v in body.items() if k != "request"][0]
            codes = expected_codes(req, field, value, registered)
            if reply.kind != "plugin" or reply.name != "error" or reply.error_code not in codes:
                failures.append("%s -> %r (expected error in %s)" % (json.dumps(body)[:120], reply, sorted(codes)))
                continue
            try:
                calls_client.check_error_shape(reply, body)
            except AssertionError as e:
                failures.append(str(e))
    assert not failures, "%d bad replies, first ones:\n%s" % (len(failures), "\n".join(failures[:15]))

    assert calls.janus.alive()
    # nothing changed: the call still rings, b is still registered
    info = await b.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data["state"] == "ringing", info
    info = await a.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data["state"] == "ringing", info


async def test_whole_garbage_bodies(calls):
    d = await calls.device(calls.uid("g"))
    nested = {"request": "call_info", "call_id": "x"}
    for _ in range(200):
        nested = {"n": nested}
    bodies = [
        {"request": ""}, {"request": "x" * 10000},
        {"request": "register" + "\u00a0"}, {"request": True}, {"request": 1e308},
        {"request": "call_info", "call_id": {"$ne": None}},
        {"request": "call", "to": ["a"] * 1000},
        {"request": "media", "call_id": "c", "audio": 1, "video": 0},
        {"request": "media", "call_id": "c", "audio": "true", "video": "false"},
        {"request": "decline", "call_id": "c", "reason": ["busy"]},
        nested,
        {"request": "call_info", "call_id": "00000000-0000-4000-8000-000000000000", "deep": nested},
    ]
    for body in bodies:
        reply = await d.request(body)
        assert reply.kind == "plugin" and reply.name == "error" and reply.error_code in (400, 404), \
            "%s -> %r" % (json.dumps(body)[:100], reply)
        calls_client.check_error_shape(reply, body)
    assert calls.janus.alive()


async def test_core_refusals_never_reach_plugin(calls):
    """Bodies the core refuses: its own error; the plugin and Janus carry on."""
    d = await calls.device(calls.uid("core"))
    conn, h = d.conn, d.handle
    base = {"janus": "message", "session_id": conn.session_id, "handle_id": h.id, "transaction": "rawtx"}
    raw_texts = [
        json.dumps(dict(base, body=[1, 2, 3])),
        json.dumps(dict(base, body="register")),
        json.dumps(dict(base, body=None)),
        json.dumps(dict(base, body=12)),
        json.dumps(dict(base, body={"request": "call_info"}, jsep={"type": "offer", "sdp": "garbage"})),
        json.dumps(dict(base, body={"request": "call_info"}, jsep={"type": "pranswer", "sdp": "v=0"})),
        json.dumps(dict(base, body={"request": "call_info"}, jsep="offer")),
    ]
    for text in raw_texts:
        msg = await conn.send_raw(text)
        assert msg.get("janus") == "error", "expected the core's error for %s: %s" % (
            text[:120], calls_client.short(msg))
    # Unparsable for the core (no transaction can be read): an error without a transaction at most.
    prefix = '{"janus":"message","session_id":%d,"handle_id":%d,"transaction":"rawtx",' % (conn.session_id, h.id)
    for text in (prefix + '"body":{"request":"call_info","n":1%s}}' % ("0" * 400),
                 prefix + '"body":{"request":"\\u0000"}}',
                 prefix + '"body": {',
                 '[' * 5000,
                 '\xff\xfe garbage'):
        await conn.ws.send(text)
    await asyncio.sleep(0.3)
    assert calls.janus.alive()
    await d.err({"request": "call_info", "call_id": "00000000-0000-4000-8000-000000000000"}, 404)


async def test_many_handles_and_garbage_in_parallel(calls):
    devs = [await calls.device(calls.uid("p%d" % i)) for i in range(6)]
    bodies = [{"request": r, f: v} for r in ("call", "media", "decline") for f in ("call_id", "to")
              for v in (None, 1, "", [], {})]

    async def spam(dev):
        for body in bodies:
            reply = await dev.request(body)
            assert reply.kind == "plugin" and reply.name == "error", reply
    await asyncio.gather(*[spam(d) for d in devs])
    # detaching while requests fly
    tasks = [asyncio.ensure_future(d.request({"request": "call_info", "call_id": "zz"})) for d in devs[:3]]
    for d in devs[:3]:
        await d.handle.detach()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert calls.janus.alive()
    a, b = devs[3], devs[4]
    call_id, inc = await ring(a, [b])
    assert call_id


async def test_admin_garbage(calls):
    adm = await calls.admin()
    from conftest import ADMIN_KEY
    for req in ({"request": None, "admin_key": ADMIN_KEY}, {"request": 5, "admin_key": ADMIN_KEY},
                {"request": "kick", "user": {"x": 1}, "admin_key": ADMIN_KEY},
                {"request": "kick", "user": "", "admin_key": ADMIN_KEY},
                {"request": "end_call", "call_id": [], "admin_key": ADMIN_KEY},
                {"request": "stats", "admin_key": {"k": ADMIN_KEY}},
                {"request": "list_users", "admin_key": [ADMIN_KEY]}):
        resp = await adm.message_plugin(req)
        assert isinstance(resp, dict) and resp.get("calls") == "error" and resp.get("error_code") in (400, 403), \
            "%s -> %s" % (req, resp)
    assert calls.janus.alive()
    await calls.admin_ok({"request": "stats"}, "stats")

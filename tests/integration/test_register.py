"""Identity: register / unregister, JWT, ids, envelope errors, limits, ice_servers."""

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time

import pytest

from conftest import JWT_SECRET, STUN_URIS, TURN_SECRET, TURN_TTL, TURN_URIS, make_jwt
import calls_client

DEVICE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_registered(data, user, display=None, device=None):
    assert data.get("calls") == "registered", data
    assert data.get("user") == user, data
    assert "display" in data, "registered without display: %s" % data
    if display is not None:
        assert data["display"] == display, data
    dev = data.get("device")
    assert isinstance(dev, str) and DEVICE_RE.match(dev), "bad device id in %s" % data
    if device is not None:
        assert dev == device, data
    assert isinstance(data.get("missed_calls"), int) and data["missed_calls"] >= 0, data
    assert isinstance(data.get("ice_servers"), list), data


# ------------------------------------------------------------ auth = none

async def test_register_none_fields(calls):
    u = calls.uid("alice")
    d = await calls.device(register=False)
    reply = await d.ok({"request": "register", "user": u, "display": "Alice A.", "device": "phone-1"},
                       "registered")
    check_registered(reply.data, u, "Alice A.", "phone-1")
    assert reply.jsep is None


async def test_register_server_made_device_id(calls):
    u = calls.uid("bob")
    d1 = await calls.device(register=False)
    d2 = await calls.device(register=False)
    r1 = await d1.ok({"request": "register", "user": u}, "registered")
    r2 = await d2.ok({"request": "register", "user": u}, "registered")
    check_registered(r1.data, u)
    check_registered(r2.data, u)
    assert r1.data["device"] != r2.data["device"], "two server-made device ids are equal"


async def test_register_id_limits_accepted(calls):
    d = await calls.device(register=False)
    user = ("a_b.c@d+e-f" + calls.tag + "x" * 64)[:64]
    device = ("Dev_ice-" + "9" * 64)[:64]
    reply = await d.ok({"request": "register", "user": user, "device": device}, "registered")
    check_registered(reply.data, user, device=device)


@pytest.mark.parametrize("body", [
    {"request": "register"},                                  # user missing
    {"request": "register", "user": ""},
    {"request": "register", "user": "x" * 65},
    {"request": "register", "user": "bad user"},
    {"request": "register", "user": "bad/user"},
    {"request": "register", "user": "b\u00e4d"},
    {"request": "register", "user": "bad#user"},
    {"request": "register", "user": 42},
    {"request": "register", "user": ["u"]},
    {"request": "register", "user": None},
    {"request": "register", "user": "okuser", "device": ""},
    {"request": "register", "user": "okuser", "device": "d" * 65},
    {"request": "register", "user": "okuser", "device": "dev.1"},    # '.' is not allowed in devices
    {"request": "register", "user": "okuser", "device": "dev@1"},
    {"request": "register", "user": "okuser", "device": 7},
    {"request": "register", "user": "okuser", "display": 5},
    {"request": "register", "user": "okuser", "display": {"a": 1}},
], ids=lambda b: json.dumps(b)[:60])
async def test_register_bad_fields_400(calls, body):
    d = await calls.device(register=False)
    await d.err(body, 400)
    # changes nothing: still not registered
    await d.err({"request": "unregister"}, 401)


async def test_register_twice_409(calls):
    d = await calls.device(calls.uid("carol"))
    await d.err({"request": "register", "user": calls.uid("carol")}, 409)
    await d.err({"request": "register", "user": calls.uid("other")}, 409)
    # still registered as carol
    await d.err({"request": "call_info", "call_id": "00000000-0000-4000-8000-000000000000"}, 404)


@pytest.mark.parametrize("body", [
    {"request": "unregister"},
    {"request": "call_info", "call_id": "00000000-0000-4000-8000-000000000000"},
    {"request": "hangup", "call_id": "00000000-0000-4000-8000-000000000000"},
    {"request": "decline", "call_id": "00000000-0000-4000-8000-000000000000"},
    {"request": "media", "call_id": "00000000-0000-4000-8000-000000000000", "audio": True, "video": True},
], ids=lambda b: b["request"])
async def test_request_before_register_401(calls, body):
    d = await calls.device(register=False)
    await d.err(body, 401)


async def test_missing_field_before_register_is_400(calls):
    """400 is checked before 401."""
    d = await calls.device(register=False)
    await d.err({"request": "call_info"}, 400)
    await d.err({"request": "hangup", "call_id": 12}, 400)
    await d.err({"request": "media", "call_id": "00000000-0000-4000-8000-000000000000",
                 "audio": "yes", "video": True}, 400)


@pytest.mark.parametrize("registered", [False, True])
async def test_unknown_request_400(calls, registered):
    d = await calls.device(calls.uid("dave") if registered else None, register=registered)
    await d.err({"request": "frobnicate"}, 400)
    await d.err({"request": "REGISTER", "user": calls.uid("x")}, 400)


@pytest.mark.parametrize("body", [{}, {"request": 5}, {"request": None}, {"request": ["register"]},
                                  {"request": {"name": "register"}}, {"user": "x"}],
                         ids=lambda b: json.dumps(b))
async def test_request_name_missing_or_not_string_400(calls, body):
    d = await calls.device(register=False)
    await d.err(body, 400)  # check_error_shape requires "request": null


async def test_unknown_fields_ignored(calls):
    u = calls.uid("erin")
    d = await calls.device(register=False)
    reply = await d.ok({"request": "register", "user": u, "colour": "blue", "nested": {"a": [1, 2]}},
                       "registered")
    check_registered(reply.data, u)


async def test_unregister_requested(calls):
    u = calls.uid("frank")
    d = await calls.device(u, device="tab1")
    reply = await d.ok({"request": "unregister"}, "unregistered")
    assert reply.data.get("reason") == "requested", reply
    await d.err({"request": "unregister"}, 401)
    await d.err({"request": "call_info", "call_id": "00000000-0000-4000-8000-000000000000"}, 401)
    # the handle may register again
    reply = await d.ok({"request": "register", "user": u, "device": "tab1"}, "registered")
    check_registered(reply.data, u, device="tab1")


async def test_many_devices_per_user(calls):
    u = calls.uid("gina")
    conn = await calls.connection()
    devs = [await calls.device(u, conn=conn, device="dev%d" % i) for i in range(5)]
    assert sorted(d.device for d in devs) == ["dev%d" % i for i in range(5)]
    resp = await calls.admin_ok({"request": "list_users"}, "users")
    mine = [e for e in resp["entries"] if e.get("user") == u]
    assert len(mine) == 1, resp
    assert sorted(mine[0]["devices"]) == ["dev%d" % i for i in range(5)], mine
    assert mine[0]["state"] == "online", mine


async def test_same_device_replaces_old_handle(calls):
    u = calls.uid("hank")
    old = await calls.device(u, device="phone")
    new = await calls.device(register=False)
    reply = await new.ok({"request": "register", "user": u, "device": "phone"}, "registered")
    check_registered(reply.data, u, device="phone")
    ev = await old.wait_event("unregistered")
    assert ev.get("reason") == "replaced", ev
    await old.err({"request": "call_info", "call_id": "00000000-0000-4000-8000-000000000000"}, 401)
    resp = await calls.admin_ok({"request": "list_users"}, "users")
    mine = [e for e in resp["entries"] if e.get("user") == u]
    assert len(mine) == 1 and mine[0]["devices"] == ["phone"], mine


async def test_detach_and_destroy_unregister(calls):
    u = calls.uid("ivan")
    d1 = await calls.device(u, device="one")
    d2 = await calls.device(u, device="two")
    await d1.handle.detach()
    await d2.conn.destroy()
    await asyncio.sleep(0.3)
    resp = await calls.admin_ok({"request": "list_users"}, "users")
    assert not [e for e in resp["entries"] if e.get("user") == u], resp


async def test_oversize_body_400_default_limit(calls):
    d = await calls.device(calls.uid("jack"))
    await d.err({"request": "call_info", "call_id": "00000000-0000-4000-8000-000000000000",
                 "pad": "p" * 66000}, 400)
    # just under the limit is fine (reaches the call lookup)
    await d.err({"request": "call_info", "call_id": "00000000-0000-4000-8000-000000000000",
                 "pad": "p" * 60000}, 404)


async def test_ice_servers_empty_without_turn(calls):
    d = await calls.device(calls.uid("kate"))
    assert d.registered["ice_servers"] == [], d.registered


# ------------------------------------------------------------ auth = jwt

def now():
    return int(time.time())


@pytest.mark.janus("jwt")
async def test_jwt_valid(calls):
    u = calls.uid("jwtuser")
    d = await calls.device(register=False)
    tok = make_jwt({"sub": u, "exp": now() + 120, "name": "Jay W. T.", "iat": now(), "nbf": now() - 5})
    reply = await d.ok({"request": "register", "token": tok, "device": "laptop"}, "registered")
    check_registered(reply.data, u, "Jay W. T.", "laptop")
    # The test secret is 26 bytes: the plugin said at start that it is short.
    with open(calls.janus.log_path, "rb") as f:
        assert b"general.jwt_secret is 26 bytes: use 32 or more random bytes" in f.read()


@pytest.mark.janus("jwt")
async def test_jwt_long_name_is_cut_to_128_bytes(calls):
    u = calls.uid("longname")
    d = await calls.device(register=False)
    name = "N" * 127 + "\u00e9" * 10
    reply = await d.ok({"request": "register", "token": make_jwt({"sub": u, "exp": now() + 120, "name": name})},
                       "registered")
    assert reply.data["display"] == "N" * 127, reply


@pytest.mark.janus("jwt")
async def test_jwt_user_field_cannot_override_sub(calls):
    u = calls.uid("realsub")
    d = await calls.device(register=False)
    tok = make_jwt({"sub": u, "exp": now() + 120})
    reply = await d.ok({"request": "register", "token": tok, "user": calls.uid("mallory")},
                       "registered")
    assert reply.data["user"] == u, reply


@pytest.mark.janus("jwt")
@pytest.mark.parametrize("case", ["alg_none", "alg_none_signed", "hs512", "bad_signature",
                                  "wrong_secret", "expired", "nbf_future", "iat_future",
                                  "exp_string", "no_exp", "no_sub", "sub_number",
                                  "garbage", "two_parts", "empty", "bad_base64", "payload_not_json"])
async def test_jwt_rejected_401(calls, case):
    u = calls.uid("jwtbad")
    good = {"sub": u, "exp": now() + 120}
    tok = {
        "alg_none": lambda: make_jwt(good, header={"alg": "none", "typ": "JWT"}, sign=False),
        "alg_none_signed": lambda: make_jwt(good, header={"alg": "none", "typ": "JWT"}, sign=False)
        + make_jwt(good).split(".")[2],
        "hs512": lambda: make_jwt(good, alg="HS512"),
        "bad_signature": lambda: make_jwt(good)[:-4] + ("AAAA" if not make_jwt(good).endswith("AAAA") else "BBBB"),
        "wrong_secret": lambda: make_jwt(good, secret=JWT_SECRET + "x"),
        "expired": lambda: make_jwt({"sub": u, "exp": now() - 30}),
        "nbf_future": lambda: make_jwt({"sub": u, "exp": now() + 300, "nbf": now() + 120}),
        "iat_future": lambda: make_jwt({"sub": u, "exp": now() + 7200, "iat": now() + 3600}),
        "exp_string": lambda: make_jwt({"sub": u, "exp": str(now() + 120)}),
        "sub_number": lambda: make_jwt({"sub": 12345, "exp": now() + 120}),
        "no_exp": lambda: make_jwt({"sub": u}),
        "no_sub": lambda: make_jwt({"exp": now() + 120}),
        "garbage": lambda: "not-a-jwt",
        "two_parts": lambda: ".".join(make_jwt(good).split(".")[:2]),
        "empty": lambda: "",
        "bad_base64": lambda: "!!!." + make_jwt(good).split(".", 1)[1],
        "payload_not_json": lambda: _signed_raw(b'{"alg":"HS256"}', b"not json"),
    }[case]()
    d = await calls.device(register=False)
    await d.err({"request": "register", "token": tok}, 401)
    await d.err({"request": "unregister"}, 401)


def _signed_raw(header, payload):
    def b64(x):
        return base64.urlsafe_b64encode(x).rstrip(b"=").decode()
    si = b64(header) + "." + b64(payload)
    return si + "." + b64(hmac.new(JWT_SECRET.encode(), si.encode(), hashlib.sha256).digest())


@pytest.mark.janus("jwt")
@pytest.mark.parametrize("body", [{"request": "register"},
                                  {"request": "register", "token": 12345},
                                  {"request": "register", "token": None},
                                  {"request": "register", "token": ["a.b.c"]}],
                         ids=["missing", "number", "null", "list"])
async def test_jwt_missing_or_ill_typed_token_400(calls, body):
    d = await calls.device(register=False)
    await d.err(body, 400)


@pytest.mark.janus("jwt")
async def test_jwt_user_field_alone_is_not_enough(calls):
    d = await calls.device(register=False)
    await d.err({"request": "register", "user": calls.uid("nouser")}, 400)


# ------------------------------------------------------------ turn

@pytest.mark.janus("turn")
async def test_ice_servers_stun_and_turn_credentials(calls):
    u = calls.uid("turnuser")
    d = await calls.device(register=False)
    before = now()
    reply = await d.ok({"request": "register", "user": u}, "registered")
    after = now()
    servers = reply.data["ice_servers"]
    assert isinstance(servers, list) and servers, reply

    def urls(s):
        v = s.get("urls")
        return [v] if isinstance(v, str) else list(v or [])

    stun = [x for s in servers for x in urls(s) if x.startswith("stun")]
    assert sorted(stun) == sorted(STUN_URIS), servers
    for s in servers:
        if all(x.startswith("stun") for x in urls(s)):
            assert "credential" not in s, "a STUN entry carries a credential: %s" % s
    turn_entries = [s for s in servers if any(x.startswith("turn") for x in urls(s))]
    assert sorted(x for s in turn_entries for x in urls(s)) == sorted(TURN_URIS), servers
    for s in turn_entries:
        username = s.get("username")
        assert isinstance(username, str) and ":" in username, s
        expiry, _, name = username.partition(":")
        assert name == u, "TURN username %r should be <expiry>:%s" % (username, u)
        assert expiry.isdigit(), s
        assert before + TURN_TTL - 2 <= int(expiry) <= after + TURN_TTL + 2, \
            "TURN expiry %s not about now+%d (%d)" % (expiry, TURN_TTL, before + TURN_TTL)
        want = base64.b64encode(hmac.new(TURN_SECRET.encode(), username.encode(),
                                         hashlib.sha1).digest()).decode()
        assert s.get("credential") == want, "TURN credential %r, expected %r" % (s.get("credential"), want)


# ------------------------------------------------------------ limits

@pytest.mark.janus("limits")
async def test_oversize_body_400_small_limit(calls):
    d = await calls.device(register=False)
    # 400 even before registering (400 is checked before 401)
    await d.err({"request": "register", "user": calls.uid("big"), "pad": "p" * 2100}, 400)
    reply = await d.ok({"request": "register", "user": calls.uid("big"), "pad": "p" * 1500},
                       "registered")
    assert reply.data["user"] == calls.uid("big")


@pytest.mark.janus("limits")
async def test_oversize_counts_jsep_sdp(calls):
    """The limit covers the body plus the JSEP's SDP: a body well under the
    limit with an audio+video offer goes over it."""
    a = await calls.device(calls.uid("sdpa"))
    b = await calls.device(calls.uid("sdpb"))
    body = {"request": "call", "to": b.user, "video": True, "pad": "p" * 1200}
    assert len(json.dumps(body, separators=(",", ":"))) < 1300
    await a.err(dict(body), 409)          # body alone: under the limit (fails for the missing JSEP)
    jsep = await a.offer(audio=True, video=True)
    assert len(jsep["sdp"]) > 2048
    await asyncio.sleep(1.1)              # refill the rate-limit bucket
    await a.err(dict(body), 400, jsep=jsep)
    await b.no_event("incoming_call", within=0.5)


@pytest.mark.janus("limits")
async def test_rate_limit_429(calls):
    d = await calls.device(calls.uid("rl"))
    other = await calls.device(calls.uid("rl2"))
    await asyncio.sleep(1.2)  # full bucket: 5 tokens
    body = {"request": "call_info", "call_id": "00000000-0000-4000-8000-000000000000"}
    replies = await asyncio.gather(*[d.request(dict(body)) for _ in range(12)])
    codes = [r.error_code for r in replies]
    assert all(r.kind == "plugin" and r.name == "error" for r in replies), replies
    assert set(codes) <= {404, 429}, codes
    ok, limited = codes.count(404), codes.count(429)
    assert 5 <= ok <= 6 and limited >= 6, "with rate_limit 5: %d answered, %d limited (%s)" % (
        ok, limited, codes)
    for r in replies:
        if r.error_code == 429:
            calls_client.check_error_shape(r, body)
    # another device has its own bucket
    await other.err(dict(body), 404)
    # the bucket refills
    await asyncio.sleep(1.2)
    await d.err(dict(body), 404)

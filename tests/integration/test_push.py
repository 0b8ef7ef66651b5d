"""Push delivery against local stand-ins of the providers
(tests/lib/push_servers.py): a webhook server that checks the signature, an
FCM token and send endpoint that check the service-account JWT and the
bearer token, and an HTTP/2 TLS server in place of APNs that checks the
path, the headers and the ES256 provider token. Every push the stand-ins
recorded must have passed all their checks (`problems` empty).

The "push" configuration rings for 8 s, retries twice, and gives an attempt
8 s (conftest.py)."""

import asyncio
import time

import pytest

from flows import answer, hang_up, media_flows, wait_ended
from test_push_registrations import wait_rows

pytestmark = [pytest.mark.janus("push"), pytest.mark.timeout(120)]

RING_TIMEOUT = 8


def of_call(call_id, type_=None):
    """Predicate: a push record of this call (and type)."""
    def pred(rec):
        body = rec.get("body") or {}
        data = rec.get("data") or body.get("calls") or body
        return data.get("call_id") == call_id and (type_ is None or data.get("type") == type_)
    return pred


def valid(rec):
    assert rec["problems"] == [], "the stand-in found problems: %r" % rec
    return rec


async def offline_with(calls, platform, token, device="phone", voip=False, user=None):
    """A user whose device registered a push token and went away."""
    user = user or calls.uid("bob")
    d = await calls.device(user, device=device)
    await d.ok({"request": "push_register", "platform": platform, "token": token, "voip": voip},
               "push_registered")
    await d.ok({"request": "unregister"}, "unregistered")
    return user


async def stats(calls):
    return await calls.admin_ok({"request": "stats"}, "stats")


async def push_counts(calls):
    s = await stats(calls)
    return s["pushes_sent"], s["pushes_failed"]


async def wait_registrations(db, user, want, timeout=15):
    """Waits until user's push registrations are want: (device, platform,
    token) tuples, sorted."""
    await wait_rows(db, user, want, timeout, voip=False)


async def test_webhook_wakes_offline_callee_and_call_connects_with_media(calls, push, db):
    a = await calls.device(calls.uid("alice"), display="Alice")
    bob = await offline_with(calls, "webhook", "app-token-phone")
    await wait_registrations(db, bob, [("phone", "webhook", "app-token-phone")])

    started = time.time()
    reply = await a.call(bob, video=True)
    call_id = reply.data["call_id"]
    rec = valid(await push.webhook.await_for(of_call(call_id, "incoming_call")))
    assert rec["signature_ok"] is True
    body = rec["body"]
    assert body["from"] == a.user and body["display"] == "Alice" and body["to"] == bob, body
    assert body["device"] == "phone" and body["platform"] == "webhook" and body["token"] == "app-token-phone", body
    assert body["video"] is True and body.get("voip") is False, body
    assert abs(body["sent_at"] - started) <= 5, body
    assert abs(body["expires_at"] - (started + RING_TIMEOUT)) <= 2, body
    assert int(rec["headers"]["x-calls-timestamp"]) == body["sent_at"], rec
    # A push alone is not ringing.
    await a.no_event("ringing", within=0.5)

    # The phone wakes up and registers: it rings at once, and the caller
    # now hears it ringing.
    phone = await calls.device(bob, device="phone")
    inc = await phone.wait_event("incoming_call", call_id=call_id)
    assert inc.jsep and inc.jsep["type"] == "offer", inc
    await a.wait_event("ringing", call_id=call_id)
    info = await phone.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data["state"] == "ringing", info
    await answer(a, phone, inc, video=True)
    await media_flows(a, phone)
    await hang_up(a, call_id)
    await wait_ended(phone, call_id, "hangup")
    # It answered: no call_ended push to the phone, and no missed_call.
    await asyncio.sleep(1)
    assert push.webhook.count(of_call(call_id)) == 1, push.webhook.requests


async def test_fcm_cancel_sends_call_ended_and_missed_call(calls, push, db):
    a = await calls.device(calls.uid("alice"), display="Alice")
    bob = await offline_with(calls, "fcm", "fcm-token-tablet", device="tablet")
    await wait_registrations(db, bob, [("tablet", "fcm", "fcm-token-tablet")])
    sent0, _ = await push_counts(calls)

    reply = await a.call(bob)
    call_id = reply.data["call_id"]
    rec = valid(await push.fcm.await_for(of_call(call_id, "incoming_call")))
    # The bearer is a token the stand-in issued for a verified assertion.
    assert push.fcm.token_requests, "no OAuth token request"
    tok = valid(push.fcm.token_requests[-1])
    assert tok["jwt_ok"] is True and tok["jwt_claims"]["aud"] == push.fcm.token_url, tok
    assert rec["token"] == "fcm-token-tablet" and rec["android"] == {"priority": "HIGH", "ttl": "0s",
                                                                     "collapse_key": call_id}, rec
    data = rec["data"]
    assert data["caller"] == a.user and "from" not in data and data["to"] == bob and data["video"] == "false", data
    assert all(isinstance(v, str) for v in data.values()), data

    await hang_up(a, call_id)
    ended = valid(await push.fcm.await_for(of_call(call_id, "call_ended")))
    assert ended["data"]["reason"] == "cancelled" and ended["android"]["ttl"] == "0s", ended
    missed = valid(await push.fcm.await_for(of_call(call_id, "missed_call")))
    ttl = int(missed["android"]["ttl"].rstrip("s"))
    assert 86000 < ttl <= 86400, missed
    # Each once; one token exchange served all three.
    await asyncio.sleep(1)
    assert push.fcm.count(of_call(call_id)) == 3, push.fcm.requests
    assert len(push.fcm.token_requests) == 1, push.fcm.token_requests
    sent, _ = await push_counts(calls)
    assert sent - sent0 == 3


async def test_apns_voip_ring_times_out_missed_call_on_alert_token(calls, push, db):
    a = await calls.device(calls.uid("alice"), display="Alice")
    bob = calls.uid("bob")
    d = await calls.device(bob, device="iphone")
    await d.ok({"request": "push_register", "platform": "apns", "token": "aa11voip", "voip": True},
               "push_registered")
    await d.ok({"request": "push_register", "platform": "apns", "token": "bb22alert"}, "push_registered")
    await d.ok({"request": "unregister"}, "unregistered")
    await wait_registrations(db, bob, [("iphone", "apns", "aa11voip"), ("iphone", "apns", "bb22alert")])

    reply = await a.call(bob, video=True)
    call_id = reply.data["call_id"]
    ring = valid(await push.apns.await_for(of_call(call_id, "incoming_call")))
    assert ring["token"] == "aa11voip" and ring["http_version"] == "2", ring
    h = ring["headers"]
    assert h["apns-push-type"] == "voip" and h["apns-topic"] == "org.example.calls.voip", h
    assert h["apns-expiration"] == "0" and h["apns-priority"] == "10", h
    assert ring["jwt_ok"] is True and ring["jwt_header"]["kid"] == "KEY1234567", ring
    assert ring["body"]["aps"] == {} and ring["body"]["calls"]["from"] == a.user, ring

    await wait_ended(a, call_id, "no_answer", timeout=RING_TIMEOUT + 3)
    ended = valid(await push.apns.await_for(of_call(call_id, "call_ended")))
    assert ended["token"] == "aa11voip" and ended["body"]["calls"]["reason"] == "missed", ended
    missed = valid(await push.apns.await_for(of_call(call_id, "missed_call")))
    assert missed["token"] == "bb22alert", missed
    h = missed["headers"]
    assert h["apns-push-type"] == "alert" and h["apns-topic"] == "org.example.calls", h
    assert missed["body"]["aps"]["alert"] == {"title": "Alice", "body": "Missed video call"}, missed
    await asyncio.sleep(1)
    assert push.apns.count(of_call(call_id)) == 3, push.apns.requests
    # HTTP/2: every push of the test on one connection.
    assert push.apns.connections == 1, push.apns.connections


async def test_slow_endpoint_does_not_delay_signalling(calls, push, db):
    a = await calls.device(calls.uid("alice"))
    bob = await offline_with(calls, "webhook", "slow-token")
    await wait_registrations(db, bob, [("phone", "webhook", "slow-token")])
    push.webhook.delay = 5
    t0 = time.monotonic()
    reply = await a.call(bob)
    calling_s = time.monotonic() - t0
    call_id = reply.data["call_id"]
    assert calling_s < 1.0, "calling took %.3f s" % calling_s
    # While that push hangs, another call rings and connects as usual.
    c = await calls.device(calls.uid("carol"))
    dave = await calls.device(calls.uid("dave"))
    t1 = time.monotonic()
    r2 = await c.call(dave.user)
    inc = await dave.wait_event("incoming_call", call_id=r2.data["call_id"])
    await c.wait_event("ringing", call_id=r2.data["call_id"])
    await answer(c, dave, inc)
    other_s = time.monotonic() - t1
    assert other_s < 2.0, "a call beside the slow push took %.3f s to connect" % other_s
    # ... and the slow push is delivered once the endpoint answers.
    rec = valid(await push.webhook.await_for(of_call(call_id, "incoming_call"), timeout=10))
    assert rec["arrived"] - t0 < 3, "the push was sent late"
    deadline = time.monotonic() + 10
    while (await stats(calls))["pushes_pending"] > 0:
        assert time.monotonic() < deadline, "the slow push never completed"
        await asyncio.sleep(0.2)
    print("calling reply %.1f ms, a call beside it connected in %.1f ms" % (calling_s * 1000, other_s * 1000))
    await hang_up(a, call_id)


async def test_transient_failures_are_retried_with_backoff(calls, push, db):
    a = await calls.device(calls.uid("alice"))
    bob = await offline_with(calls, "webhook", "flaky-token")
    await wait_registrations(db, bob, [("phone", "webhook", "flaky-token")])
    push.webhook.fail_times["flaky-token"] = 2
    sent0, failed0 = await push_counts(calls)
    reply = await a.call(bob)
    call_id = reply.data["call_id"]
    deadline = time.monotonic() + 10
    while push.webhook.count(of_call(call_id, "incoming_call")) < 3:
        assert time.monotonic() < deadline, push.webhook.requests
        await asyncio.sleep(0.1)
    tries = [r for r in push.webhook.requests if of_call(call_id, "incoming_call")(r)]
    assert [r["status"] for r in tries] == [503, 503, 200], tries
    gaps = [tries[i + 1]["arrived"] - tries[i]["arrived"] for i in range(2)]
    # 500 ms then 1 s, each +-25 %.
    assert 0.3 < gaps[0] < 1.0 and 0.7 < gaps[1] < 2.0, gaps
    # A fresh signature for every attempt.
    assert all(valid(r)["signature_ok"] for r in tries)
    await asyncio.sleep(0.3)
    sent, failed = await push_counts(calls)
    assert (sent - sent0, failed - failed0) == (1, 0)
    await hang_up(a, call_id)


@pytest.mark.parametrize("platform,token,server,status", [
    ("webhook", "dead-webhook", "webhook", 410),
    ("apns", "deadbeef01", "apns", 410),
    ("fcm", "dead-fcm", "fcm", 404),
])
async def test_dead_registration_is_removed(calls, push, db, platform, token, server, status):
    a = await calls.device(calls.uid("alice"))
    bob = await offline_with(calls, platform, token)
    await wait_registrations(db, bob, [("phone", platform, token)])
    getattr(push, server).respond[token] = status
    _, failed0 = await push_counts(calls)
    reply = await a.call(bob)
    call_id = reply.data["call_id"]
    rec = valid(await getattr(push, server).await_for(of_call(call_id, "incoming_call")))
    assert rec["status"] == status, rec
    await wait_registrations(db, bob, [])
    _, failed = await push_counts(calls)
    assert failed - failed0 == 1
    await hang_up(a, call_id)
    # Not tried again, for this call or the next: that one finds the
    # callee unreachable. (A new caller device: the old one's
    # PeerConnection may still be closing.)
    a2 = await calls.device(calls.uid("alice2"))
    reply = await a2.call(bob)
    await wait_ended(a2, reply.data["call_id"], "unavailable")
    assert getattr(push, server).count(lambda r: r.get("token") == token) == 1


async def test_fcm_expired_access_token_is_renewed(calls, push, db):
    a = await calls.device(calls.uid("alice"))
    bob = await offline_with(calls, "fcm", "fcm-renew")
    await wait_registrations(db, bob, [("phone", "fcm", "fcm-renew")])
    reply = await a.call(bob)
    call_id = reply.data["call_id"]
    await push.fcm.await_for(of_call(call_id, "incoming_call"))
    await hang_up(a, call_id)
    await push.fcm.await_for(of_call(call_id, "missed_call"))
    tokens0 = len(push.fcm.token_requests)
    push.fcm.expire_tokens()
    a2 = await calls.device(calls.uid("alice2"))
    reply = await a2.call(bob)
    call_id = reply.data["call_id"]
    rec = await push.fcm.await_for(lambda r: of_call(call_id, "incoming_call")(r) and r["status"] == 200)
    valid(rec)
    statuses = [r["status"] for r in push.fcm.requests if of_call(call_id, "incoming_call")(r)]
    assert statuses == [401, 200], statuses
    assert len(push.fcm.token_requests) == tokens0 + 1
    await hang_up(a2, call_id)


async def test_online_device_is_not_pushed_and_offline_one_is(calls, push, db):
    a = await calls.device(calls.uid("alice"))
    bob = calls.uid("bob")
    laptop = await calls.device(bob, device="laptop")
    await laptop.ok({"request": "push_register", "platform": "webhook", "token": "laptop-token"}, "push_registered")
    await offline_with(calls, "webhook", "phone-token", user=bob)
    await wait_registrations(db, bob, [("laptop", "webhook", "laptop-token"), ("phone", "webhook", "phone-token")])
    reply = await a.call(bob)
    call_id = reply.data["call_id"]
    await laptop.wait_event("incoming_call", call_id=call_id)
    await a.wait_event("ringing", call_id=call_id)
    rec = valid(await push.webhook.await_for(of_call(call_id, "incoming_call")))
    assert rec["body"]["device"] == "phone", rec
    # Declined on the laptop: the phone stops ringing; nothing was missed.
    await laptop.ok({"request": "decline", "call_id": call_id}, "declined")
    rec = valid(await push.webhook.await_for(of_call(call_id, "call_ended")))
    assert rec["body"]["device"] == "phone" and rec["body"]["reason"] == "declined_elsewhere", rec
    await asyncio.sleep(1)
    assert push.webhook.count(of_call(call_id)) == 2, push.webhook.requests


@pytest.mark.janus("history")
async def test_register_for_an_unconfigured_provider_is_refused(calls):
    d = await calls.device(calls.uid("ann"))
    reply = await d.err({"request": "push_register", "platform": "apns", "token": "t"}, 400)
    assert "apns" in reply.data["error"], reply


async def test_ring_waiting_for_a_retry_is_dropped_when_the_call_ends(calls, push, db):
    """A phone must not start ringing for a call that is over: an
    incoming_call waiting for its retry is dropped when call_ended comes,
    and call_ended still goes (the first attempt may have reached it)."""
    a = await calls.device(calls.uid("alice"))
    bob = await offline_with(calls, "webhook", "retry-token")
    await wait_registrations(db, bob, [("phone", "webhook", "retry-token")])
    push.webhook.fail_times["retry-token"] = 1
    reply = await a.call(bob)
    call_id = reply.data["call_id"]
    first = await push.webhook.await_for(of_call(call_id, "incoming_call"))
    assert first["status"] == 503, first
    # The retry is due in about 0.5 s: cancel before that.
    await hang_up(a, call_id)
    valid(await push.webhook.await_for(of_call(call_id, "call_ended")))
    valid(await push.webhook.await_for(of_call(call_id, "missed_call")))
    await asyncio.sleep(1.5)
    assert push.webhook.count(of_call(call_id, "incoming_call")) == 1, push.webhook.requests
    order = [r["body"]["type"] for r in push.webhook.requests if of_call(call_id)(r)]
    assert order == ["incoming_call", "call_ended", "missed_call"], order


async def test_start_warns_about_cleartext_provider_urls(calls):
    """The stand-ins for the webhook and FCM are http://: allowed, with a
    warning naming each setting; APNs here is https:// and not named."""
    with open(calls.janus.log_path, "rb") as f:
        log = f.read().decode(errors="replace")
    for setting in ("push.webhook_url", "push.fcm.base_url", "push.fcm.token_url"):
        assert "%s is http://" % setting in log, setting
    assert "push.apns.base_url is http://" not in log


async def test_group_call_pushes_offline_members(calls, push, db):
    """An offline member of a group call is woken with the group in the push,
    joins from the woken phone, and its ring stops; a member who never joins
    gets call_ended and missed_call when the last participant leaves."""
    from group_peer import participant
    a = await participant(calls, calls.uid("alice"), display="Alice")
    bob = await offline_with(calls, "webhook", "tok-bob", user=calls.uid("bob"))
    carol = await offline_with(calls, "webhook", "tok-carol", user=calls.uid("carol"))
    await wait_registrations(db, bob, [("phone", "webhook", "tok-bob")])
    await wait_registrations(db, carol, [("phone", "webhook", "tok-carol")])
    await a.group_call([bob, carol], video=True, title="Standup")
    call_id = a.call_id
    for user in (bob, carol):
        rec = valid(await push.webhook.await_for(
            lambda r, u=user: of_call(call_id, "incoming_call")(r) and r["body"]["to"] == u))
        body = rec["body"]
        assert body["group"] == {"title": "Standup", "members": [a.user, bob, carol]}, body
        assert body["from"] == a.user and body["display"] == "Alice" and body["video"] is True, body
    # Bob's phone wakes, rings and joins: no call_ended push to it.
    b = await participant(calls, bob, device="phone")
    inc = await b.dev.wait_event("incoming_call", call_id=call_id)
    assert inc.data["group"]["title"] == "Standup" and inc.jsep is None, inc
    await b.join(call_id=call_id)
    await a.dev.wait_event("participant_joined", call_id=call_id)
    # Everyone leaves: Carol, who never joined, is told the ring is over and
    # that she missed it; Bob gets nothing more.
    await b.leave()
    await a.leave()
    ended = valid(await push.webhook.await_for(
        lambda r: of_call(call_id, "call_ended")(r) and r["body"]["to"] == carol))
    assert ended["body"]["reason"] == "cancelled" and ended["body"]["group"]["title"] == "Standup", ended
    valid(await push.webhook.await_for(
        lambda r: of_call(call_id, "missed_call")(r) and r["body"]["to"] == carol))
    await asyncio.sleep(1)
    to_bob = [r["body"]["type"] for r in push.webhook.requests if of_call(call_id)(r) and r["body"]["to"] == bob]
    assert to_bob == ["incoming_call"], to_bob

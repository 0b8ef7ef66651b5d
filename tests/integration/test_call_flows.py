"""One-to-one call outcomes without answer, call waiting, timeouts, and request errors."""

import asyncio
import time

import pytest

from flows import (answer, check_incoming, hang_up, media_flows, ring, wait_ended, UUID_RE)

NO_CALL = "00000000-0000-4000-8000-000000000000"


async def callee_pair(calls, n=2):
    a = await calls.device(calls.uid("a"))
    bu = calls.uid("b")
    bs = [await calls.device(bu, device="d%d" % i) for i in range(n)]
    return a, bs


# ------------------------------------------------------------ outcomes before an answer

async def test_decline(calls):
    a, (b1, b2) = await callee_pair(calls)
    call_id, inc = await ring(a, [b1, b2])
    reply = await b1.ok({"request": "decline", "call_id": call_id}, "declined")
    assert reply.data.get("call_id") == call_id, reply
    await wait_ended(a, call_id, "declined")
    await wait_ended(b2, call_id, "declined_elsewhere")
    await b1.no_event("ended", within=0.3)
    info = await a.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("state") == "ended" and info.data.get("reason") == "declined", info


async def test_decline_busy(calls):
    a, (b1, b2) = await callee_pair(calls)
    call_id, inc = await ring(a, [b1, b2])
    await b2.ok({"request": "decline", "call_id": call_id, "reason": "busy"}, "declined")
    await wait_ended(a, call_id, "busy")
    await wait_ended(b1, call_id, "declined_elsewhere")


async def test_decline_explicit_reason_declined(calls):
    a, (b1,) = await callee_pair(calls, 1)
    call_id, inc = await ring(a, [b1])
    await b1.ok({"request": "decline", "call_id": call_id, "reason": "declined"}, "declined")
    await wait_ended(a, call_id, "declined")


async def test_decline_bad_reason_400(calls):
    a, (b1,) = await callee_pair(calls, 1)
    call_id, inc = await ring(a, [b1])
    await b1.err({"request": "decline", "call_id": call_id, "reason": "maybe"}, 400)
    await b1.err({"request": "decline", "call_id": call_id, "reason": 1}, 400)
    info = await b1.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data["state"] == "ringing", info


async def test_callee_hangup_before_answer_is_decline(calls):
    a, (b1, b2) = await callee_pair(calls)
    call_id, inc = await ring(a, [b1, b2])
    await hang_up(b1, call_id)
    await wait_ended(a, call_id, "declined")
    await wait_ended(b2, call_id, "declined_elsewhere")


async def test_caller_decline_409(calls):
    a, (b1,) = await callee_pair(calls, 1)
    call_id, inc = await ring(a, [b1])
    await a.err({"request": "decline", "call_id": call_id}, 409)
    info = await a.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data["state"] == "ringing", info


async def test_cancel(calls):
    a, (b1, b2) = await callee_pair(calls)
    call_id, inc = await ring(a, [b1, b2])
    await hang_up(a, call_id)
    await wait_ended(b1, call_id, "cancelled")
    await wait_ended(b2, call_id, "cancelled")
    await a.no_event("ended", within=0.3)
    info = await b1.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("state") == "ended" and info.data.get("reason") == "cancelled", info
    # accepting a cancelled (ended) call without a JSEP: 404 (ended) or 409 (no JSEP):
    # docs/protocol.md gives both rules and no order between them
    await b1.err({"request": "accept", "call_id": call_id}, {404, 409})
    # accepting it with the answer ready (the race a user can hit): never a success;
    # the core may refuse the answer itself once the plugin closed the PeerConnection
    ans = await b2.answer(inc[b2].jsep)
    reply = await b2.request({"request": "accept", "call_id": call_id}, jsep=ans)
    assert reply.kind == "core_error" or (reply.name == "error" and reply.error_code == 404), reply
    await b2.err({"request": "decline", "call_id": call_id}, 404)


async def test_callee_offline_unavailable(calls):
    a = await calls.device(calls.uid("a"))
    reply = await a.call(calls.uid("nobody"))
    call_id = reply.data["call_id"]
    assert UUID_RE.match(call_id)
    await wait_ended(a, call_id, "unavailable")
    await a.no_event("ringing", within=0.3)
    info = await a.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("state") == "ended" and info.data.get("reason") == "unavailable", info
    # the device is free again (once Janus reports its PeerConnection closed)
    await a.wait_pc_down()
    b = await calls.device(calls.uid("b"))
    await ring(a, [b])


async def test_device_registering_while_ringing_gets_call_at_once(calls):
    a, (b1,) = await callee_pair(calls, 1)
    call_id, inc = await ring(a, [b1])
    late = await calls.device(register=False)
    await late.ok({"request": "register", "user": b1.user, "device": "late"}, "registered")
    ev = await late.wait_event("incoming_call", call_id=call_id)
    check_incoming(ev, call_id, a, video=False)
    # and can answer it
    await answer(a, late, ev)
    await wait_ended(b1, call_id, "answered_elsewhere")
    await media_flows(a, late, video=0)


async def test_callee_first_device_registering_while_ringing(calls):
    """A callee device that reconnects (same device id, new handle) while the
    call rings: the old handle is replaced, the new one gets the call."""
    a, (b1,) = await callee_pair(calls, 1)
    call_id, inc = await ring(a, [b1])
    again = await calls.device(register=False)
    await again.ok({"request": "register", "user": b1.user, "device": b1.device}, "registered")
    ev = await b1.wait_event("unregistered")
    assert ev.get("reason") == "replaced", ev
    ev = await again.wait_event("incoming_call", call_id=call_id)
    check_incoming(ev, call_id, a, video=False)
    await answer(a, again, ev)
    await media_flows(a, again, video=0)


# ------------------------------------------------------------ request errors

@pytest.mark.parametrize("case", ["self", "bad_id", "to_number", "video_string", "to_missing"])
async def test_call_bad_request_400(calls, case):
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    body = {"self": {"request": "call", "to": a.user},
            "bad_id": {"request": "call", "to": "not a user"},
            "to_number": {"request": "call", "to": 7},
            "video_string": {"request": "call", "to": b.user, "video": "yes"},
            "to_missing": {"request": "call"}}[case]
    await a.err(body, 400, jsep=await a.offer(video=False))
    await b.no_event("incoming_call", within=0.3)


async def test_call_without_jsep_409(calls):
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    await a.err({"request": "call", "to": b.user}, 409)
    await a.err({"request": "call", "to": b.user}, 409, jsep=None)
    await b.no_event("incoming_call", within=0.3)
    await ring(a, [b])


async def test_rejected_call_offer_then_call_again(calls):
    """A call refused with 400 changes nothing: the device can call again with a new offer."""
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    await a.err({"request": "call", "to": a.user}, 400, jsep=await a.offer(video=False))
    try:
        await a.handle.wait_core("hangup", 3)      # the plugin may close the half-set-up PeerConnection
    except AssertionError:
        pass
    await a.drop_media()
    call_id, inc = await ring(a, [b])
    await answer(a, b, inc[b])
    await media_flows(a, b, video=0)


async def test_cancel_then_call_again(calls):
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    call_id, inc = await ring(a, [b])
    await hang_up(a, call_id)
    await wait_ended(b, call_id, "cancelled")
    await a.wait_pc_down()
    await b.wait_pc_down()
    call2, inc = await ring(a, [b])
    await answer(a, b, inc[b])
    await media_flows(a, b, video=0)


async def test_jsep_not_allowed_409(calls):
    a = await calls.device(register=False)
    jsep = await a.offer(video=False)
    await a.err({"request": "register", "user": calls.uid("a")}, 409, jsep=jsep)
    await a.err({"request": "unregister"}, 401)  # the register changed nothing
    b = await calls.device(calls.uid("b"))
    await b.err({"request": "unregister"}, 409, jsep=await b.offer(video=False))
    # still registered
    await b.err({"request": "call_info", "call_id": NO_CALL}, 404)


async def test_accept_without_jsep_409_then_accept(calls):
    a, (b1,) = await callee_pair(calls, 1)
    call_id, inc = await ring(a, [b1])
    await b1.err({"request": "accept", "call_id": call_id}, 409)
    await a.no_event("accepted", within=0.3)
    await answer(a, b1, inc[b1])
    await media_flows(a, b1, video=0)


async def test_update_without_jsep_409(calls):
    a, (b1,) = await callee_pair(calls, 1)
    call_id, inc = await ring(a, [b1])
    await answer(a, b1, inc[b1])
    await a.err({"request": "update", "call_id": call_id}, 409)
    await b1.no_event("update", within=0.3)


async def test_not_part_of_call_403(calls):
    a, (b1,) = await callee_pair(calls, 1)
    c = await calls.device(calls.uid("c"))
    call_id, inc = await ring(a, [b1])
    await c.err({"request": "call_info", "call_id": call_id}, 403)
    await c.err({"request": "hangup", "call_id": call_id}, 403)
    await c.err({"request": "decline", "call_id": call_id}, 403)
    await c.err({"request": "media", "call_id": call_id, "audio": False, "video": False}, 403)
    await answer(a, b1, inc[b1])
    await c.err({"request": "call_info", "call_id": call_id}, 403)
    await c.err({"request": "hangup", "call_id": call_id}, 403)
    await c.err({"request": "update", "call_id": call_id}, 403, jsep=await c.offer(video=False))
    await a.no_event("ended", within=0.3)
    await b1.no_event("ended", within=0.1)
    await media_flows(a, b1, video=0)


async def test_unknown_call_404(calls):
    a = await calls.device(calls.uid("a"))
    for body in ({"request": "call_info", "call_id": NO_CALL},
                 {"request": "hangup", "call_id": NO_CALL},
                 {"request": "decline", "call_id": NO_CALL},
                 {"request": "media", "call_id": NO_CALL, "audio": True, "video": True}):
        await a.err(body, 404)


async def test_device_in_call_calling_again_409(calls):
    """`call` from a device in an answered call: 409. (While its own call still
    rings out, Janus's core itself refuses a second offer on the handle.)"""
    a, (b1,) = await callee_pair(calls, 1)
    c = await calls.device(calls.uid("c"))
    call_id, inc = await ring(a, [b1])
    await answer(a, b1, inc[b1])
    await a.err({"request": "call", "to": c.user}, 409, jsep=await a.media.offer())
    await b1.err({"request": "call", "to": c.user}, 409, jsep=await b1.media.offer())
    await c.no_event("incoming_call", within=0.3)
    await media_flows(a, b1, video=0)


async def test_callee_other_device_call_info_during_call(calls):
    """call_info answers any device of a user of the call, also one that registered later."""
    a, (b1,) = await callee_pair(calls, 1)
    call_id, inc = await ring(a, [b1])
    await answer(a, b1, inc[b1])
    b3 = await calls.device(b1.user, device="later")
    await b3.no_event("incoming_call", within=0.3)
    info = await b3.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("call_id") == call_id and info.data.get("state") == "active", info


# ------------------------------------------------------------ call waiting

async def test_call_waiting_decline_and_end_and_accept(calls):
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    c = await calls.device(calls.uid("c"))
    d = await calls.device(calls.uid("d"))
    call_ab, inc = await ring(a, [b])
    await answer(a, b, inc[b])
    await media_flows(a, b, video=0)

    # D calls B: waiting, D declined as busy
    call_db, _ = await ring(d, [b], waiting=(b,))
    await b.err({"request": "accept", "call_id": call_db}, 409)   # accept while waiting
    await b.ok({"request": "decline", "call_id": call_db, "reason": "busy"}, "declined")
    await wait_ended(d, call_db, "busy")

    # C calls B: waiting; B ends its call and gets C's call again with the offer
    call_cb, _ = await ring(c, [b], video=True, waiting=(b,))
    await hang_up(b, call_ab)
    await wait_ended(a, call_ab, "hangup", answered=True)
    await b.drop_media()
    ev = await b.wait_event("incoming_call", timeout=8, call_id=call_cb)
    check_incoming(ev, call_cb, c, video=True)
    await answer(c, b, ev)
    await media_flows(b, c)
    await hang_up(c, call_cb)
    await wait_ended(b, call_cb, "hangup", answered=True)


async def test_call_waiting_caller_cancels_waiting_call(calls):
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    c = await calls.device(calls.uid("c"))
    call_ab, inc = await ring(a, [b])
    await answer(a, b, inc[b])
    call_cb, _ = await ring(c, [b], waiting=(b,))
    await hang_up(c, call_cb)
    await wait_ended(b, call_cb, "cancelled")
    # B's own call is untouched
    await media_flows(a, b, video=0)
    await hang_up(b, call_ab)
    await b.no_event("incoming_call", within=1.0)


async def test_call_waiting_idle_device_rings_normally(calls):
    """With one device in a call and one idle, the idle one gets the JSEP, the busy one waits."""
    a = await calls.device(calls.uid("a"))
    bu = calls.uid("b")
    b1 = await calls.device(bu, device="busy")
    b2 = await calls.device(bu, device="idle")
    call_ab, inc = await ring(a, [b1, b2])
    await answer(a, b1, inc[b1])
    await wait_ended(b2, call_ab, "answered_elsewhere")
    c = await calls.device(calls.uid("c"))
    await b2.wait_pc_down()
    call_cb, inc = await ring(c, [b1, b2], waiting=(b1,))
    await answer(c, b2, inc[b2])
    await wait_ended(b1, call_cb, "answered_elsewhere")
    await media_flows(c, b2, video=0)
    await media_flows(a, b1, video=0)


@pytest.mark.janus("nowait")
async def test_busy_without_call_waiting(calls):
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    c = await calls.device(calls.uid("c"))
    call_ab, inc = await ring(a, [b])
    await answer(a, b, inc[b])
    reply = await c.call(b.user)
    call_cb = reply.data["call_id"]
    await wait_ended(c, call_cb, "busy")
    await c.no_event("ringing", within=0.3)
    await b.no_event("incoming_call", within=0.3)
    await media_flows(a, b, video=0)


@pytest.mark.janus("nowait")
async def test_no_call_waiting_idle_device_still_rings(calls):
    a = await calls.device(calls.uid("a"))
    bu = calls.uid("b")
    b1 = await calls.device(bu, device="busy")
    b2 = await calls.device(bu, device="idle")
    call_ab, inc = await ring(a, [b1, b2])
    await answer(a, b1, inc[b1])
    await wait_ended(b2, call_ab, "answered_elsewhere")
    await b2.wait_pc_down()
    c = await calls.device(calls.uid("c"))
    call_cb, inc = await ring(c, [b2])
    await b1.no_event("incoming_call", within=0.3)


# ------------------------------------------------------------ timeouts (ring_timeout 3, ice_grace 2)

@pytest.mark.janus("short")
async def test_ring_timeout_no_answer_missed(calls):
    a, (b1, b2) = await callee_pair(calls)
    t = time.monotonic()
    call_id, inc = await ring(a, [b1, b2])
    await wait_ended(a, call_id, "no_answer", timeout=7)
    waited = time.monotonic() - t
    assert 2.5 <= waited <= 6, "no_answer after %.1fs with ring_timeout 3" % waited
    await wait_ended(b1, call_id, "missed", timeout=1)
    await wait_ended(b2, call_id, "missed", timeout=1)
    info = await b1.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("state") == "ended" and info.data.get("reason") in ("missed", "no_answer"), info
    # ended: 404, or 409 for the missing JSEP (no order documented between the two)
    await b1.err({"request": "accept", "call_id": call_id}, {404, 409})
    ans = await b2.answer(inc[b2].jsep)
    reply = await b2.request({"request": "accept", "call_id": call_id}, jsep=ans)
    assert reply.kind == "core_error" or (reply.name == "error" and reply.error_code == 404), reply


@pytest.mark.janus("short")
async def test_answered_call_outlives_ring_timeout(calls):
    a, (b1,) = await callee_pair(calls, 1)
    call_id, inc = await ring(a, [b1])
    await answer(a, b1, inc[b1])
    await asyncio.sleep(3.5)
    await a.no_event("ended", within=0.1)
    await media_flows(a, b1, video=0)


@pytest.mark.janus("short")
async def test_pc_down_longer_than_ice_grace_fails(calls):
    a, (b1,) = await callee_pair(calls, 1)
    call_id, inc = await ring(a, [b1])
    await answer(a, b1, inc[b1])
    await media_flows(a, b1, video=0)
    t = time.monotonic()
    await b1.drop_media()          # PeerConnection closed, no update, handle stays
    ev = await wait_ended(a, call_id, "failed", timeout=15, answered=True)
    waited = time.monotonic() - t
    assert waited >= 1.5, "ended %.1fs after the PeerConnection closed, before ice_grace (2s): %r" % (
        waited, ev)


@pytest.mark.janus("short")
async def test_pc_restart_within_ice_grace_keeps_call(calls):
    """The PeerConnection goes down; a new one negotiated with update within
    ice_grace keeps the call up."""
    a, (b1,) = await callee_pair(calls, 1)
    call_id, inc = await ring(a, [b1])
    await answer(a, b1, inc[b1])
    await media_flows(a, b1, video=0)
    await a.drop_media()
    await a.handle.wait_core("hangup")   # Janus saw the PeerConnection go (DTLS alert)
    offer = await a.offer(video=False)
    reply = await a.request({"request": "update", "call_id": call_id}, jsep=offer)
    assert not reply.is_error, reply
    ev = await b1.wait_event("update", call_id=call_id)
    ans = await b1.media.answer(ev.jsep)
    await b1.ok({"request": "update", "call_id": call_id}, "updated", jsep=ans)
    ev = await a.wait_event("update", call_id=call_id)
    await a.apply(ev.jsep)
    await media_flows(a, b1, video=0)
    await asyncio.sleep(2.5)
    await a.no_event("ended", within=0.1)
    await b1.no_event("ended", within=0.1)

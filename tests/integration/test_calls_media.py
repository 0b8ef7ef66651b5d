"""One-to-one calls with real media through Janus (aiortc peers)."""

import asyncio
import time

import pytest

from flows import (AUDIO_FRAMES, VIDEO_FRAMES, answer, check_ended, hang_up, media_flows, ring,
                   wait_ended)

pytestmark = pytest.mark.timeout(120)


async def test_video_call_two_callee_devices_full_lifecycle(calls):
    a = await calls.device(calls.uid("alice"), display="Alice")
    bu = calls.uid("bob")
    b1 = await calls.device(bu, device="phone")
    b2 = await calls.device(bu, device="laptop")

    reply = await a.call(bu, video=True)
    call_id = reply.data["call_id"]
    inc1 = await b1.wait_event("incoming_call", call_id=call_id)
    inc2 = await b2.wait_event("incoming_call", call_id=call_id)
    for inc in (inc1, inc2):
        assert inc.get("from") == a.user and inc.get("video") is True, inc
        assert inc.get("display") == "Alice", inc
        assert inc.jsep and inc.jsep["type"] == "offer" and "m=video" in inc.jsep["sdp"], inc
    await a.wait_event("ringing", call_id=call_id)

    info = await a.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("call_id") == call_id and info.data.get("state") == "ringing", info
    info = await b2.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("state") == "ringing", info

    answered_at = await answer(a, b1, inc1, video=True)
    await wait_ended(b2, call_id, "answered_elsewhere")
    # B2's late accept: the call exists but no longer rings
    await b2.err({"request": "accept", "call_id": call_id}, 409)

    await media_flows(a, b1)
    info = await b1.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("state") == "active", info
    info = await b2.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("state") == "active", info

    # mute: the other side learns it
    reply = await a.ok({"request": "media", "call_id": call_id, "audio": False, "video": True},
                       "media_set")
    assert reply.data.get("call_id") == call_id and reply.data.get("audio") is False \
        and reply.data.get("video") is True, reply
    ev = await b1.wait_event("media_state", call_id=call_id)
    assert ev.get("user") == a.user and ev.get("audio") is False and ev.get("video") is True, ev
    await a.no_event("media_state", within=0.3)
    reply = await b1.ok({"request": "media", "call_id": call_id, "audio": True, "video": False},
                        "media_set")
    ev = await a.wait_event("media_state", call_id=call_id)
    assert ev.get("user") == b1.user and ev.get("audio") is True and ev.get("video") is False, ev

    # renegotiation from the caller: offer -> update at B -> answer via update -> update at A
    offer = await a.media.offer()
    reply = await a.ok({"request": "update", "call_id": call_id}, "updated", jsep=offer)
    assert reply.data.get("call_id") == call_id, reply
    ev = await b1.wait_event("update", call_id=call_id)
    assert ev.jsep and ev.jsep["type"] == "offer", ev
    ans = await b1.media.answer(ev.jsep)
    reply = await b1.ok({"request": "update", "call_id": call_id}, "updated", jsep=ans)
    ev = await a.wait_event("update", call_id=call_id)
    assert ev.jsep and ev.jsep["type"] == "answer", ev
    await a.apply(ev.jsep)
    await media_flows(a, b1)

    # renegotiation from the callee too
    offer = await b1.media.offer()
    await b1.ok({"request": "update", "call_id": call_id}, "updated", jsep=offer)
    ev = await a.wait_event("update", call_id=call_id)
    assert ev.jsep and ev.jsep["type"] == "offer", ev
    ans = await a.media.answer(ev.jsep)
    await a.ok({"request": "update", "call_id": call_id}, "updated", jsep=ans)
    ev = await b1.wait_event("update", call_id=call_id)
    assert ev.jsep and ev.jsep["type"] == "answer", ev
    await b1.apply(ev.jsep)
    await media_flows(a, b1)

    await asyncio.sleep(max(0.0, 2.2 - (time.monotonic() - answered_at)))
    elapsed = time.monotonic() - answered_at
    await hang_up(b1, call_id)
    await wait_ended(a, call_id, "hangup", answered=True,
                     min_duration=int(elapsed) - 1, max_duration=int(elapsed) + 2)
    await b2.no_event("ended", within=0.3)

    info = await a.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("state") == "ended" and info.data.get("reason") == "hangup", info
    info = await b2.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("state") == "ended" and info.data.get("reason") == "hangup", info

    # no more requests on the ended call
    await a.err({"request": "hangup", "call_id": call_id}, 404)
    await a.err({"request": "media", "call_id": call_id, "audio": True, "video": True}, 404)


async def test_voice_call_then_video_mid_call(calls):
    a = await calls.device(calls.uid("alice"))
    b = await calls.device(calls.uid("bob"))
    call_id, inc = await ring(a, [b], video=False)
    assert "m=video" not in inc[b].jsep["sdp"], "a voice call offer has video"
    await answer(a, b, inc[b], video=False)
    await media_flows(a, b, video=0)
    assert a.media.frames["video"] == 0 and b.media.frames["video"] == 0

    # A turns the camera on: new offer with video
    offer = await a.media.offer(audio=True, video=True)
    assert "m=video" in offer["sdp"]
    await a.ok({"request": "update", "call_id": call_id}, "updated", jsep=offer)
    ev = await b.wait_event("update", call_id=call_id)
    assert ev.jsep and ev.jsep["type"] == "offer" and "m=video" in ev.jsep["sdp"], ev
    ans = await b.media.answer(ev.jsep, audio=True, video=True)
    await b.ok({"request": "update", "call_id": call_id}, "updated", jsep=ans)
    ev = await a.wait_event("update", call_id=call_id)
    assert ev.jsep and ev.jsep["type"] == "answer", ev
    await a.apply(ev.jsep)
    await media_flows(a, b, audio=AUDIO_FRAMES, video=VIDEO_FRAMES)

    await hang_up(a, call_id)
    await wait_ended(b, call_id, "hangup", answered=True)


async def test_callee_hangup_and_call_again(calls):
    """After a call ended, the same handles can make a new call with new PeerConnections."""
    a = await calls.device(calls.uid("alice"))
    b = await calls.device(calls.uid("bob"))
    call_id, inc = await ring(a, [b], video=True)
    await answer(a, b, inc[b])
    await media_flows(a, b)
    await hang_up(a, call_id)
    await wait_ended(b, call_id, "hangup", answered=True)
    await a.wait_pc_down()   # the plugin closes both PeerConnections
    await b.wait_pc_down()
    call2, inc = await ring(b, [a], video=True)
    assert call2 != call_id
    await answer(b, a, inc[a])
    await media_flows(a, b)
    await hang_up(b, call2)
    await wait_ended(a, call2, "hangup", answered=True)


async def test_detached_handle_mid_call_ends_failed_at_once(calls):
    """A vanished handle ends the call at once (no ice_grace: default 10 s here)."""
    a = await calls.device(calls.uid("alice"))
    b = await calls.device(calls.uid("bob"))
    call_id, inc = await ring(a, [b])
    await answer(a, b, inc[b])
    await media_flows(a, b, video=0)
    t = time.monotonic()
    await b.handle.detach()
    await wait_ended(a, call_id, "failed", timeout=4, answered=True)
    assert time.monotonic() - t < 4
    info = await a.ok({"request": "call_info", "call_id": call_id}, "call_info")
    assert info.data.get("state") == "ended" and info.data.get("reason") == "failed", info


async def test_destroyed_session_mid_call_ends_failed(calls):
    a = await calls.device(calls.uid("alice"))
    b = await calls.device(calls.uid("bob"))
    call_id, inc = await ring(a, [b])
    await answer(a, b, inc[b])
    await media_flows(a, b, video=0)
    await a.conn.destroy()
    await wait_ended(b, call_id, "failed", timeout=4, answered=True)


async def test_closed_websocket_mid_call_ends_failed(calls):
    a = await calls.device(calls.uid("alice"))
    b = await calls.device(calls.uid("bob"))
    call_id, inc = await ring(a, [b])
    await answer(a, b, inc[b])
    await a.media.wait_frames(audio=5, timeout=10)
    # closing the transport without destroying the session: Janus's session
    # keeps existing until session_timeout; the call goes on meanwhile or ends
    # as failed, but must not be reported with any other reason.
    await b.drop_media()
    b.conn.session_id = None
    await b.conn.ws.close()
    ev = await a.handle.events.take(lambda e: e.name == "ended", 15)
    assert ev is not None, "no ended after the callee's WebSocket and PeerConnection went away: %s" % \
        a.handle.events.history
    check_ended(ev, call_id, "failed", answered=True)


def video_target_bitrate(device):
    """What the device's video encoder was told to aim for (aiortc keeps the
    last REMB it received there)."""
    for sender in device.media.pc.getSenders():
        if sender.track is not None and sender.track.kind == "video":
            encoder = getattr(sender, "_RTCRtpSender__encoder", None)
            return getattr(encoder, "target_bitrate", None)
    return None


async def bitrates_after_call(calls):
    a = await calls.device(calls.uid("alice"))
    b = await calls.device(calls.uid("bob"))
    reply = await a.call(b.user, video=True)
    inc = await b.wait_event("incoming_call", call_id=reply.data["call_id"])
    await answer(a, b, inc, video=True)
    await media_flows(a, b)
    await asyncio.sleep(1.5)     # a few REMB rounds
    return video_target_bitrate(a), video_target_bitrate(b)


@pytest.mark.janus("bitrate")
async def test_max_bitrate_caps_both_senders(calls):
    ta, tb = await bitrates_after_call(calls)
    assert ta is not None and tb is not None, (ta, tb)
    # aiortc's VP8 encoder aims at 500 kbit/s unless told otherwise
    assert ta <= 300000 and tb <= 300000, (ta, tb)


async def test_without_cap_senders_are_not_capped(calls):
    # The same call with max_bitrate = 0: what the cap test sees is the cap,
    # not the peers' own choice.
    ta, tb = await bitrates_after_call(calls)
    assert ta is not None and tb is not None, (ta, tb)
    assert ta > 300000 and tb > 300000, (ta, tb)

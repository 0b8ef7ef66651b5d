"""Call flows shared by the tests."""

import re
import time

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ENDED_REASONS = {"hangup", "cancelled", "declined", "busy", "no_answer", "missed", "unavailable",
                 "answered_elsewhere", "declined_elsewhere", "failed", "kicked", "server_shutdown"}

# Enough decoded frames to prove media both ways.
AUDIO_FRAMES = 25
VIDEO_FRAMES = 6
MEDIA_TIMEOUT = 20


def check_ended(ev, call_id, reason, answered=None, min_duration=None, max_duration=None):
    """An `ended` event: call_id, reason, and a whole-second duration once answered."""
    assert ev.name == "ended", ev
    assert ev.get("call_id") == call_id, "ended for the wrong call: %r (want %s)" % (ev, call_id)
    assert ev.get("reason") == reason, "ended with reason %r, expected %r: %r" % (
        ev.get("reason"), reason, ev)
    assert ev.jsep is None, "ended carries a JSEP: %r" % ev
    if answered:
        d = ev.get("duration")
        assert isinstance(d, int) and not isinstance(d, bool) and d >= 0, \
            "ended of an answered call needs a whole-second duration: %r" % ev
        if min_duration is not None:
            assert d >= min_duration, "duration %s < %s: %r" % (d, min_duration, ev)
        if max_duration is not None:
            assert d <= max_duration, "duration %s > %s: %r" % (d, max_duration, ev)
    return ev


async def wait_ended(dev, call_id, reason, timeout=5, **kw):
    ev = await dev.wait_event("ended", timeout, call_id=call_id)
    return check_ended(ev, call_id, reason, **kw)


def check_incoming(ev, call_id, caller, video, waiting=False, display=None):
    assert ev.name == "incoming_call", ev
    assert ev.get("call_id") == call_id, ev
    assert ev.get("from") == caller.user, "incoming_call from %r, expected %r" % (ev.get("from"), caller.user)
    assert ev.get("video") is video, "incoming_call video %r, expected %r" % (ev.get("video"), video)
    assert "display" in ev.data, "incoming_call without display: %r" % ev
    if display is not None:
        assert ev.get("display") == display, ev
    if waiting:
        assert ev.get("waiting") is True, "expected waiting: true: %r" % ev
        assert ev.jsep is None, "a waiting incoming_call must not carry a JSEP: %r" % ev
    else:
        assert not ev.get("waiting"), "unexpected waiting flag: %r" % ev
        assert ev.jsep is not None and ev.jsep.get("type") == "offer", \
            "incoming_call without a JSEP offer: %r" % ev
        if video:
            assert "m=video" in ev.jsep["sdp"], "video call offer without video"


async def ring(caller, callees, video=False, to=None, waiting=()):
    """caller calls the callees' user; every callee device gets incoming_call
    and the caller `ringing`. Returns (call_id, {device: incoming event})."""
    to = to or callees[0].user
    reply = await caller.call(to, video=video)
    call_id = reply.data.get("call_id")
    assert isinstance(call_id, str) and UUID_RE.match(call_id), \
        "calling needs a lowercase UUID call_id: %r" % reply
    assert reply.jsep is None, "calling carries a JSEP: %r" % reply
    incoming = {}
    for d in callees:
        ev = await d.wait_event("incoming_call", call_id=call_id)
        check_incoming(ev, call_id, caller, video, waiting=d in waiting)
        incoming[d] = ev
    ev = await caller.wait_event("ringing", call_id=call_id)
    assert ev.jsep is None
    return call_id, incoming


async def answer(caller, callee, incoming, video=None):
    """callee accepts; the caller gets accepted + JSEP answer and applies it."""
    call_id = incoming["call_id"]
    reply = await callee.accept(incoming, video=video)
    assert reply.data.get("call_id") == call_id, reply
    ev = await caller.wait_event("accepted", call_id=call_id)
    assert ev.jsep is not None and ev.jsep.get("type") == "answer", \
        "accepted without a JSEP answer: %r" % ev
    await caller.apply(ev.jsep)
    return time.monotonic()


async def connect(calls, video=False, callee_devices=1):
    """A registered caller and a callee with n devices, in an answered call
    (the first callee device answered). Returns (a, [b...], call_id)."""
    a = await calls.device(calls.uid("a"))
    bu = calls.uid("b")
    bs = [await calls.device(bu) for _ in range(callee_devices)]
    call_id, inc = await ring(a, bs, video=video)
    await answer(a, bs[0], inc[bs[0]])
    for other in bs[1:]:
        await wait_ended(other, call_id, "answered_elsewhere")
    return a, bs, call_id


async def media_flows(x, y, audio=AUDIO_FRAMES, video=VIDEO_FRAMES, timeout=MEDIA_TIMEOUT):
    """Decoded frames grow on both devices (video=0: audio only)."""
    sx, sy = x.media.snapshot(), y.media.snapshot()
    await x.media.wait_frames(sx, audio=audio, video=video, timeout=timeout)
    await y.media.wait_frames(sy, audio=audio, video=video, timeout=timeout)


async def hang_up(dev, call_id):
    reply = await dev.ok({"request": "hangup", "call_id": call_id}, "hungup")
    assert reply.data.get("call_id") == call_id, reply
    return reply

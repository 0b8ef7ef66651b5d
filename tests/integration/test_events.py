"""Call lifecycle to Janus event handlers (the sample event handler POSTs to a local server)."""

import asyncio

import pytest

from flows import answer, hang_up, ring, wait_ended


@pytest.mark.janus("events")
async def test_event_handler_call_lifecycle(calls):
    sink = calls.sink
    a = await calls.device(calls.uid("a"), device="ea")
    b = await calls.device(calls.uid("b"), device="eb")
    for d in (a, b):
        ev = await sink.wait_for(lambda e, d=d: e.get("event") == "registered" and e.get("user") == d.user,
                                 what="registered of %s" % d.user)
        assert ev.get("device") == d.device, ev

    call_id, inc = await ring(a, [b], video=True)
    ev = await sink.wait_for(lambda e: e.get("event") == "call_started" and e.get("call_id") == call_id,
                             what="call_started")
    assert ev.get("from") == a.user and ev.get("to") == b.user and ev.get("video") is True, ev

    await answer(a, b, inc[b])
    ev = await sink.wait_for(lambda e: e.get("event") == "call_answered" and e.get("call_id") == call_id,
                             what="call_answered")
    assert ev.get("device") == b.device, ev

    await asyncio.sleep(1.1)
    await hang_up(a, call_id)
    await wait_ended(b, call_id, "hangup", answered=True)
    ev = await sink.wait_for(lambda e: e.get("event") == "call_ended" and e.get("call_id") == call_id,
                             what="call_ended")
    assert ev.get("reason") == "hangup", ev
    assert isinstance(ev.get("duration"), int) and ev["duration"] >= 1, ev

    await a.ok({"request": "unregister"}, "unregistered")
    ev = await sink.wait_for(lambda e: e.get("event") == "unregistered" and e.get("user") == a.user,
                             what="unregistered")
    assert ev.get("device") == a.device and ev.get("reason") == "requested", ev

    # order of the call's own events
    names = [e.get("event") for e in sink.plugin_events() if e.get("call_id") == call_id]
    assert names == ["call_started", "call_answered", "call_ended"], names


@pytest.mark.janus("events")
async def test_event_handler_unanswered_call(calls):
    sink = calls.sink
    a = await calls.device(calls.uid("a"))
    reply = await a.call(calls.uid("offline"))
    call_id = reply.data["call_id"]
    await wait_ended(a, call_id, "unavailable")
    ev = await sink.wait_for(lambda e: e.get("event") == "call_ended" and e.get("call_id") == call_id,
                             what="call_ended")
    assert ev.get("reason") == "unavailable", ev
    names = [e.get("event") for e in sink.plugin_events() if e.get("call_id") == call_id]
    assert "call_answered" not in names, names


@pytest.mark.janus("events_off")
async def test_events_false_sends_nothing(calls):
    sink = calls.sink
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    call_id, inc = await ring(a, [b])
    await hang_up(a, call_id)
    await wait_ended(b, call_id, "cancelled")
    await asyncio.sleep(1.5)
    assert sink.plugin_events() == [], sink.plugin_events()

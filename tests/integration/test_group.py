"""Group calls (docs/protocol.md, "Group calls"), with real media.

Each participant is a group_peer.GroupPeer: a registered handle that
publishes its own audio and video with `group_call` or `join`, and a second
handle on the same Janus session that subscribes to everyone else's streams
and answers the plugin's offers. Frames are counted per remote user, so a
test proves who hears and sees whom.

Most tests run in the "default" configuration; the size limit runs in a
configuration of its own with max_group_size = 3 ("group_small", added to
conftest's list below).
"""

import asyncio
import time
import uuid

import pytest

import conftest
from flows import check_ended, wait_ended
from group_peer import UUID_RE, AUDIO_LEVEL_URI, mutate, participant, sdp_sections

if "group_small" not in conftest.VARIANTS:
    conftest.VARIANTS["group_small"] = {"general": {"max_group_size": 3}}
    conftest.ORDER.append("group_small")

pytestmark = pytest.mark.timeout(150)

AUDIO = 20          # decoded frames that prove a stream flows
VIDEO = 10
LATE_JOIN_LIMIT = 1.0


# ------------------------------------------------------------ helpers

def check_group_incoming(ev, call_id, caller, members, title, video=True, display=None):
    assert ev.name == "incoming_call" and ev.get("call_id") == call_id, ev
    assert ev.get("from") == caller.user, ev
    assert ev.get("video") is video, ev
    assert "display" in ev.data, "incoming_call without display: %r" % ev
    if display is not None:
        assert ev.get("display") == display, ev
    assert ev.jsep is None, "a group incoming_call must not carry a JSEP: %r" % ev
    assert not ev.get("waiting"), ev
    group = ev.get("group")
    assert isinstance(group, dict), "incoming_call without group: %r" % ev
    assert group.get("title") == title, "group.title %r, expected %r: %r" % (group.get("title"), title, ev)
    assert isinstance(group.get("members"), list) and sorted(group["members"]) == sorted(members), \
        "group.members must be every invited user, the caller included (%s): %r" % (sorted(members), ev)


def participants_of(reply):
    return [p["user"] for p in reply.data["participants"]]


async def start(calls, n=3, video=True, title="Team", ring_wait=True):
    """n participants' devices; the first calls the others with group_call
    (and subscribes, alone, to nothing yet). Returns the peers."""
    names = ["a", "b", "c", "d", "e"][:n]
    displays = {"a": "Alice", "b": "Bob", "c": "Carol", "d": "Dave", "e": "Eve"}
    peers = [await participant(calls, calls.uid(x), display=displays[x]) for x in names]
    a = peers[0]
    reply = await a.group_call([p.user for p in peers[1:]], video=video, title=title)
    assert reply.data["call_id"] == a.call_id
    if ring_wait:
        for p in peers[1:]:
            ev = await p.dev.wait_event("incoming_call", call_id=a.call_id)
            check_group_incoming(ev, a.call_id, a, [x.user for x in peers], title, video=video,
                                 display="Alice")
        ev = await a.dev.wait_event("ringing", call_id=a.call_id)
        assert ev.jsep is None, ev
    return peers


async def join_and_subscribe(peers, call_id, pli=True):
    for p in peers:
        if p.call_id is None:
            await p.join(call_id=call_id)
    for p in peers:
        await p.subscribe(pli=pli)


def others_complete(peer, others, video=True):
    """A predicate: the streams list holds exactly the others' audio (and video)."""
    kinds = {"audio", "video"} if video else {"audio"}

    def pred(streams):
        got = {}
        for s in streams:
            got.setdefault(s["user"], set()).add(s["kind"])
        return got == {o.user: kinds for o in others}
    return pred


async def all_see_all(peers, audio=AUDIO, video=VIDEO, timeout=25):
    for p in peers:
        others = [o for o in peers if o is not p]
        await p.wait_streams(others_complete(p, others), timeout=10,
                             what="streams of %s" % [o.user for o in others])
    for p in peers:
        for o in peers:
            if o is not p:
                await p.wait_from(o.user, audio=audio, video=video, timeout=timeout)


async def no_event_but(dev, allowed=("talking", "presence"), within=0.5):
    """No notification other than `allowed` ones arrives within `within`."""
    ev = await dev.handle.events.take(lambda e: e.name not in allowed, within)
    assert ev is None, "%s: unexpected event %r; all events: %s" % (dev.label, ev, dev.handle.events.history)


async def sub_request(handle, body, expect=None, code=None):
    reply = await handle.message(body)
    if code is not None:
        assert reply.kind == "plugin" and reply.name == "error" and reply.error_code == code, \
            "%s: %s expected error %d, got %r" % (handle.label, body, code, reply)
        assert reply.data.get("request") == body.get("request"), reply
        assert reply.jsep is None, reply
    else:
        assert not reply.is_error and reply.name == expect, \
            "%s: %s expected %s, got %r" % (handle.label, body, expect, reply)
    return reply


def ssrcs_of(peer, mids):
    """{kind: [SSRCs]} that the newest answered offer gives those mids."""
    sections = {x["mid"]: x for x in sdp_sections(peer.streams_log[-1]["sdp"])}
    return {kind: sorted({line.split()[0][7:] for line in sections[mid]["lines"] if line.startswith("a=ssrc:")})
            for kind, mid in mids.items()}


def received_ssrcs(peer, mids):
    """{kind: {SSRCs}} the receivers of those mids got packets from in the last 10 s."""
    by_mid = {t.mid: t for t in peer.subpc.pc.getTransceivers()}
    return {kind: {src.source for src in by_mid[mid].receiver.getSynchronizationSources()}
            for kind, mid in mids.items()}


async def call_info(dev, call_id):
    return (await dev.ok({"request": "call_info", "call_id": call_id}, "call_info")).data


# ------------------------------------------------------------ 1. media between three

async def test_three_participants_each_decode_the_others(calls):
    a, b, c = await start(calls, 3, title="Standup")
    call_id = a.call_id
    assert a.reply.get("call_id") == call_id and UUID_RE.match(call_id)
    # the caller alone: subscribed, nothing to receive yet, no offer
    reply = await a.subscribe()
    assert reply.data["streams"] == [] and reply.jsep is None, reply

    rb = await b.join(call_id=call_id)
    assert participants_of(rb) == [a.user], rb
    pa = rb.data["participants"][0]
    assert pa["display"] == "Alice" and pa["audio"] is True and pa["video"] is True, rb
    assert rb.data["link"] == a.link and rb.data["title"] == "Standup", rb
    assert rb.data["feed"] != a.feed, "two participants got the same feed: %r" % rb
    ev = await a.dev.wait_event("participant_joined", call_id=call_id)
    assert ev.get("user") == b.user and ev.get("display") == "Bob", ev
    await b.subscribe()

    rc = await c.join(call_id=call_id)
    assert participants_of(rc) == [a.user, b.user], "participants must be the others in join order: %r" % rc
    assert [p["display"] for p in rc.data["participants"]] == ["Alice", "Bob"], rc
    for p in (a, b):
        ev = await p.dev.wait_event("participant_joined", call_id=call_id, user=c.user)
        assert ev.get("display") == "Carol", ev
    await b.dev.no_event("participant_joined", within=0.2, user=b.user)
    await c.subscribe()

    await all_see_all([a, b, c])
    # streams carry the displays too
    for p in (a, b, c):
        for s in p.streams:
            assert s["display"] == {a.user: "Alice", b.user: "Bob", c.user: "Carol"}[s["user"]], p.streams
        # and only the others: nobody receives its own streams
        assert p.user not in p.users_in_streams(), p.streams

    info = await call_info(b.dev, call_id)
    assert info.get("kind") == "group" and info.get("state") == "active", info
    assert info.get("title") == "Standup" and sorted(info.get("participants") or []) == \
        sorted([a.user, b.user, c.user]), info
    for p in (a, b, c):
        p.check_errors()


# ------------------------------------------------------------ 2. ringing

async def test_ringing_join_elsewhere_decline_and_join_later(calls):
    a = await participant(calls, calls.uid("a"), display="Alice")
    bu, cu = calls.uid("b"), calls.uid("c")
    b1 = await participant(calls, bu, device="b1")
    b2 = await participant(calls, bu, device="b2")
    c1 = await participant(calls, cu, device="c1")
    c2 = await participant(calls, cu, device="c2")
    await a.group_call([bu, cu], video=True, title="Family")
    call_id = a.call_id
    for p in (b1, b2, c1, c2):
        ev = await p.dev.wait_event("incoming_call", call_id=call_id)
        check_group_incoming(ev, call_id, a, [a.user, bu, cu], "Family", display="Alice")
    ev = await a.dev.wait_event("ringing", call_id=call_id)
    assert ev.jsep is None, ev
    await a.dev.no_event("ringing", within=0.3)
    info = await call_info(b2.dev, call_id)
    assert info.get("kind") == "group" and info.get("participants") == [a.user], info

    # B joins on b1: b2 stops ringing, C's devices ring on
    await b1.join(call_id=call_id)
    await wait_ended(b2.dev, call_id, "answered_elsewhere")
    ev = await a.dev.wait_event("participant_joined", call_id=call_id)
    assert ev.get("user") == bu, ev
    for p in (c1, c2):
        await p.dev.no_event("ended", within=0.2)
    # the same user on a second device: 409
    await b2.refused({"request": "join", "call_id": call_id}, 409)

    # C declines on c1: only C's ringing stops
    reply = await c1.dev.ok({"request": "decline", "call_id": call_id}, "declined")
    assert reply.data.get("call_id") == call_id, reply
    await wait_ended(c2.dev, call_id, "declined_elsewhere")
    await no_event_but(a.dev)
    await no_event_but(b1.dev, within=0.1)
    await no_event_but(c1.dev, within=0.1)
    info = await call_info(c1.dev, call_id)
    assert info.get("state") == "active" and sorted(info.get("participants")) == sorted([a.user, bu]), info

    # ... and C can still join, here on the other device
    rc = await c2.join(call_id=call_id)
    assert participants_of(rc) == [a.user, bu], rc
    for p in (a, b1):
        await p.dev.wait_event("participant_joined", call_id=call_id, user=cu)
    await c1.dev.no_event("ended", within=0.3)
    info = await call_info(a.dev, call_id)
    assert sorted(info.get("participants")) == sorted([a.user, bu, cu]), info

    # and the three get each other's media
    for p in (a, b1, c2):
        await p.subscribe()
    await all_see_all([a, b1, c2], audio=10, video=5)


# ------------------------------------------------------------ 3. late joiner

async def test_late_joiner_sees_video_within_a_second(calls):
    a, b, c = await start(calls, 3)
    call_id = a.call_id
    await join_and_subscribe([a, b], call_id)
    await all_see_all([a, b])

    # C joins: no keyframe requests from C's side (pli=False): the first
    # video it decodes from each stream comes from the plugin's own PLI.
    # Its subscriber handle and PeerConnection are made beforehand, as an
    # app can, so that the time measured is the join's; it answers with
    # a=setup:passive, which keeps a 1 s DTLS retransmission of aiortc's out
    # of the measure (group_peer.SubscriberMedia.answer).
    await c.prepare_subscriber(pli=False, dtls_passive=True)
    await c.join(call_id=call_id)
    t0 = c.joined_at
    await c.subscribe()
    for p in (a, b):
        await c.wait_from(p.user, audio=1, video=1, timeout=8)
    first = c.subpc.first
    took = {p.user: first[(p.user, "video")] - t0 for p in (a, b)}
    audio_took = {p.user: first[(p.user, "audio")] - t0 for p in (a, b)}
    print("\nlate join: first decoded video frame %.3f s (from A), %.3f s (from B) after `joined`; "
          "first audio frame %.3f s, %.3f s" % (took[a.user], took[b.user], audio_took[a.user],
                                                 audio_took[b.user]))
    print("late join timeline (s after `joined`): %s" % c.subpc.timeline(t0))
    for user, t in took.items():
        assert t < LATE_JOIN_LIMIT, "late joiner: first video frame from %s after %.3f s (limit %.1f s); %s" % (
            user, t, LATE_JOIN_LIMIT, c.subpc.timeline(t0))
    # and the others get C too
    await all_see_all([a, b, c], audio=10, video=5)


# ------------------------------------------------------------ 4. leave and rejoin

async def test_leave_and_rejoin_reuses_the_m_lines(calls):
    a, b, c = await start(calls, 3)
    call_id = a.call_id
    await join_and_subscribe([a, b, c], call_id)
    await all_see_all([a, b, c], audio=10, video=5)

    mids = {p: p.mids_of(b.user) for p in (a, c)}
    for p, m in mids.items():
        assert set(m) == {"audio", "video"}, p.state()
    ssrcs = {p: ssrcs_of(p, mids[p]) for p in (a, c)}
    sources = {p: received_ssrcs(p, mids[p]) for p in (a, c)}
    transceivers = {p: len(p.subpc.pc.getTransceivers()) for p in (a, c)}
    tracks = {p: len(p.subpc.tracks) for p in (a, c)}
    old_feed = b.feed
    old_sub = b.sub

    await b.leave()
    ev = await old_sub.wait_event("ended", call_id=call_id)
    assert isinstance(ev.get("reason"), str), ev
    await b.dev.wait_pc_down()        # the plugin closed B's publisher PeerConnection
    for p in (a, c):
        ev = await p.dev.wait_event("participant_left", call_id=call_id)
        assert ev.get("user") == b.user and ev.get("reason") == "left", ev
        await p.wait_streams(lambda s: b.user not in {x["user"] for x in s}, what="streams without B")
        # B's m-lines are kept as they were, sendonly and silent (inactive
        # would make Janus's core give them a new SSRC when reused)
        sections = {s["mid"]: s for s in sdp_sections(p.streams_log[-1]["sdp"])}
        for kind, mid in mids[p].items():
            assert mid in sections, "%s: B's %s m-line (mid %s) vanished from the offer" % (p.label, kind, mid)
            assert sections[mid]["direction"] == "sendonly", \
                "%s: B's %s m-line (mid %s) is %s after B left, expected sendonly" % (
                    p.label, kind, mid, sections[mid]["direction"])
    info = await call_info(a.dev, call_id)
    assert sorted(info.get("participants")) == sorted([a.user, c.user]), info

    # B's old feed is void
    probe = await b.new_sub_handle()
    await sub_request(probe, {"request": "subscribe", "call_id": call_id, "feed": old_feed}, code=403)
    await b.stop_subscriber()

    # A and C go on
    since = c.frames_from(a.user)
    await c.wait_from(a.user, audio=10, video=5, since=since)

    # B rejoins: a new feed, a new subscriber handle
    since_a, since_c = a.frames_from(b.user), c.frames_from(b.user)
    since_mid = a.subpc.mid_frames[mids[a]["video"]]
    rb = await b.join(call_id=call_id)
    assert b.feed != old_feed, "a rejoining participant needs a new feed: %r" % rb
    assert participants_of(rb) == [a.user, c.user], rb
    for p in (a, c):
        ev = await p.dev.wait_event("participant_joined", call_id=call_id, user=b.user)
    await b.subscribe(fresh_handle=True)
    for p in (a, c):
        await p.wait_streams(lambda s: b.user in {x["user"] for x in s}, what="streams with B again")
        assert p.mids_of(b.user) == mids[p], \
            "%s: B's streams should reuse its old m-lines %s, got %s" % (p.label, mids[p], p.mids_of(b.user))
        assert len(p.subpc.pc.getTransceivers()) == transceivers[p], \
            "%s: the offer grew new m-lines instead of reusing B's" % p.label
        assert len(p.subpc.tracks) == tracks[p], "%s: new tracks instead of the old ones" % p.label
    await a.wait_from(b.user, audio=AUDIO, video=VIDEO, since=since_a)
    await c.wait_from(b.user, audio=AUDIO, video=VIDEO, since=since_c)
    assert a.subpc.mid_frames[mids[a]["video"]] - since_mid >= VIDEO, a.state()
    await b.wait_from(a.user)
    await b.wait_from(c.user)
    # The m-lines' outgoing SSRCs stayed what they were, in the offer and
    # on the wire (aiortc 1.4 demultiplexes by SSRC: a new one is dropped
    # unless routed by MID, as group_peer does for it like a browser).
    for p in (a, c):
        assert ssrcs_of(p, mids[p]) == ssrcs[p], \
            "%s: the a=ssrc of B's reused m-lines changed: %s before B left, %s after it rejoined" % (
                p.label, ssrcs[p], ssrcs_of(p, mids[p]))
        now = received_ssrcs(p, mids[p])
        assert all(now[k] <= sources[p][k] for k in now), \
            "%s: B's reused m-lines carry new SSRCs: %s before B left, %s since (last 10 s)" % (
                p.label, sources[p], now)


# ------------------------------------------------------------ 5. join by link

async def test_join_by_link(calls):
    a, b = await start(calls, 2, title="Open")
    call_id = a.call_id
    d = await participant(calls, calls.uid("stranger"), display="Dave")
    await b.join(call_id=call_id)

    await d.refused({"request": "join", "call_id": call_id}, 403)
    await d.refused({"request": "join", "link": mutate(a.link)}, 404)
    await d.refused({"request": "join", "call_id": str(uuid.uuid4())}, 404)
    await d.dev.err({"request": "call_info", "call_id": call_id}, 403)

    rd = await d.join(link=a.link)
    assert rd.data["call_id"] == call_id and rd.data["title"] == "Open", rd
    assert participants_of(rd) == [a.user, b.user], rd
    for p in (a, b):
        ev = await p.dev.wait_event("participant_joined", call_id=call_id, user=d.user)
        assert ev.get("display") == "Dave", ev
    await join_and_subscribe([a, b, d], call_id)
    await all_see_all([a, b, d], audio=10, video=5)

    # D is a member now: it may leave and come back by call_id
    await d.leave()
    await d.dev.wait_pc_down()
    await d.stop_subscriber()
    rd = await d.join(call_id=call_id)
    assert participants_of(rd) == [a.user, b.user], rd
    info = await call_info(d.dev, call_id)
    assert sorted(info.get("participants")) == sorted([a.user, b.user, d.user]), info


# ------------------------------------------------------------ 6. size limit

@pytest.mark.janus("group_small")
async def test_max_group_size(calls):
    a = await participant(calls, calls.uid("a"))
    b, c, d = [await participant(calls, calls.uid(x)) for x in ("b", "c", "d")]
    # max_group_size = 3: at most 2 members besides the caller
    await a.refused({"request": "group_call", "members": [b.user, c.user, d.user], "video": True}, 413)
    for p in (b, c, d):
        await p.dev.no_event("incoming_call", within=0.2)
    await a.group_call([b.user, c.user])
    call_id = a.call_id
    await b.join(call_id=call_id)
    await c.join(call_id=call_id)
    # full: a fourth participant (by link) is 413, an invitation too
    await d.refused({"request": "join", "link": a.link}, 413)
    await a.dev.err({"request": "invite", "call_id": call_id, "users": [d.user]}, 413)
    await d.dev.no_event("incoming_call", within=0.2)
    info = await call_info(a.dev, call_id)
    assert sorted(info.get("participants")) == sorted([a.user, b.user, c.user]), info
    # room again once one leaves
    await c.leave()
    await d.join(link=a.link)


# ------------------------------------------------------------ 7. subscriber errors

async def test_subscribe_errors(calls):
    a, b = await start(calls, 2)
    call_id = a.call_id
    await b.join(call_id=call_id)
    s = await a.new_sub_handle()
    await sub_request(s, {"request": "subscribe", "call_id": call_id, "feed": mutate(a.feed)}, code=403)
    await sub_request(s, {"request": "subscribe", "call_id": str(uuid.uuid4()), "feed": a.feed}, code=404)
    # the registered (publisher) handle cannot subscribe
    reply = await a.dev.request({"request": "subscribe", "call_id": call_id, "feed": a.feed})
    assert reply.name == "error" and reply.error_code == 409, \
        "subscribe on a registered handle: expected 409, got %r" % reply
    # none of that spoilt the handle: it subscribes, to one feed only
    await a.subscribe()
    await a.wait_streams(others_complete(a, [b]))
    await sub_request(a.sub, {"request": "subscribe", "call_id": call_id, "feed": b.feed}, code=409)
    await b.subscribe()
    await all_see_all([a, b], audio=10, video=5)


# ------------------------------------------------------------ 8. the end of a call

async def test_last_leave_ends_the_call(calls):
    a, b = await start(calls, 2, title="Short")
    call_id = a.call_id
    cu = calls.uid("c")
    c1 = await participant(calls, cu, device="c1")
    c2 = await calls.device(cu, device="c2")
    await b.join(call_id=call_id)
    # B is in the call already: only C rings
    reply = await a.dev.ok({"request": "invite", "call_id": call_id, "users": [b.user, cu]}, "invited")
    assert reply.data.get("call_id") == call_id and reply.data.get("users") == [cu], reply
    for dev in (c1.dev, c2):
        ev = await dev.wait_event("incoming_call", call_id=call_id)
        assert ev.get("group") and ev.jsep is None, ev
        assert sorted(ev["group"].get("members") or []) == sorted([a.user, b.user, cu]), ev
    await b.dev.no_event("incoming_call", within=0.2)
    await join_and_subscribe([a, b], call_id)
    await all_see_all([a, b], audio=10, video=5)

    await a.leave(request="hangup", expect="hungup")      # hangup is leave, replied `hungup`
    ev = await a.sub.wait_event("ended", call_id=call_id)
    ev = await b.dev.wait_event("participant_left", call_id=call_id)
    assert ev.get("user") == a.user and ev.get("reason") == "left", ev
    await b.wait_streams(lambda s: s == [], what="empty streams")
    for dev in (c1.dev, c2):
        await dev.no_event("ended", within=0.2)
    info = await call_info(c1.dev, call_id)
    assert info.get("state") == "active" and info.get("participants") == [b.user], info

    await b.leave()
    for dev in (c1.dev, c2):
        await wait_ended(dev, call_id, "cancelled")
    await wait_ended(b.sub, call_id, "left")
    for dev in (a.dev, c1.dev):
        info = await call_info(dev, call_id)
        assert info.get("state") == "ended" and info.get("kind") == "group", info
    await c1.refused({"request": "join", "call_id": call_id}, 404)
    await c1.refused({"request": "join", "link": a.link}, 404)
    s = await c1.new_sub_handle()
    await sub_request(s, {"request": "subscribe", "call_id": call_id, "feed": b.feed}, code=404)


async def test_admin_end_call_kicks_everyone(calls):
    a, b, c = await start(calls, 3)
    call_id = a.call_id
    await join_and_subscribe([a, b, c], call_id)
    await all_see_all([a, b, c], audio=5, video=2)
    resp = await calls.admin_ok({"request": "list_calls"}, "active_calls")
    mine = [e for e in resp["entries"] if e.get("call_id") == call_id]
    assert len(mine) == 1 and mine[0].get("kind") == "group" and mine[0].get("state") == "active" and \
        sorted(mine[0].get("participants")) == sorted([a.user, b.user, c.user]), resp
    await calls.admin_ok({"request": "end_call", "call_id": call_id}, "call_ended")
    for p in (a, b, c):
        ev = await p.dev.wait_event("ended", call_id=call_id)
        check_ended(ev, call_id, "kicked")
    info = await call_info(a.dev, call_id)
    assert info.get("state") == "ended" and info.get("reason") == "kicked", info
    await b.dev.wait_pc_down()
    await b.refused({"request": "join", "call_id": call_id}, 404)


# ------------------------------------------------------------ 9. talking

async def test_talking_from_audio_level(calls):
    """Audio only and no subscribers, so that the peers' own timing is
    steady: `talking` needs only what the publishers send."""
    a, b, c = await start(calls, 3, video=False)
    call_id = a.call_id
    for p in (b, c):
        await p.join(call_id=call_id, video=False)
    for p in (a, b, c):
        answer = p.media.pc.remoteDescription.sdp
        audio = [s for s in sdp_sections(answer) if s["kind"] == "audio"]
        assert audio and any(AUDIO_LEVEL_URI in line for line in audio[0]["lines"]), \
            "%s: the plugin's answer does not negotiate the RFC 6464 audio level (%s): %s" % (
                p.label, AUDIO_LEVEL_URI, [l for l in audio[0]["lines"] if l.startswith("a=extmap")] if audio else None)
    for p in (a, b, c):
        await p.dev.handle.wait_core("webrtcup", 10)
    await asyncio.sleep(1.0)
    # everyone silent: nobody talks
    for p in (a, b, c):
        await p.dev.no_event("talking", within=0.5 if p is a else 0.1)

    t0, switches = time.monotonic(), []
    b.tone(True)
    t_on = time.monotonic()
    switches.append((t_on, "on"))
    for p in (a, b, c):      # every participant, the speaker included
        ev = await p.dev.wait_event("talking", timeout=3, call_id=call_id, user=b.user)
        assert ev.get("talking") is True, "%s: first talking event of B is %r" % (p.label, ev)
        if p is a:
            seen_on = ev.at
    on_delay = seen_on - t_on
    assert on_delay <= 1.5, "talking on %.2f s after the tone began" % on_delay
    # B keeps talking: no `talking: false` meanwhile, and A is silent. Then
    # silence, three times, beginning 0.3 s past a half-second mark after
    # the `on` event: whatever window the plugin averages over, `off` must
    # come no sooner than 1 s after the level dropped.
    off_delays, on_delays = [], [on_delay]
    for cycle in range(3):
        if cycle:
            b.tone(True)
            t_on = time.monotonic()
            switches.append((t_on, "on"))
            ev = await a.dev.wait_event("talking", timeout=3, call_id=call_id, user=b.user)
            assert ev.get("talking") is True, ev
            seen_on = ev.at
            on_delays.append(seen_on - t_on)
            for p in (b, c):
                ev = await p.dev.wait_event("talking", timeout=1, call_id=call_id, user=b.user)
                assert ev.get("talking") is True, ev
        await asyncio.sleep(max(0.0, seen_on + 1.8 - time.monotonic()))
        for p in (a, c):
            await p.dev.no_event("talking", within=0.01, user=b.user, talking=False)
            await p.dev.no_event("talking", within=0.01, user=a.user)
        b.tone(False)
        t_off = time.monotonic()
        switches.append((t_off, "off"))
        for p in (a, b, c):
            ev = await p.dev.wait_event("talking", timeout=4, call_id=call_id, user=b.user)
            assert ev.get("talking") is False, "%s: after silence B's talking event is %r" % (p.label, ev)
            if p is a:
                off_delays.append(ev.at - t_off)
        await asyncio.sleep(0.6)
    print("\ntalking: on %s s after the tone began, off %s s after silence began" % (
        ["%.2f" % x for x in on_delays], ["%.2f" % x for x in off_delays]))
    print("A's talking events of B: %s; tone switched: %s" % (
        ["%.2f %s" % (e.at - t0, e.get("talking")) for e in a.dev.handle.events.history
         if e.name == "talking" and e.get("user") == b.user],
        ["%.2f %s" % (t - t0, w) for t, w in switches]))
    assert max(on_delays) <= 1.5, "talking on %s s after the tone began" % on_delays
    assert min(off_delays) >= 0.95, \
        "talking off %s s after silence began: the rule is off after 1 s below talk_level" % (
            ["%.2f" % x for x in off_delays])
    for p in (a, b, c):
        await p.dev.no_event("talking", within=0.5 if p is a else 0.1)


# ------------------------------------------------------------ 10. media_state

async def test_media_state(calls):
    a, b, c = await start(calls, 3)
    call_id = a.call_id
    await b.join(call_id=call_id)
    reply = await a.dev.ok({"request": "media", "call_id": call_id, "audio": False, "video": True},
                           "media_set")
    assert reply.data.get("call_id") == call_id and reply.data.get("audio") is False and \
        reply.data.get("video") is True, reply
    ev = await b.dev.wait_event("media_state", call_id=call_id)
    assert ev.get("user") == a.user and ev.get("audio") is False and ev.get("video") is True, ev
    await a.dev.no_event("media_state", within=0.3)
    # a joiner learns the state from `joined`
    rc = await c.join(call_id=call_id)
    state = {p["user"]: (p["audio"], p["video"]) for p in rc.data["participants"]}
    assert state == {a.user: (False, True), b.user: (True, True)}, rc
    await b.dev.ok({"request": "media", "call_id": call_id, "audio": True, "video": False}, "media_set")
    for p in (a, c):
        ev = await p.dev.wait_event("media_state", call_id=call_id)
        assert ev.get("user") == b.user and ev.get("audio") is True and ev.get("video") is False, ev
    await b.dev.no_event("media_state", within=0.3)
    # a member that is not in the call (yet) may not
    d = await participant(calls, calls.uid("d"))
    await d.dev.err({"request": "media", "call_id": call_id, "audio": True, "video": True}, 403)


# ------------------------------------------------------------ 11. presence

async def state_of(watcher, user):
    reply = await watcher.ok({"request": "presence_subscribe", "users": [user]}, "presence")
    return reply.data["users"][0]["state"]


async def wait_state(watcher, user, state, timeout=3):
    deadline = time.monotonic() + timeout
    while True:
        got = await state_of(watcher, user)
        if got == state:
            return
        if time.monotonic() > deadline:
            raise AssertionError("presence of %s: %s, expected %s" % (user, got, state))
        await asyncio.sleep(0.25)


async def test_presence_in_call(calls):
    w = await calls.device(calls.uid("watcher"))
    a, b, c = await start(calls, 3)
    call_id = a.call_id
    # ringing changes nobody's presence
    assert await state_of(w, b.user) == "online"
    assert await state_of(w, c.user) == "online"
    await b.join(call_id=call_id)
    await wait_state(w, b.user, "in_call")
    await wait_state(w, a.user, "in_call")
    assert await state_of(w, c.user) == "online"
    await b.leave()
    await wait_state(w, b.user, "online")
    await wait_state(w, a.user, "in_call")


# ------------------------------------------------------------ more of the design

async def test_audio_only_participant_video_m_line_inactive(calls):
    """A participant that sends no video: its video m-line in the others'
    offers is `inactive` and not in `streams`; it still receives video."""
    a, b, c = await start(calls, 3)
    call_id = a.call_id
    await b.join(call_id=call_id, video=False)
    await c.join(call_id=call_id)
    for p in (a, b, c):
        await p.subscribe()
    await a.wait_streams(lambda s: {(x["user"], x["kind"]) for x in s} ==
                         {(b.user, "audio"), (c.user, "audio"), (c.user, "video")}, what="B audio only")
    await c.wait_streams(lambda s: {(x["user"], x["kind"]) for x in s} ==
                         {(b.user, "audio"), (a.user, "audio"), (a.user, "video")}, what="B audio only")
    await b.wait_streams(others_complete(b, [a, c]))
    for p in (a, c):
        sections = sdp_sections(p.streams_log[-1]["sdp"])
        listed = {x["mid"] for x in p.streams}
        kinds = [x["kind"] for x in sections]
        unlisted = [(x["kind"], x["direction"]) for x in sections if x["mid"] not in listed]
        assert kinds.count("audio") == 2 and kinds.count("video") == 2 and unlisted == [("video", "inactive")], \
            "%s: an audio and a video m-line per other participant, B's video one inactive and not in " \
            "streams; got m-lines %s for streams %s" % (
                p.label, [(x["kind"], x["mid"], x["direction"]) for x in sections],
                [(x["mid"], x["kind"], x["user"]) for x in p.streams])
    await a.wait_from(b.user, audio=AUDIO, video=0)
    await a.wait_from(c.user)
    await b.wait_from(a.user)
    await b.wait_from(c.user)
    assert a.frames_from(b.user)["video"] == 0


async def test_changes_while_an_offer_is_unanswered_come_after_the_answer(calls):
    a, b, c = await start(calls, 3)
    call_id = a.call_id
    await a.subscribe()
    a.gate.clear()                      # A's subscriber takes its time to answer
    await b.join(call_id=call_id)
    deadline = time.monotonic() + 5
    while a.offers_seen < 1:
        assert time.monotonic() < deadline, "no streams offer after B joined: %s" % a.state()
        await asyncio.sleep(0.05)
    await c.join(call_id=call_id)
    await a.dev.wait_event("participant_joined", call_id=call_id, user=c.user)
    await asyncio.sleep(1.0)
    pending = [e for e in a.sub.events.items if e.name == "streams"]
    assert not pending and a.offers_seen == 1, \
        "a second streams offer came before the first was answered: %s" % a.sub.events.history
    a.gate.set()
    await a.wait_streams(others_complete(a, [b, c]), what="B and C after the answer")
    offers = [e for e in a.sub.events.history if e.name == "streams"]
    assert len(offers) == 2, "expected the B offer, then one with B and C: %s" % offers
    await a.wait_from(b.user)
    await a.wait_from(c.user)


@pytest.mark.janus("short")
async def test_ring_timeout_missed_then_join(calls):
    """ring_timeout = 3 s: an unanswered member's devices get `ended {missed}`;
    the member may still join while the call is on."""
    a, b, c = await start(calls, 3)
    call_id = a.call_id
    t0 = time.monotonic()
    await b.join(call_id=call_id)
    ev = await c.dev.wait_event("ended", timeout=6, call_id=call_id)
    check_ended(ev, call_id, "missed")
    assert 2.0 <= ev.at - t0 <= 5.0, "missed after %.1f s with ring_timeout = 3" % (ev.at - t0)
    await a.dev.no_event("ended", within=0.2)
    await b.dev.no_event("ended", within=0.1)
    rc = await c.join(call_id=call_id)
    assert participants_of(rc) == [a.user, b.user], rc
    await join_and_subscribe([a, b, c], call_id)
    await all_see_all([a, b, c], audio=10, video=5)


async def test_group_call_request_checks(calls):
    a = await participant(calls, calls.uid("a"))
    b, c = [await participant(calls, calls.uid(x)) for x in ("b", "c")]
    for body, code in (
            ({"request": "group_call", "members": [], "video": True}, 400),
            ({"request": "group_call", "members": [a.user], "video": True}, 400),
            ({"request": "group_call", "members": [b.user, b.user], "video": True}, 400),
            ({"request": "group_call", "members": [b.user, a.user], "video": True}, 400),
            ({"request": "group_call", "members": [b.user], "video": True, "title": "x" * 129}, 400),
            ({"request": "join"}, 400)):
        await a.refused(body, code)
    await a.dev.err({"request": "group_call", "members": [b.user], "video": True}, 409)   # no offer
    await b.dev.no_event("incoming_call", within=0.2)
    await a.group_call([b.user, c.user], title="t" * 128)
    ev = await b.dev.wait_event("incoming_call", call_id=a.call_id)
    assert ev["group"]["title"] == "t" * 128, ev
    # one call at a time per device: a caller cannot start another, a device
    # in a one-to-one call cannot join
    await a.refused({"request": "group_call", "members": [c.user], "video": True}, 409)
    d = await calls.device(calls.uid("d"))
    reply = await d.call(c.user, video=False)
    inc = await c.dev.wait_event("incoming_call", call_id=reply.data["call_id"])
    await c.dev.accept(inc)
    await d.wait_event("accepted", call_id=reply.data["call_id"])
    await c.dev.drop_media()
    await c.refused({"request": "join", "call_id": a.call_id}, 409)


async def test_vanished_participant_is_failed(calls):
    a, b, c = await start(calls, 3)
    call_id = a.call_id
    await join_and_subscribe([a, b, c], call_id)
    await all_see_all([a, b, c], audio=5, video=2)
    await c.stop_subscriber()
    await c.dev.handle.detach()
    for p in (a, b):
        ev = await p.dev.wait_event("participant_left", timeout=4, call_id=call_id)
        assert ev.get("user") == c.user and ev.get("reason") == "failed", ev
        await p.wait_streams(others_complete(p, [o for o in (a, b) if o is not p]), what="streams without C")
    since = b.frames_from(a.user)
    await b.wait_from(a.user, since=since)
    info = await call_info(a.dev, call_id)
    assert sorted(info.get("participants")) == sorted([a.user, b.user]), info


async def test_handle_info_shows_the_group_places(calls):
    """Janus's handle_info tells an operator which call a handle publishes or
    subscribes in, what it receives and which simulcast layer it is sent."""
    a, b = await start(calls, 2)
    call_id = a.call_id
    await join_and_subscribe([a, b], call_id)
    await all_see_all([a, b], audio=5, video=2)
    admin = await calls.admin()
    pub = (await admin.handle_info(a.dev.conn.session_id, a.dev.handle.id))["plugin_specific"]
    assert pub["group"] == {"call_id": call_id, "role": "publisher", "video": True, "participants": 2}, pub
    sub = (await admin.handle_info(a.dev.conn.session_id, a.sub.id))["plugin_specific"]
    g = sub["group"]
    assert g["role"] == "subscriber" and g["call_id"] == call_id and g["layer"] == 2 and g["offer_out"] is False, g
    assert sorted((s["kind"], s["user"]) for s in g["streams"]) == [("audio", b.user), ("video", b.user)], g
    assert pub["packets_in"] > 0 and pub["packets_relayed"] > 0, pub

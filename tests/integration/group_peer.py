"""Group-call participants for the integration tests (aiortc).

The design under test is docs/protocol.md, "Group calls": two handles per
device. A GroupPeer is one device of a user:

- its registered handle (a calls_client.Device) *publishes*: `group_call` or
  `join` with an aiortc offer carrying synthetic audio (a tone that can be
  switched on and off, so that RFC 6464 audio levels vary) and video;
- a second handle on the same Janus session *subscribes*: `subscribe
  {call_id, feed}`, answers the plugin's offer (receive only) with `update
  {call_id}` + JSEP answer, and keeps answering the `streams` offers that
  follow on the same RTCPeerConnection.

The subscriber counts decoded audio and video frames per remote user: each
transceiver's mid is mapped to a user through the newest `streams` list
[{mid, kind, user, display}], looked up when a frame is decoded, so that an
m-line that goes from one participant to another counts for the right one.
"""

import asyncio
import collections
import math
import re
import struct
import time

import calls_client
from calls_client import short

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

_tone_cls = None


def tone_track_class():
    """An audio track that is silent until `loud` is set, then a 400 Hz tone
    at half of full scale (about -9 dBov). aiortc computes the RFC 6464 level
    of each frame before encoding it and sends it in the
    ssrc-audio-level header extension when that was negotiated."""
    global _tone_cls
    if _tone_cls is not None:
        return _tone_cls
    _, mediastreams = calls_client._import_media()

    class ToneAudio(mediastreams.AudioStreamTrack):
        # AudioStreamTrack makes 20 ms frames of 160 samples at 8 kHz: a
        # 400 Hz tone is 8 whole periods per frame, so one buffer repeats.
        TONE = struct.pack("<160h", *(int(16000 * math.sin(2 * math.pi * 400 * i / 8000))
                                      for i in range(160)))

        def __init__(self):
            super().__init__()
            self.loud = False

        async def recv(self):
            frame = await super().recv()
            if self.loud:
                for p in frame.planes:
                    data = self.TONE[:p.buffer_size]
                    p.update(data + bytes(p.buffer_size - len(data)))
            return frame

    _tone_cls = ToneAudio
    return _tone_cls


def sdp_sections(sdp):
    """[(kind, mid, direction, lines)] of the m-sections of an SDP."""
    out = []
    cur = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            cur = {"kind": line[2:].split()[0], "mid": None, "direction": "sendrecv",
                   "lines": [line], "port": line.split()[1]}
            out.append(cur)
        elif cur is not None:
            cur["lines"].append(line)
            if line.startswith("a=mid:"):
                cur["mid"] = line[6:].strip()
            elif line[2:] in ("sendrecv", "sendonly", "recvonly", "inactive") and line.startswith("a="):
                cur["direction"] = line[2:]
    return out


def mutate(secret):
    """The same string with its last letter or digit changed (a wrong secret
    of the right shape)."""
    assert isinstance(secret, str) and secret, secret
    chars = list(secret)
    for i in range(len(chars) - 1, -1, -1):
        c = chars[i]
        if c.isdigit():
            chars[i] = "0" if c != "0" else "1"
            return "".join(chars)
        if c.isalpha():
            repl = "a" if c.lower() != "a" else "b"
            chars[i] = repl.upper() if c.isupper() else repl
            return "".join(chars)
    return secret + "x"


def _mid_aware_route(router, original, on_packet=None):
    """aiortc 1.4 routes incoming RTP by SSRC (from a=ssrc) or by a payload
    type that only one receiver uses; it ignores the MID header extension
    that browsers demultiplex by (RFC 8843). With several audio or video
    m-lines and no a=ssrc, that would drop everything: fall back to the MID
    as a browser would."""
    def route(packet):
        receiver = original(packet)
        if receiver is None:
            mid = getattr(packet.extensions, "mid", None)
            receiver = router.mid_table.get(mid) if mid is not None else None
            if receiver is not None:
                router.ssrc_table.setdefault(packet.ssrc, receiver)
                router.mid_routed += 1
        if receiver is not None and on_packet is not None:
            on_packet(receiver)
        return receiver
    return route


class SubscriberMedia:
    """The subscriber's receive-only RTCPeerConnection, counting decoded
    frames per (user, kind) through the mid -> user map of the newest
    `streams` list."""

    def __init__(self, label, pli=True, dtls_passive=False):
        aiortc, _ = calls_client._import_media()
        self.dtls_passive = dtls_passive
        self.aiortc = aiortc
        self.label = label
        self.pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        self.mid_user = {}
        self.mid_kind = {}
        self.frames = collections.Counter()      # (user, kind) -> decoded frames
        self.mid_frames = collections.Counter()  # mid -> decoded frames
        self.first = {}                          # (user, kind) -> monotonic time of the first frame
        self.last_mid = {}                       # mid -> monotonic time of the last frame
        self.tracks = []                         # (mid, kind) per track event
        self.tasks = []
        self.plis = 0
        self.routers = []
        self.pc.on("track", self._on_track)
        self.marks = {}                          # name -> monotonic time (timing of the setup)
        self.pc.on("connectionstatechange", self._on_state)
        self.pc.on("iceconnectionstatechange", self._on_ice)
        if pli:
            self.tasks.append(asyncio.ensure_future(self._pli_loop()))

    def _on_packet(self, receiver):
        """Marks the first RTP packet of each (user, kind) (before decoding)."""
        for t in self.pc.getTransceivers():
            if t.receiver is receiver:
                key = "first rtp %s %s" % (t.kind, self.mid_user.get(t.mid))
                if key not in self.marks:
                    self.marks[key] = time.monotonic()
                return

    def _on_state(self):
        self.marks.setdefault("pc " + self.pc.connectionState, time.monotonic())

    def _on_ice(self):
        self.marks.setdefault("ice " + self.pc.iceConnectionState, time.monotonic())

    def set_streams(self, streams):
        self.mid_user = {s["mid"]: s["user"] for s in streams}
        self.mid_kind = {s["mid"]: s["kind"] for s in streams}

    def _on_track(self, track):
        mid = None
        for t in self.pc.getTransceivers():
            if t.receiver.track is track:
                mid = t.mid
        self.tracks.append((mid, track.kind))
        self.tasks.append(asyncio.ensure_future(self._consume(track, mid)))

    async def _consume(self, track, mid):
        from aiortc.mediastreams import MediaStreamError
        try:
            while True:
                await track.recv()
                now = time.monotonic()
                key = (self.mid_user.get(mid), track.kind)
                self.frames[key] += 1
                self.first.setdefault(key, now)
                self.mid_frames[mid] += 1
                self.last_mid[mid] = now
        except (MediaStreamError, asyncio.CancelledError):
            pass
        except Exception:
            pass

    def _patch_routers(self):
        for t in self.pc.getTransceivers():
            transport = getattr(t.receiver, "transport", None)
            router = getattr(transport, "_rtp_router", None)
            if router is None or getattr(router, "mid_routed", None) is not None:
                continue
            router.mid_routed = 0
            router.route_rtp = _mid_aware_route(router, router.route_rtp, self._on_packet)
            self.routers.append(router)

    async def _pli_loop(self):
        """Asks for a keyframe every 0.3 s on each video m-line that carries a
        participant and decoded nothing for 1 s, as a browser does."""
        try:
            while True:
                await asyncio.sleep(0.3)
                if self.pc.connectionState == "closed":
                    return
                now = time.monotonic()
                for t in self.pc.getTransceivers():
                    if t.kind != "video" or t.mid not in self.mid_user:
                        continue
                    if now - self.last_mid.get(t.mid, 0.0) < 1.0:
                        continue
                    send = getattr(t.receiver, "_send_rtcp_pli", None)
                    if send is None:
                        continue
                    for src in t.receiver.getSynchronizationSources():
                        try:
                            await send(src.source)
                            self.plis += 1
                        except Exception:
                            pass
        except asyncio.CancelledError:
            pass

    async def answer(self, offer):
        await self.pc.setRemoteDescription(
            self.aiortc.RTCSessionDescription(sdp=offer["sdp"], type=offer["type"]))
        self._patch_routers()
        if self.dtls_passive:
            # Answer with a=setup:passive: Janus then starts the DTLS
            # handshake. As the DTLS client, aiortc sends its first
            # ClientHello as soon as its own ICE check succeeds; when that
            # reaches Janus before Janus's side is ready it is lost, and
            # OpenSSL's first retransmission comes 1 s later (seen with the
            # stock VideoRoom too). Timing tests leave that race out.
            for t in self.pc.getTransceivers():
                if t._transport._role == "auto":
                    t._transport._set_role("server")
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._patch_routers()
        return {"type": "answer", "sdp": self.pc.localDescription.sdp}

    def timeline(self, t0):
        """The setup marks and first frames, in seconds after t0."""
        marks = dict(self.marks)
        for (user, kind), t in self.first.items():
            marks["first %s %s" % (kind, user)] = t
        return ", ".join("%s %.3f" % (k, v - t0) for k, v in sorted(marks.items(), key=lambda x: x[1]))

    def describe(self):
        return ("frames %s; mids %s; tracks %s; PLIs %d; MID-routed packets %s; connection %s"
                % (dict(self.frames), self.mid_user, self.tracks, self.plis,
                   [r.mid_routed for r in self.routers], self.pc.connectionState))

    async def close(self):
        await calls_client.close_pc(self.pc, self.tasks)
        self.tasks = []


class GroupPeer:
    """One device in a group call: a registered publisher handle (self.dev)
    and, once subscribe() ran, a subscriber handle (self.sub) on the same
    Janus session."""

    def __init__(self, dev):
        self.dev = dev
        self.user = dev.user
        self.label = dev.label
        self.call_id = None
        self.link = None
        self.feed = None
        self.reply = None           # group_calling / joined reply data
        self.joined_at = None       # monotonic time of that reply
        self.sub = None
        self.subpc = None
        self.sub_task = None
        self.streams = []           # the newest streams list that was answered
        self.streams_log = []       # [{at, origin, streams, sdp}] per offer answered
        self.errors = []            # failures of the background offer loop
        self.stray = []             # (Calls.strays() reads this of what it closes)
        self.gate = asyncio.Event()  # cleared: `streams` offers wait unanswered until set
        self.gate.set()
        self.offers_seen = 0        # `streams` events taken by the offer loop
        self.prepared = False       # prepare_subscriber() ran: subscribe() uses its handle and PC

    # ---------------------------------------------------------- publisher

    @property
    def media(self):
        return self.dev.media

    def tone(self, loud):
        self.dev.media.local["audio"].loud = loud

    async def _fresh_offer(self, audio=True, video=True):
        if self.dev.media is not None:
            await self.dev.drop_media()
        media = self.dev.new_media()
        media.audio_cls = tone_track_class()
        return await media.offer(audio=audio, video=video)

    async def _publish(self, body, video=True):
        """Sends body with a fresh offer; Janus's core refuses an offer (490)
        while it still frees the handle's previous PeerConnection, which can
        outlast its `hangup` by a moment: then this offers again."""
        for attempt in range(5):
            jsep = await self._fresh_offer(video=video)
            reply = await self.dev.request(body, jsep=jsep)
            if reply.kind == "core_error" and reply.code == 490 and attempt < 4:
                await self.dev.drop_media()
                await asyncio.sleep(0.3)
                continue
            return reply

    def _take_place(self, reply, expect):
        assert not reply.is_error and reply.name == expect, \
            "%s: expected %s, got %r" % (self.label, expect, reply)
        data = reply.data
        assert isinstance(data.get("call_id"), str) and UUID_RE.match(data["call_id"]), \
            "%s needs a lowercase UUID call_id: %r" % (expect, reply)
        assert isinstance(data.get("link"), str) and data["link"], "%s without a link: %r" % (expect, reply)
        assert isinstance(data.get("feed"), str) and data["feed"], "%s without a feed: %r" % (expect, reply)
        assert reply.jsep is not None and reply.jsep.get("type") == "answer", \
            "%s without a JSEP answer: %r" % (expect, reply)
        self.call_id = data["call_id"]
        self.link = data["link"]
        self.feed = data["feed"]
        self.reply = data
        self.joined_at = time.monotonic()

    async def group_call(self, members, video=True, title=None, extra=None):
        body = {"request": "group_call", "members": list(members), "video": video}
        if title is not None:
            body["title"] = title
        body.update(extra or {})
        reply = await self._publish(body, video=video)
        self._take_place(reply, "group_calling")
        await self.dev.apply(reply.jsep)
        return reply

    async def join(self, call_id=None, link=None, video=True):
        body = {"request": "join"}
        if call_id is not None:
            body["call_id"] = call_id
        if link is not None:
            body["link"] = link
        reply = await self._publish(body, video=video)
        self._take_place(reply, "joined")
        if call_id is not None:
            assert reply.data["call_id"] == call_id, reply
        assert isinstance(reply.data.get("participants"), list), "joined without participants: %r" % reply
        for p in reply.data["participants"]:
            assert isinstance(p, dict) and isinstance(p.get("user"), str) and "display" in p \
                and isinstance(p.get("audio"), bool) and isinstance(p.get("video"), bool), \
                "joined.participants entry needs {user, display, audio, video}: %r" % reply
        assert "title" in reply.data, "joined without title: %r" % reply
        await self.dev.apply(reply.jsep)
        return reply

    async def refused(self, body, code, video=True):
        """A group_call or join with an offer that must fail with `code`;
        then the PeerConnection the core had started is let go (Janus's
        `hangup`, if it comes), so that the handle can offer again."""
        reply = await self._publish(body, video=video)
        codes = {code} if isinstance(code, int) else set(code)
        assert reply.kind == "plugin" and reply.name == "error" and reply.error_code in codes, \
            "%s: %s expected error %s, got %r" % (self.label, short(body), sorted(codes), reply)
        calls_client.check_error_shape(reply, body)
        try:
            await self.dev.handle.wait_core("hangup", 3)
        except AssertionError:
            pass
        await self.dev.drop_media()
        return reply

    async def leave(self, request="leave", expect="left"):
        reply = await self.dev.ok({"request": request, "call_id": self.call_id}, expect)
        assert reply.data.get("call_id") == self.call_id, reply
        return reply

    # ---------------------------------------------------------- subscriber

    async def new_sub_handle(self):
        self.sub = await self.dev.conn.attach()
        self.sub.label = self.label + "/sub"
        return self.sub

    async def prepare_subscriber(self, pli=True, fresh_handle=False, dtls_passive=False):
        """The subscriber handle (attached if there is none) and a new
        receive-only RTCPeerConnection, ready for subscribe()."""
        await self.stop_subscriber()
        if self.sub is None or fresh_handle:
            await self.new_sub_handle()
        self.subpc = SubscriberMedia(self.sub.label, pli=pli, dtls_passive=dtls_passive)
        self.prepared = True

    async def subscribe(self, pli=True, feed=None, fresh_handle=False):
        """subscribe {call_id, feed} on the subscriber handle (attached on
        first use); answers the offer it carries, if any, and from then on
        every `streams` offer, in a background task."""
        if not getattr(self, "prepared", False):
            await self.prepare_subscriber(pli=pli, fresh_handle=fresh_handle)
        self.prepared = False
        self.streams = []
        self.streams_log = []
        self.errors = []
        body = {"request": "subscribe", "call_id": self.call_id, "feed": feed or self.feed}
        self.subpc.marks["subscribe sent"] = time.monotonic()
        reply = await self.sub.message(body)
        self.subpc.marks["subscribed"] = time.monotonic()
        assert not reply.is_error and reply.name == "subscribed", \
            "%s: subscribe expected subscribed, got %r" % (self.sub.label, reply)
        assert reply.data.get("call_id") == self.call_id, reply
        streams = reply.data.get("streams")
        check_streams(streams, reply)
        if streams:
            assert reply.jsep is not None and reply.jsep.get("type") == "offer", \
                "subscribed with streams needs a JSEP offer: %r" % reply
        else:
            assert reply.jsep is None, "subscribed without streams carries a JSEP: %r" % reply
        if reply.jsep is not None:
            await self._answer(streams, reply.jsep, "subscribed")
        self.sub_task = asyncio.ensure_future(self._sub_loop())
        return reply

    async def _answer(self, streams, offer, origin):
        assert offer is not None and offer.get("type") == "offer", \
            "%s: %s without a JSEP offer" % (self.sub.label, origin)
        self.subpc.set_streams(streams)
        answer = await self.subpc.answer(offer)
        self.subpc.marks.setdefault("answer made", time.monotonic())
        reply = await self.sub.message({"request": "update", "call_id": self.call_id}, jsep=answer)
        self.subpc.marks.setdefault("updated", time.monotonic())
        assert not reply.is_error and reply.name == "updated", \
            "%s: update with the answer to %s expected updated, got %r" % (self.sub.label, origin, reply)
        assert reply.data.get("call_id") == self.call_id, reply
        self.streams = streams
        self.streams_log.append({"at": time.monotonic(), "origin": origin, "streams": streams,
                                 "sdp": offer["sdp"]})

    async def _sub_loop(self):
        try:
            while True:
                ev = await self.sub.events.take(lambda e: e.name == "streams", 3600)
                if ev is None:
                    continue
                self.offers_seen += 1
                await self.gate.wait()
                try:
                    assert ev.get("call_id") == self.call_id, "streams for another call: %r" % ev
                    check_streams(ev.get("streams"), ev)
                    await self._answer(ev["streams"], ev.jsep, "streams event")
                except asyncio.CancelledError:
                    raise
                except Exception as e:   # kept for the test to report
                    self.errors.append("%s: %s" % (type(e).__name__, e))
        except asyncio.CancelledError:
            pass

    async def stop_subscriber(self):
        if self.sub_task is not None:
            self.sub_task.cancel()
            try:
                await self.sub_task
            except BaseException:
                pass
            self.sub_task = None
        if self.subpc is not None:
            await self.subpc.close()
            self.subpc = None

    def users_in_streams(self):
        return {s["user"] for s in self.streams}

    def mids_of(self, user):
        """{kind: mid} of a user in the newest answered streams list."""
        return {s["kind"]: s["mid"] for s in self.streams if s["user"] == user}

    def check_errors(self):
        assert not self.errors, "%s: the subscriber's offer loop failed: %s" % (self.label, self.errors)

    def state(self):
        return "%s: streams %s; %s; errors %s; subscriber events %s" % (
            self.label, [(s["mid"], s["kind"], s["user"]) for s in self.streams],
            self.subpc.describe() if self.subpc else "no subscriber", self.errors,
            self.sub.events.history if self.sub else [])

    async def wait_streams(self, pred, timeout=5, what="streams"):
        """Until the newest answered streams list satisfies pred(streams)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_errors()
            if pred(self.streams):
                return self.streams
            await asyncio.sleep(0.05)
        raise AssertionError("%s: no %s within %ss; %s" % (self.label, what, timeout, self.state()))

    def frames_from(self, user):
        return {"audio": self.subpc.frames[(user, "audio")], "video": self.subpc.frames[(user, "video")]}

    async def wait_from(self, user, audio=20, video=10, since=None, timeout=20):
        """At least audio/video more frames decoded from user's streams."""
        since = since or {"audio": 0, "video": 0}
        deadline = time.monotonic() + timeout
        while True:
            self.check_errors()
            got = self.frames_from(user)
            if got["audio"] - since["audio"] >= audio and got["video"] - since["video"] >= video:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(
                    "%s: expected %d audio and %d video frames from %s within %ss, got %d and %d; %s"
                    % (self.label, audio, video, user, timeout, got["audio"] - since["audio"],
                       got["video"] - since["video"], self.state()))
            await asyncio.sleep(0.1)

    async def close(self):
        await self.stop_subscriber()


def check_streams(streams, where):
    assert isinstance(streams, list), "streams is not a list: %r" % where
    for s in streams:
        assert isinstance(s, dict) and isinstance(s.get("mid"), str) and s.get("kind") in ("audio", "video") \
            and isinstance(s.get("user"), str) and "display" in s, \
            "a streams entry needs {mid, kind, user, display}: %r" % where
    mids = [s["mid"] for s in streams]
    assert len(mids) == len(set(mids)), "a mid twice in streams: %r" % where


async def participant(calls, user, display=None, device=None):
    """A registered device of `user`, as a GroupPeer (closed with the test's
    other devices)."""
    kw = {}
    if display is not None:
        kw["display"] = display
    if device is not None:
        kw["device"] = device
    dev = await calls.device(user, **kw)
    peer = GroupPeer(dev)
    calls.closables.append(peer)
    return peer

"""Group call benchmark (driven by bench/group.sh; see bench/README.md).

The same group of N participants is relayed by janus.plugin.calls (its
group calls) and by Janus's own janus.plugin.videoroom (multistream API),
with the same Janus binary, the same plugin folder (both plugins loaded in
every run) and the same peers. Each run starts a fresh Janus.

Peers: one process per participant (this file run with --peer, so the peers
use both cores), each an aiortc client with two PeerConnections on one Janus
session: a publisher sending synthetic Opus audio (a tone, 20 ms frames) and
VP8 video (BENCH_VIDEO at BENCH_FPS and a fixed BENCH_VIDEO_KBPS: REMB does
not move it), both in real time (late frames are dropped, not bunched), and
a subscriber receiving every other participant's audio and video. What a
receiver does with it (BENCH_RECEIVE): "count" (the default) counts each
packet as it comes out of SRTP, by SSRC (sequence gaps = loss, marker bits =
video frames) and drops it: aiortc's own receive path (jitter buffer, NACK,
receiver reports, REMB) costs the peers about twice as much per packet, and
the peers, not Janus, are what fills this machine; "frames" lets aiortc
reassemble frames without decoding them; "decode" decodes them, with a PLI
every 0.5 s for each video stream that has shown nothing for 1.5 s.

Signalling of a run:
  videoroom  the benchmark creates a room; participant 1..N in turn `join`s
             as publisher and `publish`es (offer -> answer, then Janus's
             webrtcup); then every subscriber handle `join`s as subscriber
             with `streams` = all the other feeds (offer from Janus) and
             `start`s with its answer.
  calls      every participant registers; participant 1 sends `group_call
             {members: 2..N, video}` + offer, 2..N in turn `join {call_id}` +
             offer (each waits for its webrtcup); then every subscriber
             handle sends `subscribe {call_id, feed}` (its own feed) and
             answers the offer with `update {call_id}`; a later `streams`
             offer would be answered the same way.
  Both: the publishers are all in before anyone subscribes, so the steady
  state has no renegotiation.

Measured, once every receiver gets audio and video frames from all the
others, after BENCH_WARMUP_S and once the rest of the machine is quiet
(BENCH_QUIET), over BENCH_WINDOW_S:
  - Janus CPU (utime + stime of the process, and by thread name);
  - packets forwarded = RTP packets the receivers got, and packets the
    publishers sent;
  - Janus CPU per forwarded packet, and the ratio calls / videoroom within
    each round (BENCH_ROUNDS rounds: videoroom, calls, videoroom, calls);
  - loss (sequence gaps) and frames per receiver and per stream;
  - the peers' CPU, the machine's busy share (/proc/stat), what the rest of
    the machine used meanwhile, and the peers' event-loop lag (how late a
    50 ms timer fired);
  - optionally (BENCH_PERF=1) a perf profile of Janus over the window.

Then a search for the largest N each plugin relays without loss: from
BENCH_SEARCH_FROM up, one at a time (results of the first round are reused),
until a run loses packets (a run that lost packets beside other work on the
machine is run once more), Janus and the peers use BENCH_BUSY_LIMIT percent
of the machine, a run fails, or BENCH_SEARCH_MAX. With BENCH_SEARCH_STEP
above 1 it goes up that many at a time and, after a loss, tries the sizes it
skipped one at a time.

bench/relay.py runs one-to-one calls against janus.plugin.videocall with
the same peers, run, search and tables: GroupRun, configure() and
run_benchmark() are what it changes or calls.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import benchlib  # noqa: E402
from benchlib import (Janus, arguments, begin, count_log, cpu_seconds, env_int, env_list,  # noqa: E402
                      finish, log, num, table, tail)
from janus_instance import janus_lib_dir  # noqa: E402

import calls_client  # noqa: E402
from calls_client import JanusConnection, fix_extmaps, short  # noqa: E402

CALLS = "janus.plugin.calls"
VIDEOROOM = "janus.plugin.videoroom"
PLUGIN_NAMES = {"videoroom": VIDEOROOM, "calls": CALLS}
ADMIN_KEY = benchlib.ADMIN_KEY
ROOM = 4242


def user_of(i):
    return "g%02d" % i


# ================================================================ the peer (group.py --peer)

class SsrcCount:
    """What a lean receiver counts of one incoming SSRC: packets, the
    extended highest sequence number, frames (video: packets with the
    marker bit, the last of a frame; audio: every packet is a frame)."""

    __slots__ = ("receiver", "video", "packets", "base", "top", "frames", "last")

    def __init__(self, receiver, seq):
        self.receiver = receiver
        self.video = getattr(receiver, "_RTCRtpReceiver__kind", None) == "video"
        self.packets = 0
        self.base = seq
        self.top = seq
        self.frames = 0
        self.last = 0.0

    def add(self, seq, marker):
        self.packets += 1
        # Extend the 16-bit number: within half the space of the highest so far.
        delta = (seq - self.top) & 0xFFFF
        if delta < 0x8000:
            self.top += delta
        if marker or not self.video:
            self.frames += 1
            self.last = time.monotonic()

    @property
    def lost(self):
        return max(0, self.top - self.base + 1 - self.packets)


COUNTS = {}     # SSRC -> SsrcCount (BENCH_RECEIVE=count)


def patch_media(cfg):
    """aiortc as the benchmark wants it: the VP8 encoder at a fixed bitrate
    (REMB ignored) and paced for cfg fps; and what receivers do with what
    they get (cfg receive): "decode" as aiortc does; "frames": reassembled
    in aiortc's jitter buffers but not decoded; "count": counted as the
    packets come out of SRTP and dropped (no jitter buffer, NACK, receiver
    reports or REMB: the peers' own cost per packet is the limit here)."""
    from aiortc.codecs import vpx
    vpx.MAX_FRAME_RATE = cfg["fps"]
    vpx.DEFAULT_BITRATE = vpx.MIN_BITRATE = vpx.MAX_BITRATE = cfg["kbps"] * 1000
    if cfg["receive"] == "count":
        import struct
        from aiortc.rtcdtlstransport import RTCDtlsTransport
        from aiortc.rtp import RtpPacket
        header = struct.Struct("!BBHII").unpack_from

        async def handle_rtp_data(self, data, arrival_time_ms):
            if len(data) < 12:
                return
            _, b1, seq, _, ssrc = header(data)
            c = COUNTS.get(ssrc)
            if c is None:
                # The first packet of an SSRC goes through aiortc's router
                # once, to learn which receiver (m-line) it belongs to.
                try:
                    packet = RtpPacket.parse(data, self._rtp_header_extensions_map)
                except ValueError:
                    return
                receiver = self._rtp_router.route_rtp(packet)
                if receiver is None:
                    return
                c = COUNTS[ssrc] = SsrcCount(receiver, seq)
            c.add(seq, b1 & 0x80)

        RTCDtlsTransport._handle_rtp_data = handle_rtp_data
    elif cfg["receive"] == "frames":
        import aiortc.rtcrtpreceiver as rr

        class Assembled:
            """What a receiver yields instead of a decoded frame."""

        class Counter:
            def decode(self, encoded_frame):
                return [Assembled()]

        rr.get_decoder = lambda codec: Counter()


def make_tracks(cfg, seed):
    import fractions
    import numpy as np
    from av import VideoFrame
    from aiortc import mediastreams

    w, h = cfg["width"], cfg["height"]
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(8):
        # Low-amplitude noise that changes every frame: the encoder spends its
        # whole (fixed) bitrate, as on a real camera, at little cost.
        y = (128 + rng.integers(-16, 17, (h, w))).astype(np.uint8)
        arr = np.concatenate([y, np.full((h // 2, w), 128, np.uint8)])
        frames.append(VideoFrame.from_ndarray(arr, format="yuv420p"))
    step = 90000 // cfg["fps"]
    tb = fractions.Fraction(1, 90000)

    class Paced(mediastreams.MediaStreamTrack):
        """Frames in real time, as a camera's or a microphone's: one that is
        late is dropped, not sent in a burst later."""

        def __init__(self, period):
            super().__init__()
            self.period = period
            self.n = 0
            self.start = None

        async def tick(self):
            now = time.time()
            if self.start is None:
                self.start = now
            else:
                self.n = max(self.n, int((now - self.start) / self.period))
                wait = self.start + self.n * self.period - now
                if wait > 0:
                    await asyncio.sleep(wait)
            n = self.n
            self.n += 1
            return n

    class Video(Paced):
        kind = "video"

        def __init__(self):
            super().__init__(step / 90000.0)

        async def recv(self):
            n = await self.tick()
            f = frames[n % len(frames)]
            f.pts = n * step
            f.time_base = tb
            return f

    from av import AudioFrame
    rate, samples = 48000, 960
    # A 400 Hz tone (8 periods in 20 ms) at about -20 dBov: Opus has
    # something to encode, and the audio-level extension says "talking".
    tone = (3000 * np.sin(2 * np.pi * 400 * np.arange(samples) / rate)).astype("<i2").tobytes()
    atb = fractions.Fraction(1, rate)

    class Audio(Paced):
        """20 ms frames."""
        kind = "audio"

        def __init__(self):
            super().__init__(samples / rate)

        async def recv(self):
            n = await self.tick()
            frame = AudioFrame(format="s16", layout="mono", samples=samples)
            frame.planes[0].update(tone)
            frame.pts = n * samples
            frame.sample_rate = rate
            frame.time_base = atb
            return frame

    return Audio(), Video()


class Peer:
    """One participant: a publisher and a subscriber PeerConnection on one
    Janus session."""

    def __init__(self, cfg, index, ws_url):
        self.cfg = cfg
        self.index = index
        self.user = user_of(index)
        self.ws_url = ws_url
        aiortc, _ = calls_client._import_media()
        self.aiortc = aiortc
        self.conn = None
        self.pub = None
        self.sub = None
        self.pub_pc = None
        self.sub_pc = None
        self.feed = None
        self.call_id = None
        self.tracks = {}            # mid -> {"kind", "frames", "last"}
        self.tasks = []
        self.sub_lock = asyncio.Lock()
        self.renegotiations = 0
        self.plis = 0
        self.lag_max = 0.0
        self.lag_sum = 0.0
        self.lag_n = 0
        self.errors = []

    # -- plumbing
    def pc(self):
        return self.aiortc.RTCPeerConnection(self.aiortc.RTCConfiguration(iceServers=[]))

    async def open(self, plugin, subscriber=True):
        """subscriber: a second handle for the subscriber PeerConnection
        (relay.py's peers send and receive on one)."""
        self.conn = JanusConnection(self.ws_url)
        await self.conn.connect()
        await self.conn.create_session()
        self.pub = await self.conn.attach(plugin)
        if subscriber:
            self.sub = await self.conn.attach(plugin)
        self.tasks.append(asyncio.ensure_future(self._lag_loop()))
        self.tasks.append(asyncio.ensure_future(self._pli_loop()))
        return {}

    async def msg(self, handle, body, jsep=None, timeout=30):
        """The plugin's reply data and JSEP; a core error raises."""
        r = await handle.message(body, jsep, timeout)
        if r.kind == "core_error":
            raise RuntimeError("%s: core error %s %s" % (body.get("request"), r.code, r.reason))
        return r.data or {}, r.jsep

    async def publisher_offer(self, direction="sendonly"):
        self.pub_pc = self.pc()
        audio, video = make_tracks(self.cfg, self.index)
        self.pub_pc.addTransceiver(audio, direction=direction)
        self.pub_pc.addTransceiver(video, direction=direction)
        await self.pub_pc.setLocalDescription(await self.pub_pc.createOffer())
        return {"type": "offer", "sdp": fix_extmaps(self.pub_pc.localDescription.sdp)}

    async def publisher_answer(self, jsep):
        """Applies the answer, then waits for Janus's `webrtcup` on the
        publisher handle (VideoRoom knows a feed only from then on)."""
        if not jsep or jsep.get("type") != "answer":
            raise RuntimeError("the publisher got no JSEP answer: %r" % (jsep,))
        await self.pub_pc.setRemoteDescription(self.aiortc.RTCSessionDescription(sdp=jsep["sdp"], type="answer"))
        await self.pub.wait_core("webrtcup", 20)

    async def subscriber_answer(self, jsep):
        """Applies an offer on the subscriber PeerConnection; our answer."""
        if not jsep or jsep.get("type") != "offer":
            raise RuntimeError("the subscriber got no JSEP offer: %r" % (jsep,))
        if self.sub_pc is None:
            self.sub_pc = self.pc()
            self.sub_pc.on("track", self._on_track)
        await self.sub_pc.setRemoteDescription(self.aiortc.RTCSessionDescription(sdp=jsep["sdp"], type="offer"))
        await self.sub_pc.setLocalDescription(await self.sub_pc.createAnswer())
        return {"type": "answer", "sdp": self.sub_pc.localDescription.sdp}

    def _on_track(self, track):
        mid = None
        for t in self.sub_pc.getTransceivers():
            if t.receiver.track is track:
                mid = t.mid
        entry = {"kind": track.kind, "frames": 0, "last": 0.0, "mid": mid}
        self.tracks[mid if mid is not None else "t%d" % len(self.tracks)] = entry
        self.tasks.append(asyncio.ensure_future(self._consume(track, entry)))

    async def _consume(self, track, entry):
        from aiortc.mediastreams import MediaStreamError
        try:
            while True:
                await track.recv()
                entry["frames"] += 1
                entry["last"] = time.monotonic()
        except (MediaStreamError, asyncio.CancelledError):
            pass
        except Exception as e:  # noqa: BLE001
            self.errors.append("track %s: %r" % (entry["mid"], e))

    async def _pli_loop(self):
        """A PLI every 0.5 s for each video stream that decoded nothing for
        1.5 s, as a browser does (aiortc asks only after loss)."""
        try:
            while True:
                await asyncio.sleep(0.5)
                if self.sub_pc is None or self.cfg["receive"] == "count":
                    continue
                now = time.monotonic()
                for t in self.sub_pc.getTransceivers():
                    r = t.receiver
                    if t.kind != "video" or r.track is None:
                        continue
                    e = self.tracks.get(t.mid)
                    if e is not None and now - e["last"] < 1.5:
                        continue
                    send = getattr(r, "_send_rtcp_pli", None)
                    for src in r.getSynchronizationSources() if send else ():
                        try:
                            await send(src.source)
                            self.plis += 1
                        except Exception:  # noqa: BLE001
                            pass
        except asyncio.CancelledError:
            pass

    async def _lag_loop(self):
        try:
            while True:
                t0 = time.monotonic()
                await asyncio.sleep(0.05)
                lag = time.monotonic() - t0 - 0.05
                self.lag_max = max(self.lag_max, lag)
                self.lag_sum += lag
                self.lag_n += 1
        except asyncio.CancelledError:
            pass

    # -- VideoRoom
    async def vr_publish(self, room):
        data, _ = await self.msg(self.pub, {"request": "join", "ptype": "publisher", "room": room,
                                            "id": self.index, "display": self.user})
        if data.get("videoroom") != "joined":
            raise RuntimeError("videoroom join as publisher: %s" % short(data))
        offer = await self.publisher_offer()
        data, jsep = await self.msg(self.pub, {"request": "publish"}, offer)
        if data.get("videoroom") != "event" or data.get("configured") != "ok":
            raise RuntimeError("videoroom publish: %s" % short(data))
        await self.publisher_answer(jsep)
        self.feed = self.index
        return {"feed": self.index}

    async def vr_subscribe(self, room, feeds):
        data, jsep = await self.msg(self.sub, {"request": "join", "ptype": "subscriber", "room": room,
                                               "streams": [{"feed": f} for f in feeds]})
        if data.get("videoroom") != "attached":
            raise RuntimeError("videoroom join as subscriber: %s" % short(data))
        answer = await self.subscriber_answer(jsep)
        data, _ = await self.msg(self.sub, {"request": "start"}, answer)
        if data.get("videoroom") != "event" or data.get("started") != "ok":
            raise RuntimeError("videoroom start: %s" % short(data))
        return {"streams": len(data.get("streams") or []) or None}

    # -- janus.plugin.calls
    async def gc_register(self):
        data, _ = await self.msg(self.pub, {"request": "register", "user": self.user, "display": self.user})
        if data.get("calls") != "registered":
            raise RuntimeError("register: %s" % short(data))
        return {}

    async def gc_start(self, members, video=True):
        offer = await self.publisher_offer()
        body = {"request": "group_call", "members": members, "video": video, "title": "bench"}
        data, jsep = await self.msg(self.pub, body, offer)
        if data.get("calls") != "group_calling":
            raise RuntimeError("request %s: expected group_calling + JSEP answer, got %s" % (
                json.dumps(body), short(data, 400)))
        await self.publisher_answer(jsep)
        self.call_id, self.feed = data.get("call_id"), data.get("feed")
        return {"call_id": self.call_id}

    async def gc_join(self, call_id):
        offer = await self.publisher_offer()
        body = {"request": "join", "call_id": call_id}
        data, jsep = await self.msg(self.pub, body, offer)
        if data.get("calls") != "joined":
            raise RuntimeError("request %s: expected joined + JSEP answer, got %s" % (
                json.dumps(body), short(data, 400)))
        await self.publisher_answer(jsep)
        self.call_id, self.feed = call_id, data.get("feed")
        return {"participants": len(data.get("participants") or [])}

    async def gc_subscribe(self):
        body = {"request": "subscribe", "call_id": self.call_id, "feed": self.feed}
        async with self.sub_lock:
            data, jsep = await self.msg(self.sub, body)
            if data.get("calls") != "subscribed":
                raise RuntimeError("request subscribe {call_id, feed}: expected subscribed + JSEP offer, got %s"
                                   % short(data, 400))
            streams = data.get("streams") or []
            if streams:
                await self._gc_update(jsep)
        self.tasks.append(asyncio.ensure_future(self._streams_loop()))
        return {"streams": len(streams)}

    async def _gc_update(self, jsep):
        answer = await self.subscriber_answer(jsep)
        body = {"request": "update", "call_id": self.call_id}
        data, _ = await self.msg(self.sub, body, answer)
        if data.get("calls") != "updated":
            raise RuntimeError("request update {call_id} + JSEP answer on the subscriber handle: expected updated, "
                               "got %s" % short(data, 400))

    async def _streams_loop(self):
        """Later `streams` offers, answered as the protocol says."""
        try:
            while True:
                ev = await self.sub.events.take(lambda e: e.name == "streams", 3600)
                if ev is None:
                    continue
                if not ev.jsep:
                    continue
                async with self.sub_lock:
                    try:
                        await self._gc_update(ev.jsep)
                        self.renegotiations += 1
                    except Exception as e:  # noqa: BLE001
                        self.errors.append("streams renegotiation: %s" % e)
        except asyncio.CancelledError:
            pass

    # -- measuring
    def progress(self):
        """{mid: {"kind", "frames", "last"}} of what the subscriber got."""
        if self.cfg["receive"] != "count":
            return self.tracks
        out = {}
        for t in self.sub_pc.getTransceivers() if self.sub_pc else ():
            e = out[t.mid] = {"kind": t.kind, "frames": 0, "last": 0.0, "packets": 0, "lost": 0}
            for c in COUNTS.values():
                if c.receiver is t.receiver:
                    e["frames"] += c.frames
                    e["last"] = max(e["last"], c.last)
                    e["packets"] += c.packets
                    e["lost"] += c.lost
        return out

    async def wait_media(self, expect, within):
        """Until audio and video frames come from `expect` streams of each kind."""
        deadline = time.monotonic() + within
        while True:
            got = {"audio": 0, "video": 0}
            for e in self.progress().values():
                if e["frames"] > 0 and time.monotonic() - e["last"] < 2:
                    got[e["kind"]] += 1
            if got["audio"] >= expect and got["video"] >= expect:
                return {"waited": True}
            if time.monotonic() > deadline:
                raise RuntimeError("%s: after %d s, audio from %d and video from %d of %d streams; tracks %d; "
                                   "subscriber %s / ICE %s; PLIs sent %d; errors %s" % (
                                       self.user, within, got["audio"], got["video"], expect, len(self.tracks),
                                       self.sub_pc.connectionState if self.sub_pc else "none",
                                       self.sub_pc.iceConnectionState if self.sub_pc else "-", self.plis,
                                       self.errors[:3]))
            await asyncio.sleep(0.2)

    async def stats(self):
        rx = {}
        if self.cfg["receive"] == "count":
            for mid, e in self.progress().items():
                rx[mid] = {"kind": e["kind"], "packets": e["packets"], "lost": e["lost"], "frames": e["frames"]}
        elif self.sub_pc is not None:
            for t in self.sub_pc.getTransceivers():
                if t.receiver is None:
                    continue
                pk = lost = 0
                for s in (await t.receiver.getStats()).values():
                    if s.type == "inbound-rtp":
                        pk += s.packetsReceived
                        lost += s.packetsLost
                e = self.tracks.get(t.mid) or {}
                rx[t.mid] = {"kind": t.kind, "packets": pk, "lost": lost, "frames": e.get("frames", 0)}
        tx = {}
        if self.pub_pc is not None:
            for t in self.pub_pc.getTransceivers():
                pk = 0
                for s in (await t.sender.getStats()).values():
                    if s.type == "outbound-rtp":
                        pk += s.packetsSent
                tx[t.kind] = pk
        lag = {"max": self.lag_max, "mean": self.lag_sum / self.lag_n if self.lag_n else 0.0}
        self.lag_max = self.lag_sum = 0.0
        self.lag_n = 0
        return {"rx": rx, "tx": tx, "lag": lag, "renegotiations": self.renegotiations, "plis": self.plis,
                "errors": self.errors[:5]}

    async def close(self):
        for t in self.tasks:
            t.cancel()
        for pc in (self.pub_pc, self.sub_pc):
            if pc is not None:
                try:
                    await asyncio.wait_for(pc.close(), 5)
                except Exception:  # noqa: BLE001
                    pass
        if self.conn is not None:
            await self.conn.close()
        return {}


async def peer_main(cfg, index, ws_url, peer_class):
    """Commands as JSON lines on stdin ({id, cmd, args}) to a peer_class,
    replies on stdout ({id, ok, ...})."""
    patch_media(cfg)
    peer = peer_class(cfg, index, ws_url)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def reply(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    async def run(req):
        try:
            out = await getattr(peer, req["cmd"])(**req.get("args", {}))
            reply(dict(out or {}, id=req["id"], ok=True))
        except Exception as e:  # noqa: BLE001
            print(traceback.format_exc(), file=sys.stderr, flush=True)
            reply({"id": req["id"], "ok": False, "error": str(e)})

    pending = set()
    while True:
        line = await reader.readline()
        if not line:
            break
        req = json.loads(line)
        if req["cmd"] == "close":
            await peer.close()
            reply({"id": req["id"], "ok": True})
            break
        t = asyncio.ensure_future(run(req))
        pending.add(t)
        t.add_done_callback(pending.discard)


# ================================================================ the benchmark

class PeerProc:
    """A peer process (script run with --peer) and its command pipe."""

    script = os.path.abspath(__file__)

    def __init__(self, index, cfg, ws_url, log_path):
        self.index = index
        self.cfg = cfg
        self.ws_url = ws_url
        self.log_path = log_path
        self.proc = None
        self.futs = {}
        self.next_id = 0
        self.reader = None

    async def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, self.script, "--peer", "--index", str(self.index), "--ws", self.ws_url,
            "--cfg", json.dumps(self.cfg), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=self.log, limit=1 << 22)
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            msg = json.loads(line)
            fut = self.futs.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        for fut in self.futs.values():
            if not fut.done():
                fut.set_exception(RuntimeError("peer %d exited; its log:\n%s" % (self.index, tail(self.log_path, 15))))

    async def cmd(self, cmd, timeout=60, **args):
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.futs[self.next_id] = fut
        self.proc.stdin.write((json.dumps({"id": self.next_id, "cmd": cmd, "args": args}) + "\n").encode())
        await self.proc.stdin.drain()
        try:
            r = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise RuntimeError("peer %d: no reply to %s within %d s" % (self.index, cmd, timeout)) from None
        if not r.get("ok"):
            raise RuntimeError("peer %d (%s): %s" % (self.index, user_of(self.index), r.get("error")))
        return r

    def cpu(self):
        return cpu_seconds(self.proc.pid, default=0.0) if self.proc else 0.0

    async def close(self):
        if self.proc is None:
            return
        if self.proc.returncode is None:
            try:
                await self.cmd("close", timeout=10)
            except Exception:  # noqa: BLE001
                pass
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.reader is not None:
            self.reader.cancel()
        self.log.close()


def machine_cpu():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])
    return total - idle, total


def thread_cpu(pid):
    """CPU seconds by thread name (digits dropped, so Janus's per-handle
    threads add up)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = "".join(c for c in f.read().strip() if not c.isdigit()).strip() or "?"
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


async def wait_quiet(janus_pid, peers, cfg):
    """Waits (at most BENCH_QUIET_WAIT_S) until the rest of the machine used
    less than BENCH_QUIET percent of it over a second: other work on a
    2-CPU machine moves the numbers. The seconds waited and the last share."""
    t0 = time.monotonic()
    other = float("nan")
    while True:
        m0, own0 = machine_cpu(), cpu_seconds(janus_pid) + sum(p.cpu() for p in peers) + cpu_seconds(os.getpid())
        t1 = time.monotonic()
        await asyncio.sleep(1.0)
        m1, own1 = machine_cpu(), cpu_seconds(janus_pid) + sum(p.cpu() for p in peers) + cpu_seconds(os.getpid())
        total = m1[1] - m0[1]
        busy = 100.0 * (m1[0] - m0[0]) / total if total else 0.0
        other = busy - 100.0 * (own1 - own0) / ((time.monotonic() - t1) * os.cpu_count())
        waited = time.monotonic() - t0
        if other < cfg["quiet"] or waited >= cfg["quiet_wait"]:
            return waited, other


async def snapshot(janus_pid, peers):
    stats = await asyncio.gather(*(p.cmd("stats", timeout=30) for p in peers))
    return {"t": time.monotonic(), "janus": cpu_seconds(janus_pid), "threads": thread_cpu(janus_pid),
            "peers": [p.cpu() for p in peers], "self": cpu_seconds(os.getpid()), "machine": machine_cpu(),
            "stats": stats}


def summarize(a, b, expect, cfg):
    """The numbers of a run from two snapshots; expect: the streams of each
    kind every receiver should get."""
    dt = b["t"] - a["t"]
    out = {"window": dt, "janus": b["janus"] - a["janus"],
           "threads": {k: v - a["threads"].get(k, 0.0) for k, v in b["threads"].items()},
           "peers": sum(b["peers"]) - sum(a["peers"]),
           "peer_max": max(y - x for x, y in zip(a["peers"], b["peers"]))}
    busy = b["machine"][0] - a["machine"][0]
    total = b["machine"][1] - a["machine"][1]
    out["busy"] = 100.0 * busy / total if total else float("nan")
    # The share of the machine this benchmark used (Janus, peers, this
    # process), and what the rest of the machine used meanwhile.
    cpus = os.cpu_count()
    own = out["janus"] + out["peers"] + b["self"] - a["self"]
    out["own"] = 100.0 * own / (dt * cpus)
    out["other"] = max(0.0, out["busy"] - out["own"])
    fwd = {"audio": 0, "video": 0}
    sent = {"audio": 0, "video": 0}
    receivers = []
    lost_total = 0
    for sa, sb in zip(a["stats"], b["stats"]):
        r = {"packets": 0, "lost": 0, "afps": [], "vfps": [], "streams": {"audio": 0, "video": 0}}
        for mid, x in sb["rx"].items():
            y = sa["rx"].get(mid, {"packets": 0, "lost": 0, "frames": 0})
            dp = x["packets"] - y["packets"]
            dl = max(0, x["lost"] - y["lost"])
            df = x["frames"] - y["frames"]
            fwd[x["kind"]] += dp
            r["packets"] += dp
            r["lost"] += dl
            if dp > 0:
                r["streams"][x["kind"]] += 1
            (r["afps"] if x["kind"] == "audio" else r["vfps"]).append(df / dt)
        for kind in sent:
            sent[kind] += sb["tx"].get(kind, 0) - sa["tx"].get(kind, 0)
        r["lag_max"] = sb["lag"]["max"]
        r["lag_mean"] = sb["lag"]["mean"]
        r["renegotiations"] = sb["renegotiations"]
        r["errors"] = sb["errors"]
        lost_total += r["lost"]
        receivers.append(r)
    out.update(fwd=fwd, sent=sent, receivers=receivers, lost=lost_total)
    packets = fwd["audio"] + fwd["video"]
    out["packets"] = packets
    out["us_per_packet"] = out["janus"] * 1e6 / packets if packets else float("nan")
    out["loss_pct"] = 100.0 * lost_total / (packets + lost_total) if packets + lost_total else float("nan")
    out["expected_streams"] = expect
    return out


async def perf_report(path):
    """{"sym": [(percent, dso, symbol)], "dso": [(percent, dso)]} of the
    samples, largest first."""
    async def report(sort):
        p = await asyncio.create_subprocess_exec(
            "perf", "report", "-i", path, "--stdio", "-q", "--sort", sort, "--percent-limit", "0.3",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        text, _ = await p.communicate()
        rows = []
        for line in text.decode(errors="replace").splitlines():
            parts = line.split(None, 2)
            if len(parts) >= 2 and parts[0].endswith("%"):
                sym = parts[2].strip() if len(parts) == 3 else ""
                sym = sym[4:] if sym[:4] in ("[.] ", "[k] ") else sym
                rows.append((float(parts[0][:-1]), parts[1], sym))
        return rows
    return {"sym": await report("dso,sym"), "dso": [(p, d) for p, d, _ in await report("dso")]}


def plugin_folder(a, stock="videoroom"):
    """A folder with both plugins (this one and Janus's janus.plugin.<stock>),
    so that every run loads the same two."""
    d = os.path.join(a.work, "plugins")
    if not os.path.isdir(d):
        os.makedirs(d)
        os.symlink(os.path.join(os.path.abspath(a.plugin_dir), "libjanus_calls.so"),
                   os.path.join(d, "libjanus_calls.so"))
        os.symlink(os.path.join(janus_lib_dir("plugins"), "libjanus_%s.so" % stock),
                   os.path.join(d, "libjanus_%s.so" % stock))
    return d


class GroupJanus(Janus):
    """The benchmark's Janus: both plugins, the stock one (the VideoRoom: no
    rooms of its own) with no events to handlers."""

    stock = "videoroom"

    def write_config(self):
        super().write_config()
        with open(os.path.join(self.conf_dir, "janus.plugin.%s.jcfg" % self.stock), "w") as f:
            f.write("general: {\n\tevents = false\n}\n")


class GroupRun:
    """One run: a fresh Janus, the peers, one plugin's signalling, then the
    measurement. This one is a group of n; relay.py's RelayRun is n calls."""

    janus_class = GroupJanus
    peer_proc = PeerProc
    names = PLUGIN_NAMES

    def __init__(self, a, cfg, plugin, n, rnd):
        self.a, self.cfg, self.plugin, self.n, self.rnd = a, cfg, plugin, n, rnd
        self.ctl = None

    def peers_n(self):
        return self.n

    def expect(self):
        """Streams of each kind every receiver gets."""
        return self.n - 1

    def plugin_conf(self):
        return {"general": {"auth": "none", "admin_key": ADMIN_KEY, "rate_limit": 0, "events": False,
                            "max_group_size": max(32, self.n)}}

    def open_args(self):
        return {}

    async def signalling(self, janus, peers):
        """Sets the media up; the seconds of its steps, by name, in order."""
        n = self.n
        if self.plugin == "videoroom":
            self.ctl = JanusConnection(janus.ws_url)
            await self.ctl.connect()
            await self.ctl.create_session()
            h = await self.ctl.attach(VIDEOROOM)
            r = await h.message({"request": "create", "room": ROOM, "publishers": n, "audiocodec": "opus",
                                 "videocodec": "vp8", "bitrate": 0, "permanent": False})
            if (r.data or {}).get("videoroom") != "created":
                raise RuntimeError("videoroom create: %r" % r)
            t_pub = time.monotonic()
            for p in peers:
                await p.cmd("vr_publish", room=ROOM)
            t_sub = time.monotonic()
            await asyncio.gather(*(p.cmd("vr_subscribe", room=ROOM, feeds=[q.index for q in peers if q is not p])
                                   for p in peers))
        else:
            await asyncio.gather(*(p.cmd("gc_register") for p in peers))
            t_pub = time.monotonic()
            r = await peers[0].cmd("gc_start", members=[user_of(q.index) for q in peers[1:]])
            for p in peers[1:]:
                await p.cmd("gc_join", call_id=r["call_id"])
            t_sub = time.monotonic()
            await asyncio.gather(*(p.cmd("gc_subscribe") for p in peers))
        return {"publish": t_sub - t_pub, "subscribe": time.monotonic() - t_sub}

    async def run(self):
        """The summary, or raises."""
        a, cfg, plugin, n, rnd = self.a, self.cfg, self.plugin, self.n, self.rnd
        tag = "%s-n%d-r%d" % (plugin, n, rnd)
        work = os.path.join(a.work, tag)
        os.makedirs(work, exist_ok=True)
        cls = self.janus_class
        cls.event_loops = cfg["event_loops"]
        janus = cls(plugin_dir=plugin_folder(a, cls.stock), workdir=os.path.join(work, "janus"),
                    debug_level=cfg["debug_level"], plugin_conf=self.plugin_conf())
        peers = []
        t_setup = time.monotonic()
        try:
            janus.start()
            log_start = os.path.getsize(janus.log_path)
            peers = [self.peer_proc(i, cfg, janus.ws_url, os.path.join(work, "peer%02d.log" % i))
                     for i in range(1, self.peers_n() + 1)]
            for p in peers:
                await p.start()
            await asyncio.gather(*(p.cmd("open", plugin=self.names[plugin], **self.open_args()) for p in peers))
            steps = await self.signalling(janus, peers)
            setup = time.monotonic() - t_setup
            await asyncio.gather(*(p.cmd("wait_media", timeout=cfg["media_timeout"] + 10, expect=self.expect(),
                                         within=cfg["media_timeout"]) for p in peers))
            flowing = time.monotonic() - t_setup
            log("  %s: media flowing after %.1f s (signalling %.1f s); warm-up %d s, window %d s" % (
                tag, flowing, setup, cfg["warmup"], cfg["window"]))
            await asyncio.sleep(cfg["warmup"])
            waited, other = await wait_quiet(janus.proc.pid, peers, cfg)
            if waited > 1.5:
                log("  waited %.0f s for the rest of the machine to calm down (now %.0f%% of it)" % (waited, other))
            perf = None
            if cfg["perf"]:
                perf = await asyncio.create_subprocess_exec(
                    "perf", "record", "-q", "-F", "999", "-e", "cpu-clock", "-p", str(janus.proc.pid),
                    "-o", os.path.join(work, "perf.data"), stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL)
            log_window = os.path.getsize(janus.log_path)
            s0 = await snapshot(janus.proc.pid, peers)
            await asyncio.sleep(cfg["window"])
            s1 = await snapshot(janus.proc.pid, peers)
            log_end = os.path.getsize(janus.log_path)
            out = summarize(s0, s1, self.expect(), cfg)
            if perf is not None:
                perf.send_signal(signal.SIGINT)
                await perf.wait()
                out["perf"] = await perf_report(os.path.join(work, "perf.data"))
            out.update(plugin=plugin, n=n, round=rnd, setup=setup, flowing=flowing, quiet_wait=waited, steps=steps)
            out["janus_log"] = count_log(janus.log_path, log_window, log_end)
            out["janus_log_setup"] = count_log(janus.log_path, log_start, log_window)
            if not janus.alive():
                raise RuntimeError("janus is not running; log tail:\n" + tail(janus.log_path))
            if self.ctl is not None:
                await self.ctl.close()
            return out
        finally:
            await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
            janus.stop(timeout=10)


# ---------------------------------------------------------------- tables

def f1(v):
    return "%.1f" % v if v == v else "-"


def f2(v):
    return "%.2f" % v if v == v else "-"


def receivers_text(r):
    """min / mean of a list."""
    if not r:
        return "-"
    return "%s / %s" % (f1(min(r)), f1(sum(r) / len(r)))


RECEIVE_TEXT = {
    "count": "counted by RTP marker bit as the packets came out of SRTP (BENCH_RECEIVE=count)",
    "frames": "reassembled by aiortc, not decoded (BENCH_RECEIVE=frames)",
    "decode": "decoded by aiortc (BENCH_RECEIVE=decode)",
}


# What the shared tables say of the benchmark (relay.py has its own).
TEXT = {
    "stock": "videoroom", "ratio": "calls/vr", "what": "N participants each sending audio + video to all others",
    "peers": "the N peer processes", "largest": "Largest group without loss",
    "signalling": "publishers one by one + subscribers at once",
}


def ratio_of(by, r, cfg):
    vr = by.get((cfg["text"]["stock"], r["n"], r["round"]))
    if r["plugin"] != "calls" or vr is None or "error" in vr or "error" in r:
        return float("nan")
    return r["us_per_packet"] / vr["us_per_packet"]


def main_table(results, cfg):
    rows = []
    by = {(r["plugin"], r["n"], r["round"]): r for r in results}
    for n in cfg["sizes"]:
        for rnd in range(1, cfg["rounds"] + 1):
            for plugin in cfg["plugins"]:
                r = by.get((plugin, n, rnd))
                if r is None or "error" in r:
                    rows.append([n, rnd, plugin] + ["failed"] + [""] * 10)
                    continue
                rows.append(main_row(r, ratio_of(by, r, cfg), cfg))
    ratios = []
    for n in cfg["sizes"]:
        rs = sorted(x for x in (ratio_of(by, r, cfg) for r in results if r["n"] == n and r["plugin"] == "calls")
                    if x == x)
        if rs:
            ratios.append("N=%d: %s" % (n, " ".join(f2(x) for x in rs)))
    count = cfg["receive"] == "count"
    text = cfg["text"]
    note = ("fwd: RTP packets the receivers got (%s); janus: utime+stime of the whole process; lost: sequence "
            "gaps%s at the receivers;\nvideo fps: frames %s per "
            "received stream (sent at %d fps); peers: CPU of %s; busy: the machine's (%d CPUs, "
            "/proc/stat); other: what the rest of the machine used meanwhile (!: %d%% or more; each window "
            "starts once it used less than that for a second, or after %d s)." % (
                "counted as they came out of SRTP" if count else "aiortc inbound-rtp packetsReceived",
                "" if count else " not recovered by NACK", RECEIVE_TEXT[cfg["receive"]], cfg["fps"], text["peers"],
                os.cpu_count(), cfg["quiet"], cfg["quiet_wait"]))
    if ratios:
        note += "\nJanus CPU per forwarded packet, calls / %s, each round against the %s run just before it: " % (
            text["stock"], text["stock"]) + "; ".join(ratios)
    return table("Janus CPU per forwarded packet, %s (window %d s)" % (text["what"], cfg["window"]),
                 ["N", "round", "plugin", "fwd pkt/s", "audio / video pkt/s", "janus %core", "janus us/pkt",
                  text["ratio"], "lost (share)", "video fps per stream min / mean", "peers cores all / max one",
                  "busy / other", "peer loop lag mean / max ms"], rows, note)


def main_row(r, ratio, cfg):
    vfps = [x for rc in r["receivers"] for x in rc["vfps"]]
    return [r["n"], r["round"], r["plugin"], num(r["packets"] / r["window"]),
            "%s / %s" % (num(r["fwd"]["audio"] / r["window"]), num(r["fwd"]["video"] / r["window"])),
            f1(100.0 * r["janus"] / r["window"]), f1(r["us_per_packet"]), f2(ratio),
            "%d (%s%%)" % (r["lost"], "%.3f" % r["loss_pct"]),
            receivers_text(vfps),
            "%s / %s" % (f2(r["peers"] / r["window"]), f2(r["peer_max"] / r["window"])),
            "%.0f%% / %.0f%%%s" % (r["busy"], r["other"], " !" if r["other"] >= cfg["quiet"] else ""),
            "%.0f / %.0f" % (max(x["lag_mean"] for x in r["receivers"]) * 1000,
                             max(x["lag_max"] for x in r["receivers"]) * 1000)]


def thread_table(results, cfg):
    names = {}
    for r in results:
        if "error" in r:
            continue
        for k, v in r["threads"].items():
            names[k] = names.get(k, 0.0) + v
    total = sum(names.values()) or 1.0
    top = [k for k, v in sorted(names.items(), key=lambda x: -x[1]) if v / total >= 0.005][:6]
    rows = []
    for r in results:
        if "error" in r or r["n"] not in cfg["sizes"]:
            continue
        p = r["packets"] or 1
        other = sum(v for k, v in r["threads"].items() if k not in top)
        rows.append(["%s N=%d #%d" % (r["plugin"], r["n"], r["round"])] +
                    [f1(r["threads"].get(k, 0.0) * 1e6 / p) for k in top] + [f1(other * 1e6 / p)])
    return table("Janus CPU per forwarded packet by thread name (us; digits of the name dropped)",
                 ["run"] + top + ["others"], rows,
                 "hloop: Janus's per-handle loops (one thread per handle: ICE, DTLS, SRTP, the plugin's "
                 "incoming_rtp of that handle, sending); the plugins' own threads by their names.")


def perf_table(results, cfg):
    """The largest entries of each run's profile, side by side by rank."""
    runs = [r for r in results if "error" not in r and r.get("perf")]
    if not runs:
        return None
    rows = []
    for i in range(cfg["perf_top"]):
        row = [i + 1]
        for r in runs:
            if i < len(r["perf"]["sym"]):
                pct, dso, sym = r["perf"]["sym"][i]
                row.append("%s %s %4.1f%%" % (dso.replace("[kernel.kallsyms]", "[k]")[:16], sym[:36], pct))
            else:
                row.append("")
        rows.append(row)
    dsos = ["%s N=%d #%d: %s; the plugins' own code: %s" % (r["plugin"], r["n"], r["round"], ", ".join(
        "%s %.1f%%" % (d, p) for p, d in r["perf"]["dso"][:7]), ", ".join(
        "%s %.1f%%" % (d, p) for p, d in r["perf"]["dso"] if d.startswith("libjanus_")) or "under 0.3%")
        for r in runs]
    return table("Janus profile over the window (perf record -e cpu-clock; share of Janus's samples)",
                 ["#"] + ["%s N=%d #%d" % (r["plugin"], r["n"], r["round"]) for r in runs], rows,
                 "by library:\n" + "\n".join(dsos))


def search_table(search, cfg):
    rows = []
    for plugin in cfg["plugins"]:
        s = search.get(plugin)
        if s is None:
            continue
        for r in s["runs"]:
            if "error" in r:
                rows.append([plugin, r["n"], "-", "-", "-", "-", "-", "failed: " + r["error"][:80]])
                continue
            vfps = [x for rc in r["receivers"] for x in rc["vfps"]]
            rows.append([plugin, r["n"], num(r["packets"] / r["window"]), f1(100.0 * r["janus"] / r["window"]),
                         f1(r["us_per_packet"]), "%d (%.3f%%)" % (r["lost"], r["loss_pct"]), receivers_text(vfps),
                         f2(r["peers"] / r["window"]), "%.0f%% / %.0f%% / %.0f%%%s" % (
                             r["own"], r["busy"], r["other"], " !" if r["other"] >= cfg["quiet"] else ""),
                         r.get("verdict", "")])
    notes = ["%s: largest N without loss %s; %s" % (p, search[p]["best"] if search[p]["best"] else "none",
                                                    search[p]["why"]) for p in cfg["plugins"] if p in search]
    return table("%s (search from N=%d%s, at most %d; saturated: Janus and the peers use %d%% of the machine or "
                 "more)" % (cfg["text"]["largest"], cfg["search_from"], " in steps of %d" % cfg["search_step"]
                            if cfg["search_step"] > 1 else "", cfg["search_max"], cfg["busy_limit"]),
                 ["plugin", "N", "fwd pkt/s", "janus %core", "janus us/pkt", "lost (share)", "video fps min / mean",
                  "peers cores", "own / busy / other", "verdict"], rows, "\n".join(notes))


def receiver_table(results, cfg):
    rows = []
    for r in results:
        if "error" in r or r["n"] not in cfg["sizes"]:
            continue
        for i, rc in enumerate(r["receivers"], 1):
            rows.append(["%s N=%d #%d" % (r["plugin"], r["n"], r["round"]), user_of(i), num(rc["packets"]), rc["lost"],
                         "%d / %d" % (rc["streams"]["audio"], rc["streams"]["video"]),
                         receivers_text(rc["afps"]), receivers_text(rc["vfps"]), rc["renegotiations"],
                         "%.0f" % (rc["lag_max"] * 1000)])
    return table("Per receiver (window)", ["run", "receiver", "packets", "lost", "streams a / v",
                                           "audio fps min / mean", "video fps min / mean", "renegotiations",
                                           "loop lag max ms"], rows)


def setup_table(results, cfg):
    rows = []
    for r in results:
        name = "%s N=%d #%d" % (r["plugin"], r["n"], r["round"])
        if "error" in r:
            rows.append([name, "-", "-", "-", "failed: " + r["error"][:100]])
            continue
        rows.append([name, "%s (%s)" % (f1(r["setup"]), " + ".join(f1(v) for v in r["steps"].values())),
                     f1(r["flowing"]),
                     num((r["sent"]["audio"] + r["sent"]["video"]) / r["window"]),
                     "%d / %d" % (r["janus_log_setup"]["warn"], r["janus_log_setup"]["err"]),
                     benchlib.log_counts(r["janus_log"])])
    return table("Runs: setup and bookkeeping",
                 ["run", "signalling s (%s)" % cfg["text"]["signalling"], "all media flowing s",
                  "pkt/s the publishers sent (window)",
                  "janus log warn / err before", "janus log warnings / errors in the window"], rows)


# ---------------------------------------------------------------- main

async def run_safe(a, cfg, plugin, n, rnd, problems, run_class):
    log("run: %s, N=%d, round %d" % (plugin, n, rnd))
    try:
        r = await run_class(a, cfg, plugin, n, rnd).run()
    except Exception as e:  # noqa: BLE001
        log("%s N=%d failed:\n%s" % (plugin, n, traceback.format_exc()))
        problems.append("%s N=%d: %s" % (plugin, n, e))
        return {"plugin": plugin, "n": n, "round": rnd, "error": str(e)}
    for i, rc in enumerate(r["receivers"], 1):
        if rc["errors"]:
            problems.append("%s N=%d %s: %s" % (plugin, n, user_of(i), "; ".join(rc["errors"])))
        silent = 2 * r["expected_streams"] - rc["streams"]["audio"] - rc["streams"]["video"]
        if silent:
            problems.append("%s N=%d round %d: receiver %s got no packet of %d of its %d streams during the window "
                            "(they had all flowed before)" % (plugin, n, rnd, user_of(i), silent,
                                                              2 * r["expected_streams"]))
    log("  %s N=%d: %s fwd pkt/s, janus %.1f%% of a core, %.1f us/pkt, lost %d, peers %.2f cores, "
        "own %.0f%% busy %.0f%%" % (plugin, n, num(r["packets"] / r["window"]), 100.0 * r["janus"] / r["window"],
                                   r["us_per_packet"], r["lost"], r["peers"] / r["window"], r["own"], r["busy"]))
    return r


async def bench(a, cfg, results, search, problems, run_class=GroupRun):
    cache = {}
    for n in cfg["sizes"]:
        for rnd in range(1, cfg["rounds"] + 1):
            for plugin in cfg["plugins"]:
                r = await run_safe(a, cfg, plugin, n, rnd, problems, run_class)
                cache.setdefault((plugin, n), r)
                results.append(r)
    if not cfg["search"]:
        return
    for plugin in cfg["plugins"]:
        s = {"runs": [], "best": None, "why": "reached BENCH_SEARCH_MAX=%d" % cfg["search_max"]}
        search[plugin] = s
        # Up in steps of BENCH_SEARCH_STEP; after a loss, the sizes skipped
        # since the last one without, one at a time.
        n, step, lost_at = cfg["search_from"], cfg["search_step"], None
        while n <= cfg["search_max"] and (lost_at is None or n < lost_at):
            r = cache.get((plugin, n))
            if r is None:
                r = await run_safe(a, cfg, plugin, n, 0, problems, run_class)
                cache[(plugin, n)] = r
            if "error" not in r and r["lost"] > 0 and r["other"] >= cfg["quiet"]:
                log("  loss beside other work on the machine (%.0f%% of it): N=%d again" % (r["other"], n))
                s["runs"].append(dict(r, verdict="loss, other work: again"))
                r = await run_safe(a, cfg, plugin, n, 0, problems, run_class)
            s["runs"].append(r)
            if "error" in r:
                s["why"] = "the run at N=%d failed" % n
                break
            if r["lost"] > 0:
                r["verdict"] = "loss"
                s["why"] = "loss at N=%d (%d packets, %.3f%%; machine busy %.0f%%)" % (
                    n, r["lost"], r["loss_pct"], r["busy"])
                below = cfg["search_from"] if s["best"] is None else s["best"] + 1
                if step > 1 and below < n:
                    lost_at, n, step = n, below, 1
                    continue
                break
            s["best"] = n
            if r["own"] >= cfg["busy_limit"]:
                r["verdict"] = "no loss, saturated"
                s["why"] = "saturated at N=%d without loss (peers %.2f cores, janus %.2f; machine busy %.0f%%)" % (
                    n, r["peers"] / r["window"], r["janus"] / r["window"], r["busy"])
                break
            r["verdict"] = "no loss"
            if n == cfg["search_max"]:
                break
            n = min(n + step, cfg["search_max"])


def peer_process(peer_class=Peer):
    """group.py --peer --index I --ws URL --cfg JSON: one participant."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", action="store_true")
    ap.add_argument("--index", type=int, required=True)
    ap.add_argument("--ws", required=True)
    ap.add_argument("--cfg", required=True)
    p = ap.parse_args()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the benchmark stops its peers itself
    asyncio.run(peer_main(json.loads(p.cfg), p.index, p.ws, peer_class))


def configure(names, sizes, text, **defaults):
    """(cfg, settings line) from the environment. names: the plugins a run
    may take, in their default order; sizes: BENCH_SIZES's default; text:
    what the tables say (TEXT); defaults: search_from, search_step,
    search_max when not BENCH_SEARCH_*'s own."""
    a = arguments().parse_args()
    w, _, h = os.environ.get("BENCH_VIDEO", "320x240").partition("x")
    plugins = [p for p in os.environ.get("BENCH_PLUGINS", ",".join(names)).replace(" ", ",").split(",") if p]
    for p in plugins:
        if p not in names:
            raise SystemExit("BENCH_PLUGINS: unknown plugin %r (%s)" % (p, ", ".join(names)))
    sizes = env_list("BENCH_SIZES", sizes)
    receive = os.environ.get("BENCH_RECEIVE") or "count"
    if receive not in RECEIVE_TEXT:
        raise SystemExit("BENCH_RECEIVE: count, frames or decode")
    cfg = {
        "sizes": sizes, "plugins": plugins, "receive": receive, "width": int(w), "height": int(h),
        "fps": env_int("BENCH_FPS", 15), "kbps": env_int("BENCH_VIDEO_KBPS", 250),
        "rounds": max(1, env_int("BENCH_ROUNDS", 2)), "window": env_int("BENCH_WINDOW_S", 20),
        "warmup": env_int("BENCH_WARMUP_S", 5), "media_timeout": env_int("BENCH_MEDIA_TIMEOUT_S", 60),
        "search": env_int("BENCH_SEARCH", 1) != 0,
        "search_from": env_int("BENCH_SEARCH_FROM", defaults.get("search_from", min(sizes))),
        "search_step": max(1, env_int("BENCH_SEARCH_STEP", defaults.get("search_step", 1))),
        "search_max": env_int("BENCH_SEARCH_MAX", defaults.get("search_max", 16)),
        "busy_limit": env_int("BENCH_BUSY_LIMIT", 90),
        "quiet": env_int("BENCH_QUIET", 15), "quiet_wait": env_int("BENCH_QUIET_WAIT_S", 120),
        "perf": env_int("BENCH_PERF", 0) != 0, "perf_top": env_int("BENCH_PERF_TOP", 15),
        "debug_level": env_int("BENCH_DEBUG_LEVEL", 3), "event_loops": env_int("BENCH_EVENT_LOOPS", 0),
        "text": text,
    }
    settings = [("SIZES", ",".join(map(str, sizes))), ("PLUGINS", ",".join(plugins)),
                ("VIDEO", "%dx%d" % (cfg["width"], cfg["height"])), ("FPS", cfg["fps"]),
                ("VIDEO_KBPS", cfg["kbps"]), ("RECEIVE", receive), ("ROUNDS", cfg["rounds"]),
                ("WINDOW_S", cfg["window"]), ("WARMUP_S", cfg["warmup"]), ("SEARCH", int(cfg["search"])),
                ("SEARCH_FROM", cfg["search_from"]), ("SEARCH_STEP", cfg["search_step"]),
                ("SEARCH_MAX", cfg["search_max"]),
                ("BUSY_LIMIT", cfg["busy_limit"]), ("QUIET", cfg["quiet"]), ("QUIET_WAIT_S", cfg["quiet_wait"]),
                ("PERF", int(cfg["perf"])), ("EVENT_LOOPS", cfg["event_loops"])]
    return a, cfg, " ".join("BENCH_%s=%s" % kv for kv in settings)


def run_benchmark(a, cfg, settings, what, fine, run_class):
    """The rounds and the search with run_class runs, then the tables;
    exits 1 if there were problems (fine: what it says when there were none)."""
    started = begin(what, settings)
    results, search, problems = [], {}, []
    res = {"problems": problems}
    benchlib.run_async(bench(a, cfg, results, search, problems, run_class), res)
    tables = [main_table(results, cfg), thread_table(results, cfg)]
    if cfg["perf"]:
        tables.append(perf_table(results, cfg))
    if cfg["search"]:
        tables.append(search_table(search, cfg))
    tables += [receiver_table(results, cfg), setup_table(results, cfg)]
    for t in tables:
        if t:
            print(t)
    finish(problems, fine, started)


def main():
    if "--peer" in sys.argv:
        peer_process()
        return
    a, cfg, settings = configure(list(PLUGIN_NAMES), "4,8", TEXT)
    run_benchmark(a, cfg, settings, "group call", "No problems found (every run set up; every receiver got audio "
                  "and video frames from every other participant).", GroupRun)


if __name__ == "__main__":
    main()

"""Asyncio clients for testing janus.plugin.calls.

- JanusConnection: one Janus WebSocket connection ("janus-protocol") holding
  one session, with a keepalive task; replies are matched to their
  transaction, notifications are routed to the Handle they came from.
- Handle: one plugin handle. `message()` sends a plugin message and returns
  its one reply (an `ack` followed by an `event`, or a synchronous `success`,
  or the core's own `error`). Notifications (events without a transaction)
  are buffered per handle; `wait_event()` takes the first one of a given name
  and fails with the list of what did arrive.
- AdminClient: the Admin API WebSocket ("janus-admin-protocol"),
  `message_plugin` requests.
- Device: one handle of a user (a phone, a browser tab) with at most one
  aiortc RTCPeerConnection sending synthetic audio and video, counting the
  frames it decodes and asking for keyframes (PLI) until video decodes.

Must run under /usr/bin/python3 (Debian's aiortc) inside the network
namespace made by tests/lib/with-netns.sh (peers use 127.0.0.2).
"""

import asyncio
import itertools
import json
import random
import string
import time

import websockets

PLUGIN = "janus.plugin.calls"
HOST_ADDRESS = "127.0.0.2"

_tx_counter = itertools.count(1)


# Seconds between keepalives (below the Janus's session_timeout).
KEEPALIVE_SECONDS = 15


def new_transaction():
    return "t%d-%s" % (next(_tx_counter), "".join(random.choice(string.ascii_lowercase) for _ in range(6)))


def short(obj, limit=300):
    """One-line rendering of a message for failure texts (SDPs cut short)."""
    def strip(o):
        if isinstance(o, dict):
            return {k: (("<sdp %d bytes>" % len(v)) if k == "sdp" and isinstance(v, str) else strip(v))
                    for k, v in o.items()}
        if isinstance(o, list):
            return [strip(x) for x in o]
        return o
    text = json.dumps(strip(obj), sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


class JanusError(AssertionError):
    pass


class Reply:
    """The one reply to a plugin message.

    kind is "plugin" (data holds the plugin's body, jsep its JSEP if any) or
    "core_error" (Janus's core refused the message: code and reason set).
    """

    def __init__(self, raw, request=None):
        self.raw = raw
        self.request = request
        self.jsep = raw.get("jsep")
        if raw.get("janus") == "error":
            self.kind = "core_error"
            err = raw.get("error") or {}
            self.code = err.get("code")
            self.reason = err.get("reason")
            self.data = None
        else:
            self.kind = "plugin"
            pd = raw.get("plugindata") or {}
            self.plugin = pd.get("plugin")
            self.data = pd.get("data")
            self.code = None
            self.reason = None

    @property
    def name(self):
        return self.data.get("calls") if isinstance(self.data, dict) else None

    @property
    def is_error(self):
        return self.kind == "core_error" or self.name == "error"

    @property
    def error_code(self):
        if self.kind == "core_error":
            return self.code
        return self.data.get("error_code") if isinstance(self.data, dict) else None

    def __repr__(self):
        return "Reply(%s)" % short(self.raw, 600)


class Event:
    def __init__(self, raw):
        self.raw = raw
        self.at = time.monotonic()
        self.jsep = raw.get("jsep")
        pd = raw.get("plugindata") or {}
        self.data = pd.get("data") if isinstance(pd.get("data"), dict) else {}
        self.name = self.data.get("calls")

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        return self.data.get(key, default)

    def __repr__(self):
        s = "%s %s" % (self.name, short(self.data, 400))
        if self.jsep:
            s += " +jsep(%s)" % self.jsep.get("type")
        return s


class _Waiter:
    """A buffer of items with bounded waits for the first one matching."""

    def __init__(self):
        self.items = []
        self.history = []
        self.cond = asyncio.Condition()

    async def put(self, item):
        async with self.cond:
            self.items.append(item)
            self.history.append(item)
            self.cond.notify_all()

    async def take(self, pred, timeout):
        deadline = time.monotonic() + timeout
        async with self.cond:
            while True:
                for i, item in enumerate(self.items):
                    if pred(item):
                        return self.items.pop(i)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                try:
                    await asyncio.wait_for(self.cond.wait(), left)
                except asyncio.TimeoutError:
                    pass


class JanusConnection:
    """One WebSocket to Janus with one session."""

    def __init__(self, url, subprotocol="janus-protocol"):
        self.url = url
        self.subprotocol = subprotocol
        self.ws = None
        self.session_id = None
        self.handles = {}
        self.pending = {}
        self.other = []          # session-level messages (timeout, ...)
        self.stray = []          # replies to no pending transaction (a second reply, a late one)
        self.reader_task = None
        self.keepalive_task = None
        self.closed = False

    async def connect(self, timeout=5):
        self.ws = await asyncio.wait_for(
            websockets.connect(self.url, subprotocols=[self.subprotocol],
                               max_size=None, ping_interval=None, open_timeout=timeout),
            timeout + 1)
        self.reader_task = asyncio.ensure_future(self._reader())
        return self

    async def _reader(self):
        try:
            async for text in self.ws:
                try:
                    msg = json.loads(text)
                except ValueError:
                    self.other.append({"unparsable": text[:200]})
                    continue
                await self._dispatch(msg)
        except (websockets.ConnectionClosed, asyncio.CancelledError):
            pass
        finally:
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(JanusError("WebSocket closed before the reply"))

    async def _dispatch(self, msg):
        kind = msg.get("janus")
        tx = msg.get("transaction")
        if kind == "ack":
            return
        if tx is not None and tx in self.pending:
            fut = self.pending.pop(tx)
            if not fut.done():
                fut.set_result(msg)
            return
        if tx is not None and kind in ("success", "error", "event"):
            self.stray.append(msg)
            return
        handle = self.handles.get(msg.get("sender"))
        if handle is None:
            self.other.append(msg)
            return
        if kind == "event" and tx is None:
            await handle.events.put(Event(msg))
        else:
            await handle.core_events.put(msg)

    async def send(self, msg):
        await self.ws.send(json.dumps(msg))

    async def transact(self, msg, timeout=5):
        """Sends msg with a fresh transaction; returns the first reply that is not an ack."""
        tx = new_transaction()
        msg = dict(msg, transaction=tx)
        fut = asyncio.get_running_loop().create_future()
        self.pending[tx] = fut
        try:
            await self.send(msg)
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise JanusError("no reply within %ss to %s" % (timeout, short(msg, 500))) from None
        finally:
            self.pending.pop(tx, None)

    async def send_raw(self, text, timeout=5):
        """Sends text as it is (it must carry transaction `rawtx`); used for garbage tests."""
        fut = asyncio.get_running_loop().create_future()
        self.pending["rawtx"] = fut
        try:
            await self.ws.send(text)
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.pending.pop("rawtx", None)

    async def create_session(self):
        reply = await self.transact({"janus": "create"})
        if reply.get("janus") != "success":
            raise JanusError("create failed: %s" % short(reply))
        self.session_id = reply["data"]["id"]
        self.keepalive_task = asyncio.ensure_future(self._keepalive())
        return self.session_id

    async def _keepalive(self):
        try:
            while True:
                await asyncio.sleep(KEEPALIVE_SECONDS)
                await self.send({"janus": "keepalive", "session_id": self.session_id,
                                 "transaction": new_transaction()})
        except (asyncio.CancelledError, websockets.ConnectionClosed):
            pass

    async def attach(self, plugin=PLUGIN):
        reply = await self.transact({"janus": "attach", "plugin": plugin,
                                     "session_id": self.session_id})
        if reply.get("janus") != "success":
            raise JanusError("attach failed: %s" % short(reply))
        handle = Handle(self, reply["data"]["id"])
        self.handles[handle.id] = handle
        return handle

    async def destroy(self):
        if self.session_id is None:
            return None
        reply = await self.transact({"janus": "destroy", "session_id": self.session_id})
        self.session_id = None
        return reply

    def go_silent(self):
        """The client stops talking without a word (a phone that lost its
        network): no more keepalives; the WebSocket stays open, so only
        Janus's session_timeout notices."""
        if self.keepalive_task:
            self.keepalive_task.cancel()

    def abort(self):
        """The connection drops: the TCP socket closes without a WebSocket
        close frame and without destroying the session."""
        self.go_silent()
        self.session_id = None
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()

    async def close(self):
        if self.closed:
            return
        self.closed = True
        for task in (self.keepalive_task,):
            if task:
                task.cancel()
        if self.ws is not None:
            try:
                if self.session_id is not None and self.ws.open:
                    await asyncio.wait_for(self.destroy(), 3)
            except Exception:
                pass
            try:
                await asyncio.wait_for(self.ws.close(), 3)
            except Exception:
                pass
        if self.reader_task:
            self.reader_task.cancel()
            try:
                await self.reader_task
            except BaseException:
                pass


class Handle:
    def __init__(self, conn, handle_id):
        self.conn = conn
        self.id = handle_id
        self.events = _Waiter()       # plugin notifications
        self.core_events = _Waiter()  # webrtcup, media, hangup, trickle, detached...
        self.label = "handle %d" % handle_id

    async def message(self, body, jsep=None, timeout=5):
        msg = {"janus": "message", "session_id": self.conn.session_id,
               "handle_id": self.id, "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        raw = await self.conn.transact(msg, timeout)
        return Reply(raw, body.get("request") if isinstance(body, dict) else None)

    async def detach(self):
        reply = await self.conn.transact({"janus": "detach", "session_id": self.conn.session_id,
                                          "handle_id": self.id})
        return reply

    async def wait_event(self, name, timeout=5, **fields):
        """The first buffered or coming notification `name` whose data has these fields."""
        def pred(ev):
            return ev.name == name and all(ev.data.get(k) == v for k, v in fields.items())
        ev = await self.events.take(pred, timeout)
        if ev is None:
            want = name + (" %s" % short(fields) if fields else "")
            raise AssertionError(
                "%s: expected event %s within %ss; events received on this handle: %s"
                % (self.label, want, timeout, self.events.history or "none"))
        return ev

    async def no_event(self, name=None, within=0.5, **fields):
        """Asserts that no notification (of that name, with those fields) arrives within `within`."""
        def pred(ev):
            return (name is None or ev.name == name) and \
                all(ev.data.get(k) == v for k, v in fields.items())
        ev = await self.events.take(pred, within)
        if ev is not None:
            raise AssertionError("%s: unexpected event %r; all events: %s"
                                 % (self.label, ev, self.events.history))

    async def wait_core(self, kind, timeout=5):
        msg = await self.core_events.take(lambda m: m.get("janus") == kind, timeout)
        if msg is None:
            raise AssertionError("%s: expected Janus '%s' within %ss; got: %s"
                                 % (self.label, kind, timeout,
                                    [short(m, 150) for m in self.core_events.history]))
        return msg


class AdminClient:
    def __init__(self, url, admin_secret="janusoverlord"):
        self.conn = JanusConnection(url, "janus-admin-protocol")
        self.admin_secret = admin_secret

    async def connect(self):
        await self.conn.connect()
        return self

    async def message_plugin(self, request, plugin=PLUGIN, timeout=5, include_request=True):
        msg = {"janus": "message_plugin", "plugin": plugin, "admin_secret": self.admin_secret}
        if include_request:
            msg["request"] = request
        raw = await self.conn.transact(msg, timeout)
        if raw.get("janus") != "success":
            raise JanusError("message_plugin failed in the core: %s" % short(raw))
        return raw.get("response")

    async def handle_info(self, session_id, handle_id, timeout=5):
        """Janus's handle_info; its plugin_specific part is the plugin's."""
        raw = await self.conn.transact({"janus": "handle_info", "admin_secret": self.admin_secret,
                                        "session_id": session_id, "handle_id": handle_id}, timeout)
        if raw.get("janus") != "success":
            raise JanusError("handle_info failed in the core: %s" % short(raw))
        return raw["info"]

    async def close(self):
        await self.conn.close()


# ---------------------------------------------------------------- media

def _import_media():
    """aiortc is imported lazily so that signalling-only code runs without it."""
    import aioice.ice
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [HOST_ADDRESS]
    import aiortc
    from aiortc import mediastreams
    return aiortc, mediastreams


def fix_extmaps(sdp):
    """aiortc 1.4 gives one header-extension id two meanings across bundled
    m-sections (audio level and abs-send-time); with bundle it then cannot
    parse what comes back. Keep the first meaning of each id, drop the rest."""
    seen = {}
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=extmap:"):
            ident, _, uri = line[len("a=extmap:"):].partition(" ")
            ident = ident.split("/")[0]
            if ident in seen and seen[ident] != uri:
                continue
            seen.setdefault(ident, uri)
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def make_tracks():
    aiortc, mediastreams = _import_media()
    from av import VideoFrame

    class SmallVideo(mediastreams.VideoStreamTrack):
        """160x120 frames whose brightness changes, cheap to encode."""

        async def recv(self):
            pts, time_base = await self.next_timestamp()
            frame = VideoFrame(width=160, height=120, format="yuv420p")
            level = (pts // 3000) % 200 + 16
            for i, plane in enumerate(frame.planes):
                plane.update(bytes([level if i == 0 else 128]) * plane.buffer_size)
            frame.pts = pts
            frame.time_base = time_base
            return frame

    return mediastreams.AudioStreamTrack, SmallVideo


async def close_pc(pc, tasks):
    """Stops a PeerConnection's tasks and closes it, whatever state it is in."""
    for t in tasks:
        t.cancel()
    try:
        await asyncio.wait_for(pc.close(), 5)
    except Exception:
        pass
    for t in tasks:
        try:
            await t
        except BaseException:
            pass


async def vanish_pc(pc, tasks):
    """The PeerConnection stops without a word: its ICE transports close
    first, so closing it sends no DTLS alert and Janus only notices that
    media stopped."""
    for t in pc.getTransceivers():
        dtls = t.sender.transport
        if dtls is not None:
            try:
                await asyncio.wait_for(dtls.transport.stop(), 3)
            except Exception:
                pass
    await close_pc(pc, tasks)


class Media:
    """One aiortc RTCPeerConnection with synthetic audio/video and frame counters."""

    def __init__(self, label):
        aiortc, _ = _import_media()
        self.aiortc = aiortc
        self.label = label
        self.pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        self.frames = {"audio": 0, "video": 0}
        self.last_frame = {"audio": 0.0, "video": 0.0}
        self.tracks_seen = []
        self.tasks = []
        self.plis = 0
        self.audio_cls, self.video_cls = make_tracks()
        self.local = {}
        self.pc.on("track", self._on_track)
        self.tasks.append(asyncio.ensure_future(self._pli_loop()))

    def add_local(self, audio=True, video=True):
        if audio and "audio" not in self.local:
            self.local["audio"] = self.audio_cls()
            self.pc.addTrack(self.local["audio"])
        if video and "video" not in self.local:
            self.local["video"] = self.video_cls()
            self.pc.addTrack(self.local["video"])

    def _on_track(self, track):
        self.tracks_seen.append(track.kind)
        self.tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track):
        from aiortc.mediastreams import MediaStreamError
        try:
            while True:
                await track.recv()
                self.frames[track.kind] += 1
                self.last_frame[track.kind] = time.monotonic()
        except (MediaStreamError, asyncio.CancelledError):
            pass
        except Exception:
            pass

    async def _pli_loop(self):
        """Asks for a keyframe every 0.3 s while no video frame decoded for 1 s,
        as a browser does: aiortc itself only asks after packet loss."""
        try:
            while True:
                await asyncio.sleep(0.3)
                if self.pc.connectionState == "closed":
                    return
                if time.monotonic() - self.last_frame["video"] < 1.0:
                    continue
                for receiver in self.pc.getReceivers():
                    if receiver.track is None or receiver.track.kind != "video":
                        continue
                    send = getattr(receiver, "_send_rtcp_pli", None)
                    if send is None:
                        continue
                    for src in receiver.getSynchronizationSources():
                        try:
                            await send(src.source)
                            self.plis += 1
                        except Exception:
                            pass
        except asyncio.CancelledError:
            pass

    async def offer(self, audio=True, video=True):
        self.add_local(audio, video)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"type": "offer", "sdp": fix_extmaps(self.pc.localDescription.sdp)}

    def current_local(self):
        d = self.pc.localDescription
        return {"type": d.type, "sdp": fix_extmaps(d.sdp)}

    async def apply(self, jsep):
        await self.pc.setRemoteDescription(
            self.aiortc.RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))

    async def answer(self, offer, audio=None, video=None):
        """Answers an offer, sending our own media for the kinds it offers
        (or those asked for, if they are in the offer)."""
        kinds = {line.split()[0][2:] for line in offer["sdp"].splitlines() if line.startswith("m=")}
        await self.apply(offer)
        self.add_local(("audio" in kinds) if audio is None else (audio and "audio" in kinds),
                       ("video" in kinds) if video is None else (video and "video" in kinds))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return {"type": "answer", "sdp": self.pc.localDescription.sdp}

    def snapshot(self):
        return dict(self.frames)

    async def wait_frames(self, since=None, audio=0, video=0, timeout=20):
        since = since or {"audio": 0, "video": 0}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.frames["audio"] - since["audio"] >= audio and \
                    self.frames["video"] - since["video"] >= video:
                return dict(self.frames)
            await asyncio.sleep(0.1)
        raise AssertionError(
            "%s: expected at least %d more audio and %d more video frames within %ss; "
            "got %d audio, %d video (total %s); tracks %s; connection %s, ICE %s; PLIs sent %d"
            % (self.label, audio, video, timeout, self.frames["audio"] - since["audio"],
               self.frames["video"] - since["video"], self.frames, self.tracks_seen,
               self.pc.connectionState, self.pc.iceConnectionState, self.plis))

    async def vanish(self):
        await vanish_pc(self.pc, self.tasks)

    async def close(self):
        await close_pc(self.pc, self.tasks)
        self.tasks = []


class Device:
    """One handle of a user, on a connection of its own (a phone, a tab)."""

    def __init__(self, ws_url, label="device"):
        self.ws_url = ws_url
        self.label = label
        self.conn = None
        self.handle = None
        self.media = None
        self.user = None
        self.device = None
        self.registered = None

    async def open(self, conn=None):
        if conn is None:
            conn = JanusConnection(self.ws_url)
            await conn.connect()
            await conn.create_session()
            self.own_conn = True
        else:
            self.own_conn = False
        self.conn = conn
        self.handle = await conn.attach()
        self.handle.label = self.label
        return self

    # -- signalling
    async def request(self, body, jsep=None, timeout=5):
        return await self.handle.message(body, jsep, timeout)

    async def ok(self, body, expect, jsep=None, timeout=5):
        """Sends a request that must succeed with reply `expect`; returns the Reply."""
        reply = await self.request(body, jsep, timeout)
        assert not reply.is_error and reply.name == expect, \
            "%s: %s expected reply %r, got %r" % (self.label, short(body), expect, reply)
        return reply

    async def err(self, body, code, jsep=None, timeout=5):
        """Sends a request that must fail with plugin error `code` (int or set)."""
        reply = await self.request(body, jsep, timeout)
        codes = {code} if isinstance(code, int) else set(code)
        assert reply.kind == "plugin" and reply.name == "error" and reply.error_code in codes, \
            "%s: %s expected error %s, got %r" % (self.label, short(body), sorted(codes), reply)
        check_error_shape(reply, body)
        return reply

    async def register(self, user=None, display=None, device=None, token=None, **extra):
        body = {"request": "register"}
        for k, v in (("user", user), ("display", display), ("device", device), ("token", token)):
            if v is not None:
                body[k] = v
        body.update(extra)
        reply = await self.ok(body, "registered")
        self.registered = reply.data
        self.user = reply.data.get("user")
        self.device = reply.data.get("device")
        self.label = "%s/%s" % (self.user, self.device)
        self.handle.label = self.label
        return reply.data

    async def wait_event(self, name, timeout=5, **fields):
        return await self.handle.wait_event(name, timeout, **fields)

    async def no_event(self, name=None, within=0.5, **fields):
        return await self.handle.no_event(name, within, **fields)

    # -- media
    def new_media(self):
        self.media = Media(self.label)
        return self.media

    async def offer(self, audio=True, video=True):
        if self.media is None:
            self.new_media()
        return await self.media.offer(audio, video)

    async def answer(self, offer, audio=None, video=None):
        if self.media is None:
            self.new_media()
        return await self.media.answer(offer, audio, video)

    async def apply(self, jsep):
        assert jsep is not None, "%s: a JSEP was expected" % self.label
        await self.media.apply(jsep)

    async def wait_pc_down(self, timeout=5):
        """Waits for Janus's `hangup` (the plugin closed this handle's
        PeerConnection), as janus.js clients do before a new offer, then
        closes our own PeerConnection."""
        await self.handle.wait_core("hangup", timeout)
        await self.drop_media()

    async def drop_media(self):
        if self.media is not None:
            await self.media.close()
            self.media = None

    async def call(self, to, video=False, audio=True, extra=None):
        """call {to, video} with a fresh offer; returns the calling Reply."""
        jsep = await self.offer(audio=audio, video=video)
        body = {"request": "call", "to": to, "video": video}
        body.update(extra or {})
        return await self.ok(body, "calling", jsep=jsep)

    async def accept(self, incoming, audio=None, video=None):
        """Answers the JSEP of an incoming_call event and accepts it."""
        assert incoming.jsep is not None and incoming.jsep.get("type") == "offer", \
            "%s: incoming_call without a JSEP offer: %r" % (self.label, incoming)
        if self.media is not None:
            await self.drop_media()
        answer = await self.answer(incoming.jsep, audio=audio, video=video)
        return await self.ok({"request": "accept", "call_id": incoming["call_id"]},
                             "accepted", jsep=answer)

    async def close(self):
        await self.drop_media()
        if self.conn is not None and self.own_conn:
            await self.conn.close()


def check_error_shape(reply, body):
    data = reply.data
    assert data.get("calls") == "error", data
    assert isinstance(data.get("error_code"), int), data
    assert isinstance(data.get("error"), str) and data["error"], data
    req = body.get("request") if isinstance(body, dict) else None
    expected_req = req if isinstance(req, str) else None
    assert "request" in data and data["request"] == expected_req, \
        "error reply names request %r, expected %r: %s" % (data.get("request"), expected_req, data)


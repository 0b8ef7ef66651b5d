"""One-to-one relay benchmark (driven by bench/relay.sh; see bench/README.md).

N one-to-one calls at once, relayed by janus.plugin.calls and by Janus's own
janus.plugin.videocall, with the same Janus binary, the same plugin folder
(both plugins loaded in every run) and the same peers. Each run starts a
fresh Janus.

Peers: group.py's, one process per side of a call (2N processes), here with
one handle and one PeerConnection each that sends synthetic Opus audio and
VP8 video (BENCH_VIDEO at BENCH_FPS and a fixed BENCH_VIDEO_KBPS) and
receives the other side's; BENCH_RECEIVE as in group.py ("count", the
default, counts each packet as it comes out of SRTP).

Signalling of a run: every side registers (calls: `register {user}`,
videocall: `register {username}`); then one call at a time: the caller sends
`call {to, video: true}` (videocall: `call {username}`) + offer, the callee
takes the offer from `incoming_call` (videocall: `incomingcall`) and sends
`accept {call_id}` (videocall: `accept`) + answer, the caller applies the
answer of `accepted`; each side waits for Janus's webrtcup.

Measured as in group.py (its GroupRun), once every receiver gets audio and
video frames from the other side: Janus CPU per relayed packet (= RTP
packets the receivers got), the ratio calls / videocall within each round
(BENCH_ROUNDS rounds: videocall, calls, videocall, calls), loss, the peers'
CPU, the machine's busy share; then the search for the most calls each
plugin relays without loss, here from BENCH_SEARCH_FROM up in steps of
BENCH_SEARCH_STEP (a call adds two peer processes, so a step of one call
costs a run each for little), and after a loss the sizes skipped one at a
time.
"""

import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import group  # noqa: E402
from group import (ADMIN_KEY, CALLS, GroupJanus, GroupRun, Peer, PeerProc, configure, run_benchmark,  # noqa: E402
                   user_of)

from calls_client import short  # noqa: E402

VIDEOCALL = "janus.plugin.videocall"
PLUGIN_NAMES = {"videocall": VIDEOCALL, "calls": CALLS}

TEXT = {
    "stock": "videocall", "ratio": "calls/vc", "what": "N one-to-one calls, both sides sending audio + video",
    "peers": "the 2N peer processes", "largest": "Most calls without loss",
    "signalling": "everyone registers + calls one at a time",
}


class CallPeer(Peer):
    """One side of a call: one handle, one PeerConnection that sends and
    receives (group.py's pub_pc and sub_pc are the same one)."""

    def _both(self):
        self.sub_pc = self.pub_pc
        self.sub_pc.on("track", self._on_track)

    async def _reply(self, plugin, body, jsep=None):
        """The plugin's reply: (its name, data, JSEP). VideoCall names it in
        result.event, an error in error_code."""
        data, jsep = await self.msg(self.pub, body, jsep)
        if plugin == "calls":
            return data.get("calls"), data, jsep
        return "error" if "error_code" in data else (data.get("result") or {}).get("event"), data, jsep

    async def _expect(self, plugin, body, name, jsep=None):
        got, data, jsep = await self._reply(plugin, body, jsep)
        if got != name:
            raise RuntimeError("%s: expected %s, got %s" % (body.get("request"), name, short(data, 400)))
        return data, jsep

    async def _event(self, plugin, name, within):
        """The first notification `name` (its data and JSEP)."""
        def named(ev):
            if plugin == "calls":
                return ev.name == name
            return (ev.data.get("result") or {}).get("event") == name
        ev = await self.pub.events.take(named, within)
        if ev is None:
            raise RuntimeError("%s: no %s within %d s; events: %s" % (
                self.user, name, within, [short(e.data, 200) for e in self.pub.events.history]))
        return ev.data, ev.jsep

    async def register(self, plugin):
        body = {"request": "register", "user": self.user} if plugin == "calls" else \
            {"request": "register", "username": self.user}
        await self._expect(plugin, body, "registered")
        return {}

    async def call(self, plugin, to):
        offer = await self.publisher_offer("sendrecv")
        self._both()
        body = {"request": "call", "to": to, "video": True} if plugin == "calls" else \
            {"request": "call", "username": to}
        await self._expect(plugin, body, "calling", offer)
        return {}

    async def answer(self, plugin):
        """Takes the ringing call's offer and accepts it with our answer."""
        data, jsep = await self._event(plugin, "incoming_call" if plugin == "calls" else "incomingcall", 30)
        self.pub_pc = self.pc()
        # Our tracks first: the transceivers the offer then finds send too.
        for track in group.make_tracks(self.cfg, self.index):
            self.pub_pc.addTrack(track)
        self._both()
        answer = await self.subscriber_answer(jsep)
        self.call_id = data.get("call_id")
        body = {"request": "accept", "call_id": self.call_id} if plugin == "calls" else {"request": "accept"}
        await self._expect(plugin, body, "accepted", answer)
        await self.pub.wait_core("webrtcup", 20)
        return {}

    async def connected(self, plugin):
        """The caller's side of the answer."""
        _, jsep = await self._event(plugin, "accepted", 30)
        await self.publisher_answer(jsep)
        return {}


class RelayJanus(GroupJanus):
    stock = "videocall"


class RelayPeerProc(PeerProc):
    script = os.path.abspath(__file__)


class RelayRun(GroupRun):
    """N calls: peers 2k-1 (caller) and 2k (callee) are call k."""

    janus_class = RelayJanus
    peer_proc = RelayPeerProc
    names = PLUGIN_NAMES

    def peers_n(self):
        return 2 * self.n

    def expect(self):
        return 1

    def plugin_conf(self):
        return {"general": {"auth": "none", "admin_key": ADMIN_KEY, "rate_limit": 0, "events": False}}

    def open_args(self):
        return {"subscriber": False}

    async def signalling(self, janus, peers):
        plugin = self.plugin
        t0 = time.monotonic()
        await asyncio.gather(*(p.cmd("register", plugin=plugin) for p in peers))
        t1 = time.monotonic()
        for caller, callee in zip(peers[::2], peers[1::2]):
            await caller.cmd("call", plugin=plugin, to=user_of(callee.index))
            await callee.cmd("answer", plugin=plugin)
            await caller.cmd("connected", plugin=plugin)
        return {"register": t1 - t0, "calls": time.monotonic() - t1}


def main():
    if "--peer" in sys.argv:
        group.peer_process(CallPeer)
        return
    a, cfg, settings = configure(list(PLUGIN_NAMES), "1,10", TEXT, search_from=2, search_step=2, search_max=30)
    run_benchmark(a, cfg, settings, "one-to-one relay", "No problems found (every run set up; every receiver got "
                  "audio and video frames from the other side of its call).", RelayRun)


if __name__ == "__main__":
    main()

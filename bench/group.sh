#!/bin/sh
# bench/group.sh - the group call benchmark (see bench/README.md).
#
# Builds the plugin from a clone of this repository's HEAD (never inside the
# repository itself), or takes an already built one, and runs bench/group.py
# inside a private network namespace (tests/lib/with-netns.sh): the same
# group of N aiortc participants relayed by janus.plugin.calls and by
# Janus's own janus.plugin.videoroom, both loaded in every run of the same
# Janus. No PostgreSQL (the plugin runs without a database). Everything
# (clone, build, logs) lives in one temporary folder removed at the end.
#
# Sizes and options are environment variables (defaults in brackets):
#   BENCH_SIZES [4,8]          group sizes measured with each plugin
#   BENCH_PLUGINS [videoroom,calls]   which relays run
#   BENCH_ROUNDS [2]           runs of each size and plugin, taking turns
#                              (videoroom, calls, videoroom, calls)
#   BENCH_WINDOW_S [20]        seconds measured, once all media flows
#   BENCH_WARMUP_S [5]         seconds waited before the window
#   BENCH_VIDEO [320x240]      video size each participant sends
#   BENCH_FPS [15]             its frame rate
#   BENCH_VIDEO_KBPS [250]     its bitrate (fixed: REMB does not change it)
#   BENCH_RECEIVE [count]      what receivers do with the packets: count them
#                              as they come out of SRTP (lightest), "frames":
#                              aiortc reassembles frames, "decode": and decodes
#   BENCH_SEARCH [1]           0: no search for the largest group without loss
#   BENCH_SEARCH_FROM [smallest size]  BENCH_SEARCH_MAX [16]
#   BENCH_SEARCH_STEP [1]      the search goes up by this from there; after a
#                              loss it tries the sizes it skipped one at a time
#   BENCH_BUSY_LIMIT [90]      percent of the machine Janus and the peers use
#                              at which the search stops (saturated)
#   BENCH_QUIET [15]           each window starts once the rest of the machine
#                              used less than this percent of it for a second
#   BENCH_QUIET_WAIT_S [120]   ... or after this long (rows measured beside
#                              more than BENCH_QUIET are marked "!")
#   BENCH_MEDIA_TIMEOUT_S [60] how long every receiver may take to get frames
#                              of every stream before a run counts as failed
#   BENCH_PERF [0]             1: also profile Janus over each window (perf
#                              record -e cpu-clock) and show the largest entries
#   BENCH_PERF_TOP [15]        how many
#   BENCH_DEBUG_LEVEL [3]      Janus's debug_level
#   BENCH_EVENT_LOOPS [0]      Janus's event_loops (0: its default, a thread per handle)
#   BENCH_TREE                 an already built tree instead of building a clone of HEAD
#   CALLS_PLUGIN_DIR           where libjanus_calls.so is [<tree>/plugins/.libs];
#                              when set, nothing is built
#   BENCH_KEEP=1               keep the temporary folder (logs of Janus and of each peer)
set -eu
# shellcheck source-path=SCRIPTDIR source=benchlib.sh
. "$(dirname "$0")/benchlib.sh"
bench_need_py websockets aiortc av numpy
if [ "${BENCH_PERF:-0}" != 0 ]; then
	bench_need perf
fi
bench_workdir
bench_plugin
# Each participant is a process with two PeerConnections; Janus holds a
# handle, a thread and a few sockets for each of them.
bench_nofile 4096 "large groups may run out of descriptors"
bench_run group.py

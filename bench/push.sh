#!/bin/sh
# bench/push.sh - the push benchmark (see bench/README.md).
#
# Builds the plugin from a clone of this repository's HEAD (never inside the
# repository itself), or takes an already built one, and runs
# bench/push.py inside a private network namespace
# (tests/lib/with-netns.sh) with a private PostgreSQL and a private Janus.
# Everything (clone, build, cluster, spools, logs) lives in one temporary
# folder that is removed at the end.
#
# Sizes and options are environment variables (defaults in brackets):
#   BENCH_CALLS [500]          latency: calls one at a time, each to its own offline
#                              callee with one webhook registration
#   BENCH_INFLIGHT [1000]      slow endpoint: calls placed at once, so as many pushes
#                              are in flight (push.max_in_flight is set to this)
#   BENCH_SLOW_S [5]           seconds the webhook stand-in waits before each answer
#                              in the slow phase
#   BENCH_SIGNAL [100]         signalling calls between online devices, measured idle
#                              and again while the slow pushes are in flight
#   BENCH_TIMEOUT_MS [BENCH_SLOW_S*1000+10000]   push.timeout_ms
#   BENCH_MAX_IN_FLIGHT [BENCH_INFLIGHT]         push.max_in_flight
#   BENCH_PLACE_WORKERS [50]   concurrent requests placing the slow phase's calls
#   BENCH_CONNS [20]           WebSocket connections carrying the devices
#   BENCH_GAP_MS [5]           pause between two measured calls
#   BENCH_DEBUG_LEVEL [3]      Janus's debug_level
#   BENCH_EVENT_LOOPS [0]      Janus's event_loops (0: its default, a thread per handle)
#   BENCH_TREE                 an already built tree (autoreconf -fi && ./configure
#                              && make) instead of building a clone of HEAD
#   CALLS_PLUGIN_DIR           where libjanus_calls.so is [<tree>/plugins/.libs];
#                              when set, nothing is built (the SQL is built into
#                              the plugin) and BENCH_TREE is not needed
#   BENCH_KEEP=1               keep the temporary folder (logs of Janus and PostgreSQL)
set -eu
# shellcheck source-path=SCRIPTDIR source=benchlib.sh
. "$(dirname "$0")/benchlib.sh"
bench_need_py websockets
# tests/lib/push_servers.py, the webhook stand-in, needs these.
bench_need_py h2 cryptography
bench_workdir
bench_plugin
# Janus holds a few descriptors per call (its ICE sockets, and libcurl's
# connection to the webhook for each push in flight), and so does the
# stand-in: well over the usual 1024 with 1,000 pushes in flight.
bench_nofile 8192 "with many pushes in flight Janus or the stand-in may run out"
bench_run push.py

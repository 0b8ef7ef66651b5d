#!/bin/sh
# bench/presence.sh - the presence benchmark (see bench/README.md).
#
# Builds the plugin from a clone of this repository's HEAD (never inside the
# repository itself), or takes an already built one, and runs
# bench/presence.py inside a private network namespace
# (tests/lib/with-netns.sh) with a private PostgreSQL and a private Janus.
# Everything (clone, build, cluster, spools, logs) lives in one temporary
# folder that is removed at the end.
#
# Sizes and options are environment variables (defaults in brackets):
#   BENCH_DEVICES [10000]      registered devices, one user each
#   BENCH_SUBS [100,300,1000]  subscriptions per device, one step each (S >= BENCH_DEVICES is skipped)
#   BENCH_WINDOWS [500,0]      presence_window_ms of each Janus run
#   BENCH_CHANGES [200]        measured state changes per step (half offline, half online)
#   BENCH_CONNS [40]           WebSocket connections carrying the devices
#   BENCH_GAP_MS [100]         quiet time after each change
#   BENCH_FLAPS [10]  BENCH_FLAP_MS [300]   the flapping check
#   BENCH_SEED [1]  BENCH_DEBUG_LEVEL [3]  (Janus's debug_level)
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
bench_workdir
bench_plugin
# Janus holds one descriptor per WebSocket; raise the limit anyway, in case
# BENCH_CONNS is large.
bench_nofile
bench_run presence.py

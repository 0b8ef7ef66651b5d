#!/bin/sh
# bench/signalling.sh - the call signalling benchmark (see bench/README.md).
#
# Builds the plugin from a clone of this repository's HEAD (never inside the
# repository itself), or takes an already built one, and runs
# bench/signalling.py inside a private network namespace
# (tests/lib/with-netns.sh) with a private PostgreSQL and, for each size, a
# private Janus. Everything (clone, build, cluster, logs) lives in one
# temporary folder that is removed at the end.
#
# Sizes and options are environment variables (defaults in brackets):
#   BENCH_DEVICES [1000,10000] registered devices, one Janus run each; half
#                              call, half are called (fixed pairs)
#   BENCH_CONNS [50]           WebSockets carrying the devices' sessions (each
#                              device has a session and a handle of its own)
#   BENCH_CALLS [500]          calls at rest, one at a time
#   BENCH_CONCURRENCY [1,2,4,8,16,32,64,128,256]
#                              callers at once, one throughput step each; the
#                              sweep stops once two steps in a row add < 5%
#   BENCH_STEP_S [10]          seconds per step
#   BENCH_COOLDOWN_MS [1000]   a pair rests this long after its hangup
#   BENCH_DB [1]               0: no PostgreSQL (no call history)
#   BENCH_PERF [0]             1: one more step at the best concurrency with
#                              perf recording Janus
#   BENCH_PERF_TOP [20]        rows of its tables
#   BENCH_SEED [1]  BENCH_DEBUG_LEVEL [3]  (Janus's debug_level)
#   BENCH_EVENT_LOOPS [0]      Janus's event_loops (0: its default, a thread per handle)
#   BENCH_TREE                 an already built tree instead of building a clone of HEAD
#   CALLS_PLUGIN_DIR           where libjanus_calls.so is [<tree>/plugins/.libs];
#                              when set, nothing is built
#   BENCH_KEEP=1               keep the temporary folder (logs of Janus and PostgreSQL)
set -eu
# shellcheck source-path=SCRIPTDIR source=benchlib.sh
. "$(dirname "$0")/benchlib.sh"
# aiortc (with av) makes the JSEP pair once; push.py, whose helpers the
# benchmark imports, needs h2 and cryptography (for its push stand-ins).
bench_need_py websockets aiortc av h2 cryptography
if [ "${BENCH_PERF:-0}" != 0 ]; then
	bench_need perf
fi
bench_workdir
bench_plugin
# Janus holds a descriptor per handle (its loop's wakeup) with the default
# event loops, and sockets for every ICE agent of the calls in flight.
bench_nofile 32768 "10,000 devices may run out of descriptors"
bench_run signalling.py

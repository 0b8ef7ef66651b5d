#!/bin/sh
# bench/relay.sh - the one-to-one relay benchmark (see bench/README.md).
#
# Builds the plugin from a clone of this repository's HEAD (never inside the
# repository itself), or takes an already built one, and runs bench/relay.py
# inside a private network namespace (tests/lib/with-netns.sh): N one-to-one
# calls of aiortc peers (two processes a call) relayed by janus.plugin.calls
# and by Janus's own janus.plugin.videocall, both loaded in every run of the
# same Janus. No PostgreSQL (the plugin runs without a database). Everything
# (clone, build, logs) lives in one temporary folder removed at the end.
#
# Options are environment variables, those of bench/group.sh (media, rounds,
# window, quiet machine, perf, Janus, build) with the same meaning and
# defaults, except (defaults in brackets):
#   BENCH_SIZES [1,10]         numbers of calls measured with each plugin
#   BENCH_PLUGINS [videocall,calls]   which relays run, taking turns
#   BENCH_SEARCH_FROM [2]  BENCH_SEARCH_STEP [2]  BENCH_SEARCH_MAX [30]
#                              the search for the most calls without loss goes
#                              up by the step; after a loss it tries the sizes
#                              it skipped, one at a time
set -eu
# shellcheck source-path=SCRIPTDIR source=benchlib.sh
. "$(dirname "$0")/benchlib.sh"
bench_need_py websockets aiortc av numpy
[ "${BENCH_PERF:-0}" = 0 ] || bench_need perf
bench_workdir
bench_plugin
# Two peer processes a call, each with a PeerConnection: Janus holds a
# handle, a thread and a few sockets for each.
bench_nofile 4096 "many calls may run out of descriptors"
bench_run relay.py

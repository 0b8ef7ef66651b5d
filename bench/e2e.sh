#!/bin/sh
# bench/e2e.sh - call setup timed end to end in a real browser (see bench/README.md).
#
# Two Chromium pages of the bundled web client (html/) with fake camera and
# microphone call each other BENCH_CALLS times through a private Janus with the
# plugin and a private PostgreSQL; bench/e2e.mjs times each call from the
# pages and prints tables. The browser test's own runner, tests/browser/run.sh,
# does all the setup (network namespace, PostgreSQL, Janus, node --test), so
# this script only provides the plugin: built from a clone of HEAD in a
# temporary folder, unless CALLS_PLUGIN_DIR or BENCH_TREE says where one is.
#
# Options are environment variables (defaults in brackets):
#   BENCH_CALLS [20]           calls made, one after the other
#   BENCH_RING_MS [1000]       how long the callee's page rings before accept is pressed
#   BENCH_HOLD_MS [1000]       how long a call stays up once both pages show video
#   BENCH_GAP_MS [1000]        pause between the end of a call and the next one
#   BENCH_STEP_TIMEOUT_MS [20000]  longest wait for the ringing screen, for the
#                              first frames and for the hang-up; past it the
#                              run stops and exits 1
#   BENCH_TREE                 an already built tree instead of building a clone of HEAD
#   CALLS_PLUGIN_DIR           where libjanus_calls.so is [<tree>/plugins/.libs];
#                              when set, nothing is built
#   BENCH_KEEP=1               keep the temporary folders (the build; run.sh's
#                              Janus and PostgreSQL logs)
# The pages' console logs and received plugin messages land where the browser
# test puts them: tests/browser/screenshots/e2e-{caller,callee}-*.
#
# Exit: 0 when every call was set up; otherwise run.sh's status (1 when a call
# failed, 77 when something the browser test needs is missing).
set -eu
# shellcheck source-path=SCRIPTDIR source=benchlib.sh
. "$(dirname "$0")/benchlib.sh"
bench_need node
bench_workdir
bench_plugin
export CALLS_PLUGIN_DIR="$PLUGIN_DIR" BENCH_COMMIT="$commit"
if [ -n "${BENCH_KEEP:-}" ]; then
	export CALLS_KEEP_TMP=1
fi
# run.sh runs `node --test` on the files in CALLS_BROWSER_TESTS; the spec
# reporter passes the tables through as printed (TAP would prefix each line).
rc=0
CALLS_BROWSER_TESTS="$HERE/e2e.mjs" "$TOP/tests/browser/run.sh" --test-reporter=spec || rc=$?
exit "$rc"

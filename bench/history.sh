#!/bin/sh
# bench/history.sh - the call history benchmark (see bench/README.md).
#
# Builds the plugin and its unit-test core from a clone of this repository's
# HEAD (never inside the repository itself), builds bench/store_bench.c
# against it, and runs bench/history.py inside a private network namespace
# (tests/lib/with-netns.sh) with a private PostgreSQL and a private Janus.
# Everything (clone, build, cluster, spools, logs) lives in one temporary
# folder that is removed at the end.
#
# Sizes and options are environment variables (defaults in brackets):
#   BENCH_CALLS [10000000]  calls loaded; BENCH_USERS [BENCH_CALLS/500]
#   BENCH_REQUESTS [1000]   history requests per kind; BENCH_LIMIT [20]
#   BENCH_STORE_RECORDS [200000]  BENCH_SPOOL_RECORDS [= store records]
#   BENCH_SIGNAL_CALLS [100]  BENCH_SIGNAL_FIRST [10]  BENCH_DB_TIMEOUT_MS [2000]
#   BENCH_PARTS [history,store,signal]  (the load always runs, or is reused)
#   BENCH_PG_DIR            keep the cluster there and reuse its load next time
#   BENCH_SHARED_BUFFERS [1GB]
#   BENCH_TREE              an already built tree (autoreconf -fi && ./configure
#                           && make && make check TESTS=) instead of building
#                           a clone of HEAD (about a minute on 2 cores)
#   CALLS_PLUGIN_DIR        where libjanus_calls.so is [<tree>/plugins/.libs]
#   BENCH_KEEP=1            keep the temporary folder
set -eu
# shellcheck source-path=SCRIPTDIR source=benchlib.sh
. "$(dirname "$0")/benchlib.sh"
bench_need gcc pkg-config
bench_workdir ${BENCH_PG_DIR:+"$BENCH_PG_DIR"}
# The plugin for Janus, and libcallscore.a (make check TESTS=) for
# store_bench, from the same tree: BENCH_TREE or a build of HEAD.
bench_plugin --tree check TESTS=

CFLAGS="-O2 -g -Wall -Wextra -Wno-unused-parameter"
# shellcheck disable=SC2046,SC2086  # flag lists, one per word
gcc $CFLAGS -o "$WORK/store_bench" "$HERE/store_bench.c" \
	-I"$TREE/plugins" -I"$TREE" -I/usr/include/janus \
	$(pkg-config --cflags glib-2.0 jansson libpq) \
	"$TREE/tests/unit/.libs/libcallscore.a" \
	$(pkg-config --libs glib-2.0 jansson libpq libcurl libcrypto) -lpthread

bench_run history.py --store-bench "$WORK/store_bench" --tree "$TREE"

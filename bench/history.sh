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
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
PY=/usr/bin/python3

if [ "$(id -u)" != 0 ]; then
	echo "history.sh: needs root (network namespace; PostgreSQL runs as the postgres user)" >&2
	exit 1
fi
for tool in janus gcc pkg-config git /usr/lib/postgresql/15/bin/pg_ctl; do
	command -v "$tool" >/dev/null 2>&1 || { echo "history.sh: $tool is missing (scripts/deps.sh)" >&2; exit 1; }
done

commit=$(git -C "$TOP" rev-parse --short HEAD)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/calls-bench-XXXXXX")
# PostgreSQL runs as postgres and must reach its folder inside.
chmod 755 "$WORK"
# shellcheck disable=SC2317  # (run by the trap)
cleanup() {
	# A cluster left running (or frozen) by an interrupted run.
	for pidfile in "$WORK/pg/data/postmaster.pid" ${BENCH_PG_DIR:+"$BENCH_PG_DIR/data/postmaster.pid"}; do
		if [ -f "$pidfile" ]; then
			pid=$(head -1 "$pidfile")
			if kill -0 "$pid" 2>/dev/null; then
				# shellcheck disable=SC2046  # one pid per word
				kill -CONT "$pid" $(ps -o pid= --ppid "$pid") 2>/dev/null || true
				su postgres -s /bin/sh -c "/usr/lib/postgresql/15/bin/pg_ctl -D '$(dirname "$pidfile")' -m immediate -s stop" || true
			fi
		fi
	done
	if [ -n "${BENCH_KEEP:-}" ]; then
		echo "history.sh: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TREE=${BENCH_TREE:-}
if [ -z "$TREE" ]; then
	# A build of HEAD in the temporary folder (the repository itself is
	# never built in): the plugin for Janus, libcallscore.a for store_bench.
	TREE=$WORK/tree
	echo "history.sh: building $commit in $TREE" >&2
	git clone -q "$TOP" "$TREE"
	git -C "$TREE" checkout -q "$commit"
	if ! (cd "$TREE" && autoreconf -fi && ./configure --disable-integration-tests &&
		make -j2 && make -j2 check TESTS=) >"$WORK/build.log" 2>&1; then
		tail -30 "$WORK/build.log" >&2
		echo "history.sh: the build failed" >&2
		exit 1
	fi
else
	commit="$commit (tree $TREE)"
fi
PLUGIN_DIR=${CALLS_PLUGIN_DIR:-$TREE/plugins/.libs}

CFLAGS="-O2 -g -Wall -Wextra -Wno-unused-parameter"
# shellcheck disable=SC2046,SC2086  # flag lists, one per word
gcc $CFLAGS -o "$WORK/store_bench" "$HERE/store_bench.c" \
	-I"$TREE/plugins" -I"$TREE" -I/usr/include/janus \
	$(pkg-config --cflags glib-2.0 jansson libpq) \
	"$TREE/tests/unit/.libs/libcallscore.a" \
	$(pkg-config --libs glib-2.0 jansson libpq libcurl libcrypto) -lpthread

export BENCH_COMMIT="$commit"
set +e
"$TOP/tests/lib/with-netns.sh" "$PY" "$HERE/history.py" --work "$WORK" \
	--plugin-dir "$PLUGIN_DIR" --store-bench "$WORK/store_bench" --tree "$TREE"
rc=$?
set -e
exit $rc

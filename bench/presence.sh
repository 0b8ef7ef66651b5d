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
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
PY=/usr/bin/python3

if [ "$(id -u)" != 0 ]; then
	echo "presence.sh: needs root (network namespace; PostgreSQL runs as the postgres user)" >&2
	exit 1
fi
for tool in janus git /usr/lib/postgresql/15/bin/pg_ctl; do
	command -v "$tool" >/dev/null 2>&1 || { echo "presence.sh: $tool is missing (scripts/deps.sh)" >&2; exit 1; }
done
"$PY" -c 'import websockets' 2>/dev/null || { echo "presence.sh: $PY has no websockets (python3-websockets)" >&2; exit 1; }

commit=$(git -C "$TOP" rev-parse --short HEAD)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/calls-bench-XXXXXX")
# PostgreSQL runs as postgres and must reach its folder inside.
chmod 755 "$WORK"
# shellcheck disable=SC2317  # (run by the trap)
cleanup() {
	# A cluster left running by an interrupted run.
	pidfile="$WORK/pg/data/postmaster.pid"
	if [ -f "$pidfile" ]; then
		pid=$(head -1 "$pidfile")
		if kill -0 "$pid" 2>/dev/null; then
			su postgres -s /bin/sh -c "/usr/lib/postgresql/15/bin/pg_ctl -D '$WORK/pg/data' -m immediate -s stop" || true
		fi
	fi
	if [ -n "${BENCH_KEEP:-}" ]; then
		echo "presence.sh: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TREE=${BENCH_TREE:-}
if [ -n "${CALLS_PLUGIN_DIR:-}" ]; then
	PLUGIN_DIR=$CALLS_PLUGIN_DIR
	commit="$commit (plugin from $PLUGIN_DIR)"
elif [ -n "$TREE" ]; then
	PLUGIN_DIR=$TREE/plugins/.libs
	commit="$commit (tree $TREE)"
else
	# A build of HEAD in the temporary folder (the repository itself is
	# never built in).
	for tool in gcc pkg-config autoreconf make; do
		command -v "$tool" >/dev/null 2>&1 || { echo "presence.sh: $tool is missing (scripts/deps.sh)" >&2; exit 1; }
	done
	TREE=$WORK/tree
	echo "presence.sh: building $commit in $TREE" >&2
	git clone -q "$TOP" "$TREE"
	git -C "$TREE" checkout -q "$commit"
	if ! (cd "$TREE" && autoreconf -fi && ./configure --disable-integration-tests &&
		make -j2) >"$WORK/build.log" 2>&1; then
		tail -30 "$WORK/build.log" >&2
		echo "presence.sh: the build failed" >&2
		exit 1
	fi
	PLUGIN_DIR=$TREE/plugins/.libs
fi
if [ ! -f "$PLUGIN_DIR/libjanus_calls.so" ]; then
	echo "presence.sh: no libjanus_calls.so in $PLUGIN_DIR" >&2
	exit 1
fi

# Janus holds one descriptor per WebSocket; raise the limit anyway, in case
# BENCH_CONNS is large.
ulimit -n 65536 2>/dev/null || true

export BENCH_COMMIT="$commit"
set +e
"$TOP/tests/lib/with-netns.sh" "$PY" "$HERE/presence.py" --work "$WORK" --plugin-dir "$PLUGIN_DIR"
rc=$?
set -e
exit $rc

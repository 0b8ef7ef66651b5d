#!/bin/sh
# Browser test of the bundled web client (html/): Debian's Chromium, driven by playwright-core,
# against a private Janus with the built plugin and a private PostgreSQL (call history), all inside
# a network namespace of its own.
#
# Usage: tests/browser/run.sh [node --test options...]
# Env:   CALLS_PLUGIN_DIR  folder holding libjanus_calls.so (default: <repo>/plugins/.libs)
#        CALLS_PG_BIN      PostgreSQL's programs (default: /usr/lib/postgresql/15/bin)
#        CALLS_BROWSER_TESTS  the test files to run, space-separated (default: all of them)
#        CALLS_KEEP_TMP=1  keep the work folder (Janus's configuration and log, PostgreSQL's
#                          cluster and log, the spool) even on success
# Exit:  the test's status; 77 (skipped) without root, without the built plugin, without Chromium
#        or without PostgreSQL.
# Screenshots and the pages' console logs land in tests/browser/screenshots/.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
: "${CALLS_PLUGIN_DIR:=$TOP/plugins/.libs}"
export CALLS_PLUGIN_DIR

if [ -z "${CALLS_NETNS:-}" ]; then
	# Outside the namespace: check what the test needs, then run this script again inside one.
	if [ "$(id -u)" != 0 ]; then
		echo "run.sh: needs root (the test runs in a network namespace of its own); skipped" >&2
		exit 77
	fi
	if [ ! -f "$CALLS_PLUGIN_DIR/libjanus_calls.so" ]; then
		echo "run.sh: $CALLS_PLUGIN_DIR/libjanus_calls.so is not built; skipped" >&2
		exit 77
	fi
	if [ ! -x /usr/lib/chromium/chromium ]; then
		echo "run.sh: Debian's chromium is not installed; skipped" >&2
		exit 77
	fi
	if [ ! -x "${CALLS_PG_BIN:-/usr/lib/postgresql/15/bin}/pg_ctl" ]; then
		echo "run.sh: PostgreSQL 15 is not installed; skipped" >&2
		exit 77
	fi
	if [ ! -d "$HERE/node_modules/playwright-core" ]; then
		if [ -f "$HERE/package-lock.json" ]; then
			(cd "$HERE" && npm ci --no-audit --no-fund)
		else
			(cd "$HERE" && npm install --no-audit --no-fund)
		fi
	fi
	exec "$TOP/tests/lib/with-netns.sh" "$0" "$@"
fi

# Inside the namespace (with-netns.sh set CALLS_NETNS).
work=$(mktemp -d "${TMPDIR:-/tmp}/calls-browser-XXXXXX")
# PostgreSQL runs as its own user and keeps its cluster in here.
chmod 755 "$work"
janus_pid=
pg_pid=
rc=1
stop() {   # pid: SIGTERM, then wait for it
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
finish() {
	[ -z "$janus_pid" ] || stop "$janus_pid"
	[ -z "$pg_pid" ] || stop "$pg_pid"
	if [ "$rc" = 0 ] && [ -z "${CALLS_KEEP_TMP:-}" ]; then
		rm -rf "$work"
	else
		echo "run.sh: kept $work: Janus's configuration and log in janus/ (log: $work/janus/janus.log)," \
			"PostgreSQL's in pg/ (log: $work/pg/postgres.log)" >&2
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# waits (up to 60 s) for a line starting with $2 in file $3 from the background process $1
wait_line() {
	tries=0
	until grep -q "^$2" "$3" 2>/dev/null; do
		if ! kill -0 "$1" 2>/dev/null || [ "$tries" -ge 600 ]; then
			return 1
		fi
		tries=$((tries + 1))
		sleep 0.1
	done
}

python3 "$TOP/tests/lib/pg_instance.py" --dir "$work/pg" >"$work/pg.out" 2>"$work/pg.err" &
pg_pid=$!
if ! wait_line "$pg_pid" 'conninfo=' "$work/pg.out"; then
	echo "run.sh: PostgreSQL did not start:" >&2
	cat "$work/pg.out" "$work/pg.err" >&2
	exit 1
fi
conninfo=$(sed -n 's/^conninfo=//p' "$work/pg.out" | head -n 1)
echo "run.sh: PostgreSQL ready: $conninfo"
mkdir "$work/spool"

python3 "$TOP/tests/lib/janus_instance.py" --ws-port 8188 --admin-port 7188 \
	--workdir "$work/janus" --set general.auth=none \
	--set "database.conninfo=$conninfo" --set "database.spool_dir=$work/spool" >"$work/janus.out" 2>&1 &
janus_pid=$!
if ! wait_line "$janus_pid" 'janus ready' "$work/janus.out"; then
	echo "run.sh: Janus did not start:" >&2
	cat "$work/janus.out" >&2
	exit 1
fi
sed -n 's/^janus ready: /run.sh: janus ready: /p' "$work/janus.out"

# history.test.mjs and presence.test.mjs freeze the cluster (CALLS_PG_DIR) for a moment to see the
# client without it.
set +e
(cd "$HERE" && CALLS_JANUS_WS=ws://127.0.0.1:8188 CALLS_PG_DIR="$work/pg" \
	timeout 900 node --test --test-concurrency=1 "$@" \
	${CALLS_BROWSER_TESTS:-calls.test.mjs history.test.mjs presence.test.mjs group.test.mjs})
rc=$?
set -e
exit "$rc"

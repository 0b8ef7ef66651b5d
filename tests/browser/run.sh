#!/bin/sh
# Browser test of the bundled web client (html/): Debian's Chromium, driven by playwright-core,
# against a private Janus with the built plugin, all inside a network namespace of its own.
#
# Usage: tests/browser/run.sh [node --test options...]
# Env:   CALLS_PLUGIN_DIR  folder holding libjanus_calls.so (default: <repo>/plugins/.libs)
#        CALLS_KEEP_TMP=1  keep the Janus work folder (configuration and log) even on success
# Exit:  the test's status; 77 (skipped) without root, without the built plugin or without Chromium.
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
janus_pid=
rc=1
finish() {
	if [ -n "$janus_pid" ]; then
		kill "$janus_pid" 2>/dev/null || true
		wait "$janus_pid" 2>/dev/null || true
	fi
	if [ "$rc" = 0 ] && [ -z "${CALLS_KEEP_TMP:-}" ]; then
		rm -rf "$work"
	else
		echo "run.sh: Janus configuration and log kept in $work/janus (log: $work/janus/janus.log)" >&2
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM

python3 "$TOP/tests/lib/janus_instance.py" --ws-port 8188 --admin-port 7188 \
	--workdir "$work/janus" --set general.auth=none >"$work/janus.out" 2>&1 &
janus_pid=$!

tries=0
until grep -q '^janus ready' "$work/janus.out" 2>/dev/null; do
	if ! kill -0 "$janus_pid" 2>/dev/null || [ "$tries" -ge 300 ]; then
		echo "run.sh: Janus did not start:" >&2
		cat "$work/janus.out" >&2
		exit 1
	fi
	tries=$((tries + 1))
	sleep 0.1
done
sed -n 's/^janus ready: /run.sh: janus ready: /p' "$work/janus.out"

set +e
(cd "$HERE" && CALLS_JANUS_WS=ws://127.0.0.1:8188 timeout 900 node --test "$@" calls.test.mjs)
rc=$?
set -e
exit "$rc"

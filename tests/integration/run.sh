#!/bin/sh
# Integration tests of janus.plugin.calls against a private Janus, with aiortc peers,
# inside a private network namespace (tests/lib/with-netns.sh).
#
# Usage: tests/integration/run.sh [pytest args...]
#   CALLS_PLUGIN_DIR  folder holding libjanus_calls.so (default: <repo>/plugins/.libs)
#   CALLS_KEEP_TMP=1  keep each Janus's configuration and log folder
# Exit status: pytest's; 77 (skipped) without root or without a built plugin.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
CALLS_PLUGIN_DIR=${CALLS_PLUGIN_DIR:-$top/plugins/.libs}
CALLS_PLUGIN_DIR=$(cd "$CALLS_PLUGIN_DIR" 2>/dev/null && pwd || echo "$CALLS_PLUGIN_DIR")
export CALLS_PLUGIN_DIR
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
if [ "$(id -u)" != 0 ]; then
	echo "run.sh: needs root (network namespaces)" >&2
	exit 77
fi
if [ ! -f "$CALLS_PLUGIN_DIR/libjanus_calls.so" ]; then
	echo "run.sh: $CALLS_PLUGIN_DIR/libjanus_calls.so is not built" >&2
	exit 77
fi
# Test paths given on the command line (relative to the caller's folder) replace the default.
has_path=no
for a in "$@"; do
	case $a in
	-*) ;;
	*) [ -e "${a%%::*}" ] && has_path=yes ;;
	esac
done
if [ $has_path = no ]; then
	cd "$top"
	set -- tests/integration "$@"
fi
exec "$top/tests/lib/with-netns.sh" /usr/bin/python3 -m pytest -v -p no:cacheprovider \
	--rootdir "$here" "$@"

#!/bin/sh
# Builds janus-calls with AddressSanitizer and UndefinedBehaviorSanitizer in
# .state/asan (a copy of the tracked files, so the main build is untouched)
# and runs the unit tests there; with "integration", also the integration
# tests against a Janus that loads the sanitized plugin (needs root).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/.state/asan"
rm -rf "$dir/src" "$dir"/asan.* "$dir"/ubsan.*
mkdir -p "$dir/src"
(cd "$top" && git ls-files -z | xargs -0 tar cf - 2>/dev/null) | tar xf - -C "$dir/src"
cd "$dir/src"
autoreconf -fi >/dev/null 2>&1
./configure --quiet --enable-sanitizers --disable-integration-tests CFLAGS="-O1 -g"
make -j"$(nproc)" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	make check
if [ "${1:-}" = integration ]; then
	# Janus itself is not built with ASan: preload the runtime, and leave
	# leak checking to the unit tests (Janus does not free all at exit).
	CALLS_PLUGIN_DIR="$dir/src/plugins/.libs" \
	CALLS_JANUS_PRELOAD="$(gcc -print-file-name=libasan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path="$dir/asan" \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path="$dir/ubsan" \
		"$top/tests/integration/run.sh" -q
	if ls "$dir"/asan.* "$dir"/ubsan.* >/dev/null 2>&1; then
		echo "sanitizer reports:" >&2
		cat "$dir"/asan.* "$dir"/ubsan.* >&2
		exit 1
	fi
fi

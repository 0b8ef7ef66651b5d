#!/bin/sh
# Builds janus-calls with AddressSanitizer and UndefinedBehaviorSanitizer in
# .state/asan (a copy of the tracked files, so the main build is untouched)
# and runs the unit tests there. Extra arguments go to make (e.g. check).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/.state/asan"
rm -rf "$dir/src"
mkdir -p "$dir/src"
(cd "$top" && git ls-files -z | xargs -0 tar cf - 2>/dev/null) | tar xf - -C "$dir/src"
cd "$dir/src"
autoreconf -fi >/dev/null 2>&1
./configure --quiet --enable-sanitizers --disable-integration-tests CFLAGS="-O1 -g"
make -j"$(nproc)" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	make "${@:-check}"

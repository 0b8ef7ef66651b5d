#!/bin/sh
# Fuzzes the parsers of outside input with libFuzzer (clang, ASan, UBSan):
# request scripts through the dispatcher and call state machine, the SDP of
# offers and answers on every path that takes one (on Janus's own SDP code,
# from the installed janus binary: tests/fuzz/fuzz_sdp.c), JWTs, and push
# providers' replies and service-account key files.
# Usage: scripts/fuzz.sh [seconds per target, default 60]. New inputs that
# reach new code are kept in .state/fuzz/<target>; crashes are written there
# too and make the script fail. Seeds: tests/fuzz/corpus/<target>.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
out="$top/.state/fuzz"
mkdir -p "$out"
pkgs="glib-2.0 jansson libcrypto libpq"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I/usr/include/janus -I$top/plugins -I$top/tests/unit $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs)"
core="$top/plugins/calls_error.c $top/plugins/calls_config.c $top/plugins/calls_auth.c \
$top/plugins/calls_request.c $top/plugins/calls_out.c $top/plugins/calls_registry.c \
$top/plugins/calls_relay.c $top/plugins/calls_call.c $top/plugins/calls_group.c $top/plugins/calls_sfu.c $top/plugins/calls_identity.c \
$top/plugins/calls_dispatch.c $top/plugins/calls_record.c $top/plugins/calls_history.c \
$top/plugins/calls_store.c $top/plugins/calls_spool.c $top/plugins/calls_presence.c \
$top/plugins/calls_contacts.c $top/plugins/calls_push.c $top/plugins/calls_jws.c \
$top/plugins/calls_push_provider.c $top/plugins/calls_push_webhook.c $top/plugins/calls_push_fcm.c $top/plugins/calls_push_apns.c \
$out/calls_migrations.c \
$top/tests/unit/recorder.c"
(cd "$top" && sh plugins/gen-migrations.sh sql/[0-9]*.sql) > "$out/calls_migrations.c"
# fuzz_sdp links a copy of the janus binary that loads as a library.
python3 "$top/tests/fuzz/unpie.py" "$(command -v janus)" "$out/libjanus-core.so"
for target in request sdp jwt push_reply; do
	extra="$top/tests/unit/janus_stubs.c"
	case $target in
	request) extra="$extra $top/tests/fuzz/script.c" ;;
	sdp) extra="-DCALLS_REAL_SDP -DJANUS_CORE_NAME=\"libjanus-core.so\" $extra $top/tests/fuzz/script.c \
		-L$out -l:libjanus-core.so -Wl,-rpath,$out -ldl" ;;
	esac
	clang $flags -I"$top/tests/fuzz" -o "$out/fuzz_$target" "$top/tests/fuzz/fuzz_$target.c" $core $extra $libs
	mkdir -p "$out/$target"
	echo "== fuzzing $target for ${secs}s"
	(cd "$out" && ASAN_OPTIONS=detect_leaks=1 "./fuzz_$target" -max_total_time="$secs" \
		-max_len=4096 -artifact_prefix="$out/$target-" "$out/$target" "$top/tests/fuzz/corpus/$target")
done

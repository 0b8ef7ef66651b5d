#!/bin/sh
# Every test of janus-calls, from a clean clone: installs what is missing,
# builds, runs the unit tests, the integration tests (a private Janus with the
# plugin, real WebRTC peers in a private network namespace) and the browser
# test of the web client (make check), then the unit and integration tests
# again with a sanitizer build of the plugin, a short fuzzing run of every
# fuzz target, then make distcheck.
# Needs root (or sudo) for apt-get and network namespaces.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo -E"; fi

start=$(date +%s)
"$top/scripts/deps.sh" test
"$top/scripts/build.sh"

status=0
$sudo make check >"$top/.check.out" 2>&1 || status=$?
cat "$top/.check.out"
if [ $status -ne 0 ]; then
	# Show what failed, not only that something did.
	for log in tests/unit/*.log tests/integration/*.log tests/browser/*.log; do
		[ -f "$log" ] || continue
		case "$log" in *test-suite.log) continue ;; esac
		if grep -qE '^(FAIL|ERROR|XPASS)' "${log%.log}.trs" 2>/dev/null || grep -q ':test-result: \(FAIL\|ERROR\)' "${log%.log}.trs" 2>/dev/null; then
			# node --test: each failed test with its error (the tail alone may
			# hold only later, passing tests); pytest's own summary is in the tail.
			if grep -q '^not ok' "$log"; then
				echo "===== $log (failed tests)"
				awk '/^not ok/ { on = 1 } on { print } on && /^  \.\.\.$/ { on = 0 }' "$log" | head -n 200
			fi
			echo "===== $log (last 80 lines)"
			tail -n 80 "$log"
		fi
	done
fi
count() { sed -n "s/^# $1: *\([0-9]*\).*/\1/p" "$top/.check.out" | tail -n 1; }
pass=$(count PASS); fail=$(count FAIL); err=$(count ERROR); xpass=$(count XPASS); skip=$(count SKIP)
failed=$(( ${fail:-0} + ${err:-0} + ${xpass:-0} ))
# automake counts each TAP result of the unit tests, but each of the two
# suites (pytest, node --test) as one: count their own tests instead.
inner=0
for log in tests/integration/run.log tests/browser/run.log; do
	[ -f "$log" ] && grep -q '^PASS' "${log%.log}.trs" 2>/dev/null || grep -q ':test-result: PASS' "${log%.log}.trs" 2>/dev/null || continue
	n=$(sed -n 's/^=* *\([0-9][0-9]*\) passed.*/\1/p; s/^# pass \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)
	[ -n "$n" ] && inner=$(( inner + n - 1 ))
done
pass=$(( ${pass:-0} + inner ))
# Here everything a test needs has been installed: a skipped test is one
# that did not run, and that is a failure of this command.
if [ "${skip:-0}" -ne 0 ]; then
	echo "make check skipped ${skip} test(s): see the logs above" >&2
	status=1
fi

# The same unit and integration tests once more, with the plugin built with
# AddressSanitizer and UndefinedBehaviorSanitizer, loaded into Janus.
if [ $status -eq 0 ]; then
	$sudo "$top/scripts/asan.sh" integration >"$top/.asan.out" 2>&1 || { tail -n 80 "$top/.asan.out"; status=1; }
	[ $status -eq 0 ] && echo "sanitizer build (ASan+UBSan): unit and integration tests passed, no reports"
	rm -f "$top/.asan.out"
fi

# A short run of every fuzz target (libFuzzer, with ASan and UBSan); a long
# run is `scripts/fuzz.sh <seconds>`.
if [ $status -eq 0 ]; then
	"$top/scripts/fuzz.sh" 10 >"$top/.fuzz.out" 2>&1 || { tail -n 60 "$top/.fuzz.out"; status=1; }
	[ $status -eq 0 ] && echo "fuzzing: $(grep -c '^== fuzzing' "$top/.fuzz.out") targets for 10 s each, no crash"
	rm -f "$top/.fuzz.out"
fi

if [ $status -eq 0 ]; then
	make distcheck >"$top/.distcheck.out" 2>&1 || { tail -n 60 "$top/.distcheck.out"; status=1; }
	[ $status -eq 0 ] && echo "make distcheck: ok"
fi
rm -f "$top/.check.out" "$top/.distcheck.out"
echo "test command took $(( $(date +%s) - start ))s"
echo "${pass:-0} passed, ${failed} failed, ${skip:-0} skipped"
[ $status -eq 0 ] && [ "$failed" -eq 0 ]

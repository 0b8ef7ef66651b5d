#!/bin/sh
# Runs integration tests with Janus under valgrind's memcheck and reports
# what it finds in the plugin: a leak ("definitely" or "indirectly lost")
# or an invalid access whose stack goes through libjanus_calls.so fails the
# run. Janus's own leaks at exit, and libraries', are counted but not ours
# to fix.
#
# Usage: scripts/valgrind.sh [pytest args...]   (default: the test files in
#        CALLS_VALGRIND_TESTS, or a set that covers every feature; needs
#        root, a built plugin and valgrind). Logs: .state/valgrind/vg.<pid>.
#        scripts/valgrind.sh --report   reads the logs of the last run again.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/.state/valgrind"
report_only=no
[ "${1:-}" = --report ] && report_only=yes && shift
[ $report_only = yes ] || rm -rf "$out"
mkdir -p "$out"
: "${CALLS_VALGRIND_TESTS:=tests/integration/test_register.py tests/integration/test_call_flows.py \
tests/integration/test_calls_media.py tests/integration/test_history.py tests/integration/test_presence.py \
tests/integration/test_push.py tests/integration/test_group.py tests/integration/test_admin.py}"
if [ $# -eq 0 ]; then
	# shellcheck disable=SC2086
	set -- $CALLS_VALGRIND_TESTS
fi
[ $report_only = yes ] || CALLS_JANUS_WRAPPER="valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
--num-callers=40 --log-file=$out/vg.%p" "$top/tests/integration/run.sh" -q -p no:randomly "$@" || tests=$?
python3 - "$out" <<'PY'
import glob, re, sys

def ours(line):
    # A frame of the plugin: its library, or (with debug info) one of its
    # functions or source files.
    return "libjanus_calls.so" in line or re.search(r"\b(calls_\w+|janus_calls_\w+) \(", line) \
        or re.search(r"\(calls_\w+\.c:\d+\)", line)

runs = 0
mine, theirs, bad = [], [], []
for path in sorted(glob.glob(sys.argv[1] + "/vg.*")):
    text = open(path, errors="replace").read()
    if "Command: janus" not in text:
        continue
    runs += 1
    for block in re.split(r"\n==\d+== \n", text):
        lines = [re.sub(r"^==\d+== ", "", l) for l in block.splitlines()]
        head = next((l for l in lines if l.strip()), "")
        m = re.search(r"([\d,]+) (?:\([^)]*\) )?bytes in ([\d,]+) blocks are (definitely|indirectly) lost", head)
        if m:
            (mine if any(ours(l) for l in lines) else theirs).append((int(m.group(1).replace(",", "")), lines))
        elif re.match(r"(Invalid (read|write|free)|Conditional jump|Use of uninitialised|Mismatched free)", head) \
                and any(ours(l) for l in lines):
            bad.append(lines)
print("valgrind: %d Janus runs; leaks through the plugin: %d (%d bytes); other leaks: %d (%d bytes); "
      "invalid accesses in the plugin: %d" % (runs, len(mine), sum(b for b, _ in mine),
                                                len(theirs), sum(b for b, _ in theirs), len(bad)))
for b, lines in mine[:10]:
    print("\n".join(lines[:25]) + "\n")
for lines in bad[:10]:
    print("\n".join(lines[:25]) + "\n")
sys.exit(1 if mine or bad or runs == 0 else 0)
PY
status=$?
[ -z "${tests:-}" ] || echo "valgrind.sh: some tests failed under valgrind (status $tests): Janus runs much slower there"
exit $status

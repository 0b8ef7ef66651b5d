#!/bin/sh
# bench/relay_cost.sh - the plugin's own cost per relayed RTP packet, in
# isolation (see bench/README.md): bench/relay_cost.c, built against the
# plugin's logic (libcallscore.a) of a build of HEAD, timed, then counted by
# callgrind. Prints a table; exits 1 if the media path allocated on the heap.
#
#   BENCH_PACKETS [1000000]   packets per timed round (five rounds)
#   BENCH_CG_PACKETS [100000] packets per round under callgrind
#   BENCH_TREE                an already built tree instead of a build of HEAD
#   BENCH_KEEP=1              keep the temporary folder
set -eu
# shellcheck source-path=SCRIPTDIR source=benchlib.sh
. "$(dirname "$0")/benchlib.sh"
bench_need gcc pkg-config valgrind callgrind_annotate
bench_workdir
bench_plugin --tree check TESTS=
packets=${BENCH_PACKETS:-1000000}
cg_packets=${BENCH_CG_PACKETS:-100000}

CFLAGS="-O2 -g -Wall -Wextra"
# shellcheck disable=SC2046,SC2086  # flag lists, one per word
gcc $CFLAGS -o "$WORK/relay_cost" "$HERE/relay_cost.c" \
	-I"$TREE/plugins" -I"$TREE" -I/usr/include/janus \
	$(pkg-config --cflags glib-2.0 jansson) \
	"$TREE/tests/unit/.libs/libcallscore.a" \
	$(pkg-config --libs glib-2.0 jansson libpq libcurl libcrypto) -lpthread

status=0
"$WORK/relay_cost" "$packets" >"$WORK/timed.txt" || status=$?
valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" --toggle-collect=relay_loop \
	"$WORK/relay_cost" "$cg_packets" >"$WORK/cg.txt" 2>"$WORK/cg.err" || status=$?
total=$(sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$WORK/cg.err")
value() { sed -n "s/^$1 *\([0-9.]*\).*/\1/p" "$WORK/timed.txt"; }
echo "relay cost of janus.plugin.calls, commit $commit"
printf '%-42s %s\n' "measure" "value"
printf '%-42s %s\n' "ns per packet (best of 5 x $packets)" "$(value 'ns per packet')"
printf '%-42s %s\n' "instructions per packet (callgrind)" "$(awk -v t="$total" -v n="$cg_packets" 'BEGIN { printf "%.1f", t / (5 * n) }')"
printf '%-42s %s\n' "heap allocations in the loop" "$(value 'heap allocations')"
printf '%-42s %s\n' "heap frees in the loop" "$(value 'heap frees')"
echo
echo "instructions per packet by function (callgrind, self):"
callgrind_annotate --auto=no "$WORK/cg.out" 2>/dev/null |
	awk '/file:function/ { on = 1; next } on && /^-/ { next } on && NF == 0 && seen { exit } on && NF >= 3 { seen = 1; print }' |
	awk -v n="$cg_packets" '{ c = $1; gsub(",", "", c); f = ""; for(i = 2; i <= NF; i++) if($i ~ /:/ && f == "") f = $i
		sub(/^.*\//, "", f); printf "  %8.1f  %s\n", c / (5 * n), f }'
exit "$status"

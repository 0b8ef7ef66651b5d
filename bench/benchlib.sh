# bench/benchlib.sh - what the benchmark scripts (bench/*.sh) share. Sourced
# after `set -eu`:
#
#   . "$(dirname "$0")/benchlib.sh"
#
# It sets HERE (bench/), TOP (the repository), PY, PG_BIN, BENCH_NAME (the
# script's name, in every message) and commit (HEAD, short), and checks that
# it runs as root with janus, git and PostgreSQL 15 at hand. Then the script
# calls, in this order:
#
#   bench_need TOOL...        further commands it needs
#   bench_need_py MODULE...   modules $PY needs (Debian package python3-MODULE)
#   bench_workdir [PG_DIR]    WORK: a temporary folder, removed at the end
#                             (BENCH_KEEP=1 keeps it); a PostgreSQL cluster
#                             left running or frozen in WORK/pg (and PG_DIR)
#                             is stopped
#   bench_plugin [--tree] [MAKE_ARG...]
#                             PLUGIN_DIR, where libjanus_calls.so is:
#                             CALLS_PLUGIN_DIR, else BENCH_TREE/plugins/.libs,
#                             else a build of HEAD in WORK/tree. --tree: TREE
#                             (a built tree) is needed too, so HEAD is built
#                             even with CALLS_PLUGIN_DIR unless BENCH_TREE is
#                             given; MAKE_ARG...: a second make run after
#                             `make` in that build (e.g. check TESTS=).
#                             What it took is added to commit (BENCH_COMMIT)
#   bench_nofile [MIN WHY]    raises the open-files limit; warns (WHY) when
#                             fewer than MIN are allowed
#   bench_run SCRIPT.py [ARG...]
#                             runs bench/SCRIPT.py with --work and
#                             --plugin-dir inside tests/lib/with-netns.sh and
#                             exits with its status
# shellcheck shell=sh disable=SC2119,SC2120  # (optional arguments)

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
PY=/usr/bin/python3
PG_BIN=/usr/lib/postgresql/15/bin
BENCH_NAME=$(basename "$0")

bench_fail() {
	echo "$BENCH_NAME: $*" >&2
	exit 1
}

bench_need() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || bench_fail "$tool is missing (scripts/deps.sh)"
	done
}

bench_need_py() {
	for module in "$@"; do
		"$PY" -c "import $module" 2>/dev/null || bench_fail "$PY has no $module (python3-$module)"
	done
}

if [ "$(id -u)" != 0 ]; then
	bench_fail "needs root (network namespace; PostgreSQL runs as the postgres user)"
fi
bench_need janus git "$PG_BIN/pg_ctl"
commit=$(git -C "$TOP" rev-parse --short HEAD)

# shellcheck disable=SC2317  # (run by the trap)
bench_cleanup() {
	# A cluster left running (or frozen) by an interrupted run.
	for pidfile in "$WORK/pg/data/postmaster.pid" ${bench_pg_dir:+"$bench_pg_dir/data/postmaster.pid"}; do
		if [ -f "$pidfile" ]; then
			pid=$(head -1 "$pidfile")
			if kill -0 "$pid" 2>/dev/null; then
				# shellcheck disable=SC2046  # one pid per word
				kill -CONT "$pid" $(ps -o pid= --ppid "$pid") 2>/dev/null || true
				su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D '$(dirname "$pidfile")' -m immediate -s stop" || true
			fi
		fi
	done
	if [ -n "${BENCH_KEEP:-}" ]; then
		echo "$BENCH_NAME: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}

bench_workdir() {
	bench_pg_dir=${1:-}
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/calls-bench-XXXXXX")
	# PostgreSQL runs as postgres and must reach its folder inside.
	chmod 755 "$WORK"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

# A build of HEAD in the temporary folder (the repository itself is never
# built in): make, then make MAKE_ARG... if given.
bench_build() {
	bench_need gcc pkg-config autoreconf make
	TREE=$WORK/tree
	echo "$BENCH_NAME: building $commit in $TREE" >&2
	git clone -q "$TOP" "$TREE"
	git -C "$TREE" checkout -q "$commit"
	if ! (cd "$TREE" && autoreconf -fi && ./configure --disable-integration-tests &&
		make -j2 && if [ $# -gt 0 ]; then make -j2 "$@"; fi) >"$WORK/build.log" 2>&1; then
		tail -30 "$WORK/build.log" >&2
		bench_fail "the build failed"
	fi
}

bench_plugin() {
	need_tree=
	if [ "${1:-}" = --tree ]; then
		need_tree=1
		shift
	fi
	TREE=${BENCH_TREE:-}
	PLUGIN_DIR=${CALLS_PLUGIN_DIR:-}
	if [ -n "$PLUGIN_DIR" ]; then
		commit="$commit (plugin from $PLUGIN_DIR)"
	fi
	if [ -z "$PLUGIN_DIR" ] || [ -n "$need_tree" ]; then
		if [ -n "$TREE" ]; then
			commit="$commit (tree $TREE)"
		else
			bench_build "$@"
		fi
	fi
	PLUGIN_DIR=${PLUGIN_DIR:-$TREE/plugins/.libs}
	[ -f "$PLUGIN_DIR/libjanus_calls.so" ] || bench_fail "no libjanus_calls.so in $PLUGIN_DIR"
}

# (dash, the /bin/sh here, has ulimit -n and -H.)
# shellcheck disable=SC3045
bench_nofile() {
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	if [ $# -ge 2 ] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$1" ]; then
		echo "$BENCH_NAME: only $(ulimit -n) open files allowed; $2" >&2
	fi
}

bench_run() {
	script=$1
	shift
	export BENCH_COMMIT="$commit"
	rc=0
	"$TOP/tests/lib/with-netns.sh" "$PY" "$HERE/$script" --work "$WORK" --plugin-dir "$PLUGIN_DIR" "$@" || rc=$?
	exit "$rc"
}

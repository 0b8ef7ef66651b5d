#!/bin/sh
# Installs what janus-calls needs from Debian 12's packages, and nothing that
# is already there. Usage: scripts/deps.sh build|run|test
#   build: compiler, autotools, Janus headers and the libraries we link
#   run:   build + Janus, PostgreSQL, the browser-side libraries, a static web server
#   test:  run + WebRTC peers (aiortc), pytest, Chromium, Node.js, iproute2
set -eu
set_name=${1:-test}

build="build-essential autoconf automake libtool pkg-config janus janus-dev \
libglib2.0-dev libjansson-dev libcurl4-openssl-dev libpq-dev libssl-dev"
# postgresql: the server (15 on Debian 12) and psql; tests/lib/pg_instance.py
# runs private clusters with it, never Debian's own.
run="$build python3 postgresql libjs-janus-gateway libjs-webrtc-adapter"
# clang and its runtime libraries: the short fuzzing run (scripts/fuzz.sh);
# gdb: the soak test reads Janus's heap with it (tests/integration/test_soak.py).
test="$run python3-aiortc python3-websockets python3-pytest python3-h2 python3-cryptography chromium iproute2 procps \
clang libclang-rt-14-dev gdb"

case "$set_name" in
	build) want=$build ;;
	run) want=$run ;;
	test) want=$test ;;
	*) echo "usage: $0 build|run|test" >&2; exit 2 ;;
esac

# Node.js for the browser test: any packaged one will do (Debian's, or one
# the machine already has); npm comes with it or as its own package.
if [ "$set_name" = test ]; then
	command -v node >/dev/null 2>&1 || want="$want nodejs"
	command -v npm >/dev/null 2>&1 || want="$want npm"
fi

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
echo "Installing:$missing"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
# Debian starts its own Janus service on install; ours runs on other ports,
# but there is no reason to leave a second one running that nobody asked for.
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
if [ -d /run/systemd/system ] && echo "$missing" | grep -qw janus; then
	$sudo systemctl disable --now janus.service >/dev/null 2>&1 || true
fi
# Debian's postgresql makes a cluster "main" and starts it on port 5432 (and at
# every boot). janus-calls runs its own private clusters, so stop that one and
# leave it to be started by hand ("manual" in its start.conf), unless it was
# there before.
if echo "$missing" | grep -qw postgresql; then
	if [ -d /run/systemd/system ]; then
		$sudo systemctl disable --now postgresql.service >/dev/null 2>&1 || true
	fi
	if command -v pg_lsclusters >/dev/null 2>&1; then
		pg_lsclusters -h 2>/dev/null | while read -r ver name port status rest; do
			[ -f "/etc/postgresql/$ver/$name/start.conf" ] &&
				$sudo sed -i 's/^[[:space:]]*auto[[:space:]]*$/manual/' "/etc/postgresql/$ver/$name/start.conf"
			case $status in
			online*) $sudo pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true ;;
			esac
		done
	fi
fi

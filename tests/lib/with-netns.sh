#!/bin/sh
# Runs a command inside a private network namespace made for this run only.
#
# Janus never gathers ICE candidates on a loopback interface, and aiortc drops
# 127.0.0.1 too, so WebRTC tests on one machine need a non-loopback interface
# that still only carries loopback-range traffic: a veth pair whose end "v0"
# holds 127.0.0.2. Janus is told to use only v0 (ice_enforce_list) and every
# peer uses 127.0.0.2 as its host address. Nothing here can reach another
# network: the namespace has no route out.
#
# Usage: with-netns.sh COMMAND [ARG...]   (needs root; exit status is COMMAND's)
set -eu
if [ "$(id -u)" != 0 ]; then
	echo "with-netns.sh: network namespaces need root" >&2
	exit 77
fi
ns="calls-test-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
cleanup() {
	# Anything still running in the namespace would keep ports and files busy.
	pids=$(ip netns pids "$ns" 2>/dev/null || true)
	[ -n "$pids" ] && kill $pids 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip netns exec "$ns" sh -c '
	ip link set lo up
	ip link add v0 type veth peer name v1
	ip link set v0 up
	ip link set v1 up
	ip addr add 127.0.0.2/32 dev v0'
set +e
CALLS_NETNS="$ns" ip netns exec "$ns" "$@"
rc=$?
set -e
exit $rc

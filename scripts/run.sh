#!/bin/sh
# The whole thing on this machine: installs what is missing, builds, starts
# Janus with janus.plugin.calls (auth "none", for trying it out) and serves the
# web client on localhost. Open http://localhost:8280/ in two browser tabs,
# sign in as two users and call one from the other. Ctrl-C stops everything.
# (Janus offers ICE candidates on this machine's network interfaces, not on
# loopback: the machine needs one, as any desktop or laptop has.)
#
# Ports (all overridable): CALLS_WEB_PORT 8280, CALLS_WS_PORT 8288,
# CALLS_ADMIN_PORT 7288. State lives in .state/ of the checkout.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
web_port=${CALLS_WEB_PORT:-8280}
ws_port=${CALLS_WS_PORT:-8288}
admin_port=${CALLS_ADMIN_PORT:-7288}
state="$top/.state/run"

"$top/scripts/deps.sh" run
"$top/scripts/build.sh"

mkdir -p "$state/www/vendor"
# The page as committed, plus the browser libraries from Debian and a
# config.js that points it at this Janus.
for f in "$top"/html/*; do
	[ "$(basename "$f")" = config.js ] && continue
	ln -sfn "$f" "$state/www/$(basename "$f")"
done
ln -sfn /usr/share/javascript/janus-gateway/janus.js "$state/www/vendor/janus.js"
adapter=$(ls /usr/share/javascript/webrtc-adapter/adapter*.js 2>/dev/null | head -n 1)
ln -sfn "$adapter" "$state/www/vendor/adapter.js"
cat > "$state/www/config.js" <<JS
window.CALLS_CONFIG = { server: "ws://" + location.hostname + ":$ws_port", auth: "none" };
JS

pids=""
cleanup() {
	[ -n "$pids" ] && kill $pids 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

python3 "$top/tests/lib/janus_instance.py" --ws-port "$ws_port" --admin-port "$admin_port" \
	--ice-iface "" --workdir "$state/janus" \
	--set general.auth=none --set general.admin_key=dev-admin-key &
pids="$pids $!"
python3 -m http.server "$web_port" --bind 127.0.0.1 --directory "$state/www" >"$state/web.log" 2>&1 &
pids="$pids $!"

echo "Web client:  http://localhost:$web_port/"
echo "Janus:       ws://localhost:$ws_port (plugin janus.plugin.calls, auth none)"
echo "Admin API:   ws://localhost:$admin_port (admin_secret janusoverlord, admin_key dev-admin-key)"
echo "Janus log:   $state/janus/janus.log"
echo "Ctrl-C to stop."
wait

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
#
# Call history goes to a private PostgreSQL cluster whose data is kept in
# .state/run/pg (tests/lib/pg_instance.py; unix socket only), or to the
# database named by CALLS_CONNINFO (a libpq connection string) when it is set.
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
pg_pid=""
cleanup() {
	# Janus and the web server first, then the database Janus writes to.
	if [ -n "$pids" ]; then
		kill $pids 2>/dev/null || true
		wait $pids 2>/dev/null || true
	fi
	if [ -n "$pg_pid" ]; then
		kill "$pg_pid" 2>/dev/null || true
		wait "$pg_pid" 2>/dev/null || true
	fi
	pids=""
	pg_pid=""
}
trap cleanup EXIT INT TERM

conninfo=${CALLS_CONNINFO:-}
if [ -z "$conninfo" ]; then
	# Started first and stopped last (cleanup): Janus writes its last calls on
	# the way out. As a background job it ignores Ctrl-C's SIGINT.
	rm -f "$state/pg.out"
	python3 "$top/tests/lib/pg_instance.py" --dir "$state/pg" >"$state/pg.out" &
	pg_pid=$!
	tries=0
	while ! grep -q '^conninfo=' "$state/pg.out" 2>/dev/null; do
		if ! kill -0 "$pg_pid" 2>/dev/null; then
			echo "run.sh: PostgreSQL did not start (see above; its log: $state/pg/postgres.log)." >&2
			echo "run.sh: CALLS_CONNINFO=<libpq string> uses a database of your own instead." >&2
			exit 1
		fi
		tries=$((tries + 1))
		if [ $tries -gt 1200 ]; then
			kill "$pg_pid" 2>/dev/null || true
			echo "run.sh: PostgreSQL did not start within 120 s (log: $state/pg/postgres.log)" >&2
			exit 1
		fi
		sleep 0.1
	done
	conninfo=$(sed -n 's/^conninfo=//p' "$state/pg.out" | head -n 1)
fi
mkdir -p "$state/spool"

python3 "$top/tests/lib/janus_instance.py" --ws-port "$ws_port" --admin-port "$admin_port" \
	--ice-iface "" --workdir "$state/janus" \
	--set general.auth=none --set general.admin_key=dev-admin-key \
	--set "database.conninfo=$conninfo" --set "database.spool_dir=$state/spool" &
pids="$!"
python3 -m http.server "$web_port" --bind 127.0.0.1 --directory "$state/www" >"$state/web.log" 2>&1 &
pids="$pids $!"

echo "Web client:  http://localhost:$web_port/"
echo "Janus:       ws://localhost:$ws_port (plugin janus.plugin.calls, auth none)"
echo "Admin API:   ws://localhost:$admin_port (admin_secret janusoverlord, admin_key dev-admin-key)"
echo "Janus log:   $state/janus/janus.log"
if [ -n "${CALLS_CONNINFO:-}" ]; then
	echo "Database:    psql '$conninfo'   (CALLS_CONNINFO)"
else
	echo "Database:    psql '$conninfo'   (data in $state/pg, kept between runs)"
fi
echo "Ctrl-C to stop."
wait

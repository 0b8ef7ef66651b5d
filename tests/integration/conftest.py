"""Fixtures for the janus.plugin.calls integration tests.

One Janus runs at a time (its ports are fixed inside the private network
namespace), with one of the plugin configurations in VARIANTS. A test names
its configuration with `@pytest.mark.janus("name")` (default: "default");
tests are reordered so that each configuration starts once.

The configurations in DB_VARIANTS also get a `database` group: the session's
private PostgreSQL (the `pg` fixture, started only when such a test runs), a
spool folder inside that Janus's work folder, a node name of their own. A
test that stops or freezes PostgreSQL uses the `db` fixture, which starts and
thaws it again afterwards.

Tests are `async def` functions run by the hook below, each in its own event
loop with a time limit; the `calls` fixture hands out devices and admin
clients and closes them all at the end of the test.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
sys.path.insert(0, HERE)

from janus_instance import JanusInstance  # noqa: E402
from pg_instance import PgCluster  # noqa: E402
import calls_client  # noqa: E402

# curl in the sample event handler must not go through a proxy.
for _var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_var, None)

JWT_SECRET = "jwt-test-secret-0123456789"
ADMIN_KEY = "test-admin-key"
TURN_SECRET = "turn-test-secret"
TURN_TTL = 600
STUN_URIS = ["stun:stun1.example.org:3478", "stun:stun2.example.org:3478"]
TURN_URIS = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"]
EVENTS_PORT = 8199
TEST_TIMEOUT = 90

BASE = {"general": {"auth": "none", "admin_key": ADMIN_KEY, "ring_timeout": 45,
                    "ice_grace": 10, "call_waiting": True, "events": False}}

VARIANTS = {
    "default": {},
    "jwt": {"general": {"auth": "jwt", "jwt_secret": JWT_SECRET}},
    "turn": {"turn": {"stun_uris": ",".join(STUN_URIS), "turn_uris": ",".join(TURN_URIS),
                      "turn_secret": TURN_SECRET, "turn_ttl": TURN_TTL}},
    "limits": {"general": {"max_message_bytes": 2048, "rate_limit": 5}},
    "nowait": {"general": {"call_waiting": False}},
    "short": {"general": {"ring_timeout": 3, "ice_grace": 2}},
    "events": {"general": {"events": True}},
    "events_off": {"general": {"events": False}},
    "robust": {"general": {"rate_limit": 1000}},
    "bitrate": {"general": {"max_bitrate": 300000}},
    # (history tests make many quick calls and page fast: no rate limit to speak of)
    "history": {"general": {"rate_limit": 1000}},
    "history_short": {"general": {"ring_timeout": 3, "rate_limit": 1000}},
    "history_nowait": {"general": {"call_waiting": False, "rate_limit": 1000}},
    # presence with the database (a short window keeps the tests quick), and without one
    "presence": {"general": {"rate_limit": 1000, "presence_window_ms": 300, "max_subscriptions": 150,
                             "max_contacts": 6}},
    "presence_nodb": {"general": {"rate_limit": 1000, "presence_window_ms": 0}},
    # push to the local stand-ins of tests/lib/push_servers.py (the `push`
    # group is filled in by Pool.get, with the stand-ins' keys and ports)
    "push": {"general": {"rate_limit": 1000, "ring_timeout": 8}},
    # test_soak.py: short timers, so that faults end calls quickly
    "soak": {"general": {"rate_limit": 1000, "ring_timeout": 6, "ice_grace": 2, "presence_window_ms": 300,
                         "call_info_ttl": 2}},
}
# Janus core settings of a variant (janus.jcfg): the soak's vanishing
# clients are noticed by the session timeout.
CORE = {"soak": {"session_timeout": 8}}
EVENT_VARIANTS = {"events", "events_off"}
# Variants with call history in the session's PostgreSQL. DB_TIMEOUT_MS is
# database.timeout_ms: a query unanswered that long means "unreachable".
DB_VARIANTS = {"history", "history_short", "history_nowait", "presence", "push", "soak"}
DB_TIMEOUT_MS = 2000
ORDER = list(VARIANTS)


def pytest_configure(config):
    config.addinivalue_line("markers", "janus(variant): plugin configuration the test needs")
    config.addinivalue_line("markers", "timeout(seconds): time limit of an async test")


def variant_of(item):
    m = item.get_closest_marker("janus")
    return m.args[0] if m else "default"


def pytest_collection_modifyitems(session, config, items):
    # Stable sort: one Janus start per configuration.
    items.sort(key=lambda it: ORDER.index(variant_of(it)))


# ------------------------------------------------------------ event sink

class EventSink:
    """A loopback HTTP server receiving the sample event handler's POSTs."""

    MAX_EVENTS = 20000
    MAX_BODY = 1 << 20

    def __init__(self, port):
        self.events = []
        self.lock = threading.Lock()
        sink = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n > sink.MAX_BODY:
                    self.send_response(413)
                    self.end_headers()
                    return
                body = self.rfile.read(n)
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = {"unparsable": body[:200].decode(errors="replace")}
                docs = doc if isinstance(doc, list) else [doc]
                with sink.lock:
                    for d in docs:
                        if len(sink.events) < sink.MAX_EVENTS:
                            sink.events.append(d)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/events" % self.server.server_address[1]

    def plugin_events(self):
        """The data of janus.plugin.calls plugin events, in arrival order."""
        out = []
        with self.lock:
            for e in self.events:
                if not isinstance(e, dict) or e.get("type") != 64:
                    continue
                body = e.get("event") or {}
                if body.get("plugin") == calls_client.PLUGIN and isinstance(body.get("data"), dict):
                    out.append(body["data"])
        return out

    async def wait_for(self, pred, timeout=5, what="event"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for d in self.plugin_events():
                if pred(d):
                    return d
            await asyncio.sleep(0.05)
        raise AssertionError("event handler: no %s within %ss; plugin events received: %s"
                             % (what, timeout, [calls_client.short(d, 200) for d in self.plugin_events()]))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------ Janus pool

class Pool:
    def __init__(self):
        self.name = None
        self.janus = None
        self.sink = None

    def get(self, name, pg=None):
        if self.name == name and self.janus is not None and self.janus.alive():
            return self.janus
        self.release()
        conf = calls_client_merge(BASE, VARIANTS[name])
        if name in EVENT_VARIANTS:
            self.sink = EventSink(EVENTS_PORT)
        self.janus = JanusInstance(plugin_conf=conf,
                                   event_backend=self.sink.url if self.sink else None,
                                   **CORE.get(name, {}))
        if name == "push":
            self.janus.plugin_conf["push"] = push_stack().plugin_conf()
        if name in DB_VARIANTS:
            # The spool lives with this Janus's configuration, so that a
            # restart of the same JanusInstance finds it again.
            spool = os.path.join(self.janus.workdir, "spool")
            os.makedirs(spool, exist_ok=True)
            self.janus.plugin_conf["database"] = {
                "conninfo": pg.conninfo, "spool_dir": spool,
                "timeout_ms": DB_TIMEOUT_MS, "node": "itest-" + name}
        self.name = name
        try:
            self.janus.start()
        except Exception:
            self.release()
            raise
        return self.janus

    def release(self):
        if self.janus is not None:
            self.janus.cleanup()
        if self.sink is not None:
            self.sink.close()
        self.janus = None
        self.sink = None
        self.name = None


# ------------------------------------------------------------ push stand-ins

PUSH_PORTS = {"webhook": 8291, "fcm": 8292, "apns": 8293}
WEBHOOK_SECRET = "webhook-test-secret"
APNS_KEY_ID, APNS_TEAM_ID, APNS_BUNDLE = "KEY1234567", "TEAM123456", "org.example.calls"
PUSH_TIMEOUT_MS = 8000
PUSH_RETRIES = 2


class PushStack:
    """The webhook, FCM and APNs stand-ins on fixed loopback ports, and the
    keys the plugin signs with, for the whole session (Janus is configured
    once per variant). Tests clear what they set: see reset()."""

    def __init__(self):
        import push_servers
        self.workdir = tempfile.mkdtemp(prefix="calls-push-")
        self.webhook = push_servers.WebhookServer(WEBHOOK_SECRET, port=PUSH_PORTS["webhook"])
        self.fcm = push_servers.FcmServer(None, "push@calls-test.iam.gserviceaccount.com", "calls-test",
                                          port=PUSH_PORTS["fcm"])
        self.service_account, pub = push_servers.make_service_account(
            self.workdir, self.fcm.token_url, project_id="calls-test",
            client_email="push@calls-test.iam.gserviceaccount.com")
        self.fcm.public_key_pem = pub
        self.apns_key, apns_pub = push_servers.make_apns_key(self.workdir)
        self.apns = push_servers.ApnsServer(apns_pub, APNS_TEAM_ID, APNS_KEY_ID, APNS_BUNDLE,
                                            port=PUSH_PORTS["apns"], workdir=self.workdir)

    def plugin_conf(self):
        return {"webhook_url": self.webhook.url, "webhook_secret": WEBHOOK_SECRET,
                "timeout_ms": PUSH_TIMEOUT_MS, "push_retries": PUSH_RETRIES, "ca_file": self.apns.ca_file,
                "fcm": {"service_account": self.service_account, "base_url": self.fcm.base_url},
                "apns": {"key_file": self.apns_key, "key_id": APNS_KEY_ID, "team_id": APNS_TEAM_ID,
                         "bundle_id": APNS_BUNDLE, "base_url": self.apns.base_url}}

    def reset(self):
        for server in (self.webhook, self.fcm, self.apns):
            server.respond.clear()
            server.fail_times.clear()
            server.delay = 0
            server.clear()

    def close(self):
        for server in (self.webhook, self.fcm, self.apns):
            server.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


_push_stack = None


def push_stack():
    global _push_stack
    if _push_stack is None:
        _push_stack = PushStack()
    return _push_stack


@pytest.fixture
def push():
    """The push stand-ins, cleared before and after the test."""
    stack = push_stack()
    stack.reset()
    yield stack
    stack.reset()


def pytest_sessionfinish(session, exitstatus):
    if _push_stack is not None:
        _push_stack.close()


def calls_client_merge(base, over):
    out = {k: dict(v) for k, v in base.items()}
    for group, values in over.items():
        out.setdefault(group, {}).update(values)
    return out


@pytest.fixture(scope="session")
def pg(pool):
    """The session's private PostgreSQL (tests/lib/pg_instance.py), stopped at
    the end, after the Janus that writes to it."""
    folder = tempfile.mkdtemp(prefix="calls-pg-")
    cluster = PgCluster(folder)
    try:
        cluster.start()
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    yield cluster
    try:
        pool.release()
        cluster.stop()
    finally:
        if not os.environ.get("CALLS_KEEP_TMP"):
            shutil.rmtree(folder, ignore_errors=True)


def pg_up(cluster):
    """PostgreSQL running and not frozen (after a test that stopped or froze it)."""
    if cluster.frozen:
        cluster.thaw()
    if not cluster.running():
        cluster.start()


@pytest.fixture
def db(pg):
    """The session's PostgreSQL for a test that may stop, kill or freeze it:
    running and thawed again afterwards."""
    pg_up(pg)
    yield pg
    pg_up(pg)


@pytest.fixture(scope="session")
def pool():
    so = os.path.join(os.environ.get("CALLS_PLUGIN_DIR", os.path.join(TOP, "plugins", ".libs")),
                      "libjanus_calls.so")
    if not os.path.exists(so):
        pytest.skip("%s is not built" % so)
    p = Pool()
    yield p
    p.release()


# ------------------------------------------------------------ per test

class Calls:
    """What a test uses: devices, admin clients, unique names, the Janus."""

    def __init__(self, janus, sink, variant):
        self.janus = janus
        self.sink = sink
        self.variant = variant
        self.closables = []
        self.tag = uuid.uuid4().hex[:8]

    def uid(self, name):
        """A user id unique to this test run."""
        return "%s-%s" % (name, self.tag)

    async def device(self, user=None, register=True, conn=None, **kw):
        """A new device (own WebSocket and session unless conn is given),
        registered as `user` (auth none) unless register is False."""
        d = calls_client.Device(self.janus.ws_url, label=user or "device")
        self.closables.append(d)
        await d.open(conn)
        if register:
            if self.variant == "jwt" and "token" not in kw:
                kw["token"] = make_jwt({"sub": user, "exp": int(time.time()) + 300})
                await d.register(**kw)
            else:
                await d.register(user=user, **kw)
        return d

    async def connection(self):
        c = calls_client.JanusConnection(self.janus.ws_url)
        self.closables.append(c)
        await c.connect()
        await c.create_session()
        return c

    async def admin(self):
        a = calls_client.AdminClient(self.janus.admin_url, self.janus.admin_secret)
        self.closables.append(a)
        return await a.connect()

    async def admin_ok(self, request, expect):
        a = await self.admin()
        resp = await a.message_plugin(dict(request, admin_key=ADMIN_KEY))
        assert isinstance(resp, dict) and resp.get("calls") == expect, \
            "admin %s: expected %r, got %s" % (request, expect, resp)
        return resp

    def strays(self):
        """Replies that matched no pending request: every request gets exactly one reply."""
        out = []
        for c in self.closables:
            conn = c.conn if isinstance(c, (calls_client.Device, calls_client.AdminClient)) else c
            if conn is not None:
                out.extend(conn.stray)
        return out

    async def aclose(self):
        for c in reversed(self.closables):
            try:
                await asyncio.wait_for(c.close(), 10)
            except Exception:
                pass
        self.closables = []


@pytest.fixture
def calls(request, pool):
    name = variant_of(request.node)
    cluster = None
    if name in DB_VARIANTS:
        cluster = request.getfixturevalue("pg")
        pg_up(cluster)
    janus = pool.get(name, cluster)
    c = Calls(janus, pool.sink, name)
    request.node._calls_janus = janus
    request.node._calls_pg = cluster
    yield c
    alive = janus.alive()
    if not alive:
        pool.release()
        pytest.fail("Janus is not running after the test (crashed?); log tail:\n" + janus.log_tail(80))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if not asyncio.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}
    m = pyfuncitem.get_closest_marker("timeout")
    limit = m.args[0] if m else TEST_TIMEOUT

    async def run():
        try:
            await asyncio.wait_for(pyfuncitem.obj(**args), limit)
            await asyncio.sleep(0.2)
            for v in args.values():
                if isinstance(v, Calls) and v.strays():
                    raise AssertionError("replies to no pending request (a request answered twice?): %s"
                                         % [calls_client.short(m) for m in v.strays()])
        except asyncio.TimeoutError:
            raise AssertionError("test did not finish within %ss" % limit) from None
        finally:
            for v in args.values():
                if isinstance(v, Calls):
                    await v.aclose()

    asyncio.run(run())
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    janus = getattr(item, "_calls_janus", None)
    if rep.failed and janus is not None:
        rep.sections.append(("janus log tail (%s)" % janus.log_path, janus.log_tail(60)))
    cluster = getattr(item, "_calls_pg", None)
    if rep.failed and cluster is not None:
        rep.sections.append(("postgres log tail (%s)" % cluster.log_path, cluster.log_tail(20)))


# ------------------------------------------------------------ helpers for tests

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims, secret=JWT_SECRET, alg="HS256", header=None, sign=True):
    head = header or {"alg": alg, "typ": "JWT"}
    signing_input = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())
    if not sign:
        return signing_input + "."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    sig = hmac.new(secret.encode(), signing_input.encode(), digest).digest()
    return signing_input + "." + b64url(sig)

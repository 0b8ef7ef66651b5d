"""Local stand-ins for the push services janus.plugin.calls delivers to.

Each server listens on 127.0.0.1 (port 0 = an ephemeral port, see `.port`),
runs in daemon threads of its own (never in the caller's event loop, so the
asyncio tests can use them as they like), checks every request the way the
real service would, and keeps a record of it. `close()` stops it within a
few seconds; the classes are also context managers.

WebhookServer(secret, port=0)
    HTTP/1.1 with keep-alive, `url` = http://127.0.0.1:<port>/push (any path
    is accepted and recorded). Checks the JSON body the plugin POSTs and its
    `X-Calls-Timestamp` / `X-Calls-Signature` headers: the signature is
    "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + raw body) and the
    timestamp must be within 300 s of now. A bad signature or timestamp is
    answered 401, any other problem 400, as a careful receiver would.

ApnsServer(public_key_pem, team_id, key_id, bundle_id, port=0, workdir=None)
    api.push.apple.com: HTTP/2 over TLS (ALPN "h2" only), with a private CA
    written to `ca_file` and a certificate for localhost and 127.0.0.1.
    `base_url` = https://127.0.0.1:<port>. POST /3/device/<token> with an
    ES256 provider token (JWT) signed by the .p8 key whose public half is
    given; many streams per connection (MAX_CONCURRENT_STREAMS 1000).
    `connections` counts accepted TCP connections, `tokens_seen` the distinct
    JWTs. Errors are answered with Apple's status and {"reason": ...} body.

FcmServer(public_key_pem, client_email, project_id, port=0, expires_in=3599)
    Google's OAuth token endpoint and FCM HTTP v1, over plain HTTP/1.1:
    `token_url` = http://127.0.0.1:<port>/token exchanges a service-account
    JWT (RS256) for an access token; `base_url` + /v1/projects/<project>/
    messages:send takes a message with that bearer token. Token exchanges are
    recorded in `token_requests` (and `token_log`), messages in `requests`.
    `expire_tokens()` forgets every access token handed out (re-auth tests).
    The public key may be given later (`public_key_pem = ...`) or made by
    `service_account(workdir)`, since the key file has to name `token_url`.

Every server has the same record API:

    srv.requests                 list (a copy) of records, in arrival order
    srv.wait_for(pred, timeout)  first record matching pred, or AssertionError
    await srv.await_for(pred, timeout)   the same for asyncio code
    srv.count(pred)              how many records match
    srv.clear()                  forget the records

A record is a dict with at least `arrived` (time.monotonic() once the request
was read), `answered` (monotonic time the answer was written, None until
then or when never), `problems` (every check the request failed; empty means
valid), `status` (what the server answered), `body` (parsed JSON or None),
`raw` (bytes), `headers` (lower-case names), `method`, `path`, `token` (the
push token), `http_version`, `response` (the JSON answered, or None) and
`seq` (1, 2, ... per log).

And the same knobs, which tests may change at any time:

    srv.respond = {token: status}   answer this status for that push token
    srv.delay = seconds             wait before answering each request; the
                                    waits overlap (a thread or task each)
    srv.fail_times = {token: n}     answer 503 the next n times for that
                                    token (the count goes down in place)

A request that fails a check is answered with the check's error whatever
`respond` says; `fail_times` comes before `respond`.

Keys: make_service_account(workdir, token_uri, ...) writes a Google service
account key file (RSA 2048) and make_apns_key(workdir) an AuthKey_<id>.p8
(P-256); both return (path, public key PEM) for the servers above.
"""

import asyncio
import base64
import collections
import datetime
import hashlib
import hmac
import ipaddress
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "WebhookServer", "ApnsServer", "FcmServer", "RecordLog",
    "make_service_account", "make_apns_key", "MAX_RECORDS",
]

HOST = "127.0.0.1"
# Records kept per log; older ones are dropped, so a long benchmark cannot
# eat the machine's memory.
MAX_RECORDS = 100000
# Larger request bodies are not read at all (the connection is closed): no
# push payload comes near this.
MAX_BODY = 1 << 20
# Bound on every wait the servers do themselves (handshakes, flow control).
IO_TIMEOUT = 10.0

WEBHOOK_TYPES = ("incoming_call", "call_ended", "missed_call")
WEBHOOK_SKEW = 300
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


# ---------------------------------------------------------------- records

def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _matches(pred, rec):
    if pred is None:
        return True
    try:
        return bool(pred(rec))
    except Exception:
        # A predicate written for one kind of record (rec["body"]["type"])
        # must not blow up on a record of another kind (body None).
        return False


def _describe(rec):
    keys = ("seq", "method", "path", "token", "status", "problems")
    return "  " + ", ".join("%s=%r" % (k, rec.get(k)) for k in keys)


class RecordLog:
    """A bounded, thread-safe list of request records that can be waited on."""

    def __init__(self, name, maxlen=MAX_RECORDS, diagnostics=None):
        self.name = name
        self._records = collections.deque(maxlen=maxlen)
        self._total = 0
        self._cond = threading.Condition()
        # Extra lines for a failed wait (e.g. TLS handshakes that failed).
        self._diagnostics = diagnostics

    def add(self, rec):
        with self._cond:
            self._total += 1
            rec["seq"] = self._total
            self._records.append(rec)
            self._cond.notify_all()

    @property
    def requests(self):
        with self._cond:
            return list(self._records)

    def clear(self):
        with self._cond:
            self._records.clear()

    def count(self, pred=None):
        return sum(1 for r in self.requests if _matches(pred, r))

    def _since(self, seen):
        """Records added after the first `seen` ones, and the new total."""
        with self._cond:
            n = min(self._total - seen, len(self._records))
            start = len(self._records) - n
            return list(itertools.islice(self._records, start, None)), self._total

    def _failure(self, timeout):
        recs = self.requests
        lines = ["no %s record matched within %.1f s; %d arrived%s" % (
            self.name, timeout, len(recs), " (the last 20):" if len(recs) > 20 else ":")]
        lines += [_describe(r) for r in recs[-20:]]
        if self._diagnostics:
            lines += self._diagnostics()
        return "\n".join(lines)

    def _first_match(self, pred, seen):
        """The first record after the first `seen` ones that matches pred
        (None if none does), and the new total. Only records not yet looked
        at are tested, so waiting on a log of 100000 records stays cheap;
        pred runs outside the lock."""
        new, seen = self._since(seen)
        return next((rec for rec in new if _matches(pred, rec)), None), seen

    def _left(self, deadline, timeout):
        """The seconds left until deadline; AssertionError once none are."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(self._failure(timeout))
        return left

    def wait_for(self, pred=None, timeout=10):
        deadline = time.monotonic() + timeout
        rec, seen = self._first_match(pred, 0)
        while rec is None:
            left = self._left(deadline, timeout)
            with self._cond:
                if self._total == seen:
                    self._cond.wait(min(left, 1.0))
            rec, seen = self._first_match(pred, seen)
        return rec

    async def await_for(self, pred=None, timeout=10):
        deadline = time.monotonic() + timeout
        rec, seen = self._first_match(pred, 0)
        while rec is None:
            self._left(deadline, timeout)
            await asyncio.sleep(0.05)
            rec, seen = self._first_match(pred, seen)
        return rec


class _Recording:
    """The record API and the response knobs shared by all servers."""

    def _init_recording(self, name, diagnostics=None):
        self.log = RecordLog(name, diagnostics=diagnostics)
        self.respond = {}
        self.delay = 0.0
        self.fail_times = {}
        self._knob_lock = threading.Lock()

    @property
    def requests(self):
        return self.log.requests

    def wait_for(self, pred=None, timeout=10):
        return self.log.wait_for(pred, timeout)

    async def await_for(self, pred=None, timeout=10):
        return await self.log.await_for(pred, timeout)

    def count(self, pred=None):
        return self.log.count(pred)

    def clear(self):
        self.log.clear()

    def _diagnostics(self):
        errs = list(self.connection_errors)
        if not errs:
            return ["%d connections, no connection errors" % self.connections]
        return ["%d connections; connection errors (the last 10):" % self.connections] + \
               ["  " + e for e in errs[-10:]]

    def _planned_status(self, token):
        """503 while fail_times[token] lasts, else respond.get(token, 200)."""
        with self._knob_lock:
            left = self.fail_times.get(token, 0) if token is not None else 0
            if left > 0:
                # Counting down in the test's own dict means setting it again
                # for the same token (say in the next test) starts over.
                self.fail_times[token] = left - 1
                return 503
            return self.respond.get(token, 200) if token is not None else 200

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _new_record(method, path, headers, raw, http_version):
    return {
        "arrived": time.monotonic(), "answered": None, "problems": [],
        "status": None, "body": None, "raw": raw, "headers": headers,
        "method": method, "path": path, "token": None,
        "http_version": http_version, "response": None,
    }


def _parse_json(raw, problems):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        problems.append("body is not JSON: %s" % e)
        return None


def _media_type(value):
    return (value or "").split(";")[0].strip().lower()


# ---------------------------------------------------------------- JWT

def _b64url_decode(s):
    # JWS uses base64url without padding; anything else is a client bug.
    if not re.fullmatch(r"[A-Za-z0-9_-]*", s):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _parse_jwt(token):
    """(header, claims, signing input, signature, problems) of a compact JWS."""
    parts = token.split(".")
    if len(parts) != 3:
        return None, None, None, None, ["JWT has %d parts, not 3" % len(parts)]
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as e:
        return None, None, None, None, ["JWT does not decode: %s" % e]
    problems = []
    if not isinstance(header, dict):
        problems.append("JWT header is not an object")
        header = None
    if not isinstance(claims, dict):
        problems.append("JWT claims are not an object")
        claims = None
    signing_input = (parts[0] + "." + parts[1]).encode("ascii")
    return header, claims, signing_input, signature, problems


def _verify_es256(public_key, signing_input, signature):
    """A problem string, or None when the ES256 signature is good."""
    if len(signature) != 64:
        # The usual mistake: OpenSSL's ECDSA_sign gives DER, JWS wants r||s.
        return "ES256 signature is %d bytes, not 64 (raw r||s)" % len(signature)
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                               int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "JWT signature does not verify"
    return None


def _verify_rs256(public_key, signing_input, signature):
    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return "JWT signature does not verify"
    return None


def _load_public_key(pem, kind):
    if isinstance(pem, str):
        pem = pem.encode()
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, kind):
        raise ValueError("expected a %s public key, got %s" % (kind.__name__, type(key).__name__))
    return key


# ---------------------------------------------------------------- HTTP/1.1

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive
    server_version = "calls-push-standin"

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        self.server.owner._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, False)

    def log_message(self, format, *args):
        pass   # one line per request would drown the test output

    def _dispatch(self):
        self.server.owner._serve(self)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    # Do not join every handler thread on close: close() ends them itself.
    block_on_close = False
    request_queue_size = 2048
    allow_reuse_address = True

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(), a DNS lookup that can hang
        # for seconds on a machine without a resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        # Instead of a traceback on stderr (clients resetting a keep-alive
        # connection is normal), a line in the diagnostics of failed waits.
        exc = sys.exc_info()[1]
        self.owner.connection_errors.append("%s:%d: %r" % (client_address[0], client_address[1], exc))


def _read_body(handler):
    """The request body (Content-Length or chunked), or None when unreadable."""
    te = (handler.headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        chunks, size = [], 0
        while True:
            line = handler.rfile.readline(1024)
            try:
                n = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if n == 0:
                while handler.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass   # trailers
                return b"".join(chunks)
            size += n
            if size > MAX_BODY:
                return None
            chunks.append(handler.rfile.read(n))
            handler.rfile.readline(8)
    length = handler.headers.get("Content-Length")
    if length is None:
        return b""
    if not length.isdigit() or int(length) > MAX_BODY:
        return None
    return handler.rfile.read(int(length))


class _Http1Server(_Recording):
    """A ThreadingHTTPServer with a thread per connection, so that `delay`
    holds one connection each: 1000 delayed requests take one delay, not
    1000. Subclasses implement _handle(handler, raw) ->
    (log, record, status, headers, body bytes, delay)."""

    def _start(self, port, name):
        self.connections = 0
        self.connection_errors = collections.deque(maxlen=1000)
        self._closed = threading.Event()
        self._socks = set()
        self._socks_lock = threading.Lock()
        self._httpd = _ThreadingServer((HOST, port), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=name, daemon=True)
        self._thread.start()

    def _track(self, sock, opened):
        with self._socks_lock:
            if opened:
                self.connections += 1
                self._socks.add(sock)
            else:
                self._socks.discard(sock)

    def _serve(self, handler):
        raw = _read_body(handler)
        if raw is None:
            rec = self._request_record(handler, b"")
            rec["problems"].append("body unreadable or over %d bytes" % MAX_BODY)
            rec["status"] = 400
            self.log.add(rec)
            handler.close_connection = True
            handler.send_error(400, "bad or too large body")
            return
        log, rec, status, headers, body, delay = self._handle(handler, raw)
        log.add(rec)
        # Waiting on the event rather than sleeping lets close() end the
        # delayed handlers at once.
        if delay and delay > 0 and self._closed.wait(delay):
            handler.close_connection = True
            return
        if self._closed.is_set():
            handler.close_connection = True
            return
        try:
            handler.send_response(status)
            for k, v in headers:
                handler.send_header(k, v)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(body)
            rec["answered"] = time.monotonic()
        except OSError:
            handler.close_connection = True   # the client went away

    def _request_record(self, handler, raw):
        headers = {k.lower(): v for k, v in handler.headers.items()}
        version = handler.request_version.partition("/")[2] or handler.request_version
        return _new_record(handler.command, handler.path, headers, raw, version)

    def close(self):
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread.is_alive():
            self._httpd.shutdown()          # returns within poll_interval
        self._httpd.server_close()
        with self._socks_lock:
            socks = list(self._socks)
        for s in socks:
            # Wakes handler threads blocked reading an idle keep-alive
            # connection, which would otherwise live until the client leaves.
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(2)


def _json_bytes(obj):
    return json.dumps(obj).encode()


# ---------------------------------------------------------------- webhook

class WebhookServer(_Http1Server):
    """The application's webhook receiver; see the module docstring."""

    def __init__(self, secret, port=0):
        self.secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        self._init_recording("webhook", diagnostics=self._diagnostics)
        self._start(port, "webhook-server")

    @property
    def url(self):
        return "http://%s:%d/push" % (HOST, self.port)

    def expected_signature(self, timestamp, raw):
        mac = hmac.new(self.secret, str(timestamp).encode() + b"." + raw, hashlib.sha256)
        return "sha256=" + mac.hexdigest()

    def _handle(self, handler, raw):
        rec = self._request_record(handler, raw)
        h = rec["headers"]
        problems = rec["problems"]
        auth_problems = []
        if handler.command != "POST":
            problems.append("method is %s, not POST" % handler.command)
        if _media_type(h.get("content-type")) != "application/json":
            problems.append("Content-Type is %r, not application/json" % h.get("content-type"))

        ts = h.get("x-calls-timestamp")
        if ts is None:
            auth_problems.append("no X-Calls-Timestamp header")
        elif not re.fullmatch(r"[0-9]{1,12}", ts):
            auth_problems.append("X-Calls-Timestamp %r is not unix seconds" % ts)
        elif abs(time.time() - int(ts)) > WEBHOOK_SKEW:
            auth_problems.append("X-Calls-Timestamp %s is %d s away from now"
                                 % (ts, int(ts) - time.time()))
        sig = h.get("x-calls-signature")
        expected = self.expected_signature(ts or "", raw)
        rec["signature_ok"] = sig is not None and hmac.compare_digest(
            sig.encode("utf-8", "replace"), expected.encode())
        if sig is None:
            auth_problems.append("no X-Calls-Signature header")
        elif not rec["signature_ok"]:
            auth_problems.append("X-Calls-Signature %r is not %r" % (sig, expected))
        problems.extend(auth_problems)

        body_problems = []
        rec["body"] = _parse_json(raw, body_problems)
        if rec["body"] is not None:
            body_problems += self._check_body(rec["body"])
        problems.extend(body_problems)
        if isinstance(rec["body"], dict) and isinstance(rec["body"].get("token"), str):
            rec["token"] = rec["body"]["token"]

        if auth_problems:
            status, answer = 401, {"error": auth_problems[0]}
        elif problems:
            status, answer = 400, {"error": problems[0]}
        else:
            status = self._planned_status(rec["token"])
            answer = {"ok": True} if status < 300 else {"error": "status %d" % status}
        rec["status"], rec["response"] = status, answer
        headers = [("Content-Type", "application/json")]
        if status == 429:
            headers.append(("Retry-After", "1"))
        return self.log, rec, status, headers, _json_bytes(answer), self.delay

    @staticmethod
    def _check_body(body):
        if not isinstance(body, dict):
            return ["body is %s, not a JSON object" % type(body).__name__]
        problems = []
        if body.get("type") not in WEBHOOK_TYPES:
            problems.append("type %r is not one of %s" % (body.get("type"), ", ".join(WEBHOOK_TYPES)))
        for key in ("call_id", "from", "to", "device", "platform", "token"):
            if not isinstance(body.get(key), str) or not body.get(key):
                problems.append("%s %r is not a non-empty string" % (key, body.get(key)))
        if not isinstance(body.get("display"), str):
            problems.append("display %r is not a string" % body.get("display"))
        if not isinstance(body.get("video"), bool):
            problems.append("video %r is not a boolean" % body.get("video"))
        for key in ("sent_at", "expires_at"):
            if not _is_int(body.get(key)):
                problems.append("%s %r is not an integer" % (key, body.get(key)))
        if (_is_int(body.get("sent_at")) and _is_int(body.get("expires_at"))
                and body["expires_at"] < body["sent_at"]):
            problems.append("expires_at %d is before sent_at %d" % (body["expires_at"], body["sent_at"]))
        return problems


# ---------------------------------------------------------------- FCM

_FCM_ERRORS = {
    400: ("INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
          "INVALID_ARGUMENT"),
    403: ("PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"),
    404: ("NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
    429: ("RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send messages'.",
          "QUOTA_EXCEEDED"),
    500: ("INTERNAL", "Internal error encountered.", "INTERNAL"),
    503: ("UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"),
}
_FCM_MESSAGE_KEYS = {"name", "data", "notification", "android", "webpush", "apns",
                     "fcm_options", "token", "topic", "condition"}


def _fcm_error(code, status, message, error_code=None):
    err = {"code": code, "message": message, "status": status}
    if error_code:
        err["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                           "errorCode": error_code}]
    return {"error": err}


_FCM_UNAUTHENTICATED = _fcm_error(401, "UNAUTHENTICATED",
                                  "Request had invalid authentication credentials.")


class FcmServer(_Http1Server):
    """Google's token endpoint plus FCM HTTP v1; see the module docstring.

    `token_fail_times` (int) answers 503 to that many token requests first;
    `token_delay` delays token requests (`delay` applies to messages only).
    """

    def __init__(self, public_key_pem, client_email, project_id, port=0, expires_in=3599):
        self.client_email = client_email
        self.project_id = project_id
        self.expires_in = expires_in
        self.token_fail_times = 0
        self.token_delay = 0.0
        self._public_key = None
        if public_key_pem is not None:
            self.public_key_pem = public_key_pem
        self._tokens = collections.OrderedDict()   # access token -> monotonic expiry
        self._tokens_lock = threading.Lock()
        self._issued = itertools.count(1)
        self._sent = itertools.count(1)
        self._init_recording("fcm send", diagnostics=self._diagnostics)
        self.token_log = RecordLog("fcm token", diagnostics=self._diagnostics)
        self._start(port, "fcm-server")

    @property
    def public_key_pem(self):
        return self._public_key_pem

    @public_key_pem.setter
    def public_key_pem(self, pem):
        self._public_key = _load_public_key(pem, rsa.RSAPublicKey)
        self._public_key_pem = pem

    def service_account(self, workdir):
        """Write a service account key file for this server and trust its key;
        the path of the JSON file."""
        path, pem = make_service_account(workdir, self.token_url, project_id=self.project_id,
                                         client_email=self.client_email)
        self.public_key_pem = pem
        return path

    @property
    def base_url(self):
        return "http://%s:%d" % (HOST, self.port)

    @property
    def token_url(self):
        return self.base_url + "/token"

    @property
    def send_path(self):
        return "/v1/projects/%s/messages:send" % self.project_id

    @property
    def token_requests(self):
        return self.token_log.requests

    def expire_tokens(self):
        with self._tokens_lock:
            self._tokens.clear()

    def _handle(self, handler, raw):
        rec = self._request_record(handler, raw)
        if urllib.parse.urlsplit(handler.path).path == "/token":
            return self._token(handler, rec)
        return self._send(handler, rec)

    # -- POST /token

    def _token(self, handler, rec):
        problems = rec["problems"]
        rec.update(jwt_header=None, jwt_claims=None, jwt_ok=False, access_token=None)
        if handler.command != "POST":
            problems.append("method is %s, not POST" % handler.command)
        ctype = rec["headers"].get("content-type")
        if _media_type(ctype) != "application/x-www-form-urlencoded":
            problems.append("Content-Type is %r, not application/x-www-form-urlencoded" % ctype)
        try:
            form = urllib.parse.parse_qs(rec["raw"].decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as e:
            form = {}
            problems.append("body is not a form: %s" % e)
        rec["body"] = {k: v[0] if len(v) == 1 else v for k, v in form.items()}
        error = None
        if form.get("grant_type") != [JWT_BEARER]:
            problems.append("grant_type %r is not %s" % (form.get("grant_type"), JWT_BEARER))
            error = ("unsupported_grant_type", "Invalid grant_type")
        assertion = form.get("assertion", [None])
        if len(assertion) != 1 or not assertion[0]:
            problems.append("no single assertion")
        else:
            jwt_problems = self._check_assertion(assertion[0], rec)
            problems.extend(jwt_problems)
            rec["jwt_ok"] = not jwt_problems
        if problems and error is None:
            error = ("invalid_grant", problems[0])

        with self._knob_lock:
            failing = self.token_fail_times > 0
            if failing:
                self.token_fail_times -= 1
        if failing:
            status, answer = 503, {"error": "temporarily_unavailable",
                                   "error_description": "try again"}
        elif error:
            status, answer = 400, {"error": error[0], "error_description": error[1]}
        else:
            token = "fcm-access-%d" % next(self._issued)
            with self._tokens_lock:
                self._tokens[token] = time.monotonic() + self.expires_in
                while len(self._tokens) > MAX_RECORDS:
                    self._tokens.popitem(last=False)
            rec["access_token"] = token
            status, answer = 200, {"access_token": token, "expires_in": self.expires_in,
                                   "token_type": "Bearer"}
        rec["status"], rec["response"] = status, answer
        headers = [("Content-Type", "application/json; charset=utf-8")]
        return self.token_log, rec, status, headers, _json_bytes(answer), self.token_delay

    def _check_assertion(self, token, rec):
        header, claims, signing_input, signature, problems = _parse_jwt(token)
        rec["jwt_header"], rec["jwt_claims"] = header, claims
        if problems:
            return problems
        if header.get("alg") != "RS256":
            problems.append("JWT alg %r is not RS256" % header.get("alg"))
        now = time.time()
        if claims.get("iss") != self.client_email:
            problems.append("JWT iss %r is not %r" % (claims.get("iss"), self.client_email))
        if claims.get("aud") != self.token_url:
            problems.append("JWT aud %r is not %r" % (claims.get("aud"), self.token_url))
        scope = claims.get("scope")
        if not isinstance(scope, str) or FCM_SCOPE not in scope.split():
            problems.append("JWT scope %r does not contain %s" % (scope, FCM_SCOPE))
        iat, exp = claims.get("iat"), claims.get("exp")
        if not _is_int(iat) or not _is_int(exp):
            problems.append("JWT iat %r / exp %r are not integers" % (iat, exp))
        else:
            if not 0 < exp - iat <= 3600:
                problems.append("JWT exp - iat is %d s, not within (0, 3600]" % (exp - iat))
            if exp <= now:
                problems.append("JWT expired %d s ago" % (now - exp))
            if iat > now + 60:
                problems.append("JWT iat is %d s in the future" % (iat - now))
        if self._public_key is None:
            problems.append("the server has no public key to check the JWT with")
        elif header.get("alg") == "RS256":
            bad = _verify_rs256(self._public_key, signing_input, signature)
            if bad:
                problems.append(bad)
        return problems

    # -- POST /v1/projects/<project>/messages:send

    def _send(self, handler, rec):
        problems = rec["problems"]
        rec.update(data=None, android=None, bearer=None, message_name=None)
        status = answer = None
        path = urllib.parse.urlsplit(handler.path).path
        if handler.command != "POST":
            problems.append("method is %s, not POST" % handler.command)
            status, answer = 405, _fcm_error(405, "METHOD_NOT_ALLOWED", "Use POST")
        elif path != self.send_path:
            problems.append("path %s is not %s" % (path, self.send_path))
            status, answer = 404, _fcm_error(404, "NOT_FOUND", "Requested entity was not found.")

        auth = rec["headers"].get("authorization", "")
        scheme, _, bearer = auth.partition(" ")
        rec["bearer"] = bearer.strip() if scheme.lower() == "bearer" else None
        with self._tokens_lock:
            expiry = self._tokens.get(rec["bearer"])
        if expiry is None or expiry <= time.monotonic():
            problems.append("no Authorization: Bearer <access token>" if not rec["bearer"] else
                            "access token %r is unknown or expired" % rec["bearer"])
            if status is None:
                status, answer = 401, _FCM_UNAUTHENTICATED

        body_problems = []
        ctype = rec["headers"].get("content-type")
        if _media_type(ctype) != "application/json":
            body_problems.append("Content-Type is %r, not application/json" % ctype)
        rec["body"] = _parse_json(rec["raw"], body_problems)
        msg = rec["body"].get("message") if isinstance(rec["body"], dict) else None
        if isinstance(msg, dict):
            if isinstance(msg.get("token"), str):
                rec["token"] = msg["token"]
            rec["data"], rec["android"] = msg.get("data"), msg.get("android")
        if rec["body"] is not None:
            body_problems += self._check_message(rec["body"])
        problems.extend(body_problems)
        if body_problems and status is None:
            status, answer = 400, _fcm_error(400, "INVALID_ARGUMENT", body_problems[0],
                                             "INVALID_ARGUMENT")

        headers = [("Content-Type", "application/json; charset=UTF-8")]
        if status is None:
            status = self._planned_status(rec["token"])
            if status == 200:
                rec["message_name"] = "projects/%s/messages/0:%d" % (self.project_id, next(self._sent))
                answer = {"name": rec["message_name"]}
            elif status == 401:
                answer = _FCM_UNAUTHENTICATED
            else:
                name, text, code = _FCM_ERRORS.get(status, ("UNKNOWN", "status %d" % status, None))
                answer = _fcm_error(status, name, text, code)
        if status == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"'))
        if status == 429:
            headers.append(("Retry-After", "1"))
        rec["status"], rec["response"] = status, answer
        return self.log, rec, status, headers, _json_bytes(answer), self.delay

    @staticmethod
    def _check_message(body):
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            return ["body is not {\"message\": {...}}"]
        problems = []
        if set(body) != {"message"}:
            problems.append("unknown top-level keys %s" % sorted(set(body) - {"message"}))
        msg = body["message"]
        unknown = set(msg) - _FCM_MESSAGE_KEYS
        if unknown:
            problems.append("unknown message keys %s" % sorted(unknown))
        if not isinstance(msg.get("token"), str) or not msg.get("token"):
            problems.append("message.token %r is not a non-empty string" % msg.get("token"))
        data = msg.get("data")
        if not isinstance(data, dict):
            problems.append("message.data %r is not an object" % (data,))
        else:
            for k, v in data.items():
                if not isinstance(v, str):
                    problems.append("message.data.%s is %s, not a string" % (k, type(v).__name__))
                # FCM refuses these keys (they clash with its own fields).
                if k in ("from", "message_type") or k.startswith(("google.", "gcm.")):
                    problems.append("message.data key %r is reserved by FCM" % k)
            for k in ("type", "call_id"):
                if k not in data:
                    problems.append("message.data has no %r" % k)
            size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in data.items())
            if size > 4096:
                problems.append("message.data is %d bytes, over 4096" % size)
        android = msg.get("android")
        if not isinstance(android, dict):
            problems.append("message.android %r is not an object" % (android,))
        else:
            if android.get("priority") != "HIGH":
                problems.append("message.android.priority %r is not HIGH" % android.get("priority"))
            ttl = android.get("ttl")
            if not isinstance(ttl, str) or not re.fullmatch(r"[0-9]+(\.[0-9]{1,9})?s", ttl):
                problems.append("message.android.ttl %r is not a duration like \"30s\"" % (ttl,))
        return problems


# ---------------------------------------------------------------- APNs

_APNS_REASONS = {
    400: "BadDeviceToken", 403: "Forbidden", 404: "BadPath", 405: "MethodNotAllowed",
    410: "Unregistered", 413: "PayloadTooLarge", 429: "TooManyRequests",
    500: "InternalServerError", 503: "ServiceUnavailable",
}
_APNS_PUSH_TYPES = ("voip", "alert", "background")


class _LoopThread:
    """An asyncio loop of our own in a daemon thread."""

    def __init__(self, name, on_error):
        self.loop = asyncio.new_event_loop()
        # Errors the loop would log (failed handshakes, resets) go to the
        # server's diagnostics instead of the test output.
        self.loop.set_exception_handler(lambda loop, ctx: on_error(
            "%s: %r" % (ctx.get("message"), ctx.get("exception"))))
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(self.loop)
            for t in tasks:
                t.cancel()
            if tasks:
                self.loop.run_until_complete(asyncio.wait(tasks, timeout=2))
            self.loop.close()

    def call(self, coro, timeout=IO_TIMEOUT):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout=5):
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout)


class _H2Conn:
    """One client connection: its h2 state machine and what is in flight."""

    def __init__(self, number, h2conn, writer):
        self.number = number
        self.h2 = h2conn
        self.writer = writer
        self.streams = {}                 # stream id -> {"headers", "data", "too_big"}
        self.window = asyncio.Event()     # set when the peer opens its window
        self.closed = False

    def flush(self):
        data = self.h2.data_to_send()
        if data and not self.closed and not self.writer.is_closing():
            self.writer.write(data)


class ApnsServer(_Recording):
    """api.push.apple.com over HTTP/2 + TLS; see the module docstring."""

    def __init__(self, public_key_pem, team_id, key_id, bundle_id, port=0, workdir=None):
        self._public_key = _load_public_key(public_key_pem, ec.EllipticCurvePublicKey)
        self.team_id = team_id
        self.key_id = key_id
        self.bundle_id = bundle_id
        self.connections = 0
        self.connection_errors = collections.deque(maxlen=1000)
        self._tokens_seen = set()
        self._jwt_cache = {}     # JWT -> (header, claims, problems that do not depend on time)
        self._closing = False
        self._own_workdir = workdir is None
        self.workdir = tempfile.mkdtemp(prefix="apns-") if workdir is None else workdir
        os.makedirs(self.workdir, exist_ok=True)
        self.ca_file, cert_file, key_file = _make_tls_files(self.workdir)
        self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        self._ssl.options |= ssl.OP_NO_COMPRESSION     # RFC 9113 section 9.2
        self._ssl.load_cert_chain(cert_file, key_file)
        self._ssl.set_alpn_protocols(["h2"])
        self._init_recording("apns", diagnostics=self._diagnostics)
        self._conns = set()
        self._tasks = set()

        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((HOST, port))
        self._lsock.listen(2048)
        self._lsock.setblocking(False)
        self.port = self._lsock.getsockname()[1]
        self._lt = _LoopThread("apns-server", self._conn_error)
        self._lt.call(self._start())

    @property
    def base_url(self):
        return "https://%s:%d" % (HOST, self.port)

    @property
    def tokens_seen(self):
        with self._knob_lock:
            return set(self._tokens_seen)

    def _conn_error(self, text):
        self.connection_errors.append(text)

    def _spawn(self, coro):
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    async def _start(self):
        self._spawn(self._accept_loop())

    async def _accept_loop(self):
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(self._lsock)
            except asyncio.CancelledError:
                raise
            except OSError as e:          # EMFILE and the like: keep serving
                self._conn_error("accept: %r" % e)
                await asyncio.sleep(0.1)
                continue
            self.connections += 1
            self._spawn(self._connection(sock, self.connections))

    async def _connection(self, sock, number):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_BODY)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            # Accepting the socket ourselves (rather than start_server) lets
            # `connections` count clients whose TLS handshake then fails.
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol, sock, ssl=self._ssl, ssl_handshake_timeout=IO_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            self._conn_error("connection %d: TLS handshake failed: %r" % (number, e))
            sock.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
        if alpn != "h2":
            self._conn_error("connection %d: ALPN chose %r, not h2" % (number, alpn))
            transport.abort()
            return

        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        h2conn = h2.connection.H2Connection(config=config)
        h2conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
        })
        h2conn.initiate_connection()
        conn = _H2Conn(number, h2conn, writer)
        self._conns.add(conn)
        conn.flush()
        try:
            while not conn.closed:
                data = await reader.read(65536)
                if not data:
                    break
                try:
                    events = h2conn.receive_data(data)
                except h2.exceptions.ProtocolError as e:
                    self._conn_error("connection %d: HTTP/2 protocol error: %r" % (number, e))
                    conn.flush()
                    break
                for ev in events:
                    self._on_event(conn, ev)
                conn.flush()
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError) as e:
            self._conn_error("connection %d: %r" % (number, e))
        finally:
            conn.closed = True
            self._conns.discard(conn)
            if self._closing:
                transport.abort()
            else:
                writer.close()

    def _on_event(self, conn, ev):
        if isinstance(ev, h2.events.RequestReceived):
            conn.streams[ev.stream_id] = {"headers": ev.headers, "data": bytearray(),
                                          "too_big": False}
        elif isinstance(ev, h2.events.DataReceived):
            conn.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            s = conn.streams.get(ev.stream_id)
            if s is not None:
                if len(s["data"]) + len(ev.data) > MAX_BODY:
                    s["too_big"] = True
                else:
                    s["data"] += ev.data
        elif isinstance(ev, h2.events.StreamEnded):
            s = conn.streams.pop(ev.stream_id, None)
            if s is not None:
                self._spawn(self._answer(conn, ev.stream_id, s))
        elif isinstance(ev, h2.events.StreamReset):
            conn.streams.pop(ev.stream_id, None)
        elif isinstance(ev, h2.events.WindowUpdated):
            conn.window.set()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            conn.closed = True

    async def _answer(self, conn, stream_id, req):
        rec, headers, body = self._evaluate(req, conn.number, stream_id)
        self.log.add(rec)
        delay = self.delay
        if delay and delay > 0:
            await asyncio.sleep(delay)    # only this stream waits
        try:
            deadline = time.monotonic() + IO_TIMEOUT
            while (body and not conn.closed
                   and conn.h2.local_flow_control_window(stream_id) < len(body)):
                conn.window.clear()
                await asyncio.wait_for(conn.window.wait(), max(0.01, deadline - time.monotonic()))
            if conn.closed:
                return
            conn.h2.send_headers(stream_id, headers, end_stream=not body)
            if body:
                conn.h2.send_data(stream_id, body, end_stream=True)
            conn.flush()
            rec["answered"] = time.monotonic()
        except (h2.exceptions.H2Error, asyncio.TimeoutError):
            pass    # the client reset the stream or went away meanwhile

    def _evaluate(self, req, conn_number, stream_id):
        hd, dups = {}, []
        for name, value in req["headers"]:
            if name in hd and not name.startswith(":"):
                dups.append(name)
            hd[name] = value
        raw = bytes(req["data"])
        rec = _new_record(hd.get(":method"), hd.get(":path"), hd, raw, "2")
        rec.update(connection=conn_number, stream_id=stream_id, jwt=None, jwt_header=None,
                   jwt_claims=None, jwt_ok=False, apns_topic=hd.get("apns-topic"),
                   apns_push_type=hd.get("apns-push-type"),
                   apns_priority=hd.get("apns-priority"),
                   apns_expiration=hd.get("apns-expiration"),
                   apns_collapse_id=hd.get("apns-collapse-id"), reason=None)
        problems = rec["problems"]
        rejection = []      # (status, reason) of every failed check, first one answered

        def reject(status, reason, text):
            problems.append(text)
            rejection.append((status, reason))

        if dups:
            reject(400, "DuplicateHeaders", "duplicate headers %s" % dups)
        if hd.get(":method") != "POST":
            reject(405, "MethodNotAllowed", "method is %s, not POST" % hd.get(":method"))
        m = re.fullmatch(r"/3/device/([^/?#]+)", hd.get(":path") or "")
        if m:
            rec["token"] = m.group(1)
        else:
            reject(404, "BadPath", "path %r is not /3/device/<token>" % hd.get(":path"))

        auth = hd.get("authorization")
        if auth is None:
            reject(403, "MissingProviderToken", "no authorization header")
        elif not auth.startswith("bearer "):
            reject(403, "InvalidProviderToken", "authorization %r is not 'bearer <jwt>'" % auth[:40])
        else:
            rec["jwt"] = auth[len("bearer "):].strip()
            with self._knob_lock:
                if len(self._tokens_seen) < MAX_RECORDS:
                    self._tokens_seen.add(rec["jwt"])
            reason, jwt_problems = self._check_jwt(rec)
            rec["jwt_ok"] = not jwt_problems
            for text in jwt_problems:
                reject(403, reason, text)

        topic, push_type = hd.get("apns-topic"), hd.get("apns-push-type")
        voip_topic = self.bundle_id + ".voip"
        if topic is None:
            reject(400, "MissingTopic", "no apns-topic header")
        elif topic not in (self.bundle_id, voip_topic):
            reject(400, "BadTopic", "apns-topic %r is not %r or %r" % (topic, self.bundle_id, voip_topic))
        if push_type not in _APNS_PUSH_TYPES:
            reject(400, "InvalidPushType", "apns-push-type %r is not one of %s"
                   % (push_type, ", ".join(_APNS_PUSH_TYPES)))
        elif topic is not None and (push_type == "voip") != topic.endswith(".voip"):
            reject(400, "BadTopic" if push_type == "voip" else "InvalidPushType",
                   "apns-push-type %s does not go with apns-topic %r" % (push_type, topic))
        prio = hd.get("apns-priority")
        if prio not in ("10", "5"):
            reject(400, "BadPriority", "apns-priority %r is not 10 or 5" % prio)
        elif push_type == "background" and prio != "5":
            reject(400, "BadPriority", "a background push needs apns-priority 5, not %s" % prio)
        exp = hd.get("apns-expiration")
        if exp is None or not re.fullmatch(r"[0-9]{1,12}", exp):
            reject(400, "BadExpirationDate", "apns-expiration %r is not an integer" % exp)
        collapse = hd.get("apns-collapse-id")
        if collapse is not None and len(collapse.encode()) > 64:
            reject(400, "BadCollapseId", "apns-collapse-id is over 64 bytes")
        apns_id = hd.get("apns-id")
        if apns_id is not None:
            try:
                uuid.UUID(apns_id)
            except ValueError:
                reject(400, "BadMessageId", "apns-id %r is not a UUID" % apns_id)
                apns_id = None

        limit = 5120 if push_type == "voip" else 4096
        if req["too_big"] or len(raw) > limit:
            reject(413, "PayloadTooLarge", "body is %s bytes, over %d"
                   % ("over %d" % MAX_BODY if req["too_big"] else len(raw), limit))
        elif not raw:
            reject(400, "PayloadEmpty", "empty body")
        else:
            body_problems = []
            rec["body"] = _parse_json(raw, body_problems)
            if rec["body"] is not None and not isinstance(rec["body"], dict):
                body_problems.append("body is %s, not a JSON object" % type(rec["body"]).__name__)
            for text in body_problems:
                reject(400, "BadPayload", text)   # not an Apple reason: Apple documents none

        if rejection:
            status, reason = rejection[0]
        else:
            status = self._planned_status(rec["token"])
            reason = None if status == 200 else _APNS_REASONS.get(status, "Status%d" % status)
        apns_id = apns_id or str(uuid.uuid4())
        rec.update(status=status, reason=reason, apns_id=apns_id)
        headers = [(":status", str(status)), ("apns-id", apns_id)]
        body = b""
        if reason is not None:
            rec["response"] = {"reason": reason}
            if status == 410:
                rec["response"]["timestamp"] = int(time.time() * 1000)
            body = _json_bytes(rec["response"])
            headers += [("content-type", "application/json"), ("content-length", str(len(body)))]
        return rec, headers, body

    def _check_jwt(self, rec):
        """(reason for a 403, problems) of the provider token in rec["jwt"]."""
        token = rec["jwt"]
        # A test may change key_id or team_id between requests.
        cache_key = (token, self.key_id, self.team_id)
        cached = self._jwt_cache.get(cache_key)
        if cached is None:
            # Signature and fixed claims are checked once per JWT: a client
            # reuses one for up to an hour, over thousands of pushes.
            header, claims, signing_input, signature, problems = _parse_jwt(token)
            if not problems:
                if header.get("alg") != "ES256":
                    problems.append("JWT alg %r is not ES256" % header.get("alg"))
                if header.get("kid") != self.key_id:
                    problems.append("JWT kid %r is not %r" % (header.get("kid"), self.key_id))
                if claims.get("iss") != self.team_id:
                    problems.append("JWT iss %r is not %r" % (claims.get("iss"), self.team_id))
                if header.get("alg") == "ES256":
                    bad = _verify_es256(self._public_key, signing_input, signature)
                    if bad:
                        problems.append(bad)
            if len(self._jwt_cache) > 10000:
                self._jwt_cache.clear()
            cached = self._jwt_cache[cache_key] = (header, claims, problems)
        header, claims, fixed = cached
        rec["jwt_header"], rec["jwt_claims"] = header, claims
        problems = list(fixed)
        if problems:
            return "InvalidProviderToken", problems
        iat, now = claims.get("iat"), time.time()
        if not _is_int(iat):
            return "InvalidProviderToken", ["JWT iat %r is not an integer" % (iat,)]
        if iat < now - 3600:
            return "ExpiredProviderToken", ["JWT iat is %d s old, over 3600" % (now - iat)]
        if iat > now + 60:
            return "InvalidProviderToken", ["JWT iat is %d s in the future" % (iat - now)]
        return None, []

    def close(self):
        if self._closing:
            return
        self._closing = True

        async def shutdown():
            for conn in list(self._conns):
                conn.closed = True
                conn.writer.transport.abort()
            for t in list(self._tasks):
                t.cancel()

        try:
            self._lt.call(shutdown(), timeout=5)
        except Exception:
            pass    # the loop is stuck or gone: stopping it below is all we can do
        self._lt.stop(5)
        self._lsock.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _make_tls_files(workdir):
    """A private CA and a server certificate for localhost / 127.0.0.1;
    (ca.pem, server.pem, server.key) paths in workdir."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=365)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calls push test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (x509.CertificateBuilder()
               .subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=False, content_commitment=False, key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=True,
                   crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(ca_ski, critical=False)
               .sign(ca_key, hashes.SHA256()))

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))

    pem = serialization.Encoding.PEM
    ca_file = os.path.join(workdir, "apns-ca.pem")
    cert_file = os.path.join(workdir, "apns-server.pem")
    key_file = os.path.join(workdir, "apns-server.key")
    with open(ca_file, "wb") as f:
        f.write(ca_cert.public_bytes(pem))
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(pem))
    _write_private(key_file, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return ca_file, cert_file, key_file


# ---------------------------------------------------------------- keys

def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _public_pem(private_key):
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def make_service_account(workdir, token_uri, project_id="calls-test",
                         client_email="push@calls-test.iam.gserviceaccount.com"):
    """A Google service account key file (RSA 2048) in workdir, laid out as
    the console's download; (path, public key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    account = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10 ** 21 - 10 ** 20) + 10 ** 20),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
                                + urllib.parse.quote(client_email, safe=""),
        "universe_domain": "googleapis.com",
    }
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "service-account.json")
    _write_private(path, (json.dumps(account, indent=2) + "\n").encode())
    return path, _public_pem(key)


def make_apns_key(workdir, key_id="ABC123DEFG"):
    """A P-256 key in PKCS#8 PEM, as Apple's AuthKey_<key id>.p8 downloads;
    (path, public key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "AuthKey_%s.p8" % key_id)
    _write_private(path, key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return path, _public_pem(key)

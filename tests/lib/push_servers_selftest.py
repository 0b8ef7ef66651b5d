"""Self-test of push_servers.py, the stand-ins for the push services.

Requests are signed here (HMAC for the webhook, PyJWT for the ES256 and RS256
tokens, so the servers' own verification is checked against an independent
implementation) and sent with the curl command line tool, as a client outside
Python would. Run with Debian's Python (h2, cryptography, jwt):

    /usr/bin/python3 tests/lib/push_servers_selftest.py

Prints one line per check and a summary; exit status 1 when a check failed.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import push_servers as ps  # noqa: E402

CURL = shutil.which("curl") or "curl"
FAILED = []
PASSED = []
TMP = tempfile.mkdtemp(prefix="push-selftest-")


def check(cond, what, detail=None):
    if cond:
        PASSED.append(what)
        print("ok    " + what)
    else:
        FAILED.append(what)
        print("FAIL  " + what + ("" if detail is None else "\n      %s" % (detail,)))
    return cond


def curl(url, *args, data=None):
    """One request: (status, headers with lower-case names, body bytes, HTTP version)."""
    hfile, bfile = os.path.join(TMP, "h"), os.path.join(TMP, "b")
    cmd = [CURL, "-sS", "--max-time", "20", "-D", hfile, "-o", bfile,
           "-w", "%{http_code} %{http_version}", *args]
    if data is not None:
        cmd += ["--data-binary", data]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return 0, {}, out.stderr.encode(), None
    code, version = out.stdout.split()
    with open(hfile, "rb") as f:
        # The last block: a 100 Continue may come first.
        block = f.read().decode("latin-1").replace("\r\n", "\n").strip().split("\n\n")[-1]
    headers = {}
    for line in block.split("\n")[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    with open(bfile, "rb") as f:
        body = f.read()
    return int(code), headers, body, version


def curl_many(n, build):
    """n curl processes at once, build(i) -> (url, args, data); (statuses, seconds)."""
    start = time.monotonic()
    procs = []
    for i in range(n):
        url, args, data = build(i)
        cmd = [CURL, "-sS", "--max-time", "20", "-o", os.devnull, "-w", "%{http_code}", *args]
        if data is not None:
            cmd += ["--data-binary", data]
        procs.append(subprocess.Popen(cmd + [url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True))
    statuses = [int(p.communicate(timeout=30)[0] or 0) for p in procs]
    return statuses, time.monotonic() - start


def timed_close(server, what):
    start = time.monotonic()
    server.close()
    took = time.monotonic() - start
    check(took < 3, "%s closes in bounded time (%.2f s)" % (what, took))


# ---------------------------------------------------------------- webhook

SECRET = "webhook-secret"


def webhook_body(token, **over):
    now = int(time.time())
    body = {"type": "incoming_call", "call_id": "c-1", "from": "alice", "display": "Alice",
            "video": True, "to": "bob", "device": "phone-1", "platform": "webhook",
            "token": token, "sent_at": now, "expires_at": now + 45}
    body.update(over)
    return json.dumps(body)


def webhook_args(body, ts=None, secret=SECRET):
    ts = str(int(time.time())) if ts is None else str(ts)
    sig = "sha256=" + hmac.new(secret.encode(), (ts + "." + body).encode(), hashlib.sha256).hexdigest()
    return ["-H", "Content-Type: application/json", "-H", "X-Calls-Timestamp: " + ts,
            "-H", "X-Calls-Signature: " + sig]


def test_webhook():
    print("-- webhook")
    srv = ps.WebhookServer(SECRET)
    try:
        body = webhook_body("wh-ok")
        status, _, answer, version = curl(srv.url, *webhook_args(body), data=body)
        rec = srv.wait_for(lambda r: r["token"] == "wh-ok")
        check(status == 200 and rec["status"] == 200 and rec["problems"] == [] and rec["signature_ok"]
              and rec["path"] == "/push" and version == "1.1",
              "valid webhook: 200, no problems, HTTP/1.1", (status, version, rec["problems"]))

        # Two URLs in one curl: the second request reuses the connection.
        before = srv.connections
        body = webhook_body("wh-keepalive")
        out = subprocess.run([CURL, "-sS", "-o", os.devnull, "-o", os.devnull, "-w", "%{http_code}\n",
                              *webhook_args(body), "--data-binary", body, srv.url, srv.url],
                             capture_output=True, text=True, timeout=30)
        check(out.stdout.split() == ["200", "200"] and srv.connections - before == 1,
              "keep-alive: 2 requests on 1 connection", (out.stdout, srv.connections - before))

        body = webhook_body("wh-badsig")
        status, _, _, _ = curl(srv.url, *webhook_args(body, secret="wrong"), data=body)
        rec = srv.wait_for(lambda r: r["token"] == "wh-badsig")
        check(status == 401 and not rec["signature_ok"] and rec["problems"],
              "bad signature: 401, signature_ok False", rec["problems"])

        body = webhook_body("wh-stale")
        status, _, _, _ = curl(srv.url, *webhook_args(body, ts=int(time.time()) - 600), data=body)
        rec = srv.wait_for(lambda r: r["token"] == "wh-stale")
        check(status == 401 and rec["signature_ok"] and any("Timestamp" in p for p in rec["problems"]),
              "stale timestamp: 401", rec["problems"])

        body = json.dumps({k: v for k, v in json.loads(webhook_body("wh-partial")).items()
                           if k not in ("video", "expires_at")})
        status, _, _, _ = curl(srv.url, *webhook_args(body), data=body)
        rec = srv.wait_for(lambda r: r["token"] == "wh-partial")
        check(status == 400 and len(rec["problems"]) == 2, "missing video, expires_at: 400, 2 problems",
              rec["problems"])

        srv.respond = {"wh-gone": 410}
        body = webhook_body("wh-gone")
        status, _, _, _ = curl(srv.url, *webhook_args(body), data=body)
        check(status == 410, "respond 410", status)

        srv.fail_times = {"wh-retry": 2}
        body = webhook_body("wh-retry")
        got = [curl(srv.url, *webhook_args(body), data=body)[0] for _ in range(3)]
        check(got == [503, 503, 200], "fail_times 2: 503, 503, 200", got)

        srv.delay = 2
        body = webhook_body("wh-slow")
        statuses, took = curl_many(50, lambda i: (srv.url, webhook_args(body), body))
        check(statuses == [200] * 50 and took < 4,
              "delay 2 s, 50 concurrent requests: all 200 in %.2f s" % took, statuses)
        check(srv.count(lambda r: r["token"] == "wh-slow") == 50, "50 slow records")

        srv.delay = 30
        body = webhook_body("wh-forever")
        slow = subprocess.Popen([CURL, "-sS", "-o", os.devnull, *webhook_args(body), "--data-binary",
                                 body, srv.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        srv.wait_for(lambda r: r["token"] == "wh-forever")
    finally:
        timed_close(srv, "webhook server with a request delayed 30 s")
    check(slow.wait(10) != 0, "the delayed request ends with the server")
    try:
        srv.wait_for(lambda r: r["token"] == "nobody", timeout=0.2)
        check(False, "wait_for times out")
    except AssertionError as e:
        check("no webhook record matched" in str(e) and "wh-slow" in str(e),
              "wait_for raises AssertionError listing the records")


# ---------------------------------------------------------------- APNs

TEAM, KID, BUNDLE = "TEAM123456", "ABC123DEFG", "com.example.calls"


def apns_jwt(key_pem, kid=KID, iat=None, team=TEAM):
    iat = int(time.time()) if iat is None else iat
    return jwt.encode({"iss": team, "iat": iat}, key_pem, algorithm="ES256", headers={"kid": kid})


def apns_der_jwt(key_pem):
    """A JWT with a DER ECDSA signature (what OpenSSL's ECDSA_sign gives)."""
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    signing_input = b64(json.dumps({"alg": "ES256", "kid": KID}).encode()) + "." + \
        b64(json.dumps({"iss": TEAM, "iat": int(time.time())}).encode())
    key = serialization.load_pem_private_key(key_pem, None)
    return signing_input + "." + b64(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))


def apns_args(srv, token_jwt, topic=BUNDLE + ".voip", push_type="voip", prio="10"):
    return ["--http2", "--cacert", srv.ca_file, "-H", "authorization: bearer " + token_jwt,
            "-H", "apns-topic: " + topic, "-H", "apns-push-type: " + push_type,
            "-H", "apns-priority: " + prio, "-H", "apns-expiration: 0"]


APNS_BODY = json.dumps({"type": "incoming_call", "call_id": "c-1", "from": "alice"})


def test_apns():
    print("-- APNs")
    p8, pub = ps.make_apns_key(TMP, KID)
    with open(p8, "rb") as f:
        key_pem = f.read()
    check(key_pem.startswith(b"-----BEGIN PRIVATE KEY-----") and p8.endswith("AuthKey_%s.p8" % KID),
          "make_apns_key: PKCS#8 PEM in AuthKey_<kid>.p8")
    srv = ps.ApnsServer(pub, TEAM, KID, BUNDLE, workdir=TMP)
    good = apns_jwt(key_pem)
    try:
        status, headers, body, version = curl(srv.base_url + "/3/device/ap-ok",
                                              *apns_args(srv, good), data=APNS_BODY)
        rec = srv.wait_for(lambda r: r["token"] == "ap-ok")
        check(status == 200 and body == b"" and "apns-id" in headers and rec["problems"] == []
              and rec["jwt_ok"] and rec["http_version"] == "2" and version == "2"
              and rec["apns_push_type"] == "voip" and rec["jwt_claims"]["iss"] == TEAM,
              "valid voip push over HTTP/2: 200, apns-id, no problems", (status, version, rec["problems"]))

        status, _, body, _ = curl(srv.base_url + "/3/device/ap-alert",
                                  *apns_args(srv, good, topic=BUNDLE, push_type="alert"),
                                  data=json.dumps({"aps": {"alert": "hi"}}))
        check(status == 200, "valid alert push: 200", body)

        status, _, body, _ = curl(srv.base_url + "/3/device/ap-kid",
                                  *apns_args(srv, apns_jwt(key_pem, kid="WRONGKID00")), data=APNS_BODY)
        rec = srv.wait_for(lambda r: r["token"] == "ap-kid")
        check(status == 403 and json.loads(body) == {"reason": "InvalidProviderToken"}
              and not rec["jwt_ok"] and any("kid" in p for p in rec["problems"]),
              "wrong kid: 403 InvalidProviderToken", (status, body))

        status, _, body, _ = curl(srv.base_url + "/3/device/ap-old",
                                  *apns_args(srv, apns_jwt(key_pem, iat=int(time.time()) - 4000)),
                                  data=APNS_BODY)
        check(status == 403 and json.loads(body) == {"reason": "ExpiredProviderToken"},
              "token older than an hour: 403 ExpiredProviderToken", (status, body))

        status, _, body, _ = curl(srv.base_url + "/3/device/ap-der",
                                  *apns_args(srv, apns_der_jwt(key_pem)), data=APNS_BODY)
        rec = srv.wait_for(lambda r: r["token"] == "ap-der")
        check(status == 403 and any("raw r||s" in p for p in rec["problems"]),
              "DER-encoded ES256 signature: 403, explained", rec["problems"])

        status, _, body, _ = curl(srv.base_url + "/3/device/ap-topic",
                                  *apns_args(srv, good, topic=BUNDLE), data=APNS_BODY)
        rec = srv.wait_for(lambda r: r["token"] == "ap-topic")
        check(status == 400 and rec["problems"] and json.loads(body)["reason"] == "BadTopic",
              "voip push to the plain topic: 400 BadTopic", (status, rec["problems"]))

        status, _, body, _ = curl(srv.base_url + "/3/device/ap-bg",
                                  *apns_args(srv, good, topic=BUNDLE, push_type="background"),
                                  data=APNS_BODY)
        check(status == 400 and json.loads(body)["reason"] == "BadPriority",
              "background push with priority 10: 400 BadPriority", body)

        big = json.dumps({"pad": "x" * 5200})
        status, _, body, _ = curl(srv.base_url + "/3/device/ap-big", *apns_args(srv, good), data=big)
        check(status == 413, "payload over 5120 bytes: 413", body)

        srv.respond = {"ap-gone": 410, "ap-bad": 400}
        status, _, body, _ = curl(srv.base_url + "/3/device/ap-gone", *apns_args(srv, good), data=APNS_BODY)
        answer = json.loads(body)
        check(status == 410 and answer["reason"] == "Unregistered" and isinstance(answer["timestamp"], int)
              and abs(answer["timestamp"] / 1000 - time.time()) < 60,
              "respond 410: Unregistered with a timestamp in ms", body)
        status, _, body, _ = curl(srv.base_url + "/3/device/ap-bad", *apns_args(srv, good), data=APNS_BODY)
        check(status == 400 and json.loads(body) == {"reason": "BadDeviceToken"}, "respond 400: BadDeviceToken")

        srv.fail_times = {"ap-retry": 1}
        got = [curl(srv.base_url + "/3/device/ap-retry", *apns_args(srv, good), data=APNS_BODY)[0]
               for _ in range(2)]
        check(got == [503, 200], "fail_times 1: 503, 200", got)

        # HTTP/1.1 only: the TLS handshake offers no h2, the server hangs up.
        status, _, _, _ = curl(srv.base_url + "/3/device/ap-h1", "--http1.1", "--cacert", srv.ca_file,
                               data=APNS_BODY)
        time.sleep(0.2)
        check(status == 0 and srv.count(lambda r: r["token"] == "ap-h1") == 0
              and any("ALPN" in e for e in srv.connection_errors),
              "client without h2 in ALPN is refused", list(srv.connection_errors))

        # 20 streams in one curl: multiplexed over one connection, concurrently.
        srv.delay = 1
        before = srv.connections
        urls = []
        for i in range(20):
            urls += [srv.base_url + "/3/device/ap-mux-%d" % i, "-o", os.devnull]
        start = time.monotonic()
        out = subprocess.run([CURL, "-sS", "--parallel", "--parallel-max", "20", "-w", "%{http_code}\n",
                              *apns_args(srv, good), "--data-binary", APNS_BODY, *urls],
                             capture_output=True, text=True, timeout=30)
        took = time.monotonic() - start
        streams = {(r["connection"], r["stream_id"]) for r in srv.requests
                   if str(r["token"]).startswith("ap-mux-")}
        check(out.stdout.split() == ["200"] * 20 and srv.connections - before == 1 and len(streams) == 20
              and took < 2.5,
              "20 parallel requests in one curl: 1 connection, %.2f s" % took,
              (out.stdout.split(), out.stderr, srv.connections - before))

        srv.delay = 2
        statuses, took = curl_many(50, lambda i: (srv.base_url + "/3/device/ap-slow",
                                                  apns_args(srv, good), APNS_BODY))
        check(statuses == [200] * 50 and took < 4,
              "delay 2 s, 50 concurrent requests: all 200 in %.2f s" % took, statuses)
        check(srv.tokens_seen >= {good} and all(
            r["problems"] == [] for r in srv.requests if r["token"] in ("ap-slow", "ap-ok")),
            "tokens_seen holds the JWT; slow requests valid")

        srv.delay = 30
        slow = subprocess.Popen([CURL, "-sS", "-o", os.devnull, *apns_args(srv, good), "--data-binary",
                                 APNS_BODY, srv.base_url + "/3/device/ap-forever"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        srv.wait_for(lambda r: r["token"] == "ap-forever")
    finally:
        timed_close(srv, "APNs server with a stream delayed 30 s")
    check(slow.wait(10) != 0, "the delayed stream ends with the server")


# ---------------------------------------------------------------- FCM

PROJECT, EMAIL = "calls-test", "push@calls-test.iam.gserviceaccount.com"


def fcm_assertion(account, aud, **over):
    now = int(time.time())
    claims = {"iss": account["client_email"], "aud": aud, "iat": now, "exp": now + 3600,
              "scope": "https://www.googleapis.com/auth/firebase.messaging"}
    claims.update(over)
    return jwt.encode(claims, account["private_key"], algorithm="RS256",
                      headers={"kid": account["private_key_id"]})


def fcm_token(srv, assertion):
    return curl(srv.token_url, "--data-urlencode", "grant_type=" + ps.JWT_BEARER,
                "--data-urlencode", "assertion=" + assertion)


def fcm_message(token, **data_over):
    data = {"type": "incoming_call", "call_id": "c-1", "caller": "alice", "video": "true"}
    data.update(data_over)
    return json.dumps({"message": {"token": token, "data": data,
                                   "android": {"priority": "HIGH", "ttl": "45s"}}})


def fcm_args(access):
    return ["-H", "Content-Type: application/json", "-H", "Authorization: Bearer " + access]


def test_fcm():
    print("-- FCM")
    srv = ps.FcmServer(None, EMAIL, PROJECT)
    try:
        path = srv.service_account(TMP)
        with open(path) as f:
            account = json.load(f)
        check(account["type"] == "service_account" and account["token_uri"] == srv.token_url
              and account["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
              and set(account) >= {"project_id", "private_key_id", "client_email", "client_id", "auth_uri",
                                   "auth_provider_x509_cert_url", "client_x509_cert_url"},
              "service account file has Google's fields")
        send_url = srv.base_url + "/v1/projects/%s/messages:send" % PROJECT

        srv.token_fail_times = 1
        status, _, _, _ = fcm_token(srv, fcm_assertion(account, srv.token_url))
        check(status == 503, "token_fail_times 1: first token request 503", status)
        status, _, body, _ = fcm_token(srv, fcm_assertion(account, srv.token_url))
        answer = json.loads(body)
        rec = srv.token_log.wait_for(lambda r: r["status"] == 200)
        check(status == 200 and answer["token_type"] == "Bearer" and answer["expires_in"] == 3599
              and answer["access_token"].startswith("fcm-access-") and rec["problems"] == []
              and rec["jwt_ok"] and rec["jwt_claims"]["aud"] == srv.token_url,
              "token exchange: 200 with an access token", (status, body, rec["problems"]))
        access = answer["access_token"]

        status, _, body, _ = fcm_token(srv, fcm_assertion(account, "https://oauth2.googleapis.com/token"))
        check(status == 400 and json.loads(body)["error"] == "invalid_grant", "wrong aud: 400 invalid_grant",
              body)
        status, _, body, _ = fcm_token(srv, fcm_assertion(account, srv.token_url,
                                                          exp=int(time.time()) + 7200))
        check(status == 400, "JWT lifetime over an hour: 400", body)
        check(len(srv.token_requests) == 4, "token requests kept apart", len(srv.token_requests))

        status, _, body, _ = curl(send_url, *fcm_args(access), data=fcm_message("fcm-ok"))
        rec = srv.wait_for(lambda r: r["token"] == "fcm-ok")
        check(status == 200 and json.loads(body)["name"].startswith("projects/%s/messages/0:" % PROJECT)
              and rec["problems"] == [] and rec["bearer"] == access and rec["data"]["call_id"] == "c-1"
              and rec["android"]["priority"] == "HIGH",
              "valid message: 200 with a name", (status, body, rec["problems"]))

        srv.respond = {"fcm-gone": 404, "fcm-busy": 429}
        status, _, body, _ = curl(send_url, *fcm_args(access), data=fcm_message("fcm-gone"))
        err = json.loads(body)["error"]
        check(status == 404 and err["status"] == "NOT_FOUND" and err["code"] == 404
              and err["details"][0]["errorCode"] == "UNREGISTERED"
              and err["details"][0]["@type"] == "type.googleapis.com/google.firebase.fcm.v1.FcmError",
              "respond 404: NOT_FOUND / UNREGISTERED", body)
        status, headers, body, _ = curl(send_url, *fcm_args(access), data=fcm_message("fcm-busy"))
        check(status == 429 and headers.get("retry-after") == "1"
              and json.loads(body)["error"]["status"] == "RESOURCE_EXHAUSTED",
              "respond 429: RESOURCE_EXHAUSTED, Retry-After 1", (status, headers))

        status, _, body, _ = curl(send_url, *fcm_args(access), data=fcm_message("fcm-from", **{"from": "a"}))
        rec = srv.wait_for(lambda r: r["token"] == "fcm-from")
        check(status == 400 and any("reserved" in p for p in rec["problems"]),
              "data key 'from' (reserved by FCM): 400", rec["problems"])
        bad = json.dumps({"message": {"token": "fcm-shape", "data": {"type": "x", "call_id": 5},
                                      "android": {"priority": "high", "ttl": 45}}})
        status, _, body, _ = curl(send_url, *fcm_args(access), data=bad)
        rec = srv.wait_for(lambda r: r["token"] == "fcm-shape")
        check(status == 400 and len(rec["problems"]) == 3, "non-string data value, priority, ttl: 3 problems",
              rec["problems"])

        srv.fail_times = {"fcm-retry": 1}
        got = [curl(send_url, *fcm_args(access), data=fcm_message("fcm-retry"))[0] for _ in range(2)]
        check(got == [503, 200], "fail_times 1: 503, 200", got)

        srv.delay = 2
        statuses, took = curl_many(50, lambda i: (send_url, fcm_args(access), fcm_message("fcm-slow")))
        check(statuses == [200] * 50 and took < 4,
              "delay 2 s, 50 concurrent requests: all 200 in %.2f s" % took, statuses)
        srv.delay = 0

        srv.expire_tokens()
        status, headers, body, _ = curl(send_url, *fcm_args(access), data=fcm_message("fcm-expired"))
        check(status == 401 and json.loads(body) == {"error": {
            "code": 401, "message": "Request had invalid authentication credentials.",
            "status": "UNAUTHENTICATED"}},
            "after expire_tokens: 401 UNAUTHENTICATED", body)
    finally:
        timed_close(srv, "FCM server")


def main():
    start = time.monotonic()
    try:
        test_webhook()
        test_apns()
        test_fcm()
    except Exception as e:
        import traceback
        traceback.print_exc()
        FAILED.append("exception: %r" % e)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("\n%d checks passed, %d failed, %.1f s" % (len(PASSED), len(FAILED), time.monotonic() - start))
    for what in FAILED:
        print("  failed: " + what)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

/*
 * test_push.c - the pure push-provider code: JWS signing (checked with the
 * public key by OpenSSL directly), the webhook's request and signature, FCM
 * (service account, token exchange, messages) and APNs (provider token,
 * requests), and how each provider's answers are judged.
 */
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "calls_jws.h"
#include "calls_push_apns.h"
#include "calls_push_fcm.h"
#include "calls_push_provider.h"
#include "calls_push_webhook.h"

#define NOW 1700000000
#define EXPIRES (NOW + 30)

/* Made once in main (RSA key generation is slow under the sanitizers). */
static EVP_PKEY *rsa_key, *ec_key;
static char *rsa_pem, *ec_pem;

/* ---- helpers ---- */

/* What was written to a memory BIO, which is freed. */
static char *bio_text(BIO *bio) {
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	char *text = g_strndup(data, len);
	BIO_free(bio);
	return text;
}

static char *pem_of(EVP_PKEY *key) {
	BIO *bio = BIO_new(BIO_s_mem());
	g_assert_nonnull(bio);
	/* PKCS#8, "BEGIN PRIVATE KEY", as Google's and Apple's files have it */
	g_assert_cmpint(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), ==, 1);
	char *pem = bio_text(bio);
	g_assert_true(g_str_has_prefix(pem, "-----BEGIN PRIVATE KEY-----\n"));
	return pem;
}

/* The public half alone, so that verification cannot use the private key. */
static EVP_PKEY *public_of(EVP_PKEY *key) {
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);
	g_assert_cmpint(len, >, 0);
	const unsigned char *p = der;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	g_assert_nonnull(pub);
	return pub;
}

static guchar *b64url_decode(const char *s, gsize *len) {
	g_assert_cmpuint(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), ==, strlen(s));
	GString *b = g_string_new(s);
	for(gsize i = 0; i < b->len; i++) {
		if(b->str[i] == '-')
			b->str[i] = '+';
		else if(b->str[i] == '_')
			b->str[i] = '/';
	}
	g_assert_cmpuint(b->len % 4, !=, 1);
	while(b->len % 4 != 0)
		g_string_append_c(b, '=');
	guchar *out = g_base64_decode(b->str, len);
	g_string_free(b, TRUE);
	return out;
}

static json_t *b64url_json(const char *s) {
	gsize len = 0;
	guchar *raw = b64url_decode(s, &len);
	json_error_t error;
	json_t *doc = json_loadb((const char *)raw, len, 0, &error);
	g_free(raw);
	g_assert_true(json_is_object(doc));
	return doc;
}

typedef struct jws {
	json_t *header, *claims;
	char *input;          /* "<header>.<payload>", what was signed */
	guchar *sig;
	gsize siglen;
} jws;

static void jws_split(const char *token, jws *out) {
	g_assert_nonnull(token);
	char **parts = g_strsplit(token, ".", -1);
	g_assert_cmpuint(g_strv_length(parts), ==, 3);
	out->header = b64url_json(parts[0]);
	out->claims = b64url_json(parts[1]);
	out->input = g_strdup_printf("%s.%s", parts[0], parts[1]);
	out->sig = b64url_decode(parts[2], &out->siglen);
	g_strfreev(parts);
}

static void jws_clear(jws *j) {
	json_decref(j->header);
	json_decref(j->claims);
	g_free(j->input);
	g_free(j->sig);
}

/* Verifies what calls_jws_sign made with OpenSSL alone: RS256 as is, ES256
 * after turning JOSE's r||s into the DER OpenSSL wants. */
static gboolean verify(EVP_PKEY *key, const char *input, const guchar *sig, gsize siglen) {
	EVP_PKEY *pub = public_of(key);
	unsigned char *der = NULL;
	int derlen = 0;
	const guchar *check = sig;
	gsize checklen = siglen;
	if(EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
		g_assert_cmpuint(siglen, ==, 64);
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
		g_assert_cmpint(ECDSA_SIG_set0(es, r, s), ==, 1);
		derlen = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		g_assert_cmpint(derlen, >, 0);
		check = der;
		checklen = derlen;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	g_assert_cmpint(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), ==, 1);
	int rc = EVP_DigestVerify(ctx, check, checklen, (const unsigned char *)input, strlen(input));
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	EVP_PKEY_free(pub);
	return rc == 1;
}

/* The signature verifies, and does not for a changed input. */
static void assert_signed_by(EVP_PKEY *key, const jws *j) {
	g_assert_true(verify(key, j->input, j->sig, j->siglen));
	char *changed = g_strdup(j->input);
	changed[strlen(changed) - 1] ^= 1;
	g_assert_false(verify(key, changed, j->sig, j->siglen));
	g_free(changed);
}

static char *hmac_hex(const char *key, const char *data) {
	unsigned char mac[32];
	unsigned int len = 0;
	g_assert_nonnull(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)data, strlen(data), mac, &len));
	g_assert_cmpuint(len, ==, 32);
	GString *hex = g_string_new(NULL);
	for(unsigned int i = 0; i < len; i++)
		g_string_append_printf(hex, "%02x", mac[i]);
	return g_string_free(hex, FALSE);
}

/* The value of the one header called name, or NULL. */
static const char *header(calls_push_req *req, const char *name) {
	const char *found = NULL;
	gsize n = strlen(name);
	for(guint i = 0; i < req->headers->len; i++) {
		const char *h = g_ptr_array_index(req->headers, i);
		if(!strncmp(h, name, n) && !strncmp(h + n, ": ", 2)) {
			g_assert_null(found);
			found = h + n + 2;
		}
	}
	return found;
}

static json_t *body_of(calls_push_req *req) {
	g_assert_nonnull(req->body);
	json_t *doc = json_loads(req->body, 0, NULL);
	g_assert_true(json_is_object(doc));
	return doc;
}

static const char *str_at(json_t *obj, const char *name) {
	json_t *v = json_object_get(obj, name);
	g_assert_true(json_is_string(v));
	return json_string_value(v);
}

static json_int_t int_at(json_t *obj, const char *name) {
	json_t *v = json_object_get(obj, name);
	g_assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* token is a JWS with the header {alg, typ JWT, kid (NULL: none)} and
 * exactly claims, signed by key: RS256 as long as its modulus, ES256 as r||s
 * (64 bytes). */
static void assert_jws(const char *token, EVP_PKEY *key, const char *alg, const char *kid, json_t *claims) {
	jws j;
	jws_split(token, &j);
	g_assert_cmpuint(json_object_size(j.header), ==, kid != NULL ? 3 : 2);
	g_assert_cmpstr(str_at(j.header, "alg"), ==, alg);
	g_assert_cmpstr(str_at(j.header, "typ"), ==, "JWT");
	if(kid != NULL)
		g_assert_cmpstr(str_at(j.header, "kid"), ==, kid);
	if(!json_equal(j.claims, claims)) {
		char *got = json_dumps(j.claims, JSON_SORT_KEYS), *want = json_dumps(claims, JSON_SORT_KEYS);
		g_error("claims %s, want %s", got, want);
	}
	g_assert_cmpuint(j.siglen, ==, EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? 64 : (gsize)EVP_PKEY_get_size(key));
	assert_signed_by(key, &j);
	jws_clear(&j);
}

/* calls_jws_key's key of pem, which must be want. */
static EVP_PKEY *key_of(const char *pem, EVP_PKEY *want) {
	char *why = NULL;
	EVP_PKEY *key = calls_jws_key(pem, &why);
	g_assert_nonnull(key);
	g_assert_null(why);
	g_assert_cmpint(EVP_PKEY_eq(key, want), ==, 1);
	return key;
}

/* A job as calls_push.c makes it. */
static json_t *job_new(const char *type, const char *platform, const char *token, gboolean voip, gboolean video) {
	return json_pack("{sssssssssbsssssssssbsI}", "type", type, "call_id", "call-1", "from", "alice",
		"display", "Alice Liddell", "video", video, "to", "bob", "device", "phone-1",
		"platform", platform, "token", token, "voip", voip, "expires_at", (json_int_t)EXPIRES);
}

/* The job's fields with their native types, as the webhook and APNs send
 * them (display aside: it may be left out). */
static void check_native_fields(json_t *obj, const char *type, gboolean video, gint64 sent_at) {
	g_assert_cmpstr(str_at(obj, "type"), ==, type);
	g_assert_cmpstr(str_at(obj, "call_id"), ==, "call-1");
	g_assert_cmpstr(str_at(obj, "from"), ==, "alice");
	g_assert_null(json_object_get(obj, "caller"));
	g_assert_true(json_is_boolean(json_object_get(obj, "video")));
	g_assert_cmpint(json_is_true(json_object_get(obj, "video")), ==, video);
	g_assert_cmpstr(str_at(obj, "to"), ==, "bob");
	g_assert_cmpstr(str_at(obj, "device"), ==, "phone-1");
	g_assert_cmpint(int_at(obj, "sent_at"), ==, sent_at);
	g_assert_cmpint(int_at(obj, "expires_at"), ==, EXPIRES);
}

/* The job's fields as strings, what FCM's data wants; "from" is reserved
 * there, the caller is "caller". */
/* caller_key: "from" as calls_push_fields makes it, "caller" in FCM data. */
static void check_string_fields(json_t *obj, const char *type, gboolean video, const char *caller_key) {
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
		g_assert_true(json_is_string(v));
	g_assert_cmpstr(str_at(obj, "type"), ==, type);
	g_assert_cmpstr(str_at(obj, "call_id"), ==, "call-1");
	g_assert_null(json_object_get(obj, strcmp(caller_key, "from") ? "from" : "caller"));
	g_assert_cmpstr(str_at(obj, caller_key), ==, "alice");
	g_assert_cmpstr(str_at(obj, "video"), ==, video ? "true" : "false");
	g_assert_cmpstr(str_at(obj, "to"), ==, "bob");
	g_assert_cmpstr(str_at(obj, "device"), ==, "phone-1");
	g_assert_cmpstr(str_at(obj, "sent_at"), ==, "1700000000");
	g_assert_cmpstr(str_at(obj, "expires_at"), ==, "1700000030");
}

/* ---- calls_jws ---- */

/* pem's key signs claims (stolen) times times with kid in the header, then
 * once without header_extra (alg and typ only). */
static void check_signing(const char *pem, EVP_PKEY *want, const char *alg, const char *kid, json_t *claims,
		int times) {
	EVP_PKEY *key = key_of(pem, want);
	json_t *extra = json_pack("{ss}", "kid", kid);
	for(int i = 0; i < times; i++) {
		char *token = calls_jws_sign(key, extra, claims);
		assert_jws(token, want, alg, kid, claims);
		g_free(token);
	}
	char *token = calls_jws_sign(key, NULL, claims);
	assert_jws(token, want, alg, NULL, claims);
	g_free(token);
	json_decref(extra);
	json_decref(claims);
	EVP_PKEY_free(key);
}

static void test_jws_rs256(void) {
	check_signing(rsa_pem, rsa_key, "RS256", "key-1",
		json_pack("{sssIss}", "iss", "me@example.org", "iat", (json_int_t)NOW, "note", "h\xc3\xa9"), 1);
}

static void test_jws_es256(void) {
	/* ECDSA signatures are random, and r or s is sometimes shorter than 32
	 * bytes: sign a few times, each must be 64 bytes and verify. */
	check_signing(ec_pem, ec_key, "ES256", "ABC123DEFG", json_pack("{sssI}", "iss", "TEAM123456", "iat", (json_int_t)NOW),
		16);
}

static void expect_key_refused(const char *pem, const char *why_part) {
	char *why = NULL;
	EVP_PKEY *key = calls_jws_key(pem, &why);
	g_assert_null(key);
	g_assert_nonnull(why);
	g_assert_nonnull(strstr(why, why_part));
	g_free(why);
}

/* A key made here (freed) is refused. */
static void expect_made_key_refused(EVP_PKEY *made, const char *why_part) {
	g_assert_nonnull(made);
	char *pem = pem_of(made);
	expect_key_refused(pem, why_part);
	g_free(pem);
	EVP_PKEY_free(made);
}

static void test_jws_key_refused(void) {
	expect_made_key_refused(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024), "RSA (2048 bits or more) or EC P-256");
	expect_made_key_refused(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), "RSA (2048 bits or more) or EC P-256");
	expect_key_refused("garbage", "not a PEM private key");
	/* An encrypted key is refused without asking for a passphrase (stdin
	 * or a terminal would otherwise be read, and Janus hang at start). */
	BIO *enc = BIO_new(BIO_s_mem());
	g_assert_cmpint(PEM_write_bio_PKCS8PrivateKey(enc, ec_key, EVP_aes_128_cbc(), NULL, 0, NULL, (void *)"pw"), ==, 1);
	char *enc_pem = bio_text(enc);
	g_assert_nonnull(strstr(enc_pem, "ENCRYPTED"));
	expect_key_refused(enc_pem, "passphrase");
	g_free(enc_pem);
	/* Another 256-bit curve is not ES256. */
	expect_made_key_refused(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"), "EC P-256");
	expect_key_refused("", "not a PEM private key");
	/* a truncated key */
	char *cut = g_strndup(rsa_pem, strlen(rsa_pem) / 2);
	expect_key_refused(cut, "not a PEM private key");
	g_free(cut);
	/* a public key is not a private one */
	BIO *bio = BIO_new(BIO_s_mem());
	g_assert_cmpint(PEM_write_bio_PUBKEY(bio, ec_key), ==, 1);
	char *pub_pem = bio_text(bio);
	expect_key_refused(pub_pem, "not a PEM private key");
	g_free(pub_pem);
}

/* calls_jws_key_file refuses path: why (g_free). */
static char *key_file_refused(const char *path) {
	char *why = NULL;
	g_assert_null(calls_jws_key_file(path, &why));
	g_assert_nonnull(why);
	return why;
}

static void test_jws_key_file(void) {
	char *why = key_file_refused("/nonexistent/calls-test/AuthKey.p8");
	g_assert_true(g_str_has_prefix(why, "cannot read /nonexistent/calls-test/AuthKey.p8: "));
	g_free(why);
	why = NULL;
	/* a file that holds the key, then one that holds something else */
	char *path = NULL;
	int fd = g_file_open_tmp("test_push-XXXXXX.p8", &path, NULL);
	g_assert_cmpint(fd, >=, 0);
	close(fd);
	g_assert_true(g_file_set_contents(path, ec_pem, -1, NULL));
	EVP_PKEY *key = calls_jws_key_file(path, &why);
	g_assert_nonnull(key);
	g_assert_null(why);
	g_assert_cmpint(EVP_PKEY_eq(key, ec_key), ==, 1);
	EVP_PKEY_free(key);
	g_assert_true(g_file_set_contents(path, "not a key\n", -1, NULL));
	why = key_file_refused(path);
	char *want = g_strdup_printf("%s: not a PEM private key", path);
	g_assert_cmpstr(why, ==, want);
	g_free(want);
	g_free(why);
	g_unlink(path);
	g_free(path);
}

static void test_hmac(void) {
	/* RFC 4231, test case 2 */
	const char *data = "what do ya want for nothing?";
	char *mac = calls_hmac_sha256_hex("Jefe", data, strlen(data));
	g_assert_cmpstr(mac, ==, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	g_free(mac);
	/* len counts, not the NUL */
	mac = calls_hmac_sha256_hex("Jefe", "what do ya want for nothing?!!!", strlen(data));
	g_assert_cmpstr(mac, ==, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	g_free(mac);
}

/* ---- calls_push_fields ---- */

static void test_fields(void) {
	json_t *job = json_pack("{sssssssnsbs{sss[ss]}sssssssIsssb}", "type", "incoming_call", "call_id", "call-1",
		"from", "alice", "display", "video", 1, "group", "id", "g1", "members", "alice", "carol",
		"to", "bob", "device", "phone-1", "platform", "fcm", "expires_at", (json_int_t)EXPIRES,
		"token", "tok", "voip", 0);
	/* strings: what FCM's data wants */
	json_t *f = calls_push_fields(job, NOW, TRUE);
	g_assert_cmpuint(json_object_size(f), ==, 9);
	check_string_fields(f, "incoming_call", TRUE, "from");
	g_assert_null(json_object_get(f, "display"));
	g_assert_cmpstr(str_at(f, "group"), ==, "{\"id\":\"g1\",\"members\":[\"alice\",\"carol\"]}");
	g_assert_null(json_object_get(f, "reason"));
	g_assert_null(json_object_get(f, "platform"));
	g_assert_null(json_object_get(f, "token"));
	g_assert_null(json_object_get(f, "voip"));
	json_decref(f);
	/* native types */
	f = calls_push_fields(job, NOW, FALSE);
	g_assert_cmpuint(json_object_size(f), ==, 9);
	check_native_fields(f, "incoming_call", TRUE, NOW);
	g_assert_true(json_equal(json_object_get(f, "group"), json_object_get(job, "group")));
	g_assert_null(json_object_get(f, "display"));
	json_decref(f);
	/* false, a reason, and a job with nearly nothing in it */
	json_object_set_new(job, "video", json_false());
	json_object_set_new(job, "reason", json_string("timeout"));
	f = calls_push_fields(job, NOW, TRUE);
	check_string_fields(f, "incoming_call", FALSE, "from");
	g_assert_cmpstr(str_at(f, "reason"), ==, "timeout");
	json_decref(f);
	json_decref(job);
	job = json_object();
	f = calls_push_fields(job, 5, TRUE);
	g_assert_cmpuint(json_object_size(f), ==, 1);
	g_assert_cmpstr(str_at(f, "sent_at"), ==, "5");
	json_decref(f);
	json_decref(job);
}

/* ---- the webhook ---- */

/* The webhook request for job at now, checked for what every one has: a
 * JSON POST to url, timestamped and signed with secret. */
static calls_push_req *webhook_request(const char *url, const char *secret, json_t *job, gint64 now) {
	calls_push_req *req = calls_webhook_request(url, secret, job, now);
	g_assert_cmpstr(req->url, ==, url);
	g_assert_false(req->http2);
	g_assert_cmpuint(req->headers->len, ==, 3);
	g_assert_cmpstr(header(req, "Content-Type"), ==, "application/json");
	char *timestamp = g_strdup_printf("%" G_GINT64_FORMAT, now);
	g_assert_cmpstr(header(req, "X-Calls-Timestamp"), ==, timestamp);
	char *signed_text = g_strdup_printf("%s.%s", timestamp, req->body);
	char *mac = hmac_hex(secret, signed_text);
	char *want = g_strdup_printf("sha256=%s", mac);
	g_assert_cmpstr(header(req, "X-Calls-Signature"), ==, want);
	g_free(want);
	g_free(mac);
	g_free(signed_text);
	g_free(timestamp);
	return req;
}

static void test_webhook_request(void) {
	json_t *job = job_new("incoming_call", "webhook", "tok-123", FALSE, TRUE);
	calls_push_req *req = webhook_request("https://hooks.example.org/push", "hook-secret", job, NOW);
	g_assert_cmpstr(header(req, "X-Calls-Timestamp"), ==, "1700000000");
	/* another secret gives another signature */
	char *mac = hmac_hex("other-secret", req->body);
	g_assert_true(strstr(header(req, "X-Calls-Signature"), mac) == NULL);
	g_free(mac);
	json_t *b = body_of(req);
	g_assert_cmpuint(json_object_size(b), ==, 12);
	check_native_fields(b, "incoming_call", TRUE, NOW);
	g_assert_cmpstr(str_at(b, "display"), ==, "Alice Liddell");
	g_assert_cmpstr(str_at(b, "platform"), ==, "webhook");
	g_assert_cmpstr(str_at(b, "token"), ==, "tok-123");
	g_assert_true(json_is_false(json_object_get(b, "voip")));
	g_assert_null(json_object_get(b, "reason"));
	json_decref(b);
	calls_push_req_free(req);
	json_decref(job);
	/* with a reason, and a caller without a display name */
	job = job_new("missed_call", "fcm", "tok-9", FALSE, FALSE);
	json_object_set_new(job, "reason", json_string("timeout"));
	json_object_set_new(job, "display", json_null());
	req = webhook_request("http://127.0.0.1:9/h", "s", job, NOW + 1);
	g_assert_cmpstr(header(req, "X-Calls-Timestamp"), ==, "1700000001");
	b = body_of(req);
	g_assert_cmpuint(json_object_size(b), ==, 12);
	check_native_fields(b, "missed_call", FALSE, NOW + 1);
	g_assert_cmpstr(str_at(b, "reason"), ==, "timeout");
	g_assert_null(json_object_get(b, "display"));
	g_assert_cmpstr(str_at(b, "platform"), ==, "fcm");
	json_decref(b);
	calls_push_req_free(req);
	json_decref(job);
}

typedef struct judged {
	long status;
	const char *body;
	calls_push_verdict verdict;
	const char *detail;     /* exact; NULL: none */
} judged;

static void check_judge(calls_push_judge judge, const judged *table, gsize n) {
	for(gsize i = 0; i < n; i++) {
		char *detail = NULL;
		calls_push_verdict v = judge(table[i].status, table[i].body, table[i].body ? strlen(table[i].body) : 0, &detail);
		if(v != table[i].verdict || g_strcmp0(detail, table[i].detail) != 0)
			g_error("status %ld body %s: %s (%s), want %s (%s)", table[i].status,
				table[i].body ? table[i].body : "NULL", calls_push_verdict_name(v), detail ? detail : "NULL",
				calls_push_verdict_name(table[i].verdict), table[i].detail ? table[i].detail : "NULL");
		g_free(detail);
	}
}

static void test_webhook_judge(void) {
	static const judged table[] = {
		{200, "", CALLS_PUSH_DELIVERED, NULL},
		{201, "{\"ok\":true}", CALLS_PUSH_DELIVERED, NULL},
		{202, NULL, CALLS_PUSH_DELIVERED, NULL},
		{204, NULL, CALLS_PUSH_DELIVERED, NULL},
		{299, NULL, CALLS_PUSH_DELIVERED, NULL},
		{410, "gone", CALLS_PUSH_GONE, "HTTP 410"},
		{408, NULL, CALLS_PUSH_RETRY, "HTTP 408"},
		{429, NULL, CALLS_PUSH_RETRY, "HTTP 429"},
		{500, "oops", CALLS_PUSH_RETRY, "HTTP 500"},
		{503, NULL, CALLS_PUSH_RETRY, "HTTP 503"},
		{0, NULL, CALLS_PUSH_RETRY, "no answer"},
		{400, "{}", CALLS_PUSH_REJECTED, "HTTP 400"},
		{401, NULL, CALLS_PUSH_REJECTED, "HTTP 401"},
		{403, NULL, CALLS_PUSH_REJECTED, "HTTP 403"},
		{404, NULL, CALLS_PUSH_REJECTED, "HTTP 404"},
		{300, NULL, CALLS_PUSH_REJECTED, "HTTP 300"},
		{301, NULL, CALLS_PUSH_REJECTED, "HTTP 301"},
	};
	check_judge(calls_webhook_judge, table, G_N_ELEMENTS(table));
}

static void test_verdict_names(void) {
	g_assert_cmpstr(calls_push_verdict_name(CALLS_PUSH_DELIVERED), ==, "delivered");
	g_assert_cmpstr(calls_push_verdict_name(CALLS_PUSH_RETRY), ==, "retry");
	g_assert_cmpstr(calls_push_verdict_name(CALLS_PUSH_GONE), ==, "gone");
	g_assert_cmpstr(calls_push_verdict_name(CALLS_PUSH_REJECTED), ==, "rejected");
	g_assert_cmpstr(calls_push_verdict_name(CALLS_PUSH_REAUTH), ==, "reauth");
	g_assert_true(calls_push_transient(0));
	g_assert_true(calls_push_transient(408));
	g_assert_true(calls_push_transient(429));
	g_assert_true(calls_push_transient(500));
	g_assert_true(calls_push_transient(599));
	g_assert_false(calls_push_transient(200));
	g_assert_false(calls_push_transient(400));
	g_assert_false(calls_push_transient(410));
}

/* ---- FCM ---- */

#define TOKEN_URI "https://oauth2.example.test/token"
#define CLIENT_EMAIL "calls-push@proj-1.iam.gserviceaccount.com"

/* A service-account key file, with name removed when given. */
static char *account_text(const char *pem, const char *without) {
	json_t *doc = json_pack("{ssssssssssssss}", "type", "service_account", "project_id", "proj-1",
		"private_key_id", "0123456789abcdef", "private_key", pem, "client_email", CLIENT_EMAIL,
		"client_id", "1234567890", "token_uri", TOKEN_URI);
	if(without != NULL)
		g_assert_cmpint(json_object_del(doc, without), ==, 0);
	char *text = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	char *out = g_strdup(text);
	free(text);
	return out;
}

/* The service account of account_text(rsa_pem, without), parsed. */
static void account_parsed(const char *without, calls_fcm_account *a) {
	char *text = account_text(rsa_pem, without);
	char *why = NULL;
	g_assert_cmpint(calls_fcm_account_parse(text, a, &why), ==, 0);
	g_assert_null(why);
	g_free(text);
}

static void test_fcm_account(void) {
	calls_fcm_account a;
	account_parsed(NULL, &a);
	g_assert_cmpstr(a.project_id, ==, "proj-1");
	g_assert_cmpstr(a.client_email, ==, CLIENT_EMAIL);
	g_assert_cmpstr(a.private_key_id, ==, "0123456789abcdef");
	g_assert_cmpstr(a.token_uri, ==, TOKEN_URI);
	g_assert_nonnull(a.key);
	g_assert_cmpint(EVP_PKEY_eq(a.key, rsa_key), ==, 1);
	calls_fcm_account_clear(&a);
	g_assert_null(a.project_id);
	g_assert_null(a.key);
	/* private_key_id is optional */
	account_parsed("private_key_id", &a);
	g_assert_null(a.private_key_id);
	g_assert_cmpstr(a.project_id, ==, "proj-1");
	calls_fcm_account_clear(&a);
}

static void expect_account_refused(const char *text, const char *why_part) {
	calls_fcm_account a;
	char *why = NULL;
	g_assert_cmpint(calls_fcm_account_parse(text, &a, &why), ==, -1);
	g_assert_nonnull(why);
	if(strstr(why, why_part) == NULL)
		g_error("why \"%s\" does not mention \"%s\"", why, why_part);
	g_free(why);
	/* nothing left behind */
	g_assert_null(a.project_id);
	g_assert_null(a.client_email);
	g_assert_null(a.private_key_id);
	g_assert_null(a.token_uri);
	g_assert_null(a.key);
}

static void test_fcm_account_refused(void) {
	expect_account_refused("this is not JSON", "not a JSON object");
	expect_account_refused("", "not a JSON object");
	expect_account_refused("[\"service_account\"]", "not a JSON object (wrong type)");
	char *text = account_text(rsa_pem, NULL);
	char *at = strstr(text, "\"service_account\"");
	g_assert_nonnull(at);
	memcpy(at, "\"authorized_user\"", strlen("\"authorized_user\""));
	expect_account_refused(text, "\"type\" is not \"service_account\"");
	g_free(text);
	/* key files with name left out, or with another key */
	const struct {
		const char *pem, *without, *why;
	} table[] = {
		{rsa_pem, "type", "\"type\" is not \"service_account\""},
		{rsa_pem, "token_uri", "the key file has no \"token_uri\""},
		{rsa_pem, "client_email", "the key file has no \"client_email\""},
		{rsa_pem, "project_id", "the key file has no \"project_id\""},
		{rsa_pem, "private_key", "the key file has no \"private_key\""},
		{"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n", NULL, "private_key: not a PEM private key"},
		{ec_pem, NULL, "private_key is not an RSA key"},
	};
	for(gsize i = 0; i < G_N_ELEMENTS(table); i++) {
		text = account_text(table[i].pem, table[i].without);
		expect_account_refused(text, table[i].why);
		g_free(text);
	}
}

/* The claims of the service account's JWT for a token from aud, at NOW. */
static json_t *fcm_claims(const char *aud) {
	return json_pack("{sssssssIsI}", "iss", CLIENT_EMAIL, "scope", "https://www.googleapis.com/auth/firebase.messaging",
		"aud", aud, "iat", (json_int_t)NOW, "exp", (json_int_t)(NOW + 3600));
}

static void test_fcm_token_request(void) {
	calls_fcm_account a;
	account_parsed(NULL, &a);
	/* the URL given, not necessarily the file's token_uri */
	calls_push_req *req = calls_fcm_token_request(&a, "http://127.0.0.1:8099/token", NOW);
	g_assert_nonnull(req);
	g_assert_cmpstr(req->url, ==, "http://127.0.0.1:8099/token");
	g_assert_false(req->http2);
	g_assert_cmpuint(req->headers->len, ==, 1);
	g_assert_cmpstr(header(req, "Content-Type"), ==, "application/x-www-form-urlencoded");
	const char *prefix = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
	g_assert_true(g_str_has_prefix(req->body, prefix));
	json_t *want = fcm_claims("http://127.0.0.1:8099/token");
	assert_jws(req->body + strlen(prefix), rsa_key, "RS256", "0123456789abcdef", want);
	json_decref(want);
	calls_push_req_free(req);
	calls_fcm_account_clear(&a);
	/* without private_key_id, no kid */
	account_parsed("private_key_id", &a);
	req = calls_fcm_token_request(&a, TOKEN_URI, NOW);
	g_assert_true(g_str_has_prefix(req->body, prefix));
	want = fcm_claims(TOKEN_URI);
	assert_jws(req->body + strlen(prefix), rsa_key, "RS256", NULL, want);
	json_decref(want);
	calls_push_req_free(req);
	calls_fcm_account_clear(&a);
}

static int token_parse(long status, const char *body, char **token, gint64 *expires_in, char **why) {
	*why = NULL;
	*expires_in = -7;
	return calls_fcm_token_parse(status, body, body ? strlen(body) : 0, token, expires_in, why);
}

static void expect_token_refused(long status, const char *body, const char *why_want) {
	char *token = (char *)"unset", *why = NULL;
	gint64 expires_in = 0;
	g_assert_cmpint(token_parse(status, body, &token, &expires_in, &why), ==, -1);
	g_assert_null(token);
	g_assert_cmpint(expires_in, ==, -7);
	if(g_strcmp0(why, why_want) != 0)
		g_error("status %ld body %s: why \"%s\", want \"%s\"", status, body ? body : "NULL", why ? why : "NULL", why_want);
	g_free(why);
}

static void test_fcm_token_parse(void) {
	char *token = NULL, *why = NULL;
	gint64 expires_in = 0;
	g_assert_cmpint(token_parse(200, "{\"access_token\":\"ya29.c.abc-DEF_1\",\"expires_in\":3599,\"token_type\":\"Bearer\"}",
		&token, &expires_in, &why), ==, 0);
	g_assert_cmpstr(token, ==, "ya29.c.abc-DEF_1");
	g_assert_cmpint(expires_in, ==, 3599);
	g_assert_null(why);
	g_free(token);
	/* only len bytes of the body count */
	const char *longer = "{\"access_token\":\"t1\",\"expires_in\":60}{\"junk\"";
	g_assert_cmpint(calls_fcm_token_parse(200, longer, strlen(longer) - strlen("{\"junk\""), &token, &expires_in, &why), ==, 0);
	g_assert_null(why);
	g_assert_cmpstr(token, ==, "t1");
	g_assert_cmpint(expires_in, ==, 60);
	g_free(token);
	expect_token_refused(200, "{\"expires_in\":3599}", "the answer has no usable access_token");
	expect_token_refused(200, "{\"access_token\":\"\",\"expires_in\":3599}", "the answer has no usable access_token");
	expect_token_refused(200, "{\"access_token\":42,\"expires_in\":3599}", "the answer has no usable access_token");
	expect_token_refused(200, "{\"access_token\":\"a\\r\\nX-Evil: 1\",\"expires_in\":3599}",
		"the answer has no usable access_token");
	expect_token_refused(200, "{\"access_token\":\"a\\nb\",\"expires_in\":3599}", "the answer has no usable access_token");
	expect_token_refused(200, "{\"access_token\":\"t\",\"expires_in\":0}", "the answer has no positive expires_in");
	expect_token_refused(200, "{\"access_token\":\"t\",\"expires_in\":-5}", "the answer has no positive expires_in");
	expect_token_refused(200, "{\"access_token\":\"t\",\"expires_in\":\"3599\"}", "the answer has no positive expires_in");
	expect_token_refused(200, "{\"access_token\":\"t\",\"expires_in\":3599.5}", "the answer has no positive expires_in");
	expect_token_refused(200, "{\"access_token\":\"t\"}", "the answer has no positive expires_in");
	expect_token_refused(200, "not json", "the answer has no usable access_token");
	expect_token_refused(200, NULL, "the answer has no usable access_token");
	expect_token_refused(400, "{\"error\":\"invalid_grant\",\"error_description\":\"x\"}", "HTTP 400 invalid_grant: x");
	expect_token_refused(401, "{\"error\":\"invalid_client\"}", "HTTP 401 invalid_client");
	/* a token in an error answer is not taken */
	expect_token_refused(500, "{\"access_token\":\"t\",\"expires_in\":3599}", "HTTP 500 ");
	expect_token_refused(503, NULL, "HTTP 503 ");
	expect_token_refused(0, NULL, "no answer");
	expect_token_refused(0, "{\"access_token\":\"t\",\"expires_in\":3599}", "no answer");
}

/* The body of the FCM request for job at now, checked for what every one
 * has: a JSON POST with the access token, of one message. */
static json_t *fcm_body(json_t *job, gint64 now) {
	calls_push_req *req = calls_fcm_request("https://fcm.example.test", "proj-1", "ya29.tok", job, now);
	g_assert_cmpstr(req->url, ==, "https://fcm.example.test/v1/projects/proj-1/messages:send");
	g_assert_false(req->http2);
	g_assert_cmpuint(req->headers->len, ==, 2);
	g_assert_cmpstr(header(req, "Content-Type"), ==, "application/json");
	g_assert_cmpstr(header(req, "Authorization"), ==, "Bearer ya29.tok");
	json_t *b = body_of(req);
	calls_push_req_free(req);
	g_assert_cmpuint(json_object_size(b), ==, 1);
	g_assert_true(json_is_object(json_object_get(b, "message")));
	return b;
}

static void test_fcm_request(void) {
	json_t *job = job_new("incoming_call", "fcm", "fcm-token:APA91b", FALSE, TRUE);
	json_t *b = fcm_body(job, NOW);
	json_t *m = json_object_get(b, "message");
	g_assert_cmpuint(json_object_size(m), ==, 3);
	g_assert_cmpstr(str_at(m, "token"), ==, "fcm-token:APA91b");
	json_t *data = json_object_get(m, "data");
	g_assert_cmpuint(json_object_size(data), ==, 9);
	check_string_fields(data, "incoming_call", TRUE, "caller");
	g_assert_cmpstr(str_at(data, "display"), ==, "Alice Liddell");
	json_t *android = json_object_get(m, "android");
	g_assert_cmpuint(json_object_size(android), ==, 3);
	g_assert_cmpstr(str_at(android, "priority"), ==, "HIGH");
	g_assert_cmpstr(str_at(android, "ttl"), ==, "0s");
	g_assert_cmpstr(str_at(android, "collapse_key"), ==, "call-1");
	json_decref(b);
	json_decref(job);
	/* call_ended: ttl 0 too, with the reason */
	job = job_new("call_ended", "fcm", "t", FALSE, FALSE);
	json_object_set_new(job, "reason", json_string("answered_elsewhere"));
	b = fcm_body(job, NOW);
	m = json_object_get(b, "message");
	data = json_object_get(m, "data");
	g_assert_cmpuint(json_object_size(data), ==, 10);
	check_string_fields(data, "call_ended", FALSE, "caller");
	g_assert_cmpstr(str_at(data, "reason"), ==, "answered_elsewhere");
	g_assert_cmpstr(str_at(json_object_get(m, "android"), "ttl"), ==, "0s");
	json_decref(b);
	json_decref(job);
	/* missed_call: kept until it expires */
	job = job_new("missed_call", "fcm", "t", FALSE, FALSE);
	json_object_set_new(job, "expires_at", json_integer(NOW + 86400));
	b = fcm_body(job, NOW);
	m = json_object_get(b, "message");
	g_assert_cmpstr(str_at(json_object_get(m, "android"), "ttl"), ==, "86400s");
	g_assert_cmpstr(str_at(json_object_get(m, "android"), "priority"), ==, "HIGH");
	g_assert_cmpstr(str_at(json_object_get(m, "data"), "expires_at"), ==, "1700086400");
	json_decref(b);
	/* ... and never a negative ttl */
	b = fcm_body(job, NOW + 90000);
	g_assert_cmpstr(str_at(json_object_get(json_object_get(b, "message"), "android"), "ttl"), ==, "0s");
	json_decref(b);
	json_decref(job);
}

#define FCM_ERROR(code, status, fcm_code) \
	"{\"error\":{\"code\":" #code ",\"message\":\"m\",\"status\":\"" status "\",\"details\":[" \
	"{\"@type\":\"type.googleapis.com/google.firebase.fcm.v1.FcmError\",\"errorCode\":\"" fcm_code "\"}]}}"

static void test_fcm_judge(void) {
	static const judged table[] = {
		{200, "{\"name\":\"projects/proj-1/messages/0:1700000000%abc\"}", CALLS_PUSH_DELIVERED, NULL},
		{200, NULL, CALLS_PUSH_DELIVERED, NULL},
		{404, FCM_ERROR(404, "NOT_FOUND", "UNREGISTERED"), CALLS_PUSH_GONE, "HTTP 404 UNREGISTERED"},
		{400, FCM_ERROR(400, "INVALID_ARGUMENT", "UNREGISTERED"), CALLS_PUSH_GONE, "HTTP 400 UNREGISTERED"},
		{400, FCM_ERROR(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"), CALLS_PUSH_REJECTED, "HTTP 400 INVALID_ARGUMENT"},
		/* the FcmError after another detail */
		{400, "{\"error\":{\"code\":400,\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":"
			"\"type.googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":[]},{\"@type\":"
			"\"type.googleapis.com/google.firebase.fcm.v1.FcmError\",\"errorCode\":\"UNREGISTERED\"}]}}",
			CALLS_PUSH_GONE, "HTTP 400 UNREGISTERED"},
		{401, "{\"error\":{\"code\":401,\"message\":\"Request had invalid authentication credentials.\","
			"\"status\":\"UNAUTHENTICATED\"}}", CALLS_PUSH_REAUTH, "HTTP 401 UNAUTHENTICATED"},
		{401, NULL, CALLS_PUSH_REAUTH, "HTTP 401 "},
		/* Firebase's own APNs credentials are wrong: a new token would not help */
		{401, FCM_ERROR(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"), CALLS_PUSH_REJECTED,
			"HTTP 401 THIRD_PARTY_AUTH_ERROR"},
		{403, FCM_ERROR(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"), CALLS_PUSH_REJECTED, "HTTP 403 SENDER_ID_MISMATCH"},
		{404, "{\"error\":{\"code\":404,\"status\":\"NOT_FOUND\"}}", CALLS_PUSH_REJECTED, "HTTP 404 NOT_FOUND"},
		{429, FCM_ERROR(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), CALLS_PUSH_RETRY, "HTTP 429 QUOTA_EXCEEDED"},
		{500, FCM_ERROR(500, "INTERNAL", "INTERNAL"), CALLS_PUSH_RETRY, "HTTP 500 INTERNAL"},
		{503, FCM_ERROR(503, "UNAVAILABLE", "UNAVAILABLE"), CALLS_PUSH_RETRY, "HTTP 503 UNAVAILABLE"},
		{503, "<html>Service Unavailable</html>", CALLS_PUSH_RETRY, "HTTP 503 "},
		{0, NULL, CALLS_PUSH_RETRY, "no answer"},
		/* no answer is no answer, whatever the body */
		{0, FCM_ERROR(404, "NOT_FOUND", "UNREGISTERED"), CALLS_PUSH_RETRY, "no answer"},
		{400, "garbage {", CALLS_PUSH_REJECTED, "HTTP 400 "},
		{400, NULL, CALLS_PUSH_REJECTED, "HTTP 400 "},
		{400, "[1,2]", CALLS_PUSH_REJECTED, "HTTP 400 "},
		{400, "{\"error\":{\"details\":{\"errorCode\":\"UNREGISTERED\"}}}", CALLS_PUSH_REJECTED, "HTTP 400 "},
		{400, "{\"error\":{\"details\":[{\"errorCode\":7}],\"status\":9}}", CALLS_PUSH_REJECTED, "HTTP 400 "},
		{400, "{\"error\":\"UNREGISTERED\"}", CALLS_PUSH_REJECTED, "HTTP 400 "},
	};
	check_judge(calls_fcm_judge, table, G_N_ELEMENTS(table));
	/* len bounds the body */
	const char *body = FCM_ERROR(404, "NOT_FOUND", "UNREGISTERED") "trailing garbage";
	char *detail = NULL;
	g_assert_cmpint(calls_fcm_judge(404, body, strlen(body) - strlen("trailing garbage"), &detail), ==, CALLS_PUSH_GONE);
	g_assert_cmpstr(detail, ==, "HTTP 404 UNREGISTERED");
	g_free(detail);
}

/* ---- APNs ---- */

#define APNS_BASE "https://api.sandbox.push.apple.com"
#define BUNDLE "org.example.calls"

static void test_apns_provider_token(void) {
	EVP_PKEY *key = key_of(ec_pem, ec_key);
	char *token = calls_apns_provider_token(key, "ABC123DEFG", "DEF123GHIJ", NOW);
	json_t *want = json_pack("{sssI}", "iss", "DEF123GHIJ", "iat", (json_int_t)NOW);
	assert_jws(token, ec_key, "ES256", "ABC123DEFG", want);
	json_decref(want);
	g_free(token);
	EVP_PKEY_free(key);
}

/* How APNs is to deliver the push: every APNs request has these seven
 * headers, HTTP/2. */
static void check_apns_headers(calls_push_req *req, const char *push_type, const char *topic, const char *expiration,
		const char *priority) {
	g_assert_true(req->http2);
	g_assert_cmpuint(req->headers->len, ==, 7);
	g_assert_nonnull(header(req, "authorization"));
	g_assert_cmpstr(header(req, "apns-push-type"), ==, push_type);
	g_assert_cmpstr(header(req, "apns-topic"), ==, topic);
	g_assert_cmpstr(header(req, "apns-expiration"), ==, expiration);
	g_assert_cmpstr(header(req, "apns-priority"), ==, priority);
	g_assert_cmpstr(header(req, "apns-collapse-id"), ==, "call-1");
	g_assert_cmpstr(header(req, "content-type"), ==, "application/json");
}

/* The body: exactly aps (JSON text), and in "calls" the job's fields with
 * native types, none of the registration's, and reason (NULL: none). */
static void check_apns_body(calls_push_req *req, const char *aps, const char *type, gboolean video, const char *reason) {
	json_t *b = body_of(req);
	g_assert_cmpuint(json_object_size(b), ==, 2);
	json_t *want = json_loads(aps, 0, NULL);
	g_assert_nonnull(want);
	if(!json_equal(json_object_get(b, "aps"), want))
		g_error("aps %s, want %s", req->body, aps);
	json_decref(want);
	json_t *calls = json_object_get(b, "calls");
	g_assert_cmpuint(json_object_size(calls), ==, reason != NULL ? 10 : 9);
	check_native_fields(calls, type, video, NOW);
	g_assert_cmpstr(str_at(calls, "display"), ==, "Alice Liddell");
	g_assert_null(json_object_get(calls, "token"));
	g_assert_null(json_object_get(calls, "platform"));
	g_assert_null(json_object_get(calls, "voip"));
	if(reason != NULL)
		g_assert_cmpstr(str_at(calls, "reason"), ==, reason);
	json_decref(b);
}

/* The APNs request for job, whose token is 0123abcd, with the provider
 * token "p". */
static calls_push_req *apns_request(json_t *job) {
	calls_push_req *req = calls_apns_request(APNS_BASE, BUNDLE, "p", job, NOW);
	g_assert_cmpstr(req->url, ==, APNS_BASE "/3/device/0123abcd");
	g_assert_cmpstr(header(req, "authorization"), ==, "bearer p");
	return req;
}

static void test_apns_voip(void) {
	json_t *job = job_new("incoming_call", "apns", "ab/cd?ef", TRUE, FALSE);
	calls_push_req *req = calls_apns_request(APNS_BASE, BUNDLE, "eyJ.prov.tok", job, NOW);
	g_assert_cmpstr(req->url, ==, APNS_BASE "/3/device/ab%2Fcd%3Fef");
	g_assert_cmpstr(header(req, "authorization"), ==, "bearer eyJ.prov.tok");
	check_apns_headers(req, "voip", BUNDLE ".voip", "0", "10");
	check_apns_body(req, "{}", "incoming_call", FALSE, NULL);
	calls_push_req_free(req);
	json_decref(job);
	/* call_ended to a voip token: also a voip push, priority 10 (PushKit) */
	job = job_new("call_ended", "apns", "0123abcd", TRUE, TRUE);
	json_object_set_new(job, "reason", json_string("answered_elsewhere"));
	req = apns_request(job);
	check_apns_headers(req, "voip", BUNDLE ".voip", "0", "10");
	check_apns_body(req, "{}", "call_ended", TRUE, "answered_elsewhere");
	calls_push_req_free(req);
	json_decref(job);
}

static void test_apns_alert(void) {
	static const struct {
		const char *type;
		gboolean video;
		const char *aps;
	} table[] = {
		{"incoming_call", FALSE, "{\"sound\":\"default\",\"alert\":{\"title\":\"Alice Liddell\",\"body\":\"Incoming voice call\"}}"},
		{"incoming_call", TRUE, "{\"sound\":\"default\",\"alert\":{\"title\":\"Alice Liddell\",\"body\":\"Incoming video call\"}}"},
		{"missed_call", FALSE, "{\"sound\":\"default\",\"alert\":{\"title\":\"Alice Liddell\",\"body\":\"Missed voice call\"}}"},
		{"missed_call", TRUE, "{\"sound\":\"default\",\"alert\":{\"title\":\"Alice Liddell\",\"body\":\"Missed video call\"}}"},
	};
	for(gsize i = 0; i < G_N_ELEMENTS(table); i++) {
		json_t *job = job_new(table[i].type, "apns", "0123abcd", FALSE, table[i].video);
		calls_push_req *req = apns_request(job);
		check_apns_headers(req, "alert", BUNDLE, "1700000030", "10");
		check_apns_body(req, table[i].aps, table[i].type, table[i].video, NULL);
		calls_push_req_free(req);
		json_decref(job);
	}
	/* A caller without a display name: the title is its user id, never null. */
	json_t *job = job_new("incoming_call", "apns", "0123abcd", FALSE, FALSE);
	json_object_del(job, "display");
	calls_push_req *req = apns_request(job);
	json_t *b = body_of(req);
	g_assert_cmpstr(json_string_value(json_object_get(json_object_get(json_object_get(b, "aps"), "alert"), "title")),
		==, json_string_value(json_object_get(job, "from")));
	json_decref(b);
	calls_push_req_free(req);
	json_decref(job);
}

static void test_apns_background(void) {
	json_t *job = job_new("call_ended", "apns", "0123abcd", FALSE, FALSE);
	calls_push_req *req = apns_request(job);
	check_apns_headers(req, "background", BUNDLE, "1700000030", "5");
	check_apns_body(req, "{\"content-available\":1}", "call_ended", FALSE, NULL);
	calls_push_req_free(req);
	json_decref(job);
}

static void test_apns_carries(void) {
	struct {
		const char *type;
		gboolean voip, carries;
	} table[] = {
		{"incoming_call", TRUE, TRUE},
		{"call_ended", TRUE, TRUE},
		{"missed_call", TRUE, FALSE},
		{"incoming_call", FALSE, TRUE},
		{"call_ended", FALSE, TRUE},
		{"missed_call", FALSE, TRUE},
	};
	for(gsize i = 0; i < G_N_ELEMENTS(table); i++) {
		json_t *job = job_new(table[i].type, "apns", "0123abcd", table[i].voip, FALSE);
		g_assert_cmpint(calls_apns_carries(job), ==, table[i].carries);
		json_decref(job);
	}
}

/* An APNs error body. */
#define APNS_REASON(reason) "{\"reason\":\"" reason "\"}"

static void test_apns_judge(void) {
	static const judged table[] = {
		{200, "", CALLS_PUSH_DELIVERED, NULL},
		{200, NULL, CALLS_PUSH_DELIVERED, NULL},
		{410, "{\"reason\":\"Unregistered\",\"timestamp\":1700000000000}", CALLS_PUSH_GONE, "HTTP 410 Unregistered"},
		{410, NULL, CALLS_PUSH_GONE, "HTTP 410 "},
		{403, APNS_REASON("ExpiredProviderToken"), CALLS_PUSH_REAUTH, "HTTP 403 ExpiredProviderToken"},
		{403, APNS_REASON("InvalidProviderToken"), CALLS_PUSH_REJECTED, "HTTP 403 InvalidProviderToken"},
		{403, NULL, CALLS_PUSH_REJECTED, "HTTP 403 "},
		{400, APNS_REASON("BadDeviceToken"), CALLS_PUSH_REJECTED, "HTTP 400 BadDeviceToken"},
		{400, APNS_REASON("DeviceTokenNotForTopic"), CALLS_PUSH_REJECTED, "HTTP 400 DeviceTokenNotForTopic"},
		{429, APNS_REASON("TooManyRequests"), CALLS_PUSH_RETRY, "HTTP 429 TooManyRequests"},
		{500, APNS_REASON("InternalServerError"), CALLS_PUSH_RETRY, "HTTP 500 InternalServerError"},
		{503, APNS_REASON("ServiceUnavailable"), CALLS_PUSH_RETRY, "HTTP 503 ServiceUnavailable"},
		{503, "garbage", CALLS_PUSH_RETRY, "HTTP 503 "},
		{0, NULL, CALLS_PUSH_RETRY, "no answer"},
		{0, APNS_REASON("ExpiredProviderToken"), CALLS_PUSH_RETRY, "no answer"},
		{400, "{\"reason\":17}", CALLS_PUSH_REJECTED, "HTTP 400 "},
		{400, "[\"reason\"]", CALLS_PUSH_REJECTED, "HTTP 400 "},
	};
	check_judge(calls_apns_judge, table, G_N_ELEMENTS(table));
}

static void test_routes(void) {
	calls_config cfg;
	calls_config_defaults(&cfg);
	/* Nothing configured: nobody carries anything. */
	g_assert_cmpint(calls_push_route_of(&cfg, "webhook"), ==, CALLS_ROUTE_NONE);
	g_assert_cmpint(calls_push_route_of(&cfg, "fcm"), ==, CALLS_ROUTE_NONE);
	/* The webhook carries every platform whose provider is not configured ... */
	cfg.webhook_url = g_strdup("https://hooks.example.org/calls");
	g_assert_cmpint(calls_push_route_of(&cfg, "webhook"), ==, CALLS_ROUTE_WEBHOOK);
	g_assert_cmpint(calls_push_route_of(&cfg, "fcm"), ==, CALLS_ROUTE_WEBHOOK);
	g_assert_cmpint(calls_push_route_of(&cfg, "apns"), ==, CALLS_ROUTE_WEBHOOK);
	g_assert_cmpint(calls_push_route_of(&cfg, "sms"), ==, CALLS_ROUTE_NONE);
	g_assert_cmpint(calls_push_route_of(&cfg, NULL), ==, CALLS_ROUTE_NONE);
	/* ... and a configured provider its own. */
	cfg.fcm_service_account = g_strdup("sa.json");
	cfg.apns_key_file = g_strdup("AuthKey.p8");
	g_assert_cmpint(calls_push_route_of(&cfg, "fcm"), ==, CALLS_ROUTE_FCM);
	g_assert_cmpint(calls_push_route_of(&cfg, "apns"), ==, CALLS_ROUTE_APNS);
	g_free(cfg.webhook_url);
	cfg.webhook_url = NULL;
	g_assert_cmpint(calls_push_route_of(&cfg, "webhook"), ==, CALLS_ROUTE_NONE);
	g_assert_cmpint(calls_push_route_of(&cfg, "fcm"), ==, CALLS_ROUTE_FCM);
	calls_config_clear(&cfg);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	g_assert_nonnull(rsa_key);
	g_assert_nonnull(ec_key);
	rsa_pem = pem_of(rsa_key);
	ec_pem = pem_of(ec_key);
	g_test_add_func("/push/jws/rs256", test_jws_rs256);
	g_test_add_func("/push/jws/es256", test_jws_es256);
	g_test_add_func("/push/jws/key-refused", test_jws_key_refused);
	g_test_add_func("/push/jws/key-file", test_jws_key_file);
	g_test_add_func("/push/jws/hmac", test_hmac);
	g_test_add_func("/push/fields", test_fields);
	g_test_add_func("/push/routes", test_routes);
	g_test_add_func("/push/verdicts", test_verdict_names);
	g_test_add_func("/push/webhook/request", test_webhook_request);
	g_test_add_func("/push/webhook/judge", test_webhook_judge);
	g_test_add_func("/push/fcm/account", test_fcm_account);
	g_test_add_func("/push/fcm/account-refused", test_fcm_account_refused);
	g_test_add_func("/push/fcm/token-request", test_fcm_token_request);
	g_test_add_func("/push/fcm/token-parse", test_fcm_token_parse);
	g_test_add_func("/push/fcm/request", test_fcm_request);
	g_test_add_func("/push/fcm/judge", test_fcm_judge);
	g_test_add_func("/push/apns/provider-token", test_apns_provider_token);
	g_test_add_func("/push/apns/voip", test_apns_voip);
	g_test_add_func("/push/apns/alert", test_apns_alert);
	g_test_add_func("/push/apns/background", test_apns_background);
	g_test_add_func("/push/apns/carries", test_apns_carries);
	g_test_add_func("/push/apns/judge", test_apns_judge);
	int rc = g_test_run();
	g_free(rsa_pem);
	g_free(ec_pem);
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ec_key);
	return rc;
}

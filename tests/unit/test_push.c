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

static char *pem_of(EVP_PKEY *key) {
	BIO *bio = BIO_new(BIO_s_mem());
	g_assert_nonnull(bio);
	/* PKCS#8, "BEGIN PRIVATE KEY", as Google's and Apple's files have it */
	g_assert_cmpint(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), ==, 1);
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	char *pem = g_strndup(data, len);
	BIO_free(bio);
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

/* A job as calls_push.c makes it. */
static json_t *job_new(const char *type, const char *platform, const char *token, gboolean voip, gboolean video) {
	return json_pack("{sssssssssbsssssssssbsI}", "type", type, "call_id", "call-1", "from", "alice",
		"display", "Alice Liddell", "video", video, "to", "bob", "device", "phone-1",
		"platform", platform, "token", token, "voip", voip, "expires_at", (json_int_t)EXPIRES);
}

/* ---- calls_jws ---- */

static void test_jws_rs256(void) {
	char *why = NULL;
	EVP_PKEY *key = calls_jws_key(rsa_pem, &why);
	g_assert_nonnull(key);
	g_assert_null(why);
	g_assert_cmpint(EVP_PKEY_eq(key, rsa_key), ==, 1);
	json_t *extra = json_pack("{ss}", "kid", "key-1");
	json_t *claims = json_pack("{sssIss}", "iss", "me@example.org", "iat", (json_int_t)NOW, "note", "h\xc3\xa9");
	char *token = calls_jws_sign(key, extra, claims);
	jws j;
	jws_split(token, &j);
	g_assert_cmpuint(json_object_size(j.header), ==, 3);
	g_assert_cmpstr(str_at(j.header, "alg"), ==, "RS256");
	g_assert_cmpstr(str_at(j.header, "typ"), ==, "JWT");
	g_assert_cmpstr(str_at(j.header, "kid"), ==, "key-1");
	g_assert_true(json_equal(j.claims, claims));
	g_assert_cmpuint(j.siglen, ==, 256);
	assert_signed_by(rsa_key, &j);
	jws_clear(&j);
	g_free(token);
	/* no header_extra: alg and typ only */
	token = calls_jws_sign(key, NULL, claims);
	jws_split(token, &j);
	g_assert_cmpuint(json_object_size(j.header), ==, 2);
	g_assert_cmpstr(str_at(j.header, "alg"), ==, "RS256");
	assert_signed_by(rsa_key, &j);
	jws_clear(&j);
	g_free(token);
	json_decref(extra);
	json_decref(claims);
	EVP_PKEY_free(key);
}

static void test_jws_es256(void) {
	char *why = NULL;
	EVP_PKEY *key = calls_jws_key(ec_pem, &why);
	g_assert_nonnull(key);
	g_assert_null(why);
	g_assert_cmpint(EVP_PKEY_eq(key, ec_key), ==, 1);
	json_t *extra = json_pack("{ss}", "kid", "ABC123DEFG");
	json_t *claims = json_pack("{sssI}", "iss", "TEAM123456", "iat", (json_int_t)NOW);
	/* ECDSA signatures are random, and r or s is sometimes shorter than 32
	 * bytes: sign a few times, each must be 64 bytes and verify. */
	for(int i = 0; i < 16; i++) {
		char *token = calls_jws_sign(key, extra, claims);
		jws j;
		jws_split(token, &j);
		g_assert_cmpuint(json_object_size(j.header), ==, 3);
		g_assert_cmpstr(str_at(j.header, "alg"), ==, "ES256");
		g_assert_cmpstr(str_at(j.header, "typ"), ==, "JWT");
		g_assert_cmpstr(str_at(j.header, "kid"), ==, "ABC123DEFG");
		g_assert_true(json_equal(j.claims, claims));
		g_assert_cmpuint(j.siglen, ==, 64);
		assert_signed_by(ec_key, &j);
		jws_clear(&j);
		g_free(token);
	}
	json_decref(extra);
	json_decref(claims);
	EVP_PKEY_free(key);
}

static void expect_key_refused(const char *pem, const char *why_part) {
	char *why = NULL;
	EVP_PKEY *key = calls_jws_key(pem, &why);
	g_assert_null(key);
	g_assert_nonnull(why);
	g_assert_nonnull(strstr(why, why_part));
	g_free(why);
}

static void test_jws_key_refused(void) {
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	g_assert_nonnull(small);
	g_assert_nonnull(p384);
	char *small_pem = pem_of(small), *p384_pem = pem_of(p384);
	expect_key_refused(small_pem, "RSA (2048 bits or more) or EC P-256");
	expect_key_refused(p384_pem, "RSA (2048 bits or more) or EC P-256");
	expect_key_refused("garbage", "not a PEM private key");
	/* An encrypted key is refused without asking for a passphrase (stdin
	 * or a terminal would otherwise be read, and Janus hang at start). */
	BIO *enc = BIO_new(BIO_s_mem());
	g_assert_cmpint(PEM_write_bio_PKCS8PrivateKey(enc, ec_key, EVP_aes_128_cbc(), NULL, 0, NULL, (void *)"pw"), ==, 1);
	char *enc_data = NULL;
	long enc_len = BIO_get_mem_data(enc, &enc_data);
	char *enc_pem = g_strndup(enc_data, enc_len);
	BIO_free(enc);
	g_assert_nonnull(strstr(enc_pem, "ENCRYPTED"));
	expect_key_refused(enc_pem, "passphrase");
	g_free(enc_pem);
	/* Another 256-bit curve is not ES256. */
	EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	g_assert_nonnull(k1);
	char *k1_pem = pem_of(k1);
	expect_key_refused(k1_pem, "EC P-256");
	g_free(k1_pem);
	EVP_PKEY_free(k1);
	expect_key_refused("", "not a PEM private key");
	/* a truncated key */
	char *cut = g_strndup(rsa_pem, strlen(rsa_pem) / 2);
	expect_key_refused(cut, "not a PEM private key");
	g_free(cut);
	/* a public key is not a private one */
	BIO *bio = BIO_new(BIO_s_mem());
	g_assert_cmpint(PEM_write_bio_PUBKEY(bio, ec_key), ==, 1);
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	char *pub_pem = g_strndup(data, len);
	BIO_free(bio);
	expect_key_refused(pub_pem, "not a PEM private key");
	g_free(pub_pem);
	g_free(small_pem);
	g_free(p384_pem);
	EVP_PKEY_free(small);
	EVP_PKEY_free(p384);
}

static void test_jws_key_file(void) {
	char *why = NULL;
	EVP_PKEY *key = calls_jws_key_file("/nonexistent/calls-test/AuthKey.p8", &why);
	g_assert_null(key);
	g_assert_nonnull(why);
	g_assert_true(g_str_has_prefix(why, "cannot read /nonexistent/calls-test/AuthKey.p8: "));
	g_free(why);
	why = NULL;
	/* a file that holds the key, then one that holds something else */
	char *path = NULL;
	int fd = g_file_open_tmp("test_push-XXXXXX.p8", &path, NULL);
	g_assert_cmpint(fd, >=, 0);
	close(fd);
	g_assert_true(g_file_set_contents(path, ec_pem, -1, NULL));
	key = calls_jws_key_file(path, &why);
	g_assert_nonnull(key);
	g_assert_null(why);
	g_assert_cmpint(EVP_PKEY_eq(key, ec_key), ==, 1);
	EVP_PKEY_free(key);
	g_assert_true(g_file_set_contents(path, "not a key\n", -1, NULL));
	key = calls_jws_key_file(path, &why);
	g_assert_null(key);
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
	g_assert_cmpstr(str_at(f, "type"), ==, "incoming_call");
	g_assert_cmpstr(str_at(f, "call_id"), ==, "call-1");
	/* FCM reserves "from" in data messages */
	g_assert_null(json_object_get(f, "from"));
	g_assert_cmpstr(str_at(f, "caller"), ==, "alice");
	g_assert_null(json_object_get(f, "display"));
	g_assert_cmpstr(str_at(f, "video"), ==, "true");
	g_assert_cmpstr(str_at(f, "group"), ==, "{\"id\":\"g1\",\"members\":[\"alice\",\"carol\"]}");
	g_assert_cmpstr(str_at(f, "to"), ==, "bob");
	g_assert_cmpstr(str_at(f, "device"), ==, "phone-1");
	g_assert_cmpstr(str_at(f, "expires_at"), ==, "1700000030");
	g_assert_cmpstr(str_at(f, "sent_at"), ==, "1700000000");
	g_assert_null(json_object_get(f, "reason"));
	g_assert_null(json_object_get(f, "platform"));
	g_assert_null(json_object_get(f, "token"));
	g_assert_null(json_object_get(f, "voip"));
	json_decref(f);
	/* native types */
	f = calls_push_fields(job, NOW, FALSE);
	g_assert_cmpuint(json_object_size(f), ==, 9);
	g_assert_true(json_is_true(json_object_get(f, "video")));
	g_assert_true(json_equal(json_object_get(f, "group"), json_object_get(job, "group")));
	g_assert_cmpint(int_at(f, "expires_at"), ==, EXPIRES);
	g_assert_cmpint(int_at(f, "sent_at"), ==, NOW);
	g_assert_cmpstr(str_at(f, "from"), ==, "alice");
	g_assert_null(json_object_get(f, "caller"));
	g_assert_null(json_object_get(f, "display"));
	json_decref(f);
	/* false, a reason, and a job with nearly nothing in it */
	json_object_set_new(job, "video", json_false());
	json_object_set_new(job, "reason", json_string("timeout"));
	f = calls_push_fields(job, NOW, TRUE);
	g_assert_cmpstr(str_at(f, "video"), ==, "false");
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

static void test_webhook_request(void) {
	json_t *job = job_new("incoming_call", "webhook", "tok-123", FALSE, TRUE);
	calls_push_req *req = calls_webhook_request("https://hooks.example.org/push", "hook-secret", job, NOW);
	g_assert_cmpstr(req->url, ==, "https://hooks.example.org/push");
	g_assert_false(req->http2);
	g_assert_cmpuint(req->headers->len, ==, 3);
	g_assert_cmpstr(header(req, "Content-Type"), ==, "application/json");
	g_assert_cmpstr(header(req, "X-Calls-Timestamp"), ==, "1700000000");
	char *signed_text = g_strdup_printf("1700000000.%s", req->body);
	char *mac = hmac_hex("hook-secret", signed_text);
	char *want = g_strdup_printf("sha256=%s", mac);
	g_assert_cmpstr(header(req, "X-Calls-Signature"), ==, want);
	g_free(want);
	g_free(mac);
	g_free(signed_text);
	/* another secret gives another signature */
	mac = hmac_hex("other-secret", req->body);
	g_assert_true(strstr(header(req, "X-Calls-Signature"), mac) == NULL);
	g_free(mac);
	json_t *b = body_of(req);
	g_assert_cmpuint(json_object_size(b), ==, 12);
	g_assert_cmpstr(str_at(b, "type"), ==, "incoming_call");
	g_assert_cmpstr(str_at(b, "call_id"), ==, "call-1");
	g_assert_cmpstr(str_at(b, "from"), ==, "alice");
	g_assert_null(json_object_get(b, "caller"));
	g_assert_cmpstr(str_at(b, "display"), ==, "Alice Liddell");
	g_assert_true(json_is_true(json_object_get(b, "video")));
	g_assert_cmpstr(str_at(b, "to"), ==, "bob");
	g_assert_cmpstr(str_at(b, "device"), ==, "phone-1");
	g_assert_cmpstr(str_at(b, "platform"), ==, "webhook");
	g_assert_cmpstr(str_at(b, "token"), ==, "tok-123");
	g_assert_true(json_is_false(json_object_get(b, "voip")));
	g_assert_cmpint(int_at(b, "sent_at"), ==, NOW);
	g_assert_cmpint(int_at(b, "expires_at"), ==, EXPIRES);
	g_assert_null(json_object_get(b, "reason"));
	json_decref(b);
	calls_push_req_free(req);
	json_decref(job);
	/* with a reason, and a caller without a display name */
	job = job_new("missed_call", "fcm", "tok-9", FALSE, FALSE);
	json_object_set_new(job, "reason", json_string("timeout"));
	json_object_set_new(job, "display", json_null());
	req = calls_webhook_request("http://127.0.0.1:9/h", "s", job, NOW + 1);
	g_assert_cmpstr(header(req, "X-Calls-Timestamp"), ==, "1700000001");
	signed_text = g_strdup_printf("1700000001.%s", req->body);
	mac = hmac_hex("s", signed_text);
	g_assert_cmpstr(header(req, "X-Calls-Signature") + strlen("sha256="), ==, mac);
	g_free(mac);
	g_free(signed_text);
	b = body_of(req);
	g_assert_cmpuint(json_object_size(b), ==, 12);
	g_assert_cmpstr(str_at(b, "type"), ==, "missed_call");
	g_assert_cmpstr(str_at(b, "reason"), ==, "timeout");
	g_assert_null(json_object_get(b, "display"));
	g_assert_true(json_is_false(json_object_get(b, "video")));
	g_assert_cmpstr(str_at(b, "platform"), ==, "fcm");
	g_assert_cmpint(int_at(b, "sent_at"), ==, NOW + 1);
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

static void test_fcm_account(void) {
	char *text = account_text(rsa_pem, NULL);
	calls_fcm_account a;
	char *why = NULL;
	g_assert_cmpint(calls_fcm_account_parse(text, &a, &why), ==, 0);
	g_assert_null(why);
	g_assert_cmpstr(a.project_id, ==, "proj-1");
	g_assert_cmpstr(a.client_email, ==, CLIENT_EMAIL);
	g_assert_cmpstr(a.private_key_id, ==, "0123456789abcdef");
	g_assert_cmpstr(a.token_uri, ==, TOKEN_URI);
	g_assert_nonnull(a.key);
	g_assert_cmpint(EVP_PKEY_eq(a.key, rsa_key), ==, 1);
	calls_fcm_account_clear(&a);
	g_assert_null(a.project_id);
	g_assert_null(a.key);
	g_free(text);
	/* private_key_id is optional */
	text = account_text(rsa_pem, "private_key_id");
	g_assert_cmpint(calls_fcm_account_parse(text, &a, &why), ==, 0);
	g_assert_null(a.private_key_id);
	g_assert_cmpstr(a.project_id, ==, "proj-1");
	calls_fcm_account_clear(&a);
	g_free(text);
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
	char *other = g_strdup(text);
	char *at = strstr(other, "\"service_account\"");
	g_assert_nonnull(at);
	memcpy(at, "\"authorized_user\"", strlen("\"authorized_user\""));
	expect_account_refused(other, "\"type\" is not \"service_account\"");
	g_free(other);
	g_free(text);
	text = account_text(rsa_pem, "type");
	expect_account_refused(text, "\"type\" is not \"service_account\"");
	g_free(text);
	text = account_text(rsa_pem, "token_uri");
	expect_account_refused(text, "the key file has no \"token_uri\"");
	g_free(text);
	text = account_text(rsa_pem, "client_email");
	expect_account_refused(text, "the key file has no \"client_email\"");
	g_free(text);
	text = account_text(rsa_pem, "project_id");
	expect_account_refused(text, "the key file has no \"project_id\"");
	g_free(text);
	text = account_text(rsa_pem, "private_key");
	expect_account_refused(text, "the key file has no \"private_key\"");
	g_free(text);
	text = account_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n", NULL);
	expect_account_refused(text, "private_key: not a PEM private key");
	g_free(text);
	text = account_text(ec_pem, NULL);
	expect_account_refused(text, "private_key is not an RSA key");
	g_free(text);
}

static void test_fcm_token_request(void) {
	char *text = account_text(rsa_pem, NULL);
	calls_fcm_account a;
	char *why = NULL;
	g_assert_cmpint(calls_fcm_account_parse(text, &a, &why), ==, 0);
	g_free(text);
	/* the URL given, not necessarily the file's token_uri */
	calls_push_req *req = calls_fcm_token_request(&a, "http://127.0.0.1:8099/token", NOW);
	g_assert_nonnull(req);
	g_assert_cmpstr(req->url, ==, "http://127.0.0.1:8099/token");
	g_assert_false(req->http2);
	g_assert_cmpuint(req->headers->len, ==, 1);
	g_assert_cmpstr(header(req, "Content-Type"), ==, "application/x-www-form-urlencoded");
	const char *prefix = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
	g_assert_true(g_str_has_prefix(req->body, prefix));
	jws j;
	jws_split(req->body + strlen(prefix), &j);
	g_assert_cmpuint(json_object_size(j.header), ==, 3);
	g_assert_cmpstr(str_at(j.header, "alg"), ==, "RS256");
	g_assert_cmpstr(str_at(j.header, "typ"), ==, "JWT");
	g_assert_cmpstr(str_at(j.header, "kid"), ==, "0123456789abcdef");
	g_assert_cmpuint(json_object_size(j.claims), ==, 5);
	g_assert_cmpstr(str_at(j.claims, "iss"), ==, CLIENT_EMAIL);
	g_assert_cmpstr(str_at(j.claims, "scope"), ==, "https://www.googleapis.com/auth/firebase.messaging");
	g_assert_cmpstr(str_at(j.claims, "aud"), ==, "http://127.0.0.1:8099/token");
	g_assert_cmpint(int_at(j.claims, "iat"), ==, NOW);
	g_assert_cmpint(int_at(j.claims, "exp"), ==, NOW + 3600);
	assert_signed_by(rsa_key, &j);
	jws_clear(&j);
	calls_push_req_free(req);
	calls_fcm_account_clear(&a);
	/* without private_key_id, no kid */
	text = account_text(rsa_pem, "private_key_id");
	g_assert_cmpint(calls_fcm_account_parse(text, &a, &why), ==, 0);
	g_free(text);
	req = calls_fcm_token_request(&a, TOKEN_URI, NOW);
	jws_split(req->body + strlen(prefix), &j);
	g_assert_cmpuint(json_object_size(j.header), ==, 2);
	g_assert_null(json_object_get(j.header, "kid"));
	g_assert_cmpstr(str_at(j.claims, "aud"), ==, TOKEN_URI);
	assert_signed_by(rsa_key, &j);
	jws_clear(&j);
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

static void test_fcm_request(void) {
	json_t *job = job_new("incoming_call", "fcm", "fcm-token:APA91b", FALSE, TRUE);
	calls_push_req *req = calls_fcm_request("https://fcm.example.test", "proj-1", "ya29.tok", job, NOW);
	g_assert_cmpstr(req->url, ==, "https://fcm.example.test/v1/projects/proj-1/messages:send");
	g_assert_false(req->http2);
	g_assert_cmpuint(req->headers->len, ==, 2);
	g_assert_cmpstr(header(req, "Content-Type"), ==, "application/json");
	g_assert_cmpstr(header(req, "Authorization"), ==, "Bearer ya29.tok");
	json_t *b = body_of(req);
	g_assert_cmpuint(json_object_size(b), ==, 1);
	json_t *m = json_object_get(b, "message");
	g_assert_cmpuint(json_object_size(m), ==, 3);
	g_assert_cmpstr(str_at(m, "token"), ==, "fcm-token:APA91b");
	json_t *data = json_object_get(m, "data");
	g_assert_cmpuint(json_object_size(data), ==, 9);
	const char *key;
	json_t *v;
	json_object_foreach(data, key, v)
		g_assert_true(json_is_string(v));
	g_assert_cmpstr(str_at(data, "type"), ==, "incoming_call");
	g_assert_cmpstr(str_at(data, "call_id"), ==, "call-1");
	g_assert_null(json_object_get(data, "from"));
	g_assert_cmpstr(str_at(data, "caller"), ==, "alice");
	g_assert_cmpstr(str_at(data, "display"), ==, "Alice Liddell");
	g_assert_cmpstr(str_at(data, "video"), ==, "true");
	g_assert_cmpstr(str_at(data, "to"), ==, "bob");
	g_assert_cmpstr(str_at(data, "device"), ==, "phone-1");
	g_assert_cmpstr(str_at(data, "sent_at"), ==, "1700000000");
	g_assert_cmpstr(str_at(data, "expires_at"), ==, "1700000030");
	json_t *android = json_object_get(m, "android");
	g_assert_cmpuint(json_object_size(android), ==, 3);
	g_assert_cmpstr(str_at(android, "priority"), ==, "HIGH");
	g_assert_cmpstr(str_at(android, "ttl"), ==, "0s");
	g_assert_cmpstr(str_at(android, "collapse_key"), ==, "call-1");
	json_decref(b);
	calls_push_req_free(req);
	json_decref(job);
	/* call_ended: ttl 0 too, with the reason */
	job = job_new("call_ended", "fcm", "t", FALSE, FALSE);
	json_object_set_new(job, "reason", json_string("answered_elsewhere"));
	req = calls_fcm_request("https://fcm.example.test", "proj-1", "ya29.tok", job, NOW);
	b = body_of(req);
	m = json_object_get(b, "message");
	data = json_object_get(m, "data");
	g_assert_cmpuint(json_object_size(data), ==, 10);
	g_assert_cmpstr(str_at(data, "type"), ==, "call_ended");
	g_assert_cmpstr(str_at(data, "video"), ==, "false");
	g_assert_cmpstr(str_at(data, "reason"), ==, "answered_elsewhere");
	g_assert_cmpstr(str_at(json_object_get(m, "android"), "ttl"), ==, "0s");
	json_decref(b);
	calls_push_req_free(req);
	json_decref(job);
	/* missed_call: kept until it expires */
	job = job_new("missed_call", "fcm", "t", FALSE, FALSE);
	json_object_set_new(job, "expires_at", json_integer(NOW + 86400));
	req = calls_fcm_request("https://fcm.example.test", "proj-1", "ya29.tok", job, NOW);
	b = body_of(req);
	m = json_object_get(b, "message");
	g_assert_cmpstr(str_at(json_object_get(m, "android"), "ttl"), ==, "86400s");
	g_assert_cmpstr(str_at(json_object_get(m, "android"), "priority"), ==, "HIGH");
	g_assert_cmpstr(str_at(json_object_get(m, "data"), "expires_at"), ==, "1700086400");
	json_decref(b);
	calls_push_req_free(req);
	/* ... and never a negative ttl */
	req = calls_fcm_request("https://fcm.example.test", "proj-1", "ya29.tok", job, NOW + 90000);
	b = body_of(req);
	g_assert_cmpstr(str_at(json_object_get(json_object_get(b, "message"), "android"), "ttl"), ==, "0s");
	json_decref(b);
	calls_push_req_free(req);
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
	char *why = NULL;
	EVP_PKEY *key = calls_jws_key(ec_pem, &why);
	g_assert_nonnull(key);
	char *token = calls_apns_provider_token(key, "ABC123DEFG", "DEF123GHIJ", NOW);
	jws j;
	jws_split(token, &j);
	g_assert_cmpuint(json_object_size(j.header), ==, 3);
	g_assert_cmpstr(str_at(j.header, "alg"), ==, "ES256");
	g_assert_cmpstr(str_at(j.header, "typ"), ==, "JWT");
	g_assert_cmpstr(str_at(j.header, "kid"), ==, "ABC123DEFG");
	g_assert_cmpuint(json_object_size(j.claims), ==, 2);
	g_assert_cmpstr(str_at(j.claims, "iss"), ==, "DEF123GHIJ");
	g_assert_cmpint(int_at(j.claims, "iat"), ==, NOW);
	assert_signed_by(ec_key, &j);
	jws_clear(&j);
	g_free(token);
	EVP_PKEY_free(key);
}

/* The "calls" member of an APNs body: the fields with native types. */
static void check_calls_member(json_t *calls, const char *type, gboolean video) {
	g_assert_cmpstr(str_at(calls, "type"), ==, type);
	g_assert_cmpstr(str_at(calls, "call_id"), ==, "call-1");
	g_assert_cmpstr(str_at(calls, "from"), ==, "alice");
	g_assert_null(json_object_get(calls, "caller"));
	g_assert_cmpstr(str_at(calls, "display"), ==, "Alice Liddell");
	g_assert_true(json_is_boolean(json_object_get(calls, "video")));
	g_assert_cmpint(json_is_true(json_object_get(calls, "video")), ==, video);
	g_assert_cmpstr(str_at(calls, "to"), ==, "bob");
	g_assert_cmpstr(str_at(calls, "device"), ==, "phone-1");
	g_assert_cmpint(int_at(calls, "sent_at"), ==, NOW);
	g_assert_cmpint(int_at(calls, "expires_at"), ==, EXPIRES);
	g_assert_null(json_object_get(calls, "token"));
	g_assert_null(json_object_get(calls, "platform"));
	g_assert_null(json_object_get(calls, "voip"));
}

static void test_apns_voip(void) {
	json_t *job = job_new("incoming_call", "apns", "ab/cd?ef", TRUE, FALSE);
	calls_push_req *req = calls_apns_request(APNS_BASE, BUNDLE, "eyJ.prov.tok", job, NOW);
	g_assert_cmpstr(req->url, ==, APNS_BASE "/3/device/ab%2Fcd%3Fef");
	g_assert_true(req->http2);
	g_assert_cmpuint(req->headers->len, ==, 7);
	g_assert_cmpstr(header(req, "authorization"), ==, "bearer eyJ.prov.tok");
	g_assert_cmpstr(header(req, "apns-push-type"), ==, "voip");
	g_assert_cmpstr(header(req, "apns-topic"), ==, BUNDLE ".voip");
	g_assert_cmpstr(header(req, "apns-expiration"), ==, "0");
	g_assert_cmpstr(header(req, "apns-priority"), ==, "10");
	g_assert_cmpstr(header(req, "apns-collapse-id"), ==, "call-1");
	g_assert_cmpstr(header(req, "content-type"), ==, "application/json");
	json_t *b = body_of(req);
	g_assert_cmpuint(json_object_size(b), ==, 2);
	json_t *aps = json_object_get(b, "aps");
	g_assert_true(json_is_object(aps));
	g_assert_cmpuint(json_object_size(aps), ==, 0);
	json_t *calls = json_object_get(b, "calls");
	g_assert_cmpuint(json_object_size(calls), ==, 9);
	check_calls_member(calls, "incoming_call", FALSE);
	json_decref(b);
	calls_push_req_free(req);
	json_decref(job);
	/* call_ended to a voip token: also a voip push, priority 10 (PushKit) */
	job = job_new("call_ended", "apns", "0123abcd", TRUE, TRUE);
	json_object_set_new(job, "reason", json_string("answered_elsewhere"));
	req = calls_apns_request(APNS_BASE, BUNDLE, "p", job, NOW);
	g_assert_cmpstr(req->url, ==, APNS_BASE "/3/device/0123abcd");
	g_assert_cmpstr(header(req, "apns-push-type"), ==, "voip");
	g_assert_cmpstr(header(req, "apns-topic"), ==, BUNDLE ".voip");
	g_assert_cmpstr(header(req, "apns-expiration"), ==, "0");
	g_assert_cmpstr(header(req, "apns-priority"), ==, "10");
	b = body_of(req);
	g_assert_cmpuint(json_object_size(json_object_get(b, "aps")), ==, 0);
	calls = json_object_get(b, "calls");
	g_assert_cmpuint(json_object_size(calls), ==, 10);
	check_calls_member(calls, "call_ended", TRUE);
	g_assert_cmpstr(str_at(calls, "reason"), ==, "answered_elsewhere");
	json_decref(b);
	calls_push_req_free(req);
	json_decref(job);
}

static void check_alert(calls_push_req *req, const char *type, gboolean video, const char *text) {
	g_assert_cmpstr(header(req, "apns-push-type"), ==, "alert");
	g_assert_cmpstr(header(req, "apns-topic"), ==, BUNDLE);
	g_assert_cmpstr(header(req, "apns-expiration"), ==, "1700000030");
	g_assert_cmpstr(header(req, "apns-priority"), ==, "10");
	g_assert_cmpstr(header(req, "apns-collapse-id"), ==, "call-1");
	json_t *b = body_of(req);
	g_assert_cmpuint(json_object_size(b), ==, 2);
	json_t *aps = json_object_get(b, "aps");
	g_assert_cmpuint(json_object_size(aps), ==, 2);
	g_assert_cmpstr(str_at(aps, "sound"), ==, "default");
	json_t *alert = json_object_get(aps, "alert");
	g_assert_cmpuint(json_object_size(alert), ==, 2);
	g_assert_cmpstr(str_at(alert, "title"), ==, "Alice Liddell");
	g_assert_cmpstr(str_at(alert, "body"), ==, text);
	json_t *calls = json_object_get(b, "calls");
	g_assert_cmpuint(json_object_size(calls), ==, 9);
	check_calls_member(calls, type, video);
	json_decref(b);
}

static void test_apns_alert(void) {
	json_t *job = job_new("incoming_call", "apns", "0123abcd", FALSE, FALSE);
	calls_push_req *req = calls_apns_request(APNS_BASE, BUNDLE, "p", job, NOW);
	g_assert_cmpstr(req->url, ==, APNS_BASE "/3/device/0123abcd");
	g_assert_true(req->http2);
	g_assert_cmpstr(header(req, "authorization"), ==, "bearer p");
	check_alert(req, "incoming_call", FALSE, "Incoming voice call");
	calls_push_req_free(req);
	json_decref(job);
	job = job_new("incoming_call", "apns", "0123abcd", FALSE, TRUE);
	req = calls_apns_request(APNS_BASE, BUNDLE, "p", job, NOW);
	check_alert(req, "incoming_call", TRUE, "Incoming video call");
	calls_push_req_free(req);
	json_decref(job);
	job = job_new("missed_call", "apns", "0123abcd", FALSE, FALSE);
	req = calls_apns_request(APNS_BASE, BUNDLE, "p", job, NOW);
	check_alert(req, "missed_call", FALSE, "Missed voice call");
	calls_push_req_free(req);
	json_decref(job);
	job = job_new("missed_call", "apns", "0123abcd", FALSE, TRUE);
	req = calls_apns_request(APNS_BASE, BUNDLE, "p", job, NOW);
	check_alert(req, "missed_call", TRUE, "Missed video call");
	calls_push_req_free(req);
	json_decref(job);
	/* A caller without a display name: the title is its user id, never null. */
	job = job_new("incoming_call", "apns", "0123abcd", FALSE, FALSE);
	json_object_del(job, "display");
	req = calls_apns_request(APNS_BASE, BUNDLE, "p", job, NOW);
	json_t *b = body_of(req);
	g_assert_cmpstr(json_string_value(json_object_get(json_object_get(json_object_get(b, "aps"), "alert"), "title")),
		==, json_string_value(json_object_get(job, "from")));
	json_decref(b);
	calls_push_req_free(req);
	json_decref(job);
}

static void test_apns_background(void) {
	json_t *job = job_new("call_ended", "apns", "0123abcd", FALSE, FALSE);
	calls_push_req *req = calls_apns_request(APNS_BASE, BUNDLE, "p", job, NOW);
	g_assert_cmpuint(req->headers->len, ==, 7);
	g_assert_cmpstr(header(req, "apns-push-type"), ==, "background");
	g_assert_cmpstr(header(req, "apns-topic"), ==, BUNDLE);
	g_assert_cmpstr(header(req, "apns-priority"), ==, "5");
	g_assert_cmpstr(header(req, "apns-expiration"), ==, "1700000030");
	g_assert_cmpstr(header(req, "apns-collapse-id"), ==, "call-1");
	json_t *b = body_of(req);
	json_t *want = json_pack("{si}", "content-available", 1);
	g_assert_true(json_equal(json_object_get(b, "aps"), want));
	json_decref(want);
	check_calls_member(json_object_get(b, "calls"), "call_ended", FALSE);
	json_decref(b);
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

static void test_apns_judge(void) {
	static const judged table[] = {
		{200, "", CALLS_PUSH_DELIVERED, NULL},
		{200, NULL, CALLS_PUSH_DELIVERED, NULL},
		{410, "{\"reason\":\"Unregistered\",\"timestamp\":1700000000000}", CALLS_PUSH_GONE, "HTTP 410 Unregistered"},
		{410, NULL, CALLS_PUSH_GONE, "HTTP 410 "},
		{403, "{\"reason\":\"ExpiredProviderToken\"}", CALLS_PUSH_REAUTH, "HTTP 403 ExpiredProviderToken"},
		{403, "{\"reason\":\"InvalidProviderToken\"}", CALLS_PUSH_REJECTED, "HTTP 403 InvalidProviderToken"},
		{403, NULL, CALLS_PUSH_REJECTED, "HTTP 403 "},
		{400, "{\"reason\":\"BadDeviceToken\"}", CALLS_PUSH_REJECTED, "HTTP 400 BadDeviceToken"},
		{400, "{\"reason\":\"DeviceTokenNotForTopic\"}", CALLS_PUSH_REJECTED, "HTTP 400 DeviceTokenNotForTopic"},
		{429, "{\"reason\":\"TooManyRequests\"}", CALLS_PUSH_RETRY, "HTTP 429 TooManyRequests"},
		{500, "{\"reason\":\"InternalServerError\"}", CALLS_PUSH_RETRY, "HTTP 500 InternalServerError"},
		{503, "{\"reason\":\"ServiceUnavailable\"}", CALLS_PUSH_RETRY, "HTTP 503 ServiceUnavailable"},
		{503, "garbage", CALLS_PUSH_RETRY, "HTTP 503 "},
		{0, NULL, CALLS_PUSH_RETRY, "no answer"},
		{0, "{\"reason\":\"ExpiredProviderToken\"}", CALLS_PUSH_RETRY, "no answer"},
		{400, "{\"reason\":17}", CALLS_PUSH_REJECTED, "HTTP 400 "},
		{400, "[\"reason\"]", CALLS_PUSH_REJECTED, "HTTP 400 "},
	};
	check_judge(calls_apns_judge, table, G_N_ELEMENTS(table));
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

/*
 * test_auth.c - HS256 JWT verification and TURN REST credentials.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "calls_auth.h"

#define SECRET "s3cret"
#define NOW 1700000000

static char *token_for(json_t *claims) {
	char *t = calls_jwt_sign(claims, SECRET);
	json_decref(claims);
	return t;
}

static int verify(const char *token, const char **why, calls_jwt_claims *c) {
	return calls_jwt_verify(token, SECRET, NOW, c, why);
}

static void test_valid(void) {
	char *t = token_for(json_pack("{sssssI}", "sub", "alice@example.org", "name", "Alice", "exp", (json_int_t)NOW + 60));
	calls_jwt_claims c;
	const char *why = NULL;
	g_assert_cmpint(verify(t, &why, &c), ==, 0);
	g_assert_cmpstr(c.sub, ==, "alice@example.org");
	g_assert_cmpstr(c.name, ==, "Alice");
	g_assert_cmpint(c.exp, ==, NOW + 60);
	calls_jwt_claims_clear(&c);
	g_free(t);
}

static char *name_after_verify(const char *name) {
	char *t = token_for(json_pack("{sssssI}", "sub", "bob", "name", name, "exp", (json_int_t)NOW + 60));
	calls_jwt_claims c;
	const char *why = NULL;
	g_assert_cmpint(verify(t, &why, &c), ==, 0);
	char *out = g_strdup(c.name);
	calls_jwt_claims_clear(&c);
	g_free(t);
	return out;
}

static void test_long_name_is_cut(void) {
	/* 128 bytes is kept whole. */
	char *exact = g_strnfill(128, 'n');
	char *got = name_after_verify(exact);
	g_assert_cmpstr(got, ==, exact);
	g_free(got);
	/* Longer is cut to 128 bytes ... */
	char *longer = g_strnfill(300, 'n');
	got = name_after_verify(longer);
	g_assert_cmpstr(got, ==, exact);
	g_free(got);
	/* ... at a character boundary: 127 ASCII bytes then "é" (2 bytes) keeps 127. */
	GString *mixed = g_string_new(NULL);
	g_string_append_len(mixed, longer, 127);
	g_string_append(mixed, "\xc3\xa9tail");
	got = name_after_verify(mixed->str);
	g_assert_cmpuint(strlen(got), ==, 127);
	g_assert_true(g_utf8_validate(got, -1, NULL));
	g_free(got);
	g_string_free(mixed, TRUE);
	g_free(exact);
	g_free(longer);
}

static void expect_reject(const char *token, const char *reason_part) {
	calls_jwt_claims c;
	const char *why = NULL;
	g_assert_cmpint(verify(token, &why, &c), ==, -1);
	g_assert_nonnull(why);
	g_assert_nonnull(strstr(why, reason_part));
	g_assert_null(c.sub);
}

static void test_expired_and_times(void) {
	char *t = token_for(json_pack("{sssI}", "sub", "bob", "exp", (json_int_t)NOW));
	expect_reject(t, "expired");
	g_free(t);
	t = token_for(json_pack("{sssIsI}", "sub", "bob", "exp", (json_int_t)NOW + 60, "nbf", (json_int_t)NOW + 10));
	expect_reject(t, "not valid yet");
	g_free(t);
	t = token_for(json_pack("{sssIsI}", "sub", "bob", "exp", (json_int_t)NOW + 600, "iat", (json_int_t)NOW + 300));
	expect_reject(t, "future");
	g_free(t);
	t = token_for(json_pack("{ss}", "sub", "bob"));
	expect_reject(t, "exp");
	g_free(t);
	/* times beyond 64 bits (found by the fuzzer: the conversion was undefined) */
	t = token_for(json_pack("{sssf}", "sub", "bob", "exp", 8e41));
	expect_reject(t, "exp");
	g_free(t);
	t = token_for(json_pack("{sssIsf}", "sub", "bob", "exp", (json_int_t)NOW + 60, "nbf", -1e300));
	expect_reject(t, "nbf");
	g_free(t);
	/* nbf in the past and iat now are fine */
	t = token_for(json_pack("{sssIsIsI}", "sub", "bob", "exp", (json_int_t)NOW + 60, "nbf", (json_int_t)NOW - 5, "iat", (json_int_t)NOW));
	calls_jwt_claims c;
	const char *why = NULL;
	g_assert_cmpint(verify(t, &why, &c), ==, 0);
	calls_jwt_claims_clear(&c);
	g_free(t);
}

static void test_bad_sub(void) {
	char *t = token_for(json_pack("{sssI}", "sub", "bad user!", "exp", (json_int_t)NOW + 60));
	expect_reject(t, "sub");
	g_free(t);
	t = token_for(json_pack("{sisI}", "sub", 42, "exp", (json_int_t)NOW + 60));
	expect_reject(t, "sub");
	g_free(t);
}

static void test_bad_signature(void) {
	json_t *claims = json_pack("{sssI}", "sub", "bob", "exp", (json_int_t)NOW + 60);
	char *t = calls_jwt_sign(claims, "other secret");
	json_decref(claims);
	expect_reject(t, "signature");
	/* flip one character of the signature */
	char *copy = g_strdup(t);
	char *last = copy + strlen(copy) - 2;
	*last = (*last == 'A') ? 'B' : 'A';
	expect_reject(copy, "signature");
	g_free(copy);
	g_free(t);
}

static char *b64url(const char *s) {
	char *b = g_base64_encode((const guchar *)s, strlen(s));
	for(char *p = b; *p; p++) {
		if(*p == '+') *p = '-';
		else if(*p == '/') *p = '_';
		else if(*p == '=') *p = '\0';
	}
	return b;
}

static void test_alg_none_and_others(void) {
	char *payload = b64url("{\"sub\":\"mallory\",\"exp\":9999999999}");
	const char *headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"HS512\"}", "{\"alg\":\"RS256\"}", "{}", "[1]"};
	for(gsize i = 0; i < G_N_ELEMENTS(headers); i++) {
		char *h = b64url(headers[i]);
		char *t = g_strdup_printf("%s.%s.", h, payload);
		calls_jwt_claims c;
		const char *why = NULL;
		g_assert_cmpint(verify(t, &why, &c), ==, -1);
		g_free(t);
		g_free(h);
	}
	g_free(payload);
}

static void test_garbage(void) {
	const char *bad[] = {"", "abc", "a.b", "a.b.c.d", "!!.??.##", "..", "e30.e30.", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.xx"};
	for(gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		calls_jwt_claims c;
		const char *why = NULL;
		g_assert_cmpint(verify(bad[i], &why, &c), ==, -1);
	}
	calls_jwt_claims c;
	const char *why = NULL;
	g_assert_cmpint(calls_jwt_verify(NULL, SECRET, NOW, &c, &why), ==, -1);
	g_assert_cmpint(calls_jwt_verify("a.b.c", "", NOW, &c, &why), ==, -1);
}

/* A token made by another implementation (PyJWT-compatible, fixed). */
static void test_known_vector(void) {
	/* header {"alg":"HS256","typ":"JWT"}, payload {"sub":"alice","exp":1700000060}, secret s3cret */
	char *h = b64url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
	char *p = b64url("{\"sub\":\"alice\",\"exp\":1700000060}");
	char *signing = g_strdup_printf("%s.%s", h, p);
	unsigned char mac[32];
	unsigned int len = 0;
	HMAC(EVP_sha256(), SECRET, 6, (unsigned char *)signing, strlen(signing), mac, &len);
	char *s = g_base64_encode(mac, len);
	for(char *q = s; *q; q++) {
		if(*q == '+') *q = '-';
		else if(*q == '/') *q = '_';
		else if(*q == '=') *q = '\0';
	}
	char *t = g_strdup_printf("%s.%s", signing, s);
	calls_jwt_claims c;
	const char *why = NULL;
	g_assert_cmpint(verify(t, &why, &c), ==, 0);
	g_assert_cmpstr(c.sub, ==, "alice");
	g_assert_null(c.name);
	calls_jwt_claims_clear(&c);
	g_free(h); g_free(p); g_free(signing); g_free(s); g_free(t);
}

static void test_turn(void) {
	char *user = NULL, *cred = NULL;
	calls_turn_credentials("north", "alice", 1700086400, &user, &cred);
	g_assert_cmpstr(user, ==, "1700086400:alice");
	/* base64(HMAC-SHA1("north", "1700086400:alice")), computed independently */
	unsigned char mac[20];
	unsigned int len = 0;
	HMAC(EVP_sha1(), "north", 5, (const unsigned char *)"1700086400:alice", 16, mac, &len);
	char *want = g_base64_encode(mac, len);
	g_assert_cmpstr(cred, ==, want);
	g_assert_cmpuint(strlen(cred), ==, 28);
	g_free(want); g_free(user); g_free(cred);
}

static void test_ice_servers(void) {
	char *stun[] = {"stun:a.example:3478", NULL};
	char *turn[] = {"turn:t.example:3478?transport=udp", "turns:t.example:5349", NULL};
	json_t *s = calls_ice_servers(stun, turn, "north", 600, "bob", 1000);
	g_assert_cmpuint(json_array_size(s), ==, 2);
	json_t *st = json_array_get(s, 0);
	g_assert_cmpstr(json_string_value(json_array_get(json_object_get(st, "urls"), 0)), ==, "stun:a.example:3478");
	g_assert_null(json_object_get(st, "username"));
	json_t *tu = json_array_get(s, 1);
	g_assert_cmpuint(json_array_size(json_object_get(tu, "urls")), ==, 2);
	g_assert_cmpstr(json_string_value(json_object_get(tu, "username")), ==, "1600:bob");
	g_assert_nonnull(json_string_value(json_object_get(tu, "credential")));
	json_decref(s);
	/* nothing configured: an empty list */
	s = calls_ice_servers(NULL, NULL, NULL, 600, "bob", 1000);
	g_assert_cmpuint(json_array_size(s), ==, 0);
	json_decref(s);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/auth/jwt/valid", test_valid);
	g_test_add_func("/auth/jwt/times", test_expired_and_times);
	g_test_add_func("/auth/jwt/long-name", test_long_name_is_cut);
	g_test_add_func("/auth/jwt/bad-sub", test_bad_sub);
	g_test_add_func("/auth/jwt/bad-signature", test_bad_signature);
	g_test_add_func("/auth/jwt/alg", test_alg_none_and_others);
	g_test_add_func("/auth/jwt/garbage", test_garbage);
	g_test_add_func("/auth/jwt/known-vector", test_known_vector);
	g_test_add_func("/auth/turn/credentials", test_turn);
	g_test_add_func("/auth/turn/ice-servers", test_ice_servers);
	return g_test_run();
}

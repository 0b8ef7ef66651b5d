/*
 * calls_auth.c - HS256 JWT verification and TURN REST credentials.
 *
 * JWT is done here rather than through a JWT library because we accept
 * exactly one algorithm: the header is checked for "HS256" before anything
 * else, so "none" and algorithm-confusion tokens can never verify. The MAC is
 * OpenSSL's and compared in constant time.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "calls_auth.h"
#include "calls_request.h"

/* base64url without padding -> bytes; NULL on any character outside the
 * alphabet (g_base64_decode would silently skip them). */
static guchar *b64url_decode(const char *in, gsize inlen, gsize *outlen) {
	if(inlen % 4 == 1)
		return NULL;
	GString *s = g_string_sized_new(inlen + 3);
	for(gsize i = 0; i < inlen; i++) {
		char c = in[i];
		if(c == '-')
			c = '+';
		else if(c == '_')
			c = '/';
		else if(!g_ascii_isalnum(c)) {
			g_string_free(s, TRUE);
			return NULL;
		}
		g_string_append_c(s, c);
	}
	while(s->len % 4 != 0)
		g_string_append_c(s, '=');
	guchar *out = g_base64_decode(s->str, outlen);
	g_string_free(s, TRUE);
	return out;
}

char *calls_b64url_encode(const guchar *data, gsize len) {
	char *b = g_base64_encode(data, len);
	char *w = b;
	for(char *r = b; *r != '\0'; r++) {
		if(*r == '=')
			continue;
		*w++ = (*r == '+') ? '-' : (*r == '/') ? '_' : *r;
	}
	*w = '\0';
	return b;
}

/* The token issuer's name for the user, cut to CALLS_MAX_DISPLAY_BYTES at a
 * character boundary (jansson strings are valid UTF-8): it is shown to
 * callees and travels in pushes, whose payloads are small. */
static char *display_of(const char *name) {
	size_t len = strlen(name);
	if(len <= CALLS_MAX_DISPLAY_BYTES)
		return g_strdup(name);
	len = CALLS_MAX_DISPLAY_BYTES;
	while(len > 0 && ((unsigned char)name[len] & 0xC0) == 0x80)
		len--;
	return g_strndup(name, len);
}

static json_t *b64url_json(const char *in, gsize len) {
	gsize n = 0;
	guchar *raw = b64url_decode(in, len, &n);
	if(raw == NULL)
		return NULL;
	json_t *j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
	g_free(raw);
	if(j != NULL && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static gboolean claim_time(json_t *payload, const char *name, gint64 *out, gboolean *present) {
	json_t *v = json_object_get(payload, name);
	*present = (v != NULL);
	if(v == NULL)
		return TRUE;
	if(!json_is_number(v))
		return FALSE;
	/* A time past what a gint64 holds (1e300 fits a JSON number) is not a
	 * time: converting it would be undefined. */
	double t = json_number_value(v);
	if(!(t > -9.2e18 && t < 9.2e18))
		return FALSE;
	*out = (gint64)t;
	return TRUE;
}

int calls_jwt_verify(const char *token, const char *secret, gint64 now,
		calls_jwt_claims *claims, const char **why) {
	memset(claims, 0, sizeof(*claims));
	if(token == NULL || secret == NULL || *secret == '\0') {
		*why = "no token";
		return -1;
	}
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if(dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL) {
		*why = "not a JWT";
		return -1;
	}
	json_t *header = b64url_json(token, dot1 - token);
	if(header == NULL) {
		*why = "bad JWT header";
		return -1;
	}
	const char *alg = json_string_value(json_object_get(header, "alg"));
	gboolean hs256 = (alg != NULL && !strcmp(alg, "HS256"));
	json_decref(header);
	if(!hs256) {
		*why = "JWT algorithm is not HS256";
		return -1;
	}
	gsize siglen = 0;
	guchar *sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &siglen);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)token,
		(size_t)(dot2 - token), mac, &maclen);
	gboolean ok = (sig != NULL && siglen == maclen && CRYPTO_memcmp(sig, mac, maclen) == 0);
	g_free(sig);
	if(!ok) {
		*why = "bad JWT signature";
		return -1;
	}
	json_t *payload = b64url_json(dot1 + 1, dot2 - dot1 - 1);
	if(payload == NULL) {
		*why = "bad JWT payload";
		return -1;
	}
	const char *sub = json_string_value(json_object_get(payload, "sub"));
	json_t *name = json_object_get(payload, "name");
	gint64 exp = 0, nbf = 0, iat = 0;
	gboolean has_exp = FALSE, has_nbf = FALSE, has_iat = FALSE;
	int rc = -1;
	if(sub == NULL || !calls_valid_user_id(sub))
		*why = "JWT sub is missing or not a valid user id";
	else if(name != NULL && !json_is_string(name))
		*why = "JWT name is not a string";
	else if(!claim_time(payload, "exp", &exp, &has_exp) || !has_exp)
		*why = "JWT exp is missing";
	else if(!claim_time(payload, "nbf", &nbf, &has_nbf) || !claim_time(payload, "iat", &iat, &has_iat))
		*why = "JWT nbf or iat is not a number";
	else if(now >= exp)
		*why = "JWT expired";
	else if(has_nbf && now < nbf)
		*why = "JWT not valid yet";
	else if(has_iat && iat > now + 60)
		*why = "JWT issued in the future";
	else {
		claims->sub = g_strdup(sub);
		claims->name = name ? display_of(json_string_value(name)) : NULL;
		claims->exp = exp;
		rc = 0;
	}
	json_decref(payload);
	return rc;
}

void calls_jwt_claims_clear(calls_jwt_claims *claims) {
	g_free(claims->sub);
	g_free(claims->name);
	memset(claims, 0, sizeof(*claims));
}

char *calls_jwt_sign(json_t *claims, const char *secret) {
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char *payload = json_dumps(claims, JSON_COMPACT);
	char *h = calls_b64url_encode((const guchar *)header, strlen(header));
	char *p = calls_b64url_encode((const guchar *)payload, strlen(payload));
	char *signing = g_strdup_printf("%s.%s", h, p);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signing,
		strlen(signing), mac, &maclen);
	char *s = calls_b64url_encode(mac, maclen);
	char *token = g_strdup_printf("%s.%s", signing, s);
	free(payload);
	g_free(h);
	g_free(p);
	g_free(signing);
	g_free(s);
	return token;
}

void calls_turn_credentials(const char *secret, const char *user, gint64 expiry,
		char **username, char **credential) {
	*username = g_strdup_printf("%" G_GINT64_FORMAT ":%s", expiry, user);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)*username,
		strlen(*username), mac, &maclen);
	*credential = g_base64_encode(mac, maclen);
}

static json_t *uri_array(char **uris) {
	json_t *a = json_array();
	for(char **u = uris; u != NULL && *u != NULL; u++)
		json_array_append_new(a, json_string(*u));
	return a;
}

json_t *calls_ice_servers(char **stun_uris, char **turn_uris, const char *turn_secret,
		int turn_ttl, const char *user, gint64 now) {
	json_t *servers = json_array();
	if(stun_uris != NULL && stun_uris[0] != NULL)
		json_array_append_new(servers, json_pack("{so}", "urls", uri_array(stun_uris)));
	if(turn_uris != NULL && turn_uris[0] != NULL && turn_secret != NULL) {
		char *username = NULL, *credential = NULL;
		calls_turn_credentials(turn_secret, user, now + turn_ttl, &username, &credential);
		json_array_append_new(servers, json_pack("{sosss s}", "urls", uri_array(turn_uris),
			"username", username, "credential", credential));
		g_free(username);
		g_free(credential);
	}
	return servers;
}

/*
 * calls_jws.c - RS256/ES256 JWTs and HMAC-SHA256 for push (see calls_jws.h).
 *
 * The algorithm follows from the key, so a service-account key can never be
 * used for an APNs token or the other way round by a configuration slip.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "calls_auth.h"
#include "calls_jws.h"

/* Keys are never encrypted here. Without a callback OpenSSL would ask for
 * a passphrase on the terminal (or read stdin), and Janus would hang at
 * start on an encrypted key file. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* P-256 only: other 256-bit curves (secp256k1, brainpool) are not ES256. */
static gboolean p256(EVP_PKEY *key) {
	char group[64] = "";
	size_t len = 0;
	return EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) == 1 &&
		(!strcmp(group, "prime256v1") || !strcmp(group, "P-256"));
}

EVP_PKEY *calls_jws_key(const char *pem, char **why) {
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	BIO_free(bio);
	if(key == NULL) {
		*why = g_strdup(strstr(pem, "ENCRYPTED") != NULL ? "an encrypted key: it must not have a passphrase"
		: "not a PEM private key");
		return NULL;
	}
	int type = EVP_PKEY_get_base_id(key);
	if(type == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) >= 2048)
		return key;
	if(type == EVP_PKEY_EC && p256(key))
		return key;
	*why = g_strdup("the key must be RSA (2048 bits or more) or EC P-256");
	EVP_PKEY_free(key);
	return NULL;
}

EVP_PKEY *calls_jws_key_file(const char *path, char **why) {
	char *text = NULL;
	GError *error = NULL;
	if(!g_file_get_contents(path, &text, NULL, &error)) {
		*why = g_strdup_printf("cannot read %s: %s", path, error->message);
		g_error_free(error);
		return NULL;
	}
	char *inner = NULL;
	EVP_PKEY *key = calls_jws_key(text, &inner);
	g_free(text);
	if(key == NULL) {
		*why = g_strdup_printf("%s: %s", path, inner);
		g_free(inner);
	}
	return key;
}

/* DER ECDSA-Sig-Value -> the fixed 64 bytes r||s of JWS ES256. */
static gboolean der_to_raw(const unsigned char *der, size_t len, unsigned char raw[64]) {
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if(sig == NULL)
		return FALSE;
	const BIGNUM *r = NULL, *s = NULL;
	ECDSA_SIG_get0(sig, &r, &s);
	gboolean ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
	ECDSA_SIG_free(sig);
	return ok;
}

static char *b64url_json(json_t *j) {
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	char *out = calls_b64url_encode((const guchar *)text, strlen(text));
	free(text);
	return out;
}

char *calls_jws_sign(EVP_PKEY *key, json_t *header_extra, json_t *claims) {
	gboolean ec = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC;
	json_t *header = json_pack("{ssss}", "alg", ec ? "ES256" : "RS256", "typ", "JWT");
	if(header_extra != NULL)
		json_object_update(header, header_extra);
	char *h = b64url_json(header), *p = b64url_json(claims);
	json_decref(header);
	char *input = g_strdup_printf("%s.%s", h, p);
	g_free(h);
	g_free(p);
	char *token = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if(ctx != NULL && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
			EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) == 1) {
		sig = g_malloc(siglen);
		if(EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)) == 1) {
			unsigned char raw[64];
			char *s = NULL;
			if(!ec)
				s = calls_b64url_encode(sig, siglen);
			else if(der_to_raw(sig, siglen, raw))
				s = calls_b64url_encode(raw, sizeof(raw));
			if(s != NULL)
				token = g_strdup_printf("%s.%s", input, s);
			g_free(s);
		}
	}
	EVP_MD_CTX_free(ctx);
	g_free(sig);
	g_free(input);
	return token;
}

char *calls_hmac_sha256_hex(const char *key, const char *data, gsize len) {
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)data, len, mac, &maclen);
	GString *hex = g_string_sized_new(maclen * 2);
	for(unsigned int i = 0; i < maclen; i++)
		g_string_append_printf(hex, "%02x", mac[i]);
	return g_string_free(hex, FALSE);
}

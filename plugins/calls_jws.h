/*
 * calls_jws.h - the signatures push delivery makes: JWTs signed with a
 * provider's private key (RS256 for Google's OAuth token exchange, ES256 for
 * APNs provider tokens) and the webhook's HMAC-SHA256.
 *
 * Pure OpenSSL, no Janus state: the unit tests verify what it signs with the
 * public half of the key.
 */
#ifndef CALLS_JWS_H
#define CALLS_JWS_H

#include <glib.h>
#include <jansson.h>
#include <openssl/evp.h>

/* A private key from PEM text (PKCS#8, as Google's service-account files
 * and Apple's .p8 files hold them). Only RSA (2048 bits or more) and EC
 * P-256 keys are accepted, the two the providers use. NULL with why set
 * (g_free) otherwise. */
EVP_PKEY *calls_jws_key(const char *pem, char **why);
/* The same from a file. */
EVP_PKEY *calls_jws_key_file(const char *path, char **why);

/* A compact JWS of claims: RS256 for an RSA key, ES256 for an EC key (the
 * signature as JOSE wants it, r||s, not DER). header_extra (may be NULL) adds
 * members such as kid to {"alg", "typ"}. NULL on failure. */
char *calls_jws_sign(EVP_PKEY *key, json_t *header_extra, json_t *claims);

/* Lower-case hex HMAC-SHA256 of data under key. */
char *calls_hmac_sha256_hex(const char *key, const char *data, gsize len);

#endif

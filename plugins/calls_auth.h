/*
 * calls_auth.h - who a client is (HS256 JWTs) and what it may use to reach
 * us (STUN servers and TURN REST credentials).
 *
 * Pure functions over OpenSSL, GLib and jansson: no Janus state, so the unit
 * tests link this file alone.
 */
#ifndef CALLS_AUTH_H
#define CALLS_AUTH_H

#include <glib.h>
#include <jansson.h>

typedef struct calls_jwt_claims {
	char *sub;      /* user id */
	char *name;     /* display name, or NULL */
	gint64 exp;     /* unix seconds */
} calls_jwt_claims;

/* Verifies an HS256 JWT against secret at time now (unix seconds). Only
 * alg HS256 is accepted; exp is required, nbf and iat are honoured when
 * present. Returns 0 and fills claims, or -1 with a static reason in why. */
int calls_jwt_verify(const char *token, const char *secret, gint64 now,
	calls_jwt_claims *claims, const char **why);
void calls_jwt_claims_clear(calls_jwt_claims *claims);

/* base64url without padding (JWT segments). */
char *calls_b64url_encode(const guchar *data, gsize len);

/* Makes an HS256 JWT of the given claims (for tests and tools). */
char *calls_jwt_sign(json_t *claims, const char *secret);

/* TURN REST credentials (coturn use-auth-secret): username "<expiry>:<user>",
 * credential base64(HMAC-SHA1(secret, username)). */
void calls_turn_credentials(const char *secret, const char *user, gint64 expiry,
	char **username, char **credential);

/* The RTCPeerConnection iceServers list for user at time now. */
json_t *calls_ice_servers(char **stun_uris, char **turn_uris, const char *turn_secret,
	int turn_ttl, const char *user, gint64 now);

#endif

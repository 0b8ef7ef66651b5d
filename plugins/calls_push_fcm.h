/*
 * calls_push_fcm.h - Firebase Cloud Messaging, HTTP v1 API.
 *
 * Credentials are a service account's JSON key file. The plugin signs an
 * RS256 JWT with its key, exchanges it at the file's token_uri for an OAuth
 * access token (RFC 7523), and sends each push as a high-priority data
 * message with the token as bearer. The access token is cached until shortly
 * before it expires (calls_pushd.c).
 */
#ifndef CALLS_PUSH_FCM_H
#define CALLS_PUSH_FCM_H

#include <openssl/evp.h>

#include "calls_push_provider.h"

typedef struct calls_fcm_account {
	char *project_id;
	char *client_email;
	char *private_key_id;
	char *token_uri;
	EVP_PKEY *key;
} calls_fcm_account;

/* Parses a service-account key file's text. 0, or -1 with why (g_free). */
int calls_fcm_account_parse(const char *json_text, calls_fcm_account *out, char **why);
void calls_fcm_account_clear(calls_fcm_account *a);

/* The token request (POST to token_url, form encoded) at now_s. */
calls_push_req *calls_fcm_token_request(const calls_fcm_account *a, const char *token_url, gint64 now_s);
/* The token endpoint's answer: 0 with the access token (g_free) and its
 * lifetime in seconds, or -1 with why (g_free). */
int calls_fcm_token_parse(long status, const char *body, gsize len, char **token, gint64 *expires_in, char **why);

/* The message for job. */
calls_push_req *calls_fcm_request(const char *base_url, const char *project_id, const char *access_token,
	json_t *job, gint64 now_s);

/* 200 delivered; UNREGISTERED (404, or 400 on older API paths) gone; 401
 * reauth (but THIRD_PARTY_AUTH_ERROR, a 401 about Firebase's own APNs or
 * web push credentials, rejected); 429, 5xx and no answer retry; anything
 * else rejected. */
calls_push_verdict calls_fcm_judge(long status, const char *body, gsize len, char **detail);

#endif

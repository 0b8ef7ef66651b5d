/*
 * calls_push_apns.h - Apple Push Notification service, HTTP/2 provider API
 * with token authentication.
 *
 * The provider token is an ES256 JWT {iss: team_id, iat} with the key's id
 * as kid, signed with the .p8 key. Apple refuses tokens older than an hour
 * and refreshes more often than every 20 minutes, so calls_pushd.c makes a
 * new one when the old one is APNS_TOKEN_REFRESH old.
 *
 * What each push becomes depends on the registration:
 *   voip registration: apns-push-type voip, topic <bundle>.voip, expiration 0
 *     and priority 10 for incoming_call and call_ended (PushKit: the app
 *     must report a call to CallKit for each one, see docs/push.md); a
 *     missed_call is not sent to a voip token, as it would have to ring.
 *   other registration: incoming_call and missed_call are alerts (priority
 *     10, expiring with the push), call_ended a background push (priority 5,
 *     as Apple requires for those).
 */
#ifndef CALLS_PUSH_APNS_H
#define CALLS_PUSH_APNS_H

#include <openssl/evp.h>

#include "calls_push_provider.h"

/* Seconds: Apple accepts tokens 20 to 60 minutes old for a refresh. */
#define APNS_TOKEN_REFRESH (40 * 60)

char *calls_apns_provider_token(EVP_PKEY *key, const char *key_id, const char *team_id, gint64 now_s);

/* FALSE for a push APNs must not carry (missed_call to a voip token). */
gboolean calls_apns_carries(json_t *job);

calls_push_req *calls_apns_request(const char *base_url, const char *bundle_id, const char *provider_token,
	json_t *job, gint64 now_s);

/* 200 delivered; 410 gone; 403 ExpiredProviderToken reauth; 429, 500, 503
 * and no answer retry; anything else (BadDeviceToken, a wrong topic)
 * rejected. */
calls_push_verdict calls_apns_judge(long status, const char *body, gsize len, char **detail);

#endif

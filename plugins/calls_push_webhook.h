/*
 * calls_push_webhook.h - the signed webhook: one POST per push to
 * push.webhook_url, for "webhook" registrations and for FCM and APNs ones
 * when that provider is not configured (the operator's server forwards them).
 */
#ifndef CALLS_PUSH_WEBHOOK_H
#define CALLS_PUSH_WEBHOOK_H

#include "calls_push_provider.h"

/* The request for job at now_s (unix seconds): the JSON body, and
 * X-Calls-Timestamp / X-Calls-Signature (sha256=<hex HMAC-SHA256 of secret
 * over "<timestamp>.<body>">). */
calls_push_req *calls_webhook_request(const char *url, const char *secret, json_t *job, gint64 now_s);

/* 2xx delivered; 410 gone; 408, 429, 5xx and no answer retry; any other
 * status is rejected. */
calls_push_verdict calls_webhook_judge(long status, const char *body, gsize len, char **detail);

#endif

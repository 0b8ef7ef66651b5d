/*
 * calls_push_provider.h - what the push providers share: a push to deliver
 * (the job), the HTTP request a provider makes of it, and what the provider's
 * answer means.
 *
 * A job is a JSON object made on the handler thread (calls_push.c):
 *   {type: "incoming_call"|"call_ended"|"missed_call", call_id, from, display,
 *    video, group?, to, device, platform, token, voip, reason?, expires_at}
 * expires_at is unix seconds: when the push stops being worth delivering.
 *
 * Providers (calls_push_webhook.c, calls_push_fcm.c, calls_push_apns.c) are
 * pure: they turn a job into a request and a reply into a verdict, so the
 * unit tests and the fuzzers drive them without a network. The delivery
 * thread (calls_pushd.c) does the I/O.
 */
#ifndef CALLS_PUSH_PROVIDER_H
#define CALLS_PUSH_PROVIDER_H

#include <glib.h>
#include <jansson.h>

#include "calls_config.h"

/* Who carries a registration's pushes: its platform's own provider when
 * that is configured, else the webhook (the operator's server forwards
 * them), else nobody. */
typedef enum calls_push_route {
	CALLS_ROUTE_NONE = -1,
	CALLS_ROUTE_WEBHOOK,
	CALLS_ROUTE_FCM,
	CALLS_ROUTE_APNS,
	CALLS_ROUTES
} calls_push_route;

calls_push_route calls_push_route_of(const calls_config *cfg, const char *platform);

typedef struct calls_push_req {
	char *url;
	GPtrArray *headers;      /* char* "Name: value", owned */
	char *body;
	gboolean http2;          /* APNs speaks HTTP/2 only */
} calls_push_req;

calls_push_req *calls_push_req_new(char *url, char *body);
void calls_push_req_header(calls_push_req *req, const char *name, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
void calls_push_req_free(calls_push_req *req);

typedef enum calls_push_verdict {
	CALLS_PUSH_DELIVERED,
	CALLS_PUSH_RETRY,        /* the provider's trouble: try again later */
	CALLS_PUSH_GONE,         /* the registration is dead: delete it */
	CALLS_PUSH_REJECTED,     /* this push can never succeed as it is */
	CALLS_PUSH_REAUTH,       /* our credential expired: renew it, then retry */
} calls_push_verdict;

const char *calls_push_verdict_name(calls_push_verdict v);

/* A provider's answer: HTTP status (0: no answer at all, a timeout or a
 * connection failure) and body (may be NULL). detail gets a short reason
 * for the log (g_free) where the provider gives one. */
typedef calls_push_verdict (*calls_push_judge)(long status, const char *body, gsize len, char **detail);

/* The job's fields every provider forwards, as the webhook names them, with
 * sent_at; strings is TRUE for FCM, whose data values must be strings. */
json_t *calls_push_fields(json_t *job, gint64 now_s, gboolean strings);

/* Statuses every provider treats alike: 408, 429 and 5xx, and no answer,
 * are worth retrying. */
gboolean calls_push_transient(long status);

#endif

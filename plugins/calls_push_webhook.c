/*
 * calls_push_webhook.c - the signed webhook (see calls_push_webhook.h): the
 * shared fields of a push, the registration as the app made it, and an
 * HMAC over the timestamp and the body.
 */
#include <string.h>

#include "calls_jws.h"
#include "calls_push_webhook.h"

calls_push_req *calls_webhook_request(const char *url, const char *secret, json_t *job, gint64 now_s) {
	json_t *doc = calls_push_fields(job, now_s, FALSE);
	/* The operator's server may forward to any provider: it gets the
	 * registration as the app made it. */
	json_object_set(doc, "platform", json_object_get(job, "platform"));
	json_object_set(doc, "token", json_object_get(job, "token"));
	json_object_set(doc, "voip", json_object_get(job, "voip"));
	char *body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	char *signed_text = g_strdup_printf("%" G_GINT64_FORMAT ".%s", now_s, body);
	char *mac = calls_hmac_sha256_hex(secret, signed_text, strlen(signed_text));
	g_free(signed_text);
	calls_push_req *req = calls_push_req_new(g_strdup(url), g_strdup(body));
	free(body);
	calls_push_req_header(req, "Content-Type", "application/json");
	calls_push_req_header(req, "X-Calls-Timestamp", "%" G_GINT64_FORMAT, now_s);
	calls_push_req_header(req, "X-Calls-Signature", "sha256=%s", mac);
	g_free(mac);
	return req;
}

calls_push_verdict calls_webhook_judge(long status, const char *body, gsize len, char **detail) {
	(void)body;
	(void)len;
	if(status >= 200 && status < 300)
		return CALLS_PUSH_DELIVERED;
	*detail = status ? g_strdup_printf("HTTP %ld", status) : g_strdup("no answer");
	if(status == 410)
		return CALLS_PUSH_GONE;
	return calls_push_transient(status) ? CALLS_PUSH_RETRY : CALLS_PUSH_REJECTED;
}

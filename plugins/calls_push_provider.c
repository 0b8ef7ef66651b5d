/*
 * calls_push_provider.c - the parts the push providers share (see
 * calls_push_provider.h), and the webhook, which is nothing but those parts
 * and a signature.
 */
#include <stdarg.h>
#include <string.h>

#include "calls_jws.h"
#include "calls_push_provider.h"
#include "calls_push_webhook.h"

calls_push_req *calls_push_req_new(char *url, char *body) {
	calls_push_req *req = g_new0(calls_push_req, 1);
	req->url = url;
	req->body = body;
	req->headers = g_ptr_array_new_with_free_func(g_free);
	return req;
}

void calls_push_req_header(calls_push_req *req, const char *name, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *value = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_ptr_array_add(req->headers, g_strdup_printf("%s: %s", name, value));
	g_free(value);
}

void calls_push_req_free(calls_push_req *req) {
	if(req == NULL)
		return;
	g_free(req->url);
	g_free(req->body);
	g_ptr_array_free(req->headers, TRUE);
	g_free(req);
}

const char *calls_push_verdict_name(calls_push_verdict v) {
	switch(v) {
		case CALLS_PUSH_DELIVERED: return "delivered";
		case CALLS_PUSH_RETRY: return "retry";
		case CALLS_PUSH_GONE: return "gone";
		case CALLS_PUSH_REJECTED: return "rejected";
		case CALLS_PUSH_REAUTH: return "reauth";
	}
	return "?";
}

gboolean calls_push_transient(long status) {
	return status == 0 || status == 408 || status == 429 || status >= 500;
}

json_t *calls_push_fields(json_t *job, gint64 now_s, gboolean strings) {
	static const char *const names[] = {"type", "call_id", "from", "display", "video", "group", "to",
		"device", "reason", "expires_at"};
	json_t *out = json_object();
	for(guint i = 0; i < G_N_ELEMENTS(names); i++) {
		json_t *v = json_object_get(job, names[i]);
		if(v == NULL || json_is_null(v))
			continue;
		/* FCM reserves "from" in data messages (it is the sender there). */
		const char *name = (strings && !strcmp(names[i], "from")) ? "caller" : names[i];
		if(!strings || json_is_string(v)) {
			json_object_set(out, name, v);
		} else if(json_is_boolean(v)) {
			json_object_set_new(out, name, json_string(json_is_true(v) ? "true" : "false"));
		} else {
			char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			json_object_set_new(out, name, json_string(text));
			free(text);
		}
	}
	if(strings) {
		char now[24];
		g_snprintf(now, sizeof(now), "%" G_GINT64_FORMAT, now_s);
		json_object_set_new(out, "sent_at", json_string(now));
	} else {
		json_object_set_new(out, "sent_at", json_integer(now_s));
	}
	return out;
}

/* ---- the webhook ---- */

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

/*
 * calls_push_provider.c - the parts the push providers share (see
 * calls_push_provider.h).
 */
#include <stdarg.h>
#include <string.h>

#include "calls_push_provider.h"

calls_push_route calls_push_route_of(const calls_config *cfg, const char *platform) {
	if(platform != NULL && !strcmp(platform, "fcm") && calls_config_has(cfg->fcm_service_account))
		return CALLS_ROUTE_FCM;
	if(platform != NULL && !strcmp(platform, "apns") && calls_config_has(cfg->apns_key_file))
		return CALLS_ROUTE_APNS;
	gboolean known = platform != NULL && (!strcmp(platform, "webhook") || !strcmp(platform, "fcm") ||
		!strcmp(platform, "apns"));
	return known && calls_config_has(cfg->webhook_url) ? CALLS_ROUTE_WEBHOOK : CALLS_ROUTE_NONE;
}

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
		const char *name = names[i];
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

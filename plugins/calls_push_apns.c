/*
 * calls_push_apns.c - APNs requests and replies (see calls_push_apns.h).
 */
#include <string.h>

#include "calls_jws.h"
#include "calls_push_apns.h"

char *calls_apns_provider_token(EVP_PKEY *key, const char *key_id, const char *team_id, gint64 now_s) {
	json_t *claims = json_pack("{sssI}", "iss", team_id, "iat", (json_int_t)now_s);
	json_t *extra = json_pack("{ss}", "kid", key_id);
	char *jwt = calls_jws_sign(key, extra, claims);
	json_decref(claims);
	json_decref(extra);
	return jwt;
}

static gboolean is_type(json_t *job, const char *type) {
	const char *t = json_string_value(json_object_get(job, "type"));
	return t != NULL && !strcmp(t, type);
}

gboolean calls_apns_carries(json_t *job) {
	return !(json_is_true(json_object_get(job, "voip")) && is_type(job, "missed_call"));
}

/* The alert text; apps that want it in the user's language rewrite it in a
 * Notification Service Extension from the "calls" member. */
static json_t *alert_of(json_t *job) {
	gboolean video = json_is_true(json_object_get(job, "video"));
	const char *what = is_type(job, "missed_call") ? (video ? "Missed video call" : "Missed voice call")
		: (video ? "Incoming video call" : "Incoming voice call");
	/* A caller without a display name is shown by its user id. */
	json_t *title = json_object_get(job, "display");
	if(!json_is_string(title))
		title = json_object_get(job, "from");
	return json_pack("{s{sOss}ss}", "alert", "title", title, "body", what, "sound", "default");
}

calls_push_req *calls_apns_request(const char *base_url, const char *bundle_id, const char *provider_token,
		json_t *job, gint64 now_s) {
	gboolean voip = json_is_true(json_object_get(job, "voip"));
	gboolean ended = is_type(job, "call_ended");
	const char *push_type = voip ? "voip" : ended ? "background" : "alert";
	json_t *aps = voip ? json_object() : ended ? json_pack("{si}", "content-available", 1) : alert_of(job);
	json_t *doc = json_pack("{soso}", "aps", aps, "calls", calls_push_fields(job, now_s, FALSE));
	char *body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	char *token = g_uri_escape_string(json_string_value(json_object_get(job, "token")), NULL, FALSE);
	calls_push_req *req = calls_push_req_new(g_strdup_printf("%s/3/device/%s", base_url, token), g_strdup(body));
	g_free(token);
	free(body);
	req->http2 = TRUE;
	calls_push_req_header(req, "authorization", "bearer %s", provider_token);
	calls_push_req_header(req, "apns-push-type", "%s", push_type);
	calls_push_req_header(req, "apns-topic", "%s%s", bundle_id, voip ? ".voip" : "");
	/* A ring is now or never; a notice lasts as long as it means something. */
	gint64 expiration = voip ? 0 : json_integer_value(json_object_get(job, "expires_at"));
	calls_push_req_header(req, "apns-expiration", "%" G_GINT64_FORMAT, expiration);
	calls_push_req_header(req, "apns-priority", "%d", ended && !voip ? 5 : 10);
	calls_push_req_header(req, "apns-collapse-id", "%s", json_string_value(json_object_get(job, "call_id")));
	calls_push_req_header(req, "content-type", "application/json");
	return req;
}

calls_push_verdict calls_apns_judge(long status, const char *body, gsize len, char **detail) {
	if(status == 200)
		return CALLS_PUSH_DELIVERED;
	json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
	const char *reason = json_string_value(json_object_get(doc, "reason"));
	*detail = status ? g_strdup_printf("HTTP %ld %s", status, reason ? reason : "") : g_strdup("no answer");
	calls_push_verdict v;
	if(status == 410)
		v = CALLS_PUSH_GONE;
	else if(status == 403 && reason != NULL && !strcmp(reason, "ExpiredProviderToken"))
		v = CALLS_PUSH_REAUTH;
	else
		v = calls_push_transient(status) ? CALLS_PUSH_RETRY : CALLS_PUSH_REJECTED;
	json_decref(doc);
	return v;
}

/*
 * calls_push_fcm.c - FCM HTTP v1 requests and replies (see calls_push_fcm.h).
 *
 * Data messages rather than notification messages: the app decides how to
 * ring (ConnectionService), which a notification message would take out of
 * its hands when it is in the background. Ringing pushes have TTL 0 ("now
 * or never", what Google recommends for calls); a missed_call notice keeps
 * until its expires_at, so a phone that was off still learns of the call.
 */
#include <string.h>

#include "calls_jws.h"
#include "calls_push_fcm.h"

#define FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
/* Google accepts assertions valid for at most an hour. */
#define ASSERTION_TTL 3600

static char *text_member(json_t *doc, const char *name, gboolean required, char **why) {
	json_t *v = json_object_get(doc, name);
	if(json_is_string(v) && *json_string_value(v) != '\0')
		return g_strdup(json_string_value(v));
	if(required && *why == NULL)
		*why = g_strdup_printf("the key file has no \"%s\"", name);
	return NULL;
}

int calls_fcm_account_parse(const char *json_text, calls_fcm_account *out, char **why) {
	memset(out, 0, sizeof(*out));
	*why = NULL;
	json_error_t error;
	json_t *doc = json_loads(json_text, 0, &error);
	if(!json_is_object(doc)) {
		*why = g_strdup_printf("not a JSON object (%s)", doc ? "wrong type" : error.text);
		json_decref(doc);
		return -1;
	}
	json_t *type = json_object_get(doc, "type");
	if(!json_is_string(type) || strcmp(json_string_value(type), "service_account") != 0)
		*why = g_strdup("\"type\" is not \"service_account\"");
	out->project_id = text_member(doc, "project_id", TRUE, why);
	out->client_email = text_member(doc, "client_email", TRUE, why);
	out->private_key_id = text_member(doc, "private_key_id", FALSE, why);
	out->token_uri = text_member(doc, "token_uri", TRUE, why);
	char *pem = text_member(doc, "private_key", TRUE, why);
	json_decref(doc);
	if(*why == NULL && pem != NULL) {
		char *inner = NULL;
		out->key = calls_jws_key(pem, &inner);
		if(out->key == NULL) {
			*why = g_strdup_printf("private_key: %s", inner);
			g_free(inner);
		} else if(EVP_PKEY_get_base_id(out->key) != EVP_PKEY_RSA) {
			*why = g_strdup("private_key is not an RSA key");
		}
	}
	g_free(pem);
	if(*why != NULL) {
		calls_fcm_account_clear(out);
		return -1;
	}
	return 0;
}

void calls_fcm_account_clear(calls_fcm_account *a) {
	g_free(a->project_id);
	g_free(a->client_email);
	g_free(a->private_key_id);
	g_free(a->token_uri);
	if(a->key != NULL)
		EVP_PKEY_free(a->key);
	memset(a, 0, sizeof(*a));
}

calls_push_req *calls_fcm_token_request(const calls_fcm_account *a, const char *token_url, gint64 now_s) {
	json_t *claims = json_pack("{sssssssIsI}", "iss", a->client_email, "scope", FCM_SCOPE,
		"aud", token_url, "iat", (json_int_t)now_s, "exp", (json_int_t)(now_s + ASSERTION_TTL));
	json_t *extra = a->private_key_id ? json_pack("{ss}", "kid", a->private_key_id) : NULL;
	char *jwt = calls_jws_sign(a->key, extra, claims);
	json_decref(claims);
	json_decref(extra);
	if(jwt == NULL)
		return NULL;
	/* A JWT is base64url and dots: nothing to escape in a form. */
	char *body = g_strdup_printf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer"
		"&assertion=%s", jwt);
	g_free(jwt);
	calls_push_req *req = calls_push_req_new(g_strdup(token_url), body);
	calls_push_req_header(req, "Content-Type", "application/x-www-form-urlencoded");
	return req;
}

int calls_fcm_token_parse(long status, const char *body, gsize len, char **token, gint64 *expires_in, char **why) {
	*token = NULL;
	json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *t = json_object_get(doc, "access_token");
	json_t *e = json_object_get(doc, "expires_in");
	int rc = -1;
	if(status != 200) {
		const char *desc = json_string_value(json_object_get(doc, "error_description"));
		const char *err = json_string_value(json_object_get(doc, "error"));
		*why = status ? g_strdup_printf("HTTP %ld %s%s%s", status, err ? err : "", desc ? ": " : "", desc ? desc : "")
			: g_strdup("no answer");
	} else if(!json_is_string(t) || *json_string_value(t) == '\0' || strpbrk(json_string_value(t), "\r\n") != NULL) {
		*why = g_strdup("the answer has no usable access_token");
	} else if(!json_is_integer(e) || json_integer_value(e) <= 0) {
		*why = g_strdup("the answer has no positive expires_in");
	} else {
		*token = g_strdup(json_string_value(t));
		*expires_in = json_integer_value(e);
		rc = 0;
	}
	json_decref(doc);
	return rc;
}

calls_push_req *calls_fcm_request(const char *base_url, const char *project_id, const char *access_token,
		json_t *job, gint64 now_s) {
	const char *type = json_string_value(json_object_get(job, "type"));
	gint64 ttl = 0;
	if(type != NULL && !strcmp(type, "missed_call"))
		ttl = MAX(0, json_integer_value(json_object_get(job, "expires_at")) - now_s);
	char ttl_text[32];
	g_snprintf(ttl_text, sizeof(ttl_text), "%" G_GINT64_FORMAT "s", ttl);
	json_t *data = calls_push_fields(job, now_s, TRUE);
	/* FCM reserves "from" in data messages (it is the sender there). */
	json_t *from = json_object_get(data, "from");
	if(from != NULL) {
		json_object_set(data, "caller", from);
		json_object_del(data, "from");
	}
	json_t *message = json_pack("{s:{sOsos{sssssO}}}", "message",
		"token", json_object_get(job, "token"),
		"data", data,
		"android", "priority", "HIGH", "ttl", ttl_text, "collapse_key", json_object_get(job, "call_id"));
	char *body = json_dumps(message, JSON_COMPACT);
	json_decref(message);
	char *url = g_strdup_printf("%s/v1/projects/%s/messages:send", base_url, project_id);
	calls_push_req *req = calls_push_req_new(url, g_strdup(body));
	free(body);
	calls_push_req_header(req, "Content-Type", "application/json");
	calls_push_req_header(req, "Authorization", "Bearer %s", access_token);
	return req;
}

/* The FcmError code in a google.rpc.Status error body, or NULL. */
static char *fcm_error_code(json_t *doc) {
	json_t *details = json_object_get(json_object_get(doc, "error"), "details");
	size_t i;
	json_t *d;
	json_array_foreach(details, i, d) {
		json_t *code = json_object_get(d, "errorCode");
		if(json_is_string(code))
			return g_strdup(json_string_value(code));
	}
	return NULL;
}

calls_push_verdict calls_fcm_judge(long status, const char *body, gsize len, char **detail) {
	if(status == 200)
		return CALLS_PUSH_DELIVERED;
	json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
	char *code = fcm_error_code(doc);
	const char *rpc = json_string_value(json_object_get(json_object_get(doc, "error"), "status"));
	*detail = status ? g_strdup_printf("HTTP %ld %s", status, code ? code : rpc ? rpc : "") : g_strdup("no answer");
	calls_push_verdict v;
	if(status == 0)
		v = CALLS_PUSH_RETRY;
	else if(code != NULL && !strcmp(code, "UNREGISTERED"))
		v = CALLS_PUSH_GONE;
	else if(status == 401 && code != NULL && !strcmp(code, "THIRD_PARTY_AUTH_ERROR"))
		/* Firebase's own credentials for APNs or web push are wrong, not
		 * our access token: renewing it would not help. */
		v = CALLS_PUSH_REJECTED;
	else if(status == 401)
		v = CALLS_PUSH_REAUTH;
	else
		v = calls_push_transient(status) ? CALLS_PUSH_RETRY : CALLS_PUSH_REJECTED;
	g_free(code);
	json_decref(doc);
	return v;
}

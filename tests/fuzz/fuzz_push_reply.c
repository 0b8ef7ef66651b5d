/*
 * fuzz_push_reply.c - libFuzzer target for what the push providers read from
 * outside: any bytes as the body of a webhook, FCM or APNs answer, as the
 * answer of Google's token endpoint, and as a service-account key file.
 *
 * The first byte picks the HTTP status ('0' 200, '1' 400, '2' 401, '3' 403,
 * '4' 404, '5' 410, '6' 429, '7' 500, '8' 503, '9' no answer; other bytes
 * wrap around), the rest is the body. The body is handed over in a buffer of
 * exactly its length, as the delivery thread does with what curl gathered,
 * so that reading past len is caught.
 */
#include <stdlib.h>
#include <string.h>

#include "calls_push_apns.h"
#include "calls_push_fcm.h"
#include "calls_push_provider.h"
#include "calls_push_webhook.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const long statuses[] = {200, 400, 401, 403, 404, 410, 429, 500, 503, 0};

/* A verdict is one of the five, and comes with a detail unless delivered. */
static void judge(calls_push_judge j, long status, const char *body, size_t len) {
	char *detail = NULL;
	calls_push_verdict v = j(status, body, len, &detail);
	if(v > CALLS_PUSH_REAUTH || (v == CALLS_PUSH_DELIVERED) != (detail == NULL))
		abort();
	if(!strcmp(calls_push_verdict_name(v), "?"))
		abort();
	g_free(detail);
}

static void token_parse(long status, const char *body, size_t len) {
	char *token = NULL, *why = NULL;
	gint64 expires_in = 0;
	int rc = calls_fcm_token_parse(status, body, len, &token, &expires_in, &why);
	if(rc == 0) {
		/* the token goes into a header line: no line breaks, ever */
		if(token == NULL || why != NULL || *token == '\0' || strpbrk(token, "\r\n") != NULL || expires_in <= 0)
			abort();
	} else if(rc != -1 || token != NULL || why == NULL) {
		abort();
	}
	g_free(token);
	g_free(why);
}

static void account_parse(const char *text) {
	calls_fcm_account a;
	char *why = NULL;
	if(calls_fcm_account_parse(text, &a, &why) == 0) {
		if(why != NULL || a.project_id == NULL || a.client_email == NULL || a.token_uri == NULL || a.key == NULL)
			abort();
		/* a usable account signs its token request */
		calls_push_req *req = calls_fcm_token_request(&a, a.token_uri, 1700000000);
		if(req == NULL)
			abort();
		calls_push_req_free(req);
		calls_fcm_account_clear(&a);
	} else if(why == NULL || a.project_id != NULL || a.client_email != NULL || a.private_key_id != NULL ||
			a.token_uri != NULL || a.key != NULL) {
		abort();
	}
	g_free(why);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
	if(size < 1)
		return 0;
	long status = statuses[(unsigned char)(data[0] - '0') % G_N_ELEMENTS(statuses)];
	size_t len = size - 1;
	/* exactly len bytes, not NUL-terminated (malloc(0) is fine too) */
	char *body = malloc(len ? len : 1);
	if(body == NULL)
		return 0;
	memcpy(body, data + 1, len);
	judge(calls_webhook_judge, status, body, len);
	judge(calls_fcm_judge, status, body, len);
	judge(calls_apns_judge, status, body, len);
	token_parse(status, body, len);
	if(len == 0) {
		/* no body at all */
		judge(calls_webhook_judge, status, NULL, 0);
		judge(calls_fcm_judge, status, NULL, 0);
		judge(calls_apns_judge, status, NULL, 0);
		token_parse(status, NULL, 0);
	}
	free(body);
	/* the same bytes as a service-account key file */
	char *text = g_strndup((const char *)data + 1, len);
	account_parse(text);
	g_free(text);
	return 0;
}

/*
 * calls_push.c - push registrations (see calls_push.h).
 */
#include "calls_out.h"
#include "calls_push.h"
#include "calls_record.h"
#include "calls_store.h"

static int do_register(calls_device *d, const char *transaction, json_t *body) {
	char *at = calls_time_text(g_get_real_time(), TRUE);
	gboolean voip = json_is_true(json_object_get(body, "voip"));
	json_t *doc = json_pack("{sssssssssssb}", "user", d->user->id, "device", d->device_id, "at", at,
		"platform", json_string_value(json_object_get(body, "platform")),
		"token", json_string_value(json_object_get(body, "token")), "voip", voip);
	g_free(at);
	calls_out_record("push", doc);
	calls_out_reply(d, transaction, json_pack("{sssssssb}", "calls", "push_registered",
		"device", d->device_id, "platform", json_string_value(json_object_get(body, "platform")),
		"voip", voip), NULL);
	return 0;
}

static int do_unregister(calls_device *d, const char *transaction) {
	char *at = calls_time_text(g_get_real_time(), TRUE);
	calls_out_record("push", json_pack("{sssssssb}", "user", d->user->id, "device", d->device_id,
		"at", at, "remove", TRUE));
	g_free(at);
	calls_out_reply(d, transaction, json_pack("{ssss}", "calls", "push_unregistered", "device", d->device_id), NULL);
	return 0;
}

int calls_push_request(calls_request_kind kind, calls_device *d, const char *transaction,
		json_t *body, calls_error *err) {
	if(!calls_store_enabled())
		return calls_fail(err, CALLS_ERR_UNAVAILABLE, "push registrations are off: no database is configured");
	switch(kind) {
		case CALLS_REQ_PUSH_REGISTER: return do_register(d, transaction, body);
		case CALLS_REQ_PUSH_UNREGISTER: return do_unregister(d, transaction);
		default: return calls_fail(err, CALLS_ERR_INTERNAL, "not a push request");
	}
}

/*
 * calls_admin.c - list_users, list_calls, end_call, kick, stats (see calls_admin.h).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "calls_admin.h"
#include "calls_call.h"
#include "calls_group.h"
#include "calls_error.h"
#include "calls_handler.h"
#include "calls_presence.h"
#include "calls_pushd.h"
#include "calls_registry.h"
#include "calls_request.h"
#include "calls_store.h"

static const calls_config *config;

void calls_admin_init(const calls_config *cfg) {
	config = cfg;
}

static gboolean key_ok(json_t *message) {
	const char *key = json_string_value(json_object_get(message, "admin_key"));
	const char *want = config->admin_key;
	if(key == NULL || want == NULL || *want == '\0' || strlen(key) != strlen(want))
		return FALSE;
	return CRYPTO_memcmp(key, want, strlen(want)) == 0;
}

static json_t *error_reply(const char *request, int code, const char *text) {
	calls_error err;
	calls_fail(&err, code, "%s", text);
	return calls_error_body(request, &err);
}

static json_t *list_users(void) {
	json_t *entries = json_array();
	GList *users = calls_registry_users();
	for(GList *l = users; l != NULL; l = l->next) {
		calls_user *u = l->data;
		json_t *devices = json_array();
		for(GList *dl = u->devices; dl != NULL; dl = dl->next) {
			calls_device *d = dl->data;
			json_array_append_new(devices, json_string(d->device_id));
		}
		json_array_append_new(entries, json_pack("{sssossss}", "user", u->id, "devices", devices,
			"state", calls_presence_state_name(calls_presence_of_user(u)), "display", u->display));
	}
	g_list_free(users);
	return json_pack("{ssso}", "calls", "users", "entries", entries);
}

static json_t *stats(void) {
	return json_pack("{sssisisisisIsIsIsIsIsIsI}", "calls", "stats",
		"users", (int)calls_registry_user_count(),
		"devices", (int)calls_registry_device_count(),
		"active_calls", (int)calls_call_active_count(),
		"participants", (int)calls_call_participant_count(),
		"store_queue", (json_int_t)calls_store_queued(),
		"spooled", (json_int_t)calls_store_spooled(),
		"pushes_sent", (json_int_t)calls_pushd_sent(),
		"pushes_failed", (json_int_t)calls_pushd_failed(),
		"pushes_pending", (json_int_t)calls_pushd_pending(),
		"subscriptions", (json_int_t)calls_presence_subscription_count(),
		"presence_people", (json_int_t)calls_presence_people_count());
}

json_t *calls_admin_handle(json_t *message) {
	const char *request = json_string_value(json_object_get(message, "request"));
	if(!key_ok(message))
		return error_reply(request, CALLS_ERR_FORBIDDEN, "wrong or missing admin_key");
	if(request == NULL)
		return error_reply(NULL, CALLS_ERR_INVALID, "missing request");
	json_t *reply = NULL;
	calls_state_lock();
	if(!strcmp(request, "list_users")) {
		reply = list_users();
	} else if(!strcmp(request, "list_calls")) {
		reply = json_pack("{ssso}", "calls", "active_calls", "entries", calls_call_list());
	} else if(!strcmp(request, "stats")) {
		reply = stats();
	} else if(!strcmp(request, "end_call")) {
		const char *id = json_string_value(json_object_get(message, "call_id"));
		calls_call *c = id ? calls_call_find(id) : NULL;
		if(id == NULL || !calls_valid_call_id(id))
			reply = error_reply(request, CALLS_ERR_INVALID, "call_id missing or not a call id");
		else if((c == NULL || c->state == CALLS_CALL_ENDED) && !calls_group_live(id))
			reply = error_reply(request, CALLS_ERR_NOT_FOUND, "no such call");
		else {
			calls_handler_end_call(id);
			reply = json_pack("{ssss}", "calls", "call_ended", "call_id", id);
		}
	} else if(!strcmp(request, "kick")) {
		const char *user = json_string_value(json_object_get(message, "user"));
		if(user == NULL || !calls_valid_user_id(user))
			reply = error_reply(request, CALLS_ERR_INVALID, "user missing or not a user id");
		else if(calls_registry_user(user) == NULL)
			reply = error_reply(request, CALLS_ERR_NOT_FOUND, "user not registered");
		else {
			calls_handler_kick(user);
			reply = json_pack("{ssss}", "calls", "kicked", "user", user);
		}
	} else {
		reply = error_reply(request, CALLS_ERR_INVALID, "unknown request");
	}
	calls_state_unlock();
	return reply;
}

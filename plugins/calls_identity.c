/*
 * calls_identity.c - register / unregister (see calls_identity.h).
 */
#include <string.h>

#include "calls_auth.h"
#include "calls_call.h"
#include "calls_identity.h"
#include "calls_out.h"

static const calls_config *config;

void calls_identity_init(const calls_config *cfg) {
	config = cfg;
}

void calls_identity_drop(calls_device *d, const char *reason, gboolean tell, const char *others) {
	if(d->user == NULL)
		return;
	calls_call_device_leaving(d, others);
	if(tell)
		calls_out_event(d, json_pack("{ssss}", "calls", "unregistered", "reason", reason), NULL);
	calls_out_notify(d, json_pack("{ssssssss}", "event", "unregistered", "user", d->user->id,
		"device", d->device_id, "reason", reason));
	calls_registry_remove(d);
}

int calls_identity_register(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	if(d->user != NULL)
		return calls_fail(err, CALLS_ERR_STATE, "this handle is already registered as %s", d->user->id);
	const char *device = json_string_value(json_object_get(body, "device"));
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	calls_jwt_claims claims = {0};
	const char *user, *display;
	if(config->auth_none) {
		user = json_string_value(json_object_get(body, "user"));
		display = json_string_value(json_object_get(body, "display"));
	} else {
		const char *why = NULL;
		const char *token = json_string_value(json_object_get(body, "token"));
		if(calls_jwt_verify(token, config->jwt_secret, now, &claims, &why) < 0)
			return calls_fail(err, CALLS_ERR_UNAUTHORIZED, "%s", why);
		user = claims.sub;
		display = claims.name;
	}
	if(display == NULL || *display == '\0')
		display = user;
	calls_device *replaced = NULL;
	calls_registry_add(d, user, display, device, &replaced);
	calls_jwt_claims_clear(&claims);
	if(replaced != NULL) {
		/* calls_registry_add already took it out of the registry; end what it
		 * took part in and tell it why. */
		calls_call_device_leaving(replaced, "hangup");
		calls_out_event(replaced, json_pack("{ssss}", "calls", "unregistered", "reason", "replaced"), NULL);
		calls_out_notify(replaced, json_pack("{ssssssss}", "event", "unregistered", "user", d->user->id,
			"device", replaced->device_id, "reason", "replaced"));
		calls_device_unref(replaced);
	}
	json_t *ice = calls_ice_servers(config->stun_uris, config->turn_uris, config->turn_secret,
		config->turn_ttl, d->user->id, now);
	calls_out_reply(d, transaction, json_pack("{sssssssssiso}", "calls", "registered",
		"user", d->user->id, "display", d->user->display, "device", d->device_id,
		"missed_calls", 0, "ice_servers", ice), NULL);
	calls_out_notify(d, json_pack("{ssssss}", "event", "registered", "user", d->user->id, "device", d->device_id));
	calls_call_device_registered(d);
	return 0;
}

int calls_identity_unregister_request(calls_device *d, const char *transaction, calls_error *err) {
	(void)err;
	calls_out_reply(d, transaction, json_pack("{ssss}", "calls", "unregistered", "reason", "requested"), NULL);
	calls_identity_drop(d, "requested", FALSE, "hangup");
	return 0;
}

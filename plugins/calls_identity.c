/*
 * calls_identity.c - register / unregister (see calls_identity.h).
 */
#include <string.h>

#include <debug.h>

#include "calls_auth.h"
#include "calls_call.h"
#include "calls_identity.h"
#include "calls_out.h"
#include "calls_presence.h"
#include "calls_record.h"
#include "calls_store.h"

static const calls_config *config;

static void presence_record(const char *user, const char *display, const char *device, gboolean offline, gint64 at_us);

void calls_identity_init(const calls_config *cfg) {
	config = cfg;
}

void calls_identity_drop(calls_device *d, const char *reason, gboolean tell, const char *others) {
	if(d->user == NULL) {
		/* A subscriber handle of a group call is never registered. */
		calls_call_device_leaving(d, others);
		return;
	}
	calls_call_device_leaving(d, others);
	if(tell)
		calls_out_event(d, json_pack("{ssss}", "calls", "unregistered", "reason", reason), NULL);
	calls_out_notify(d, json_pack("{ssssssss}", "event", "unregistered", "user", d->user->id,
		"device", d->device_id, "reason", reason));
	char *user = g_strdup(d->user->id);
	calls_presence_device_leaving(d);
	calls_registry_remove(d);
	/* The user's last device left: that is their last seen. */
	gint64 left = calls_presence_touch(user);
	if(calls_registry_user(user) == NULL)
		presence_record(user, NULL, d->device_id, TRUE, left > 0 ? left : g_get_real_time());
	g_free(user);
}

typedef struct pending_register {
	char *user, *display, *device;
} pending_register;

static void pending_free(gpointer data) {
	pending_register *p = data;
	g_free(p->user);
	g_free(p->display);
	g_free(p->device);
	g_free(p);
}

static void presence_record(const char *user, const char *display, const char *device, gboolean offline, gint64 at_us) {
	char *at = calls_time_text(at_us, TRUE);
	json_t *doc = json_pack("{sssssb}", "user", user, "at", at, "offline", offline);
	if(display != NULL)
		json_object_set_new(doc, "display", json_string(display));
	if(device != NULL)
		json_object_set_new(doc, "device", json_string(device));
	g_free(at);
	calls_out_record("presence", doc);
}

/* The second half of register, once the missed-call count is known. */
static void finish_register(calls_device *d, const char *transaction, const char *user,
		const char *display, const char *device, json_int_t missed, json_t *profile, guint64 stamp) {
	calls_device *replaced = NULL;
	calls_registry_add(d, user, display, device, &replaced);
	if(replaced != NULL) {
		calls_presence_device_leaving(replaced);
		/* calls_registry_add already took it out of the registry; end what it
		 * took part in and tell it why. */
		calls_call_device_leaving(replaced, "hangup");
		calls_out_event(replaced, json_pack("{ssss}", "calls", "unregistered", "reason", "replaced"), NULL);
		calls_out_notify(replaced, json_pack("{ssssssss}", "event", "unregistered", "user", d->user->id,
			"device", replaced->device_id, "reason", "replaced"));
		calls_device_unref(replaced);
	}
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	json_t *ice = calls_ice_servers(config->stun_uris, config->turn_uris, config->turn_secret,
		config->turn_ttl, d->user->id, now);
	calls_presence_registered(d, profile, stamp);
	json_t *reply = json_pack("{sssssssssIso}", "calls", "registered",
		"user", d->user->id, "display", d->user->display, "device", d->device_id,
		"missed_calls", missed, "ice_servers", ice);
	/* Left out while the database cannot say. */
	calls_privacy privacy;
	if(calls_presence_privacy(d->user->id, &privacy))
		json_object_set_new(reply, "privacy", json_string(calls_privacy_name(privacy)));
	calls_out_reply(d, transaction, reply, NULL);
	calls_out_notify(d, json_pack("{ssssss}", "event", "registered", "user", d->user->id, "device", d->device_id));
	presence_record(d->user->id, d->user->display, d->device_id, FALSE, g_get_real_time());
	calls_call_device_registered(d);
}

static void missed_read(calls_read *r) {
	calls_device *d = r->owner;
	pending_register *p = r->data;
	/* The handle went away, or unregistered, while the database answered. */
	if(!d->registering || g_atomic_int_get(&d->destroyed))
		return;
	d->registering = FALSE;
	if(!r->ok)
		JANUS_LOG(LOG_WARN, "[calls] register %s/%s: missed calls, privacy and contacts unknown "
			"(the database did not answer); 0 missed sent\n", p->user, p->device ? p->device : "-");
	json_int_t missed = r->ok ? json_integer_value(json_object_get(r->result, "missed")) : 0;
	finish_register(d, r->transaction, p->user, p->display, p->device, missed, r->ok ? r->result : NULL, r->stamp);
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
	if(!calls_store_enabled()) {
		finish_register(d, transaction, user, display, device, 0, NULL, 0);
		calls_jwt_claims_clear(&claims);
		return 0;
	}
	/* The count of missed calls comes from the database: the handler
	 * holds this handle's next requests until it is here. */
	pending_register *p = g_new0(pending_register, 1);
	p->user = g_strdup(user);
	p->display = g_strdup(display);
	p->device = g_strdup(device);
	calls_jwt_claims_clear(&claims);
	calls_read *r = calls_read_new(CALLS_READ_PROFILE, p->user);
	r->data = p;
	r->data_free = pending_free;
	r->stamp = calls_presence_stamp();
	d->registering = TRUE;
	calls_out_read(r, d, transaction, "register", missed_read);
	return 0;
}

int calls_identity_unregister_request(calls_device *d, const char *transaction, calls_error *err) {
	(void)err;
	calls_out_reply(d, transaction, json_pack("{ssss}", "calls", "unregistered", "reason", "requested"), NULL);
	calls_identity_drop(d, "requested", FALSE, "hangup");
	return 0;
}

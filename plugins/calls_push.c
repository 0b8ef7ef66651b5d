/*
 * calls_push.c - push registrations and the pushes of a call (see
 * calls_push.h).
 */
#include <string.h>

#include "calls_out.h"
#include "calls_push.h"
#include "calls_push_provider.h"
#include "calls_record.h"
#include "calls_store.h"

/* A missed_call notice is worth showing for a day. */
#define NOTICE_TTL (24 * 3600)

static const calls_config *config;
static gint64 (*real_now)(void);
static gboolean database;

void calls_push_init(const calls_config *cfg, gint64 (*real)(void)) {
	config = cfg;
	real_now = real;
	database = calls_config_has(cfg->conninfo);
}

gboolean calls_push_deliverable(const char *platform) {
	return calls_push_route_of(config, platform) != CALLS_ROUTE_NONE;
}

gboolean calls_push_on(void) {
	return database && (calls_push_deliverable("webhook") || calls_push_deliverable("fcm") ||
		calls_push_deliverable("apns"));
}

/* ---- requests ---- */

static int do_register(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	const char *platform = json_string_value(json_object_get(body, "platform"));
	if(!calls_push_deliverable(platform))
		return calls_fail(err, CALLS_ERR_INVALID, "this server cannot deliver %s pushes: push.%s is not configured",
			platform, !strcmp(platform, "webhook") ? "webhook_url" : platform);
	char *at = calls_time_text(g_get_real_time(), TRUE);
	gboolean voip = json_is_true(json_object_get(body, "voip"));
	json_t *doc = json_pack("{sssssssssssb}", "user", d->user->id, "device", d->device_id, "at", at,
		"platform", platform, "token", json_string_value(json_object_get(body, "token")), "voip", voip);
	g_free(at);
	calls_out_record("push", doc);
	calls_out_reply(d, transaction, json_pack("{sssssssb}", "calls", "push_registered",
		"device", d->device_id, "platform", platform, "voip", voip), NULL);
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
		case CALLS_REQ_PUSH_REGISTER: return do_register(d, transaction, body, err);
		case CALLS_REQ_PUSH_UNREGISTER: return do_unregister(d, transaction);
		default: return calls_fail(err, CALLS_ERR_INTERNAL, "not a push request");
	}
}

/* ---- the pushes of a call ---- */

json_t *calls_push_pick(json_t *regs, const char *type) {
	gboolean ring = strcmp(type, "missed_call") != 0;
	json_t *fallback = NULL;
	size_t i;
	json_t *r;
	json_array_foreach(regs, i, r) {
		if(!calls_push_deliverable(json_string_value(json_object_get(r, "platform"))))
			continue;
		gboolean voip = json_is_true(json_object_get(r, "voip"));
		if(voip == ring)
			return r;
		gboolean apns = !strcmp(json_string_value(json_object_get(r, "platform")), "apns");
		if(fallback == NULL && !(voip && apns && !ring))
			fallback = r;
	}
	return fallback;
}

static void send_push(const calls_push_call *c, json_t *reg, const char *type, const char *reason, gint64 expires_at) {
	json_t *job = json_pack("{ssssssss?sbsssOsOsOsOsI}", "type", type, "call_id", c->call_id,
		"from", c->from, "display", c->display, "video", c->video, "to", c->to,
		"device", json_object_get(reg, "device"), "platform", json_object_get(reg, "platform"),
		"token", json_object_get(reg, "token"), "voip", json_object_get(reg, "voip"),
		"expires_at", (json_int_t)expires_at);
	if(c->group != NULL)
		json_object_set(job, "group", c->group);
	if(reason != NULL)
		json_object_set_new(job, "reason", json_string(reason));
	calls_out_deliver(job);
}

static calls_push_call direct(calls_call *c) {
	calls_push_call pc = {c->id, c->caller_user, c->caller_display, c->callee_user, c->video, NULL,
		c->started_at, &c->pushed};
	return pc;
}

static void lookup_done(calls_read *r) {
	calls_call *c = calls_call_find(r->data);
	if(c != NULL)
		calls_call_pushes_read(c, r->ok ? r->result : NULL);
}

void calls_push_lookup(calls_call *c) {
	calls_read *r = calls_read_new(CALLS_READ_PUSH, c->callee_user);
	r->data = g_strdup(c->id);
	r->data_free = g_free;
	calls_out_read(r, NULL, NULL, "call", lookup_done);
}

void calls_push_lookup_user(const char *user, char *data, void (*finish)(calls_read *r)) {
	calls_read *r = calls_read_new(CALLS_READ_PUSH, user);
	r->data = data;
	r->data_free = g_free;
	calls_out_read(r, NULL, NULL, "group_call", finish);
}

guint calls_push_ring(calls_call *c, json_t *regs) {
	calls_push_call pc = direct(c);
	return calls_push_ring_call(&pc, regs);
}

void calls_push_ring_over(calls_call *c, const char *except, const char *reason, gboolean missed) {
	calls_push_call pc = direct(c);
	calls_push_ring_over_call(&pc, except, reason, missed);
}

guint calls_push_ring_call(const calls_push_call *c, json_t *regs) {
	/* One entry per device: {device, regs: [its registrations]}. */
	json_t *by_device = json_object();
	size_t i;
	json_t *reg;
	json_array_foreach(regs, i, reg) {
		const char *device = json_string_value(json_object_get(reg, "device"));
		if(device == NULL || calls_registry_device(c->to, device) != NULL)
			continue;
		json_t *list = json_object_get(by_device, device);
		if(list == NULL) {
			list = json_array();
			json_object_set_new(by_device, device, list);
		}
		json_array_append(list, reg);
	}
	if(*c->pushed == NULL)
		*c->pushed = json_array();
	gint64 expires = c->ring_started / G_USEC_PER_SEC + config->ring_timeout;
	guint n = 0;
	const char *device;
	json_t *list;
	json_object_foreach(by_device, device, list) {
		json_t *pick = calls_push_pick(list, "incoming_call");
		if(pick == NULL)
			continue;
		send_push(c, pick, "incoming_call", NULL, expires);
		json_array_append_new(*c->pushed, json_pack("{sssO}", "device", device, "regs", list));
		n++;
	}
	json_decref(by_device);
	return n;
}

void calls_push_ring_over_call(const calls_push_call *c, const char *except, const char *reason, gboolean missed) {
	if(*c->pushed == NULL)
		return;
	gint64 now = real_now() / G_USEC_PER_SEC;
	size_t i;
	json_t *p;
	json_array_foreach(*c->pushed, i, p) {
		const char *device = json_string_value(json_object_get(p, "device"));
		if(except != NULL && !strcmp(device, except))
			continue;
		json_t *regs = json_object_get(p, "regs");
		json_t *pick = calls_push_pick(regs, "call_ended");
		if(pick != NULL)
			send_push(c, pick, "call_ended", reason, now + config->ring_timeout);
		pick = missed ? calls_push_pick(regs, "missed_call") : NULL;
		if(pick != NULL)
			send_push(c, pick, "missed_call", reason, now + NOTICE_TTL);
	}
	json_decref(*c->pushed);
	*c->pushed = NULL;
}

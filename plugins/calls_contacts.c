/*
 * calls_contacts.c - privacy and contacts requests (see calls_contacts.h).
 */
#include <string.h>

#include <debug.h>

#include "calls_contacts.h"
#include "calls_out.h"
#include "calls_presence.h"
#include "calls_record.h"
#include "calls_store.h"

static const calls_config *config;

void calls_contacts_init(const calls_config *cfg) {
	config = cfg;
}

static int do_privacy(calls_device *d, const char *transaction, json_t *body) {
	const char *value = json_string_value(json_object_get(body, "last_seen"));
	calls_privacy privacy = CALLS_PRIVACY_EVERYONE;
	calls_privacy_parse(value, &privacy);   /* checked as a request field */
	calls_out_record("privacy", json_pack("{ssss}", "user", d->user->id, "privacy", value));
	calls_presence_set_privacy(d->user->id, privacy);
	calls_out_reply(d, transaction, json_pack("{ssss}", "calls", "privacy_set", "last_seen", value), NULL);
	return 0;
}

static int do_change(calls_device *d, const char *transaction, json_t *body, gboolean add, calls_error *err) {
	json_t *users = json_object_get(body, "users");
	for(size_t i = 0; add && i < json_array_size(users); i++) {
		if(!strcmp(json_string_value(json_array_get(users, i)), d->user->id))
			return calls_fail(err, CALLS_ERR_INVALID, "users[%zu] is yourself: you cannot be your own contact", i);
	}
	/* Unknown (the database did not answer at register): the database
	 * keeps what it is given, and the next register reads it back. */
	guint fresh = 0, held = 0;
	if(add && calls_presence_contacts_count(d->user->id, users, &fresh, &held) &&
			held + fresh > (guint)config->max_contacts)
		return calls_fail(err, CALLS_ERR_TOO_LARGE, "a user may have %d contacts (%u now, %u more asked)",
			config->max_contacts, held, fresh);
	char *at = calls_time_text(g_get_real_time(), TRUE);
	calls_out_record("contacts", json_pack("{sssssO}", "user", d->user->id, "at", at,
		add ? "add" : "remove", users));
	g_free(at);
	calls_presence_contacts_changed(d->user->id, users, add);
	calls_out_reply(d, transaction, json_pack("{sssO}", "calls", add ? "contacts_added" : "contacts_removed",
		"users", users), NULL);
	return 0;
}

/* Handler thread: the store answered (or gave up). */
static void contacts_read(calls_read *r) {
	calls_device *d = r->owner;
	if(!r->ok) {
		calls_error err = {0};
		calls_fail(&err, CALLS_ERR_UNAVAILABLE, "the contacts database is unavailable; try again later");
		JANUS_LOG(LOG_WARN, "[calls] contacts by %s/%s: %d %s\n", d->user->id, d->device_id, err.code, err.text);
		calls_out_reply(d, r->transaction, calls_error_body("contacts", &err), NULL);
		return;
	}
	json_t *users = json_array();
	for(size_t i = 0; i < json_array_size(r->result); i++) {
		json_t *profile = json_array_get(r->result, i);
		const char *id = json_string_value(json_object_get(profile, "user"));
		if(id == NULL)
			continue;
		json_t *e = calls_presence_entry(d->user->id, profile);
		/* The name it registered with last: here if it is online. */
		calls_user *u = calls_registry_user(id);
		const char *display = u ? u->display : json_string_value(json_object_get(profile, "display"));
		json_object_set_new(e, "display", json_string(display ? display : id));
		json_array_append_new(users, e);
	}
	calls_out_reply(d, r->transaction, json_pack("{ssso}", "calls", "contacts", "users", users), NULL);
}

static int do_list(calls_device *d, const char *transaction) {
	calls_read *r = calls_read_new(CALLS_READ_CONTACTS, d->user->id);
	calls_out_read(r, d, transaction, "contacts", contacts_read);
	return 0;
}

int calls_contacts_request(calls_request_kind kind, calls_device *d, const char *transaction,
		json_t *body, calls_error *err) {
	if(!calls_store_enabled())
		return calls_fail(err, CALLS_ERR_UNAVAILABLE, "contacts and privacy are off: no database is configured");
	switch(kind) {
		case CALLS_REQ_PRIVACY: return do_privacy(d, transaction, body);
		case CALLS_REQ_CONTACTS_ADD: return do_change(d, transaction, body, TRUE, err);
		case CALLS_REQ_CONTACTS_REMOVE: return do_change(d, transaction, body, FALSE, err);
		case CALLS_REQ_CONTACTS: return do_list(d, transaction);
		default: return calls_fail(err, CALLS_ERR_INTERNAL, "not a contacts request");
	}
}

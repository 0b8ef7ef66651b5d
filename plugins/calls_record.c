/*
 * calls_record.c - call records and the history cursor (see calls_record.h).
 */
#include <string.h>

#include "calls_record.h"
#include "calls_request.h"

const char *calls_outcome(gboolean caller, gboolean answered, const char *reason, gboolean declined) {
	/* Whatever ended it later, a call that was answered was talked on. */
	if(answered)
		return "answered";
	if(!caller)
		return declined ? "declined" : "missed";
	static const char *const kept[] = {"cancelled", "no_answer", "declined", "busy", "unavailable"};
	for(guint i = 0; reason != NULL && i < G_N_ELEMENTS(kept); i++) {
		if(!strcmp(reason, kept[i]))
			return kept[i];
	}
	/* kicked, failed, server_shutdown: the server ended it, not a person. */
	return "failed";
}

char *calls_time_text(gint64 real_us, gboolean micro) {
	GDateTime *t = g_date_time_new_from_unix_utc(real_us / G_USEC_PER_SEC);
	char *base = g_date_time_format(t, "%Y-%m-%dT%H:%M:%S");
	int frac = (int)(real_us % G_USEC_PER_SEC);
	char *s = micro ? g_strdup_printf("%s.%06dZ", base, frac) : g_strdup_printf("%s.%03dZ", base, frac / 1000);
	g_free(base);
	g_date_time_unref(t);
	return s;
}

static void set_time(json_t *o, const char *key, gint64 real_us) {
	if(real_us <= 0)
		return;
	char *s = calls_time_text(real_us, TRUE);
	json_object_set_new(o, key, json_string(s));
	g_free(s);
}

static json_t *participant(const calls_call *c, gboolean caller) {
	json_t *p = json_object();
	json_object_set_new(p, "user", json_string(caller ? c->caller_user : c->callee_user));
	json_object_set_new(p, "role", json_string(caller ? "caller" : "callee"));
	set_time(p, "invited_at", c->started_at);
	set_time(p, "answered_at", c->answered_at);
	const char *device = caller ? c->caller_device : c->callee_device;
	if(device != NULL)
		json_object_set_new(p, "device", json_string(device));
	if(c->state == CALLS_CALL_ENDED) {
		set_time(p, "left_at", c->ended_at);
		json_object_set_new(p, "outcome", json_string(calls_outcome(caller, c->answered_at > 0,
			c->reason, c->declined)));
	}
	return p;
}

json_t *calls_record_call(const calls_call *c) {
	json_t *doc = json_object();
	json_object_set_new(doc, "call_id", json_string(c->id));
	json_object_set_new(doc, "kind", json_string("direct"));
	json_object_set_new(doc, "media", json_string(c->video ? "video" : "audio"));
	json_object_set_new(doc, "caller", json_string(c->caller_user));
	if(c->caller_device != NULL)
		json_object_set_new(doc, "caller_device", json_string(c->caller_device));
	json_object_set_new(doc, "callee", json_string(c->callee_user));
	set_time(doc, "started_at", c->started_at);
	set_time(doc, "answered_at", c->answered_at);
	if(c->state == CALLS_CALL_ENDED) {
		set_time(doc, "ended_at", c->ended_at);
		json_object_set_new(doc, "reason", json_string(c->reason));
	}
	json_t *parts = json_array();
	json_array_append_new(parts, participant(c, TRUE));
	json_array_append_new(parts, participant(c, FALSE));
	json_object_set_new(doc, "participants", parts);
	return doc;
}

char *calls_cursor_make(gint64 us, const char *call_id) {
	return g_strdup_printf("%" G_GINT64_FORMAT "_%s", us, call_id);
}

gboolean calls_cursor_parse(const char *cursor, gint64 *us, char id[37]) {
	if(cursor == NULL)
		return FALSE;
	const char *sep = strchr(cursor, '_');
	if(sep == NULL || sep == cursor || sep - cursor > 18)
		return FALSE;
	gint64 v = 0;
	for(const char *p = cursor; p < sep; p++) {
		if(*p < '0' || *p > '9')
			return FALSE;
		v = v * 10 + (*p - '0');
	}
	/* Year 9999 at most, as PostgreSQL's timestamps. */
	if(v > G_GINT64_CONSTANT(253402300799999999) || !calls_valid_call_id(sep + 1))
		return FALSE;
	*us = v;
	g_strlcpy(id, sep + 1, 37);
	return TRUE;
}

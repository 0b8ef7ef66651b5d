/*
 * calls_history.c - the history requests (see calls_history.h).
 */
#include <string.h>

#include <debug.h>

#include "calls_history.h"
#include "calls_out.h"
#include "calls_record.h"
#include "calls_store.h"

static const char *request_of(calls_read_kind kind) {
	return kind == CALLS_READ_HISTORY ? "history" : "history_delete";
}

/* Handler thread: the store answered (or gave up). */
static void finish(calls_read *r) {
	calls_device *d = r->owner;
	if(!r->ok) {
		calls_error err = {0};
		calls_fail(&err, CALLS_ERR_UNAVAILABLE, "the call history database is unavailable; try again later");
		JANUS_LOG(LOG_WARN, "[calls] %s by %s/%s: %d %s\n", request_of(r->kind), r->user,
			d->device_id ? d->device_id : "-", err.code, err.text);
		calls_out_reply(d, r->transaction, calls_error_body(request_of(r->kind), &err), NULL);
		return;
	}
	json_t *body;
	if(r->kind == CALLS_READ_HISTORY) {
		body = json_incref(r->result);
		json_object_set_new(body, "calls", json_string("history"));
	} else {
		body = json_pack("{sssO}", "calls", "history_deleted", "count", r->result);
	}
	calls_out_reply(d, r->transaction, body, NULL);
}

static int read_request(calls_read *r, calls_device *d, const char *transaction, calls_error *err) {
	if(!calls_store_enabled()) {
		calls_read_free(r);
		return calls_fail(err, CALLS_ERR_UNAVAILABLE, "call history is off: no database is configured");
	}
	calls_out_read(r, d, transaction, request_of(r->kind), finish);
	return 0;
}

static int do_history(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	calls_read *r = calls_read_new(CALLS_READ_HISTORY, d->user->id);
	json_t *limit = json_object_get(body, "limit");
	if(limit != NULL)
		r->limit = (int)json_integer_value(limit);
	const char *before = json_string_value(json_object_get(body, "before"));
	if(before != NULL)
		calls_cursor_parse(before, &r->before_us, r->before_id);   /* checked as a request field */
	const char *filter = json_string_value(json_object_get(body, "filter"));
	r->missed_only = filter != NULL && !strcmp(filter, "missed");
	return read_request(r, d, transaction, err);
}

static int do_delete(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	calls_read *r = calls_read_new(CALLS_READ_DELETE, d->user->id);
	r->call_ids = g_ptr_array_new_with_free_func(g_free);
	json_t *ids = json_object_get(body, "call_ids");
	for(size_t i = 0; i < json_array_size(ids); i++)
		g_ptr_array_add(r->call_ids, g_strdup(json_string_value(json_array_get(ids, i))));
	return read_request(r, d, transaction, err);
}

static int do_seen(calls_device *d, const char *transaction) {
	char *at = calls_time_text(g_get_real_time(), TRUE);
	json_t *doc = json_pack("{ssss}", "user", d->user->id, "at", at);
	g_free(at);
	calls_out_record("seen", doc);
	calls_out_reply(d, transaction, json_pack("{ss}", "calls", "history_seen"), NULL);
	/* The badge is per user: the other devices clear theirs. */
	for(GList *l = d->user->devices; l != NULL; l = l->next) {
		if(l->data != d)
			calls_out_event(l->data, json_pack("{sssi}", "calls", "missed_calls", "count", 0), NULL);
	}
	return 0;
}

int calls_history_request(calls_request_kind kind, calls_device *d, const char *transaction,
		json_t *body, calls_error *err) {
	switch(kind) {
		case CALLS_REQ_HISTORY: return do_history(d, transaction, body, err);
		case CALLS_REQ_HISTORY_DELETE: return do_delete(d, transaction, body, err);
		case CALLS_REQ_HISTORY_SEEN: return do_seen(d, transaction);
		default: return calls_fail(err, CALLS_ERR_INTERNAL, "not a history request");
	}
}

/*
 * recorder.c - see recorder.h.
 */
#include <string.h>

#include "calls_out.h"
#include "calls_store.h"
#include "recorder.h"

static GPtrArray *entries;
static GHashTable *read_set;

static void add(const char *kind, calls_device *d, const char *transaction, json_t *body, json_t *jsep) {
	rec_entry *e = g_new0(rec_entry, 1);
	e->kind = kind;
	e->device = d;
	e->transaction = g_strdup(transaction);
	e->body = body ? json_incref(body) : NULL;
	e->jsep = jsep ? json_incref(jsep) : NULL;
	g_ptr_array_add(entries, e);
}

static int fail_offers;

void rec_fail_offers(int n) {
	fail_offers = n;
}

static int r_push(calls_device *d, const char *t, json_t *b, json_t *j) {
	if(j != NULL && fail_offers > 0) {
		fail_offers--;
		add("refused", d, t, b, j);
		return -1;
	}
	add("push", d, t, b, j);
	return 0;
}
static void r_close(calls_device *d) { add("close_pc", d, NULL, NULL, NULL); }
static void r_pli(calls_device *d) { add("pli", d, NULL, NULL, NULL); }
static void r_notify(calls_device *d, json_t *info) { add("notify", d, NULL, info, NULL); }

static void r_record(const char *op, json_t *doc) { add("record", NULL, op, doc, NULL); }
/* No database in the unit tests: a read is noted and kept for a test that
 * wants to answer it (rec_take_read); rec_reset drops the rest. */
static GQueue reads = G_QUEUE_INIT;
static void r_read(struct calls_read *r) {
	add("read", NULL, NULL, NULL, NULL);
	g_queue_push_tail(&reads, r);
}
static void r_deliver(json_t *job) { add("deliver", NULL, NULL, job, NULL); }

static const calls_out_ops ops = { r_push, r_close, r_pli, r_notify, r_record, r_read, r_deliver };

calls_read *rec_take_read(void) {
	calls_out_flush();
	return g_queue_pop_head(&reads);
}

json_t *rec_take_deliver(const char *type, const char *device) {
	calls_out_flush();
	for(guint i = 0; i < entries->len; i++) {
		rec_entry *e = g_ptr_array_index(entries, i);
		if(g_hash_table_contains(read_set, e) || strcmp(e->kind, "deliver") != 0)
			continue;
		const char *t = json_string_value(json_object_get(e->body, "type"));
		const char *d = json_string_value(json_object_get(e->body, "device"));
		if((type == NULL || !g_strcmp0(t, type)) && (device == NULL || !g_strcmp0(d, device))) {
			g_hash_table_add(read_set, e);
			return e->body;
		}
	}
	return NULL;
}

static void entry_free(rec_entry *e) {
	g_free(e->transaction);
	if(e->body)
		json_decref(e->body);
	if(e->jsep)
		json_decref(e->jsep);
	g_free(e);
}

void rec_install(gboolean events) {
	if(entries == NULL) {
		entries = g_ptr_array_new_with_free_func((GDestroyNotify)entry_free);
		read_set = g_hash_table_new(NULL, NULL);
	}
	calls_out_init(&ops, events);
}

void rec_reset(void) {
	calls_out_flush();
	fail_offers = 0;
	calls_read *r;
	while((r = g_queue_pop_head(&reads)) != NULL)
		calls_read_free(r);
	g_ptr_array_set_size(entries, 0);
	g_hash_table_remove_all(read_set);
}

guint rec_count(void) {
	calls_out_flush();
	return entries->len;
}

rec_entry *rec_get(guint i) {
	return i < entries->len ? g_ptr_array_index(entries, i) : NULL;
}

rec_entry *rec_take(calls_device *d, const char *what) {
	calls_out_flush();
	for(guint i = 0; i < entries->len; i++) {
		rec_entry *e = g_ptr_array_index(entries, i);
		if(g_hash_table_contains(read_set, e) || strcmp(e->kind, "push") != 0 || e->device != d)
			continue;
		const char *c = json_string_value(json_object_get(e->body, "calls"));
		if(c != NULL && !strcmp(c, what)) {
			g_hash_table_add(read_set, e);
			return e;
		}
	}
	return NULL;
}

guint rec_pending(calls_device *d) {
	calls_out_flush();
	guint n = 0;
	for(guint i = 0; i < entries->len; i++) {
		rec_entry *e = g_ptr_array_index(entries, i);
		if(!g_hash_table_contains(read_set, e) && !strcmp(e->kind, "push") && e->device == d)
			n++;
	}
	return n;
}

char *rec_dump(void) {
	GString *s = g_string_new("");
	for(guint i = 0; i < entries->len; i++) {
		rec_entry *e = g_ptr_array_index(entries, i);
		char *b = e->body ? json_dumps(e->body, JSON_COMPACT) : NULL;
		g_string_append_printf(s, "%s%s %p %s%s\n", g_hash_table_contains(read_set, e) ? "  (read) " : "  ",
			e->kind, (void *)e->device, b ? b : "", e->jsep ? " +jsep" : "");
		free(b);
	}
	return g_string_free(s, FALSE);
}

/*
 * calls_out.c - the ordered outbox of the handler thread (see calls_out.h).
 */
#include <string.h>

#include "calls_out.h"
#include "calls_registry.h"
#include "calls_store.h"

typedef enum out_kind { OUT_PUSH, OUT_CLOSE_PC, OUT_PLI, OUT_NOTIFY, OUT_RECORD, OUT_READ, OUT_DELIVER } out_kind;

typedef struct out_item {
	out_kind kind;
	calls_device *device;    /* reference held until delivered */
	char *transaction;
	json_t *body;
	json_t *jsep;
	struct calls_read *read;
} out_item;

static const calls_out_ops *out_ops;
static gboolean out_events;
/* Only the handler thread queues and flushes, so no lock. */
static GQueue outbox = G_QUEUE_INIT;
static GQueue failed = G_QUEUE_INIT;      /* out_item* of refused offers */

void calls_out_init(const calls_out_ops *ops, gboolean events) {
	out_ops = ops;
	out_events = events;
}

static void enqueue(out_kind kind, calls_device *d, const char *transaction, json_t *body, json_t *jsep) {
	out_item *it = g_new0(out_item, 1);
	it->kind = kind;
	it->device = d;
	if(d != NULL)
		calls_device_ref(d);
	it->transaction = g_strdup(transaction);
	it->body = body;
	it->jsep = jsep ? json_incref(jsep) : NULL;
	g_queue_push_tail(&outbox, it);
}

void calls_out_reply(calls_device *d, const char *transaction, json_t *body, json_t *jsep) {
	enqueue(OUT_PUSH, d, transaction, body, jsep);
}

void calls_out_event(calls_device *d, json_t *body, json_t *jsep) {
	enqueue(OUT_PUSH, d, NULL, body, jsep);
}

void calls_out_close_pc(calls_device *d) {
	enqueue(OUT_CLOSE_PC, d, NULL, NULL, NULL);
}

void calls_out_pli(calls_device *d) {
	enqueue(OUT_PLI, d, NULL, NULL, NULL);
}

void calls_out_notify(calls_device *d, json_t *info) {
	if(out_events)
		enqueue(OUT_NOTIFY, d, NULL, info, NULL);
	else
		json_decref(info);
}

void calls_out_record(const char *op, json_t *doc) {
	/* The op rides in the transaction slot: a record has no device. */
	enqueue(OUT_RECORD, NULL, op, doc, NULL);
}

void calls_out_read(struct calls_read *r, calls_device *d, const char *transaction,
		const char *request, void (*finish)(struct calls_read *r)) {
	if(d != NULL) {
		calls_device_ref(d);
		r->owner = d;
		/* An answer is for the registration that asked (calls_handler.c). */
		if(d->user != NULL)
			r->registration = d->registration;
	}
	r->transaction = g_strdup(transaction);
	r->request = request;
	r->finish = finish;
	enqueue(OUT_READ, NULL, NULL, NULL, NULL);
	((out_item *)g_queue_peek_tail(&outbox))->read = r;
}

void calls_out_deliver(json_t *job) {
	enqueue(OUT_DELIVER, NULL, NULL, job, NULL);
}

static gboolean offer_of_call(out_item *it) {
	const char *what = json_string_value(json_object_get(it->body, "calls"));
	const char *type = json_string_value(json_object_get(it->jsep, "type"));
	return what != NULL && !strcmp(what, "incoming_call") && type != NULL && !strcmp(type, "offer");
}

static void item_free(out_item *it) {
	if(it->device != NULL)
		calls_device_unref(it->device);
	g_free(it->transaction);
	if(it->body != NULL)
		json_decref(it->body);
	if(it->jsep != NULL)
		json_decref(it->jsep);
	g_free(it);
}

gboolean calls_out_take_failed_offer(calls_device **d, char **call_id) {
	out_item *it = g_queue_pop_head(&failed);
	if(it == NULL)
		return FALSE;
	calls_device_ref(it->device);
	*d = it->device;
	*call_id = g_strdup(json_string_value(json_object_get(it->body, "call_id")));
	item_free(it);
	return TRUE;
}

void calls_out_flush(void) {
	out_item *it;
	while((it = g_queue_pop_head(&outbox)) != NULL) {
		switch(it->kind) {
			case OUT_PUSH:
				if(out_ops->push(it->device, it->transaction, it->body, it->jsep) != 0 && offer_of_call(it)) {
					g_queue_push_tail(&failed, it);
					continue;
				}
				break;
			case OUT_CLOSE_PC: out_ops->close_pc(it->device); break;
			case OUT_PLI: out_ops->pli(it->device); break;
			case OUT_NOTIFY: out_ops->notify(it->device, it->body); break;
			case OUT_RECORD:
				if(out_ops->record != NULL)
					out_ops->record(it->transaction, it->body);
				break;
			case OUT_READ:
				out_ops->read(it->read);
				break;
			case OUT_DELIVER:
				if(out_ops->deliver != NULL)
					out_ops->deliver(it->body);
				break;
		}
		item_free(it);
	}
}

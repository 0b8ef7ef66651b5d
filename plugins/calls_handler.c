/*
 * calls_handler.c - the request queue and the handler thread (see calls_handler.h).
 */
#include <string.h>

#include <debug.h>
#include <mutex.h>

#include "calls_call.h"
#include "calls_dispatch.h"
#include "calls_group.h"
#include "calls_handler.h"
#include "calls_identity.h"
#include "calls_out.h"
#include "calls_presence.h"
#include "calls_request.h"
#include "calls_store.h"

typedef enum item_kind {
	ITEM_MESSAGE,
	ITEM_MEDIA_UP,
	ITEM_MEDIA_DOWN,
	ITEM_DETACH,
	ITEM_END_CALL,
	ITEM_KICK,
	ITEM_READ,
	ITEM_TALKING_ON,
	ITEM_TALKING_OFF,
	ITEM_STOP,
} item_kind;

typedef struct item {
	item_kind kind;
	calls_device *device;
	char *transaction;
	json_t *body;
	json_t *jsep;
	gboolean rate_limited;
	char *arg;
	calls_read *read;
} item;

static const calls_config *config;
static GAsyncQueue *queue;
static GThread *thread;
static janus_mutex state_mutex = JANUS_MUTEX_INITIALIZER;
/* calls_device* -> GQueue of item*: requests of a handle whose register
 * waits for the database, served in order once it is done. */
static GHashTable *parked;

void calls_state_lock(void) {
	janus_mutex_lock(&state_mutex);
}

void calls_state_unlock(void) {
	janus_mutex_unlock(&state_mutex);
}

static void item_free(item *it) {
	if(it->device != NULL)
		calls_device_unref(it->device);
	g_free(it->transaction);
	if(it->body != NULL)
		json_decref(it->body);
	if(it->jsep != NULL)
		json_decref(it->jsep);
	g_free(it->arg);
	calls_read_free(it->read);
	g_free(it);
}

static item *item_new(item_kind kind, calls_device *d) {
	item *it = g_new0(item, 1);
	it->kind = kind;
	if(d != NULL) {
		calls_device_ref(d);
		it->device = d;
	}
	return it;
}

void calls_handler_message(calls_device *d, char *transaction, json_t *body, json_t *jsep) {
	item *it = item_new(ITEM_MESSAGE, d);
	it->transaction = transaction;
	it->body = body;
	it->jsep = jsep;
	/* Counted when it arrives, not when it is handled, so that a backlog
	 * does not turn into a burst. */
	it->rate_limited = !calls_device_rate_ok(d, config->rate_limit, g_get_monotonic_time());
	g_async_queue_push(queue, it);
}

void calls_handler_media(calls_device *d, gboolean up) {
	g_async_queue_push(queue, item_new(up ? ITEM_MEDIA_UP : ITEM_MEDIA_DOWN, d));
}

void calls_handler_talking(calls_device *d, gboolean talking) {
	g_async_queue_push(queue, item_new(talking ? ITEM_TALKING_ON : ITEM_TALKING_OFF, d));
}

void calls_handler_detach(calls_device *d) {
	g_async_queue_push(queue, item_new(ITEM_DETACH, d));
}

void calls_handler_end_call(const char *call_id) {
	item *it = item_new(ITEM_END_CALL, NULL);
	it->arg = g_strdup(call_id);
	g_async_queue_push(queue, it);
}

void calls_handler_kick(const char *user) {
	item *it = item_new(ITEM_KICK, NULL);
	it->arg = g_strdup(user);
	g_async_queue_push(queue, it);
}

void calls_handler_read_done(calls_read *r) {
	item *it = item_new(ITEM_READ, NULL);
	it->read = r;
	g_async_queue_push(queue, it);
}

static void handle_message(item *it) {
	calls_device *d = it->device;
	/* Requests that came before the handle went are still served (a
	 * hangup right before a detach is a hangup); their replies go nowhere. */
	calls_error err = {0};
	if(calls_dispatch(d, it->transaction, it->body, it->jsep, it->rate_limited, &err) == 0)
		return;
	const char *call_id = json_string_value(json_object_get(it->body, "call_id"));
	const char *name = calls_request_name(it->body);
	int level = err.code >= 500 ? LOG_ERR : LOG_VERB;
	JANUS_LOG(level, "[calls] %s by %s/%s%s%s: %d %s\n",
		name ? name : "(no request)", d->user ? d->user->id : "-", d->device_id ? d->device_id : "-",
		call_id ? " call " : "", call_id ? call_id : "", err.code, err.text);
	calls_out_reply(d, it->transaction, calls_dispatch_error_body(it->body, &err), NULL);
	/* Janus's core took the refused request's offer before we saw it. If it
	 * was a first offer, the handle now holds a half-made PeerConnection
	 * that would refuse the next one: close it, so that refusing changes
	 * nothing the client can notice but the error. */
	const char *type = json_string_value(json_object_get(it->jsep, "type"));
	if(type != NULL && !strcmp(type, "offer"))
		calls_call_close_media(d);
}

static void handle_kick(const char *user_id) {
	calls_call_user_kicked(user_id);
	calls_user *u = calls_registry_user(user_id);
	while(u != NULL && u->devices != NULL) {
		calls_device *d = u->devices->data;
		gboolean last = (u->devices->next == NULL);
		calls_identity_drop(d, "kicked", TRUE, "kicked");
		if(last)
			break;
	}
}

static gboolean presence_request(item *it) {
	calls_request_kind kind;
	return calls_request_kind_of(it->body, &kind) &&
		(kind == CALLS_REQ_PRESENCE_SUBSCRIBE || kind == CALLS_REQ_PRESENCE_UNSUBSCRIBE);
}

/* Whether a request must wait: while its handle's register waits for the
 * database, every request does; while its presence_subscribe does, the
 * presence requests do (in order), and others go on. */
static gboolean must_wait(item *it) {
	calls_device *d = it->device;
	return d->registering || (presence_request(it) && (d->subscribing || g_hash_table_contains(parked, d)));
}

static void park(item *it) {
	GQueue *q = g_hash_table_lookup(parked, it->device);
	if(q == NULL) {
		q = g_queue_new();
		calls_device_ref(it->device);
		g_hash_table_insert(parked, it->device, q);
	}
	g_queue_push_tail(q, it);
}

/* Serves d's parked requests that need not wait any more (serve FALSE:
 * drops them all). A request served here may make the rest wait again. */
static void unpark(calls_device *d, gboolean serve) {
	GQueue *q = g_hash_table_lookup(parked, d);
	if(q == NULL)
		return;
	GQueue keep = G_QUEUE_INIT;
	gboolean presence_blocked = FALSE;
	item *it;
	while((it = g_queue_pop_head(q)) != NULL) {
		gboolean presence = presence_request(it);
		if(serve && (d->registering || (presence && (d->subscribing || presence_blocked)))) {
			presence_blocked |= presence;
			g_queue_push_tail(&keep, it);
			continue;
		}
		if(serve)
			handle_message(it);
		item_free(it);
	}
	if(g_queue_is_empty(&keep)) {
		g_queue_free(q);
		g_hash_table_remove(parked, d);
	} else {
		*q = keep;
	}
}

static void handle_read(calls_read *r) {
	calls_device *d = r->owner;
	/* The handle unregistered (and maybe registered again, as someone
	 * else) while the database answered: the answer is not for it any
	 * more, but its request still gets its one reply. */
	if(d != NULL && r->registration != 0 && (d->user == NULL || d->registration != r->registration)) {
		calls_error err = {0};
		calls_fail(&err, CALLS_ERR_STATE, "the handle unregistered while the database answered");
		JANUS_LOG(LOG_VERB, "[calls] %s by %s: %d %s\n", r->request ? r->request : "read",
			d->device_id ? d->device_id : "-", err.code, err.text);
		if(r->transaction != NULL)
			calls_out_reply(d, r->transaction, calls_error_body(r->request, &err), NULL);
	} else {
		r->finish(r);
	}
	if(d != NULL)
		unpark(d, TRUE);
}

/* Returns FALSE when the item waits (parked) and must not be freed. */
static gboolean handle(item *it, gboolean *running) {
	calls_error err = {0};
	switch(it->kind) {
		case ITEM_MESSAGE:
			if(must_wait(it)) {
				park(it);
				return FALSE;
			}
			handle_message(it);
			break;
		case ITEM_READ:
			handle_read(it->read);
			break;
		case ITEM_MEDIA_UP:
			calls_call_media_up(it->device);
			break;
		case ITEM_MEDIA_DOWN:
			calls_call_media_down(it->device);
			break;
		case ITEM_DETACH:
			/* A register still waiting for the database is dropped. */
			it->device->registering = FALSE;
			it->device->subscribing = FALSE;
			unpark(it->device, FALSE);
			calls_identity_drop(it->device, "gone", FALSE, "failed");
			break;
		case ITEM_TALKING_ON:
		case ITEM_TALKING_OFF:
			calls_group_talking(it->device, it->kind == ITEM_TALKING_ON);
			break;
		case ITEM_END_CALL:
			calls_call_end_by_admin(it->arg, &err);
			break;
		case ITEM_KICK:
			handle_kick(it->arg);
			break;
		case ITEM_STOP:
			*running = FALSE;
			break;
	}
	return TRUE;
}

/* Offers Janus refused go back to the state machine, which pushes them
 * again a little later (from a timer, so this does not spin). Returns the
 * next timer deadline if it changed anything, else 0. */
static gint64 retry_failed_offers(void) {
	calls_device *d = NULL;
	char *call_id = NULL;
	gboolean any = FALSE;
	gint64 next = 0;
	while(calls_out_take_failed_offer(&d, &call_id)) {
		if(!any)
			calls_state_lock();
		any = TRUE;
		calls_call_offer_failed(d, call_id);
		calls_device_unref(d);
		g_free(call_id);
	}
	if(any) {
		next = calls_call_tick();
		calls_state_unlock();
		calls_out_flush();
	}
	return next;
}

static gpointer handler_thread(gpointer data) {
	(void)data;
	gboolean running = TRUE;
	gint64 next = 0;
	while(running) {
		gint64 wait = G_USEC_PER_SEC;
		if(next > 0)
			wait = CLAMP(next - g_get_monotonic_time(), 0, G_USEC_PER_SEC);
		item *it = wait > 0 ? g_async_queue_timeout_pop(queue, (guint64)wait) : g_async_queue_try_pop(queue);
		calls_state_lock();
		gboolean owned = TRUE;
		if(it != NULL)
			owned = handle(it, &running);
		next = calls_call_tick();
		gint64 presence = calls_presence_tick();
		if(presence > 0 && (next == 0 || presence < next))
			next = presence;
		calls_state_unlock();
		calls_out_flush();
		gint64 retry = retry_failed_offers();
		if(retry > 0 && (next == 0 || retry < next))
			next = retry;
		if(it != NULL && owned)
			item_free(it);
	}
	return NULL;
}

int calls_handler_start(const calls_config *cfg) {
	config = cfg;
	queue = g_async_queue_new();
	parked = g_hash_table_new_full(NULL, NULL, (GDestroyNotify)calls_device_unref, NULL);
	GError *error = NULL;
	thread = g_thread_try_new("calls handler", handler_thread, NULL, &error);
	if(thread == NULL) {
		JANUS_LOG(LOG_FATAL, "[calls] cannot start the handler thread: %s\n", error ? error->message : "?");
		g_clear_error(&error);
		return -1;
	}
	return 0;
}

void calls_handler_stop(void) {
	if(thread == NULL)
		return;
	g_async_queue_push(queue, item_new(ITEM_STOP, NULL));
	g_thread_join(thread);
	thread = NULL;
	calls_state_lock();
	calls_call_end_all("server_shutdown");
	calls_presence_shutdown();
	calls_state_unlock();
	calls_out_flush();
}

void calls_handler_free(void) {
	if(queue == NULL)
		return;
	item *it;
	while((it = g_async_queue_try_pop(queue)) != NULL)
		item_free(it);
	GHashTableIter hi;
	gpointer value;
	g_hash_table_iter_init(&hi, parked);
	while(g_hash_table_iter_next(&hi, NULL, &value)) {
		GQueue *q = value;
		while((it = g_queue_pop_head(q)) != NULL)
			item_free(it);
		g_queue_free(q);
	}
	g_hash_table_destroy(parked);
	parked = NULL;
	g_async_queue_unref(queue);
	queue = NULL;
}

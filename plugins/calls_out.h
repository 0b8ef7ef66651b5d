/*
 * calls_out.h - everything the plugin says to the outside, in order.
 *
 * State changes happen on the handler thread with the state lock held; what
 * they produce (replies, notifications with or without JSEP, PeerConnection
 * closes, keyframe requests, event-handler notifications) is queued here and
 * flushed after the lock is released. Pushing a JSEP can make the Janus core
 * wait for a previous PeerConnection to finish cleaning up, and that must not
 * hold the lock that the Admin API and other readers take.
 *
 * The real delivery (calls_out_ops) is Janus's gateway in the plugin and a
 * recorder in the unit tests.
 */
#ifndef CALLS_OUT_H
#define CALLS_OUT_H

#include <glib.h>
#include <jansson.h>

struct calls_device;
struct calls_read;

typedef struct calls_out_ops {
	/* transaction is NULL for notifications; returns 0 when Janus took it */
	int (*push)(struct calls_device *d, const char *transaction, json_t *body, json_t *jsep);
	void (*close_pc)(struct calls_device *d);
	void (*pli)(struct calls_device *d);
	/* d may be NULL for events that belong to no handle */
	void (*notify)(struct calls_device *d, json_t *info);
	/* a record for the database (calls_store_write); doc is borrowed, and
	 * nothing changes it afterwards */
	void (*record)(const char *op, json_t *doc);
	/* a database read (calls_store_read), which takes r */
	void (*read)(struct calls_read *r);
	/* a push for the delivery thread (calls_pushd_submit); job is borrowed */
	void (*deliver)(json_t *job);
} calls_out_ops;

/* events: whether notifications for event handlers are wanted at all. */
void calls_out_init(const calls_out_ops *ops, gboolean events);

/* Queue; body is stolen, jsep is borrowed (a reference is taken). */
void calls_out_reply(struct calls_device *d, const char *transaction, json_t *body, json_t *jsep);
void calls_out_event(struct calls_device *d, json_t *body, json_t *jsep);
void calls_out_close_pc(struct calls_device *d);
void calls_out_pli(struct calls_device *d);
/* Dropped (and info released) when events are off. */
void calls_out_notify(struct calls_device *d, json_t *info);

/* A record for the database, written after the events before it went out;
 * doc is stolen, op is a static string. */
void calls_out_record(const char *op, json_t *doc);
/* A database read; it goes out after the records queued before it, so that
 * the store serves it after them. r is taken. */
/* d (may be NULL) asked it with request (its name, static; NULL for a
 * read of the plugin's own) and transaction; finish gets the answer on the
 * handler thread. */
void calls_out_read(struct calls_read *r, struct calls_device *d, const char *transaction,
	const char *request, void (*finish)(struct calls_read *r));

/* A push to a phone (calls_push_provider.h); job is stolen. */
void calls_out_deliver(json_t *job);

/* Deliver everything queued so far, in order. Handler thread only. */
void calls_out_flush(void);

/* An incoming_call offer that Janus refused during a flush: returns TRUE and
 * hands over a reference to the device and the call id (g_free), or FALSE
 * when there are no more. */
gboolean calls_out_take_failed_offer(struct calls_device **d, char **call_id);

#endif

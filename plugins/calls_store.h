/*
 * calls_store.h - the PostgreSQL thread: call records in, history out.
 *
 * One thread owns the only connection. Other threads hand it work and never
 * wait: calls_store_write() queues a record (a call's state, a device seen,
 * missed calls seen) and returns; calls_store_read() queues a query whose
 * answer comes back through the done callback, on the store thread, which
 * the handler turns into an item of its own queue.
 *
 * The connection runs libpq in non-blocking pipeline mode: queued writes go
 * out in batches of up to 200 with one sync (the call records of a batch as
 * one calls_put_calls() array), a batch is one transaction, and the next
 * batch leaves when its result is in. A batch unanswered for
 * timeout_ms, or a broken connection, makes the database unreachable: the
 * records of that batch and everything after it go to the spool
 * (calls_spool.h), reads answer "unavailable" at once, and the thread
 * reconnects with backoff. Once connected it replays the spool in order and
 * only then writes from memory again, so records reach the database in the
 * order they were made. Records are idempotent (sql/001_schema.sql), which is
 * what makes re-sending a batch after a lost answer safe.
 *
 * At connect the thread applies the migrations built into the plugin, and
 * after the first complete replay it closes the calls an earlier run of this
 * node left open (calls_close_orphans). Every 10 s it notes this run alive.
 */
#ifndef CALLS_STORE_H
#define CALLS_STORE_H

#include <glib.h>
#include <jansson.h>

#include "calls_config.h"

typedef enum calls_read_kind {
	CALLS_READ_PROFILE,    /* at register; result: {missed, privacy, contacts: [ids]} */
	CALLS_READ_HISTORY,    /* result: {entries, next?} */
	CALLS_READ_DELETE,     /* result: integer, entries removed */
	CALLS_READ_PEOPLE,     /* the users in ids; result: [profile] */
	CALLS_READ_CONTACTS,   /* user's contacts; result: [{user, last_seen?, display?, visible}],
	                        * by user id; visible: the user may see that contact */
	CALLS_READ_PUSH,       /* user's push registrations; result: [{device, platform, token,
	                        * voip}], the most recently registered first */
} calls_read_kind;

/* A profile, as CALLS_READ_PEOPLE gives it: {user, privacy, last_seen?,
 * display?, contacts?}; contacts (the ids the user added) only when privacy
 * is "contacts", where it decides who sees. */

typedef struct calls_read {
	calls_read_kind kind;
	char *user;
	/* history */
	int limit;
	gint64 before_us;          /* cursor position; the first page starts at the end of time */
	char before_id[37];
	gboolean missed_only;
	/* delete */
	GPtrArray *call_ids;       /* char*, owned */
	/* people */
	GPtrArray *ids;            /* char* user ids, owned */
	/* filled in before done is called */
	gboolean ok;               /* FALSE: the database did not answer (503) */
	json_t *result;
	/* the requester's: finish runs on the handler thread with the state
	 * lock held (calls_handler_read_done), then r is freed */
	void (*finish)(struct calls_read *r);
	gpointer owner;            /* a referenced calls_device, released with r */
	const char *request;       /* the request it answers (static), for the error of a stale answer */
	guint registration;        /* the owner's registration when asked, 0 if it had none
	                            * (set by calls_out_read) */
	guint64 stamp;             /* the requester's: a change counter when asked */
	char *transaction;
	gpointer data;
	GDestroyNotify data_free;
	gint64 deadline;           /* monotonic; set by calls_store_read */
} calls_read;

calls_read *calls_read_new(calls_read_kind kind, const char *user);
void calls_read_free(calls_read *r);

/* done runs on the store thread and takes over r. With no conninfo the store
 * is off: writes are dropped and reads answered unavailable. */
int calls_store_start(const calls_config *cfg, void (*done)(calls_read *r));
/* Waits up to timeout_ms for queued writes to reach the database, spools
 * what is left, and stops. */
void calls_store_stop(void);
gboolean calls_store_enabled(void);
/* Connected and caught up: a read now would be served (any thread). */
gboolean calls_store_ready(void);

/* Any thread. op: "call", "presence", "seen", "privacy", "contacts" or "push";
 * doc is borrowed, and must not change afterwards: the store thread
 * serialises it later. */
void calls_store_write(const char *op, json_t *doc);
/* Any thread; takes r; done(r) is called exactly once. */
void calls_store_read(calls_read *r);

/* For stats: records waiting in memory, and in the spool. */
guint calls_store_queued(void);
guint calls_store_spooled(void);

#endif

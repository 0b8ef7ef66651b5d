/*
 * recorder.h - a calls_out sink for unit tests: records what the plugin
 * would have sent, in order, so tests can assert on it.
 */
#ifndef CALLS_TEST_RECORDER_H
#define CALLS_TEST_RECORDER_H

#include <jansson.h>

#include "calls_registry.h"

typedef struct rec_entry {
	const char *kind;          /* "push", "refused" (a push that failed), "close_pc", "pli", "notify",
	                            * "record", "read", "deliver" (a push job) */
	calls_device *device;      /* not referenced: compare only */
	char *transaction;
	json_t *body;
	json_t *jsep;
} rec_entry;

void rec_install(gboolean events);   /* events: as the general.events setting */
/* The next n pushes with a JSEP are refused (as Janus does while a handle's
 * last PeerConnection is still being freed). */
void rec_fail_offers(int n);
void rec_reset(void);
guint rec_count(void);
rec_entry *rec_get(guint i);
/* Flushes calls_out, then finds the next unread push to d (in order) whose
 * body "calls" is what; NULL if none. Marks it read. */
rec_entry *rec_take(calls_device *d, const char *what);
/* Number of unread pushes to d. */
guint rec_pending(calls_device *d);
/* The oldest database read not taken yet, or NULL; the test answers it
 * (ok, result, finish) and frees it. */
struct calls_read *rec_take_read(void);
/* The next unread push job (calls_out_deliver) of type to device (NULL:
 * any), marked read; borrowed, NULL if none. */
json_t *rec_take_deliver(const char *type, const char *device);

/* Describes unread entries, for failure messages (g_free). */
char *rec_dump(void);

#endif

/*
 * calls_record.h - what the database keeps of a call, and the history cursor.
 *
 * Pure functions: the state machine calls calls_record_call() when a call
 * starts, is answered and ends, and the document goes through the outbox to
 * the store, which hands it to calls_put_call() in SQL (sql/001_schema.sql).
 * Each user's outcome is decided here, from how the call ended, so that the
 * table in docs/protocol.md has one implementation and unit tests.
 */
#ifndef CALLS_RECORD_H
#define CALLS_RECORD_H

#include <glib.h>
#include <jansson.h>

#include "calls_call.h"

/* This user's outcome of a direct call that ended with reason. answered: the
 * call was answered; declined: the callee declined it (also "busy"). */
const char *calls_outcome(gboolean caller, gboolean answered, const char *reason, gboolean declined);

/* {call_id, kind, media, caller, caller_device, callee, started_at, answered_at?,
 *  ended_at?, reason?, participants: [...]} of c as it is now (new reference). */
json_t *calls_record_call(const calls_call *c);

/* RFC 3339 UTC (g_free): with microseconds for the database, which orders
 * by them; micro FALSE: milliseconds, as the wire protocol writes times. */
char *calls_time_text(gint64 real_us, gboolean micro);

/* History cursor: "<microseconds>_<call id>". parse returns FALSE for
 * anything else; id receives the 36-character call id. */
char *calls_cursor_make(gint64 us, const char *call_id);
gboolean calls_cursor_parse(const char *cursor, gint64 *us, char id[37]);

#endif

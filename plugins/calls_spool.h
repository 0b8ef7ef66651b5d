/*
 * calls_spool.h - the outage spool: an append-only file of store records.
 *
 * While PostgreSQL is unreachable the store thread appends every write here
 * (one JSON record per line) and syncs it before it counts as kept; once the
 * database is back the records are replayed in order and the file is emptied.
 * The replay position lives in a small file beside the spool, so a process
 * killed in the middle of a replay resumes from the last batch the database
 * confirmed; records are idempotent, so replaying a batch twice is harmless.
 *
 * A record cut short by a crash (no final newline) was never synced and is
 * dropped when the spool is opened. Only the store thread touches a spool.
 */
#ifndef CALLS_SPOOL_H
#define CALLS_SPOOL_H

#include <sys/types.h>

#include <glib.h>

typedef struct calls_spool calls_spool;

/* Opens (creating dir and files as needed) the spool in dir. NULL with why
 * (g_free) on failure. */
calls_spool *calls_spool_open(const char *dir, char **why);
void calls_spool_close(calls_spool *s);

/* Appends one record (a line without its newline). Not durable until
 * calls_spool_sync(). 0 or -1 (errno set). */
int calls_spool_append(calls_spool *s, const char *line);
int calls_spool_sync(calls_spool *s);

/* Records appended and not yet consumed. */
guint calls_spool_pending(const calls_spool *s);

/* Up to max records from the replay position, oldest first (g_free each, or
 * g_ptr_array_unref the array); *end is the position after the last one. */
GPtrArray *calls_spool_peek(calls_spool *s, guint max, off_t *end);
/* The records up to end (from calls_spool_peek) are in the database. When
 * nothing is left, the spool is emptied. 0 or -1 (errno set). */
int calls_spool_consume(calls_spool *s, off_t end, guint count);

#endif

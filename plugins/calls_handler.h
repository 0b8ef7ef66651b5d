/*
 * calls_handler.h - the handler thread: the only writer of call state.
 *
 * Janus threads (handle_message on the core's pool, setup_media and
 * hangup_media on the handles' loops, destroy_session, the Admin API) never
 * change state themselves: they queue an item here and return. The handler
 * thread takes items one at a time, validates, applies them under the state
 * lock, fires timers, and flushes what they produced (calls_out) after
 * releasing the lock.
 *
 * Lock order: state lock, then a device's relay mutex or rate mutex. Nothing
 * that can block (pushing JSEP to Janus, I/O) runs under the state lock.
 */
#ifndef CALLS_HANDLER_H
#define CALLS_HANDLER_H

#include <jansson.h>

#include "calls_config.h"
#include "calls_registry.h"

int calls_handler_start(const calls_config *cfg);
/* Ends every call with server_shutdown and stops the thread. */
void calls_handler_stop(void);
/* After the store stopped (its last answers come through the queue): frees
 * what is left. */
void calls_handler_free(void);

/* Each takes a reference on d; message takes ownership of transaction, body and jsep. */
void calls_handler_message(calls_device *d, char *transaction, json_t *body, json_t *jsep);
void calls_handler_media(calls_device *d, gboolean up);
void calls_handler_detach(calls_device *d);
/* From a media thread: d's audio got loud or quiet (calls_sfu). */
void calls_handler_talking(calls_device *d, gboolean talking);
/* Admin actions, applied in order with the requests. */
void calls_handler_end_call(const char *call_id);
void calls_handler_kick(const char *user);

/* The store's done callback: the read's finish runs on the handler thread. */
struct calls_read;
void calls_handler_read_done(struct calls_read *r);

void calls_state_lock(void);
void calls_state_unlock(void);

#endif

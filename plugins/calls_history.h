/*
 * calls_history.h - the history requests: history, history_delete,
 * history_seen.
 *
 * They run on the handler thread like every request, but their answers come
 * from the store thread: a request queues a calls_read and returns; the reply
 * is sent from the read's finish callback, back on the handler thread. A
 * database that does not answer within database.timeout_ms makes them 503.
 */
#ifndef CALLS_HISTORY_H
#define CALLS_HISTORY_H

#include <jansson.h>

#include "calls_error.h"
#include "calls_registry.h"
#include "calls_request.h"

int calls_history_request(calls_request_kind kind, calls_device *d, const char *transaction,
	json_t *body, calls_error *err);

#endif

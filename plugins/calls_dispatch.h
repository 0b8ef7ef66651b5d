/*
 * calls_dispatch.h - from a request body to the handler that serves it.
 *
 * The order of checks is the protocol's: rate limit (429), then shape (400),
 * then registration (401), then JSEP (409), then the handler's own checks.
 * A failure returns its code with nothing changed and nothing queued; the
 * caller replies and logs.
 */
#ifndef CALLS_DISPATCH_H
#define CALLS_DISPATCH_H

#include <jansson.h>

#include "calls_config.h"
#include "calls_error.h"
#include "calls_registry.h"

void calls_dispatch_init(const calls_config *cfg);
int calls_dispatch(calls_device *d, const char *transaction, json_t *body, json_t *jsep,
	gboolean rate_limited, calls_error *err);
/* The error reply body for a failed request. */
json_t *calls_dispatch_error_body(json_t *body, const calls_error *err);

#endif

/*
 * calls_error.h - the one table of error codes of janus.plugin.calls.
 *
 * Every failed request is answered with one of these codes and one message,
 * and changes nothing. Handlers fill a calls_error and return its code; the
 * dispatcher (calls_handler.c) is the only place that turns it into a reply
 * and logs it, so each error is logged exactly once.
 */
#ifndef CALLS_ERROR_H
#define CALLS_ERROR_H

#include <glib.h>
#include <jansson.h>

typedef enum calls_error_code {
	CALLS_OK = 0,
	CALLS_ERR_INVALID = 400,
	CALLS_ERR_UNAUTHORIZED = 401,
	CALLS_ERR_FORBIDDEN = 403,
	CALLS_ERR_NOT_FOUND = 404,
	CALLS_ERR_STATE = 409,
	CALLS_ERR_TOO_LARGE = 413,
	CALLS_ERR_RATE_LIMITED = 429,
	CALLS_ERR_INTERNAL = 500,
	CALLS_ERR_UNAVAILABLE = 503,
} calls_error_code;

typedef struct calls_error {
	int code;
	char text[256];
} calls_error;

/* The protocol's name for a code ("invalid_request", ...), "internal" if unknown. */
const char *calls_error_name(int code);

/* Records code and message in err (if not NULL) and returns code, so that a
 * handler can write `return calls_fail(err, CALLS_ERR_STATE, "...")`. */
int calls_fail(calls_error *err, int code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* The reply to a failed request: {"calls": "error", "request", "error_code", "error"}. */
json_t *calls_error_body(const char *request, const calls_error *err);

#endif

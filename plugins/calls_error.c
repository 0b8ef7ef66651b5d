/*
 * calls_error.c - names and construction of protocol errors (see calls_error.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "calls_error.h"

const char *calls_error_name(int code) {
	switch(code) {
		case CALLS_ERR_INVALID: return "invalid_request";
		case CALLS_ERR_UNAUTHORIZED: return "unauthorized";
		case CALLS_ERR_FORBIDDEN: return "forbidden";
		case CALLS_ERR_NOT_FOUND: return "not_found";
		case CALLS_ERR_STATE: return "invalid_state";
		case CALLS_ERR_TOO_LARGE: return "too_large";
		case CALLS_ERR_RATE_LIMITED: return "rate_limited";
		case CALLS_ERR_UNAVAILABLE: return "unavailable";
		default: return "internal";
	}
}

json_t *calls_error_body(const char *request, const calls_error *err) {
	return json_pack("{sssosiss}", "calls", "error", "request", request ? json_string(request) : json_null(),
		"error_code", err->code, "error", err->text);
}

int calls_fail(calls_error *err, int code, const char *fmt, ...) {
	if(err != NULL) {
		va_list ap;
		va_start(ap, fmt);
		err->code = code;
		vsnprintf(err->text, sizeof(err->text), fmt, ap);
		va_end(ap);
	}
	return code;
}

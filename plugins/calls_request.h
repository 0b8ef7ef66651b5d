/*
 * calls_request.h - what a well-formed request is.
 *
 * One table lists every request the plugin knows: its fields (as Janus
 * json_parameter rows), which of them are ids of which kind, whether it needs
 * a registered device, and what JSEP it needs. calls_request_parse() applies
 * the table and answers 400 for anything malformed, before any state is
 * looked at; the JSEP rule is separate because it is a 409 (state), checked
 * after registration (401).
 */
#ifndef CALLS_REQUEST_H
#define CALLS_REQUEST_H

#include <glib.h>
#include <jansson.h>

#include "calls_error.h"

typedef enum calls_request_kind {
	CALLS_REQ_REGISTER,
	CALLS_REQ_UNREGISTER,
	CALLS_REQ_CALL,
	CALLS_REQ_ACCEPT,
	CALLS_REQ_DECLINE,
	CALLS_REQ_HANGUP,
	CALLS_REQ_UPDATE,
	CALLS_REQ_MEDIA,
	CALLS_REQ_CALL_INFO,
	CALLS_REQ_HISTORY,
	CALLS_REQ_HISTORY_DELETE,
	CALLS_REQ_HISTORY_SEEN,
	CALLS_REQ_PRESENCE_SUBSCRIBE,
	CALLS_REQ_PRESENCE_UNSUBSCRIBE,
	CALLS_REQ_PRIVACY,
	CALLS_REQ_CONTACTS_ADD,
	CALLS_REQ_CONTACTS_REMOVE,
	CALLS_REQ_CONTACTS,
	CALLS_REQ_PUSH_REGISTER,
	CALLS_REQ_PUSH_UNREGISTER,
	CALLS_REQ_GROUP_CALL,
	CALLS_REQ_JOIN,
	CALLS_REQ_INVITE,
	CALLS_REQ_LEAVE,
	CALLS_REQ_SUBSCRIBE,
} calls_request_kind;

/* The longest push token accepted (APNs tokens are 64 hex digits, FCM
 * registration tokens about 160 characters; a webhook token is the app's). */
#define CALLS_MAX_PUSH_TOKEN 4096

/* history_delete, presence_subscribe, presence_unsubscribe, contacts_add and
 * contacts_remove take at most this many ids (more is 413). */
#define CALLS_MAX_LIST 100
/* The longest display name, in bytes. */
#define CALLS_MAX_DISPLAY_BYTES 128

typedef enum calls_jsep_rule {
	CALLS_JSEP_FORBIDDEN,   /* a JSEP here is 409 */
	CALLS_JSEP_OFFER,       /* an offer is required */
	CALLS_JSEP_ANSWER,      /* an answer is required */
	CALLS_JSEP_ANY,         /* an offer or an answer is required */
} calls_jsep_rule;

typedef struct calls_request_spec {
	const char *name;
	calls_request_kind kind;
	calls_jsep_rule jsep;
} calls_request_spec;

/* Checks the body of a request: an object, within max_bytes (body plus SDP,
 * as compact JSON), a known "request", fields of the right types, ids of the
 * right shape. auth_none selects the register form ({user} or {token}).
 * Returns 0 with *spec set, or CALLS_ERR_INVALID with err filled. */
int calls_request_parse(json_t *body, json_t *jsep, gboolean auth_none, size_t max_bytes,
	const calls_request_spec **spec, calls_error *err);

/* 409 unless jsep fits the request's rule. */
int calls_request_check_jsep(const calls_request_spec *spec, json_t *jsep, calls_error *err);

/* The kind of request a body names, without checking its fields; FALSE
 * when it names none the plugin knows. */
gboolean calls_request_kind_of(json_t *body, calls_request_kind *kind);

/* The request name of a body, or NULL when it has none (for error replies). */
const char *calls_request_name(json_t *body);

gboolean calls_valid_user_id(const char *s);
gboolean calls_valid_device_id(const char *s);
gboolean calls_valid_call_id(const char *s);

#endif

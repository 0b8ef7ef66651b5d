/*
 * calls_dispatch.c - request routing (see calls_dispatch.h).
 */
#include "calls_call.h"
#include "calls_contacts.h"
#include "calls_group.h"
#include "calls_dispatch.h"
#include "calls_history.h"
#include "calls_identity.h"
#include "calls_presence.h"
#include "calls_push.h"
#include "calls_request.h"

static const calls_config *config;

void calls_dispatch_init(const calls_config *cfg) {
	config = cfg;
}

int calls_dispatch(calls_device *d, const char *transaction, json_t *body, json_t *jsep,
		gboolean rate_limited, calls_error *err) {
	const calls_request_spec *spec = NULL;
	if(rate_limited)
		return calls_fail(err, CALLS_ERR_RATE_LIMITED, "more than %d requests a second", config->rate_limit);
	if(calls_request_parse(body, jsep, config->auth_none, (size_t)config->max_message_bytes, &spec, err) != 0)
		return err->code;
	if(spec->kind != CALLS_REQ_REGISTER && d->user == NULL && !calls_group_unregistered_ok(spec->kind, d))
		return calls_fail(err, CALLS_ERR_UNAUTHORIZED, "register first");
	if(calls_request_check_jsep(spec, jsep, err) != 0)
		return err->code;
	if(calls_group_takes(spec->kind, d, body))
		return calls_group_request(spec->kind, d, transaction, body, jsep, err);
	switch(spec->kind) {
		case CALLS_REQ_REGISTER:
			return calls_identity_register(d, transaction, body, err);
		case CALLS_REQ_UNREGISTER:
			return calls_identity_unregister_request(d, transaction, err);
		case CALLS_REQ_HISTORY:
		case CALLS_REQ_HISTORY_DELETE:
		case CALLS_REQ_HISTORY_SEEN:
			return calls_history_request(spec->kind, d, transaction, body, err);
		case CALLS_REQ_PRESENCE_SUBSCRIBE:
		case CALLS_REQ_PRESENCE_UNSUBSCRIBE:
			return calls_presence_request(spec->kind, d, transaction, body, err);
		case CALLS_REQ_PRIVACY:
		case CALLS_REQ_CONTACTS_ADD:
		case CALLS_REQ_CONTACTS_REMOVE:
		case CALLS_REQ_CONTACTS:
			return calls_contacts_request(spec->kind, d, transaction, body, err);
		case CALLS_REQ_PUSH_REGISTER:
		case CALLS_REQ_PUSH_UNREGISTER:
			return calls_push_request(spec->kind, d, transaction, body, err);
		default:
			return calls_call_request(spec->kind, d, transaction, body, jsep, err);
	}
}

json_t *calls_dispatch_error_body(json_t *body, const calls_error *err) {
	return calls_error_body(calls_request_name(body), err);
}

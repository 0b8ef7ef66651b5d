/*
 * calls_push.h - push registrations: push_register and push_unregister.
 *
 * A registration is a device's token at a provider (webhook, fcm, apns;
 * voip or not), kept in PostgreSQL per user and device
 * (calls_push_registrations) and written like every record: through the
 * outbox to the store, spooled while the database is away. Without a
 * database both requests are 503. Delivery of pushes builds on these rows.
 */
#ifndef CALLS_PUSH_H
#define CALLS_PUSH_H

#include <jansson.h>

#include "calls_error.h"
#include "calls_registry.h"
#include "calls_request.h"

int calls_push_request(calls_request_kind kind, calls_device *d, const char *transaction,
	json_t *body, calls_error *err);

#endif

/*
 * calls_identity.h - register and unregister: who a device is.
 *
 * Turns a register request into a registry entry (checking the JWT, or
 * taking the user id as given with auth = "none"), hands out ICE servers, and
 * takes a device out again on unregister, replacement, kick or detach, ending
 * what it took part in. Handler thread, state lock held.
 */
#ifndef CALLS_IDENTITY_H
#define CALLS_IDENTITY_H

#include <jansson.h>

#include "calls_config.h"
#include "calls_error.h"
#include "calls_registry.h"

void calls_identity_init(const calls_config *cfg);

int calls_identity_register(calls_device *d, const char *transaction, json_t *body, calls_error *err);
int calls_identity_unregister_request(calls_device *d, const char *transaction, calls_error *err);

/* Takes d out of the registry and its calls. reason: why (in the event to
 * event handlers, and in `unregistered` to d itself when tell); others: the
 * reason the other side of its call hears. */
void calls_identity_drop(calls_device *d, const char *reason, gboolean tell, const char *others);

#endif

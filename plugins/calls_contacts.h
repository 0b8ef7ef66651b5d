/*
 * calls_contacts.h - a user's contacts and privacy setting: privacy,
 * contacts_add, contacts_remove, contacts.
 *
 * Both live in PostgreSQL (calls_contacts, calls_users.privacy); changes are
 * records through the outbox, so they survive an outage in the spool, and
 * are applied to the presence table at once, which tells subscribers what
 * they may now see. The contacts list is a read, answered from the store
 * thread; without a database all four are 503.
 */
#ifndef CALLS_CONTACTS_H
#define CALLS_CONTACTS_H

#include <jansson.h>

#include "calls_config.h"
#include "calls_error.h"
#include "calls_registry.h"
#include "calls_request.h"

void calls_contacts_init(const calls_config *cfg);

int calls_contacts_request(calls_request_kind kind, calls_device *d, const char *transaction,
	json_t *body, calls_error *err);

#endif

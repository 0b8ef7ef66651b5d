/*
 * calls_push.h - push registrations, and which pushes a call sends to whom.
 *
 * A registration is a device's token at a provider (webhook, fcm, apns;
 * voip or not), kept in PostgreSQL per user and device
 * (calls_push_registrations) and written like every record: through the
 * outbox to the store, spooled while the database is away. Without a
 * database both requests are 503; a platform that no configured provider
 * can deliver to is refused with 400.
 *
 * When a call starts ringing, the callee's registrations are read through
 * the store (never on this thread). Each device of the callee that is not
 * online gets one incoming_call push, on one of its registrations
 * (calls_push_pick); those devices are remembered in the call. When the
 * ringing stops without an answer on such a device, it gets call_ended, and
 * if the callee missed the call, missed_call. The pushes leave through
 * calls_out to the delivery thread (calls_pushd.h). Runs on the handler
 * thread with the state lock held, like the call state machine.
 */
#ifndef CALLS_PUSH_H
#define CALLS_PUSH_H

#include <jansson.h>

#include "calls_call.h"
#include "calls_config.h"
#include "calls_error.h"
#include "calls_registry.h"
#include "calls_request.h"

/* cfg decides which platforms can be delivered to; real is the clock
 * (unix microseconds), injected for tests. */
void calls_push_init(const calls_config *cfg, gint64 (*real)(void));

int calls_push_request(calls_request_kind kind, calls_device *d, const char *transaction,
	json_t *body, calls_error *err);

/* Pushes are possible at all: a database and a provider. */
gboolean calls_push_on(void);
gboolean calls_push_deliverable(const char *platform);

/* Which of regs (one device's registrations, the most recent first) carries
 * a push of type, or NULL: a ring (incoming_call, call_ended) prefers a voip
 * registration, a missed_call notice one that is not voip, and never goes to
 * an APNs voip token (PushKit would have to ring for it). */
json_t *calls_push_pick(json_t *regs, const char *type);

/* What a ring pushes about, for one-to-one and group calls alike. */
typedef struct calls_push_call {
	const char *call_id, *from, *display, *to;
	gboolean video;
	json_t *group;               /* {title, members} of a group call, or NULL */
	gint64 ring_started;         /* real time, microseconds: the ring ends ring_timeout after */
	json_t **pushed;             /* where the devices pushed to are remembered */
} calls_push_call;

/* Reads user's registrations for a group call's ring; finish gets them
 * (r->data is data, freed with g_free). */
struct calls_read;
void calls_push_lookup_user(const char *user, char *data, void (*finish)(struct calls_read *r));
guint calls_push_ring_call(const calls_push_call *c, json_t *regs);
void calls_push_ring_over_call(const calls_push_call *c, const char *except, const char *reason, gboolean missed);

/* c started ringing: ask the store for its callee's registrations. The
 * answer goes to calls_call_pushes_read(). */
void calls_push_lookup(calls_call *c);
/* regs: the callee's registrations. Sends incoming_call to each device not
 * online and remembers it in c; returns how many devices. */
guint calls_push_ring(calls_call *c, json_t *regs);
/* c stops ringing. Every device sent incoming_call gets call_ended, except
 * except (the device id that answered or declined, or NULL); with missed, also
 * missed_call. reason is the one a ringing device hears in `ended`. Each at
 * most once: c forgets the devices. */
void calls_push_ring_over(calls_call *c, const char *except, const char *reason, gboolean missed);

#endif

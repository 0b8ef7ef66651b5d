/*
 * calls_call.h - the call state machine (one-to-one calls).
 *
 * A call rings every device of the callee, becomes active when one device
 * accepts, and ends once; after that it is kept for an hour so that call_info
 * can tell a late device how it ended. Everything here runs on the handler
 * thread with the state lock held and speaks only through calls_out, so the
 * unit tests drive it with a fake clock and read what it said.
 */
#ifndef CALLS_CALL_H
#define CALLS_CALL_H

#include <glib.h>
#include <jansson.h>

#include "calls_config.h"
#include "calls_error.h"
#include "calls_registry.h"
#include "calls_request.h"

typedef enum calls_call_state {
	CALLS_CALL_RINGING,
	CALLS_CALL_ACTIVE,
	CALLS_CALL_ENDED,
} calls_call_state;

typedef struct calls_ring {
	calls_device *device;        /* reference held */
	gboolean offered;            /* got incoming_call with the JSEP offer */
	gboolean told;               /* got any incoming_call for this call */
} calls_ring;

typedef struct calls_call {
	char *id;
	calls_call_state state;
	char *caller_user, *caller_display, *callee_user;
	char *caller_device, *callee_device;   /* ids, for the call record */
	calls_device *caller;        /* reference held until the call ends */
	calls_device *callee;        /* the device that answered, reference held */
	gboolean video;
	json_t *offer;               /* the caller's offer, for devices that ring late */
	GList *rings;                /* calls_ring*, callee devices told of the call */
	gboolean ringing_sent;
	gint64 ring_deadline;        /* monotonic, microseconds */
	gint64 grace_caller;         /* the caller's PeerConnection is down: the call fails then */
	gint64 grace_callee;         /* the same for the answering device */
	gint64 keyframe_again;       /* both legs up: ask both for a keyframe once more then */
	gint64 answered_mono, ended_mono, forget_at;
	gint64 started_at, answered_at, ended_at;   /* real time, microseconds */
	const char *reason;          /* why it ended (static string) */
	gboolean declined;           /* the callee declined (also as busy) */
	gboolean push_lookup;        /* the callee's push registrations are being read */
	json_t *pushed;              /* [{device, regs}] sent incoming_call by push (calls_push.c) */
} calls_call;

/* now_mono is the monotonic clock, injected for tests. */
typedef gint64 (*calls_clock)(void);

void calls_call_init(const calls_config *cfg, calls_clock mono, calls_clock real);
void calls_call_clear(void);

/* Handles call, accept, decline, hangup, update, media and call_info for a
 * registered device. On success the reply and all events are queued in
 * calls_out and 0 is returned; on failure nothing changed. */
int calls_call_request(calls_request_kind kind, calls_device *d, const char *transaction,
	json_t *body, json_t *jsep, calls_error *err);

/* The callee's push registrations for c, read at ring time (NULL: the
 * database did not answer): devices not online are pushed, and a callee
 * that is reachable in no way makes the call end as unavailable. */
void calls_call_pushes_read(calls_call *c, json_t *regs);

/* d has just registered: it rings for calls that ring its user. */
void calls_call_device_registered(calls_device *d);
/* d leaves (unregister, replaced, handle gone, kicked): its call ends for the
 * other side with other_reason ("hangup", "failed", "kicked"). */
void calls_call_device_leaving(calls_device *d, const char *other_reason);
/* d's PeerConnection came up / went down (setup_media / hangup_media). */
void calls_call_media_up(calls_device *d);
void calls_call_media_down(calls_device *d);

/* The handle's client sent an offer with a request that was refused: Janus
 * took it anyway, so close that PeerConnection (no-op if d has media). */
void calls_call_close_media(calls_device *d);
/* An admin kicked user: calls still ringing it end for their callers. */
void calls_call_user_kicked(const char *user);

/* d has left a group call: close its PeerConnection, and once Janus is
 * done with it, offer it the calls that wait for it. */
void calls_call_release_device(calls_device *d);

/* Janus refused the offer of call_id pushed to d: it is pushed again later. */
void calls_call_offer_failed(calls_device *d, const char *call_id);

/* Fires due timers; returns the next deadline (monotonic) or 0 if none. */
gint64 calls_call_tick(void);

/* Admin: end a call for everyone with reason "kicked". 0 or 404. */
int calls_call_end_by_admin(const char *call_id, calls_error *err);
/* Ends every call that is not over, everyone hearing reason (static). */
void calls_call_end_all(const char *reason);
/* Admin: [{call_id, kind, state, participants}] of calls not ended. */
json_t *calls_call_list(void);
guint calls_call_active_count(void);
guint calls_call_participant_count(void);

calls_call *calls_call_find(const char *id);

#endif

/*
 * calls_group.h - the group call state machine.
 *
 * A group call has members (users invited, who ring on every device until
 * they join, decline or time out) and participants (devices in the call,
 * each publishing through calls_sfu and receiving on a second, subscriber
 * handle). It lives while anyone is in it. Like calls_call.c, everything
 * runs on the handler thread with the state lock held and speaks through
 * calls_out; the design is in docs/protocol.md, "Group calls".
 */
#ifndef CALLS_GROUP_H
#define CALLS_GROUP_H

#include <glib.h>
#include <jansson.h>

#include "calls_call.h"
#include "calls_config.h"
#include "calls_error.h"
#include "calls_registry.h"
#include "calls_request.h"

void calls_group_init(const calls_config *cfg, calls_clock mono, calls_clock real);
void calls_group_clear(void);

/* Whether a request is for the group state machine: the group requests,
 * and the shared ones (decline, hangup, update, media, call_info) naming a
 * group call or sent by a subscriber handle. */
gboolean calls_group_takes(calls_request_kind kind, calls_device *d, json_t *body);
/* A request a handle may send without registering (subscribe, and update
 * on a subscriber handle). */
gboolean calls_group_unregistered_ok(calls_request_kind kind, calls_device *d);
int calls_group_request(calls_request_kind kind, calls_device *d, const char *transaction,
	json_t *body, json_t *jsep, calls_error *err);

/* d registered: it rings for the group calls that ring its user. */
void calls_group_device_registered(calls_device *d);
/* d goes (unregister, detach, kick): it leaves its call with reason, and a
 * subscriber handle stops receiving. */
void calls_group_device_leaving(calls_device *d, const char *reason);
/* d's PeerConnection; FALSE when d has nothing to do with a group call. */
gboolean calls_group_media_up(calls_device *d);
gboolean calls_group_media_down(calls_device *d);
/* What the Admin API's handle_info shows of d's place in a group call, or
 * NULL (state lock held). */
json_t *calls_group_handle_info(calls_device *d);
/* From calls_sfu, through the handler queue. */
void calls_group_talking(calls_device *d, gboolean talking);
/* An admin kicked user: its ringing stops (its devices leave separately). */
void calls_group_user_kicked(const char *user);

gint64 calls_group_tick(void);

int calls_group_end_by_admin(const char *call_id, calls_error *err);
void calls_group_end_all(const char *reason);
/* Appends {call_id, kind, state, participants} of each group call on. */
void calls_group_list(json_t *entries);
guint calls_group_active_count(void);
guint calls_group_participant_count(void);
gboolean calls_group_exists(const char *call_id);
/* A group call that has not ended. */
gboolean calls_group_live(const char *call_id);

#endif

/*
 * calls_call.c - one-to-one call state machine (see calls_call.h).
 *
 * A handle can negotiate one PeerConnection at a time, so a device holds the
 * JSEP offer of at most one call: the call it is in, or one ringing call
 * (device->offered). Any other call rings it with `waiting: true` and no JSEP.
 * When the device is free again and Janus has torn its old PeerConnection
 * down (hangup_media plus SETTLE_WAIT, or RELEASE_WAIT if hangup_media never
 * comes), the oldest call still ringing it is offered, with its JSEP; this is
 * what makes end-and-accept work. A call that starts while a device's last
 * PeerConnection is closing rings it the same way, after that short wait.
 *
 * Who hears what when a call ends is decided in one place, end_call(): the
 * device that caused the end (the one that hung up or declined) gets only its
 * reply; everyone else gets `ended` with the reason meant for their side.
 */
#include <string.h>

#include <debug.h>
#include <utils.h>

#include "calls_call.h"
#include "calls_group.h"
#include "calls_presence.h"
#include "calls_push.h"
#include "calls_out.h"
#include "calls_record.h"
#include "calls_relay.h"

/* How long ended calls are kept for call_info. */
#define FORGET_AFTER ((gint64)config->call_info_ttl * G_USEC_PER_SEC)
/* How long to wait for Janus to report a closed PeerConnection. */
#define RELEASE_WAIT (3 * (gint64)G_USEC_PER_SEC)
/* After it did, how long until the handle takes a new offer. */
#define SETTLE_WAIT (250 * (gint64)G_TIME_SPAN_MILLISECOND)
/* Browsers ignore a keyframe request that comes within 300 ms of their last
 * keyframe (libwebrtc's minimum keyframe interval), and a sender's first
 * keyframe goes out as soon as its own leg is up, before the other leg can
 * take it: ask once more after this. */
#define KEYFRAME_AGAIN (400 * (gint64)G_TIME_SPAN_MILLISECOND)
/* How long before pushing an offer again that Janus refused. */
#define RETRY_WAIT (200 * (gint64)G_TIME_SPAN_MILLISECOND)

static const calls_config *config;
static calls_clock mono_now, real_now;
static GHashTable *calls;        /* id -> calls_call*, ended ones included */
/* Scans (timers, a device's calls, admin counts) look only at the calls not
 * ended: ended ones are kept an hour for call_info, and there are far more
 * of them. They wait in end order, which is also the order they are
 * forgotten in. */
static GHashTable *live;         /* calls_call* not ended (not owned) */
static GQueue ended = G_QUEUE_INIT;
/* The earliest ring or grace deadline of the live calls when they were last
 * scanned, lowered as new ones are set: the tick, which runs after every
 * request, scans them only once something is due. 0: none. */
static gint64 next_due;
/* Devices (referenced) waiting for hangup_media or to settle after it, in
 * deadline order: the tick, which runs after every request, looks only at
 * the first, and a device leaves from where it is (release_at). */
static GSequence *releasing;

static void call_free(calls_call *c) {
	g_free(c->id);
	g_free(c->caller_user);
	g_free(c->caller_display);
	g_free(c->callee_user);
	g_free(c->caller_device);
	g_free(c->callee_device);
	if(c->caller)
		calls_device_unref(c->caller);
	if(c->callee)
		calls_device_unref(c->callee);
	if(c->offer)
		json_decref(c->offer);
	for(GList *l = c->rings; l != NULL; l = l->next) {
		calls_ring *r = l->data;
		calls_device_unref(r->device);
		g_free(r);
	}
	g_list_free(c->rings);
	if(c->pushed)
		json_decref(c->pushed);
	g_free(c);
}

void calls_call_init(const calls_config *cfg, calls_clock mono, calls_clock real) {
	config = cfg;
	mono_now = mono;
	real_now = real;
	calls = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)call_free);
	live = g_hash_table_new(NULL, NULL);
	g_queue_init(&ended);
	next_due = 0;
	releasing = g_sequence_new((GDestroyNotify)calls_device_unref);
	calls_group_init(cfg, mono, real);
}

/* A live call got a ring or grace deadline. */
static void due_at(gint64 deadline) {
	if(next_due == 0 || deadline < next_due)
		next_due = deadline;
}

void calls_call_clear(void) {
	calls_group_clear();
	if(calls != NULL) {
		/* Linked relay slots reference each other: break the cycles. */
		GHashTableIter it;
		gpointer value;
		g_hash_table_iter_init(&it, live);
		while(g_hash_table_iter_next(&it, &value, NULL)) {
			calls_call *c = value;
			if(c->caller)
				calls_relay_unlink(c->caller);
			if(c->callee)
				calls_relay_unlink(c->callee);
		}
		g_hash_table_destroy(live);
		g_hash_table_destroy(calls);
	}
	calls = NULL;
	live = NULL;
	g_queue_clear(&ended);
	if(releasing != NULL) {
		GSequenceIter *at = g_sequence_get_begin_iter(releasing);
		for(; !g_sequence_iter_is_end(at); at = g_sequence_iter_next(at)) {
			calls_device *d = g_sequence_get(at);
			d->release_at = NULL;
			d->release_deadline = 0;
		}
		g_sequence_free(releasing);
		releasing = NULL;
	}
}

calls_call *calls_call_find(const char *id) {
	return calls ? g_hash_table_lookup(calls, id) : NULL;
}

/* ---- what goes out ---- */

static gint64 duration_of(calls_call *c) {
	if(c->answered_mono == 0)
		return -1;
	gint64 end = c->ended_mono ? c->ended_mono : mono_now();
	return (end - c->answered_mono) / G_USEC_PER_SEC;
}

static json_t *body_new(const char *what, calls_call *c) {
	return json_pack("{ssss}", "calls", what, "call_id", c->id);
}

static void send_ended(calls_device *d, calls_call *c, const char *reason) {
	json_t *b = body_new("ended", c);
	json_object_set_new(b, "reason", json_string(reason));
	gint64 dur = duration_of(c);
	if(dur >= 0)
		json_object_set_new(b, "duration", json_integer(dur));
	calls_out_event(d, b, NULL);
}

static void send_incoming(calls_device *d, calls_call *c, gboolean with_offer) {
	json_t *b = body_new("incoming_call", c);
	json_object_set_new(b, "from", json_string(c->caller_user));
	json_object_set_new(b, "display", json_string(c->caller_display));
	json_object_set_new(b, "video", json_boolean(c->video));
	if(!with_offer)
		json_object_set_new(b, "waiting", json_true());
	calls_out_event(d, b, with_offer ? c->offer : NULL);
}

/* ---- devices and their PeerConnections ---- */

/* In a call, or holding a ringing call's offer: other calls can only wait. */
static gboolean busy(calls_device *d) {
	return d->call != NULL || d->offered != NULL || d->part != NULL;
}

/* Free to be offered a call: not busy, and Janus is done with its last
 * PeerConnection (see settle()). */
static gboolean media_free(calls_device *d) {
	return !busy(d) && !d->media_claimed && d->release_deadline == 0;
}

static calls_ring *find_ring(calls_call *c, calls_device *d) {
	for(GList *l = c->rings; l != NULL; l = l->next) {
		calls_ring *r = l->data;
		if(r->device == d)
			return r;
	}
	return NULL;
}

static gint by_deadline(gconstpointer a, gconstpointer b, gpointer unused) {
	(void)unused;
	const calls_device *x = a, *y = b;
	if(x->release_deadline != y->release_deadline)
		return x->release_deadline < y->release_deadline ? -1 : 1;
	return x < y ? -1 : (x > y);
}

/* d stops waiting: out of the sequence, which drops its reference. */
static void unwake(calls_device *d) {
	if(d->release_at == NULL)
		return;
	GSequenceIter *at = d->release_at;
	d->release_at = NULL;
	d->release_deadline = 0;
	g_sequence_remove(at);
}

/* Makes the tick look at d again at deadline. */
static void wake_at(calls_device *d, gint64 deadline) {
	calls_device_ref(d);
	unwake(d);
	d->release_deadline = deadline;
	d->release_at = g_sequence_insert_sorted(releasing, d, by_deadline, NULL);
}

/* d no longer needs the PeerConnection it negotiated: have Janus close it.
 * hangup_media will say when it is down; if it never does, we stop waiting
 * after RELEASE_WAIT. */
static void release_media(calls_device *d) {
	if(!d->media_claimed)
		return;
	calls_out_close_pc(d);
	wake_at(d, mono_now() + RELEASE_WAIT);
}

/* Janus reported d's PeerConnection down. Its core frees the ICE agent a
 * moment later, and an offer pushed before that fails: wait SETTLE_WAIT. */
static void settle(calls_device *d, gint64 wait) {
	d->media_claimed = FALSE;
	wake_at(d, mono_now() + wait);
}

static void media_released(calls_device *d) {
	d->media_claimed = FALSE;
	unwake(d);
}

/* The caller hears "ringing" once, when the first device is told. */
static void told(calls_call *c, calls_ring *r) {
	r->told = TRUE;
	if(!c->ringing_sent && c->caller != NULL) {
		c->ringing_sent = TRUE;
		calls_out_event(c->caller, body_new("ringing", c), NULL);
	}
}

static void ring_with_offer(calls_call *c, calls_ring *r) {
	r->offered = TRUE;
	r->device->offered = c;
	r->device->media_claimed = TRUE;
	send_incoming(r->device, c, TRUE);
	told(c, r);
}

/* d is free: the oldest call still ringing it without its offer gets it. */
static void offer_waiting(calls_device *d) {
	if(!media_free(d) || d->user == NULL)
		return;
	calls_call *best = NULL;
	calls_ring *best_ring = NULL;
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, live);
	while(g_hash_table_iter_next(&it, &value, NULL)) {
		calls_call *c = value;
		if(c->state != CALLS_CALL_RINGING)
			continue;
		calls_ring *r = find_ring(c, d);
		if(r != NULL && !r->offered && (best == NULL || c->started_at < best->started_at)) {
			best = c;
			best_ring = r;
		}
	}
	if(best != NULL)
		ring_with_offer(best, best_ring);
}

/* Takes d off c's ring list; its offer, if it held one, is withdrawn. */
static void drop_ring(calls_call *c, calls_ring *r) {
	calls_device *d = r->device;
	c->rings = g_list_remove(c->rings, r);
	if(d->offered == c) {
		d->offered = NULL;
		release_media(d);
	}
	calls_device_unref(d);
	g_free(r);
}

/* Rings d for c: with the offer when d is free; as a waiting call when it is
 * busy; and when its last PeerConnection is still closing, not yet (the
 * offer follows as soon as it is down, see offer_waiting). FALSE if d can
 * take the call in none of these ways. */
static gboolean ring_device(calls_call *c, calls_device *d) {
	if(find_ring(c, d) != NULL || d == c->caller)
		return TRUE;
	if(busy(d) && !config->call_waiting)
		return FALSE;
	calls_ring *r = g_new0(calls_ring, 1);
	calls_device_ref(d);
	r->device = d;
	c->rings = g_list_append(c->rings, r);
	if(busy(d)) {
		send_incoming(d, c, FALSE);
		told(c, r);
	} else if(media_free(d)) {
		ring_with_offer(c, r);
	}
	return TRUE;
}

/* ---- ending ---- */

/* Ends c. by is the device whose request ended it (it hears only its reply),
 * or NULL. caller_reason / ring_reason / callee_reason: what the caller's
 * device, the devices still ringing and the answering device are told (NULL:
 * nothing). */
static void end_call(calls_call *c, const char *reason, calls_device *by,
		const char *caller_reason, const char *ring_reason, const char *callee_reason) {
	if(c->state == CALLS_CALL_ENDED)
		return;
	gboolean was_ringing = c->state == CALLS_CALL_RINGING;
	c->state = CALLS_CALL_ENDED;
	c->reason = reason;
	c->ended_mono = mono_now();
	c->ended_at = real_now();
	c->forget_at = c->ended_mono + FORGET_AFTER;
	c->grace_caller = c->grace_callee = c->keyframe_again = 0;
	g_hash_table_remove(live, c);
	g_queue_push_tail(&ended, c);
	calls_out_record("call", calls_record_call(c));
	if(c->caller != NULL && c->caller != by && caller_reason != NULL)
		send_ended(c->caller, c, caller_reason);
	if(c->callee != NULL && c->callee != by && callee_reason != NULL)
		send_ended(c->callee, c, callee_reason);
	GList *freed = NULL;
	while(c->rings != NULL) {
		calls_ring *r = c->rings->data;
		if(r->device != by && ring_reason != NULL && r->told)
			send_ended(r->device, c, ring_reason);
		calls_device_ref(r->device);
		freed = g_list_prepend(freed, r->device);
		drop_ring(c, r);
	}
	calls_device *legs[2] = {c->caller, c->callee};
	for(int i = 0; i < 2; i++) {
		calls_device *d = legs[i];
		if(d == NULL)
			continue;
		calls_relay_unlink(d);
		if(d->call == c)
			d->call = NULL;
		release_media(d);
		calls_device_ref(d);
		freed = g_list_prepend(freed, d);
	}
	json_t *info = json_pack("{sssssssI}", "event", "call_ended", "call_id", c->id,
		"reason", reason, "duration", (json_int_t)MAX(duration_of(c), 0));
	calls_out_notify(c->caller, info);
	/* The call outlives its devices (call_info), but must not keep them. */
	for(int i = 0; i < 2; i++) {
		if(legs[i] != NULL)
			calls_device_unref(legs[i]);
	}
	c->caller = NULL;
	c->callee = NULL;
	if(was_ringing) {
		/* Phones woken for it stop ringing; the callee missed it unless
		 * it declined (the same rule as its history outcome). */
		gboolean missed = !strcmp(calls_outcome(FALSE, FALSE, reason, c->declined), "missed");
		/* A woken phone that declined knows it stopped ringing. */
		const char *decliner = (by != NULL && by->user != NULL && !strcmp(by->user->id, c->callee_user)) ?
			by->device_id : NULL;
		calls_push_ring_over(c, decliner, ring_reason ? ring_reason : reason, missed);
	}
	calls_presence_touch(c->caller_user);
	calls_presence_touch(c->callee_user);
	/* Devices that left the call may now take a call that waits for them. */
	for(GList *l = freed; l != NULL; l = l->next) {
		offer_waiting(l->data);
		calls_device_unref(l->data);
	}
	g_list_free(freed);
	/* What stays for call_info is small: the offer is of no use any more
	 * (the push state went with the ring, calls_push_ring_over). */
	if(c->offer != NULL) {
		json_decref(c->offer);
		c->offer = NULL;
	}
}

void calls_call_release_device(calls_device *d) {
	release_media(d);
}

/* The caller cancelled, or left, before an answer. */
static void cancel_call(calls_call *c, calls_device *by, const char *reason) {
	end_call(c, reason, by, NULL, reason, NULL);
}

/* ---- requests ---- */

/* The call a request names, checked against the requesting device. */
static int lookup(calls_device *d, json_t *body, calls_call **out, calls_error *err) {
	const char *id = json_string_value(json_object_get(body, "call_id"));
	calls_call *c = calls_call_find(id);
	if(c == NULL)
		return calls_fail(err, CALLS_ERR_NOT_FOUND, "no call %s", id);
	const char *user = d->user->id;
	if(strcmp(user, c->caller_user) != 0 && strcmp(user, c->callee_user) != 0)
		return calls_fail(err, CALLS_ERR_FORBIDDEN, "you are not part of call %s", id);
	*out = c;
	return 0;
}

static int live_lookup(calls_device *d, json_t *body, calls_call **out, calls_error *err) {
	int rc = lookup(d, body, out, err);
	if(rc == 0 && (*out)->state == CALLS_CALL_ENDED)
		return calls_fail(err, CALLS_ERR_NOT_FOUND, "call %s has ended", (*out)->id);
	return rc;
}

static void reply(calls_device *d, const char *transaction, const char *what, calls_call *c) {
	calls_out_reply(d, transaction, body_new(what, c), NULL);
}

static int do_call(calls_device *d, const char *transaction, json_t *body, json_t *jsep, calls_error *err) {
	const char *to = json_string_value(json_object_get(body, "to"));
	if(d->call != NULL || d->part != NULL)
		return calls_fail(err, CALLS_ERR_STATE, "this device is already in a call");
	if(d->offered != NULL)
		return calls_fail(err, CALLS_ERR_STATE, "this device is ringing for call %s: answer or decline it first", d->offered->id);
	if(!strcmp(to, d->user->id))
		return calls_fail(err, CALLS_ERR_INVALID, "you cannot call yourself");
	calls_call *c = g_new0(calls_call, 1);
	c->id = janus_random_uuid();
	c->state = CALLS_CALL_RINGING;
	c->caller_user = g_strdup(d->user->id);
	c->caller_display = g_strdup(d->user->display);
	c->callee_user = g_strdup(to);
	c->caller_device = g_strdup(d->device_id);
	calls_device_ref(d);
	c->caller = d;
	c->video = json_is_true(json_object_get(body, "video"));
	c->offer = json_pack("{sOsO}", "type", json_object_get(jsep, "type"), "sdp", json_object_get(jsep, "sdp"));
	c->started_at = real_now();
	c->ring_deadline = mono_now() + (gint64)config->ring_timeout * G_USEC_PER_SEC;
	g_hash_table_insert(calls, c->id, c);
	g_hash_table_add(live, c);
	due_at(c->ring_deadline);
	d->call = c;
	d->media_claimed = TRUE;
	d->audio = TRUE;
	d->video = c->video;
	reply(d, transaction, "calling", c);
	calls_out_notify(d, json_pack("{sssssssssb}", "event", "call_started", "call_id", c->id,
		"from", c->caller_user, "to", c->callee_user, "video", c->video));
	calls_out_record("call", calls_record_call(c));
	calls_user *callee = calls_registry_user(to);
	gboolean online = callee != NULL && callee->devices != NULL;
	gboolean rung = FALSE;
	for(GList *l = online ? callee->devices : NULL; l != NULL; l = l->next)
		rung |= ring_device(c, l->data);
	if(online && !rung) {
		/* Busy on every device it is online with. */
		end_call(c, "busy", NULL, "busy", NULL, NULL);
	} else if(calls_push_on()) {
		/* Its other devices may be phones a push wakes; whether it is
		 * unavailable is known once its registrations are read. */
		c->push_lookup = TRUE;
		calls_push_lookup(c);
	} else if(!online) {
		end_call(c, "unavailable", NULL, "unavailable", NULL, NULL);
	}
	return 0;
}

void calls_call_pushes_read(calls_call *c, json_t *regs) {
	if(!c->push_lookup)
		return;
	c->push_lookup = FALSE;
	if(c->state != CALLS_CALL_RINGING)
		return;
	if(regs == NULL)
		JANUS_LOG(LOG_WARN, "[calls] call %s: the push registrations of %s could not be read: no pushes\n",
			c->id, c->callee_user);
	guint pushed = regs ? calls_push_ring(c, regs) : 0;
	if(pushed == 0 && c->rings == NULL)
		end_call(c, "unavailable", NULL, "unavailable", NULL, NULL);
}

static int do_accept(calls_device *d, const char *transaction, json_t *body, json_t *jsep, calls_error *err) {
	calls_call *c = NULL;
	if(live_lookup(d, body, &c, err) != 0)
		return err->code;
	if(strcmp(d->user->id, c->callee_user) != 0)
		return calls_fail(err, CALLS_ERR_STATE, "only the callee can accept call %s", c->id);
	if(c->state != CALLS_CALL_RINGING)
		return calls_fail(err, CALLS_ERR_STATE, "call %s is no longer ringing", c->id);
	if(d->call != NULL || d->part != NULL)
		return calls_fail(err, CALLS_ERR_STATE, "this device is in another call: end it first");
	calls_ring *r = find_ring(c, d);
	if(r == NULL || !r->offered)
		return calls_fail(err, CALLS_ERR_STATE, "this device has not received the offer of call %s", c->id);
	c->state = CALLS_CALL_ACTIVE;
	c->answered_mono = mono_now();
	c->answered_at = real_now();
	/* The accepting device moves from the ring list into the call. */
	c->rings = g_list_remove(c->rings, r);
	calls_device_unref(r->device);
	g_free(r);
	d->offered = NULL;
	d->call = c;
	calls_device_ref(d);
	c->callee = d;
	c->callee_device = g_strdup(d->device_id);
	calls_out_record("call", calls_record_call(c));
	calls_presence_touch(c->caller_user);
	calls_presence_touch(c->callee_user);
	d->audio = TRUE;
	d->video = c->video;
	reply(d, transaction, "accepted", c);
	/* The caller typed a user id; now it also learns whom it reached. */
	json_t *acc = body_new("accepted", c);
	json_object_set_new(acc, "user", json_string(d->user->id));
	json_object_set_new(acc, "display", json_string(d->user->display));
	calls_out_event(c->caller, acc, jsep);
	calls_push_ring_over(c, d->device_id, "answered_elsewhere", FALSE);
	while(c->rings != NULL) {
		calls_ring *other = c->rings->data;
		calls_device *od = other->device;
		calls_device_ref(od);
		if(other->told)
			send_ended(od, c, "answered_elsewhere");
		drop_ring(c, other);
		offer_waiting(od);
		calls_device_unref(od);
	}
	calls_relay_link(c->caller, d);
	calls_out_pli(c->caller);
	calls_out_pli(d);
	calls_out_notify(d, json_pack("{ssssss}", "event", "call_answered", "call_id", c->id, "device", d->device_id));
	return 0;
}

static int do_decline(calls_device *d, const char *transaction, json_t *body, const char *what, calls_error *err) {
	calls_call *c = NULL;
	if(live_lookup(d, body, &c, err) != 0)
		return err->code;
	if(strcmp(d->user->id, c->callee_user) != 0)
		return calls_fail(err, CALLS_ERR_STATE, "the caller ends call %s with hangup", c->id);
	if(c->state != CALLS_CALL_RINGING)
		return calls_fail(err, CALLS_ERR_STATE, "call %s is no longer ringing", c->id);
	const char *why = json_string_value(json_object_get(body, "reason"));
	const char *reason = (why != NULL && !strcmp(why, "busy")) ? "busy" : "declined";
	reply(d, transaction, what, c);
	c->declined = TRUE;
	end_call(c, reason, d, reason, "declined_elsewhere", NULL);
	return 0;
}

static int do_hangup(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	calls_call *c = NULL;
	if(live_lookup(d, body, &c, err) != 0)
		return err->code;
	if(d == c->caller) {
		reply(d, transaction, "hungup", c);
		if(c->state == CALLS_CALL_RINGING)
			cancel_call(c, d, "cancelled");
		else
			end_call(c, "hangup", d, NULL, NULL, "hangup");
		return 0;
	}
	if(d == c->callee) {
		reply(d, transaction, "hungup", c);
		end_call(c, "hangup", d, "hangup", NULL, NULL);
		return 0;
	}
	if(c->state == CALLS_CALL_RINGING && !strcmp(d->user->id, c->callee_user))
		return do_decline(d, transaction, body, "hungup", err);
	return calls_fail(err, CALLS_ERR_STATE, "this device is not in call %s", c->id);
}

/* The device of an active call on the other side of d. */
static int other_leg(calls_device *d, calls_call *c, calls_device **other, calls_error *err) {
	if(d != c->caller && d != c->callee)
		return calls_fail(err, CALLS_ERR_STATE, "this device is not in call %s", c->id);
	if(c->state != CALLS_CALL_ACTIVE)
		return calls_fail(err, CALLS_ERR_STATE, "call %s has not been answered", c->id);
	*other = (d == c->caller) ? c->callee : c->caller;
	return 0;
}

static int do_update(calls_device *d, const char *transaction, json_t *body, json_t *jsep, calls_error *err) {
	calls_call *c = NULL;
	calls_device *other = NULL;
	if(live_lookup(d, body, &c, err) != 0 || other_leg(d, c, &other, err) != 0)
		return err->code;
	const char *type = json_string_value(json_object_get(jsep, "type"));
	const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
	if(!strcmp(type, "offer") && sdp != NULL && strstr(sdp, "m=video") != NULL)
		c->video = TRUE;
	d->media_claimed = TRUE;
	reply(d, transaction, "updated", c);
	calls_out_event(other, body_new("update", c), jsep);
	if(!strcmp(type, "answer")) {
		/* A renegotiation or ICE restart just completed: both senders
		 * start from a keyframe. */
		calls_out_pli(c->caller);
		calls_out_pli(c->callee);
	}
	return 0;
}

static int do_media(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	calls_call *c = NULL;
	if(live_lookup(d, body, &c, err) != 0)
		return err->code;
	if(d != c->caller && d != c->callee)
		return calls_fail(err, CALLS_ERR_STATE, "this device is not in call %s", c->id);
	d->audio = json_is_true(json_object_get(body, "audio"));
	d->video = json_is_true(json_object_get(body, "video"));
	json_t *b = body_new("media_set", c);
	json_object_set_new(b, "audio", json_boolean(d->audio));
	json_object_set_new(b, "video", json_boolean(d->video));
	calls_out_reply(d, transaction, b, NULL);
	calls_device *other = (d == c->caller) ? c->callee : c->caller;
	if(other != NULL) {
		json_t *ev = body_new("media_state", c);
		json_object_set_new(ev, "user", json_string(d->user->id));
		json_object_set_new(ev, "audio", json_boolean(d->audio));
		json_object_set_new(ev, "video", json_boolean(d->video));
		calls_out_event(other, ev, NULL);
	}
	return 0;
}

static const char *state_name(calls_call_state s) {
	switch(s) {
		case CALLS_CALL_RINGING: return "ringing";
		case CALLS_CALL_ACTIVE: return "active";
		default: return "ended";
	}
}

static int do_call_info(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	calls_call *c = NULL;
	if(lookup(d, body, &c, err) != 0)
		return err->code;
	json_t *b = body_new("call_info", c);
	json_object_set_new(b, "state", json_string(state_name(c->state)));
	json_object_set_new(b, "video", json_boolean(c->video));
	json_object_set_new(b, "from", json_string(c->caller_user));
	json_object_set_new(b, "to", json_string(c->callee_user));
	char *started = calls_time_text(c->started_at, FALSE);
	json_object_set_new(b, "started_at", json_string(started));
	g_free(started);
	if(c->state == CALLS_CALL_ENDED)
		json_object_set_new(b, "reason", json_string(c->reason));
	gint64 dur = duration_of(c);
	if(dur >= 0)
		json_object_set_new(b, "duration", json_integer(dur));
	calls_out_reply(d, transaction, b, NULL);
	return 0;
}

int calls_call_request(calls_request_kind kind, calls_device *d, const char *transaction,
		json_t *body, json_t *jsep, calls_error *err) {
	switch(kind) {
		case CALLS_REQ_CALL: return do_call(d, transaction, body, jsep, err);
		case CALLS_REQ_ACCEPT: return do_accept(d, transaction, body, jsep, err);
		case CALLS_REQ_DECLINE: return do_decline(d, transaction, body, "declined", err);
		case CALLS_REQ_HANGUP: return do_hangup(d, transaction, body, err);
		case CALLS_REQ_UPDATE: return do_update(d, transaction, body, jsep, err);
		case CALLS_REQ_MEDIA: return do_media(d, transaction, body, err);
		case CALLS_REQ_CALL_INFO: return do_call_info(d, transaction, body, err);
		default: return calls_fail(err, CALLS_ERR_INTERNAL, "not a call request");
	}
}

/* ---- devices coming and going ---- */

static gint older_first(gconstpointer a, gconstpointer b) {
	gint64 ta = ((const calls_call *)a)->started_at, tb = ((const calls_call *)b)->started_at;
	return ta < tb ? -1 : ta > tb;
}

/* The calls still ringing user (callee NULL: every call not ended), oldest
 * first. A list, because ending or ringing them changes the table. */
static GList *calls_of(const char *callee) {
	GList *out = NULL;
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, live);
	while(g_hash_table_iter_next(&it, &value, NULL)) {
		calls_call *c = value;
		if(callee == NULL ? c->state != CALLS_CALL_ENDED :
				(c->state == CALLS_CALL_RINGING && !strcmp(c->callee_user, callee)))
			out = g_list_prepend(out, c);
	}
	return g_list_sort(out, older_first);
}

void calls_call_device_registered(calls_device *d) {
	/* Oldest first, so that the oldest call gets the offer. */
	GList *ringing = calls_of(d->user->id);
	for(GList *l = ringing; l != NULL; l = l->next) {
		calls_call *c = l->data;
		ring_device(c, d);
	}
	g_list_free(ringing);
	calls_group_device_registered(d);
}

void calls_call_device_leaving(calls_device *d, const char *other_reason) {
	calls_group_device_leaving(d, other_reason);
	calls_call *c = d->call;
	if(c != NULL && c->state != CALLS_CALL_ENDED) {
		if(d == c->caller && c->state == CALLS_CALL_RINGING)
			cancel_call(c, d, !strcmp(other_reason, "kicked") ? "kicked" : "cancelled");
		else if(d == c->caller)
			end_call(c, other_reason, d, NULL, NULL, other_reason);
		else
			end_call(c, other_reason, d, other_reason, NULL, NULL);
	}
	/* Stop ringing it anywhere else. */
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, live);
	while(g_hash_table_iter_next(&it, &value, NULL)) {
		calls_call *rc = value;
		calls_ring *r = (rc->state == CALLS_CALL_RINGING) ? find_ring(rc, d) : NULL;
		if(r != NULL)
			drop_ring(rc, r);
	}
	/* Its PeerConnection, if any, is being closed: the releasing list keeps
	 * waiting for that, so that a device registering again on this handle
	 * is not offered a call onto a PeerConnection about to go. */
}

/* The grace deadline of d's leg of c. */
static gint64 *grace_of(calls_call *c, calls_device *d) {
	return d == c->caller ? &c->grace_caller : &c->grace_callee;
}

void calls_call_media_up(calls_device *d) {
	if(calls_group_media_up(d))
		return;
	d->pc_up = TRUE;
	calls_call *c = d->call;
	if(c == NULL || c->state != CALLS_CALL_ACTIVE)
		return;
	*grace_of(c, d) = 0;
	calls_relay_media_up(d);
	/* A leg that starts needs a keyframe from the other side, and the other
	 * side from it. */
	calls_out_pli(c->caller);
	calls_out_pli(c->callee);
	if(c->caller != NULL && c->caller->pc_up && c->callee != NULL && c->callee->pc_up) {
		c->keyframe_again = mono_now() + KEYFRAME_AGAIN;
		due_at(c->keyframe_again);
	}
}

void calls_call_media_down(calls_device *d) {
	if(calls_group_media_down(d))
		return;
	d->pc_up = FALSE;
	calls_call *c = d->call;
	if(c != NULL && c->state == CALLS_CALL_ACTIVE) {
		d->media_claimed = FALSE;
		gint64 *grace = grace_of(c, d);
		if(*grace == 0) {
			*grace = mono_now() + (gint64)config->ice_grace * G_USEC_PER_SEC;
			due_at(*grace);
		}
		return;
	}
	if(d->offered != NULL) {
		/* The handle lost the offer it held (closed by its client, or by
		 * Janus): ring it again with the offer once Janus is done. */
		calls_ring *r = find_ring(d->offered, d);
		if(r != NULL)
			r->offered = FALSE;
		d->offered = NULL;
		settle(d, SETTLE_WAIT);
		return;
	}
	if(c != NULL) {
		/* Calling out: this is the handle's previous PeerConnection going
		 * (the new one is not up before an answer); the new offer's claim
		 * stays. */
		return;
	}
	settle(d, SETTLE_WAIT);
}

void calls_call_close_media(calls_device *d) {
	if(busy(d) || d->media_claimed)
		return;
	d->media_claimed = TRUE;
	release_media(d);
}

void calls_call_user_kicked(const char *user) {
	calls_group_user_kicked(user);
	GList *ringing = calls_of(user);
	for(GList *l = ringing; l != NULL; l = l->next)
		end_call(l->data, "kicked", NULL, "kicked", "kicked", NULL);
	g_list_free(ringing);
}

void calls_call_offer_failed(calls_device *d, const char *call_id) {
	calls_call *c = calls_call_find(call_id);
	calls_ring *r = (c != NULL && c->state == CALLS_CALL_RINGING) ? find_ring(c, d) : NULL;
	if(r == NULL || !r->offered)
		return;
	/* Janus could not take the offer on this handle (its last
	 * PeerConnection was not gone yet): try again shortly. */
	r->offered = FALSE;
	if(d->offered == c)
		d->offered = NULL;
	settle(d, RETRY_WAIT);
}

/* ---- timers ---- */

static void fail_call(calls_call *c) {
	/* Both sides hear "failed": the other one because its peer vanished, the
	 * failed one (if it is still registered) so that its UI stops. */
	end_call(c, "failed", NULL, "failed", NULL, "failed");
}

gint64 calls_call_tick(void) {
	gint64 now = mono_now(), next = 0;
#define CONSIDER(t) do { if((t) > 0 && (next == 0 || (t) < next)) next = (t); } while(0)
	if(next_due != 0 && now >= next_due) {
		GList *due = NULL;
		next_due = 0;
		GHashTableIter it;
		gpointer value;
		g_hash_table_iter_init(&it, live);
		while(g_hash_table_iter_next(&it, &value, NULL)) {
			calls_call *c = value;
			if(c->keyframe_again > 0 && now >= c->keyframe_again) {
				c->keyframe_again = 0;
				calls_out_pli(c->caller);
				calls_out_pli(c->callee);
			}
			gboolean fire = (c->state == CALLS_CALL_RINGING && now >= c->ring_deadline) ||
				(c->state == CALLS_CALL_ACTIVE && ((c->grace_caller > 0 && now >= c->grace_caller) ||
					(c->grace_callee > 0 && now >= c->grace_callee)));
			if(fire) {
				due = g_list_prepend(due, c);
			} else if(c->state == CALLS_CALL_RINGING) {
				due_at(c->ring_deadline);
			} else {
				if(c->keyframe_again > 0)
					due_at(c->keyframe_again);
				if(c->grace_caller > 0)
					due_at(c->grace_caller);
				if(c->grace_callee > 0)
					due_at(c->grace_callee);
			}
		}
		for(GList *l = due; l != NULL; l = l->next) {
			calls_call *c = l->data;
			if(c->state == CALLS_CALL_RINGING)
				end_call(c, "no_answer", NULL, "no_answer", "missed", NULL);
			else
				fail_call(c);
		}
		g_list_free(due);
	}
	CONSIDER(next_due);
	CONSIDER(calls_group_tick());
	/* Ended calls leave in the order they ended, which is the order of
	 * their forget_at. */
	calls_call *old;
	while((old = g_queue_peek_head(&ended)) != NULL && now >= old->forget_at) {
		g_queue_pop_head(&ended);
		g_hash_table_remove(calls, old->id);
	}
	if(old != NULL)
		CONSIDER(old->forget_at);
	GSequenceIter *first;
	while(!g_sequence_iter_is_end(first = g_sequence_get_begin_iter(releasing))) {
		calls_device *d = g_sequence_get(first);
		if(now < d->release_deadline) {
			CONSIDER(d->release_deadline);
			break;
		}
		calls_device_ref(d);
		/* A device that took up a new call meanwhile keeps that claim. */
		gboolean keep = busy(d);
		gboolean claimed = d->media_claimed;
		media_released(d);
		if(keep)
			d->media_claimed = claimed;
		else
			offer_waiting(d);
		calls_device_unref(d);
	}
#undef CONSIDER
	return next;
}

/* ---- admin ---- */

void calls_call_end_all(const char *reason) {
	calls_group_end_all(reason);
	GList *open_calls = calls_of(NULL);
	for(GList *l = open_calls; l != NULL; l = l->next)
		end_call(l->data, reason, NULL, reason, reason, reason);
	g_list_free(open_calls);
}

int calls_call_end_by_admin(const char *call_id, calls_error *err) {
	if(calls_group_exists(call_id))
		return calls_group_end_by_admin(call_id, err);
	calls_call *c = calls_call_find(call_id);
	if(c == NULL || c->state == CALLS_CALL_ENDED)
		return calls_fail(err, CALLS_ERR_NOT_FOUND, "no call %s", call_id ? call_id : "");
	end_call(c, "kicked", NULL, "kicked", "kicked", "kicked");
	return 0;
}

json_t *calls_call_list(void) {
	json_t *entries = json_array();
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, live);
	while(g_hash_table_iter_next(&it, &value, NULL)) {
		calls_call *c = value;
		if(c->state == CALLS_CALL_ENDED)
			continue;
		json_array_append_new(entries, json_pack("{sssssss[ss]}", "call_id", c->id, "kind", "direct",
			"state", state_name(c->state), "participants", c->caller_user, c->callee_user));
	}
	calls_group_list(entries);
	return entries;
}

guint calls_call_active_count(void) {
	return g_hash_table_size(live) + calls_group_active_count();
}

guint calls_call_participant_count(void) {
	guint n = 0;
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, live);
	while(g_hash_table_iter_next(&it, &value, NULL)) {
		calls_call *c = value;
		if(c->state != CALLS_CALL_ENDED)
			n += (c->caller != NULL) + (c->callee != NULL);
	}
	return n + calls_group_participant_count();
}

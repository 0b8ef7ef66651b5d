/*
 * test_call.c - the one-to-one call state machine, driven through the
 * request dispatcher with a fake clock, reading what it would have sent.
 */
#include <string.h>

#include "calls_call.h"
#include "calls_dispatch.h"
#include "calls_identity.h"
#include "calls_out.h"
#include "calls_contacts.h"
#include "calls_presence.h"
#include "calls_push.h"
#include "calls_store.h"
#include "call_harness.h"
#include "recorder.h"

static char *start_call(calls_device *from, const char *to, gboolean video) {
	g_assert_cmpint(req(from, json_pack("{sssssb}", "request", "call", "to", to, "video", video), sdp("offer", video)), ==, 0);
	rec_entry *e = expect(from, "calling");
	g_assert_cmpstr(e->transaction, ==, "tx");
	return g_strdup(json_string_value(json_object_get(e->body, "call_id")));
}

static int call_req(calls_device *d, const char *request, const char *id, json_t *jsep) {
	return req(d, json_pack("{ssss}", "request", request, "call_id", id), jsep);
}

/* ---- tests ---- */

TEST(test_ring_every_device_and_answer) {
	calls_device *a = reg("alice", "a1");
	calls_device *b1 = reg("bob", "b1"), *b2 = reg("bob", "b2");
	char *id = start_call(a, "bob", TRUE);
	rec_entry *i1 = expect(b1, "incoming_call"), *i2 = expect(b2, "incoming_call");
	g_assert_nonnull(i1->jsep);
	g_assert_nonnull(i2->jsep);
	g_assert_cmpstr(json_string_value(json_object_get(i1->jsep, "type")), ==, "offer");
	g_assert_cmpstr(json_string_value(json_object_get(i1->body, "from")), ==, "alice");
	g_assert_true(json_is_true(json_object_get(i1->body, "video")));
	g_assert_null(json_object_get(i1->body, "waiting"));
	expect(a, "ringing");
	expect_nothing(a);
	g_assert_cmpint(call_req(b2, "accept", id, sdp("answer", TRUE)), ==, 0);
	expect(b2, "accepted");
	rec_entry *acc = expect(a, "accepted");
	g_assert_cmpstr(json_string_value(json_object_get(acc->jsep, "type")), ==, "answer");
	expect_ended(b1, "answered_elsewhere");
	g_assert_cmpuint(count_kind("close_pc", b1), ==, 1);
	g_assert_true(calls_relay_linked(a));
	g_assert_true(calls_relay_linked(b2));
	g_assert_cmpuint(count_kind("pli", a), >=, 1);
	g_assert_cmpuint(count_kind("pli", b2), >=, 1);
	/* call_info while active */
	g_assert_cmpint(call_req(b2, "call_info", id, NULL), ==, 0);
	g_assert_cmpstr(json_string_value(json_object_get(expect(b2, "call_info")->body, "state")), ==, "active");
	advance(7);
	g_assert_cmpint(call_req(a, "hangup", id, NULL), ==, 0);
	expect(a, "hungup");
	rec_entry *end = expect(b2, "ended");
	g_assert_cmpstr(json_string_value(json_object_get(end->body, "reason")), ==, "hangup");
	g_assert_cmpint(json_integer_value(json_object_get(end->body, "duration")), ==, 7);
	expect_nothing(a);
	expect_nothing(b1);
	g_assert_false(calls_relay_linked(a));
	g_assert_false(calls_relay_linked(b2));
	/* ended calls stay known to call_info, with reason and duration */
	g_assert_cmpint(call_req(b1, "call_info", id, NULL), ==, 0);
	rec_entry *info = expect(b1, "call_info");
	g_assert_cmpstr(json_string_value(json_object_get(info->body, "state")), ==, "ended");
	g_assert_cmpstr(json_string_value(json_object_get(info->body, "reason")), ==, "hangup");
	g_assert_cmpint(json_integer_value(json_object_get(info->body, "duration")), ==, 7);
	/* but no longer to anything else */
	g_assert_cmpint(call_req(a, "hangup", id, NULL), ==, 404);
	advance(3601);
	g_assert_cmpint(call_req(b1, "call_info", id, NULL), ==, 404);
	g_free(id);
}

TEST(test_decline_and_busy) {
	calls_device *a = reg("alice", NULL), *b1 = reg("bob", NULL), *b2 = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	expect(a, "ringing");
	g_assert_cmpint(call_req(b1, "decline", id, NULL), ==, 0);
	expect(b1, "declined");
	rec_entry *ended = rec_take(a, "ended");
	g_assert_nonnull(ended);
	g_assert_cmpstr(json_string_value(json_object_get(ended->body, "reason")), ==, "declined");
	/* never answered: no duration */
	g_assert_null(json_object_get(ended->body, "duration"));
	expect(b1, "incoming_call");
	expect(b2, "incoming_call");
	expect_ended(b2, "declined_elsewhere");
	expect_nothing(b1);
	g_free(id);
	/* declined as busy */
	id = start_call(a, "bob", FALSE);
	g_assert_cmpint(req(b2, json_pack("{ssssss}", "request", "decline", "call_id", id, "reason", "busy"), NULL), ==, 0);
	expect_ended(a, "busy");
	g_free(id);
}

TEST(test_cancel) {
	calls_device *a = reg("alice", NULL), *b1 = reg("bob", NULL), *b2 = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	expect(a, "ringing");
	g_assert_cmpint(call_req(a, "hangup", id, NULL), ==, 0);
	expect(a, "hungup");
	expect_ended(b1, "cancelled");
	expect_ended(b2, "cancelled");
	expect_nothing(a);
	/* the caller's own PeerConnection (offer without answer) is closed too */
	g_assert_cmpuint(count_kind("close_pc", a), ==, 1);
	g_assert_cmpint(call_req(b1, "accept", id, sdp("answer", FALSE)), ==, 404);
	g_free(id);
}

TEST(test_ring_timeout) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	expect(a, "ringing");
	advance(29);
	expect_nothing(a);
	advance(1);
	expect_ended(a, "no_answer");
	expect(b, "incoming_call");
	expect_ended(b, "missed");
	g_assert_cmpint(call_req(a, "call_info", id, NULL), ==, 0);
	g_assert_cmpstr(json_string_value(json_object_get(expect(a, "call_info")->body, "reason")), ==, "no_answer");
	g_free(id);
}

TEST(test_unavailable_and_busy) {
	calls_device *a = reg("alice", NULL);
	char *id = start_call(a, "nobody", FALSE);
	expect_ended(a, "unavailable");
	expect_nothing(a);
	g_free(id);
	/* a device in a call with call waiting off: busy */
	cfg.call_waiting = FALSE;
	calls_device *b = reg("bob", NULL), *c = reg("carol", NULL);
	id = start_call(c, "bob", FALSE);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 0);
	expect(b, "incoming_call");
	char *id2 = start_call(a, "bob", FALSE);
	expect_ended(a, "busy");
	g_assert_null(rec_take(a, "ringing"));
	g_assert_null(rec_take(b, "incoming_call"));
	g_free(id);
	g_free(id2);
}

TEST(test_call_waiting_end_and_accept) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL), *c = reg("carol", NULL);
	char *first = start_call(c, "bob", FALSE);
	expect(b, "incoming_call");
	g_assert_cmpint(call_req(b, "accept", first, sdp("answer", FALSE)), ==, 0);
	calls_call_media_up(b);
	calls_call_media_up(c);
	char *second = start_call(a, "bob", TRUE);
	rec_entry *w = expect(b, "incoming_call");
	g_assert_true(json_is_true(json_object_get(w->body, "waiting")));
	g_assert_null(w->jsep);
	expect(a, "ringing");
	/* accepting while still in the first call is refused */
	g_assert_cmpint(call_req(b, "accept", second, sdp("answer", TRUE)), ==, 409);
	/* end the first call: the second rings again, with its offer, once the
	 * old PeerConnection is down */
	g_assert_cmpint(call_req(b, "hangup", first, NULL), ==, 0);
	expect_ended(c, "hangup");
	g_assert_null(rec_take(b, "incoming_call"));
	calls_call_media_down(b);
	/* Janus frees the ICE agent a moment after hangup_media */
	advance_ms(200);
	g_assert_null(rec_take(b, "incoming_call"));
	advance_ms(50);
	rec_entry *again = expect(b, "incoming_call");
	g_assert_nonnull(again->jsep);
	g_assert_cmpstr(json_string_value(json_object_get(again->body, "call_id")), ==, second);
	g_assert_null(json_object_get(again->body, "waiting"));
	g_assert_cmpint(call_req(b, "accept", second, sdp("answer", TRUE)), ==, 0);
	expect(a, "accepted");
	g_free(first);
	g_free(second);
}

TEST(test_release_without_hangup_media) {
	/* If Janus never reports the old PeerConnection down, the waiting call
	 * is offered anyway after a while. */
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL), *c = reg("carol", NULL);
	char *first = start_call(c, "bob", FALSE);
	g_assert_cmpint(call_req(b, "accept", first, sdp("answer", FALSE)), ==, 0);
	char *second = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(b, "hangup", first, NULL), ==, 0);
	g_assert_nonnull(rec_take(b, "incoming_call"));     /* the first call */
	rec_entry *w = expect(b, "incoming_call");
	g_assert_true(json_is_true(json_object_get(w->body, "waiting")));
	advance(2);
	g_assert_null(rec_take(b, "incoming_call"));
	advance(1);
	rec_entry *again = expect(b, "incoming_call");
	g_assert_nonnull(again->jsep);
	g_free(first);
	g_free(second);
}

TEST(test_call_while_closing) {
	/* A device whose last PeerConnection is still closing is not in a call:
	 * it gets the new call with its offer once Janus is done, not as a
	 * waiting call. */
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL), *c = reg("carol", NULL);
	char *first = start_call(c, "bob", FALSE);
	g_assert_cmpint(call_req(b, "accept", first, sdp("answer", FALSE)), ==, 0);
	g_assert_cmpint(call_req(c, "hangup", first, NULL), ==, 0);
	expect_ended(b, "hangup");
	char *second = start_call(a, "bob", FALSE);
	g_assert_nonnull(rec_take(b, "incoming_call"));      /* the first call's */
	g_assert_null(rec_take(b, "incoming_call"));
	g_assert_null(rec_take(a, "ringing"));
	calls_call_media_down(b);
	advance_ms(250);
	rec_entry *e = expect(b, "incoming_call");
	g_assert_nonnull(e->jsep);
	g_assert_null(json_object_get(e->body, "waiting"));
	expect(a, "ringing");
	g_free(first);
	g_free(second);
}

TEST(test_refused_offer_is_pushed_again) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	rec_fail_offers(1);
	char *id = start_call(a, "bob", FALSE);
	g_assert_null(rec_take(b, "incoming_call"));
	advance_ms(199);
	g_assert_null(rec_take(b, "incoming_call"));
	advance_ms(1);
	rec_entry *e = expect(b, "incoming_call");
	g_assert_nonnull(e->jsep);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 0);
	expect(a, "accepted");
	g_free(id);
}

TEST(test_late_registration) {
	calls_device *a = reg("alice", NULL);
	calls_device *b1 = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	expect(a, "ringing");
	calls_device *b2 = reg("bob", "phone");
	rec_entry *e = expect(b2, "incoming_call");
	g_assert_nonnull(e->jsep);
	/* ringing is said once */
	g_assert_null(rec_take(a, "ringing"));
	g_assert_cmpint(call_req(b2, "accept", id, sdp("answer", FALSE)), ==, 0);
	expect(b1, "incoming_call");
	expect_ended(b1, "answered_elsewhere");
	g_free(id);
}

TEST(test_ringing_waits_for_a_device) {
	/* A callee whose only device is gone while ringing keeps ringing; a
	 * device registering later still gets the call. */
	calls_device *a = reg("alice", NULL);
	calls_device *b1 = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	g_assert_cmpint(req(b1, json_pack("{ss}", "request", "unregister"), NULL), ==, 0);
	expect(b1, "unregistered");
	g_assert_null(rec_take(a, "ended"));
	calls_device *b2 = reg("bob", NULL);
	expect(b2, "incoming_call");
	g_free(id);
}

TEST(test_ice_grace) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", TRUE);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", TRUE)), ==, 0);
	calls_call_media_up(a);
	calls_call_media_up(b);
	/* down and back within the grace: nothing happens */
	calls_call_media_down(b);
	advance(4);
	calls_call_media_up(b);
	advance(10);
	g_assert_null(rec_take(a, "ended"));
	/* down for longer than the grace: failed for both */
	calls_call_media_down(a);
	advance(4);
	g_assert_null(rec_take(b, "ended"));
	advance(1);
	expect_ended(b, "failed");
	expect_ended(a, "failed");
	g_free(id);
}

TEST(test_ice_grace_both_legs) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", TRUE);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", TRUE)), ==, 0);
	calls_call_media_up(a);
	calls_call_media_up(b);
	calls_call_media_down(a);
	advance(1);
	calls_call_media_down(b);
	advance(1);
	calls_call_media_up(a);           /* the caller comes back, the callee does not */
	advance(3);
	g_assert_null(rec_take(a, "ended"));
	advance(1);
	expect_ended(a, "failed");
	g_free(id);
}

TEST(test_new_call_while_settling_keeps_its_claim) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL), *c = reg("carol", NULL);
	char *first = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(b, "accept", first, sdp("answer", FALSE)), ==, 0);
	g_assert_cmpint(call_req(b, "hangup", first, NULL), ==, 0);
	calls_call_media_down(b);
	/* b calls again before its last PeerConnection has settled */
	char *second = start_call(b, "carol", FALSE);
	advance(1);
	expect(c, "incoming_call");
	guint closes = count_kind("close_pc", b);
	g_assert_cmpint(call_req(b, "hangup", second, NULL), ==, 0);
	/* its new offer is still closed when the call ends */
	g_assert_cmpuint(count_kind("close_pc", b), ==, closes + 1);
	g_free(first);
	g_free(second);
}

TEST(test_lost_offer_is_offered_again) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	expect(b, "incoming_call");
	/* Janus reports the handle's PeerConnection gone while it held the offer */
	calls_call_media_down(b);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 409);
	advance_ms(250);
	rec_entry *again = expect(b, "incoming_call");
	g_assert_nonnull(again->jsep);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 0);
	g_free(id);
}

TEST(test_refused_offer_is_closed) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	/* a refused request's offer was taken by Janus anyway */
	calls_call_close_media(a);
	g_assert_cmpuint(count_kind("close_pc", a), ==, 1);
	/* until Janus reports it down, a call to a waits before its offer */
	char *id = start_call(b, "alice", FALSE);
	g_assert_null(rec_take(a, "incoming_call"));
	calls_call_media_down(a);
	advance_ms(250);
	expect(a, "incoming_call");
	g_free(id);
}

TEST(test_kicked_callee_ends_ringing_calls) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	calls_call_user_kicked("bob");
	calls_identity_drop(b, "kicked", TRUE, "kicked");
	calls_out_flush();
	expect_ended(a, "kicked");
	g_free(id);
}

TEST(test_vanish_mid_call) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 0);
	calls_identity_drop(b, "gone", FALSE, "failed");
	calls_out_flush();
	expect_ended(a, "failed");
	g_assert_false(calls_relay_linked(a));
	g_free(id);
	/* a caller that vanishes while ringing cancels */
	calls_device *c = reg("carol", NULL);
	id = start_call(c, "alice", FALSE);
	calls_call_media_down(a);
	advance_ms(250);
	expect(a, "incoming_call");
	calls_identity_drop(c, "gone", FALSE, "failed");
	calls_out_flush();
	expect_ended(a, "cancelled");
	g_free(id);
}

TEST(test_replace_device) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", "phone");
	char *id = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 0);
	calls_device *b2 = reg("bob", "phone");
	rec_entry *u = expect(b, "unregistered");
	g_assert_cmpstr(json_string_value(json_object_get(u->body, "reason")), ==, "replaced");
	expect_ended(a, "hangup");
	g_assert_null(b->user);
	g_assert_nonnull(b2->user);
	g_assert_cmpuint(calls_registry_device_count(), ==, 2);
	g_free(id);
}

TEST(test_errors) {
	calls_device *x = dev_new();
	g_assert_cmpint(req(x, json_pack("{ssss}", "request", "call", "to", "bob"), sdp("offer", FALSE)), ==, 401);
	/* shape is checked before registration */
	g_assert_cmpint(req(x, json_pack("{ss}", "request", "call"), NULL), ==, 400);
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL), *e = reg("eve", NULL);
	g_assert_cmpint(req(a, json_pack("{ssss}", "request", "register", "user", "alice"), NULL), ==, 409);
	g_assert_cmpint(req(a, json_pack("{ssss}", "request", "call", "to", "alice"), sdp("offer", FALSE)), ==, 400);
	g_assert_cmpint(req(a, json_pack("{ssss}", "request", "call", "to", "bob"), NULL), ==, 409);
	g_assert_cmpint(req(a, json_pack("{ssss}", "request", "call", "to", "bob"), sdp("answer", FALSE)), ==, 409);
	g_assert_cmpint(call_req(a, "hangup", "0f8fad5b-d9cb-469f-a165-70867728950e", NULL), ==, 404);
	char *id = start_call(a, "bob", FALSE);
	g_assert_cmpint(req(a, json_pack("{ssss}", "request", "call", "to", "eve"), sdp("offer", FALSE)), ==, 409);
	g_assert_cmpint(call_req(e, "accept", id, sdp("answer", FALSE)), ==, 403);
	g_assert_cmpint(call_req(e, "hangup", id, NULL), ==, 403);
	g_assert_cmpint(call_req(e, "call_info", id, NULL), ==, 403);
	g_assert_cmpint(call_req(a, "accept", id, sdp("answer", FALSE)), ==, 409);
	g_assert_cmpint(call_req(a, "decline", id, NULL), ==, 409);
	g_assert_cmpint(call_req(b, "accept", id, NULL), ==, 409);
	g_assert_cmpint(call_req(b, "hangup", id, sdp("offer", FALSE)), ==, 409);
	g_assert_cmpint(call_req(b, "update", id, sdp("offer", FALSE)), ==, 409);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 0);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 409);
	g_assert_cmpint(call_req(b, "decline", id, NULL), ==, 409);
	/* rate limited requests change nothing */
	calls_error err = {0};
	json_t *body = json_pack("{ssss}", "request", "hangup", "call_id", id);
	g_assert_cmpint(calls_dispatch(a, "tx", body, NULL, TRUE, &err), ==, 429);
	json_decref(body);
	g_assert_cmpint(call_req(a, "call_info", id, NULL), ==, 0);
	g_assert_cmpstr(json_string_value(json_object_get(expect(a, "call_info")->body, "state")), ==, "active");
	g_free(id);
}

/* Once both legs are up, each sender is asked for a keyframe again 400 ms
 * later (a browser ignores a request within 300 ms of its last keyframe),
 * and only once. */
TEST(test_keyframe_asked_again) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", TRUE);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", TRUE)), ==, 0);
	calls_call_media_up(a);
	advance_ms(500);
	/* One leg up is not enough for the second request. */
	guint pa = count_kind("pli", a), pb = count_kind("pli", b);
	calls_call_media_up(b);
	g_assert_cmpuint(count_kind("pli", a), ==, pa + 1);
	g_assert_cmpuint(count_kind("pli", b), ==, pb + 1);
	advance_ms(399);
	g_assert_cmpuint(count_kind("pli", a), ==, pa + 1);
	g_assert_cmpuint(count_kind("pli", b), ==, pb + 1);
	advance_ms(1);
	g_assert_cmpuint(count_kind("pli", a), ==, pa + 2);
	g_assert_cmpuint(count_kind("pli", b), ==, pb + 2);
	advance(5);
	g_assert_cmpuint(count_kind("pli", a), ==, pa + 2);
	g_assert_cmpuint(count_kind("pli", b), ==, pb + 2);
	g_free(id);
}

TEST(test_update_and_media) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 0);
	g_assert_cmpint(call_req(a, "update", id, sdp("offer", TRUE)), ==, 0);
	expect(a, "updated");
	rec_entry *u = expect(b, "update");
	g_assert_cmpstr(json_string_value(json_object_get(u->jsep, "type")), ==, "offer");
	guint plis = count_kind("pli", a);
	g_assert_cmpint(call_req(b, "update", id, sdp("answer", TRUE)), ==, 0);
	expect(b, "updated");
	rec_entry *back = expect(a, "update");
	g_assert_cmpstr(json_string_value(json_object_get(back->jsep, "type")), ==, "answer");
	g_assert_cmpuint(count_kind("pli", a), >, plis);
	g_assert_cmpint(req(b, json_pack("{sssssbsb}", "request", "media", "call_id", id, "audio", FALSE, "video", TRUE), NULL), ==, 0);
	rec_entry *ms = expect(b, "media_set");
	g_assert_false(json_is_true(json_object_get(ms->body, "audio")));
	rec_entry *st = expect(a, "media_state");
	g_assert_cmpstr(json_string_value(json_object_get(st->body, "user")), ==, "bob");
	g_assert_false(json_is_true(json_object_get(st->body, "audio")));
	g_assert_true(json_is_true(json_object_get(st->body, "video")));
	g_assert_cmpint(call_req(a, "call_info", id, NULL), ==, 0);
	rec_entry *info = expect(a, "call_info");
	g_assert_true(json_is_true(json_object_get(info->body, "video")));
	g_free(id);
}

TEST(test_admin_end_and_kick) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 0);
	g_assert_cmpuint(calls_call_active_count(), ==, 1);
	g_assert_cmpuint(calls_call_participant_count(), ==, 2);
	json_t *list = calls_call_list();
	g_assert_cmpuint(json_array_size(list), ==, 1);
	g_assert_cmpstr(json_string_value(json_object_get(json_array_get(list, 0), "state")), ==, "active");
	json_decref(list);
	calls_error err = {0};
	g_assert_cmpint(calls_call_end_by_admin(id, &err), ==, 0);
	calls_out_flush();
	expect_ended(a, "kicked");
	expect_ended(b, "kicked");
	g_assert_cmpint(calls_call_end_by_admin(id, &err), ==, 404);
	g_assert_cmpuint(calls_call_active_count(), ==, 0);
	g_free(id);
	id = start_call(a, "bob", FALSE);
	calls_identity_drop(b, "kicked", TRUE, "kicked");
	calls_out_flush();
	rec_entry *u = expect(b, "unregistered");
	g_assert_cmpstr(json_string_value(json_object_get(u->body, "reason")), ==, "kicked");
	g_assert_cmpuint(calls_registry_user_count(), ==, 1);
	g_free(id);
}

TEST(test_shutdown) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	calls_call_end_all("server_shutdown");
	calls_out_flush();
	expect_ended(a, "server_shutdown");
	expect_ended(b, "server_shutdown");
	g_free(id);
}

TEST(test_events) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 0);
	g_assert_cmpint(call_req(a, "hangup", id, NULL), ==, 0);
	const char *want[] = {"registered", "registered", "call_started", "call_answered", "call_ended"};
	guint w = 0;
	for(guint i = 0; i < rec_count() && w < G_N_ELEMENTS(want); i++) {
		rec_entry *e = rec_get(i);
		if(!strcmp(e->kind, "notify") && !strcmp(json_string_value(json_object_get(e->body, "event")), want[w]))
			w++;
	}
	g_assert_cmpuint(w, ==, G_N_ELEMENTS(want));
	/* events = false: none */
	rec_reset();
	rec_install(FALSE);
	id = (g_free(id), start_call(a, "bob", FALSE));
	for(guint i = 0; i < rec_count(); i++)
		g_assert_cmpstr(rec_get(i)->kind, !=, "notify");
	g_free(id);
}

/* ---- records for the database ---- */

/* The newest "call" record of call id, and how many there were. */
static json_t *record_of(const char *id, guint *count) {
	calls_out_flush();
	json_t *last = NULL;
	guint n = 0;
	for(guint i = 0; i < rec_count(); i++) {
		rec_entry *e = rec_get(i);
		if(strcmp(e->kind, "record") != 0 || strcmp(e->transaction, "call") != 0)
			continue;
		if(strcmp(json_string_value(json_object_get(e->body, "call_id")), id) != 0)
			continue;
		last = e->body;
		n++;
	}
	if(count != NULL)
		*count = n;
	g_assert_nonnull(last);
	return last;
}

static json_t *participant_of(json_t *doc, const char *role) {
	json_t *parts = json_object_get(doc, "participants");
	for(size_t i = 0; i < json_array_size(parts); i++) {
		json_t *p = json_array_get(parts, i);
		if(!strcmp(json_string_value(json_object_get(p, "role")), role))
			return p;
	}
	g_error("no %s in the record", role);
	return NULL;
}

static void expect_outcomes_at(int line, const char *id, const char *reason, const char *caller, const char *callee) {
	json_t *doc = record_of(id, NULL);
	const char *got_reason = json_string_value(json_object_get(doc, "reason"));
	const char *got_caller = json_string_value(json_object_get(participant_of(doc, "caller"), "outcome"));
	const char *got_callee = json_string_value(json_object_get(participant_of(doc, "callee"), "outcome"));
	if(g_strcmp0(got_reason, reason) || g_strcmp0(got_caller, caller) || g_strcmp0(got_callee, callee))
		g_error("line %d: expected %s: %s/%s, recorded %s: %s/%s", line, reason, caller, callee,
			got_reason, got_caller, got_callee);
	g_assert_nonnull(json_object_get(doc, "ended_at"));
}
#define expect_outcomes(id, reason, caller, callee) expect_outcomes_at(__LINE__, id, reason, caller, callee)

TEST(test_records_answered) {
	calls_device *a = reg("alice", "a1"), *b = reg("bob", "b1");
	char *id = start_call(a, "bob", TRUE);
	guint n = 0;
	json_t *start = record_of(id, &n);
	g_assert_cmpuint(n, ==, 1);
	g_assert_null(json_object_get(start, "ended_at"));
	g_assert_null(json_object_get(participant_of(start, "callee"), "outcome"));
	g_assert_cmpstr(json_string_value(json_object_get(start, "media")), ==, "video");
	g_assert_cmpstr(json_string_value(json_object_get(start, "caller_device")), ==, "a1");
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", TRUE)), ==, 0);
	json_t *answered = record_of(id, &n);
	g_assert_cmpuint(n, ==, 2);
	g_assert_nonnull(json_object_get(answered, "answered_at"));
	g_assert_cmpstr(json_string_value(json_object_get(participant_of(answered, "callee"), "device")), ==, "b1");
	advance(5);
	g_assert_cmpint(call_req(b, "hangup", id, NULL), ==, 0);
	expect_outcomes(id, "hangup", "answered", "answered");
	record_of(id, &n);
	g_assert_cmpuint(n, ==, 3);
	/* started_at, answered_at, ended_at: microseconds, UTC */
	json_t *doc = record_of(id, NULL);
	const char *st = json_string_value(json_object_get(doc, "started_at"));
	const char *en = json_string_value(json_object_get(doc, "ended_at"));
	g_assert_cmpuint(strlen(st), ==, strlen("2023-11-14T22:13:20.000000Z"));
	g_assert_true(g_str_has_suffix(st, "Z"));
	GDateTime *t0 = g_date_time_new_from_iso8601(st, NULL), *t1 = g_date_time_new_from_iso8601(en, NULL);
	g_assert_nonnull(t0);
	g_assert_nonnull(t1);
	g_assert_cmpint(g_date_time_difference(t1, t0), ==, 5 * G_USEC_PER_SEC);
	g_assert_cmpint(g_date_time_to_unix(t0), ==, real / G_USEC_PER_SEC - 5);
	g_date_time_unref(t0);
	g_date_time_unref(t1);
	g_free(id);
}

TEST(test_records_unanswered) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(a, "hangup", id, NULL), ==, 0);
	expect_outcomes(id, "cancelled", "cancelled", "missed");
	g_free(id);
	id = start_call(a, "bob", FALSE);
	advance(31);
	expect_outcomes(id, "no_answer", "no_answer", "missed");
	g_free(id);
	id = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(b, "decline", id, NULL), ==, 0);
	expect_outcomes(id, "declined", "declined", "declined");
	g_free(id);
	id = start_call(a, "bob", FALSE);
	g_assert_cmpint(req(b, json_pack("{ssssss}", "request", "decline", "call_id", id, "reason", "busy"), NULL), ==, 0);
	expect_outcomes(id, "busy", "busy", "declined");
	g_free(id);
	id = start_call(a, "nobody", FALSE);
	expect_outcomes(id, "unavailable", "unavailable", "missed");
	g_free(id);
	calls_error err = {0};
	id = start_call(a, "bob", FALSE);
	g_assert_cmpint(calls_call_end_by_admin(id, &err), ==, 0);
	expect_outcomes(id, "kicked", "failed", "missed");
	g_free(id);
}

TEST(test_records_busy_and_failed) {
	cfg.call_waiting = FALSE;
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL), *c = reg("carol", NULL);
	char *id = start_call(c, "bob", FALSE);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", FALSE)), ==, 0);
	char *id2 = start_call(a, "bob", FALSE);
	expect_outcomes(id2, "busy", "busy", "missed");
	/* answered, then the media failed: it was still talked on */
	calls_call_media_up(b);
	calls_call_media_up(c);
	calls_call_media_down(b);
	advance(6);
	expect_outcomes(id, "failed", "answered", "answered");
	g_free(id);
	g_free(id2);
}

static guint presence_records(const char *user, gboolean offline) {
	calls_out_flush();
	guint n = 0;
	for(guint i = 0; i < rec_count(); i++) {
		rec_entry *e = rec_get(i);
		if(!strcmp(e->kind, "record") && !strcmp(e->transaction, "presence") &&
				!strcmp(json_string_value(json_object_get(e->body, "user")), user) &&
				json_is_true(json_object_get(e->body, "offline")) == offline)
			n++;
	}
	return n;
}

TEST(test_records_presence) {
	calls_device *b1 = reg("bob", "b1"), *b2 = reg("bob", "b2");
	g_assert_cmpuint(presence_records("bob", FALSE), ==, 2);
	g_assert_cmpint(req(b1, json_pack("{ss}", "request", "unregister"), NULL), ==, 0);
	/* bob is still online on b2 */
	g_assert_cmpuint(presence_records("bob", TRUE), ==, 0);
	g_assert_cmpint(req(b2, json_pack("{ss}", "request", "unregister"), NULL), ==, 0);
	g_assert_cmpuint(presence_records("bob", TRUE), ==, 1);
}

TEST(test_history_without_database) {
	calls_device *b = reg("bob", NULL);
	/* No store: reads are 503, marking seen still answers */
	g_assert_cmpint(req(b, json_pack("{ss}", "request", "history"), NULL), ==, 503);
	g_assert_cmpint(req(b, json_pack("{sss[s]}", "request", "history_delete", "call_ids",
		"6f1c0e8e-0000-4000-8000-000000000001"), NULL), ==, 503);
	g_assert_cmpint(req(b, json_pack("{ss}", "request", "history_seen"), NULL), ==, 0);
	expect(b, "history_seen");
	/* shape errors come first */
	g_assert_cmpint(req(b, json_pack("{sssi}", "request", "history", "limit", 0), NULL), ==, 400);
	g_assert_cmpint(req(b, json_pack("{sssi}", "request", "history", "limit", 101), NULL), ==, 400);
	g_assert_cmpint(req(b, json_pack("{ssss}", "request", "history", "filter", "some"), NULL), ==, 400);
	g_assert_cmpint(req(b, json_pack("{ssss}", "request", "history", "before", "12_x"), NULL), ==, 400);
	g_assert_cmpint(req(b, json_pack("{sss[]}", "request", "history_delete", "call_ids"), NULL), ==, 400);
	g_assert_cmpint(req(b, json_pack("{sss[s]}", "request", "history_delete", "call_ids", "nope"), NULL), ==, 400);
	json_t *many = json_array();
	for(int i = 0; i < 101; i++)
		json_array_append_new(many, json_string("6f1c0e8e-0000-4000-8000-000000000001"));
	g_assert_cmpint(req(b, json_pack("{ssso}", "request", "history_delete", "call_ids", many), NULL), ==, 413);
}

TEST(test_timers_with_a_call_ringing_longer) {
	/* A call still ringing holds the earliest deadline the tick knows of;
	 * a grace deadline set later but due earlier must still fire on time. */
	calls_device *c1 = reg("carol", NULL), *d1 = reg("dave", NULL);
	char *ringing = start_call(c1, "dave", FALSE);
	expect(d1, "incoming_call");
	advance(10);
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", TRUE);
	g_assert_cmpint(call_req(b, "accept", id, sdp("answer", TRUE)), ==, 0);
	calls_call_media_up(a);
	calls_call_media_up(b);
	calls_call_media_down(a);
	advance(4);
	g_assert_null(rec_take(b, "ended"));
	advance(1);
	expect_ended(b, "failed");
	/* ... and the ring still times out when it is due (30 s after it began). */
	advance(14);
	g_assert_null(rec_take(c1, "ended"));
	advance(1);
	expect_ended(c1, "no_answer");
	g_free(ringing);
	g_free(id);
}

TEST(test_ended_calls_are_forgotten_after_an_hour_in_order) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *first = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(a, "hangup", first, NULL), ==, 0);
	advance(600);
	char *second = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(a, "hangup", second, NULL), ==, 0);
	g_assert_cmpuint(calls_call_active_count(), ==, 0);
	/* Both still known to call_info just before the hour. */
	advance(3600 - 600 - 1);
	g_assert_nonnull(calls_call_find(first));
	g_assert_nonnull(calls_call_find(second));
	advance(2);
	g_assert_null(calls_call_find(first));
	g_assert_nonnull(calls_call_find(second));
	g_assert_cmpint(call_req(b, "call_info", first, NULL), ==, 404);
	advance(600);
	g_assert_null(calls_call_find(second));
	g_free(first);
	g_free(second);
}

TEST(test_ended_calls_are_kept_for_call_info_ttl_without_their_offer) {
	cfg.call_info_ttl = 5;
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	char *id = start_call(a, "bob", TRUE);
	calls_call *c = calls_call_find(id);
	g_assert_nonnull(c->offer);
	g_assert_cmpint(call_req(b, "decline", id, NULL), ==, 0);
	/* call_info still reports it; the SDP is no longer kept. */
	g_assert_null(c->offer);
	g_assert_cmpint(call_req(b, "call_info", id, NULL), ==, 0);
	advance(4);
	g_assert_nonnull(calls_call_find(id));
	advance(2);
	g_assert_null(calls_call_find(id));
	g_assert_cmpint(call_req(b, "call_info", id, NULL), ==, 404);
	g_free(id);
}

/* ---- pushes ---- */

/* A database and the given providers: calls read the callee's push
 * registrations when they start ringing. */
static void push_on(gboolean webhook, gboolean fcm, gboolean apns) {
	g_free(cfg.conninfo);
	cfg.conninfo = g_strdup("dbname=unit");
	g_free(cfg.webhook_url);
	g_free(cfg.webhook_secret);
	g_free(cfg.fcm_service_account);
	g_free(cfg.apns_key_file);
	cfg.webhook_url = webhook ? g_strdup("http://127.0.0.1:9/push") : NULL;
	cfg.webhook_secret = webhook ? g_strdup("s") : NULL;
	cfg.fcm_service_account = fcm ? g_strdup("sa.json") : NULL;
	cfg.apns_key_file = apns ? g_strdup("key.p8") : NULL;
	calls_push_init(&cfg, fake_real);
}

static json_t *push_reg(const char *device, const char *platform, const char *token, gboolean voip) {
	return json_pack("{sssssssb}", "device", device, "platform", platform, "token", token, "voip", voip);
}

/* Answers the oldest read, which must be the push registrations of user;
 * regs NULL: the database did not answer. */
static void answer_push_read(const char *user, json_t *regs) {
	calls_read *r = rec_take_read();
	g_assert_nonnull(r);
	g_assert_cmpint(r->kind, ==, CALLS_READ_PUSH);
	g_assert_cmpstr(r->user, ==, user);
	r->ok = regs != NULL;
	r->result = regs;
	r->finish(r);
	calls_read_free(r);
	pump();
}

static json_t *expect_push_at(int line, const char *type, const char *device) {
	json_t *job = rec_take_deliver(type, device);
	if(job == NULL) {
		char *dump = rec_dump();
		g_error("line %d: expected a %s push to %s; sent:\n%s", line, type, device, dump);
	}
	return job;
}
#define expect_push(type, device) expect_push_at(__LINE__, (type), (device))

static void expect_no_push(void) {
	json_t *job = rec_take_deliver(NULL, NULL);
	if(job != NULL) {
		char *text = json_dumps(job, JSON_COMPACT);
		g_error("expected no more pushes, got %s", text);
	}
}

/* The push expected, and then no other. */
static json_t *expect_last_push_at(int line, const char *type, const char *device) {
	json_t *job = expect_push_at(line, type, device);
	expect_no_push();
	return job;
}
#define expect_last_push(type, device) expect_last_push_at(__LINE__, (type), (device))

static const char *text_of(json_t *job, const char *name) {
	return json_string_value(json_object_get(job, name));
}

/* The webhook configured, and alice registered from a1, who will call. */
static calls_device *webhook_caller(void) {
	push_on(TRUE, FALSE, FALSE);
	return reg("alice", "a1");
}

/* Answers the read of bob's push registrations with a webhook one for each
 * of registered, and expects an incoming_call push to each of pushed and no
 * other push (both space-separated). */
static void answer_webhook_regs_at(int line, const char *registered, const char *pushed) {
	json_t *regs = json_array();
	char **names = g_strsplit(registered, " ", -1);
	for(char **d = names; *d != NULL; d++) {
		char *token = g_strdup_printf("w-%s", *d);
		json_array_append_new(regs, push_reg(*d, "webhook", token, FALSE));
		g_free(token);
	}
	g_strfreev(names);
	answer_push_read("bob", regs);
	names = g_strsplit(pushed, " ", -1);
	for(char **d = names; *d != NULL; d++)
		expect_push_at(line, "incoming_call", *d);
	g_strfreev(names);
	expect_no_push();
}
#define answer_webhook_regs(registered, pushed) answer_webhook_regs_at(__LINE__, (registered), (pushed))

/* caller calls bob (voice), whose push registrations then come as
 * answer_webhook_regs has them. The call's id. */
static char *call_by_push_at(int line, calls_device *caller, const char *registered, const char *pushed) {
	char *id = start_call(caller, "bob", FALSE);
	answer_webhook_regs_at(line, registered, pushed);
	return id;
}
#define call_by_push(caller, registered, pushed) call_by_push_at(__LINE__, (caller), (registered), (pushed))

TEST(test_push_offline_devices_ring_and_stop) {
	calls_device *a = webhook_caller();
	calls_device *laptop = reg("bob", "laptop");
	char *id = start_call(a, "bob", TRUE);
	expect(laptop, "incoming_call");
	expect(a, "ringing");
	/* phone: a voip and an alert token; tablet: FCM (carried by the
	 * webhook); laptop is online: never pushed. */
	answer_push_read("bob", json_pack("[oooo]", push_reg("phone", "apns", "voip-1", TRUE),
		push_reg("laptop", "webhook", "lap", FALSE), push_reg("phone", "apns", "alert-1", FALSE),
		push_reg("tablet", "fcm", "fcm-1", FALSE)));
	json_t *p = expect_push("incoming_call", "phone");
	g_assert_cmpstr(text_of(p, "token"), ==, "voip-1");
	g_assert_cmpstr(text_of(p, "call_id"), ==, id);
	g_assert_cmpstr(text_of(p, "from"), ==, "alice");
	g_assert_cmpstr(text_of(p, "to"), ==, "bob");
	g_assert_true(json_is_true(json_object_get(p, "video")));
	g_assert_cmpint(json_integer_value(json_object_get(p, "expires_at")), ==, real / G_USEC_PER_SEC + 30);
	g_assert_cmpstr(text_of(expect_push("incoming_call", "tablet"), "token"), ==, "fcm-1");
	expect_no_push();
	/* A push alone is not ringing: the caller heard it once, for the laptop. */
	expect_nothing(a);
	g_assert_cmpint(call_req(a, "hangup", id, NULL), ==, 0);
	expect_ended(laptop, "cancelled");
	p = expect_push("call_ended", "phone");
	g_assert_cmpstr(text_of(p, "token"), ==, "voip-1");
	g_assert_cmpstr(text_of(p, "reason"), ==, "cancelled");
	expect_push("call_ended", "tablet");
	/* The callee missed it: the notice goes to the phone's alert token. */
	p = expect_push("missed_call", "phone");
	g_assert_cmpstr(text_of(p, "token"), ==, "alert-1");
	g_assert_cmpint(json_integer_value(json_object_get(p, "expires_at")), ==, real / G_USEC_PER_SEC + 86400);
	expect_last_push("missed_call", "tablet");
	g_free(id);
}

TEST(test_push_woken_phone_answers) {
	calls_device *a = webhook_caller();
	char *id = call_by_push(a, "phone tablet", "phone tablet");
	/* Nobody online: the pushes alone are not ringing, the caller has
	 * heard nothing. */
	expect_nothing(a);
	/* The phone wakes and registers: it rings, and now the caller hears it. */
	calls_device *phone = reg("bob", "phone");
	expect(phone, "incoming_call");
	expect(a, "ringing");
	g_assert_cmpint(call_req(phone, "accept", id, sdp("answer", FALSE)), ==, 0);
	expect(phone, "accepted");
	expect(a, "accepted");
	/* Only the tablet still rings. */
	g_assert_cmpstr(text_of(expect_last_push("call_ended", "tablet"), "reason"), ==, "answered_elsewhere");
	g_assert_cmpint(call_req(a, "hangup", id, NULL), ==, 0);
	expect_no_push();
	g_free(id);
}

TEST(test_push_woken_phone_declines) {
	calls_device *a = webhook_caller();
	/* The caller's device id is the same as the callee's phone: only the
	 * user and device together name a device. */
	calls_device *a2 = reg("alice", "phone");
	char *id = call_by_push(a, "phone tablet", "phone tablet");
	calls_device *phone = reg("bob", "phone");
	expect(phone, "incoming_call");
	g_assert_cmpint(call_req(phone, "decline", id, NULL), ==, 0);
	expect_ended(a, "declined");
	/* The phone declined: it knows; the tablet still rings and is told. */
	g_assert_cmpstr(text_of(expect_last_push("call_ended", "tablet"), "reason"), ==, "declined_elsewhere");
	g_free(id);
	/* The caller cancels: every pushed device is told, whatever the
	 * caller's own device id. */
	id = call_by_push(a2, "phone tablet", "tablet");
	g_assert_cmpint(call_req(a2, "hangup", id, NULL), ==, 0);
	expect_push("call_ended", "tablet");
	expect_last_push("missed_call", "tablet");
	g_free(id);
}

TEST(test_push_unavailable) {
	calls_device *a = webhook_caller();
	/* No registration: unavailable once that is known. */
	char *id = start_call(a, "bob", FALSE);
	expect_nothing(a);
	answer_webhook_regs("", "");
	expect_ended(a, "unavailable");
	g_free(id);
	/* The database did not answer: the same. */
	id = start_call(a, "bob", FALSE);
	answer_push_read("bob", NULL);
	expect_ended(a, "unavailable");
	g_free(id);
	/* ... but a callee online somewhere keeps ringing there. */
	calls_device *b = reg("bob", "b1");
	id = start_call(a, "bob", FALSE);
	expect(b, "incoming_call");
	expect(a, "ringing");
	answer_push_read("bob", NULL);
	expect_nothing(a);
	expect_no_push();
	g_free(id);
}

TEST(test_push_timeout_decline_and_late_answer) {
	calls_device *a = webhook_caller(), *b = reg("bob", "b1");
	/* No answer: the phone's ring stops with "missed", and it is told it
	 * missed the call. */
	char *id = call_by_push(a, "phone", "phone");
	advance(30);
	expect_ended(a, "no_answer");
	g_assert_cmpstr(text_of(expect_push("call_ended", "phone"), "reason"), ==, "missed");
	expect_last_push("missed_call", "phone");
	g_free(id);
	/* Declined on the online device: the phone stops, nothing was missed. */
	id = call_by_push(a, "phone", "phone");
	g_assert_cmpint(call_req(b, "decline", id, NULL), ==, 0);
	g_assert_cmpstr(text_of(expect_last_push("call_ended", "phone"), "reason"), ==, "declined_elsewhere");
	g_free(id);
	/* Cancelled before the registrations came: nothing is pushed. */
	id = start_call(a, "bob", FALSE);
	g_assert_cmpint(call_req(a, "hangup", id, NULL), ==, 0);
	answer_webhook_regs("phone", "");
	g_free(id);
}

TEST(test_push_platforms_and_pick) {
	/* FCM configured, no webhook: APNs registrations cannot be delivered. */
	push_on(FALSE, TRUE, FALSE);
	g_assert_true(calls_push_deliverable("fcm"));
	g_assert_false(calls_push_deliverable("apns"));
	g_assert_false(calls_push_deliverable("webhook"));
	g_assert_false(calls_push_deliverable("other"));
	calls_device *a = reg("alice", "a1");
	char *id = start_call(a, "bob", FALSE);
	answer_push_read("bob", json_pack("[o]", push_reg("phone", "apns", "v", TRUE)));
	expect_ended(a, "unavailable");
	expect_no_push();
	g_free(id);
	push_on(FALSE, TRUE, TRUE);
	/* The pick: a ring prefers voip, a notice prefers an alert token and
	 * never uses an APNs voip one. */
	json_t *regs = json_pack("[ooo]", push_reg("p", "apns", "alert", FALSE), push_reg("p", "apns", "voip", TRUE),
		push_reg("p", "fcm", "f", FALSE));
	g_assert_cmpstr(text_of(calls_push_pick(regs, "incoming_call"), "token"), ==, "voip");
	g_assert_cmpstr(text_of(calls_push_pick(regs, "call_ended"), "token"), ==, "voip");
	g_assert_cmpstr(text_of(calls_push_pick(regs, "missed_call"), "token"), ==, "alert");
	json_decref(regs);
	regs = json_pack("[o]", push_reg("p", "apns", "voip", TRUE));
	g_assert_null(calls_push_pick(regs, "missed_call"));
	g_assert_cmpstr(text_of(calls_push_pick(regs, "incoming_call"), "token"), ==, "voip");
	json_decref(regs);
	/* Without voip tokens the most recent registration carries everything. */
	regs = json_pack("[oo]", push_reg("p", "fcm", "new", FALSE), push_reg("p", "fcm", "old", FALSE));
	g_assert_cmpstr(text_of(calls_push_pick(regs, "incoming_call"), "token"), ==, "new");
	g_assert_cmpstr(text_of(calls_push_pick(regs, "missed_call"), "token"), ==, "new");
	json_decref(regs);
	/* An FCM voip registration may carry a notice (no PushKit rule there). */
	regs = json_pack("[o]", push_reg("p", "fcm", "fv", TRUE));
	g_assert_cmpstr(text_of(calls_push_pick(regs, "missed_call"), "token"), ==, "fv");
	json_decref(regs);
}

TEST(test_push_off_without_database) {
	/* A provider but no database: no read, unavailable at once as before. */
	cfg.webhook_url = g_strdup("http://127.0.0.1:9/push");
	cfg.webhook_secret = g_strdup("s");
	calls_push_init(&cfg, fake_real);
	g_assert_false(calls_push_on());
	calls_device *a = reg("alice", "a1");
	char *id = start_call(a, "bob", FALSE);
	expect_ended(a, "unavailable");
	g_assert_null(rec_take_read());
	g_free(id);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/call/ring-every-device-and-answer", test_ring_every_device_and_answer);
	g_test_add_func("/call/decline-and-busy", test_decline_and_busy);
	g_test_add_func("/call/cancel", test_cancel);
	g_test_add_func("/call/keyframe-asked-again", test_keyframe_asked_again);
	g_test_add_func("/call/ring-timeout", test_ring_timeout);
	g_test_add_func("/call/unavailable-and-busy", test_unavailable_and_busy);
	g_test_add_func("/call/call-waiting-end-and-accept", test_call_waiting_end_and_accept);
	g_test_add_func("/call/release-without-hangup-media", test_release_without_hangup_media);
	g_test_add_func("/call/call-while-closing", test_call_while_closing);
	g_test_add_func("/call/refused-offer-is-pushed-again", test_refused_offer_is_pushed_again);
	g_test_add_func("/call/late-registration", test_late_registration);
	g_test_add_func("/call/ringing-waits-for-a-device", test_ringing_waits_for_a_device);
	g_test_add_func("/call/ice-grace", test_ice_grace);
	g_test_add_func("/call/ice-grace-both-legs", test_ice_grace_both_legs);
	g_test_add_func("/call/timers-with-a-call-ringing-longer", test_timers_with_a_call_ringing_longer);
	g_test_add_func("/call/ended-calls-are-forgotten-after-an-hour-in-order", test_ended_calls_are_forgotten_after_an_hour_in_order);
	g_test_add_func("/call/ended-kept-for-call-info-ttl-without-offer", test_ended_calls_are_kept_for_call_info_ttl_without_their_offer);
	g_test_add_func("/call/new-call-while-settling-keeps-its-claim", test_new_call_while_settling_keeps_its_claim);
	g_test_add_func("/call/lost-offer-is-offered-again", test_lost_offer_is_offered_again);
	g_test_add_func("/call/refused-offer-is-closed", test_refused_offer_is_closed);
	g_test_add_func("/call/kicked-callee-ends-ringing-calls", test_kicked_callee_ends_ringing_calls);
	g_test_add_func("/call/vanish-mid-call", test_vanish_mid_call);
	g_test_add_func("/call/replace-device", test_replace_device);
	g_test_add_func("/call/errors", test_errors);
	g_test_add_func("/call/update-and-media", test_update_and_media);
	g_test_add_func("/call/admin-end-and-kick", test_admin_end_and_kick);
	g_test_add_func("/call/shutdown", test_shutdown);
	g_test_add_func("/call/events", test_events);
	g_test_add_func("/call/records-answered", test_records_answered);
	g_test_add_func("/call/records-unanswered", test_records_unanswered);
	g_test_add_func("/call/records-busy-and-failed", test_records_busy_and_failed);
	g_test_add_func("/call/records-presence", test_records_presence);
	g_test_add_func("/call/history-without-database", test_history_without_database);
	g_test_add_func("/call/push-offline-devices-ring-and-stop", test_push_offline_devices_ring_and_stop);
	g_test_add_func("/call/push-woken-phone-answers", test_push_woken_phone_answers);
	g_test_add_func("/call/push-woken-phone-declines", test_push_woken_phone_declines);
	g_test_add_func("/call/push-unavailable", test_push_unavailable);
	g_test_add_func("/call/push-timeout-decline-and-late-answer", test_push_timeout_decline_and_late_answer);
	g_test_add_func("/call/push-platforms-and-pick", test_push_platforms_and_pick);
	g_test_add_func("/call/push-off-without-database", test_push_off_without_database);
	return g_test_run();
}

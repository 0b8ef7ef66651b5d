/*
 * test_group.c - the group call state machine (calls_group.c) driven through
 * the dispatcher, with the SDP helpers of janus_stubs.c: offers are read back
 * as "m=<type> <direction> <mid>" lines. Media itself is the integration
 * tests' job.
 */
#include <string.h>

#include "calls_call.h"
#include "calls_group.h"
#include "calls_identity.h"
#include "calls_out.h"
#include "calls_sfu.h"
#include "call_harness.h"
#include "recorder.h"

static const char *str(json_t *o, const char *key) {
	return json_string_value(json_object_get(o, key));
}

typedef struct place {
	char *call_id, *link, *feed;
} place;

static void place_clear(place *p) {
	g_free(p->call_id);
	g_free(p->link);
	g_free(p->feed);
}

static place take_place(rec_entry *e) {
	g_assert_nonnull(e->jsep);
	g_assert_cmpstr(str(e->jsep, "type"), ==, "answer");
	place p = {g_strdup(str(e->body, "call_id")), g_strdup(str(e->body, "link")), g_strdup(str(e->body, "feed"))};
	g_assert_nonnull(p.call_id);
	g_assert_cmpuint(strlen(p.link), ==, 32);
	g_assert_nonnull(p.feed);
	return p;
}

static place start_group(calls_device *from, const char *title, const char *m1, const char *m2) {
	json_t *members = json_pack("[s]", m1);
	if(m2 != NULL)
		json_array_append_new(members, json_string(m2));
	g_assert_cmpint(req(from, json_pack("{sssosbss}", "request", "group_call", "members", members,
		"video", TRUE, "title", title), sdp("offer", TRUE)), ==, 0);
	return take_place(expect(from, "group_calling"));
}

static int join_by(calls_device *d, const char *key, const char *value) {
	return req(d, json_pack("{ssss}", "request", "join", key, value), sdp("offer", TRUE));
}

static place join(calls_device *d, const char *call_id) {
	g_assert_cmpint(join_by(d, "call_id", call_id), ==, 0);
	return take_place(expect(d, "joined"));
}

static int call_req(calls_device *d, const char *request, const char *id) {
	return req(d, json_pack("{ssss}", "request", request, "call_id", id), NULL);
}

/* A subscriber handle for p: returns it, with the reply taken into *reply. */
static calls_device *subscribe(place *p, rec_entry **reply) {
	calls_device *s = dev_new();
	g_assert_cmpint(req(s, json_pack("{ssssss}", "request", "subscribe", "call_id", p->call_id,
		"feed", p->feed), NULL), ==, 0);
	*reply = expect(s, "subscribed");
	return s;
}

static int answer(calls_device *s, const char *id) {
	return req(s, json_pack("{ssss}", "request", "update", "call_id", id), sdp("answer", TRUE));
}

/* "user:kind:mid,..." of a streams list. */
static char *streams_text(json_t *streams) {
	GString *out = g_string_new("");
	size_t i;
	json_t *s;
	json_array_foreach(streams, i, s)
		g_string_append_printf(out, "%s%s:%s:%s", i ? "," : "", str(s, "user"), str(s, "kind"), str(s, "mid"));
	return g_string_free(out, FALSE);
}

static void expect_streams_at(int line, rec_entry *e, const char *want, const char *sdp_want) {
	char *got = streams_text(json_object_get(e->body, "streams"));
	if(strcmp(got, want) != 0)
		g_error("line %d: streams %s, expected %s", line, got, want);
	g_free(got);
	if(sdp_want == NULL) {
		g_assert_null(e->jsep);
		return;
	}
	g_assert_nonnull(e->jsep);
	g_assert_cmpstr(str(e->jsep, "type"), ==, "offer");
	if(strcmp(str(e->jsep, "sdp"), sdp_want) != 0)
		g_error("line %d: offer\n%s\nexpected\n%s", line, str(e->jsep, "sdp"), sdp_want);
}
#define expect_streams(e, want, sdp_want) expect_streams_at(__LINE__, (e), (want), (sdp_want))

static json_t *last_record(const char *id) {
	calls_out_flush();
	json_t *last = NULL;
	for(guint i = 0; i < rec_count(); i++) {
		rec_entry *e = rec_get(i);
		if(!strcmp(e->kind, "record") && !strcmp(e->transaction, "call") && !strcmp(str(e->body, "call_id"), id))
			last = e->body;
	}
	g_assert_nonnull(last);
	return last;
}

static json_t *record_member(json_t *doc, const char *user) {
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(doc, "participants"), i, p) {
		if(!strcmp(str(p, "user"), user))
			return p;
	}
	g_error("no %s in the record", user);
	return NULL;
}

#define AV(mid_a, mid_v, dir) "m=audio " dir " " mid_a "\r\nm=video " dir " " mid_v "\r\n"

/* ---- tests ---- */

TEST(test_ring_join_and_subscribe) {
	calls_device *a = reg("alice", "a1");
	calls_device *b1 = reg("bob", "b1"), *b2 = reg("bob", "b2");
	calls_device *c = reg("carol", "c1");
	place pa = start_group(a, "Team", "bob", "carol");
	/* Members ring on every device, without JSEP, with the group. */
	rec_entry *i1 = expect(b1, "incoming_call");
	g_assert_null(i1->jsep);
	g_assert_cmpstr(str(i1->body, "from"), ==, "alice");
	g_assert_cmpstr(str(json_object_get(i1->body, "group"), "title"), ==, "Team");
	g_assert_cmpuint(json_array_size(json_object_get(json_object_get(i1->body, "group"), "members")), ==, 3);
	expect(b2, "incoming_call");
	expect(c, "incoming_call");
	expect(a, "ringing");
	expect_nothing(a);
	/* Alice's subscriber: nobody else yet, so no offer. */
	rec_entry *r = NULL;
	calls_device *sa = subscribe(&pa, &r);
	expect_streams(r, "", NULL);
	/* Bob joins on b1: b2 stops ringing, Alice hears of him, her subscriber
	 * is offered his streams. */
	place pb = join(b1, pa.call_id);
	rec_entry *joined = rec_get(rec_count() - 1);
	(void)joined;
	expect_ended(b2, "answered_elsewhere");
	rec_entry *pj = expect(a, "participant_joined");
	g_assert_cmpstr(str(pj->body, "user"), ==, "bob");
	expect_streams(expect(sa, "streams"), "bob:audio:a0,bob:video:v0", "v=0\r\n" AV("a0", "v0", "sendonly"));
	/* Bob's subscriber is offered Alice at once. */
	calls_device *sb = subscribe(&pb, &r);
	expect_streams(r, "alice:audio:a0,alice:video:v0", "v=0\r\n" AV("a0", "v0", "sendonly"));
	/* Carol joins while Alice's offer is unanswered: that offer comes
	 * after the answer, with both. */
	place pc = join(c, pa.call_id);
	expect_nothing(sa);
	g_assert_cmpint(answer(sa, pa.call_id), ==, 0);
	expect(sa, "updated");
	expect_streams(expect(sa, "streams"), "bob:audio:a0,bob:video:v0,carol:audio:a1,carol:video:v1",
		"v=0\r\n" AV("a0", "v0", "sendonly") AV("a1", "v1", "sendonly"));
	/* The same subscription again restarts ICE, once the offer out is answered. */
	g_assert_cmpint(req(sb, json_pack("{ssssss}", "request", "subscribe", "call_id", pa.call_id, "feed", pb.feed), NULL), ==, 409);
	/* An answer nobody asked for is 409; offering on a subscriber is 409. */
	g_assert_cmpint(answer(sb, pa.call_id), ==, 0);
	expect(sb, "updated");
	expect_streams(expect(sb, "streams"), "alice:audio:a0,alice:video:v0,carol:audio:a1,carol:video:v1",
		"v=0\r\n" AV("a0", "v0", "sendonly") AV("a1", "v1", "sendonly"));
	g_assert_cmpint(req(sb, json_pack("{ssss}", "request", "update", "call_id", pa.call_id), sdp("offer", TRUE)), ==, 409);
	g_assert_cmpuint(count_kind("close_pc", sb), ==, 0);
	g_assert_cmpint(answer(sb, pa.call_id), ==, 0);
	expect(sb, "updated");
	g_assert_cmpint(req(sb, json_pack("{ssssss}", "request", "subscribe", "call_id", pa.call_id, "feed", pb.feed), NULL), ==, 0);
	rec_entry *restart = expect(sb, "subscribed");
	g_assert_true(json_is_true(json_object_get(restart->jsep, "restart")));
	g_assert_cmpint(req(sb, json_pack("{ssssss}", "request", "subscribe", "call_id", pa.call_id, "feed", pa.feed), NULL), ==, 409);
	/* Participants get each other's state. */
	g_assert_cmpint(req(c, json_pack("{sssssbsb}", "request", "media", "call_id", pa.call_id, "audio", FALSE,
		"video", TRUE), NULL), ==, 0);
	expect(c, "media_set");
	rec_entry *ms = expect(a, "media_state");
	g_assert_cmpstr(str(ms->body, "user"), ==, "carol");
	g_assert_true(json_is_false(json_object_get(ms->body, "audio")));
	expect(b1, "media_state");
	calls_group_talking(b1, TRUE);
	pump();
	rec_entry *talk = expect(a, "talking");
	g_assert_true(json_is_true(json_object_get(talk->body, "talking")));
	g_assert_cmpstr(str(talk->body, "user"), ==, "bob");
	expect(b1, "talking");
	expect(c, "talking");
	/* Presence and admin counts see them. */
	g_assert_cmpuint(calls_call_active_count(), ==, 1);
	g_assert_cmpuint(calls_call_participant_count(), ==, 3);
	place_clear(&pa);
	place_clear(&pb);
	place_clear(&pc);
}

TEST(test_leave_rejoin_reuses_the_pair) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL), *c = reg("carol", NULL);
	place pa = start_group(a, "", "bob", "carol");
	rec_entry *r = NULL;
	calls_device *sa = subscribe(&pa, &r);
	place pb = join(b, pa.call_id);
	expect_streams(expect(sa, "streams"), "bob:audio:a0,bob:video:v0", "v=0\r\n" AV("a0", "v0", "sendonly"));
	g_assert_cmpint(answer(sa, pa.call_id), ==, 0);
	expect(sa, "updated");
	/* Bob leaves: his pair goes inactive on Alice's subscriber. */
	g_assert_cmpint(call_req(b, "leave", pa.call_id), ==, 0);
	expect(b, "left");
	g_assert_cmpstr(str(expect(a, "participant_left")->body, "reason"), ==, "left");
	/* Still sendonly, silent: Janus would give it a new SSRC otherwise. */
	expect_streams(expect(sa, "streams"), "", "v=0\r\n" AV("a0", "v0", "sendonly"));
	g_assert_cmpuint(count_kind("close_pc", b), ==, 1);
	g_assert_cmpint(answer(sa, pa.call_id), ==, 0);
	expect(sa, "updated");
	/* The old feed is gone with him. */
	calls_device *stale = dev_new();
	g_assert_cmpint(req(stale, json_pack("{ssssss}", "request", "subscribe", "call_id", pa.call_id,
		"feed", pb.feed), NULL), ==, 403);
	/* Carol takes the free pair rather than a new one. */
	place pc = join(c, pa.call_id);
	expect_streams(expect(sa, "streams"), "carol:audio:a0,carol:video:v0", "v=0\r\n" AV("a0", "v0", "sendonly"));
	g_assert_cmpint(answer(sa, pa.call_id), ==, 0);
	expect(sa, "updated");
	/* Bob comes back (settle the closed PeerConnection first) and gets the
	 * next pair, with a new feed. */
	calls_call_media_down(b);
	advance(1);
	place pb2 = join(b, pa.call_id);
	g_assert_cmpstr(pb2.feed, !=, pb.feed);
	expect_streams(expect(sa, "streams"), "carol:audio:a0,carol:video:v0,bob:audio:a1,bob:video:v1",
		"v=0\r\n" AV("a0", "v0", "sendonly") AV("a1", "v1", "sendonly"));
	/* Two stretches for Bob in the record. */
	json_t *doc = last_record(pa.call_id);
	guint bobs = 0;
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(doc, "segments"), i, s) {
		if(!strcmp(str(s, "user"), "bob"))
			bobs++;
	}
	g_assert_cmpuint(bobs, ==, 2);
	place_clear(&pa);
	place_clear(&pb);
	place_clear(&pb2);
	place_clear(&pc);
}

TEST(test_decline_timeout_and_the_last_leave) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	calls_device *c1 = reg("carol", "c1"), *c2 = reg("carol", "c2"), *d = reg("dave", NULL);
	place pa = start_group(a, "Trip", "bob", "carol");
	expect(a, "ringing");
	expect(b, "incoming_call");
	expect(c1, "incoming_call");
	expect(c2, "incoming_call");
	/* Carol declines on c1: only her ringing stops. */
	g_assert_cmpint(call_req(c1, "decline", pa.call_id), ==, 0);
	expect(c1, "declined");
	expect_ended(c2, "declined_elsewhere");
	expect_nothing(a);
	g_assert_cmpint(call_req(c1, "decline", pa.call_id), ==, 409);
	/* Bob's ring times out; Alice is still in the call. */
	advance(cfg.ring_timeout + 1);
	expect_ended(b, "missed");
	expect_nothing(a);
	/* Both may still join: Carol after declining. */
	place pc = join(c2, pa.call_id);
	/* Dave was not invited: not by id, but by link. */
	g_assert_cmpint(join_by(d, "call_id", pa.call_id), ==, 403);
	g_assert_cmpint(join_by(d, "link", "0123456789abcdef0123456789abcdef"), ==, 404);
	place pd = {0};
	g_assert_cmpint(join_by(d, "link", pa.link), ==, 0);
	pd = take_place(expect(d, "joined"));
	g_assert_cmpuint(json_array_size(json_object_get(rec_get(rec_count() - 1)->body, "participants")), >=, 0);
	/* Invite Bob again: he rings again. */
	g_assert_cmpint(req(a, json_pack("{sssss[ss]}", "request", "invite", "call_id", pa.call_id, "users", "bob", "carol"), NULL), ==, 0);
	rec_entry *inv = expect(a, "invited");
	g_assert_cmpuint(json_array_size(json_object_get(inv->body, "users")), ==, 1);
	expect(b, "incoming_call");
	/* Everyone leaves; Bob's ring stops as cancelled with the call. */
	g_assert_cmpint(call_req(a, "hangup", pa.call_id), ==, 0);
	expect(a, "hungup");
	g_assert_cmpint(call_req(c2, "leave", pa.call_id), ==, 0);
	g_assert_cmpint(call_req(d, "leave", pa.call_id), ==, 0);
	expect_ended(b, "cancelled");
	g_assert_cmpint(join_by(b, "call_id", pa.call_id), ==, 404);
	g_assert_cmpint(call_req(c2, "call_info", pa.call_id), ==, 0);
	rec_entry *info = expect(c2, "call_info");
	g_assert_cmpstr(str(info->body, "state"), ==, "ended");
	g_assert_cmpstr(str(info->body, "kind"), ==, "group");
	/* Each user's outcome. */
	json_t *doc = last_record(pa.call_id);
	g_assert_cmpstr(str(doc, "kind"), ==, "group");
	g_assert_cmpstr(str(doc, "title"), ==, "Trip");
	g_assert_nonnull(json_object_get(doc, "ended_at"));
	g_assert_cmpstr(str(record_member(doc, "alice"), "outcome"), ==, "answered");
	g_assert_cmpstr(str(record_member(doc, "alice"), "role"), ==, "caller");
	g_assert_cmpstr(str(record_member(doc, "bob"), "outcome"), ==, "missed");
	g_assert_cmpstr(str(record_member(doc, "carol"), "outcome"), ==, "answered");
	g_assert_cmpstr(str(record_member(doc, "dave"), "outcome"), ==, "answered");
	g_assert_cmpstr(str(record_member(doc, "dave"), "role"), ==, "member");
	g_assert_nonnull(json_object_get(record_member(doc, "carol"), "left_at"));
	g_assert_cmpuint(calls_call_active_count(), ==, 0);
	place_clear(&pa);
	place_clear(&pc);
	place_clear(&pd);
}

TEST(test_alone_caller_cancels) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	place pa = start_group(a, "", "bob", NULL);
	expect(b, "incoming_call");
	g_assert_cmpint(call_req(b, "decline", pa.call_id), ==, 0);
	g_assert_cmpint(call_req(a, "leave", pa.call_id), ==, 0);
	expect(a, "left");
	json_t *doc = last_record(pa.call_id);
	g_assert_cmpstr(str(record_member(doc, "alice"), "outcome"), ==, "cancelled");
	g_assert_cmpstr(str(record_member(doc, "bob"), "outcome"), ==, "declined");
	place_clear(&pa);
}

TEST(test_limits_and_refusals) {
	cfg.max_group_size = 3;
	calls_device *a = reg("alice", NULL), *b1 = reg("bob", "b1"), *b2 = reg("bob", "b2");
	calls_device *c = reg("carol", NULL), *d = reg("dave", NULL), *e = reg("erin", NULL);
	g_assert_cmpint(req(a, json_pack("{sss[sss]}", "request", "group_call", "members", "bob", "carol", "dave"),
		sdp("offer", TRUE)), ==, 413);
	g_assert_cmpint(req(a, json_pack("{sss[ss]}", "request", "group_call", "members", "bob", "bob"),
		sdp("offer", TRUE)), ==, 400);
	g_assert_cmpint(req(a, json_pack("{sss[s]}", "request", "group_call", "members", "alice"),
		sdp("offer", TRUE)), ==, 400);
	g_assert_cmpint(req(a, json_pack("{sss[s]}", "request", "group_call", "members", "bob"), NULL), ==, 409);
	g_assert_cmpint(req(a, json_pack("{sss[s]}", "request", "group_call", "members", "bob"),
		json_pack("{ssss}", "type", "offer", "sdp", "nonsense")), ==, 400);
	place pa = start_group(a, "", "bob", "carol");
	/* A device in a call cannot start or join another. */
	g_assert_cmpint(req(a, json_pack("{sss[s]}", "request", "group_call", "members", "dave"), sdp("offer", TRUE)), ==, 409);
	g_assert_cmpint(req(a, json_pack("{ssss}", "request", "call", "to", "dave"), sdp("offer", FALSE)), ==, 409);
	place pb = join(b1, pa.call_id);
	/* One device per user. */
	g_assert_cmpint(join_by(b2, "call_id", pa.call_id), ==, 409);
	/* Invited users plus participants over the limit. */
	g_assert_cmpint(req(a, json_pack("{sssss[ss]}", "request", "invite", "call_id", pa.call_id, "users", "dave", "erin"), NULL), ==, 413);
	/* Only participants invite. */
	g_assert_cmpint(req(c, json_pack("{sssss[s]}", "request", "invite", "call_id", pa.call_id, "users", "dave"), NULL), ==, 409);
	g_assert_cmpint(req(e, json_pack("{sssss[s]}", "request", "invite", "call_id", pa.call_id, "users", "dave"), NULL), ==, 403);
	place pc = join(c, pa.call_id);
	/* Full. */
	g_assert_cmpint(join_by(d, "link", pa.link), ==, 413);
	/* Subscribe: wrong feed, unknown call, registered handle, twice. */
	calls_device *s = dev_new();
	g_assert_cmpint(req(s, json_pack("{ssssss}", "request", "subscribe", "call_id", pa.call_id, "feed", "nope"), NULL), ==, 403);
	g_assert_cmpint(req(s, json_pack("{ssssss}", "request", "subscribe", "call_id",
		"00000000-0000-0000-0000-000000000000", "feed", pa.feed), NULL), ==, 404);
	g_assert_cmpint(req(d, json_pack("{ssssss}", "request", "subscribe", "call_id", pa.call_id, "feed", pa.feed), NULL), ==, 409);
	g_assert_cmpint(req(s, json_pack("{ssssss}", "request", "subscribe", "call_id", pa.call_id, "feed", "bad feed!"), NULL), ==, 400);
	/* Any other request on an unregistered handle is still 401. */
	g_assert_cmpint(req(s, json_pack("{ss}", "request", "contacts"), NULL), ==, 401);
	rec_entry *r = NULL;
	calls_device *sa = subscribe(&pa, &r);
	g_assert_cmpint(req(sa, json_pack("{ssssss}", "request", "subscribe", "call_id", pa.call_id, "feed", pa.feed), NULL), ==, 409);
	/* Strangers get 403, unknown calls 404. */
	g_assert_cmpint(call_req(e, "leave", pa.call_id), ==, 403);
	g_assert_cmpint(call_req(e, "call_info", pa.call_id), ==, 403);
	g_assert_cmpint(call_req(d, "leave", "00000000-0000-0000-0000-000000000000"), ==, 404);
	/* join needs one of call_id and link. */
	g_assert_cmpint(req(d, json_pack("{ss}", "request", "join"), sdp("offer", TRUE)), ==, 400);
	place_clear(&pa);
	place_clear(&pb);
	place_clear(&pc);
}

TEST(test_ice_grace_and_admin_end) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL), *c = reg("carol", NULL);
	place pa = start_group(a, "", "bob", "carol");
	place pb = join(b, pa.call_id);
	place pc = join(c, pa.call_id);
	rec_entry *r = NULL;
	calls_device *sb = subscribe(&pb, &r);
	calls_call_media_up(b);
	calls_call_media_down(b);
	advance(cfg.ice_grace - 1);
	g_assert_null(rec_take(a, "participant_left"));
	/* Back in time: nothing happens. */
	calls_call_media_up(b);
	advance(cfg.ice_grace + 1);
	g_assert_null(rec_take(a, "participant_left"));
	/* Down for good: Bob's stay fails; his subscriber is ended. */
	calls_call_media_down(b);
	advance(cfg.ice_grace + 1);
	g_assert_cmpstr(str(expect(a, "participant_left")->body, "reason"), ==, "failed");
	expect_ended(b, "failed");
	expect_ended(sb, "failed");
	/* The admin ends the call. */
	calls_error err = {0};
	g_assert_cmpint(calls_call_end_by_admin(pa.call_id, &err), ==, 0);
	pump();
	expect_ended(a, "kicked");
	expect_ended(c, "kicked");
	g_assert_cmpint(calls_call_end_by_admin(pa.call_id, &err), ==, 404);
	g_assert_cmpuint(calls_call_participant_count(), ==, 0);
	place_clear(&pa);
	place_clear(&pb);
	place_clear(&pc);
}

TEST(test_unregister_leaves_and_registering_rings) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL);
	place pa = start_group(a, "", "bob", "carol");
	place pb = join(b, pa.call_id);
	/* Carol was offline; her device registers while she rings. */
	calls_device *c = reg("carol", NULL);
	g_assert_null(expect(c, "incoming_call")->jsep);
	/* Bob's handle goes away. */
	g_assert_cmpint(req(b, json_pack("{ss}", "request", "unregister"), NULL), ==, 0);
	g_assert_cmpstr(str(expect(a, "participant_left")->body, "reason"), ==, "left");
	place_clear(&pa);
	place_clear(&pb);
}

static void test_sfu_layers(void) {
	g_assert_cmpint(calls_sfu_layer_for_tiles(1), ==, 2);
	g_assert_cmpint(calls_sfu_layer_for_tiles(2), ==, 2);
	g_assert_cmpint(calls_sfu_layer_for_tiles(3), ==, 1);
	g_assert_cmpint(calls_sfu_layer_for_tiles(6), ==, 1);
	g_assert_cmpint(calls_sfu_layer_for_tiles(7), ==, 0);
	g_assert_cmpint(calls_sfu_layer_for_tiles(31), ==, 0);
	g_assert_cmpint(calls_sfu_layer_for_remb(150000), ==, 0);
	g_assert_cmpint(calls_sfu_layer_for_remb(299999), ==, 0);
	g_assert_cmpint(calls_sfu_layer_for_remb(300000), ==, 1);
	g_assert_cmpint(calls_sfu_layer_for_remb(899999), ==, 1);
	g_assert_cmpint(calls_sfu_layer_for_remb(2000000), ==, 2);
	/* A receiver: the tiles it shows (others with video), capped by REMB. */
	calls_device *rx = calls_device_new(NULL);
	calls_sfu_sub *s = calls_sfu_sub_new(rx);
	calls_sfu_pub *pubs[8];
	calls_device *tx[8];
	for(int i = 0; i < 8; i++) {
		tx[i] = calls_device_new(NULL);
		json_t *answer = NULL;
		json_t *offer = sdp("offer", i != 7);
		calls_error err = {0};
		char user[8];
		g_snprintf(user, sizeof(user), "u%d", i);
		pubs[i] = calls_sfu_pub_new(tx[i], user, user, offer, &answer, &err);
		g_assert_nonnull(pubs[i]);
		json_decref(answer);
		json_decref(offer);
	}
	g_assert_true(calls_sfu_sub_set(s, pubs, 2));
	g_assert_cmpint(calls_sfu_sub_layer(s), ==, 2);
	g_assert_false(calls_sfu_sub_set(s, pubs, 2));
	/* The estimate is for both video streams: 1.2 Mbit/s is 600 kbit/s each. */
	calls_sfu_sub_remb(s, 1200000);
	g_assert_cmpint(calls_sfu_sub_layer(s), ==, 1);
	calls_sfu_sub_remb(s, 0);      /* no estimate: the cap stays */
	g_assert_cmpint(calls_sfu_sub_layer(s), ==, 1);
	calls_sfu_sub_remb(s, 500000);
	g_assert_cmpint(calls_sfu_sub_layer(s), ==, 0);
	calls_sfu_sub_remb(s, 5000000);
	calls_sfu_sub_set(s, pubs, 5);
	g_assert_cmpint(calls_sfu_sub_layer(s), ==, 1);
	/* Seven others, one of them without video: six tiles. */
	calls_sfu_sub_set(s, pubs + 1, 7);
	g_assert_cmpint(calls_sfu_sub_layer(s), ==, 1);
	calls_sfu_sub_set(s, pubs, 8);
	g_assert_cmpint(calls_sfu_sub_layer(s), ==, 0);
	/* The audio-only one has no video m-line in use. */
	json_t *streams = calls_sfu_sub_streams(s);
	g_assert_cmpuint(json_array_size(streams), ==, 15);
	json_decref(streams);
	g_assert_cmpuint(calls_sfu_sub_pairs(s), ==, 8);
	calls_sfu_sub_set(s, NULL, 0);
	g_assert_cmpuint(calls_sfu_sub_pairs(s), ==, 8);
	calls_sfu_sub_free(s);
	for(int i = 0; i < 8; i++) {
		calls_sfu_pub_free(pubs[i]);
		calls_device_unref(tx[i]);
	}
	calls_device_unref(rx);
}

TEST(test_kicked_participant) {
	calls_device *a = reg("alice", NULL), *b = reg("bob", NULL), *c = reg("carol", NULL);
	place pa = start_group(a, "", "bob", "carol");
	place pb = join(b, pa.call_id);
	rec_entry *r = NULL;
	calls_device *sb = subscribe(&pb, &r);
	/* What the handler does for an admin kick of bob. */
	calls_call_user_kicked("bob");
	calls_identity_drop(b, "kicked", TRUE, "kicked");
	pump();
	g_assert_cmpstr(str(expect(a, "participant_left")->body, "reason"), ==, "kicked");
	expect_ended(sb, "kicked");
	expect(b, "unregistered");
	/* Carol still rings; Alice is alone in the call. */
	g_assert_null(rec_take(c, "ended"));
	g_assert_cmpuint(calls_call_participant_count(), ==, 1);
	place_clear(&pa);
	place_clear(&pb);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/group/ring-join-and-subscribe", test_ring_join_and_subscribe);
	g_test_add_func("/group/leave-rejoin-reuses-the-pair", test_leave_rejoin_reuses_the_pair);
	g_test_add_func("/group/decline-timeout-and-the-last-leave", test_decline_timeout_and_the_last_leave);
	g_test_add_func("/group/alone-caller-cancels", test_alone_caller_cancels);
	g_test_add_func("/group/limits-and-refusals", test_limits_and_refusals);
	g_test_add_func("/group/ice-grace-and-admin-end", test_ice_grace_and_admin_end);
	g_test_add_func("/group/unregister-leaves-and-registering-rings", test_unregister_leaves_and_registering_rings);
	g_test_add_func("/group/kicked-participant", test_kicked_participant);
	g_test_add_func("/sfu/layers", test_sfu_layers);
	return g_test_run();
}

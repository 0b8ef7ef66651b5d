/*
 * test_presence.c - presence: the sum over a user's devices, the privacy
 * rules, and the coalescing window, driven with a fake clock through the
 * dispatcher (no database: privacy and contacts are set through the
 * presence API, as calls_contacts.c does).
 */
#include <string.h>

#include "calls_dispatch.h"
#include "calls_identity.h"
#include "calls_out.h"
#include "calls_contacts.h"
#include "calls_presence.h"
#include "recorder.h"

static calls_config cfg;
static gint64 clock_mono = 5000000000, clock_real = G_GINT64_CONSTANT(1800000000000000);
static gint64 now_mono(void) { return clock_mono; }
static gint64 now_real(void) { return clock_real; }
static GPtrArray *owned;

static void start(int window_ms, int max_subs) {
	calls_config_defaults(&cfg);
	cfg.auth_none = TRUE;
	cfg.presence_window_ms = window_ms;
	cfg.max_subscriptions = max_subs;
	rec_install(FALSE);
	rec_reset();
	calls_registry_init();
	calls_call_init(&cfg, now_mono, now_real);
	calls_presence_init(&cfg, now_mono, now_real);
	calls_contacts_init(&cfg);
	calls_identity_init(&cfg);
	calls_dispatch_init(&cfg);
	owned = g_ptr_array_new_with_free_func((GDestroyNotify)calls_device_unref);
}

static void stop(void) {
	calls_out_flush();
	rec_reset();
	calls_call_clear();
	calls_presence_clear();
	calls_registry_clear();
	g_ptr_array_free(owned, TRUE);
	calls_config_clear(&cfg);
}

/* The handler thread's turn: timers, then what they said. */
static void turn(void) {
	calls_call_tick();
	calls_presence_tick();
	calls_out_flush();
}

static void later(int ms) {
	clock_mono += (gint64)ms * G_TIME_SPAN_MILLISECOND;
	clock_real += (gint64)ms * G_TIME_SPAN_MILLISECOND;
	turn();
}

/* A request by d (body stolen); its error code, 0 on success. */
static int send_req(calls_device *d, json_t *body) {
	calls_error err = {0};
	int rc = calls_dispatch(d, "t1", body, NULL, FALSE, &err);
	json_decref(body);
	turn();
	return rc;
}

static calls_device *login(const char *user) {
	calls_device *d = calls_device_new(NULL);
	g_ptr_array_add(owned, d);
	g_assert_cmpint(send_req(d, json_pack("{ssss}", "request", "register", "user", user)), ==, 0);
	g_assert_nonnull(rec_take(d, "registered"));
	return d;
}

static void logout(calls_device *d) {
	g_assert_cmpint(send_req(d, json_pack("{ss}", "request", "unregister")), ==, 0);
	g_assert_nonnull(rec_take(d, "unregistered"));
}

/* The state of user in a presence reply or event body; NULL if absent. */
static const char *state_in(json_t *body, const char *user, const char **last_seen) {
	json_t *users = json_object_get(body, "users");
	for(size_t i = 0; i < json_array_size(users); i++) {
		json_t *e = json_array_get(users, i);
		if(!strcmp(json_string_value(json_object_get(e, "user")), user)) {
			if(last_seen)
				*last_seen = json_string_value(json_object_get(e, "last_seen"));
			return json_string_value(json_object_get(e, "state"));
		}
	}
	return NULL;
}

static json_t *watch(calls_device *d, const char *user) {
	g_assert_cmpint(send_req(d, json_pack("{ss s[s]}", "request", "presence_subscribe", "users", user)), ==, 0);
	rec_entry *e = rec_take(d, "presence");
	g_assert_nonnull(e);
	g_assert_cmpstr(e->transaction, ==, "t1");
	return e->body;
}

/* The next presence notification to d (no transaction), or NULL. */
static json_t *note(calls_device *d) {
	rec_entry *e = rec_take(d, "presence");
	if(e == NULL)
		return NULL;
	g_assert_null(e->transaction);
	return e->body;
}

/* ---- the sum over devices ---- */

static void test_aggregate(void) {
	calls_call ringing = {.state = CALLS_CALL_RINGING}, active = {.state = CALLS_CALL_ACTIVE},
		over = {.state = CALLS_CALL_ENDED};
	calls_device a = {0}, b = {0};
	calls_user u = {.id = "u"};
	g_assert_cmpint(calls_presence_of_user(NULL), ==, CALLS_PRESENCE_OFFLINE);
	g_assert_cmpint(calls_presence_of_user(&u), ==, CALLS_PRESENCE_OFFLINE);
	u.devices = g_list_append(NULL, &a);
	g_assert_cmpint(calls_presence_of_user(&u), ==, CALLS_PRESENCE_ONLINE);
	u.devices = g_list_append(u.devices, &b);
	a.call = &ringing;
	g_assert_cmpint(calls_presence_of_user(&u), ==, CALLS_PRESENCE_ONLINE);
	b.call = &over;
	g_assert_cmpint(calls_presence_of_user(&u), ==, CALLS_PRESENCE_ONLINE);
	b.call = &active;
	g_assert_cmpint(calls_presence_of_user(&u), ==, CALLS_PRESENCE_IN_CALL);
	a.call = NULL;
	g_assert_cmpint(calls_presence_of_user(&u), ==, CALLS_PRESENCE_IN_CALL);
	g_list_free(u.devices);
	g_assert_cmpstr(calls_presence_state_name(CALLS_PRESENCE_IN_CALL), ==, "in_call");
	g_assert_cmpstr(calls_presence_state_name(CALLS_PRESENCE_UNKNOWN), ==, "unknown");
}

/* ---- privacy ---- */

static void test_privacy_rules(void) {
	GHashTable *contacts = g_hash_table_new(g_str_hash, g_str_equal);
	g_hash_table_add(contacts, "friend");
	const struct { calls_privacy p; gboolean with_contacts; const char *watcher; gboolean allowed; } rows[] = {
		{CALLS_PRIVACY_EVERYONE, FALSE, "stranger", TRUE},
		{CALLS_PRIVACY_EVERYONE, TRUE, "friend", TRUE},
		{CALLS_PRIVACY_CONTACTS, TRUE, "friend", TRUE},
		{CALLS_PRIVACY_CONTACTS, TRUE, "stranger", FALSE},
		{CALLS_PRIVACY_CONTACTS, FALSE, "friend", FALSE},
		{CALLS_PRIVACY_NOBODY, TRUE, "friend", FALSE},
		{CALLS_PRIVACY_NOBODY, FALSE, "stranger", FALSE},
		/* a user always sees itself */
		{CALLS_PRIVACY_NOBODY, FALSE, "me", TRUE},
		{CALLS_PRIVACY_CONTACTS, FALSE, "me", TRUE},
		{CALLS_PRIVACY_EVERYONE, FALSE, NULL, TRUE},
		{CALLS_PRIVACY_CONTACTS, TRUE, NULL, FALSE},
	};
	for(guint i = 0; i < G_N_ELEMENTS(rows); i++) {
		gboolean got = calls_privacy_allows(rows[i].p, rows[i].with_contacts ? contacts : NULL, "me", rows[i].watcher);
		if(got != rows[i].allowed)
			g_error("row %u: %s for %s: %d, expected %d", i, calls_privacy_name(rows[i].p),
				rows[i].watcher ? rows[i].watcher : "(none)", got, rows[i].allowed);
	}
	g_hash_table_destroy(contacts);
	calls_privacy p;
	g_assert_true(calls_privacy_parse("contacts", &p) && p == CALLS_PRIVACY_CONTACTS);
	g_assert_true(calls_privacy_parse("nobody", &p) && p == CALLS_PRIVACY_NOBODY);
	g_assert_false(calls_privacy_parse("friends", &p));
	g_assert_false(calls_privacy_parse(NULL, &p));
}

/* Privacy and contact changes reach subscribers as presence changes:
 * unknown for those who may no longer see, the state for those who now may;
 * the user itself always sees its state. */
static void test_privacy_notifications(void) {
	start(200, 10);
	calls_device *t = login("t"), *friend = login("friend"), *stranger = login("stranger");
	g_assert_cmpstr(state_in(watch(friend, "t"), "t", NULL), ==, "online");
	g_assert_cmpstr(state_in(watch(stranger, "t"), "t", NULL), ==, "online");
	g_assert_cmpstr(state_in(watch(t, "t"), "t", NULL), ==, "online");

	calls_presence_set_privacy("t", CALLS_PRIVACY_NOBODY);
	later(100);
	g_assert_null(note(friend));          /* the window is still open */
	later(100);
	g_assert_cmpstr(state_in(note(friend), "t", NULL), ==, "unknown");
	g_assert_cmpstr(state_in(note(stranger), "t", NULL), ==, "unknown");
	g_assert_null(note(t));

	json_t *ids = json_pack("[s]", "friend");
	calls_presence_contacts_changed("t", ids, TRUE);
	calls_presence_set_privacy("t", CALLS_PRIVACY_CONTACTS);
	later(200);
	g_assert_cmpstr(state_in(note(friend), "t", NULL), ==, "online");
	g_assert_null(note(stranger));
	calls_presence_contacts_changed("t", ids, FALSE);
	later(200);
	g_assert_cmpstr(state_in(note(friend), "t", NULL), ==, "unknown");
	json_decref(ids);

	/* Hidden users' changes say nothing to those who cannot see them. */
	logout(t);
	later(300);
	g_assert_null(note(friend));
	g_assert_null(note(stranger));
	calls_presence_set_privacy("t", CALLS_PRIVACY_EVERYONE);
	later(200);
	const char *seen = NULL;
	g_assert_cmpstr(state_in(note(stranger), "t", &seen), ==, "offline");
	g_assert_nonnull(seen);
	stop();
}

/* ---- the window ---- */

static void test_flapping_coalesced(void) {
	start(500, 10);
	calls_device *w = login("w");
	calls_device *t = login("t");
	g_assert_cmpstr(state_in(watch(w, "t"), "t", NULL), ==, "online");
	/* Ten reconnects within the window, ending where it started: nothing. */
	for(int i = 0; i < 10; i++) {
		logout(t);
		later(20);
		t = login("t");
		later(20);
	}
	later(500);
	g_assert_null(note(w));
	/* Gone and back, then gone for good: one notification, the last state,
	 * with the time the user left (milliseconds). */
	logout(t);
	later(10);
	t = login("t");
	later(10);
	gint64 left_at = clock_real;
	logout(t);
	later(200);
	g_assert_null(note(w));
	later(300);
	const char *seen = NULL;
	json_t *body = note(w);
	g_assert_cmpstr(state_in(body, "t", &seen), ==, "offline");
	GDateTime *dt = g_date_time_new_from_unix_utc(left_at / G_USEC_PER_SEC);
	char *secs = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
	char *want = g_strdup_printf("%s.%03dZ", secs, (int)((left_at / 1000) % 1000));
	g_free(secs);
	g_date_time_unref(dt);
	g_assert_cmpstr(seen, ==, want);
	g_free(want);
	g_assert_null(note(w));
	/* A subscriber that comes in the middle of a window hears what the
	 * others heard, and the window's end with them. */
	t = login("t");
	later(100);
	calls_device *late = login("late");
	g_assert_cmpstr(state_in(watch(late, "t"), "t", NULL), ==, "offline");
	later(400);
	g_assert_cmpstr(state_in(note(late), "t", NULL), ==, "online");
	g_assert_cmpstr(state_in(note(w), "t", NULL), ==, "online");
	stop();
}

/* Users whose windows close together reach a subscriber in one event; with
 * a window of 0 a change goes out in the same turn. */
static void test_batched_and_immediate(void) {
	start(0, 10);
	calls_device *w = login("w");
	json_t *body = json_pack("{ss s[sss]}", "request", "presence_subscribe", "users", "a", "b", "a");
	g_assert_cmpint(send_req(w, body), ==, 0);
	rec_entry *e = rec_take(w, "presence");
	g_assert_cmpuint(json_array_size(json_object_get(e->body, "users")), ==, 2);
	g_assert_cmpstr(state_in(e->body, "a", NULL), ==, "offline");
	calls_device *a = login("a");
	g_assert_cmpstr(state_in(note(w), "a", NULL), ==, "online");
	/* Two changes in one turn: one event. */
	calls_device *b = calls_device_new(NULL);
	g_ptr_array_add(owned, b);
	calls_error err = {0};
	json_t *r1 = json_pack("{ss}", "request", "unregister");
	json_t *r2 = json_pack("{ssss}", "request", "register", "user", "b");
	g_assert_cmpint(calls_dispatch(a, "x", r1, NULL, FALSE, &err), ==, 0);
	g_assert_cmpint(calls_dispatch(b, "y", r2, NULL, FALSE, &err), ==, 0);
	json_decref(r1);
	json_decref(r2);
	turn();
	json_t *both = note(w);
	g_assert_cmpstr(state_in(both, "a", NULL), ==, "offline");
	g_assert_cmpstr(state_in(both, "b", NULL), ==, "online");
	g_assert_null(note(w));
	stop();
}

/* ---- subscriptions: the limit and what they cost ---- */

static void test_limit_and_cleanup(void) {
	start(0, 3);
	calls_device *w = login("w");
	json_t *three = json_pack("{ss s[sss]}", "request", "presence_subscribe", "users", "x", "y", "z");
	g_assert_cmpint(send_req(w, three), ==, 0);
	g_assert_nonnull(rec_take(w, "presence"));
	g_assert_cmpuint(calls_presence_subscription_count(), ==, 3);
	g_assert_cmpint(send_req(w, json_pack("{ss s[s]}", "request", "presence_subscribe", "users", "v")), ==, 413);
	/* Held ones cost nothing; the refused one changed nothing. */
	watch(w, "x");
	g_assert_cmpuint(calls_presence_subscription_count(), ==, 3);
	g_assert_cmpint(send_req(w, json_pack("{ss s[ss]}", "request", "presence_unsubscribe", "users", "x", "nobody")), ==, 0);
	g_assert_nonnull(rec_take(w, "presence_unsubscribed"));
	g_assert_cmpuint(calls_presence_subscription_count(), ==, 2);
	watch(w, "v");
	/* A second device of the same user has a limit of its own. */
	calls_device *w2 = login("w");
	json_t *again = json_pack("{ss s[sss]}", "request", "presence_subscribe", "users", "x", "y", "z");
	g_assert_cmpint(send_req(w2, again), ==, 0);
	g_assert_cmpuint(calls_presence_subscription_count(), ==, 6);
	/* Entries of users nobody watches and that are not here go away (the
	 * registered ones stay); leaving ends a device's subscriptions. */
	g_assert_cmpuint(calls_presence_people_count(), ==, 4 + 1);
	logout(w);
	g_assert_cmpuint(calls_presence_subscription_count(), ==, 3);
	logout(w2);
	g_assert_cmpuint(calls_presence_subscription_count(), ==, 0);
	/* Without a database, "w" is kept for its last_seen: only that one. */
	g_assert_cmpuint(calls_presence_people_count(), ==, 1);
	stop();
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/presence/aggregate", test_aggregate);
	g_test_add_func("/presence/privacy-rules", test_privacy_rules);
	g_test_add_func("/presence/privacy-notifications", test_privacy_notifications);
	g_test_add_func("/presence/flapping-coalesced", test_flapping_coalesced);
	g_test_add_func("/presence/batched-and-immediate", test_batched_and_immediate);
	g_test_add_func("/presence/limit-and-cleanup", test_limit_and_cleanup);
	return g_test_run();
}

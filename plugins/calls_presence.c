/*
 * calls_presence.c - the people table, subscriptions and coalesced
 * notifications (see calls_presence.h).
 *
 * What a subscriber is told is always the entry's *published* state (the
 * state at the end of its last window), never a state still inside a
 * window: so a subscription made in the middle of a window is answered with
 * what the others were told, and the window's end brings it up to date
 * together with them. That is what lets each subscriber keep a single bit
 * (shown the real state, or "unknown") instead of a copy of what it saw.
 */
#include <string.h>

#include <debug.h>

#include "calls_out.h"
#include "calls_presence.h"
#include "calls_record.h"
#include "calls_store.h"

typedef struct person {
	char *id;
	calls_presence_state state;      /* now (never UNKNOWN) */
	gint64 last_seen;                /* real time, us; 0 = not known */
	calls_presence_state pub_state;  /* what subscribers were last told */
	gint64 pub_last_seen;
	gboolean known;                  /* privacy known (database, or set here) */
	calls_privacy privacy;
	gboolean contacts_known;         /* contacts holds every id the user added */
	GHashTable *contacts;            /* char* set, owned; NULL = none */
	GHashTable *watchers;            /* calls_device* -> GINT_TO_POINTER(shown the real state) */
	gint64 due;                      /* monotonic end of the open window; 0 = none */
	guint64 changed_seq;             /* change_seq of its last privacy or contacts change here */
} person;

static const calls_config *config;
static calls_clock mono_now, real_now;
static GHashTable *people;          /* id -> person* */
static GQueue dirty = G_QUEUE_INIT; /* person*, by due (the window is the same for all) */
static guint subscriptions;
/* Counts privacy and contacts changes made here. A database answer asked
 * before the user's last change (its stamp is older) is older than what
 * memory holds, and must not undo it. */
static guint64 change_seq;
/* Ids whose profile the database could not give (it was down, or still
 * starting): read again once it can, so that their subscribers do not stay
 * on "unknown". One such read at a time. */
static GHashTable *unresolved;      /* char* set, owned */
static gboolean resolving;
static gint64 resolve_at;
#define RESOLVE_BATCH 100
#define RESOLVE_RETRY (G_USEC_PER_SEC)

/* ---- pure rules ---- */

const char *calls_presence_state_name(calls_presence_state s) {
	switch(s) {
		case CALLS_PRESENCE_OFFLINE: return "offline";
		case CALLS_PRESENCE_ONLINE: return "online";
		case CALLS_PRESENCE_IN_CALL: return "in_call";
		case CALLS_PRESENCE_UNKNOWN: return "unknown";
	}
	return "unknown";
}

const char *calls_privacy_name(calls_privacy p) {
	switch(p) {
		case CALLS_PRIVACY_EVERYONE: return "everyone";
		case CALLS_PRIVACY_CONTACTS: return "contacts";
		case CALLS_PRIVACY_NOBODY: return "nobody";
	}
	return "nobody";
}

gboolean calls_privacy_parse(const char *s, calls_privacy *out) {
	static const calls_privacy all[] = {CALLS_PRIVACY_EVERYONE, CALLS_PRIVACY_CONTACTS, CALLS_PRIVACY_NOBODY};
	for(guint i = 0; s != NULL && i < G_N_ELEMENTS(all); i++) {
		if(!strcmp(s, calls_privacy_name(all[i]))) {
			*out = all[i];
			return TRUE;
		}
	}
	return FALSE;
}

calls_presence_state calls_presence_of_user(const calls_user *u) {
	if(u == NULL || u->devices == NULL)
		return CALLS_PRESENCE_OFFLINE;
	for(GList *l = u->devices; l != NULL; l = l->next) {
		calls_device *d = l->data;
		if((d->call != NULL && d->call->state == CALLS_CALL_ACTIVE) || d->part != NULL)
			return CALLS_PRESENCE_IN_CALL;
	}
	return CALLS_PRESENCE_ONLINE;
}

gboolean calls_privacy_allows(calls_privacy privacy, GHashTable *contacts,
		const char *target, const char *watcher) {
	if(watcher != NULL && !strcmp(target, watcher))
		return TRUE;
	switch(privacy) {
		case CALLS_PRIVACY_EVERYONE: return TRUE;
		case CALLS_PRIVACY_NOBODY: return FALSE;
		case CALLS_PRIVACY_CONTACTS: return contacts != NULL && watcher != NULL && g_hash_table_contains(contacts, watcher);
	}
	return FALSE;
}

/* The rule cannot be checked yet: privacy, or the contacts it needs, could
 * not be read. */
static gboolean unresolved_rule(const person *p) {
	return !p->known || (p->privacy == CALLS_PRIVACY_CONTACTS && !p->contacts_known);
}

/* What watcher may see now. A rule that cannot be checked shows nothing
 * (but to the user itself) until the database tells. */
static gboolean may_see(const person *p, const char *watcher) {
	if(watcher != NULL && !strcmp(p->id, watcher))
		return TRUE;
	if(unresolved_rule(p))
		return FALSE;
	return calls_privacy_allows(p->privacy, p->contacts, p->id, watcher);
}

static json_t *entry_json(const char *user, gboolean visible, calls_presence_state state, gint64 last_seen) {
	json_t *e = json_pack("{ssss}", "user", user, "state",
		calls_presence_state_name(visible ? state : CALLS_PRESENCE_UNKNOWN));
	if(visible && state == CALLS_PRESENCE_OFFLINE && last_seen > 0) {
		char *t = calls_time_text(last_seen, FALSE);
		json_object_set_new(e, "last_seen", json_string(t));
		g_free(t);
	}
	return e;
}

/* ---- the table ---- */

static void person_free(person *p) {
	g_free(p->id);
	if(p->contacts != NULL)
		g_hash_table_destroy(p->contacts);
	g_hash_table_destroy(p->watchers);
	g_free(p);
}

static person *person_get(const char *id) {
	person *p = g_hash_table_lookup(people, id);
	if(p != NULL)
		return p;
	p = g_new0(person, 1);
	p->id = g_strdup(id);
	p->state = calls_presence_of_user(calls_registry_user(id));
	p->pub_state = p->state;
	/* Without a database nobody can have set a privacy or added a
	 * contact: everyone, and no contacts. */
	p->known = !calls_store_enabled();
	p->contacts_known = p->known;
	p->privacy = CALLS_PRIVACY_EVERYONE;
	p->watchers = g_hash_table_new(NULL, NULL);
	g_hash_table_insert(people, p->id, p);
	return p;
}

/* An entry is kept while it is registered, watched or inside a window; and,
 * without a database, for good, since memory is then the only place its
 * last_seen is kept. */
static void person_maybe_free(person *p) {
	if(g_hash_table_size(p->watchers) > 0 || p->due != 0 || calls_registry_user(p->id) != NULL)
		return;
	if(!calls_store_enabled() && p->last_seen > 0)
		return;
	g_hash_table_remove(people, p->id);
	person_free(p);
}

static void set_contacts(person *p, json_t *ids) {
	if(p->contacts != NULL)
		g_hash_table_destroy(p->contacts);
	p->contacts = NULL;
	p->contacts_known = json_is_array(ids);
	for(size_t i = 0; i < json_array_size(ids); i++) {
		const char *c = json_string_value(json_array_get(ids, i));
		if(c == NULL)
			continue;
		if(p->contacts == NULL)
			p->contacts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		g_hash_table_add(p->contacts, g_strdup(c));
	}
}

static gint64 parse_time(const char *s) {
	if(s == NULL)
		return 0;
	GDateTime *t = g_date_time_new_from_iso8601(s, NULL);
	if(t == NULL)
		return 0;
	gint64 us = g_date_time_to_unix(t) * G_USEC_PER_SEC + g_date_time_get_microsecond(t);
	g_date_time_unref(t);
	return us;
}

/* Opens p's window unless one is open. Nobody watching: nothing to tell,
 * and the published state simply follows. */
static void changed(person *p) {
	if(g_hash_table_size(p->watchers) == 0 && p->due == 0) {
		p->pub_state = p->state;
		p->pub_last_seen = p->last_seen;
		return;
	}
	if(p->due != 0)
		return;
	p->due = mono_now() + (gint64)config->presence_window_ms * G_TIME_SPAN_MILLISECOND;
	/* Keep dirty ordered even if a clock goes backwards in a test. */
	if(p->due <= 0)
		p->due = 1;
	g_queue_push_tail(&dirty, p);
}

/* A profile from the database, {privacy, contacts?, last_seen?}, asked
 * when change_seq was stamp. */
static void learn(person *p, json_t *profile, guint64 stamp) {
	if(p->changed_seq <= stamp) {
		calls_privacy privacy = CALLS_PRIVACY_EVERYONE;
		calls_privacy_parse(json_string_value(json_object_get(profile, "privacy")), &privacy);
		p->known = TRUE;
		p->privacy = privacy;
		json_t *contacts = json_object_get(profile, "contacts");
		if(contacts != NULL || !p->contacts_known)
			set_contacts(p, contacts);
	}
	gint64 seen = parse_time(json_string_value(json_object_get(profile, "last_seen")));
	if(seen > p->last_seen)
		p->last_seen = seen;
	/* Who may see it may have changed for those already watching. */
	changed(p);
}

void calls_presence_init(const calls_config *cfg, calls_clock mono, calls_clock real) {
	config = cfg;
	mono_now = mono;
	real_now = real;
	people = g_hash_table_new(g_str_hash, g_str_equal);
	g_queue_init(&dirty);
	subscriptions = 0;
	unresolved = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	resolving = FALSE;
	resolve_at = 0;
}

void calls_presence_clear(void) {
	if(people == NULL)
		return;
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, people);
	while(g_hash_table_iter_next(&it, NULL, &value)) {
		person *p = value;
		GHashTableIter wi;
		gpointer dev;
		g_hash_table_iter_init(&wi, p->watchers);
		while(g_hash_table_iter_next(&wi, &dev, NULL)) {
			calls_device *d = dev;
			if(d->watching != NULL) {
				g_hash_table_destroy(d->watching);
				d->watching = NULL;
			}
		}
		person_free(p);
	}
	g_hash_table_destroy(people);
	people = NULL;
	g_queue_clear(&dirty);
	subscriptions = 0;
	g_hash_table_destroy(unresolved);
	unresolved = NULL;
}

guint calls_presence_subscription_count(void) {
	return subscriptions;
}

guint calls_presence_people_count(void) {
	return people ? g_hash_table_size(people) : 0;
}

/* ---- changes ---- */

gint64 calls_presence_touch(const char *user) {
	calls_user *u = calls_registry_user(user);
	person *p = g_hash_table_lookup(people, user);
	if(p == NULL) {
		if(u == NULL)
			return 0;
		p = person_get(user);
	}
	gint64 left = 0;
	calls_presence_state now = calls_presence_of_user(u);
	if(now != p->state) {
		if(now == CALLS_PRESENCE_OFFLINE)
			left = p->last_seen = real_now();
		p->state = now;
		changed(p);
	}
	person_maybe_free(p);
	return left;
}

guint64 calls_presence_stamp(void) {
	return change_seq;
}

void calls_presence_registered(calls_device *d, json_t *profile, guint64 stamp) {
	person *p = person_get(d->user->id);
	if(profile != NULL)
		learn(p, profile, stamp);
	if(unresolved_rule(p) && calls_store_enabled())
		g_hash_table_add(unresolved, g_strdup(p->id));
	calls_presence_touch(d->user->id);
}

static void unsubscribe(calls_device *d, person *p) {
	if(!g_hash_table_remove(p->watchers, d))
		return;
	g_hash_table_remove(d->watching, p);
	subscriptions--;
	person_maybe_free(p);
}

void calls_presence_device_leaving(calls_device *d) {
	/* A subscribe still waiting for the database is void: its answer is
	 * dropped (calls_handler.c), and the handle's next requests go on. */
	d->subscribing = FALSE;
	if(d->watching == NULL)
		return;
	GHashTable *watching = d->watching;
	GHashTableIter it;
	gpointer key;
	g_hash_table_iter_init(&it, watching);
	while(g_hash_table_iter_next(&it, &key, NULL)) {
		person *p = key;
		g_hash_table_remove(p->watchers, d);
		subscriptions--;
		g_hash_table_iter_remove(&it);
		person_maybe_free(p);
	}
	g_hash_table_destroy(watching);
	d->watching = NULL;
}

static void changed_here(person *p) {
	p->changed_seq = ++change_seq;
	/* Set to "contacts" while its contacts are unknown: read them (the
	 * read goes after the record of this change). */
	if(unresolved_rule(p) && calls_store_enabled())
		g_hash_table_add(unresolved, g_strdup(p->id));
	changed(p);
}

void calls_presence_set_privacy(const char *user, calls_privacy privacy) {
	person *p = person_get(user);
	p->known = TRUE;
	p->privacy = privacy;
	changed_here(p);
	person_maybe_free(p);
}

gboolean calls_presence_privacy(const char *user, calls_privacy *out) {
	person *p = g_hash_table_lookup(people, user);
	if(p == NULL || !p->known)
		return FALSE;
	*out = p->privacy;
	return TRUE;
}

gboolean calls_presence_contacts_count(const char *user, json_t *ids, guint *fresh, guint *held) {
	person *p = g_hash_table_lookup(people, user);
	*fresh = *held = 0;
	if(p == NULL || !p->contacts_known)
		return FALSE;
	*held = p->contacts ? g_hash_table_size(p->contacts) : 0;
	GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
	for(size_t i = 0; i < json_array_size(ids); i++) {
		const char *c = json_string_value(json_array_get(ids, i));
		if((p->contacts == NULL || !g_hash_table_contains(p->contacts, c)) && g_hash_table_add(seen, (gpointer)c))
			(*fresh)++;
	}
	g_hash_table_destroy(seen);
	return TRUE;
}

void calls_presence_contacts_changed(const char *user, json_t *ids, gboolean add) {
	person *p = person_get(user);
	if(p->contacts_known) {
		for(size_t i = 0; i < json_array_size(ids); i++) {
			const char *c = json_string_value(json_array_get(ids, i));
			if(add) {
				if(p->contacts == NULL)
					p->contacts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
				g_hash_table_add(p->contacts, g_strdup(c));
			} else if(p->contacts != NULL) {
				g_hash_table_remove(p->contacts, c);
			}
		}
	}
	changed_here(p);
	person_maybe_free(p);
}

json_t *calls_presence_entry(const char *watcher, json_t *profile) {
	const char *id = json_string_value(json_object_get(profile, "user"));
	person *p = g_hash_table_lookup(people, id);
	/* Here, with a rule it can check: what its subscribers were told. */
	if(p != NULL && !unresolved_rule(p))
		return entry_json(id, may_see(p, watcher), p->pub_state, p->pub_last_seen);
	/* Otherwise the database decided who sees it (profile.visible). */
	gboolean visible = json_is_true(json_object_get(profile, "visible")) ||
		(watcher != NULL && !strcmp(id, watcher));
	if(p != NULL)
		return entry_json(id, visible, p->pub_state, p->pub_last_seen);
	return entry_json(id, visible, CALLS_PRESENCE_OFFLINE,
		parse_time(json_string_value(json_object_get(profile, "last_seen"))));
}

/* ---- windows ---- */

static void add_to_batch(GHashTable *batch, calls_device *d, json_t *entry) {
	json_t *users = g_hash_table_lookup(batch, d);
	if(users == NULL) {
		users = json_array();
		g_hash_table_insert(batch, d, users);
	}
	json_array_append_new(users, entry);
}

static void publish(person *p, GHashTable *batch) {
	GHashTableIter it;
	gpointer key, value;
	g_hash_table_iter_init(&it, p->watchers);
	while(g_hash_table_iter_next(&it, &key, &value)) {
		calls_device *d = key;
		/* Its handle is going (its subscriptions end when the handler gets
		 * to it): when Janus stops, or many devices drop at once, this
		 * saves telling the gone about the going. */
		if(g_atomic_int_get(&d->destroyed))
			continue;
		gboolean shown = GPOINTER_TO_INT(value);
		gboolean visible = may_see(p, d->user ? d->user->id : NULL);
		gboolean differs = (visible != shown);
		if(visible && !differs) {
			differs = p->state != p->pub_state ||
				(p->state == CALLS_PRESENCE_OFFLINE && p->last_seen != p->pub_last_seen);
		}
		if(!differs)
			continue;
		if(visible != shown)
			g_hash_table_iter_replace(&it, GINT_TO_POINTER(visible));
		add_to_batch(batch, d, entry_json(p->id, visible, p->state, p->last_seen));
	}
	p->pub_state = p->state;
	p->pub_last_seen = p->last_seen;
}

/* Handler thread: profiles read again for those the database missed. */
static void resolved(calls_read *r) {
	resolving = FALSE;
	if(people == NULL)
		return;
	if(!r->ok) {
		for(guint i = 0; i < r->ids->len; i++)
			g_hash_table_add(unresolved, g_strdup(g_ptr_array_index(r->ids, i)));
		resolve_at = mono_now() + RESOLVE_RETRY;
		return;
	}
	for(size_t i = 0; i < json_array_size(r->result); i++) {
		json_t *profile = json_array_get(r->result, i);
		person *p = g_hash_table_lookup(people, json_string_value(json_object_get(profile, "user")));
		if(p != NULL)
			learn(p, profile, r->stamp);
	}
}

static void resolve(gint64 now) {
	if(resolving || g_hash_table_size(unresolved) == 0 || now < resolve_at || !calls_store_ready())
		return;
	calls_read *r = calls_read_new(CALLS_READ_PEOPLE, "-");
	r->ids = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter it;
	gpointer key;
	g_hash_table_iter_init(&it, unresolved);
	while(r->ids->len < RESOLVE_BATCH && g_hash_table_iter_next(&it, &key, NULL)) {
		person *p = g_hash_table_lookup(people, key);
		/* Gone, or learned since: nothing to do. */
		if(p != NULL && unresolved_rule(p))
			g_ptr_array_add(r->ids, g_strdup(key));
		g_hash_table_iter_remove(&it);
	}
	if(r->ids->len == 0) {
		calls_read_free(r);
		return;
	}
	r->stamp = change_seq;
	resolving = TRUE;
	calls_out_read(r, NULL, NULL, NULL, resolved);
}

gint64 calls_presence_tick(void) {
	if(people == NULL)
		return 0;
	gint64 now = mono_now();
	resolve(now);
	person *p = g_queue_peek_head(&dirty);
	if(p == NULL || p->due > now)
		return p ? p->due : 0;
	GHashTable *batch = g_hash_table_new(NULL, NULL);
	while((p = g_queue_peek_head(&dirty)) != NULL && p->due <= now) {
		g_queue_pop_head(&dirty);
		p->due = 0;
		publish(p, batch);
		person_maybe_free(p);
	}
	GHashTableIter it;
	gpointer key, value;
	g_hash_table_iter_init(&it, batch);
	while(g_hash_table_iter_next(&it, &key, &value))
		calls_out_event(key, json_pack("{ssso}", "calls", "presence", "users", value), NULL);
	g_hash_table_destroy(batch);
	p = g_queue_peek_head(&dirty);
	return p ? p->due : 0;
}

void calls_presence_shutdown(void) {
	GList *users = calls_registry_users();
	char *at = calls_time_text(real_now(), TRUE);
	for(GList *l = users; l != NULL; l = l->next) {
		calls_user *u = l->data;
		calls_out_record("presence", json_pack("{sssssb}", "user", u->id, "at", at, "offline", TRUE));
	}
	g_free(at);
	g_list_free(users);
}

/* ---- requests ---- */

/* Subscribes d to ids, unless that would take it over max_subscriptions
 * (then 413, nothing subscribed). Replies either way. */
static void subscribe_now(calls_device *d, const char *transaction, GPtrArray *ids) {
	guint held = d->watching ? g_hash_table_size(d->watching) : 0, fresh = 0;
	for(guint i = 0; i < ids->len; i++) {
		person *p = g_hash_table_lookup(people, g_ptr_array_index(ids, i));
		if(p == NULL || d->watching == NULL || !g_hash_table_contains(d->watching, p))
			fresh++;
	}
	if(held + fresh > (guint)config->max_subscriptions) {
		calls_error err = {0};
		calls_fail(&err, CALLS_ERR_TOO_LARGE, "a device may hold %d subscriptions (%u held, %u more asked)",
			config->max_subscriptions, held, fresh);
		JANUS_LOG(LOG_VERB, "[calls] presence_subscribe by %s/%s: %d %s\n", d->user->id, d->device_id,
			err.code, err.text);
		calls_out_reply(d, transaction, calls_error_body("presence_subscribe", &err), NULL);
		return;
	}
	json_t *users = json_array();
	if(d->watching == NULL)
		d->watching = g_hash_table_new(NULL, NULL);
	for(guint i = 0; i < ids->len; i++) {
		person *p = person_get(g_ptr_array_index(ids, i));
		gpointer value;
		gboolean shown;
		if(g_hash_table_lookup_extended(p->watchers, d, NULL, &value)) {
			shown = GPOINTER_TO_INT(value);
		} else {
			shown = may_see(p, d->user->id);
			g_hash_table_insert(p->watchers, d, GINT_TO_POINTER(shown));
			g_hash_table_add(d->watching, p);
			subscriptions++;
		}
		json_array_append_new(users, entry_json(p->id, shown, p->pub_state, p->pub_last_seen));
	}
	calls_out_reply(d, transaction, json_pack("{ssso}", "calls", "presence", "users", users), NULL);
}

static void people_read(calls_read *r) {
	calls_device *d = r->owner;
	GPtrArray *ids = r->data;
	d->subscribing = FALSE;
	if(r->ok) {
		for(size_t i = 0; i < json_array_size(r->result); i++) {
			json_t *profile = json_array_get(r->result, i);
			const char *id = json_string_value(json_object_get(profile, "user"));
			if(id != NULL)
				learn(person_get(id), profile, r->stamp);
		}
	} else {
		JANUS_LOG(LOG_WARN, "[calls] presence_subscribe by %s/%s: the database did not answer; "
			"users it could not check are unknown until it does\n", d->user->id, d->device_id);
		for(guint i = 0; i < r->ids->len; i++)
			g_hash_table_add(unresolved, g_strdup(g_ptr_array_index(r->ids, i)));
	}
	subscribe_now(d, r->transaction, ids);
	/* Entries learned for users nobody ended up watching (413). */
	for(guint i = 0; i < r->ids->len; i++) {
		person *p = g_hash_table_lookup(people, g_ptr_array_index(r->ids, i));
		if(p != NULL)
			person_maybe_free(p);
	}
}

static GPtrArray *distinct_ids(json_t *list) {
	GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
	GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
	for(size_t i = 0; i < json_array_size(list); i++) {
		const char *id = json_string_value(json_array_get(list, i));
		if(g_hash_table_contains(seen, id))
			continue;
		g_hash_table_add(seen, (gpointer)id);
		g_ptr_array_add(ids, g_strdup(id));
	}
	g_hash_table_destroy(seen);
	return ids;
}

static int do_subscribe(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	GPtrArray *ids = distinct_ids(json_object_get(body, "users"));
	guint held = d->watching ? g_hash_table_size(d->watching) : 0, fresh = 0;
	GPtrArray *unread = g_ptr_array_new_with_free_func(g_free);
	for(guint i = 0; i < ids->len; i++) {
		const char *id = g_ptr_array_index(ids, i);
		person *p = g_hash_table_lookup(people, id);
		if(p != NULL && d->watching != NULL && g_hash_table_contains(d->watching, p))
			continue;
		fresh++;
		/* Entries here already know what can be known; the rest are
		 * offline, and their last_seen, privacy and contacts are in the
		 * database. */
		if(calls_store_enabled() && (p == NULL || unresolved_rule(p)))
			g_ptr_array_add(unread, g_strdup(id));
	}
	if(held + fresh > (guint)config->max_subscriptions) {
		g_ptr_array_unref(ids);
		g_ptr_array_unref(unread);
		return calls_fail(err, CALLS_ERR_TOO_LARGE, "a device may hold %d subscriptions (%u held, %u more asked)",
			config->max_subscriptions, held, fresh);
	}
	if(unread->len == 0) {
		g_ptr_array_unref(unread);
		subscribe_now(d, transaction, ids);
		g_ptr_array_unref(ids);
		return 0;
	}
	/* The handle's next presence requests wait for this one (calls_handler.c):
	 * an unsubscribe must not overtake it. */
	d->subscribing = TRUE;
	calls_read *r = calls_read_new(CALLS_READ_PEOPLE, d->user->id);
	r->ids = unread;
	r->stamp = change_seq;
	r->data = ids;
	r->data_free = (GDestroyNotify)g_ptr_array_unref;
	calls_out_read(r, d, transaction, "presence_subscribe", people_read);
	return 0;
}

static int do_unsubscribe(calls_device *d, const char *transaction, json_t *body) {
	json_t *list = json_object_get(body, "users");
	for(size_t i = 0; i < json_array_size(list); i++) {
		person *p = g_hash_table_lookup(people, json_string_value(json_array_get(list, i)));
		if(p != NULL && d->watching != NULL)
			unsubscribe(d, p);
	}
	calls_out_reply(d, transaction, json_pack("{sssO}", "calls", "presence_unsubscribed", "users", list), NULL);
	return 0;
}

int calls_presence_request(calls_request_kind kind, calls_device *d, const char *transaction,
		json_t *body, calls_error *err) {
	switch(kind) {
		case CALLS_REQ_PRESENCE_SUBSCRIBE: return do_subscribe(d, transaction, body, err);
		case CALLS_REQ_PRESENCE_UNSUBSCRIBE: return do_unsubscribe(d, transaction, body);
		default: return calls_fail(err, CALLS_ERR_INTERNAL, "not a presence request");
	}
}

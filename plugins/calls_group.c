/*
 * calls_group.c - group calls: members ring, participants join and leave,
 * subscribers are offered the others' streams (see calls_group.h).
 *
 * Who hears what:
 *   - a member's devices hear incoming_call (no JSEP) while the member
 *     rings, and `ended` when that stops (answered_elsewhere,
 *     declined_elsewhere, missed, cancelled);
 *   - participants hear participant_joined / participant_left, media_state
 *     and talking; their subscriber handles hear `streams` with each new
 *     offer, one offer outstanding at a time;
 *   - when the call ends, everyone still in it hears `ended`.
 * Every join and leave is written as a record (the whole call as it is), so
 * a crash loses at most what happened since the last one.
 */
#include <string.h>

#include <debug.h>
#include <utils.h>

#include "calls_group.h"
#include "calls_out.h"
#include "calls_presence.h"
#include "calls_push.h"
#include "calls_store.h"
#include "calls_record.h"
#include "calls_sfu.h"

/* How long ended calls are kept for call_info (as for direct calls). */
#define FORGET_AFTER ((gint64)config->call_info_ttl * G_USEC_PER_SEC)

typedef struct member {
	char *user;
	gboolean caller;
	gint64 invited_at;           /* real time */
	gint64 ring_deadline;        /* monotonic; 0: not ringing */
	GPtrArray *rings;            /* calls_device* told incoming_call (referenced) */
	gboolean declined;
	gint64 first_join, last_leave;   /* real time; 0: never */
	char *device;                /* of the first join */
	gint64 ring_started;         /* real time, of the ring now on */
	json_t *pushed;              /* devices woken by a push for that ring (calls_push.c) */
} member;

typedef struct calls_group calls_group;

typedef struct calls_part {
	calls_group *g;
	member *m;
	calls_device *device;        /* the publishing handle (referenced) */
	char *display;
	char *feed;
	calls_sfu_pub *pub;
	calls_device *sub_device;    /* the subscriber handle (referenced), or NULL */
	calls_sfu_sub *sub;
	gboolean offer_out;          /* an offer awaits its answer */
	gboolean dirty;              /* streams changed since that offer */
	gint64 grace;                /* monotonic: its PeerConnection is down until then */
	gboolean talking;            /* as last told to the others */
	json_t *segment;             /* its entry in g->segments (borrowed) */
} calls_part;

struct calls_group {
	char *id, *link, *title;
	char *caller_user, *caller_display, *caller_device;
	gboolean video;
	gboolean ended;
	const char *reason;
	gboolean ringing_sent;
	GList *members;              /* member*, invitation order */
	GList *parts;                /* calls_part*, join order */
	json_t *segments;
	gint64 started_at, answered_at, ended_at;   /* real time */
	gint64 forget_at;            /* monotonic */
};

static const calls_config *config;
static calls_clock mono_now, real_now;
static GHashTable *groups;       /* id -> calls_group*, ended ones included */
static GHashTable *links;        /* link -> calls_group* (live ones) */
static GQueue ended_groups = G_QUEUE_INIT;

static void member_free(member *m) {
	g_free(m->user);
	g_free(m->device);
	if(m->rings)
		g_ptr_array_unref(m->rings);
	if(m->pushed)
		json_decref(m->pushed);
	g_free(m);
}

static void group_free(calls_group *g) {
	g_free(g->id);
	g_free(g->link);
	g_free(g->title);
	g_free(g->caller_user);
	g_free(g->caller_display);
	g_free(g->caller_device);
	g_list_free_full(g->members, (GDestroyNotify)member_free);
	json_decref(g->segments);
	g_free(g);
}

void calls_group_init(const calls_config *cfg, calls_clock mono, calls_clock real) {
	config = cfg;
	mono_now = mono;
	real_now = real;
	groups = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)group_free);
	links = g_hash_table_new(g_str_hash, g_str_equal);
	g_queue_init(&ended_groups);
}

static void end_group(calls_group *g, const char *reason, const char *ring_reason);

void calls_group_clear(void) {
	if(groups == NULL)
		return;
	/* Participants hold SFU state that references devices: let them go. */
	calls_group_end_all("server_shutdown");
	g_queue_clear(&ended_groups);
	g_hash_table_destroy(links);
	g_hash_table_destroy(groups);
	groups = NULL;
	links = NULL;
}

static calls_group *find(const char *id) {
	return (groups != NULL && id != NULL) ? g_hash_table_lookup(groups, id) : NULL;
}

gboolean calls_group_exists(const char *call_id) {
	return find(call_id) != NULL;
}

gboolean calls_group_live(const char *call_id) {
	calls_group *g = find(call_id);
	return g != NULL && !g->ended;
}

static member *find_member(calls_group *g, const char *user) {
	for(GList *l = g->members; l != NULL; l = l->next) {
		member *m = l->data;
		if(!strcmp(m->user, user))
			return m;
	}
	return NULL;
}

static calls_part *part_of_user(calls_group *g, const char *user) {
	for(GList *l = g->parts; l != NULL; l = l->next) {
		calls_part *p = l->data;
		if(!strcmp(p->m->user, user))
			return p;
	}
	return NULL;
}

/* ---- what goes out ---- */

static json_t *body_new(const char *what, calls_group *g) {
	return json_pack("{ssss}", "calls", what, "call_id", g->id);
}

static void send_ended(calls_device *d, calls_group *g, const char *reason) {
	json_t *b = body_new("ended", g);
	json_object_set_new(b, "reason", json_string(reason));
	calls_out_event(d, b, NULL);
}

/* To every participant but except (may be NULL); body is stolen. */
static void to_parts(calls_group *g, calls_part *except, json_t *body) {
	for(GList *l = g->parts; l != NULL; l = l->next) {
		calls_part *p = l->data;
		if(p != except)
			calls_out_event(p->device, json_deep_copy(body), NULL);
	}
	json_decref(body);
}

static void set_time(json_t *o, const char *key, gint64 real_us) {
	if(real_us <= 0)
		return;
	char *s = calls_time_text(real_us, TRUE);
	json_object_set_new(o, key, json_string(s));
	g_free(s);
}

static const char *outcome_of(calls_group *g, member *m) {
	if(m->caller)
		return g->answered_at > 0 ? "answered" : "cancelled";
	if(m->first_join > 0)
		return "answered";
	return m->declined ? "declined" : "missed";
}

/* The call as the database keeps it (sql/007_group_calls.sql). */
static void record(calls_group *g) {
	json_t *doc = json_object();
	json_object_set_new(doc, "call_id", json_string(g->id));
	json_object_set_new(doc, "kind", json_string("group"));
	json_object_set_new(doc, "media", json_string(g->video ? "video" : "audio"));
	json_object_set_new(doc, "caller", json_string(g->caller_user));
	json_object_set_new(doc, "caller_device", json_string(g->caller_device));
	json_object_set_new(doc, "title", json_string(g->title));
	set_time(doc, "started_at", g->started_at);
	set_time(doc, "answered_at", g->answered_at);
	if(g->ended) {
		set_time(doc, "ended_at", g->ended_at);
		json_object_set_new(doc, "reason", json_string(g->reason));
	}
	json_t *parts = json_array();
	for(GList *l = g->members; l != NULL; l = l->next) {
		member *m = l->data;
		json_t *p = json_pack("{ssss}", "user", m->user, "role", m->caller ? "caller" : "member");
		set_time(p, "invited_at", m->invited_at);
		set_time(p, "answered_at", m->first_join);
		if(m->device != NULL)
			json_object_set_new(p, "device", json_string(m->device));
		if(g->ended) {
			set_time(p, "left_at", m->last_leave);
			json_object_set_new(p, "outcome", json_string(outcome_of(g, m)));
		}
		json_array_append_new(parts, p);
	}
	json_object_set_new(doc, "participants", parts);
	json_object_set_new(doc, "segments", json_deep_copy(g->segments));
	calls_out_record("call", doc);
}

/* ---- ringing ---- */

static json_t *group_info(calls_group *g) {
	json_t *users = json_array();
	for(GList *l = g->members; l != NULL; l = l->next)
		json_array_append_new(users, json_string(((member *)l->data)->user));
	return json_pack("{ssso}", "title", g->title, "members", users);
}

static void tell_device(calls_group *g, member *m, calls_device *d) {
	for(guint i = 0; i < m->rings->len; i++) {
		if(g_ptr_array_index(m->rings, i) == d)
			return;
	}
	calls_device_ref(d);
	g_ptr_array_add(m->rings, d);
	json_t *b = body_new("incoming_call", g);
	json_object_set_new(b, "from", json_string(g->caller_user));
	json_object_set_new(b, "display", json_string(g->caller_display));
	json_object_set_new(b, "video", json_boolean(g->video));
	json_object_set_new(b, "group", group_info(g));
	calls_out_event(d, b, NULL);
	if(!g->ringing_sent) {
		g->ringing_sent = TRUE;
		calls_part *caller = part_of_user(g, g->caller_user);
		if(caller != NULL)
			calls_out_event(caller->device, body_new("ringing", g), NULL);
	}
}

static calls_push_call push_call(calls_group *g, member *m, json_t *info) {
	calls_push_call pc = {g->id, g->caller_user, g->caller_display, m->user, g->video, info,
		m->ring_started, &m->pushed};
	return pc;
}

/* The member's registrations, read for the ring on now: devices that are
 * not online are woken. */
static void pushes_read(calls_read *r) {
	char **ids = g_strsplit(r->data, " ", 2);
	calls_group *g = find(ids[0]);
	member *m = (g != NULL && !g->ended && ids[1] != NULL) ? find_member(g, ids[1]) : NULL;
	if(m != NULL && m->ring_deadline != 0 && r->ok && m->pushed == NULL) {
		json_t *info = group_info(g);
		calls_push_call pc = push_call(g, m, info);
		calls_push_ring_call(&pc, r->result);
		json_decref(info);
	}
	g_strfreev(ids);
}

static void ring_member(calls_group *g, member *m) {
	m->ring_deadline = mono_now() + (gint64)config->ring_timeout * G_USEC_PER_SEC;
	m->ring_started = real_now();
	calls_user *u = calls_registry_user(m->user);
	for(GList *l = u ? u->devices : NULL; l != NULL; l = l->next)
		tell_device(g, m, l->data);
	if(calls_push_on() && m->pushed == NULL)
		calls_push_lookup_user(m->user, g_strdup_printf("%s %s", g->id, m->user), pushes_read);
}

/* m stops ringing: its devices hear reason, except the one that caused it. */
static void ring_stop(calls_group *g, member *m, const char *reason, calls_device *except) {
	m->ring_deadline = 0;
	if(m->pushed != NULL) {
		json_t *info = group_info(g);
		calls_push_call pc = push_call(g, m, info);
		gboolean missed = m->first_join == 0 && !m->declined;
		calls_push_ring_over_call(&pc, except ? except->device_id : NULL, reason ? reason : "cancelled", missed);
		json_decref(info);
	}
	for(guint i = 0; i < m->rings->len; i++) {
		calls_device *d = g_ptr_array_index(m->rings, i);
		if(d != except && reason != NULL)
			send_ended(d, g, reason);
	}
	g_ptr_array_set_size(m->rings, 0);
}

static member *add_member(calls_group *g, const char *user, gboolean caller) {
	member *m = g_new0(member, 1);
	m->user = g_strdup(user);
	m->caller = caller;
	m->invited_at = real_now();
	m->rings = g_ptr_array_new_with_free_func((GDestroyNotify)calls_device_unref);
	g->members = g_list_append(g->members, m);
	return m;
}

/* ---- subscribers ---- */

/* Sends p's subscriber the offer for its streams as they are now. */
static void offer_streams(calls_part *p, const char *transaction, const char *what, gboolean restart) {
	json_t *b = body_new(what, p->g);
	json_object_set_new(b, "streams", calls_sfu_sub_streams(p->sub));
	json_t *jsep = NULL;
	if(calls_sfu_sub_pairs(p->sub) > 0) {
		jsep = calls_sfu_sub_offer(p->sub);
		/* Janus's core restarts ICE for an offer of ours that asks. */
		if(restart)
			json_object_set_new(jsep, "restart", json_true());
		p->offer_out = TRUE;
	}
	p->dirty = FALSE;
	if(transaction != NULL)
		calls_out_reply(p->sub_device, transaction, b, jsep);
	else
		calls_out_event(p->sub_device, b, jsep);
	if(jsep != NULL)
		json_decref(jsep);
}

/* Makes p's subscriber receive everyone else in the call; TRUE if that
 * changed what it receives. */
static gboolean receive_others(calls_part *p) {
	calls_sfu_pub *pubs[256];   /* max_group_size is at most 256 */
	guint n = 0;
	for(GList *l = p->g->parts; l != NULL && n < G_N_ELEMENTS(pubs); l = l->next) {
		calls_part *o = l->data;
		if(o != p)
			pubs[n++] = o->pub;
	}
	return calls_sfu_sub_set(p->sub, pubs, n);
}

/* p's subscriber receives everyone else in the call. */
static void refresh(calls_part *p) {
	if(p->sub == NULL)
		return;
	/* A call that is ending takes its streams away without offers. */
	if((!receive_others(p) && !p->dirty) || p->g->ended)
		return;
	if(p->offer_out)
		p->dirty = TRUE;
	else
		offer_streams(p, NULL, "streams", FALSE);
}

static void refresh_all(calls_group *g) {
	for(GList *l = g->parts; l != NULL; l = l->next)
		refresh(l->data);
}

static void keyframes_for(calls_part *p) {
	if(p->sub == NULL)
		return;
	GPtrArray *src = calls_sfu_sub_video_sources(p->sub);
	for(guint i = 0; i < src->len; i++)
		calls_out_pli(g_ptr_array_index(src, i));
	g_ptr_array_unref(src);
}

static void drop_subscriber(calls_part *p, const char *reason) {
	if(p->sub_device == NULL)
		return;
	calls_sfu_sub_free(p->sub);
	p->sub = NULL;
	if(reason != NULL)
		send_ended(p->sub_device, p->g, reason);
	calls_out_close_pc(p->sub_device);
	p->sub_device->feed_of = NULL;
	calls_device_unref(p->sub_device);
	p->sub_device = NULL;
	p->offer_out = p->dirty = FALSE;
}

/* ---- joining and leaving ---- */

static calls_part *add_part(calls_group *g, member *m, calls_device *d, calls_sfu_pub *pub) {
	calls_part *p = g_new0(calls_part, 1);
	p->g = g;
	p->m = m;
	calls_device_ref(d);
	p->device = d;
	p->display = g_strdup(d->user->display);
	p->pub = pub;
	p->feed = janus_random_uuid();
	g->parts = g_list_append(g->parts, p);
	gint64 now = real_now();
	if(m->first_join == 0) {
		m->first_join = now;
		m->device = g_strdup(d->device_id);
	}
	if(!m->caller && g->answered_at == 0)
		g->answered_at = now;
	char *at = calls_time_text(now, TRUE);
	p->segment = json_pack("{ssssss}", "user", m->user, "device", d->device_id, "joined_at", at);
	g_free(at);
	json_array_append_new(g->segments, p->segment);
	d->part = p;
	d->media_claimed = TRUE;
	d->audio = TRUE;
	d->video = calls_sfu_pub_has_video(pub);
	return p;
}

static json_t *participants_but(calls_group *g, calls_part *except) {
	json_t *out = json_array();
	for(GList *l = g->parts; l != NULL; l = l->next) {
		calls_part *p = l->data;
		if(p == except)
			continue;
		json_array_append_new(out, json_pack("{sssssbsbsb}", "user", p->m->user, "display", p->display,
			"audio", p->device->audio, "video", p->device->video, "talking", p->talking));
	}
	return out;
}

/* p leaves g. tell: the others hear participant_left with reason; the
 * device's own side hears `ended` with own_reason (NULL: nothing, it asked). */
static void remove_part(calls_part *p, const char *reason, gboolean tell, const char *own_reason) {
	calls_group *g = p->g;
	calls_device *d = p->device;
	g->parts = g_list_remove(g->parts, p);
	gint64 now = real_now();
	p->m->last_leave = now;
	char *at = calls_time_text(now, TRUE);
	json_object_set_new(p->segment, "left_at", json_string(at));
	g_free(at);
	/* Others stop receiving it before its publisher goes. */
	refresh_all(g);
	drop_subscriber(p, own_reason ? own_reason : reason);
	calls_sfu_pub_free(p->pub);
	if(own_reason != NULL)
		send_ended(d, g, own_reason);
	d->part = NULL;
	calls_call_release_device(d);
	if(tell) {
		json_t *b = body_new("participant_left", g);
		json_object_set_new(b, "user", json_string(p->m->user));
		json_object_set_new(b, "reason", json_string(reason));
		to_parts(g, NULL, b);
	}
	calls_presence_touch(p->m->user);
	calls_device_unref(d);
	g_free(p->display);
	g_free(p->feed);
	g_free(p);
}

static void end_group(calls_group *g, const char *reason, const char *ring_reason) {
	if(g->ended)
		return;
	g->ended = TRUE;
	g->reason = reason;
	g->ended_at = real_now();
	g->forget_at = mono_now() + FORGET_AFTER;
	g_hash_table_remove(links, g->link);
	for(GList *l = g->members; l != NULL; l = l->next) {
		member *m = l->data;
		if(m->ring_deadline != 0 || m->rings->len > 0)
			ring_stop(g, m, ring_reason, NULL);
	}
	while(g->parts != NULL)
		remove_part(g->parts->data, reason, FALSE, reason);
	g_queue_push_tail(&ended_groups, g);
	record(g);
	calls_out_notify(NULL, json_pack("{ssssss}", "event", "call_ended", "call_id", g->id, "reason", reason));
}

/* p is leaving; the call ends with the last one. */
static void leave(calls_part *p, const char *reason, const char *own_reason) {
	calls_group *g = p->g;
	remove_part(p, reason, TRUE, own_reason);
	if(g->parts == NULL)
		end_group(g, "hangup", "cancelled");
	else
		record(g);
}

/* ---- requests ---- */

static int device_free_for_call(calls_device *d, calls_error *err) {
	if(d->call != NULL || d->part != NULL)
		return calls_fail(err, CALLS_ERR_STATE, "this device is already in a call");
	if(d->offered != NULL)
		return calls_fail(err, CALLS_ERR_STATE, "this device is ringing for call %s: answer or decline it first",
			d->offered->id);
	if(d->feed_of != NULL)
		return calls_fail(err, CALLS_ERR_STATE, "this is a subscriber handle");
	return 0;
}

static int do_group_call(calls_device *d, const char *transaction, json_t *body, json_t *jsep, calls_error *err) {
	json_t *members = json_object_get(body, "members");
	const char *title = json_string_value(json_object_get(body, "title"));
	size_t n = json_array_size(members);
	if(n + 1 > (size_t)config->max_group_size)
		return calls_fail(err, CALLS_ERR_TOO_LARGE, "%zu members and the caller are more than max_group_size (%d)",
			n, config->max_group_size);
	for(size_t i = 0; i < n; i++) {
		const char *u = json_string_value(json_array_get(members, i));
		if(!strcmp(u, d->user->id))
			return calls_fail(err, CALLS_ERR_INVALID, "members[%zu] is yourself", i);
		for(size_t j = 0; j < i; j++) {
			if(!strcmp(u, json_string_value(json_array_get(members, j))))
				return calls_fail(err, CALLS_ERR_INVALID, "members[%zu] repeats %s", i, u);
		}
	}
	if(device_free_for_call(d, err) != 0)
		return err->code;
	json_t *answer = NULL;
	calls_sfu_pub *pub = calls_sfu_pub_new(d, d->user->id, d->user->display, jsep, &answer, err);
	if(pub == NULL)
		return err->code;
	calls_group *g = g_new0(calls_group, 1);
	g->id = janus_random_uuid();
	char *uuid = janus_random_uuid();
	/* 122 random bits, without the dashes: the link is a bearer secret. */
	g->link = g_new0(char, 33);
	char *out = g->link;
	for(const char *s = uuid; *s != '\0'; s++) {
		if(*s != '-')
			*out++ = *s;
	}
	g_free(uuid);
	g->title = g_strdup(title ? title : "");
	g->caller_user = g_strdup(d->user->id);
	g->caller_display = g_strdup(d->user->display);
	g->caller_device = g_strdup(d->device_id);
	g->video = json_is_true(json_object_get(body, "video"));
	g->segments = json_array();
	g->started_at = real_now();
	g_hash_table_insert(groups, g->id, g);
	g_hash_table_insert(links, g->link, g);
	member *cm = add_member(g, d->user->id, TRUE);
	calls_part *p = add_part(g, cm, d, pub);
	for(size_t i = 0; i < n; i++)
		add_member(g, json_string_value(json_array_get(members, i)), FALSE);
	json_t *b = body_new("group_calling", g);
	json_object_set_new(b, "link", json_string(g->link));
	json_object_set_new(b, "feed", json_string(p->feed));
	calls_out_reply(d, transaction, b, answer);
	json_decref(answer);
	calls_out_notify(d, json_pack("{sssssssb}", "event", "call_started", "call_id", g->id,
		"from", g->caller_user, "video", g->video));
	for(GList *l = g->members; l != NULL; l = l->next) {
		member *m = l->data;
		if(!m->caller)
			ring_member(g, m);
	}
	calls_presence_touch(d->user->id);
	record(g);
	return 0;
}

static int do_join(calls_device *d, const char *transaction, json_t *body, json_t *jsep, calls_error *err) {
	const char *id = json_string_value(json_object_get(body, "call_id"));
	const char *link = json_string_value(json_object_get(body, "link"));
	if(id == NULL && link == NULL)
		return calls_fail(err, CALLS_ERR_INVALID, "join needs call_id or link");
	calls_group *g = id ? find(id) : g_hash_table_lookup(links, link);
	if(g == NULL || g->ended)
		return calls_fail(err, CALLS_ERR_NOT_FOUND, id ? "no call %s" : "no call has this link", id);
	if(id != NULL && link != NULL && strcmp(link, g->link) != 0)
		return calls_fail(err, CALLS_ERR_NOT_FOUND, "no call has this link");
	member *m = find_member(g, d->user->id);
	if(m == NULL && link == NULL)
		return calls_fail(err, CALLS_ERR_FORBIDDEN, "you are not invited to call %s", g->id);
	if(device_free_for_call(d, err) != 0)
		return err->code;
	if(part_of_user(g, d->user->id) != NULL)
		return calls_fail(err, CALLS_ERR_STATE, "you are in call %s on another device", g->id);
	if(g_list_length(g->parts) >= (guint)config->max_group_size)
		return calls_fail(err, CALLS_ERR_TOO_LARGE, "call %s is full (%d)", g->id, config->max_group_size);
	json_t *answer = NULL;
	calls_sfu_pub *pub = calls_sfu_pub_new(d, d->user->id, d->user->display, jsep, &answer, err);
	if(pub == NULL)
		return err->code;
	if(m == NULL)
		m = add_member(g, d->user->id, FALSE);
	calls_part *p = add_part(g, m, d, pub);
	/* After add_part: a member who joined did not miss the call. */
	if(m->ring_deadline != 0 || m->rings->len > 0)
		ring_stop(g, m, "answered_elsewhere", d);
	json_t *b = body_new("joined", g);
	json_object_set_new(b, "link", json_string(g->link));
	json_object_set_new(b, "feed", json_string(p->feed));
	json_object_set_new(b, "title", json_string(g->title));
	json_object_set_new(b, "participants", participants_but(g, p));
	calls_out_reply(d, transaction, b, answer);
	json_decref(answer);
	json_t *ev = body_new("participant_joined", g);
	json_object_set_new(ev, "user", json_string(m->user));
	json_object_set_new(ev, "display", json_string(p->display));
	to_parts(g, p, ev);
	refresh_all(g);
	calls_presence_touch(m->user);
	calls_out_notify(d, json_pack("{ssssss}", "event", "call_answered", "call_id", g->id, "device", d->device_id));
	record(g);
	return 0;
}

/* The live group a request names, and the requester's part in it (NULL if
 * it is only a member). 403 for users who are neither. */
static int lookup(calls_device *d, json_t *body, calls_group **out, member **m, calls_error *err) {
	const char *id = json_string_value(json_object_get(body, "call_id"));
	calls_group *g = find(id);
	if(g == NULL || g->ended)
		return calls_fail(err, CALLS_ERR_NOT_FOUND, "no call %s", id);
	*m = find_member(g, d->user->id);
	if(*m == NULL)
		return calls_fail(err, CALLS_ERR_FORBIDDEN, "you are not part of call %s", id);
	*out = g;
	return 0;
}

static int in_call(calls_device *d, calls_group *g, calls_error *err) {
	if(d->part == NULL || d->part->g != g)
		return calls_fail(err, CALLS_ERR_STATE, "this device is not in call %s", g->id);
	return 0;
}

static int do_invite(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	calls_group *g = NULL;
	member *me = NULL;
	if(lookup(d, body, &g, &me, err) != 0 || in_call(d, g, err) != 0)
		return err->code;
	json_t *users = json_object_get(body, "users");
	json_t *ring = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(users, i, v) {
		const char *u = json_string_value(v);
		gboolean seen = FALSE;
		for(size_t j = 0; j < json_array_size(ring) && !seen; j++)
			seen = !strcmp(u, json_string_value(json_array_get(ring, j)));
		if(!seen && part_of_user(g, u) == NULL)
			json_array_append_new(ring, json_string(u));
	}
	if(g_list_length(g->parts) + json_array_size(ring) > (size_t)config->max_group_size) {
		json_decref(ring);
		return calls_fail(err, CALLS_ERR_TOO_LARGE, "the participants and %zu invited users are more than max_group_size (%d)",
			json_array_size(users), config->max_group_size);
	}
	json_array_foreach(ring, i, v) {
		const char *u = json_string_value(v);
		member *m = find_member(g, u);
		if(m == NULL)
			m = add_member(g, u, FALSE);
		m->invited_at = m->invited_at ? m->invited_at : real_now();
		m->declined = FALSE;
		ring_member(g, m);
	}
	json_t *b = body_new("invited", g);
	json_object_set_new(b, "users", ring);
	calls_out_reply(d, transaction, b, NULL);
	record(g);
	return 0;
}

static int do_decline(calls_device *d, const char *transaction, json_t *body, const char *what, calls_error *err) {
	calls_group *g = NULL;
	member *m = NULL;
	if(lookup(d, body, &g, &m, err) != 0)
		return err->code;
	if(m->ring_deadline == 0)
		return calls_fail(err, CALLS_ERR_STATE, "call %s is not ringing you", g->id);
	m->declined = TRUE;
	ring_stop(g, m, "declined_elsewhere", d);
	calls_out_reply(d, transaction, body_new(what, g), NULL);
	return 0;
}

static int do_leave(calls_device *d, const char *transaction, json_t *body, const char *what, calls_error *err) {
	calls_group *g = NULL;
	member *m = NULL;
	if(lookup(d, body, &g, &m, err) != 0)
		return err->code;
	if(d->part == NULL || d->part->g != g) {
		/* A member that rings hangs up: that is declining. */
		if(!strcmp(what, "hungup") && m->ring_deadline != 0)
			return do_decline(d, transaction, body, what, err);
		return in_call(d, g, err);
	}
	calls_out_reply(d, transaction, body_new(what, g), NULL);
	leave(d->part, "left", NULL);
	return 0;
}

static int do_media(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	calls_group *g = NULL;
	member *m = NULL;
	if(lookup(d, body, &g, &m, err) != 0 || in_call(d, g, err) != 0)
		return err->code;
	d->audio = json_is_true(json_object_get(body, "audio"));
	d->video = json_is_true(json_object_get(body, "video"));
	json_t *b = body_new("media_set", g);
	json_object_set_new(b, "audio", json_boolean(d->audio));
	json_object_set_new(b, "video", json_boolean(d->video));
	calls_out_reply(d, transaction, b, NULL);
	json_t *ev = body_new("media_state", g);
	json_object_set_new(ev, "user", json_string(m->user));
	json_object_set_new(ev, "audio", json_boolean(d->audio));
	json_object_set_new(ev, "video", json_boolean(d->video));
	to_parts(g, d->part, ev);
	return 0;
}

static int do_call_info(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	const char *id = json_string_value(json_object_get(body, "call_id"));
	calls_group *g = find(id);
	if(g == NULL)
		return calls_fail(err, CALLS_ERR_NOT_FOUND, "no call %s", id);
	if(find_member(g, d->user->id) == NULL)
		return calls_fail(err, CALLS_ERR_FORBIDDEN, "you are not part of call %s", id);
	json_t *b = body_new("call_info", g);
	json_object_set_new(b, "kind", json_string("group"));
	json_object_set_new(b, "state", json_string(g->ended ? "ended" : "active"));
	json_object_set_new(b, "video", json_boolean(g->video));
	json_object_set_new(b, "from", json_string(g->caller_user));
	json_object_set_new(b, "title", json_string(g->title));
	char *started = calls_time_text(g->started_at, FALSE);
	json_object_set_new(b, "started_at", json_string(started));
	g_free(started);
	json_t *users = json_array();
	for(GList *l = g->parts; l != NULL; l = l->next)
		json_array_append_new(users, json_string(((calls_part *)l->data)->m->user));
	json_object_set_new(b, "participants", users);
	if(g->ended)
		json_object_set_new(b, "reason", json_string(g->reason));
	calls_out_reply(d, transaction, b, NULL);
	return 0;
}

static int do_subscribe(calls_device *d, const char *transaction, json_t *body, calls_error *err) {
	const char *id = json_string_value(json_object_get(body, "call_id"));
	const char *feed = json_string_value(json_object_get(body, "feed"));
	if(d->user != NULL)
		return calls_fail(err, CALLS_ERR_STATE, "subscribe on a second handle: this one is registered");
	calls_group *g = find(id);
	if(d->feed_of != NULL && d->feed_of->g == g && !strcmp(d->feed_of->feed, feed)) {
		/* The same subscription again: a fresh offer that restarts ICE,
		 * for a receiver whose PeerConnection broke. */
		calls_part *p = d->feed_of;
		if(p->offer_out)
			return calls_fail(err, CALLS_ERR_STATE, "an offer is waiting for its answer");
		offer_streams(p, transaction, "subscribed", TRUE);
		return 0;
	}
	if(d->feed_of != NULL)
		return calls_fail(err, CALLS_ERR_STATE, "this handle already subscribes");
	if(g == NULL || g->ended)
		return calls_fail(err, CALLS_ERR_NOT_FOUND, "no call %s", id);
	calls_part *p = NULL;
	for(GList *l = g->parts; l != NULL && p == NULL; l = l->next) {
		calls_part *o = l->data;
		if(!strcmp(o->feed, feed))
			p = o;
	}
	if(p == NULL)
		return calls_fail(err, CALLS_ERR_FORBIDDEN, "this feed is not in call %s", g->id);
	/* A client that reconnects subscribes again: the old handle is done. */
	drop_subscriber(p, "left");
	calls_device_ref(d);
	p->sub_device = d;
	d->feed_of = p;
	p->sub = calls_sfu_sub_new(d);
	receive_others(p);
	offer_streams(p, transaction, "subscribed", FALSE);
	return 0;
}

static int do_update(calls_device *d, const char *transaction, json_t *body, json_t *jsep, calls_error *err) {
	const char *type = json_string_value(json_object_get(jsep, "type"));
	if(d->feed_of == NULL) {
		/* The publisher's own PeerConnection: an ICE restart is answered;
		 * a change of streams is not (see docs/protocol.md). */
		calls_group *g = NULL;
		member *m = NULL;
		if(lookup(d, body, &g, &m, err) != 0 || in_call(d, g, err) != 0)
			return err->code;
		if(strcmp(type, "offer") != 0)
			return calls_fail(err, CALLS_ERR_STATE, "the plugin makes no offers to a publisher: nothing to answer");
		json_t *answer = calls_sfu_pub_reanswer(d->part->pub, jsep, err);
		if(answer == NULL)
			return err->code;
		d->media_claimed = TRUE;
		calls_out_reply(d, transaction, body_new("updated", g), answer);
		json_decref(answer);
		return 0;
	}
	calls_part *p = d->feed_of;
	const char *id = json_string_value(json_object_get(body, "call_id"));
	if(strcmp(id, p->g->id) != 0)
		return calls_fail(err, CALLS_ERR_FORBIDDEN, "this handle subscribes to another call");
	if(strcmp(type, "answer") != 0)
		return calls_fail(err, CALLS_ERR_STATE, "a subscriber answers the plugin's offers; it does not offer");
	if(!p->offer_out)
		return calls_fail(err, CALLS_ERR_STATE, "no offer is waiting for an answer");
	p->offer_out = FALSE;
	calls_sfu_sub_answered(p->sub);
	calls_out_reply(d, transaction, body_new("updated", p->g), NULL);
	/* A first answer: the keyframes are asked for when its PeerConnection
	 * is up (setup_media); one sent earlier would arrive before DTLS is
	 * done and be lost, and Janus paces keyframe requests. */
	if(d->pc_up)
		keyframes_for(p);
	if(p->dirty)
		offer_streams(p, NULL, "streams", FALSE);
	return 0;
}

gboolean calls_group_unregistered_ok(calls_request_kind kind, calls_device *d) {
	return kind == CALLS_REQ_SUBSCRIBE || (kind == CALLS_REQ_UPDATE && d->feed_of != NULL);
}

gboolean calls_group_takes(calls_request_kind kind, calls_device *d, json_t *body) {
	switch(kind) {
		case CALLS_REQ_GROUP_CALL:
		case CALLS_REQ_JOIN:
		case CALLS_REQ_INVITE:
		case CALLS_REQ_LEAVE:
		case CALLS_REQ_SUBSCRIBE:
			return TRUE;
		case CALLS_REQ_UPDATE:
			if(d->feed_of != NULL)
				return TRUE;
			/* fall through */
		case CALLS_REQ_DECLINE:
		case CALLS_REQ_HANGUP:
		case CALLS_REQ_MEDIA:
		case CALLS_REQ_CALL_INFO:
			return find(json_string_value(json_object_get(body, "call_id"))) != NULL;
		default:
			return FALSE;
	}
}

int calls_group_request(calls_request_kind kind, calls_device *d, const char *transaction,
		json_t *body, json_t *jsep, calls_error *err) {
	switch(kind) {
		case CALLS_REQ_GROUP_CALL: return do_group_call(d, transaction, body, jsep, err);
		case CALLS_REQ_JOIN: return do_join(d, transaction, body, jsep, err);
		case CALLS_REQ_INVITE: return do_invite(d, transaction, body, err);
		case CALLS_REQ_LEAVE: return do_leave(d, transaction, body, "left", err);
		case CALLS_REQ_HANGUP: return do_leave(d, transaction, body, "hungup", err);
		case CALLS_REQ_DECLINE: return do_decline(d, transaction, body, "declined", err);
		case CALLS_REQ_MEDIA: return do_media(d, transaction, body, err);
		case CALLS_REQ_CALL_INFO: return do_call_info(d, transaction, body, err);
		case CALLS_REQ_SUBSCRIBE: return do_subscribe(d, transaction, body, err);
		case CALLS_REQ_UPDATE: return do_update(d, transaction, body, jsep, err);
		default: return calls_fail(err, CALLS_ERR_INTERNAL, "not a group request");
	}
}

/* ---- devices ---- */

static GList *live_groups(void) {
	GList *out = NULL;
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, links);
	while(g_hash_table_iter_next(&it, NULL, &value))
		out = g_list_prepend(out, value);
	return out;
}

void calls_group_device_registered(calls_device *d) {
	GList *gs = live_groups();
	for(GList *l = gs; l != NULL; l = l->next) {
		calls_group *g = l->data;
		member *m = find_member(g, d->user->id);
		if(m != NULL && m->ring_deadline != 0)
			tell_device(g, m, d);
	}
	g_list_free(gs);
}

void calls_group_device_leaving(calls_device *d, const char *reason) {
	if(d->feed_of != NULL) {
		calls_part *p = d->feed_of;
		drop_subscriber(p, NULL);
	}
	if(d->part != NULL)
		leave(d->part, !strcmp(reason, "hangup") ? "left" : reason, NULL);
	if(d->user == NULL)
		return;
	/* Stop telling it about rings. */
	GList *gs = live_groups();
	for(GList *l = gs; l != NULL; l = l->next) {
		member *m = find_member(l->data, d->user->id);
		if(m != NULL)
			g_ptr_array_remove(m->rings, d);
	}
	g_list_free(gs);
}

gboolean calls_group_media_up(calls_device *d) {
	if(d->part != NULL) {
		d->pc_up = TRUE;
		d->part->grace = 0;
		calls_relay_media_up(d);
		calls_out_pli(d);
		return TRUE;
	}
	if(d->feed_of != NULL) {
		d->pc_up = TRUE;
		keyframes_for(d->feed_of);
		return TRUE;
	}
	return FALSE;
}

gboolean calls_group_media_down(calls_device *d) {
	if(d->part != NULL) {
		d->pc_up = FALSE;
		if(d->part->grace == 0)
			d->part->grace = mono_now() + (gint64)config->ice_grace * G_USEC_PER_SEC;
		return TRUE;
	}
	if(d->feed_of != NULL) {
		d->pc_up = FALSE;
		return TRUE;
	}
	return FALSE;
}

json_t *calls_group_handle_info(calls_device *d) {
	calls_part *p = d->part ? d->part : d->feed_of;
	if(p == NULL)
		return NULL;
	json_t *info = json_pack("{sssssbsi}", "call_id", p->g->id, "role", d->part ? "publisher" : "subscriber",
		"video", d->part ? calls_sfu_pub_has_video(p->pub) : FALSE, "participants", (int)g_list_length(p->g->parts));
	if(d->feed_of != NULL && p->sub != NULL) {
		json_object_set_new(info, "streams", calls_sfu_sub_streams(p->sub));
		json_object_set_new(info, "layer", json_integer(calls_sfu_sub_layer(p->sub)));
		json_object_set_new(info, "offer_out", json_boolean(p->offer_out));
	}
	return info;
}

void calls_group_talking(calls_device *d, gboolean talking) {
	calls_part *p = d->part;
	if(p == NULL || p->talking == talking)
		return;
	p->talking = talking;
	json_t *b = body_new("talking", p->g);
	json_object_set_new(b, "user", json_string(p->m->user));
	json_object_set_new(b, "talking", json_boolean(talking));
	to_parts(p->g, NULL, b);
}

void calls_group_user_kicked(const char *user) {
	GList *gs = live_groups();
	for(GList *l = gs; l != NULL; l = l->next) {
		member *m = find_member(l->data, user);
		if(m != NULL && m->ring_deadline != 0)
			ring_stop(l->data, m, "kicked", NULL);
	}
	g_list_free(gs);
}

/* ---- timers ---- */

gint64 calls_group_tick(void) {
	if(groups == NULL)
		return 0;
	gint64 now = mono_now(), next = 0;
#define CONSIDER(t) do { if((t) > 0 && (next == 0 || (t) < next)) next = (t); } while(0)
	GList *gs = live_groups();
	for(GList *l = gs; l != NULL; l = l->next) {
		calls_group *g = l->data;
		for(GList *ml = g->members; ml != NULL; ml = ml->next) {
			member *m = ml->data;
			if(m->ring_deadline != 0 && now >= m->ring_deadline)
				ring_stop(g, m, "missed", NULL);
			else
				CONSIDER(m->ring_deadline);
		}
		GList *failed = NULL;
		for(GList *pl = g->parts; pl != NULL; pl = pl->next) {
			calls_part *p = pl->data;
			if(p->grace > 0 && now >= p->grace)
				failed = g_list_prepend(failed, p);
			else
				CONSIDER(p->grace);
		}
		for(GList *fl = failed; fl != NULL; fl = fl->next)
			leave(fl->data, "failed", "failed");
		g_list_free(failed);
	}
	g_list_free(gs);
	calls_group *old;
	while((old = g_queue_peek_head(&ended_groups)) != NULL && now >= old->forget_at) {
		g_queue_pop_head(&ended_groups);
		g_hash_table_remove(groups, old->id);
	}
	if(old != NULL)
		CONSIDER(old->forget_at);
#undef CONSIDER
	return next;
}

/* ---- admin ---- */

int calls_group_end_by_admin(const char *call_id, calls_error *err) {
	calls_group *g = find(call_id);
	if(g == NULL || g->ended)
		return calls_fail(err, CALLS_ERR_NOT_FOUND, "no call %s", call_id ? call_id : "");
	end_group(g, "kicked", "cancelled");
	return 0;
}

void calls_group_end_all(const char *reason) {
	if(links == NULL)
		return;
	GList *gs = live_groups();
	for(GList *l = gs; l != NULL; l = l->next)
		end_group(l->data, reason, reason);
	g_list_free(gs);
}

void calls_group_list(json_t *entries) {
	GList *gs = links ? live_groups() : NULL;
	for(GList *l = gs; l != NULL; l = l->next) {
		calls_group *g = l->data;
		json_t *users = json_array();
		for(GList *pl = g->parts; pl != NULL; pl = pl->next)
			json_array_append_new(users, json_string(((calls_part *)pl->data)->m->user));
		json_array_append_new(entries, json_pack("{sssssssosb}", "call_id", g->id, "kind", "group",
			"state", "active", "participants", users, "video", g->video));
	}
	g_list_free(gs);
}

guint calls_group_active_count(void) {
	return links ? g_hash_table_size(links) : 0;
}

guint calls_group_participant_count(void) {
	guint n = 0;
	GList *gs = links ? live_groups() : NULL;
	for(GList *l = gs; l != NULL; l = l->next)
		n += g_list_length(((calls_group *)l->data)->parts);
	g_list_free(gs);
	return n;
}

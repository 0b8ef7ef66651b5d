/*
 * calls_store.c - the PostgreSQL thread (see calls_store.h).
 *
 * Work moves through three places, always in order:
 *   inbox   (any thread, under inbox.lock) -> the store thread takes it all;
 *   pending (store thread) -> writes while the database is up and the spool
 *           is empty; reads wait in a queue of their own, each behind the
 *           writes that came before it (its barrier);
 *   spool   (file) -> writes while the database is down or the spool is
 *           still being replayed.
 * At most one segment (a batch of writes with one sync, or one read) is in
 * flight. Its records leave memory only when the database confirmed them,
 * or when they are safely in the spool.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <debug.h>
#include <utils.h>

#include "calls_migrations.h"
#include "calls_registry.h"
#include "calls_spool.h"
#include "calls_store.h"

#define BATCH 200
#define ALIVE_EVERY (10 * G_USEC_PER_SEC)
#define BACKOFF_MIN (250 * G_TIME_SPAN_MILLISECOND)
#define BACKOFF_MAX (10 * G_USEC_PER_SEC)
#define MIGRATION_LOCK "7306154001"
/* The first history page: before every call there will ever be. */
#define END_OF_TIME_US G_GINT64_CONSTANT(253402300799999999)
#define LAST_ID "ffffffff-ffff-ffff-ffff-ffffffffffff"

typedef struct job {
	char *line;           /* a write: "<op>\t<json doc>" */
	char *op;             /* until the store thread makes the line of them */
	json_t *doc;
	calls_read *read;     /* or a read */
	gboolean alone;       /* write it in a batch of its own (its batch failed) */
	guint64 seq;          /* a write: its place in memory; a read: the last write before it */
} job;

typedef enum seg_kind { SEG_WRITES, SEG_READ, SEG_ORPHANS, SEG_ALIVE } seg_kind;

typedef struct segment {
	seg_kind kind;
	GPtrArray *jobs;      /* job*, for SEG_WRITES and SEG_READ */
	gboolean from_spool;
	off_t spool_end;
	guint expected, seen; /* query results */
	char *error;          /* the first error, if any */
	char sqlstate[6];     /* and its SQLSTATE */
	PGresult *result;     /* a read's, or the orphans count */
	gint64 sent_at;
} segment;

static struct {
	GMutex lock;
	GQueue jobs;
	gboolean stop;
	int wake[2];
} inbox;

static const calls_config *config;
static void (*done_cb)(calls_read *r);
static GThread *thread;
static gboolean enabled;
static char *node, *boot;

/* store thread only */
static PGconn *conn;
static gboolean ready;
static calls_spool *spool;
static GQueue pending = G_QUEUE_INIT;     /* job* writes, oldest first */
static GQueue reads = G_QUEUE_INIT;       /* job* reads, oldest first */
static guint64 write_seq;
static segment *inflight;
static gint64 retry_at, backoff, down_since, alive_due;
static gboolean orphans_done, said_down;
static off_t alone_until;      /* spool records before this go one per batch */
static char *last_error;

static volatile gint queued_count, spooled_count;
/* Connected, nothing left to replay, crash-left calls closed: only then can a
 * read be served, and only then do callers wait for one. */
static volatile gint up;

/* ---- jobs ---- */

calls_read *calls_read_new(calls_read_kind kind, const char *user) {
	calls_read *r = g_new0(calls_read, 1);
	r->kind = kind;
	r->user = g_strdup(user);
	r->limit = 20;
	r->before_us = END_OF_TIME_US;
	g_strlcpy(r->before_id, LAST_ID, sizeof(r->before_id));
	return r;
}

void calls_read_free(calls_read *r) {
	if(r == NULL)
		return;
	g_free(r->user);
	if(r->call_ids != NULL)
		g_ptr_array_unref(r->call_ids);
	if(r->ids != NULL)
		g_ptr_array_unref(r->ids);
	if(r->result != NULL)
		json_decref(r->result);
	g_free(r->transaction);
	if(r->data != NULL && r->data_free != NULL)
		r->data_free(r->data);
	if(r->owner != NULL)
		calls_device_unref(r->owner);
	g_free(r);
}

static void job_free(job *j) {
	g_free(j->line);
	g_free(j->op);
	if(j->doc != NULL)
		json_decref(j->doc);
	g_free(j);
}

/* The line of a write, made here on the store thread: serialising a call
 * record costs the handler thread more than anything else it does for a
 * record. */
static void job_line(job *j) {
	if(j->line != NULL || j->doc == NULL)
		return;
	/* node and boot say which run made a call record, also when it is
	 * replayed by a later one. The doc is shared, and read-only from now
	 * on: they go into a shallow copy. */
	json_t *d = j->doc;
	if(!strcmp(j->op, "call") || !strcmp(j->op, "presence")) {
		d = json_copy(j->doc);
		json_object_set_new(d, "node", json_string(node));
		json_object_set_new(d, "boot", json_string(boot));
	}
	char *text = json_dumps(d, JSON_COMPACT);
	if(d != j->doc)
		json_decref(d);
	j->line = g_strdup_printf("%s\t%s", j->op, text);
	free(text);
	json_decref(j->doc);
	j->doc = NULL;
	g_free(j->op);
	j->op = NULL;
}

static void answer(calls_read *r, gboolean ok) {
	r->ok = ok;
	if(!ok && r->result != NULL) {
		json_decref(r->result);
		r->result = NULL;
	}
	done_cb(r);
}

static void wake(void) {
	char b = 1;
	if(write(inbox.wake[1], &b, 1) < 0) {
		/* The pipe is full: the thread is awake already. */
	}
}

gboolean calls_store_enabled(void) {
	return enabled;
}

gboolean calls_store_ready(void) {
	return enabled && g_atomic_int_get(&up);
}

guint calls_store_queued(void) {
	return (guint)g_atomic_int_get(&queued_count);
}

guint calls_store_spooled(void) {
	return (guint)g_atomic_int_get(&spooled_count);
}

static void push_job(job *j) {
	g_mutex_lock(&inbox.lock);
	/* Only the first job into an empty inbox wakes the thread: it reads
	 * the pipe before it takes the inbox, so it takes the jobs queued
	 * behind that one too, and a write to the pipe is a system call. */
	gboolean first = g_queue_is_empty(&inbox.jobs);
	g_queue_push_tail(&inbox.jobs, j);
	g_mutex_unlock(&inbox.lock);
	if(first)
		wake();
}

void calls_store_write(const char *op, json_t *doc) {
	if(!enabled)
		return;
	/* The store thread serialises it (job_line): nobody changes a record
	 * once it is written, and jansson counts references atomically. */
	job *j = g_new0(job, 1);
	j->op = g_strdup(op);
	j->doc = json_incref(doc);
	g_atomic_int_inc(&queued_count);
	push_job(j);
}

void calls_store_read(calls_read *r) {
	r->deadline = g_get_monotonic_time() + (gint64)config->db_timeout_ms * G_TIME_SPAN_MILLISECOND;
	/* Not connected, or still replaying what an outage left: a read would
	 * only wait for its deadline, or miss calls; say so at once. */
	if(!enabled || !g_atomic_int_get(&up)) {
		answer(r, FALSE);
		return;
	}
	job *j = g_new0(job, 1);
	j->read = r;
	push_job(j);
}

/* ---- the spool ---- */

static void spool_job(job *j) {
	if(calls_spool_append(spool, j->line) < 0) {
		/* Nowhere left to keep it: say exactly what is lost. */
		JANUS_LOG(LOG_ERR, "[calls] store: cannot write to the spool (%s); lost record: %s\n",
			g_strerror(errno), j->line);
	}
	g_atomic_int_inc(&spooled_count);
}

static void spool_sync(void) {
	if(calls_spool_sync(spool) < 0)
		JANUS_LOG(LOG_ERR, "[calls] store: cannot sync the spool: %s\n", g_strerror(errno));
}

static void reject(const char *line, const char *why) {
	/* A record the database refuses on its own is kept beside the spool
	 * for an operator, not retried forever and not dropped. */
	JANUS_LOG(LOG_ERR, "[calls] store: the database refused a record (%s); kept in %s/rejected.jsonl: %s\n",
		why, config->spool_dir, line);
	char *path = g_build_filename(config->spool_dir, "rejected.jsonl", NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if(fd >= 0) {
		char *rec = g_strdup_printf("%s\n", line);
		if(write(fd, rec, strlen(rec)) < 0 || fdatasync(fd) < 0)
			JANUS_LOG(LOG_ERR, "[calls] store: cannot write %s: %s\n", path, g_strerror(errno));
		g_free(rec);
		close(fd);
	}
	g_free(path);
}

/* ---- the connection ---- */

static void segment_free(segment *s) {
	if(s == NULL)
		return;
	if(s->jobs != NULL)
		g_ptr_array_unref(s->jobs);
	g_free(s->error);
	if(s->result != NULL)
		PQclear(s->result);
	g_free(s);
}

static void set_error(const char *why) {
	g_free(last_error);
	last_error = g_strdup(why);
	/* libpq's messages run over several lines: one log line each. */
	g_strdelimit(last_error, "\n\t", ' ');
	g_strstrip(last_error);
}

/* The database is gone (or hangs): keep what was in flight and what waits in
 * memory in the spool, in order, and answer every read "unavailable". */
static void lost(const char *why) {
	set_error(why);
	if(!said_down)
		JANUS_LOG(LOG_WARN, "[calls] store: PostgreSQL is unreachable (%s); writes go to the spool in %s\n",
			last_error, config->spool_dir);
	said_down = TRUE;
	if(down_since == 0)
		down_since = g_get_monotonic_time();
	if(conn != NULL) {
		/* PQfinish says goodbye on the socket; a hung server must not
		 * make that block. */
		if(PQsocket(conn) >= 0)
			shutdown(PQsocket(conn), SHUT_RDWR);
		PQfinish(conn);
		conn = NULL;
	}
	ready = FALSE;
	segment *s = inflight;
	inflight = NULL;
	if(s != NULL && s->kind == SEG_WRITES && !s->from_spool) {
		for(guint i = 0; i < s->jobs->len; i++) {
			job *j = g_ptr_array_index(s->jobs, i);
			spool_job(j);
			g_atomic_int_add(&queued_count, -1);
		}
	} else if(s != NULL && s->kind == SEG_READ) {
		job *j = g_ptr_array_index(s->jobs, 0);
		answer(j->read, FALSE);
		j->read = NULL;
	}
	segment_free(s);
	job *j;
	while((j = g_queue_pop_head(&pending)) != NULL) {
		spool_job(j);
		g_atomic_int_add(&queued_count, -1);
		job_free(j);
	}
	while((j = g_queue_pop_head(&reads)) != NULL) {
		answer(j->read, FALSE);
		j->read = NULL;
		job_free(j);
	}
	g_atomic_int_set(&up, 0);
	spool_sync();
	backoff = backoff == 0 ? BACKOFF_MIN : MIN(backoff * 2, BACKOFF_MAX);
	retry_at = g_get_monotonic_time() + backoff;
}

/* Waits for conn to be readable (or writable) until deadline. */
static int wait_socket(gboolean write_too, gint64 deadline) {
	gint64 left = deadline - g_get_monotonic_time();
	if(left <= 0)
		return 0;
	struct pollfd p = {PQsocket(conn), POLLIN | (write_too ? POLLOUT : 0), 0};
	int rc = poll(&p, 1, (int)MAX(1, left / 1000));
	return rc < 0 && errno == EINTR ? 1 : rc;
}

/* Setup steps run one statement (or script) at a time, outside pipeline
 * mode, each bounded by the timeout. Returns the last result (PQclear it)
 * or NULL with last_error set. */
static PGresult *run(const char *sql, int nparams, const char *const *params) {
	gint64 deadline = g_get_monotonic_time() + (gint64)config->db_timeout_ms * G_TIME_SPAN_MILLISECOND;
	int sent = nparams > 0 ? PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)
		: PQsendQuery(conn, sql);
	if(!sent) {
		set_error(PQerrorMessage(conn));
		return NULL;
	}
	PGresult *last = NULL;
	char *error = NULL;
	while(TRUE) {
		int f = PQflush(conn);
		if(f < 0)
			break;
		if(f == 0 && !PQisBusy(conn)) {
			PGresult *r = PQgetResult(conn);
			if(r == NULL)
				break;
			ExecStatusType st = PQresultStatus(r);
			if(st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && error == NULL)
				error = g_strdup(PQresultErrorMessage(r));
			if(last != NULL)
				PQclear(last);
			last = r;
			continue;
		}
		if(wait_socket(f == 1, deadline) <= 0) {
			error = error ? error : g_strdup_printf("no answer within %d ms", config->db_timeout_ms);
			break;
		}
		if(!PQconsumeInput(conn))
			break;
	}
	if(error == NULL && (last == NULL || PQstatus(conn) != CONNECTION_OK))
		error = g_strdup(PQerrorMessage(conn));
	if(error != NULL) {
		set_error(error);
		g_free(error);
		if(last != NULL)
			PQclear(last);
		return NULL;
	}
	return last;
}

static gboolean run_ok(const char *sql, int nparams, const char *const *params) {
	PGresult *r = run(sql, nparams, params);
	if(r == NULL)
		return FALSE;
	PQclear(r);
	return TRUE;
}

static gboolean migrate(void) {
	if(!run_ok("SELECT pg_advisory_lock(" MIGRATION_LOCK ")", 0, NULL))
		return FALSE;
	gboolean ok = TRUE;
	GHashTable *applied = g_hash_table_new(g_direct_hash, g_direct_equal);
	PGresult *r = run("SELECT to_regclass('calls_migrations') IS NOT NULL", 0, NULL);
	gboolean have = r != NULL && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
	if(r != NULL) {
		PQclear(r);
		r = run(have ? "SELECT version FROM calls_migrations" : "SELECT 1 WHERE false", 0, NULL);
	}
	if(r == NULL) {
		ok = FALSE;
	} else {
		for(int i = 0; i < PQntuples(r); i++)
			g_hash_table_add(applied, GINT_TO_POINTER(atoi(PQgetvalue(r, i, 0))));
		PQclear(r);
	}
	for(int i = 0; ok && i < calls_migrations_count; i++) {
		const calls_migration *m = &calls_migrations[i];
		if(g_hash_table_contains(applied, GINT_TO_POINTER(m->version)))
			continue;
		/* A script sent as one simple query runs in one transaction. */
		if(!run_ok(m->sql, 0, NULL)) {
			JANUS_LOG(LOG_ERR, "[calls] store: migration %03d_%s failed: %s\n", m->version, m->name, last_error);
			ok = FALSE;
			break;
		}
		JANUS_LOG(LOG_INFO, "[calls] store: applied migration %03d_%s\n", m->version, m->name);
	}
	g_hash_table_destroy(applied);
	if(conn != NULL && PQstatus(conn) == CONNECTION_OK)
		run_ok("SELECT pg_advisory_unlock(" MIGRATION_LOCK ")", 0, NULL);
	return ok;
}

/* participants and the time in a group call come from calls_log (migration
 * 007), so psql users and the history request agree. A group entry always
 * has a title, "" when the call had none, as the protocol promises. */
#define ENTRY_JSON \
	"json_strip_nulls(json_build_object('call_id', l.call_id, 'kind', l.kind, 'media', l.media, " \
	"'direction', l.direction, 'peer', l.peer, 'display', u.display, 'participants', l.participants, " \
	"'title', CASE WHEN l.kind = 'group' THEN COALESCE(l.title, '') ELSE l.title END, " \
	"'started_at', calls_ts(l.started_at), 'answered_at', calls_ts(l.answered_at), " \
	"'ended_at', calls_ts(l.ended_at), 'duration', l.duration, 'outcome', l.outcome))::text"
#define HISTORY_SQL(extra) \
	"SELECT (extract(epoch FROM l.started_at) * 1000000)::bigint, l.call_id::text, " ENTRY_JSON \
	" FROM calls_log l LEFT JOIN calls_users u ON u.user_id = l.peer" \
	" WHERE l.user_id = $1 AND (l.started_at, l.call_id) <" \
	" (timestamptz 'epoch' + make_interval(secs => $2::bigint / 1000000) + ($2::bigint % 1000000) * interval '1 microsecond', $3::uuid)" \
	extra " ORDER BY l.started_at DESC, l.call_id DESC LIMIT $4"

/* A profile (calls_store.h) of the user whose id is in column id. */
#define PROFILE_JSON(id) \
	"json_strip_nulls(json_build_object('user', " id ", " \
	"'privacy', COALESCE(u.privacy, 'everyone'), 'last_seen', calls_ts(u.last_seen), 'display', u.display, " \
	"'contacts', CASE WHEN u.privacy = 'contacts' THEN (SELECT COALESCE(json_agg(c.contact_id), '[]') " \
	"FROM calls_contacts c WHERE c.user_id = u.user_id) END))::text"

static const struct { const char *name, *sql; } statements[] = {
	{"w_calls", "SELECT calls_put_calls($1::jsonb)"},
	{"w_presence", "SELECT calls_put_presence($1::jsonb)"},
	{"w_seen", "SELECT calls_put_seen($1::jsonb)"},
	{"w_privacy", "SELECT calls_put_privacy($1::jsonb)"},
	{"w_contacts", "SELECT calls_put_contacts($1::jsonb)"},
	{"w_push", "SELECT calls_put_push($1::jsonb)"},
	{"w_orphans", "SELECT calls_close_orphans($1, $2::uuid)"},
	{"w_alive", "UPDATE calls_nodes SET alive_at = now() WHERE node = $1 AND boot = $2::uuid"},
	{"r_profile", "SELECT json_build_object("
		"'missed', (SELECT count(*) FROM calls_participants WHERE user_id = $1 AND outcome = 'missed' AND NOT seen AND NOT deleted), "
		"'privacy', COALESCE((SELECT privacy FROM calls_users WHERE user_id = $1), 'everyone'), "
		"'contacts', (SELECT COALESCE(json_agg(contact_id ORDER BY contact_id), '[]') FROM calls_contacts WHERE user_id = $1))::text"},
	{"r_people", "SELECT " PROFILE_JSON("i.id") " FROM unnest($1::text[]) AS i(id) LEFT JOIN calls_users u ON u.user_id = i.id"},
	/* visible: may $1 see the contact (its privacy, and whether $1 is one
	 * of its contacts); decided here, so that no contact list is fetched. */
	{"r_contacts", "SELECT json_strip_nulls(json_build_object('user', i.contact_id, "
		"'last_seen', calls_ts(u.last_seen), 'display', u.display, "
		"'visible', COALESCE(u.privacy, 'everyone') = 'everyone' OR (u.privacy = 'contacts' AND EXISTS "
		"(SELECT 1 FROM calls_contacts c WHERE c.user_id = i.contact_id AND c.contact_id = $1))))::text"
		" FROM calls_contacts i LEFT JOIN calls_users u ON u.user_id = i.contact_id"
		" WHERE i.user_id = $1 ORDER BY i.contact_id"},
	{"r_push", "SELECT json_build_object('device', device_id, 'platform', platform, 'token', token, 'voip', voip)::text"
		" FROM calls_push_registrations WHERE user_id = $1 ORDER BY updated_at DESC, device_id, platform, voip"},
	{"r_history", HISTORY_SQL("")},
	{"r_history_missed", HISTORY_SQL(" AND l.outcome = 'missed'")},
	{"r_delete", "UPDATE calls_participants SET deleted = true WHERE user_id = $1 AND call_id = ANY($2::uuid[])"
		" AND outcome IS NOT NULL AND NOT deleted"},
};

static gboolean prepare(void) {
	for(guint i = 0; i < G_N_ELEMENTS(statements); i++) {
		gint64 deadline = g_get_monotonic_time() + (gint64)config->db_timeout_ms * G_TIME_SPAN_MILLISECOND;
		if(!PQsendPrepare(conn, statements[i].name, statements[i].sql, 0, NULL)) {
			set_error(PQerrorMessage(conn));
			return FALSE;
		}
		gboolean ok = TRUE, done = FALSE;
		while(!done) {
			int f = PQflush(conn);
			if(f < 0) {
				ok = FALSE;
				break;
			}
			if(f == 0 && !PQisBusy(conn)) {
				PGresult *r;
				while((r = PQgetResult(conn)) != NULL) {
					if(PQresultStatus(r) != PGRES_COMMAND_OK) {
						ok = FALSE;
						set_error(PQresultErrorMessage(r));
					}
					PQclear(r);
				}
				done = TRUE;
				break;
			}
			if(wait_socket(f == 1, deadline) <= 0 || !PQconsumeInput(conn)) {
				set_error(PQerrorMessage(conn));
				ok = FALSE;
				break;
			}
		}
		if(!ok)
			return FALSE;
	}
	return TRUE;
}

static void connect_db(void) {
	gint64 deadline = g_get_monotonic_time() + (gint64)config->db_timeout_ms * G_TIME_SPAN_MILLISECOND;
	conn = PQconnectStart(config->conninfo);
	gboolean ok = conn != NULL && PQstatus(conn) != CONNECTION_BAD;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while(ok && st != PGRES_POLLING_OK) {
		if(st == PGRES_POLLING_FAILED) {
			ok = FALSE;
			break;
		}
		if(wait_socket(st == PGRES_POLLING_WRITING, deadline) <= 0) {
			if(conn != NULL)
				set_error("no answer while connecting");
			ok = FALSE;
			break;
		}
		st = PQconnectPoll(conn);
	}
	if(!ok && conn != NULL && last_error == NULL)
		set_error(PQerrorMessage(conn));
	if(ok)
		ok = PQsetnonblocking(conn, 1) == 0 &&
			run_ok("SET application_name = 'janus-calls'", 0, NULL) &&
			migrate() && prepare() && PQenterPipelineMode(conn) == 1;
	if(!ok) {
		char *why = g_strdup(last_error ? last_error : (conn ? PQerrorMessage(conn) : "out of memory"));
		lost(why);
		g_free(why);
		return;
	}
	ready = TRUE;
	backoff = 0;
	guint spooled = calls_spool_pending(spool);
	if(said_down && down_since > 0)
		JANUS_LOG(LOG_INFO, "[calls] store: PostgreSQL is reachable again after %" G_GINT64_FORMAT " s; replaying %u spooled records\n",
			(g_get_monotonic_time() - down_since) / G_USEC_PER_SEC, spooled);
	else
		JANUS_LOG(LOG_INFO, "[calls] store: connected to PostgreSQL (node %s)%s\n", node,
			spooled ? "; replaying the spool" : "");
	said_down = FALSE;
	down_since = 0;
}

/* ---- segments ---- */

/* Consecutive call records go as one calls_put_calls() array: one statement
 * per table for the lot instead of two per record. Other records go one
 * statement each, in their place, so the order of a batch holds. Returns
 * FALSE when the connection failed. */
static gboolean flush_calls(GString *calls, segment *s) {
	if(calls->len == 0)
		return TRUE;
	g_string_append_c(calls, ']');
	const char *params[1] = {calls->str};
	gboolean ok = PQsendQueryPrepared(conn, "w_calls", 1, params, NULL, NULL, 0) == 1;
	g_string_truncate(calls, 0);
	if(ok)
		s->expected++;
	return ok;
}

static gboolean send_writes(segment *s) {
	GString *calls = g_string_new(NULL);
	gboolean ok = TRUE;
	for(guint i = 0; ok && i < s->jobs->len; i++) {
		const char *line = ((job *)g_ptr_array_index(s->jobs, i))->line;
		const char *tab = strchr(line, '\t');
		size_t n = tab ? (size_t)(tab - line) : 0;
		if(n == 4 && !strncmp(line, "call", 4)) {
			g_string_append_c(calls, calls->len ? ',' : '[');
			g_string_append(calls, tab + 1);
			continue;
		}
		const char *stmt = NULL;
		if(n == 8 && !strncmp(line, "presence", 8)) stmt = "w_presence";
		else if(n == 4 && !strncmp(line, "seen", 4)) stmt = "w_seen";
		else if(n == 7 && !strncmp(line, "privacy", 7)) stmt = "w_privacy";
		else if(n == 8 && !strncmp(line, "contacts", 8)) stmt = "w_contacts";
		else if(n == 4 && !strncmp(line, "push", 4)) stmt = "w_push";
		if(stmt == NULL) {
			/* Not one of ours (a damaged spool line): set aside. */
			reject(line, "unknown record");
			continue;
		}
		if(!flush_calls(calls, s))
			ok = FALSE;
		const char *params[1] = {tab + 1};
		if(ok && PQsendQueryPrepared(conn, stmt, 1, params, NULL, NULL, 0) != 1)
			ok = FALSE;
		if(ok)
			s->expected++;
	}
	if(ok)
		ok = flush_calls(calls, s);
	g_string_free(calls, TRUE);
	return ok;
}

static void send_segment(segment *s) {
	s->sent_at = g_get_monotonic_time();
	inflight = s;
	gboolean ok = TRUE;
	char before[32];
	switch(s->kind) {
		case SEG_WRITES:
			ok = send_writes(s);
			break;
		case SEG_READ: {
			calls_read *r = ((job *)g_ptr_array_index(s->jobs, 0))->read;
			if(r->kind == CALLS_READ_PROFILE || r->kind == CALLS_READ_CONTACTS || r->kind == CALLS_READ_PUSH) {
				const char *p[1] = {r->user};
				ok = PQsendQueryPrepared(conn, r->kind == CALLS_READ_PROFILE ? "r_profile" :
					r->kind == CALLS_READ_CONTACTS ? "r_contacts" : "r_push", 1, p, NULL, NULL, 0);
			} else if(r->kind == CALLS_READ_PEOPLE) {
				/* Ids are checked user ids: no quotes or backslashes in them. */
				GString *arr = g_string_new("{");
				for(guint i = 0; i < r->ids->len; i++)
					g_string_append_printf(arr, "%s\"%s\"", i ? "," : "", (char *)g_ptr_array_index(r->ids, i));
				g_string_append_c(arr, '}');
				const char *p[1] = {arr->str};
				ok = PQsendQueryPrepared(conn, "r_people", 1, p, NULL, NULL, 0);
				g_string_free(arr, TRUE);
			} else if(r->kind == CALLS_READ_HISTORY) {
				char limit[16];
				g_snprintf(before, sizeof(before), "%" G_GINT64_FORMAT, r->before_us);
				/* One more than asked, to know whether there is a next page. */
				g_snprintf(limit, sizeof(limit), "%d", r->limit + 1);
				const char *p[4] = {r->user, before, r->before_id, limit};
				ok = PQsendQueryPrepared(conn, r->missed_only ? "r_history_missed" : "r_history", 4, p, NULL, NULL, 0);
			} else {
				GString *arr = g_string_new("{");
				for(guint i = 0; i < r->call_ids->len; i++)
					g_string_append_printf(arr, "%s%s", i ? "," : "", (char *)g_ptr_array_index(r->call_ids, i));
				g_string_append_c(arr, '}');
				const char *p[2] = {r->user, arr->str};
				ok = PQsendQueryPrepared(conn, "r_delete", 2, p, NULL, NULL, 0);
				g_string_free(arr, TRUE);
			}
			s->expected = 1;
			break;
		}
		case SEG_ORPHANS:
		case SEG_ALIVE: {
			const char *p[2] = {node, boot};
			ok = PQsendQueryPrepared(conn, s->kind == SEG_ORPHANS ? "w_orphans" : "w_alive", 2, p, NULL, NULL, 0);
			s->expected = 1;
			break;
		}
	}
	if(ok)
		ok = PQpipelineSync(conn) == 1;
	if(!ok)
		lost(PQerrorMessage(conn));
}

static segment *segment_new(seg_kind kind) {
	segment *s = g_new0(segment, 1);
	s->kind = kind;
	if(kind == SEG_WRITES || kind == SEG_READ)
		s->jobs = g_ptr_array_new_with_free_func((GDestroyNotify)job_free);
	return s;
}

/* What goes next, in the order that keeps reads consistent with writes: the
 * spool first (older than anything in memory), then closing the calls a
 * crashed run left open, then memory in arrival order. A read behind a long
 * replay waits, and is answered unavailable at its deadline rather than
 * with a history that misses calls already made. */
static void send_next(void) {
	gint64 now = g_get_monotonic_time();
	if(calls_spool_pending(spool) > 0) {
		segment *s = segment_new(SEG_WRITES);
		s->from_spool = TRUE;
		/* After a failed batch, its records go one at a time, to find the
		 * one the database refuses. */
		GPtrArray *lines = calls_spool_peek(spool, alone_until > 0 ? 1 : BATCH, &s->spool_end);
		for(guint i = 0; i < lines->len; i++) {
			job *j = g_new0(job, 1);
			j->line = g_strdup(g_ptr_array_index(lines, i));
			g_ptr_array_add(s->jobs, j);
		}
		g_ptr_array_unref(lines);
		if(s->jobs->len == 0) {
			segment_free(s);
			return;
		}
		send_segment(s);
		return;
	}
	if(!orphans_done) {
		send_segment(segment_new(SEG_ORPHANS));
		return;
	}
	job *head = g_queue_peek_head(&pending);
	job *read = g_queue_peek_head(&reads);
	/* A read goes once the writes that came before it are in. */
	if(read != NULL && (head == NULL || head->seq > read->seq)) {
		segment *s = segment_new(SEG_READ);
		g_ptr_array_add(s->jobs, g_queue_pop_head(&reads));
		send_segment(s);
		return;
	}
	if(head != NULL) {
		segment *s = segment_new(SEG_WRITES);
		gboolean alone = head->alone;
		while((head = g_queue_peek_head(&pending)) != NULL && s->jobs->len < BATCH) {
			if(s->jobs->len > 0 && (alone || head->alone))
				break;
			g_ptr_array_add(s->jobs, g_queue_pop_head(&pending));
		}
		send_segment(s);
		return;
	}
	if(now >= alive_due) {
		alive_due = now + ALIVE_EVERY;
		send_segment(segment_new(SEG_ALIVE));
	}
}

static const char *read_name(calls_read_kind kind) {
	switch(kind) {
		case CALLS_READ_PROFILE: return "profile";
		case CALLS_READ_HISTORY: return "history";
		case CALLS_READ_DELETE: return "delete";
		case CALLS_READ_PEOPLE: return "presence";
		case CALLS_READ_CONTACTS: return "contacts";
		case CALLS_READ_PUSH: return "push";
	}
	return "?";
}

/* One JSON document per row, in column 0: an array of them. */
static json_t *rows_result(PGresult *res) {
	json_t *out = json_array();
	for(int i = 0; i < PQntuples(res); i++) {
		json_t *e = json_loads(PQgetvalue(res, i, 0), 0, NULL);
		if(e != NULL)
			json_array_append_new(out, e);
	}
	return out;
}

static json_t *history_result(calls_read *r, PGresult *res) {
	json_t *entries = json_array();
	int rows = PQntuples(res);
	int shown = MIN(rows, r->limit);
	for(int i = 0; i < shown; i++) {
		json_t *e = json_loads(PQgetvalue(res, i, 2), 0, NULL);
		if(e != NULL)
			json_array_append_new(entries, e);
	}
	json_t *out = json_pack("{so}", "entries", entries);
	if(rows > r->limit && shown > 0) {
		char *cursor = g_strdup_printf("%s_%s", PQgetvalue(res, shown - 1, 0), PQgetvalue(res, shown - 1, 1));
		json_object_set_new(out, "next", json_string(cursor));
		g_free(cursor);
	}
	return out;
}

/* Only data errors (22), constraint violations (23) and errors raised by
 * triggers or functions (P0) can be a record's own fault. Anything else (a
 * read-only standby, missing privileges, a dropped function, a connection
 * or server problem) is the database's: the batch is spooled and retried
 * after a reconnect, never set aside. */
static gboolean transient(const segment *s) {
	static const char *const record_classes[] = {"22", "23", "P0"};
	for(guint i = 0; i < G_N_ELEMENTS(record_classes); i++) {
		if(!strncmp(s->sqlstate, record_classes[i], 2))
			return FALSE;
	}
	return TRUE;
}

static void segment_done(segment *s) {
	inflight = NULL;
	if(s->kind == SEG_WRITES && s->error != NULL && transient(s)) {
		/* Back where they were, oldest first, then treat the database
		 * as gone: lost() spools them with everything after. */
		if(!s->from_spool) {
			for(guint i = s->jobs->len; i > 0; i--)
				g_queue_push_head(&pending, g_ptr_array_steal_index(s->jobs, i - 1));
		}
		char *why = g_strdup_printf("%s (SQLSTATE %s)", s->error, s->sqlstate);
		segment_free(s);
		lost(why);
		g_free(why);
		return;
	}
	switch(s->kind) {
		case SEG_READ: {
			job *j = g_ptr_array_index(s->jobs, 0);
			calls_read *r = j->read;
			j->read = NULL;
			if(s->error != NULL || s->result == NULL) {
				JANUS_LOG(LOG_ERR, "[calls] store: a %s read for %s failed: %s\n",
					read_name(r->kind), r->user, s->error ? s->error : "no result");
				answer(r, FALSE);
				break;
			}
			if(r->kind == CALLS_READ_HISTORY)
				r->result = history_result(r, s->result);
			else if(r->kind == CALLS_READ_PROFILE)
				r->result = json_loads(PQgetvalue(s->result, 0, 0), 0, NULL);
			else if(r->kind == CALLS_READ_PEOPLE || r->kind == CALLS_READ_CONTACTS || r->kind == CALLS_READ_PUSH)
				r->result = rows_result(s->result);
			else
				r->result = json_integer(g_ascii_strtoll(PQcmdTuples(s->result), NULL, 10));
			answer(r, r->result != NULL);
			break;
		}
		case SEG_ORPHANS:
			if(s->error == NULL) {
				orphans_done = TRUE;
				alive_due = g_get_monotonic_time() + ALIVE_EVERY;
				const char *n = s->result ? PQgetvalue(s->result, 0, 0) : "0";
				if(strcmp(n, "0") != 0)
					JANUS_LOG(LOG_WARN, "[calls] store: closed %s calls an earlier run of node %s left open (server_shutdown)\n", n, node);
			} else {
				/* Tried again after a reconnect if the database was to blame. */
				orphans_done = !transient(s);
				JANUS_LOG(LOG_ERR, "[calls] store: closing calls left open failed%s: %s\n",
					orphans_done ? "" : " (will retry)", s->error);
			}
			break;
		case SEG_ALIVE:
			break;
		case SEG_WRITES:
			if(s->error != NULL && s->jobs->len > 1) {
				JANUS_LOG(LOG_WARN, "[calls] store: a batch of %u records failed (%s); retrying them one by one\n",
					s->jobs->len, s->error);
				if(s->from_spool) {
					alone_until = s->spool_end;
				} else {
					for(guint i = s->jobs->len; i > 0; i--) {
						job *j = g_ptr_array_steal_index(s->jobs, i - 1);
						j->alone = TRUE;
						g_queue_push_head(&pending, j);
					}
				}
				break;
			}
			if(s->error != NULL)
				reject(((job *)g_ptr_array_index(s->jobs, 0))->line, s->error);
			if(s->from_spool) {
				if(calls_spool_consume(spool, s->spool_end, s->jobs->len) < 0)
					JANUS_LOG(LOG_ERR, "[calls] store: cannot update the spool: %s\n", g_strerror(errno));
				if(s->spool_end >= alone_until)
					alone_until = 0;
				g_atomic_int_set(&spooled_count, (gint)calls_spool_pending(spool));
				if(calls_spool_pending(spool) == 0)
					JANUS_LOG(LOG_INFO, "[calls] store: the spool is replayed\n");
			} else {
				for(guint i = 0; i < s->jobs->len; i++)
					g_atomic_int_add(&queued_count, -1);
			}
			break;
	}
	segment_free(s);
}

/* Reads whatever the server sent; completes the segment at its sync. */
static void consume(void) {
	if(!PQconsumeInput(conn)) {
		lost(PQerrorMessage(conn));
		return;
	}
	int nulls = 0;
	while(conn != NULL && inflight != NULL && !PQisBusy(conn)) {
		PGresult *r = PQgetResult(conn);
		if(r == NULL) {
			/* Between the results of two queries. */
			if(++nulls > 1)
				break;
			continue;
		}
		nulls = 0;
		segment *s = inflight;
		ExecStatusType st = PQresultStatus(r);
		if(st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			segment_done(s);
			continue;
		}
		s->seen++;
		if(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			if((s->kind == SEG_READ || s->kind == SEG_ORPHANS) && s->result == NULL) {
				s->result = r;
				continue;
			}
		} else if(s->error == NULL) {
			s->error = g_strdup(st == PGRES_PIPELINE_ABORTED ? "aborted with its batch" : PQresultErrorMessage(r));
			g_strdelimit(s->error, "\n\t", ' ');
			g_strstrip(s->error);
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			if(state != NULL)
				g_strlcpy(s->sqlstate, state, sizeof(s->sqlstate));
		}
		PQclear(r);
	}
	if(conn != NULL && PQstatus(conn) != CONNECTION_OK)
		lost(PQerrorMessage(conn));
}

/* ---- the thread ---- */

/* Moves the inbox into pending or the spool. */
static void take_inbox(gboolean *stop) {
	GQueue got = G_QUEUE_INIT;
	g_mutex_lock(&inbox.lock);
	got = inbox.jobs;
	g_queue_init(&inbox.jobs);
	*stop = inbox.stop;
	g_mutex_unlock(&inbox.lock);
	gboolean spooled = FALSE;
	job *j;
	while((j = g_queue_pop_head(&got)) != NULL) {
		if(j->read != NULL) {
			if(ready) {
				j->seq = write_seq;
				g_queue_push_tail(&reads, j);
				continue;
			}
			answer(j->read, FALSE);
			j->read = NULL;
			job_free(j);
			continue;
		}
		job_line(j);
		/* Behind spooled records a write must wait its turn in the spool. */
		if(!ready || calls_spool_pending(spool) > 0) {
			spool_job(j);
			g_atomic_int_add(&queued_count, -1);
			spooled = TRUE;
			job_free(j);
			continue;
		}
		j->seq = ++write_seq;
		g_queue_push_tail(&pending, j);
	}
	if(spooled)
		spool_sync();
}

/* Reads waiting in memory past their deadline answer unavailable; returns
 * the next deadline. Reads are few, and wait in their own queue. */
static gint64 expire_reads(gint64 now) {
	gint64 next = 0;
	for(GList *l = reads.head; l != NULL;) {
		GList *nl = l->next;
		job *j = l->data;
		if(now >= j->read->deadline) {
			answer(j->read, FALSE);
			j->read = NULL;
			job_free(j);
			g_queue_delete_link(&reads, l);
		} else if(next == 0 || j->read->deadline < next) {
			next = j->read->deadline;
		}
		l = nl;
	}
	return next;
}

static gpointer store_thread(gpointer data) {
	(void)data;
	gboolean stop = FALSE;
	gint64 stop_deadline = 0;
	while(TRUE) {
		take_inbox(&stop);
		gint64 now = g_get_monotonic_time();
		if(stop && stop_deadline == 0)
			stop_deadline = now + (gint64)config->db_timeout_ms * G_TIME_SPAN_MILLISECOND;
		/* Stopping needs only the records that live in memory: a spool
		 * batch in flight is still in the spool, and the rest can wait. */
		gboolean memory_in_flight = inflight != NULL &&
			(inflight->kind == SEG_READ || (inflight->kind == SEG_WRITES && !inflight->from_spool));
		if(stop && !memory_in_flight && g_queue_is_empty(&pending) && g_queue_is_empty(&reads))
			break;
		if(stop && now >= stop_deadline) {
			lost("stopping");
			break;
		}
		if(conn == NULL && now >= retry_at) {
			connect_db();
			take_inbox(&stop);
			now = g_get_monotonic_time();
		}
		if(ready && inflight == NULL)
			send_next();
		gint64 next_read = expire_reads(now);
		/* How long to sleep: the first of the stall deadline, a read's
		 * deadline, the reconnect, the heartbeat; at most a second. */
		gint64 until = now + G_USEC_PER_SEC;
		if(inflight != NULL)
			until = MIN(until, inflight->sent_at + (gint64)config->db_timeout_ms * G_TIME_SPAN_MILLISECOND);
		if(next_read > 0)
			until = MIN(until, next_read);
		if(conn == NULL)
			until = MIN(until, retry_at);
		else if(ready && inflight == NULL && orphans_done)
			until = MIN(until, alive_due);
		if(stop)
			until = MIN(until, stop_deadline);
		struct pollfd p[2] = {{inbox.wake[0], POLLIN, 0}, {conn ? PQsocket(conn) : -1, POLLIN, 0}};
		if(conn != NULL && PQflush(conn) == 1)
			p[1].events |= POLLOUT;
		int ms = (int)MAX(0, (until - now + 999) / 1000);
		int rc = poll(p, 2, ms);
		if(rc < 0 && errno != EINTR)
			g_usleep(10000);
		if(p[0].revents & POLLIN) {
			char buf[64];
			while(read(inbox.wake[0], buf, sizeof(buf)) > 0) {}
		}
		if(conn != NULL && (p[1].revents & (POLLIN | POLLERR | POLLHUP)))
			consume();
		now = g_get_monotonic_time();
		if(inflight != NULL && now - inflight->sent_at >= (gint64)config->db_timeout_ms * G_TIME_SPAN_MILLISECOND) {
			char *why = g_strdup_printf("no answer within %d ms", config->db_timeout_ms);
			lost(why);
			g_free(why);
		}
		g_atomic_int_set(&up, ready && orphans_done && calls_spool_pending(spool) == 0);
	}
	segment_free(inflight);
	inflight = NULL;
	return NULL;
}

/* What start made, for stop or a start that failed half way. */
static void release(void) {
	calls_spool_close(spool);
	spool = NULL;
	close(inbox.wake[0]);
	close(inbox.wake[1]);
	g_free(node);
	g_free(boot);
	g_free(last_error);
	node = boot = last_error = NULL;
}

int calls_store_start(const calls_config *cfg, void (*done)(calls_read *r)) {
	config = cfg;
	done_cb = done;
	if(cfg->conninfo == NULL || *cfg->conninfo == '\0') {
		JANUS_LOG(LOG_WARN, "[calls] database.conninfo is empty: no call history, contacts, privacy or push registrations\n");
		enabled = FALSE;
		return 0;
	}
	char *why = NULL;
	spool = calls_spool_open(cfg->spool_dir, &why);
	if(spool == NULL) {
		JANUS_LOG(LOG_FATAL, "[calls] database.spool_dir: %s\n", why);
		g_free(why);
		return -1;
	}
	g_atomic_int_set(&spooled_count, (gint)calls_spool_pending(spool));
	if(calls_spool_pending(spool) > 0)
		JANUS_LOG(LOG_INFO, "[calls] store: %u records wait in the spool from an earlier run\n", calls_spool_pending(spool));
	if(pipe(inbox.wake) < 0) {
		JANUS_LOG(LOG_FATAL, "[calls] store: pipe: %s\n", g_strerror(errno));
		calls_spool_close(spool);
		spool = NULL;
		return -1;
	}
	fcntl(inbox.wake[0], F_SETFL, O_NONBLOCK);
	fcntl(inbox.wake[1], F_SETFL, O_NONBLOCK);
	g_mutex_init(&inbox.lock);
	g_queue_init(&inbox.jobs);
	inbox.stop = FALSE;
	if(cfg->node != NULL && *cfg->node != '\0') {
		node = g_strdup(cfg->node);
	} else {
		char host[256] = {0};
		node = g_strdup(gethostname(host, sizeof(host) - 1) == 0 && *host ? host : "janus");
	}
	boot = janus_random_uuid();
	orphans_done = FALSE;
	retry_at = 0;
	enabled = TRUE;
	GError *error = NULL;
	thread = g_thread_try_new("calls store", store_thread, NULL, &error);
	if(thread == NULL) {
		JANUS_LOG(LOG_FATAL, "[calls] cannot start the store thread: %s\n", error ? error->message : "?");
		g_clear_error(&error);
		enabled = FALSE;
		release();
		return -1;
	}
	return 0;
}

void calls_store_stop(void) {
	if(thread == NULL)
		return;
	g_mutex_lock(&inbox.lock);
	inbox.stop = TRUE;
	g_mutex_unlock(&inbox.lock);
	wake();
	g_thread_join(thread);
	thread = NULL;
	enabled = FALSE;
	if(conn != NULL) {
		PQfinish(conn);
		conn = NULL;
	}
	/* Reads that came in while stopping. */
	job *j;
	while((j = g_queue_pop_head(&inbox.jobs)) != NULL) {
		if(j->read != NULL) {
			answer(j->read, FALSE);
		} else {
			job_line(j);
			spool_job(j);
		}
		job_free(j);
	}
	spool_sync();
	release();
	ready = FALSE;
}

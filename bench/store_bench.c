/*
 * store_bench.c - how fast the plugin's store thread writes call records.
 *
 * Linked against tests/unit/libcallscore.a (the plugin's logic, its store and
 * spool, and stubs of the few Janus symbols they use), so the code measured
 * is the plugin's own: calls_store_start(), calls_store_write("call", doc)
 * with documents made by calls_record_call(), libpq pipeline batches.
 *
 * Phases (driven by bench/history.py over stdin/stdout):
 *   1. warm-up: one call, waited for, so the connection, the migrations and
 *      the closing of orphans are done before the clock starts;
 *   2. direct: --records documents (a "start" and an "end" document per
 *      call, --window calls in progress at a time, as on a busy server) as
 *      fast as they can be queued; the clock stops when calls_store_queued()
 *      is 0 again, i.e. when PostgreSQL confirmed the last batch;
 *   3. spool: prints "FREEZE" and waits for a line on stdin (the driver
 *      stops PostgreSQL with SIGSTOP meanwhile), writes --spool-records
 *      documents, which the store spools once it declares the database
 *      unreachable; prints "THAW", waits for a line (SIGCONT), and times the
 *      replay until calls_store_spooled() is 0.
 * In each phase a missed-calls read (what every register asks the store) is
 * queued every 200 ms, one at a time, and its answer time noted.
 * The last line of output is one JSON object with the numbers; the driver
 * counts the rows in SQL (node --node) to check none was lost or doubled.
 *
 * Build: see bench/history.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>

#include "calls_call.h"
#include "calls_config.h"
#include "calls_record.h"
#include "calls_store.h"

extern int janus_log_level;

static const char *const reasons[] = {"hangup", "cancelled", "no_answer", "declined", "busy"};

typedef struct opts {
	const char *conninfo, *spool_dir, *node;
	int timeout_ms, records, spool_records, window, users;
} opts;

/* Probe reads: while a phase runs, a missed-calls read (the one every
 * register makes) is queued every 200 ms, one at a time, and its answer
 * time and outcome noted, to see what a device registering then would wait. */
typedef struct probe_stats {
	GArray *ms;        /* double, answer time of each read */
	guint ok, unavailable;
} probe_stats;

static struct {
	GMutex lock;
	GCond cond;
	probe_stats *phase;    /* NULL: not probing */
	gboolean outstanding, quit;
	gint64 sent;
	const char *user;
} probe;

static void read_done(calls_read *r) {
	/* Store thread. */
	if(r->data != NULL) {
		g_mutex_lock(&probe.lock);
		probe_stats *st = r->data;
		double ms = (g_get_monotonic_time() - probe.sent) / 1000.0;
		g_array_append_val(st->ms, ms);
		if(r->ok)
			st->ok++;
		else
			st->unavailable++;
		probe.outstanding = FALSE;
		g_cond_broadcast(&probe.cond);
		g_mutex_unlock(&probe.lock);
		r->data = NULL;
	}
	calls_read_free(r);
}

static gpointer probe_thread(gpointer data) {
	(void)data;
	g_mutex_lock(&probe.lock);
	while(!probe.quit) {
		gint64 until = g_get_monotonic_time() + 200 * G_TIME_SPAN_MILLISECOND;
		while(!probe.quit && g_cond_wait_until(&probe.cond, &probe.lock, until)) {}
		if(probe.quit)
			break;
		if(probe.phase == NULL || probe.outstanding)
			continue;
		calls_read *r = calls_read_new(CALLS_READ_PROFILE, probe.user);
		r->data = probe.phase;
		probe.outstanding = TRUE;
		probe.sent = g_get_monotonic_time();
		g_mutex_unlock(&probe.lock);
		calls_store_read(r);
		g_mutex_lock(&probe.lock);
	}
	g_mutex_unlock(&probe.lock);
	return NULL;
}

static void probe_phase(probe_stats *st) {
	g_mutex_lock(&probe.lock);
	/* A read still out belongs to the phase that sent it. */
	while(st == NULL && probe.outstanding)
		g_cond_wait(&probe.cond, &probe.lock);
	probe.phase = st;
	g_cond_broadcast(&probe.cond);
	g_mutex_unlock(&probe.lock);
}

static int cmp_double(gconstpointer a, gconstpointer b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static json_t *probe_json(probe_stats *st) {
	GArray *v = st->ms;
	g_array_sort(v, cmp_double);
	double p50 = v->len ? g_array_index(v, double, (v->len - 1) / 2) : 0;
	double max = v->len ? g_array_index(v, double, v->len - 1) : 0;
	return json_pack("{sisisisfsf}", "reads", (int)v->len, "ok", (int)st->ok, "unavailable",
		(int)st->unavailable, "p50_ms", p50, "max_ms", max);
}

static gint64 mono(void) {
	return g_get_monotonic_time();
}

static void say(const char *what) {
	printf("%s\n", what);
	fflush(stdout);
}

static void wait_go(void) {
	char line[64];
	if(fgets(line, sizeof(line), stdin) == NULL) {
		fprintf(stderr, "store_bench: stdin closed\n");
		exit(2);
	}
}

/* One call of the synthetic traffic: users u00001.., a realistic mix of
 * endings (60% answered); the same user names as bench/load.sql. */
typedef struct fake_call {
	calls_call c;
	char caller[16], callee[16];
} fake_call;

static void fake_init(fake_call *f, GRand *rng, int users) {
	memset(f, 0, sizeof(*f));
	int a = g_rand_int_range(rng, 1, users + 1);
	int b = 1 + (a - 1 + g_rand_int_range(rng, 1, users)) % users;
	g_snprintf(f->caller, sizeof(f->caller), "u%06d", a);
	g_snprintf(f->callee, sizeof(f->callee), "u%06d", b);
	f->c.id = g_uuid_string_random();
	f->c.state = CALLS_CALL_RINGING;
	f->c.caller_user = f->caller;
	f->c.callee_user = f->callee;
	f->c.caller_device = (char *)"phone";
	f->c.video = g_rand_int_range(rng, 0, 10) < 3;
	f->c.started_at = g_get_real_time();
}

static void fake_end(fake_call *f, GRand *rng) {
	int p = g_rand_int_range(rng, 0, 100);
	const char *reason = p < 60 ? reasons[0] : p < 72 ? reasons[1] : p < 82 ? reasons[2] : p < 92 ? reasons[3] : reasons[4];
	gint64 now = g_get_real_time();
	if(!strcmp(reason, "hangup")) {
		f->c.answered_at = f->c.started_at + 1;
		f->c.callee_device = (char *)"web";
	}
	f->c.declined = !strcmp(reason, "declined") || !strcmp(reason, "busy");
	f->c.reason = reason;
	f->c.ended_at = now > f->c.started_at + 1 ? now : f->c.started_at + 2;
	f->c.state = CALLS_CALL_ENDED;
}

static void write_doc(fake_call *f) {
	json_t *doc = calls_record_call(&f->c);
	calls_store_write("call", doc);
	json_decref(doc);
}

/* Writes n documents (n/2 calls): the start of call i, then the end of call
 * i - window, so batches mix new calls and ends as a live server's do. With
 * first_spooled, notes when the store first spooled a record (checked every
 * 256 calls: queueing 200,000 records takes seconds). */
static int push_calls(int n, int window, int users, GRand *rng, gint64 *first_spooled) {
	int calls = n / 2;
	fake_call *all = g_new0(fake_call, calls);
	for(int i = 0; i < calls + window; i++) {
		if(first_spooled != NULL && *first_spooled == 0 && (i & 255) == 0 && calls_store_spooled() > 0)
			*first_spooled = g_get_monotonic_time();
		if(i < calls) {
			fake_init(&all[i], rng, users);
			write_doc(&all[i]);
		}
		int j = i - window;
		if(j >= 0 && j < calls) {
			fake_end(&all[j], rng);
			write_doc(&all[j]);
			g_free(all[j].c.id);
		}
	}
	g_free(all);
	return calls;
}

/* CPU seconds (user + system) used so far by the thread named name
 * ("calls store"), or by the whole process with name NULL. */
static double cpu_seconds(const char *name) {
	double total = 0;
	long tick = sysconf(_SC_CLK_TCK);
	GDir *dir = g_dir_open("/proc/self/task", 0, NULL);
	const char *tid;
	while(dir != NULL && (tid = g_dir_read_name(dir)) != NULL) {
		char *path = g_strdup_printf("/proc/self/task/%s/stat", tid), *text = NULL;
		if(g_file_get_contents(path, &text, NULL, NULL)) {
			/* pid (comm) state ppid ... utime is field 14, stime 15 */
			char *open = strchr(text, '('), *close = strrchr(text, ')');
			if(open != NULL && close != NULL) {
				char *comm = g_strndup(open + 1, close - open - 1);
				if(name == NULL || !strcmp(comm, name)) {
					char **f = g_strsplit(close + 2, " ", 0);
					if(g_strv_length(f) > 12)
						total += (g_ascii_strtod(f[11], NULL) + g_ascii_strtod(f[12], NULL)) / tick;
					g_strfreev(f);
				}
				g_free(comm);
			}
		}
		g_free(text);
		g_free(path);
	}
	if(dir != NULL)
		g_dir_close(dir);
	return total;
}

/* Waits until cond holds (polled every millisecond) or timeout_s passes. */
typedef gboolean (*pred)(void);
static gboolean store_idle(void) {
	return calls_store_queued() == 0 && calls_store_spooled() == 0;
}
static gboolean nothing_queued(void) {
	return calls_store_queued() == 0;
}
static gboolean wait_for(pred p, double timeout_s, guint *max_queued) {
	gint64 deadline = mono() + (gint64)(timeout_s * G_USEC_PER_SEC);
	while(!p()) {
		if(max_queued != NULL && calls_store_queued() > *max_queued)
			*max_queued = calls_store_queued();
		if(mono() > deadline)
			return FALSE;
		g_usleep(1000);
	}
	return TRUE;
}

static void usage(void) {
	fprintf(stderr, "usage: store_bench --conninfo S --spool-dir DIR --node NAME [--timeout-ms MS]\n"
		"  [--records N] [--spool-records N] [--window CALLS] [--users N] [--no-spool]\n");
	exit(2);
}

int main(int argc, char **argv) {
	opts o = {NULL, NULL, NULL, 2000, 200000, 200000, 500, 20000};
	gboolean do_spool = TRUE;
	for(int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if(!strcmp(a, "--no-spool")) { do_spool = FALSE; continue; }
		if(v == NULL)
			usage();
		if(!strcmp(a, "--conninfo")) o.conninfo = v;
		else if(!strcmp(a, "--spool-dir")) o.spool_dir = v;
		else if(!strcmp(a, "--node")) o.node = v;
		else if(!strcmp(a, "--timeout-ms")) o.timeout_ms = atoi(v);
		else if(!strcmp(a, "--records")) o.records = atoi(v);
		else if(!strcmp(a, "--spool-records")) o.spool_records = atoi(v);
		else if(!strcmp(a, "--window")) o.window = atoi(v);
		else if(!strcmp(a, "--users")) o.users = atoi(v);
		else usage();
		i++;
	}
	if(o.conninfo == NULL || o.spool_dir == NULL || o.node == NULL || o.records < 2 || o.users < 2)
		usage();
	/* The store's own log lines (unreachable, replayed) go to stderr. */
	if(g_getenv("CALLS_TEST_LOG") != NULL)
		janus_log_level = 4;

	calls_config cfg;
	calls_config_defaults(&cfg);
	g_free(cfg.spool_dir);
	cfg.spool_dir = g_strdup(o.spool_dir);
	cfg.conninfo = g_strdup(o.conninfo);
	cfg.db_timeout_ms = o.timeout_ms;
	cfg.node = g_strdup(o.node);
	if(calls_store_start(&cfg, read_done) < 0) {
		fprintf(stderr, "store_bench: calls_store_start failed\n");
		return 1;
	}
	g_mutex_init(&probe.lock);
	g_cond_init(&probe.cond);
	probe.user = "u000001";
	GThread *prober = g_thread_new("probe", probe_thread, NULL);
	probe_stats st_direct = {g_array_new(FALSE, FALSE, sizeof(double)), 0, 0};
	probe_stats st_frozen = {g_array_new(FALSE, FALSE, sizeof(double)), 0, 0};
	probe_stats st_replay = {g_array_new(FALSE, FALSE, sizeof(double)), 0, 0};
	GRand *rng = g_rand_new_with_seed(42);
	json_t *out = json_object();
	json_object_set_new(out, "node", json_string(o.node));

	/* 1. warm-up */
	int calls = push_calls(2, 0, o.users, rng, NULL);
	if(!wait_for(store_idle, 60, NULL)) {
		fprintf(stderr, "store_bench: the warm-up call did not reach the database in 60 s\n");
		return 1;
	}
	json_object_set_new(out, "warmup_calls", json_integer(calls));

	/* 2. direct writes */
	guint max_queued = 0;
	double cpu_store0 = cpu_seconds("calls store"), cpu_all0 = cpu_seconds(NULL);
	gint64 t0 = mono();
	probe_phase(&st_direct);
	calls = push_calls(o.records, o.window, o.users, rng, NULL);
	gint64 t_pushed = mono();
	if(!wait_for(store_idle, 600, &max_queued)) {
		fprintf(stderr, "store_bench: writes not done after 600 s (queued %u, spooled %u)\n",
			calls_store_queued(), calls_store_spooled());
		return 1;
	}
	gint64 t_done = mono();
	probe_phase(NULL);
	json_object_set_new(out, "direct_probe", probe_json(&st_direct));
	json_object_set_new(out, "direct_calls", json_integer(calls));
	json_object_set_new(out, "direct_records", json_integer(calls * 2));
	json_object_set_new(out, "direct_push_s", json_real((t_pushed - t0) / 1e6));
	json_object_set_new(out, "direct_total_s", json_real((t_done - t0) / 1e6));
	json_object_set_new(out, "direct_rate", json_real(calls * 2 / ((t_done - t0) / 1e6)));
	json_object_set_new(out, "direct_max_queued", json_integer(max_queued));
	double cpu_store = cpu_seconds("calls store") - cpu_store0;
	json_object_set_new(out, "direct_cpu_store_thread_s", json_real(cpu_store));
	json_object_set_new(out, "direct_cpu_rest_s", json_real(cpu_seconds(NULL) - cpu_all0 - cpu_store));

	/* 3. the spool: written while PostgreSQL is frozen, replayed after */
	if(do_spool) {
		say("FREEZE");
		wait_go();
		gint64 s0 = mono(), first_spooled = 0;
		probe_phase(&st_frozen);
		int n = o.spool_records;
		calls = push_calls(n, o.window, o.users, rng, &first_spooled);
		gint64 s_pushed = mono();
		/* Everything is in the spool when nothing waits in memory. */
		gint64 deadline = mono() + 600 * G_USEC_PER_SEC;
		while(!(nothing_queued() && calls_store_spooled() >= (guint)(calls * 2))) {
			if(first_spooled == 0 && calls_store_spooled() > 0)
				first_spooled = mono();
			if(mono() > deadline) {
				fprintf(stderr, "store_bench: spooling not done after 600 s (queued %u, spooled %u)\n",
					calls_store_queued(), calls_store_spooled());
				return 1;
			}
			g_usleep(1000);
		}
		gint64 s_spooled = mono();
		if(first_spooled == 0)
			first_spooled = s_spooled;
		guint spooled = calls_store_spooled();
		probe_phase(NULL);
		json_object_set_new(out, "spool_probe", probe_json(&st_frozen));
		json_object_set_new(out, "spool_calls", json_integer(calls));
		json_object_set_new(out, "spool_records", json_integer(calls * 2));
		json_object_set_new(out, "spool_push_s", json_real((s_pushed - s0) / 1e6));
		json_object_set_new(out, "spool_detect_s", json_real((first_spooled - s0) / 1e6));
		json_object_set_new(out, "spool_all_s", json_real((s_spooled - s0) / 1e6));
		json_object_set_new(out, "spooled", json_integer(spooled));
		say("THAW");
		wait_go();
		double rcpu0 = cpu_seconds("calls store");
		gint64 r0 = mono(), r_first = 0;
		probe_phase(&st_replay);
		guint at_first = spooled;
		deadline = mono() + 900 * G_USEC_PER_SEC;
		while(!store_idle()) {
			guint now_spooled = calls_store_spooled();
			if(r_first == 0 && now_spooled < spooled) {
				r_first = mono();
				at_first = now_spooled;
			}
			if(mono() > deadline) {
				fprintf(stderr, "store_bench: replay not done after 900 s (spooled %u)\n", now_spooled);
				return 1;
			}
			g_usleep(1000);
		}
		gint64 r_done = mono();
		probe_phase(NULL);
		json_object_set_new(out, "replay_probe", probe_json(&st_replay));
		if(r_first == 0)
			r_first = r_done;
		json_object_set_new(out, "replay_cpu_store_thread_s", json_real(cpu_seconds("calls store") - rcpu0));
		json_object_set_new(out, "replay_wait_s", json_real((r_first - r0) / 1e6));
		json_object_set_new(out, "replay_total_s", json_real((r_done - r0) / 1e6));
		json_object_set_new(out, "replay_rate", r_done > r_first ?
			json_real(at_first / ((r_done - r_first) / 1e6)) : json_null());
	}
	g_mutex_lock(&probe.lock);
	probe.quit = TRUE;
	g_cond_broadcast(&probe.cond);
	g_mutex_unlock(&probe.lock);
	g_thread_join(prober);
	calls_store_stop();
	g_rand_free(rng);
	calls_config_clear(&cfg);
	char *text = json_dumps(out, JSON_COMPACT);
	printf("RESULT %s\n", text);
	free(text);
	json_decref(out);
	return 0;
}

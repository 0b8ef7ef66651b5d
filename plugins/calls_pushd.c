/*
 * calls_pushd.c - the push delivery thread (see calls_pushd.h).
 *
 * A job moves through these places, and is in exactly one at a time:
 *   its lane       behind an earlier push of the same call to the same device
 *   a route queue  waiting for one of the route's max_in_flight slots
 *   the timers     waiting for its next attempt (backoff)
 *   fcm_waiting    waiting for an FCM access token
 *   in flight      a libcurl transfer
 * Only the head of a lane is ever outside its lane. Everything here belongs
 * to the thread; other threads only reach the incoming queue (and wake the
 * multi handle with curl_multi_wakeup) and the counters.
 *
 * We keep our own in-flight limit instead of letting libcurl queue transfers
 * for a connection, because a transfer's timeout runs while libcurl queues
 * it: 1,000 pushes against a slow webhook would time out in its queue.
 */
#include <string.h>

#include <curl/curl.h>

#include <debug.h>

#include "calls_jws.h"
#include "calls_push_apns.h"
#include "calls_push_fcm.h"
#include "calls_push_webhook.h"
#include "calls_pushd.h"
#include "calls_store.h"
#include "calls_record.h"

/* Pushes queued here at most; more are refused (counted as failed). */
#define MAX_PENDING 100000
/* Backoff: 500 ms doubling per attempt, +-25 %, at most 30 s. */
#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 30000
#define RETRY_AFTER_MAX_S 60
/* Replies are small; anything longer is cut (and judged on what came). */
#define MAX_REPLY 65536
/* How long a stop waits for queued pushes at most. */
#define STOP_WAIT_MS 5000
/* A token found dead is not pushed to again for this long (the rest of the
 * call's pushes, and calls that read the registration before it was
 * deleted); at most this many are remembered. */
#define DEAD_FOR (G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC)
#define MAX_DEAD 10000

/* Indexed by calls_push_route. */
static const char *const route_names[CALLS_ROUTES] = {"webhook", "fcm", "apns"};

static const char *route_name(calls_push_route r) {
	return r >= 0 && r < CALLS_ROUTES ? route_names[r] : "no provider";
}

typedef enum job_place { IN_LANE, IN_ROUTE, IN_TIMERS, IN_FCM_WAIT, IN_FLIGHT } job_place;

typedef struct xfer xfer;

typedef struct pjob {
	json_t *job;
	char *lane;              /* "<call_id>/<device>" */
	calls_push_route route;
	job_place place;
	int attempts;            /* made so far */
	gint64 due;              /* monotonic, in IN_TIMERS */
	xfer *x;                 /* in flight */
} pjob;

struct xfer {
	CURL *easy;
	struct curl_slist *headers;
	pjob *job;               /* NULL: the FCM token request */
	GString *reply;
	gint64 retry_after_s;
	char *what;              /* for the log */
};

static const calls_config *config;
static GThread *thread;
static GAsyncQueue *incoming;
static CURLM *multi;
static volatile gint running, stopping;
static volatile gint sent, failed, pending;

/* thread-owned */
static GHashTable *lanes;        /* lane -> GQueue of pjob* (head first) */
static GHashTable *dead;         /* "<platform>/<token>" -> monotonic time found dead */
static GQueue route_queue[CALLS_ROUTES];
static int in_flight[CALLS_ROUTES];
static GList *timers;            /* pjob*, earliest due first */
static GQueue fcm_waiting;
static gboolean configured[CALLS_ROUTES];
static calls_fcm_account fcm;
static char *fcm_token_url;
static char *fcm_access;         /* cached access token */
static gint64 fcm_access_until;  /* monotonic */
static xfer *fcm_fetch;          /* the token request in flight */
static EVP_PKEY *apns_key;
static char *apns_token;
static gint64 apns_token_at;     /* unix seconds it was made */

guint calls_pushd_sent(void) { return (guint)g_atomic_int_get(&sent); }
guint calls_pushd_failed(void) { return (guint)g_atomic_int_get(&failed); }
guint calls_pushd_pending(void) { return (guint)g_atomic_int_get(&pending); }

static gint64 now_s(void) {
	return g_get_real_time() / G_USEC_PER_SEC;
}

static const char *job_text(pjob *j, const char *name) {
	const char *s = json_string_value(json_object_get(j->job, name));
	return s ? s : "";
}

static void start_job(pjob *j);

/* ---- ending a job ---- */

static void job_free(pjob *j) {
	json_decref(j->job);
	g_free(j->lane);
	g_free(j);
	g_atomic_int_add(&pending, -1);
}

/* The registration is dead: delete it, unless the app registered again
 * since (the store compares the time). */
static void forget_registration(pjob *j) {
	char *at = calls_time_text(g_get_real_time(), TRUE);
	json_t *doc = json_pack("{sssssssOsOsssb}", "user", job_text(j, "to"), "device", job_text(j, "device"),
		"platform", job_text(j, "platform"), "token", json_object_get(j->job, "token"),
		"voip", json_object_get(j->job, "voip"), "at", at, "dead", TRUE);
	g_free(at);
	calls_store_write("push", doc);
	json_decref(doc);
}

static char *dead_key(pjob *j) {
	return g_strdup_printf("%s/%s", job_text(j, "platform"), job_text(j, "token"));
}

static void remember_dead(pjob *j) {
	gint64 now = g_get_monotonic_time();
	if(g_hash_table_size(dead) >= MAX_DEAD) {
		GHashTableIter it;
		gpointer value;
		g_hash_table_iter_init(&it, dead);
		while(g_hash_table_iter_next(&it, NULL, &value)) {
			if(now - *(gint64 *)value > DEAD_FOR || g_hash_table_size(dead) >= MAX_DEAD)
				g_hash_table_iter_remove(&it);
		}
	}
	gint64 *at = g_new(gint64, 1);
	*at = now;
	g_hash_table_insert(dead, dead_key(j), at);
}

static gboolean known_dead(pjob *j) {
	char *key = dead_key(j);
	gint64 *at = g_hash_table_lookup(dead, key);
	gboolean yes = at != NULL && g_get_monotonic_time() - *at <= DEAD_FOR;
	if(at != NULL && !yes)
		g_hash_table_remove(dead, key);
	g_free(key);
	return yes;
}

/* How a job ends: delivered, given up, or not worth sending any more
 * (counted nowhere: its failure was counted already). */
typedef enum outcome { SENT, FAILED, DROPPED } outcome;

/* j leaves its lane; the next push of the lane starts. */
static void finish(pjob *j, outcome how, const char *detail) {
	if(how == DROPPED) {
		JANUS_LOG(LOG_VERB, "[calls] push %s of call %s to %s not sent: %s\n",
			job_text(j, "type"), job_text(j, "call_id"), job_text(j, "device"), detail);
	} else if(how == SENT) {
		g_atomic_int_inc(&sent);
		JANUS_LOG(LOG_VERB, "[calls] push %s of call %s to %s (%s): delivered after %d attempt(s)\n",
			job_text(j, "type"), job_text(j, "call_id"), job_text(j, "device"), route_name(j->route), j->attempts);
	} else {
		g_atomic_int_inc(&failed);
		JANUS_LOG(LOG_WARN, "[calls] push %s of call %s to %s (%s) failed after %d attempt(s): %s\n",
			job_text(j, "type"), job_text(j, "call_id"), job_text(j, "device"), route_name(j->route),
			j->attempts, detail ? detail : "?");
	}
	GQueue *lane = g_hash_table_lookup(lanes, j->lane);
	if(lane != NULL) {
		g_queue_remove(lane, j);
		pjob *next = g_queue_peek_head(lane);
		if(next == NULL)
			g_hash_table_remove(lanes, j->lane);
		else
			start_job(next);
	}
	job_free(j);
}

/* ---- starting transfers ---- */

static size_t on_body(char *data, size_t size, size_t n, void *user) {
	xfer *x = user;
	size_t len = size * n;
	if(x->reply->len < MAX_REPLY)
		g_string_append_len(x->reply, data, (gssize)MIN(len, MAX_REPLY - x->reply->len));
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *user) {
	xfer *x = user;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	if(len > sizeof(name) && !g_ascii_strncasecmp(data, name, sizeof(name) - 1)) {
		char *text = g_strndup(data + sizeof(name) - 1, len - (sizeof(name) - 1));
		gint64 s = g_ascii_strtoll(g_strstrip(text), NULL, 10);
		x->retry_after_s = CLAMP(s, 0, RETRY_AFTER_MAX_S);
		g_free(text);
	}
	return len;
}

static void xfer_free(xfer *x) {
	curl_multi_remove_handle(multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	g_string_free(x->reply, TRUE);
	g_free(x->what);
	g_free(x);
}

/* Starts req (taken) for j (NULL: the FCM token request); NULL if libcurl
 * would not take it. */
static xfer *transfer(calls_push_req *req, pjob *j, const char *what) {
	xfer *x = g_new0(xfer, 1);
	x->job = j;
	x->reply = g_string_new(NULL);
	x->what = g_strdup(what);
	x->easy = curl_easy_init();
	for(guint i = 0; i < req->headers->len; i++)
		x->headers = curl_slist_append(x->headers, g_ptr_array_index(req->headers, i));
	/* libcurl would add "Expect: 100-continue" to larger bodies: one more
	 * round trip for nothing. */
	x->headers = curl_slist_append(x->headers, "Expect:");
	CURL *e = x->easy;
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
	curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)config->push_timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)config->push_timeout_ms);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "janus-calls");
	if(config->push_ca_file != NULL && *config->push_ca_file != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, config->push_ca_file);
	if(req->http2) {
		/* APNs: one connection, every push a stream on it. */
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	}
	calls_push_req_free(req);
	if(curl_multi_add_handle(multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		curl_slist_free_all(x->headers);
		g_string_free(x->reply, TRUE);
		g_free(x->what);
		g_free(x);
		return NULL;
	}
	return x;
}

static void fetch_fcm_token(void) {
	if(fcm_fetch != NULL)
		return;
	calls_push_req *req = calls_fcm_token_request(&fcm, fcm_token_url, now_s());
	if(req != NULL)
		fcm_fetch = transfer(req, NULL, "fcm token");
	if(fcm_fetch == NULL)
		JANUS_LOG(LOG_ERR, "[calls] push: cannot make the FCM token request\n");
}

static void add_timer(pjob *j, gint64 due) {
	j->place = IN_TIMERS;
	j->due = due;
	GList *l = timers;
	while(l != NULL && ((pjob *)l->data)->due <= due)
		l = l->next;
	timers = g_list_insert_before(timers, l, j);
}

/* Sends j now if a slot of its route is free, else queues it there. */
static void start_job(pjob *j) {
	if(known_dead(j)) {
		/* Counted as failed once, when it was found dead. */
		finish(j, DROPPED, "its token is dead");
		return;
	}
	if(now_s() > json_integer_value(json_object_get(j->job, "expires_at"))) {
		finish(j, FAILED, "expired before it could be sent");
		return;
	}
	if(in_flight[j->route] >= config->push_max_in_flight) {
		j->place = IN_ROUTE;
		g_queue_push_tail(&route_queue[j->route], j);
		return;
	}
	calls_push_req *req = NULL;
	gint64 now = now_s();
	switch(j->route) {
		case CALLS_ROUTE_WEBHOOK:
			req = calls_webhook_request(config->webhook_url, config->webhook_secret, j->job, now);
			break;
		case CALLS_ROUTE_FCM:
			if(fcm_access == NULL || g_get_monotonic_time() >= fcm_access_until) {
				j->place = IN_FCM_WAIT;
				g_queue_push_tail(&fcm_waiting, j);
				fetch_fcm_token();
				return;
			}
			req = calls_fcm_request(config->fcm_base_url, fcm.project_id, fcm_access, j->job, now);
			break;
		case CALLS_ROUTE_APNS:
			if(apns_token == NULL || now - apns_token_at >= APNS_TOKEN_REFRESH) {
				g_free(apns_token);
				apns_token = calls_apns_provider_token(apns_key, config->apns_key_id, config->apns_team_id, now);
				apns_token_at = now;
			}
			if(apns_token != NULL)
				req = calls_apns_request(config->apns_base_url, config->apns_bundle_id, apns_token, j->job, now);
			break;
		default:
			break;
	}
	xfer *x = req ? transfer(req, j, NULL) : NULL;
	if(x == NULL) {
		finish(j, FAILED, "the request could not be made");
		return;
	}
	j->attempts++;
	j->place = IN_FLIGHT;
	j->x = x;
	in_flight[j->route]++;
}

/* ---- answers ---- */

static gint64 backoff_us(int attempts, gint64 retry_after_s) {
	gint64 ms = (gint64)BACKOFF_BASE_MS << MIN(attempts - 1, 10);
	ms = MIN(ms, BACKOFF_MAX_MS);
	ms = ms * 3 / 4 + g_random_int_range(0, (gint32)(ms / 2) + 1);
	return MAX(ms * 1000, retry_after_s * G_USEC_PER_SEC);
}

/* Another try for j after a failed attempt, if it has one left and would
 * still be in time. */
static void retry(pjob *j, gint64 retry_after_s, gboolean at_once, const char *detail) {
	if(j->attempts > config->push_retries) {
		finish(j, FAILED, detail);
		return;
	}
	gint64 wait = at_once ? 0 : backoff_us(j->attempts, retry_after_s);
	gint64 expires = json_integer_value(json_object_get(j->job, "expires_at"));
	if(g_get_real_time() + wait > expires * G_USEC_PER_SEC) {
		char *why = g_strdup_printf("%s; the next attempt would be after it expires", detail);
		finish(j, FAILED, why);
		g_free(why);
		return;
	}
	JANUS_LOG(LOG_VERB, "[calls] push %s of call %s to %s: %s, attempt %d in %" G_GINT64_FORMAT " ms\n",
		job_text(j, "type"), job_text(j, "call_id"), job_text(j, "device"), detail, j->attempts + 1, wait / 1000);
	add_timer(j, g_get_monotonic_time() + wait);
}

static void token_done(long status, xfer *x) {
	char *token = NULL, *why = NULL;
	gint64 expires_in = 0;
	if(calls_fcm_token_parse(status, x->reply->str, x->reply->len, &token, &expires_in, &why) == 0) {
		g_free(fcm_access);
		fcm_access = token;
		/* Renew a minute early: a token that expires on the way is a 401. */
		fcm_access_until = g_get_monotonic_time() + MAX(expires_in - 60, 10) * G_USEC_PER_SEC;
		JANUS_LOG(LOG_VERB, "[calls] push: FCM access token for %" G_GINT64_FORMAT " s\n", expires_in);
	} else {
		JANUS_LOG(LOG_ERR, "[calls] push: no FCM access token from %s: %s\n", fcm_token_url, why);
	}
	/* The waiting pushes go now, or count the failed exchange as their
	 * attempt. */
	GQueue waiting = fcm_waiting;
	g_queue_init(&fcm_waiting);
	pjob *j;
	while((j = g_queue_pop_head(&waiting)) != NULL) {
		if(fcm_access != NULL && why == NULL) {
			start_job(j);
		} else {
			j->attempts++;
			char *detail = g_strdup_printf("no FCM access token: %s", why);
			retry(j, x->retry_after_s, FALSE, detail);
			g_free(detail);
		}
	}
	g_free(why);
}

static void transfer_done(xfer *x, CURLcode result) {
	long status = 0;
	if(result == CURLE_OK)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	pjob *j = x->job;
	if(j == NULL) {
		fcm_fetch = NULL;
		if(result != CURLE_OK)
			JANUS_LOG(LOG_ERR, "[calls] push: FCM token request: %s\n", curl_easy_strerror(result));
		token_done(status, x);
		xfer_free(x);
		return;
	}
	in_flight[j->route]--;
	j->x = NULL;
	char *detail = NULL;
	calls_push_judge judge = j->route == CALLS_ROUTE_WEBHOOK ? calls_webhook_judge :
		j->route == CALLS_ROUTE_FCM ? calls_fcm_judge : calls_apns_judge;
	calls_push_verdict v = judge(status, x->reply->str, x->reply->len, &detail);
	if(result != CURLE_OK) {
		g_free(detail);
		detail = g_strdup(curl_easy_strerror(result));
	}
	gint64 retry_after = x->retry_after_s;
	calls_push_route route = j->route;
	xfer_free(x);
	switch(v) {
		case CALLS_PUSH_DELIVERED:
			finish(j, SENT, NULL);
			break;
		case CALLS_PUSH_GONE:
			JANUS_LOG(LOG_INFO, "[calls] push: %s registration of %s/%s is dead (%s): deleting it\n",
				job_text(j, "platform"), job_text(j, "to"), job_text(j, "device"), detail);
			forget_registration(j);
			remember_dead(j);
			finish(j, FAILED, detail);
			break;
		case CALLS_PUSH_REJECTED:
			finish(j, FAILED, detail);
			break;
		case CALLS_PUSH_REAUTH:
			/* Our credential, not the push: renew it and go again at once. */
			if(route == CALLS_ROUTE_FCM) {
				g_clear_pointer(&fcm_access, g_free);
			} else {
				g_clear_pointer(&apns_token, g_free);
			}
			retry(j, 0, TRUE, detail);
			break;
		case CALLS_PUSH_RETRY:
			retry(j, retry_after, FALSE, detail);
			break;
	}
	g_free(detail);
	/* A slot is free. */
	pjob *next = g_queue_pop_head(&route_queue[route]);
	if(next != NULL)
		start_job(next);
}

/* ---- admission ---- */

/* Takes j out of wherever it waits (not in flight). */
static void unqueue(pjob *j) {
	switch(j->place) {
		case IN_ROUTE: g_queue_remove(&route_queue[j->route], j); break;
		case IN_TIMERS: timers = g_list_remove(timers, j); break;
		case IN_FCM_WAIT: g_queue_remove(&fcm_waiting, j); break;
		default: break;
	}
}

static void admit(json_t *job) {
	pjob *j = g_new0(pjob, 1);
	j->job = job;
	j->lane = g_strdup_printf("%s/%s", json_string_value(json_object_get(job, "call_id")),
		json_string_value(json_object_get(job, "device")));
	j->route = calls_push_route_of(config, job_text(j, "platform"));
	j->place = IN_LANE;
	if(j->route == CALLS_ROUTE_NONE) {
		/* The handler sends only what can be delivered (calls_push.c). */
		finish(j, FAILED, "no provider is configured for it");
		return;
	}

	GQueue *lane = g_hash_table_lookup(lanes, j->lane);
	if(lane == NULL) {
		lane = g_queue_new();
		g_hash_table_insert(lanes, g_strdup(j->lane), lane);
	}
	pjob *head = g_queue_peek_head(lane);
	if(head != NULL && head->place != IN_FLIGHT && !strcmp(job_text(head, "type"), "incoming_call")) {
		/* The ring has not reached the phone, and the call is over. */
		JANUS_LOG(LOG_VERB, "[calls] push incoming_call of call %s to %s dropped: %s came first\n",
			job_text(head, "call_id"), job_text(head, "device"), job_text(j, "type"));
		unqueue(head);
		g_queue_pop_head(lane);
		job_free(head);
	}
	g_queue_push_tail(lane, j);
	if(g_queue_peek_head(lane) == j)
		start_job(j);
}

void calls_pushd_submit(json_t *job) {
	if(thread == NULL || g_atomic_int_get(&stopping)) {
		g_atomic_int_inc(&failed);
		JANUS_LOG(LOG_WARN, "[calls] push %s of call %s not sent: push delivery is %s\n",
			json_string_value(json_object_get(job, "type")), json_string_value(json_object_get(job, "call_id")),
			thread ? "stopping" : "off");
		json_decref(job);
		return;
	}
	if(g_atomic_int_add(&pending, 1) >= MAX_PENDING) {
		g_atomic_int_add(&pending, -1);
		g_atomic_int_inc(&failed);
		JANUS_LOG(LOG_ERR, "[calls] push %s of call %s not sent: %d pushes are already queued\n",
			json_string_value(json_object_get(job, "type")), json_string_value(json_object_get(job, "call_id")),
			MAX_PENDING);
		json_decref(job);
		return;
	}
	g_async_queue_push(incoming, job);
	curl_multi_wakeup(multi);
}

/* ---- the thread ---- */

static gboolean idle(void) {
	return g_hash_table_size(lanes) == 0 && fcm_fetch == NULL && g_async_queue_length(incoming) <= 0;
}

static gpointer pushd_thread(gpointer data) {
	(void)data;
	gint64 stop_by = 0;
	while(TRUE) {
		json_t *job;
		while((job = g_async_queue_try_pop(incoming)) != NULL)
			admit(job);
		gint64 now = g_get_monotonic_time();
		while(timers != NULL && ((pjob *)timers->data)->due <= now) {
			pjob *j = timers->data;
			timers = g_list_delete_link(timers, timers);
			start_job(j);
		}
		int still = 0;
		curl_multi_perform(multi, &still);
		CURLMsg *msg;
		int left = 0;
		while((msg = curl_multi_info_read(multi, &left)) != NULL) {
			if(msg->msg != CURLMSG_DONE)
				continue;
			xfer *x = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			transfer_done(x, msg->data.result);
		}
		if(g_atomic_int_get(&stopping)) {
			if(stop_by == 0)
				stop_by = now + (gint64)MIN(config->push_timeout_ms, STOP_WAIT_MS) * G_TIME_SPAN_MILLISECOND;
			if(idle() || now >= stop_by)
				break;
		}
		long wait = 1000;
		curl_multi_timeout(multi, &wait);
		if(wait < 0 || wait > 1000)
			wait = 1000;
		if(timers != NULL)
			wait = MIN(wait, MAX(0, (((pjob *)timers->data)->due - now + 999) / 1000));
		if(wait > 0)
			curl_multi_poll(multi, NULL, 0, (int)wait, NULL);
	}
	/* Out of time: what is left did not go. */
	guint lost = (guint)g_atomic_int_get(&pending);
	if(lost > 0)
		JANUS_LOG(LOG_WARN, "[calls] push: stopping with %u pushes not delivered\n", lost);
	return NULL;
}

static void drop_everything(void) {
	if(fcm_fetch != NULL) {
		xfer_free(fcm_fetch);
		fcm_fetch = NULL;
	}
	json_t *job;
	while(incoming != NULL && (job = g_async_queue_try_pop(incoming)) != NULL) {
		g_atomic_int_inc(&failed);
		g_atomic_int_add(&pending, -1);
		json_decref(job);
	}
	if(lanes != NULL) {
		GHashTableIter it;
		gpointer value;
		g_hash_table_iter_init(&it, lanes);
		while(g_hash_table_iter_next(&it, NULL, &value)) {
			GQueue *lane = value;
			pjob *j;
			while((j = g_queue_pop_head(lane)) != NULL) {
				if(j->x != NULL)
					xfer_free(j->x);
				g_atomic_int_inc(&failed);
				job_free(j);
			}
		}
		g_hash_table_destroy(lanes);
		lanes = NULL;
	}
	for(int r = 0; r < CALLS_ROUTES; r++) {
		g_queue_clear(&route_queue[r]);
		in_flight[r] = 0;
	}
	g_list_free(timers);
	timers = NULL;
	g_queue_clear(&fcm_waiting);
	if(dead != NULL)
		g_hash_table_destroy(dead);
	dead = NULL;
}

static void release(void) {
	drop_everything();
	if(multi != NULL)
		curl_multi_cleanup(multi);
	multi = NULL;
	if(incoming != NULL)
		g_async_queue_unref(incoming);
	incoming = NULL;
	calls_fcm_account_clear(&fcm);
	g_clear_pointer(&fcm_token_url, g_free);
	g_clear_pointer(&fcm_access, g_free);
	if(apns_key != NULL)
		EVP_PKEY_free(apns_key);
	apns_key = NULL;
	g_clear_pointer(&apns_token, g_free);
	memset(configured, 0, sizeof(configured));
}

static int load_credentials(const calls_config *cfg, char **why) {
	if(calls_config_has(cfg->fcm_service_account)) {
		char *text = NULL, *inner = NULL;
		GError *error = NULL;
		if(!g_file_get_contents(cfg->fcm_service_account, &text, NULL, &error)) {
			*why = g_strdup_printf("push.fcm.service_account: cannot read %s: %s", cfg->fcm_service_account, error->message);
			g_error_free(error);
			return -1;
		}
		int rc = calls_fcm_account_parse(text, &fcm, &inner);
		g_free(text);
		if(rc < 0) {
			*why = g_strdup_printf("push.fcm.service_account %s: %s", cfg->fcm_service_account, inner);
			g_free(inner);
			return -1;
		}
		if(calls_config_has(cfg->fcm_project_id)) {
			g_free(fcm.project_id);
			fcm.project_id = g_strdup(cfg->fcm_project_id);
		}
		fcm_token_url = g_strdup(calls_config_has(cfg->fcm_token_url) ? cfg->fcm_token_url : fcm.token_uri);
	}
	if(calls_config_has(cfg->apns_key_file)) {
		char *inner = NULL;
		apns_key = calls_jws_key_file(cfg->apns_key_file, &inner);
		if(apns_key == NULL || EVP_PKEY_get_base_id(apns_key) != EVP_PKEY_EC) {
			*why = g_strdup_printf("push.apns.key_file: %s", inner ? inner : "not an EC P-256 key");
			g_free(inner);
			return -1;
		}
	}
	for(int r = 0; r < CALLS_ROUTES; r++)
		configured[r] = calls_push_route_of(cfg, route_names[r]) == (calls_push_route)r;
	/* Allowed (tests and local relays use it), but tokens, bearer tokens
	 * and signed bodies would cross the network in clear. */
	const char *urls[][2] = {{"push.webhook_url", configured[CALLS_ROUTE_WEBHOOK] ? cfg->webhook_url : NULL},
		{"push.fcm.base_url", configured[CALLS_ROUTE_FCM] ? cfg->fcm_base_url : NULL},
		{"push.fcm.token_url", configured[CALLS_ROUTE_FCM] ? fcm_token_url : NULL},
		{"push.apns.base_url", configured[CALLS_ROUTE_APNS] ? cfg->apns_base_url : NULL}};
	for(guint i = 0; i < G_N_ELEMENTS(urls); i++) {
		if(urls[i][1] != NULL && g_str_has_prefix(urls[i][1], "http://"))
			JANUS_LOG(LOG_WARN, "[calls] %s is http://: push tokens and credentials go unencrypted\n", urls[i][0]);
	}
	return 0;
}

int calls_pushd_start(const calls_config *cfg, char **why) {
	config = cfg;
	g_atomic_int_set(&sent, 0);
	g_atomic_int_set(&failed, 0);
	g_atomic_int_set(&pending, 0);
	g_atomic_int_set(&stopping, 0);
	if(load_credentials(cfg, why) < 0) {
		release();
		return -1;
	}
	if(!configured[CALLS_ROUTE_WEBHOOK] && !configured[CALLS_ROUTE_FCM] && !configured[CALLS_ROUTE_APNS])
		return 0;
	if(!curl_version_info(CURLVERSION_NOW)->features || !(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2)) {
		if(configured[CALLS_ROUTE_APNS]) {
			*why = g_strdup("push.apns needs HTTP/2, and this libcurl has no HTTP/2 support");
			release();
			return -1;
		}
	}
	incoming = g_async_queue_new_full((GDestroyNotify)json_decref);
	lanes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_queue_free);
	dead = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cfg->push_max_in_flight);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)cfg->push_max_in_flight * CALLS_ROUTES);
	GError *error = NULL;
	thread = g_thread_try_new("calls push", pushd_thread, NULL, &error);
	if(thread == NULL) {
		*why = g_strdup_printf("cannot start the push thread: %s", error ? error->message : "?");
		g_clear_error(&error);
		release();
		return -1;
	}
	JANUS_LOG(LOG_INFO, "[calls] push: webhook %s, FCM %s, APNs %s\n",
		configured[CALLS_ROUTE_WEBHOOK] ? "on" : "off", configured[CALLS_ROUTE_FCM] ? fcm.project_id : "off",
		configured[CALLS_ROUTE_APNS] ? cfg->apns_bundle_id : "off");
	return 0;
}

void calls_pushd_stop(void) {
	if(thread != NULL) {
		g_atomic_int_set(&stopping, 1);
		curl_multi_wakeup(multi);
		g_thread_join(thread);
		thread = NULL;
	}
	release();
}

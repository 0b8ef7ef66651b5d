/*
 * calls_plugin.c - janus.plugin.calls: the janus_plugin struct and the
 * handle (session) lifecycle.
 *
 * Deliberately thin. Every callback either hands work to the handler thread
 * (messages, media up/down, detach: calls_handler.c), relays media
 * (calls_relay.c) or answers the Admin API (calls_admin.c). Nothing here
 * blocks a Janus thread.
 */
#include <string.h>

#include <plugins/plugin.h>
#include <debug.h>
#include <mutex.h>

#include "calls_admin.h"
#include "calls_call.h"
#include "calls_config.h"
#include "calls_dispatch.h"
#include "calls_group.h"
#include "calls_handler.h"
#include "calls_identity.h"
#include "calls_out.h"
#include "calls_contacts.h"
#include "calls_presence.h"
#include "calls_push.h"
#include "calls_pushd.h"
#include "calls_registry.h"
#include "calls_relay.h"
#include "calls_sfu.h"
#include "calls_store.h"

#define CALLS_VERSION 1
#define CALLS_VERSION_STRING "0.1.0"
#define CALLS_DESCRIPTION "WhatsApp-style calls: users, devices, ringing, 1:1 calls with RTP relay."
#define CALLS_NAME "janus-calls"
#define CALLS_AUTHOR "janus-calls developers"
#define CALLS_PACKAGE "janus.plugin.calls"

static int calls_init(janus_callbacks *callback, const char *config_path);
static void calls_destroy(void);
static int calls_get_api_compatibility(void) { return JANUS_PLUGIN_API_VERSION; }
static int calls_get_version(void) { return CALLS_VERSION; }
static const char *calls_get_version_string(void) { return CALLS_VERSION_STRING; }
static const char *calls_get_description(void) { return CALLS_DESCRIPTION; }
static const char *calls_get_name(void) { return CALLS_NAME; }
static const char *calls_get_author(void) { return CALLS_AUTHOR; }
static const char *calls_get_package(void) { return CALLS_PACKAGE; }
static void calls_create_session(janus_plugin_session *handle, int *error);
static struct janus_plugin_result *calls_handle_message(janus_plugin_session *handle,
	char *transaction, json_t *message, json_t *jsep);
static json_t *calls_handle_admin_message(json_t *message);
static void calls_setup_media(janus_plugin_session *handle);
static void calls_incoming_rtp(janus_plugin_session *handle, janus_plugin_rtp *packet);
static void calls_incoming_rtcp(janus_plugin_session *handle, janus_plugin_rtcp *packet);
static void calls_hangup_media(janus_plugin_session *handle);
static void calls_destroy_session(janus_plugin_session *handle, int *error);
static json_t *calls_query_session(janus_plugin_session *handle);

/* JANUS_PLUGIN_INIT sets every field to a default and then ours over them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
static janus_plugin calls_plugin =
	JANUS_PLUGIN_INIT(
		.init = calls_init,
		.destroy = calls_destroy,
		.get_api_compatibility = calls_get_api_compatibility,
		.get_version = calls_get_version,
		.get_version_string = calls_get_version_string,
		.get_description = calls_get_description,
		.get_name = calls_get_name,
		.get_author = calls_get_author,
		.get_package = calls_get_package,
		.create_session = calls_create_session,
		.handle_message = calls_handle_message,
		.handle_admin_message = calls_handle_admin_message,
		.setup_media = calls_setup_media,
		.incoming_rtp = calls_incoming_rtp,
		.incoming_rtcp = calls_incoming_rtcp,
		.hangup_media = calls_hangup_media,
		.destroy_session = calls_destroy_session,
		.query_session = calls_query_session,
	);
#pragma GCC diagnostic pop

janus_plugin *create(void);
janus_plugin *create(void) {
	return &calls_plugin;
}

static janus_callbacks *gateway;
static calls_config config;
static volatile gint initialized, stopping;
/* handle -> calls_device*: which handles are ours and alive. */
static GHashTable *devices;
static janus_mutex devices_mutex = JANUS_MUTEX_INITIALIZER;

/* ---- delivery of what the handler thread produced ---- */

static gboolean deliverable(calls_device *d) {
	return d != NULL && !g_atomic_int_get(&d->destroyed) && !g_atomic_int_get(&d->handle->stopped);
}

static int out_push(calls_device *d, const char *transaction, json_t *body, json_t *jsep) {
	if(!deliverable(d))
		return 0;     /* gone: nobody to retry for */
	gint64 start = g_get_monotonic_time();
	int rc = gateway->push_event(d->handle, &calls_plugin, transaction, body, jsep);
	/* With a JSEP, Janus's core may wait here: for an old PeerConnection to
	 * be freed, or (half-trickle) for ICE gathering. Signalling waits too. */
	gint64 took = (g_get_monotonic_time() - start) / 1000;
	if(took >= 100)
		JANUS_LOG(LOG_WARN, "[calls] pushing %s to %s took %" G_GINT64_FORMAT " ms\n",
			json_string_value(json_object_get(body, "calls")), d->device_id ? d->device_id : "?", took);
	if(rc != 0)
		JANUS_LOG(LOG_WARN, "[calls] could not push %s to %s: %d\n",
			json_string_value(json_object_get(body, "calls")), d->device_id ? d->device_id : "?", rc);
	return rc;
}

static void out_close_pc(calls_device *d) {
	if(deliverable(d))
		gateway->close_pc(d->handle);
}

static void out_pli(calls_device *d) {
	if(deliverable(d))
		gateway->send_pli(d->handle);
}

static void out_notify(calls_device *d, json_t *info) {
	if(!gateway->events_is_enabled())
		return;
	/* notify_event takes over the reference. */
	gateway->notify_event(&calls_plugin, deliverable(d) ? d->handle : NULL, json_incref(info));
}

static void out_deliver(json_t *job) {
	calls_pushd_submit(json_incref(job));
}

static const calls_out_ops out_ops = {
	.push = out_push,
	.close_pc = out_close_pc,
	.pli = out_pli,
	.notify = out_notify,
	.record = calls_store_write,
	.read = calls_store_read,
	.deliver = out_deliver,
};

/* ---- lifecycle ---- */

/* The tables init made, once no thread uses them: at destroy, or when
 * init fails half way. */
static void free_state(void) {
	janus_mutex_lock(&devices_mutex);
	g_hash_table_destroy(devices);
	devices = NULL;
	janus_mutex_unlock(&devices_mutex);
	calls_state_lock();
	calls_call_clear();
	calls_presence_clear();
	calls_registry_clear();
	calls_state_unlock();
	calls_config_clear(&config);
}

static int calls_init(janus_callbacks *callback, const char *config_path) {
	if(callback == NULL || config_path == NULL)
		return -1;
	calls_config_defaults(&config);
	char *why = NULL;
	if(calls_config_load(&config, config_path, &why) < 0) {
		JANUS_LOG(LOG_FATAL, "[calls] bad configuration: %s\n", why);
		g_free(why);
		calls_config_clear(&config);
		return -1;
	}
	if(config.auth_none)
		JANUS_LOG(LOG_WARN, "[calls] auth = \"none\": anyone can register as anyone (development only)\n");
	else if(strlen(config.jwt_secret) < 32)
		/* HS256 wants a key at least as long as its hash (RFC 7518, 3.2);
		 * a short or sample secret lets anyone sign tokens offline. */
		JANUS_LOG(LOG_WARN, "[calls] general.jwt_secret is %zu bytes: use 32 or more random bytes\n",
			strlen(config.jwt_secret));
	if(config.admin_key == NULL || *config.admin_key == '\0')
		JANUS_LOG(LOG_WARN, "[calls] no admin_key: the plugin's Admin API requests are all refused\n");
	gateway = callback;
	devices = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)calls_device_unref);
	calls_out_init(&out_ops, config.events);
	calls_relay_init(gateway, config.max_bitrate);
	calls_sfu_init(gateway, calls_handler_talking, config.talk_level);
	calls_registry_init();
	calls_call_init(&config, g_get_monotonic_time, g_get_real_time);
	calls_presence_init(&config, g_get_monotonic_time, g_get_real_time);
	calls_contacts_init(&config);
	calls_identity_init(&config);
	calls_dispatch_init(&config);
	calls_admin_init(&config);
	calls_push_init(&config, g_get_real_time);
	if(calls_pushd_start(&config, &why) < 0) {
		JANUS_LOG(LOG_FATAL, "[calls] bad configuration: %s\n", why);
		g_free(why);
		free_state();
		return -1;
	}
	if(calls_store_start(&config, calls_handler_read_done) < 0 || calls_handler_start(&config) < 0) {
		calls_pushd_stop();
		calls_store_stop();
		calls_handler_free();
		free_state();
		return -1;
	}
	if(!calls_store_enabled() && (calls_push_deliverable("webhook") || calls_push_deliverable("fcm") ||
			calls_push_deliverable("apns")))
		JANUS_LOG(LOG_WARN, "[calls] push is configured but there is no database to keep registrations in: nothing will be pushed\n");
	g_atomic_int_set(&initialized, 1);
	JANUS_LOG(LOG_INFO, "[calls] %s %s initialized (auth %s, ring_timeout %ds, call_waiting %s)\n",
		CALLS_NAME, CALLS_VERSION_STRING, config.auth_none ? "none" : "jwt", config.ring_timeout,
		config.call_waiting ? "on" : "off");
	return 0;
}

static void calls_destroy(void) {
	if(!g_atomic_int_get(&initialized))
		return;
	g_atomic_int_set(&stopping, 1);
	/* The calls the handler ends on its way out are records for the store,
	 * and the store's last answers go through the handler's queue. */
	calls_handler_stop();
	/* Pushes of the calls just ended still go (for a bounded time), and
	 * dead registrations they find are records for the store. */
	calls_pushd_stop();
	calls_store_stop();
	calls_handler_free();
	free_state();
	g_atomic_int_set(&initialized, 0);
	JANUS_LOG(LOG_INFO, "[calls] %s destroyed\n", CALLS_NAME);
}

static gboolean running(void) {
	return g_atomic_int_get(&initialized) && !g_atomic_int_get(&stopping);
}

/* The device of a live handle, with a reference, or NULL. */
static calls_device *device_of(janus_plugin_session *handle) {
	janus_mutex_lock(&devices_mutex);
	calls_device *d = devices ? g_hash_table_lookup(devices, handle) : NULL;
	if(d != NULL)
		calls_device_ref(d);
	janus_mutex_unlock(&devices_mutex);
	return d;
}

static void calls_create_session(janus_plugin_session *handle, int *error) {
	if(!running()) {
		*error = -1;
		return;
	}
	calls_device *d = calls_device_new(handle);
	handle->plugin_handle = d;
	janus_mutex_lock(&devices_mutex);
	g_hash_table_insert(devices, handle, d);
	janus_mutex_unlock(&devices_mutex);
}

static void calls_destroy_session(janus_plugin_session *handle, int *error) {
	if(!running()) {
		*error = -1;
		return;
	}
	janus_mutex_lock(&devices_mutex);
	calls_device *d = devices ? g_hash_table_lookup(devices, handle) : NULL;
	if(d == NULL) {
		janus_mutex_unlock(&devices_mutex);
		*error = -2;
		return;
	}
	g_atomic_int_set(&d->destroyed, 1);
	/* Before the table's reference goes: the last one frees the core's
	 * handle with it (see calls_device_new). */
	handle->plugin_handle = NULL;
	calls_handler_detach(d);
	g_hash_table_remove(devices, handle);
	janus_mutex_unlock(&devices_mutex);
}

static json_t *calls_query_session(janus_plugin_session *handle) {
	calls_device *d = device_of(handle);
	if(d == NULL)
		return NULL;
	calls_state_lock();
	json_t *info = json_pack("{sosososb}",
		"user", d->user ? json_string(d->user->id) : json_null(),
		"device", d->device_id ? json_string(d->device_id) : json_null(),
		"call_id", d->call ? json_string(d->call->id) : json_null(),
		"pc_up", d->pc_up);
	json_t *group = calls_group_handle_info(d);
	if(group != NULL)
		json_object_set_new(info, "group", group);
	calls_state_unlock();
	json_object_set_new(info, "packets_in", json_integer(g_atomic_int_get(&d->relay.packets_in)));
	json_object_set_new(info, "packets_relayed", json_integer(g_atomic_int_get(&d->relay.packets_out)));
	calls_device_unref(d);
	return info;
}

/* ---- signalling ---- */

static struct janus_plugin_result *calls_handle_message(janus_plugin_session *handle,
		char *transaction, json_t *message, json_t *jsep) {
	calls_device *d = running() ? device_of(handle) : NULL;
	if(d == NULL) {
		g_free(transaction);
		if(message)
			json_decref(message);
		if(jsep)
			json_decref(jsep);
		return janus_plugin_result_new(JANUS_PLUGIN_ERROR,
			running() ? "No session associated with this handle" : "Plugin not running", NULL);
	}
	calls_handler_message(d, transaction, message, jsep);
	calls_device_unref(d);
	return janus_plugin_result_new(JANUS_PLUGIN_OK_WAIT, NULL, NULL);
}

static json_t *calls_handle_admin_message(json_t *message) {
	if(!running())
		return NULL;
	return calls_admin_handle(message);
}

/* ---- media ---- */

static void media_changed(janus_plugin_session *handle, gboolean up) {
	calls_device *d = running() ? device_of(handle) : NULL;
	if(d == NULL)
		return;
	calls_handler_media(d, up);
	calls_device_unref(d);
}

static void calls_setup_media(janus_plugin_session *handle) {
	media_changed(handle, TRUE);
}

static void calls_hangup_media(janus_plugin_session *handle) {
	media_changed(handle, FALSE);
}

static void calls_incoming_rtp(janus_plugin_session *handle, janus_plugin_rtp *packet) {
	if(handle == NULL || g_atomic_int_get(&handle->stopped) || !running())
		return;
	/* The core keeps plugin_handle valid while the handle has media. */
	calls_device *d = handle->plugin_handle;
	if(d != NULL && !g_atomic_int_get(&d->destroyed))
		calls_relay_rtp(d, packet);
}

static void calls_incoming_rtcp(janus_plugin_session *handle, janus_plugin_rtcp *packet) {
	if(handle == NULL || g_atomic_int_get(&handle->stopped) || !running())
		return;
	calls_device *d = handle->plugin_handle;
	if(d != NULL && !g_atomic_int_get(&d->destroyed))
		calls_relay_rtcp(d, packet);
}

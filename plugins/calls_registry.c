/*
 * calls_registry.c - users and devices (see calls_registry.h).
 */
#include <string.h>

#include <utils.h>

#include "calls_registry.h"

static GHashTable *users;     /* id -> calls_user* */
static guint device_count;

static void device_free(const janus_refcount *ref) {
	calls_device *d = janus_refcount_containerof(ref, calls_device, ref);
	calls_relay_slot_clear(&d->relay);
	if(d->handle != NULL)
		janus_refcount_decrease(&d->handle->ref);
	if(d->watching != NULL)
		g_hash_table_destroy(d->watching);
	g_free(d->device_id);
	g_free(d);
}

calls_device *calls_device_new(janus_plugin_session *handle) {
	calls_device *d = g_new0(calls_device, 1);
	/* The core hands us the last reference to its handle (as to every
	 * plugin), dropped in device_free: so the handle outlives every queued
	 * push to it. */
	d->handle = handle;
	d->audio = TRUE;
	d->video = TRUE;
	janus_mutex_init(&d->rate_mutex);
	d->rate_tokens = -1;
	calls_relay_slot_init(&d->relay);
	janus_refcount_init(&d->ref, device_free);
	return d;
}

void calls_device_ref(calls_device *d) {
	janus_refcount_increase(&d->ref);
}

void calls_device_unref(calls_device *d) {
	janus_refcount_decrease(&d->ref);
}

gboolean calls_device_rate_ok(calls_device *d, int limit, gint64 now) {
	if(limit <= 0)
		return TRUE;
	janus_mutex_lock(&d->rate_mutex);
	if(d->rate_tokens < 0) {
		d->rate_tokens = limit;
	} else {
		double refill = (double)(now - d->rate_at) * limit / G_USEC_PER_SEC;
		d->rate_tokens = MIN((double)limit, d->rate_tokens + refill);
	}
	d->rate_at = now;
	gboolean ok = (d->rate_tokens >= 1.0);
	if(ok)
		d->rate_tokens -= 1.0;
	janus_mutex_unlock(&d->rate_mutex);
	return ok;
}

static void user_free(calls_user *u) {
	g_free(u->id);
	g_free(u->display);
	/* Only non-empty when the whole registry is cleared: drop its references. */
	g_list_free_full(u->devices, (GDestroyNotify)calls_device_unref);
	g_free(u);
}

void calls_registry_init(void) {
	users = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)user_free);
	device_count = 0;
}

void calls_registry_clear(void) {
	if(users != NULL)
		g_hash_table_destroy(users);
	users = NULL;
	device_count = 0;
}

calls_device *calls_registry_device(const char *user, const char *device_id) {
	calls_user *u = g_hash_table_lookup(users, user);
	for(GList *l = u && device_id ? u->devices : NULL; l != NULL; l = l->next) {
		calls_device *d = l->data;
		if(!strcmp(d->device_id, device_id))
			return d;
	}
	return NULL;
}

void calls_registry_add(calls_device *d, const char *user, const char *display,
		const char *device_id, calls_device **replaced) {
	*replaced = NULL;
	calls_device *old = calls_registry_device(user, device_id);
	if(old != NULL && old != d) {
		calls_device_ref(old);
		*replaced = old;
		calls_registry_remove(old);
	}
	/* Removing old may have freed the user (it was its only device). */
	calls_user *u = g_hash_table_lookup(users, user);
	if(u == NULL) {
		u = g_new0(calls_user, 1);
		u->id = g_strdup(user);
		g_hash_table_insert(users, u->id, u);
	}
	/* The newest registration names the user. */
	g_free(u->display);
	u->display = g_strdup(display ? display : user);
	g_free(d->device_id);
	d->device_id = device_id ? g_strdup(device_id) : janus_random_uuid();
	d->user = u;
	d->registration++;
	u->devices = g_list_append(u->devices, d);
	calls_device_ref(d);
	device_count++;
}

void calls_registry_remove(calls_device *d) {
	calls_user *u = d->user;
	if(u == NULL)
		return;
	u->devices = g_list_remove(u->devices, d);
	d->user = NULL;
	device_count--;
	if(u->devices == NULL)
		g_hash_table_remove(users, u->id);
	calls_device_unref(d);
}

calls_user *calls_registry_user(const char *id) {
	return g_hash_table_lookup(users, id);
}

guint calls_registry_user_count(void) {
	return g_hash_table_size(users);
}

guint calls_registry_device_count(void) {
	return device_count;
}

GList *calls_registry_users(void) {
	return g_hash_table_get_values(users);
}

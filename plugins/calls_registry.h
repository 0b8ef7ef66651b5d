/*
 * calls_registry.h - users and their devices.
 *
 * A device is one Janus handle (janus_plugin_session) and lives from
 * create_session to the last reference after destroy_session. It is shared
 * by the handler thread, the media threads (relay slot) and the outbox, so it
 * is reference counted. A user exists while at least one of its devices is
 * registered.
 *
 * Fields marked "state" are only touched with the state lock held (the
 * handler thread, or a reader such as the Admin API).
 */
#ifndef CALLS_REGISTRY_H
#define CALLS_REGISTRY_H

#include <glib.h>
#include <jansson.h>
#include <refcount.h>
#include <plugins/plugin.h>

#include "calls_relay.h"

struct calls_call;
struct calls_part;

typedef struct calls_user {
	char *id;
	char *display;
	GList *devices;              /* calls_device*, newest last */
} calls_user;

typedef struct calls_device {
	janus_refcount ref;
	janus_plugin_session *handle;
	volatile gint destroyed;     /* destroy_session seen */
	/* state */
	calls_user *user;            /* NULL until registered */
	char *device_id;
	struct calls_call *call;     /* the call this device is in, as caller or answerer */
	struct calls_call *offered;  /* a ringing call whose offer this handle holds */
	struct calls_part *part;     /* its place in a group call (calls_group.c) */
	struct calls_part *feed_of;  /* a subscriber handle: the place it receives for */
	gboolean media_claimed;      /* a PeerConnection is negotiated or up on this handle */
	gint64 release_deadline;     /* close_pc sent; give up waiting for hangup_media then */
	GSequenceIter *release_at;   /* its place among the devices waiting (calls_call.c) */
	gboolean pc_up;              /* between setup_media and hangup_media */
	gboolean audio, video;       /* own mute and camera state */
	gboolean registering;        /* register waits for the database; requests wait behind it */
	guint registration;          /* counts this handle's registrations: a late answer checks it */
	GHashTable *watching;        /* presence entries this device subscribes to (calls_presence.c) */
	gboolean subscribing;        /* a presence_subscribe waits for the database; the
	                              * handle's presence requests wait behind it */
	/* handle_message threads */
	janus_mutex rate_mutex;
	double rate_tokens;
	gint64 rate_at;
	/* media threads */
	calls_relay relay;
} calls_device;

calls_device *calls_device_new(janus_plugin_session *handle);
void calls_device_ref(calls_device *d);
void calls_device_unref(calls_device *d);

/* Token bucket: TRUE if this request is within limit requests a second. */
gboolean calls_device_rate_ok(calls_device *d, int limit, gint64 now);

void calls_registry_init(void);
void calls_registry_clear(void);

/* Registers d as device_id (made up when NULL) of user. If that device id
 * was registered on another handle, that handle is unregistered and returned
 * with a reference in *replaced. */
void calls_registry_add(calls_device *d, const char *user, const char *display,
	const char *device_id, calls_device **replaced);
/* Unregisters d (no-op if not registered). */
void calls_registry_remove(calls_device *d);

calls_user *calls_registry_user(const char *id);
/* The handle registered as user's device_id, or NULL (no reference). */
calls_device *calls_registry_device(const char *user, const char *device_id);
guint calls_registry_user_count(void);
guint calls_registry_device_count(void);
/* A list of calls_user* (not owned items), for admin listings. */
GList *calls_registry_users(void);

#endif

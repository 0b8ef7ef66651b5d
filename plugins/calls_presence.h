/*
 * calls_presence.h - who is online, in a call or last seen when, and who
 * may know it.
 *
 * Owns the people table: one entry for each user that is registered here or
 * that some device subscribes to, with the user's state (summed over its
 * devices), last_seen, privacy and, where privacy depends on it, contacts.
 * Each entry keeps its subscribers (devices) and, per subscriber, whether it
 * was last shown the real state or "unknown"; each device keeps the set of
 * entries it watches. A change therefore costs work in proportion to the
 * changed user's subscribers only, and a subscription costs two hash slots.
 *
 * Changes are coalesced: a user's first change opens a window
 * (presence_window_ms); when it closes, every subscriber whose view differs
 * from what it was last told (the entry's "published" state) gets one
 * notification, and the subscribers of all the users whose windows closed
 * together get them in one `presence` event per device.
 *
 * Handler thread, state lock held, like the state machine; it speaks only
 * through calls_out, so the unit tests drive it with a fake clock.
 */
#ifndef CALLS_PRESENCE_H
#define CALLS_PRESENCE_H

#include <glib.h>
#include <jansson.h>

#include "calls_call.h"
#include "calls_config.h"
#include "calls_error.h"
#include "calls_registry.h"
#include "calls_request.h"

typedef enum calls_presence_state {
	CALLS_PRESENCE_OFFLINE,
	CALLS_PRESENCE_ONLINE,
	CALLS_PRESENCE_IN_CALL,
	CALLS_PRESENCE_UNKNOWN,
} calls_presence_state;

typedef enum calls_privacy {
	CALLS_PRIVACY_EVERYONE,
	CALLS_PRIVACY_CONTACTS,
	CALLS_PRIVACY_NOBODY,
} calls_privacy;

const char *calls_presence_state_name(calls_presence_state s);
const char *calls_privacy_name(calls_privacy p);
/* FALSE for anything but "everyone", "contacts", "nobody". */
gboolean calls_privacy_parse(const char *s, calls_privacy *out);

/* The sum of a user's devices: in_call if any is in an answered call, else
 * online if any is registered; offline for NULL. */
calls_presence_state calls_presence_of_user(const calls_user *u);

/* May watcher see the state of target? A user always sees itself; contacts
 * is the set of ids target added (NULL: none). */
gboolean calls_privacy_allows(calls_privacy privacy, GHashTable *contacts,
	const char *target, const char *watcher);

void calls_presence_init(const calls_config *cfg, calls_clock mono, calls_clock real);
void calls_presence_clear(void);

/* d has just been added to the registry. profile: {privacy, contacts} read
 * from the database at register, or NULL when it could not be read; stamp:
 * calls_presence_stamp() when that read was asked. */
void calls_presence_registered(calls_device *d, json_t *profile, guint64 stamp);
/* To stamp a database read whose answer is given to calls_presence. */
guint64 calls_presence_stamp(void);
/* d is about to leave the registry: its subscriptions end. */
void calls_presence_device_leaving(calls_device *d);
/* Something about user's devices changed (one left, a call was answered or
 * ended): its state is summed again and announced if it changed. Returns
 * the time (real, us) the user went offline if it just did, else 0: the
 * database record of it must carry the same last_seen. */
gint64 calls_presence_touch(const char *user);

/* presence_subscribe and presence_unsubscribe. */
int calls_presence_request(calls_request_kind kind, calls_device *d, const char *transaction,
	json_t *body, calls_error *err);

/* For the privacy and contacts requests (calls_contacts.c). */
void calls_presence_set_privacy(const char *user, calls_privacy privacy);
/* FALSE when user's privacy is not known here (the database did not answer). */
gboolean calls_presence_privacy(const char *user, calls_privacy *out);
/* How many of ids are not contacts of user yet, and how many it has; FALSE
 * when its contacts are not known here (the database did not answer). */
gboolean calls_presence_contacts_count(const char *user, json_t *ids, guint *fresh, guint *held);
/* user added (add TRUE) or removed ids; subscribers are told if that
 * changes what they may see. */
void calls_presence_contacts_changed(const char *user, json_t *ids, gboolean add);
/* {user, state, last_seen?} of a contact as watcher may see it: from memory
 * when the user is here and its rule known, else as the database decided
 * (profile {user, last_seen?, visible}, as CALLS_READ_CONTACTS reads it). */
json_t *calls_presence_entry(const char *watcher, json_t *profile);

/* Closes the windows that are due; returns the next deadline or 0. */
gint64 calls_presence_tick(void);
/* At stop: every registered user is last seen now. */
void calls_presence_shutdown(void);

guint calls_presence_subscription_count(void);
guint calls_presence_people_count(void);

#endif

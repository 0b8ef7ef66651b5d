/*
 * calls_config.h - the plugin's settings (janus.plugin.calls.jcfg).
 *
 * calls_config_set() is the single place that knows every setting, its type,
 * range and default; calls_config_load() only walks the Janus config tree and
 * feeds it. Unknown groups are ignored (they may belong to later features or
 * newer versions); an unknown key or a bad value in a known group is an error
 * that stops the plugin from starting with a message naming the setting.
 */
#ifndef CALLS_CONFIG_H
#define CALLS_CONFIG_H

#include <glib.h>

typedef struct calls_config {
	/* general */
	gboolean auth_none;       /* auth = "none": development only */
	char *jwt_secret;
	int ring_timeout;         /* seconds */
	int ice_grace;            /* seconds */
	int call_info_ttl;        /* seconds an ended call is remembered (call_info) */
	gboolean call_waiting;
	int max_group_size;
	int talk_level;           /* -dBov a speaker's mean level must be above (0..127) */
	int max_message_bytes;
	int rate_limit;           /* requests per second per device; 0 = off */
	char *admin_key;
	gboolean events;
	guint32 max_bitrate;      /* REMB cap in bits/s; 0 = no cap */
	int max_subscriptions;    /* presence subscriptions per device */
	int presence_window_ms;   /* a user's presence changes within this reach subscribers as one */
	int max_contacts;         /* contacts a user may have */
	/* turn */
	char **stun_uris;
	char **turn_uris;
	char *turn_secret;
	int turn_ttl;             /* seconds */
	/* database (used by the history feature) */
	char *conninfo;           /* NULL or empty: no database */
	char *spool_dir;          /* default /var/lib/janus/calls-spool */
	int db_timeout_ms;        /* unanswered this long: the database is unreachable */
	char *node;               /* this Janus among those sharing the database (default: host name) */
	/* push (the fcm and apns groups nest inside it: "push.fcm", "push.apns") */
	char *webhook_url;        /* NULL or empty: no webhook */
	char *webhook_secret;     /* required with webhook_url */
	int push_timeout_ms;      /* one delivery attempt, connect included */
	int push_retries;         /* attempts after the first one */
	int push_max_in_flight;   /* requests under way per provider (HTTP/1.1: connections, HTTP/2: streams) */
	char *push_ca_file;       /* extra CA bundle for the providers' TLS (private CAs, tests) */
	char *fcm_service_account;   /* the service-account JSON key file; NULL: no FCM */
	char *fcm_base_url;
	char *fcm_token_url;      /* NULL: the key file's token_uri */
	char *fcm_project_id;     /* NULL: the key file's project_id */
	char *apns_key_file;      /* the .p8 signing key; NULL: no APNs */
	char *apns_key_id, *apns_team_id, *apns_bundle_id;
	char *apns_base_url;
} calls_config;

void calls_config_defaults(calls_config *cfg);
void calls_config_clear(calls_config *cfg);

/* Applies one setting. Returns 0, or -1 with a message in why (owned by the
 * caller, g_free) when the key is unknown in a known group or the value is bad.
 * Keys of unknown groups are accepted and ignored. */
int calls_config_set(calls_config *cfg, const char *group, const char *key,
	const char *value, char **why);

/* A string setting that was given and is not empty. */
gboolean calls_config_has(const char *value);

/* Checks the combination of settings after all were applied. */
int calls_config_check(const calls_config *cfg, char **why);

/* Reads <config_path>/janus.plugin.calls.jcfg (a missing file means defaults).
 * Returns 0 or -1 with why set. Needs the Janus core (janus_config_parse). */
int calls_config_load(calls_config *cfg, const char *config_path, char **why);

#endif

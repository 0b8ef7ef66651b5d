/*
 * calls_config.c - parsing and checking of janus.plugin.calls.jcfg.
 *
 * Settings are documented in README.md ("Configuration") and in
 * conf/janus.plugin.calls.jcfg.sample; keep the three in step.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <config.h>

#include "calls_config.h"

void calls_config_defaults(calls_config *cfg) {
	memset(cfg, 0, sizeof(*cfg));
	cfg->auth_none = FALSE;
	cfg->ring_timeout = 45;
	cfg->ice_grace = 10;
	cfg->call_info_ttl = 3600;
	cfg->call_waiting = TRUE;
	cfg->max_group_size = 32;
	cfg->talk_level = 40;
	cfg->max_message_bytes = 65536;
	cfg->rate_limit = 20;
	cfg->events = TRUE;
	cfg->max_subscriptions = 1000;
	cfg->presence_window_ms = 500;
	cfg->max_contacts = 1000;
	cfg->turn_ttl = 86400;
	cfg->spool_dir = g_strdup("/var/lib/janus/calls-spool");
	cfg->db_timeout_ms = 2000;
	cfg->push_timeout_ms = 5000;
	cfg->push_retries = 3;
	cfg->push_max_in_flight = 256;
	cfg->fcm_base_url = g_strdup("https://fcm.googleapis.com");
	cfg->apns_base_url = g_strdup("https://api.push.apple.com");
}

void calls_config_clear(calls_config *cfg) {
	g_free(cfg->jwt_secret);
	g_free(cfg->admin_key);
	g_strfreev(cfg->stun_uris);
	g_strfreev(cfg->turn_uris);
	g_free(cfg->turn_secret);
	g_free(cfg->conninfo);
	g_free(cfg->spool_dir);
	g_free(cfg->node);
	g_free(cfg->webhook_url);
	g_free(cfg->webhook_secret);
	g_free(cfg->push_ca_file);
	g_free(cfg->fcm_service_account);
	g_free(cfg->fcm_base_url);
	g_free(cfg->fcm_token_url);
	g_free(cfg->fcm_project_id);
	g_free(cfg->apns_key_file);
	g_free(cfg->apns_key_id);
	g_free(cfg->apns_team_id);
	g_free(cfg->apns_bundle_id);
	g_free(cfg->apns_base_url);
	memset(cfg, 0, sizeof(*cfg));
}

static int parse_bool(const char *value, gboolean *out) {
	if(!g_ascii_strcasecmp(value, "true") || !g_ascii_strcasecmp(value, "yes") || !strcmp(value, "1")) {
		*out = TRUE;
		return 0;
	}
	if(!g_ascii_strcasecmp(value, "false") || !g_ascii_strcasecmp(value, "no") || !strcmp(value, "0")) {
		*out = FALSE;
		return 0;
	}
	return -1;
}

static int parse_int(const char *value, long min, long max, int *out) {
	char *end = NULL;
	errno = 0;
	long v = strtol(value, &end, 10);
	if(errno != 0 || end == value || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* "a, b,,c" -> {"a", "b", "c"}; empty string -> empty vector. */
static char **parse_list(const char *value) {
	char **parts = g_strsplit(value, ",", -1);
	GPtrArray *out = g_ptr_array_new();
	for(char **p = parts; *p != NULL; p++) {
		char *s = g_strstrip(*p);
		if(*s != '\0')
			g_ptr_array_add(out, g_strdup(s));
	}
	g_strfreev(parts);
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

#define SET_STR(field) do { g_free(cfg->field); cfg->field = g_strdup(value); return 0; } while(0)
/* Provider endpoints: http(s) only, without a trailing slash (paths are
 * appended). An empty value means "not set". */
#define SET_URL(field) do { \
		if(*value != '\0' && !g_str_has_prefix(value, "https://") && !g_str_has_prefix(value, "http://")) \
			goto bad_url; \
		g_free(cfg->field); \
		cfg->field = g_strdup(value); \
		if(*value != '\0' && g_str_has_suffix(cfg->field, "/") && strcmp(key, "webhook_url") != 0) \
			cfg->field[strlen(cfg->field) - 1] = '\0'; \
		return 0; \
	} while(0)
#define SET_BOOL(field) do { \
		if(parse_bool(value, &cfg->field) < 0) \
			goto bad_bool; \
		return 0; \
	} while(0)

int calls_config_set(calls_config *cfg, const char *group, const char *key,
		const char *value, char **why) {
	long lo = 0, hi = 0;
	if(value == NULL)
		value = "";
	if(!strcmp(group, "general")) {
		if(!strcmp(key, "auth")) {
			if(!strcmp(value, "jwt"))
				cfg->auth_none = FALSE;
			else if(!strcmp(value, "none"))
				cfg->auth_none = TRUE;
			else {
				*why = g_strdup_printf("general.auth must be \"jwt\" or \"none\", not \"%s\"", value);
				return -1;
			}
			return 0;
		}
		if(!strcmp(key, "jwt_secret")) SET_STR(jwt_secret);
		if(!strcmp(key, "ring_timeout")) { lo = 1; hi = 600; if(parse_int(value, lo, hi, &cfg->ring_timeout) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "ice_grace")) { lo = 0; hi = 300; if(parse_int(value, lo, hi, &cfg->ice_grace) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "call_info_ttl")) { lo = 0; hi = 86400; if(parse_int(value, lo, hi, &cfg->call_info_ttl) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "call_waiting")) SET_BOOL(call_waiting);
		if(!strcmp(key, "talk_level")) { lo = 0; hi = 127; if(parse_int(value, lo, hi, &cfg->talk_level) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "max_group_size")) { lo = 2; hi = 256; if(parse_int(value, lo, hi, &cfg->max_group_size) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "max_message_bytes")) { lo = 1024; hi = 16 * 1024 * 1024; if(parse_int(value, lo, hi, &cfg->max_message_bytes) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "rate_limit")) { lo = 0; hi = 100000; if(parse_int(value, lo, hi, &cfg->rate_limit) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "admin_key")) SET_STR(admin_key);
		if(!strcmp(key, "events")) SET_BOOL(events);
		if(!strcmp(key, "max_subscriptions")) { lo = 1; hi = 100000; if(parse_int(value, lo, hi, &cfg->max_subscriptions) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "max_contacts")) { lo = 1; hi = 100000; if(parse_int(value, lo, hi, &cfg->max_contacts) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "presence_window_ms")) { lo = 0; hi = 60000; if(parse_int(value, lo, hi, &cfg->presence_window_ms) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "max_bitrate")) {
			int bps = 0;
			lo = 0; hi = 1000000000;
			if(parse_int(value, lo, hi, &bps) < 0)
				goto bad_int;
			cfg->max_bitrate = (guint32)bps;
			return 0;
		}
	} else if(!strcmp(group, "turn")) {
		if(!strcmp(key, "stun_uris")) { g_strfreev(cfg->stun_uris); cfg->stun_uris = parse_list(value); return 0; }
		if(!strcmp(key, "turn_uris")) { g_strfreev(cfg->turn_uris); cfg->turn_uris = parse_list(value); return 0; }
		if(!strcmp(key, "turn_secret")) SET_STR(turn_secret);
		if(!strcmp(key, "turn_ttl")) { lo = 60; hi = 30 * 86400; if(parse_int(value, lo, hi, &cfg->turn_ttl) < 0) goto bad_int; return 0; }
	} else if(!strcmp(group, "database")) {
		if(!strcmp(key, "conninfo")) SET_STR(conninfo);
		if(!strcmp(key, "spool_dir")) SET_STR(spool_dir);
		if(!strcmp(key, "timeout_ms")) { lo = 100; hi = 600000; if(parse_int(value, lo, hi, &cfg->db_timeout_ms) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "node")) SET_STR(node);
	} else if(!strcmp(group, "push")) {
		if(!strcmp(key, "webhook_url")) SET_URL(webhook_url);
		if(!strcmp(key, "webhook_secret")) SET_STR(webhook_secret);
		if(!strcmp(key, "timeout_ms")) { lo = 100; hi = 600000; if(parse_int(value, lo, hi, &cfg->push_timeout_ms) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "push_retries")) { lo = 0; hi = 20; if(parse_int(value, lo, hi, &cfg->push_retries) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "max_in_flight")) { lo = 1; hi = 10000; if(parse_int(value, lo, hi, &cfg->push_max_in_flight) < 0) goto bad_int; return 0; }
		if(!strcmp(key, "ca_file")) SET_STR(push_ca_file);
	} else if(!strcmp(group, "push.fcm")) {
		if(!strcmp(key, "service_account")) SET_STR(fcm_service_account);
		if(!strcmp(key, "base_url")) SET_URL(fcm_base_url);
		if(!strcmp(key, "token_url")) SET_URL(fcm_token_url);
		if(!strcmp(key, "project_id")) SET_STR(fcm_project_id);
	} else if(!strcmp(group, "push.apns")) {
		if(!strcmp(key, "key_file")) SET_STR(apns_key_file);
		if(!strcmp(key, "key_id")) SET_STR(apns_key_id);
		if(!strcmp(key, "team_id")) SET_STR(apns_team_id);
		if(!strcmp(key, "bundle_id")) SET_STR(apns_bundle_id);
		if(!strcmp(key, "base_url")) SET_URL(apns_base_url);
	} else {
		/* A group of a later feature or a newer version: not ours to judge. */
		return 0;
	}
	*why = g_strdup_printf("unknown setting %s.%s", group, key);
	return -1;
bad_int:
	*why = g_strdup_printf("%s.%s must be a whole number from %ld to %ld, not \"%s\"", group, key, lo, hi, value);
	return -1;
bad_bool:
	*why = g_strdup_printf("%s.%s must be true or false, not \"%s\"", group, key, value);
	return -1;
bad_url:
	*why = g_strdup_printf("%s.%s must be an http:// or https:// URL, not \"%s\"", group, key, value);
	return -1;
}

gboolean calls_config_has(const char *value) {
	return value != NULL && *value != '\0';
}

int calls_config_check(const calls_config *cfg, char **why) {
	if(!cfg->auth_none && (cfg->jwt_secret == NULL || *cfg->jwt_secret == '\0')) {
		*why = g_strdup("general.jwt_secret is required with auth = \"jwt\"");
		return -1;
	}
	if(cfg->turn_uris != NULL && cfg->turn_uris[0] != NULL &&
			(cfg->turn_secret == NULL || *cfg->turn_secret == '\0')) {
		*why = g_strdup("turn.turn_secret is required when turn.turn_uris is set");
		return -1;
	}
	if(cfg->conninfo != NULL && *cfg->conninfo != '\0' && (cfg->spool_dir == NULL || *cfg->spool_dir == '\0')) {
		*why = g_strdup("database.spool_dir is required when database.conninfo is set");
		return -1;
	}
	if(calls_config_has(cfg->webhook_url) && !calls_config_has(cfg->webhook_secret)) {
		*why = g_strdup("push.webhook_secret is required when push.webhook_url is set (every webhook is signed)");
		return -1;
	}
	if(calls_config_has(cfg->apns_key_file) && (!calls_config_has(cfg->apns_key_id) || !calls_config_has(cfg->apns_team_id) || !calls_config_has(cfg->apns_bundle_id))) {
		*why = g_strdup("push.apns needs key_id, team_id and bundle_id with key_file");
		return -1;
	}
	const char *urls[][2] = {{"push.fcm.base_url", cfg->fcm_base_url}, {"push.apns.base_url", cfg->apns_base_url}};
	for(guint i = 0; i < G_N_ELEMENTS(urls); i++) {
		if(!calls_config_has(urls[i][1])) {
			*why = g_strdup_printf("%s must not be empty", urls[i][0]);
			return -1;
		}
	}
	return 0;
}

/* name: the group's dotted path ("push", "push.fcm"). */
static int load_group(calls_config *cfg, const char *name, janus_config_container *group, char **why) {
	for(GList *l = group->list; l != NULL; l = l->next) {
		janus_config_container *item = l->data;
		if(item->name == NULL)
			continue;
		if(item->type == janus_config_type_category) {
			char *inner = g_strdup_printf("%s.%s", name, item->name);
			int rc = load_group(cfg, inner, item, why);
			g_free(inner);
			if(rc < 0)
				return -1;
			continue;
		}
		if(item->type != janus_config_type_item)
			continue;
		if(calls_config_set(cfg, name, item->name, item->value, why) < 0)
			return -1;
	}
	return 0;
}

int calls_config_load(calls_config *cfg, const char *config_path, char **why) {
	char *filename = g_build_filename(config_path, "janus.plugin.calls.jcfg", NULL);
	if(!g_file_test(filename, G_FILE_TEST_EXISTS)) {
		g_free(filename);
		return calls_config_check(cfg, why);
	}
	janus_config *config = janus_config_parse(filename);
	if(config == NULL) {
		*why = g_strdup_printf("cannot parse %s", filename);
		g_free(filename);
		return -1;
	}
	g_free(filename);
	int rc = 0;
	for(GList *l = config->list; l != NULL && rc == 0; l = l->next) {
		janus_config_container *group = l->data;
		if(group->type == janus_config_type_category && group->name != NULL)
			rc = load_group(cfg, group->name, group, why);
	}
	janus_config_destroy(config);
	return rc < 0 ? -1 : calls_config_check(cfg, why);
}

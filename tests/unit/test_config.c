/*
 * test_config.c - settings: defaults, parsing, ranges, combinations.
 */
#include <string.h>

#include "calls_config.h"

static void test_defaults(void) {
	calls_config c;
	calls_config_defaults(&c);
	g_assert_false(c.auth_none);
	g_assert_cmpint(c.ring_timeout, ==, 45);
	g_assert_cmpint(c.ice_grace, ==, 10);
	g_assert_cmpint(c.call_info_ttl, ==, 3600);
	g_assert_true(c.call_waiting);
	g_assert_cmpint(c.max_group_size, ==, 32);
	g_assert_cmpint(c.max_message_bytes, ==, 65536);
	g_assert_cmpint(c.rate_limit, ==, 20);
	g_assert_true(c.events);
	g_assert_cmpint(c.turn_ttl, ==, 86400);
	calls_config_clear(&c);
}

static void set_ok(calls_config *c, const char *g, const char *k, const char *v) {
	char *why = NULL;
	if(calls_config_set(c, g, k, v, &why) != 0)
		g_error("%s.%s=%s: %s", g, k, v, why);
}

static void set_bad(calls_config *c, const char *g, const char *k, const char *v, const char *why_part) {
	char *why = NULL;
	g_assert_cmpint(calls_config_set(c, g, k, v, &why), ==, -1);
	g_assert_nonnull(why);
	if(strstr(why, why_part) == NULL)
		g_error("%s.%s=%s: '%s' lacks '%s'", g, k, v, why, why_part);
	g_free(why);
}

static void test_values(void) {
	calls_config c;
	calls_config_defaults(&c);
	set_ok(&c, "general", "auth", "none");
	g_assert_true(c.auth_none);
	set_ok(&c, "general", "ring_timeout", "30");
	g_assert_cmpint(c.ring_timeout, ==, 30);
	set_ok(&c, "general", "call_waiting", "false");
	g_assert_false(c.call_waiting);
	set_ok(&c, "general", "max_bitrate", "500000");
	g_assert_cmpuint(c.max_bitrate, ==, 500000);
	set_ok(&c, "turn", "stun_uris", " stun:a:3478 , ,stun:b:3478");
	g_assert_cmpuint(g_strv_length(c.stun_uris), ==, 2);
	g_assert_cmpstr(c.stun_uris[1], ==, "stun:b:3478");
	set_ok(&c, "turn", "turn_uris", "");
	g_assert_cmpuint(g_strv_length(c.turn_uris), ==, 0);
	/* groups of other features or versions are not ours to judge */
	set_ok(&c, "someday", "anything", "x");
	set_bad(&c, "general", "auth", "basic", "general.auth");
	set_bad(&c, "general", "ring_timeout", "0", "ring_timeout");
	set_bad(&c, "general", "ring_timeout", "45s", "ring_timeout");
	set_bad(&c, "general", "ice_grace", "-1", "ice_grace");
	set_ok(&c, "general", "call_info_ttl", "0");
	g_assert_cmpint(c.call_info_ttl, ==, 0);
	set_bad(&c, "general", "call_info_ttl", "86401", "call_info_ttl");
	set_bad(&c, "general", "call_waiting", "maybe", "true or false");
	set_bad(&c, "general", "colour", "blue", "unknown setting general.colour");
	set_bad(&c, "turn", "turn_ttl", "5", "turn_ttl");
	calls_config_clear(&c);
}

static void test_push(void) {
	calls_config c;
	char *why = NULL;
	calls_config_defaults(&c);
	g_assert_cmpint(c.push_timeout_ms, ==, 5000);
	g_assert_cmpint(c.push_retries, ==, 3);
	g_assert_cmpint(c.push_max_in_flight, ==, 256);
	g_assert_cmpstr(c.fcm_base_url, ==, "https://fcm.googleapis.com");
	g_assert_cmpstr(c.apns_base_url, ==, "https://api.push.apple.com");
	g_assert_null(c.webhook_url);
	set_ok(&c, "general", "jwt_secret", "k");
	/* the webhook URL is kept as written; base URLs lose a trailing slash */
	set_ok(&c, "push", "webhook_url", "http://127.0.0.1:1/hook/");
	g_assert_cmpstr(c.webhook_url, ==, "http://127.0.0.1:1/hook/");
	set_ok(&c, "push.fcm", "base_url", "http://127.0.0.1:2/");
	g_assert_cmpstr(c.fcm_base_url, ==, "http://127.0.0.1:2");
	set_ok(&c, "push.apns", "base_url", "https://127.0.0.1:3");
	set_ok(&c, "push", "push_retries", "0");
	g_assert_cmpint(c.push_retries, ==, 0);
	set_ok(&c, "push", "max_in_flight", "1000");
	g_assert_cmpint(c.push_max_in_flight, ==, 1000);
	set_bad(&c, "push", "webhook_url", "ftp://x", "http:// or https://");
	set_bad(&c, "push", "timeout_ms", "50", "push.timeout_ms");
	set_bad(&c, "push", "push_retries", "21", "push.push_retries");
	set_bad(&c, "push", "max_in_flight", "0", "push.max_in_flight");
	set_bad(&c, "push.fcm", "key", "x", "unknown setting push.fcm.key");
	set_bad(&c, "push.apns", "topic", "x", "unknown setting push.apns.topic");
	/* every webhook is signed */
	g_assert_cmpint(calls_config_check(&c, &why), ==, -1);
	g_assert_nonnull(strstr(why, "push.webhook_secret"));
	g_free(why);
	why = NULL;
	set_ok(&c, "push", "webhook_secret", "s");
	g_assert_cmpint(calls_config_check(&c, &why), ==, 0);
	/* APNs token auth needs the key's id, the team and the app */
	set_ok(&c, "push.apns", "key_file", "AuthKey.p8");
	set_ok(&c, "push.apns", "key_id", "KEY");
	g_assert_cmpint(calls_config_check(&c, &why), ==, -1);
	g_assert_nonnull(strstr(why, "push.apns"));
	g_free(why);
	why = NULL;
	set_ok(&c, "push.apns", "team_id", "TEAM");
	set_ok(&c, "push.apns", "bundle_id", "org.example");
	g_assert_cmpint(calls_config_check(&c, &why), ==, 0);
	/* an emptied base URL is an error, not a silent default */
	set_ok(&c, "push.fcm", "base_url", "");
	g_assert_cmpint(calls_config_check(&c, &why), ==, -1);
	g_assert_nonnull(strstr(why, "push.fcm.base_url"));
	g_free(why);
	calls_config_clear(&c);
}

static void test_check(void) {
	calls_config c;
	char *why = NULL;
	calls_config_defaults(&c);
	g_assert_cmpint(calls_config_check(&c, &why), ==, -1);
	g_assert_nonnull(strstr(why, "jwt_secret"));
	g_free(why);
	why = NULL;
	set_ok(&c, "general", "jwt_secret", "k");
	g_assert_cmpint(calls_config_check(&c, &why), ==, 0);
	set_ok(&c, "turn", "turn_uris", "turn:x:3478");
	g_assert_cmpint(calls_config_check(&c, &why), ==, -1);
	g_assert_nonnull(strstr(why, "turn_secret"));
	g_free(why);
	why = NULL;
	set_ok(&c, "turn", "turn_secret", "t");
	g_assert_cmpint(calls_config_check(&c, &why), ==, 0);
	calls_config_clear(&c);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/defaults", test_defaults);
	g_test_add_func("/config/values", test_values);
	g_test_add_func("/config/check", test_check);
	g_test_add_func("/config/push", test_push);
	return g_test_run();
}

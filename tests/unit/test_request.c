/*
 * test_request.c - request shape validation (the 400s and the JSEP 409s).
 */
#include <string.h>

#include "calls_record.h"
#include "calls_request.h"

static int parse(const char *text, gboolean auth_none, size_t max, calls_error *err) {
	json_error_t jerr;
	json_t *body = json_loads(text, JSON_DECODE_ANY, &jerr);
	g_assert_nonnull(body);
	const calls_request_spec *spec = NULL;
	memset(err, 0, sizeof(*err));
	int rc = calls_request_parse(body, NULL, auth_none, max, &spec, err);
	if(rc == 0)
		g_assert_nonnull(spec);
	json_decref(body);
	return rc;
}

static void ok(const char *text, gboolean auth_none) {
	calls_error err;
	int rc = parse(text, auth_none, 65536, &err);
	if(rc != 0)
		g_error("%s: %d %s", text, rc, err.text);
}

static void bad(const char *text, gboolean auth_none, const char *why_part) {
	calls_error err;
	g_assert_cmpint(parse(text, auth_none, 65536, &err), ==, 400);
	g_assert_cmpint(err.code, ==, 400);
	if(strstr(err.text, why_part) == NULL)
		g_error("%s: error '%s' does not mention '%s'", text, err.text, why_part);
}

#define CID "\"0f8fad5b-d9cb-469f-a165-70867728950e\""

static void test_valid_requests(void) {
	ok("{\"request\":\"register\",\"token\":\"x.y.z\"}", FALSE);
	ok("{\"request\":\"register\",\"token\":\"\"}", FALSE);   /* 401 later, not 400 */
	ok("{\"request\":\"register\",\"token\":\"x.y.z\",\"device\":\"phone-1\",\"extra\":[1,2]}", FALSE);
	ok("{\"request\":\"register\",\"user\":\"a.b@c+d-e_f\",\"display\":\"Ann\"}", TRUE);
	ok("{\"request\":\"unregister\"}", TRUE);
	ok("{\"request\":\"call\",\"to\":\"bob\"}", TRUE);
	ok("{\"request\":\"call\",\"to\":\"bob\",\"video\":true}", TRUE);
	ok("{\"request\":\"accept\",\"call_id\":" CID "}", TRUE);
	ok("{\"request\":\"decline\",\"call_id\":" CID ",\"reason\":\"busy\"}", TRUE);
	ok("{\"request\":\"hangup\",\"call_id\":" CID "}", TRUE);
	ok("{\"request\":\"update\",\"call_id\":" CID "}", TRUE);
	ok("{\"request\":\"media\",\"call_id\":" CID ",\"audio\":false,\"video\":true}", TRUE);
	ok("{\"request\":\"call_info\",\"call_id\":" CID "}", TRUE);
	ok("{\"request\":\"presence_subscribe\",\"users\":[\"bob\",\"a.b@c\"]}", TRUE);
	ok("{\"request\":\"presence_unsubscribe\",\"users\":[\"bob\"]}", TRUE);
	ok("{\"request\":\"privacy\",\"last_seen\":\"contacts\"}", TRUE);
	ok("{\"request\":\"contacts_add\",\"users\":[\"bob\",\"bob\"]}", TRUE);
	ok("{\"request\":\"contacts_remove\",\"users\":[\"bob\"]}", TRUE);
	ok("{\"request\":\"contacts\"}", TRUE);
	ok("{\"request\":\"push_register\",\"platform\":\"apns\",\"token\":\"ab12\",\"voip\":true}", TRUE);
	ok("{\"request\":\"push_register\",\"platform\":\"webhook\",\"token\":\"app:1/x\"}", TRUE);
	ok("{\"request\":\"push_unregister\"}", TRUE);
}

static void test_push_fields(void) {
	bad("{\"request\":\"push_register\",\"platform\":\"gcm\",\"token\":\"t\"}", TRUE, "webhook");
	bad("{\"request\":\"push_register\",\"platform\":\"fcm\",\"token\":\"\"}", TRUE, "1 to");
	bad("{\"request\":\"push_register\",\"platform\":\"fcm\",\"token\":\"a b\"}", TRUE, "space");
	bad("{\"request\":\"push_register\",\"platform\":\"fcm\"}", TRUE, "missing token");
	bad("{\"request\":\"push_register\",\"token\":\"t\"}", TRUE, "missing platform");
	bad("{\"request\":\"push_register\",\"platform\":\"apns\",\"token\":\"t\",\"voip\":\"yes\"}", TRUE, "wrong type");
	GString *big = g_string_new("{\"request\":\"push_register\",\"platform\":\"fcm\",\"token\":\"");
	for(int i = 0; i <= CALLS_MAX_PUSH_TOKEN; i++)
		g_string_append_c(big, 'x');
	g_string_append(big, "\"}");
	bad(big->str, TRUE, "1 to");
	g_string_free(big, TRUE);
}

/* Lists of user ids: 1 to CALLS_MAX_LIST valid ids; more is 413. */
static void test_user_lists(void) {
	const char *names[] = {"presence_subscribe", "presence_unsubscribe", "contacts_add", "contacts_remove"};
	for(guint i = 0; i < G_N_ELEMENTS(names); i++) {
		char *text = g_strdup_printf("{\"request\":\"%s\",\"users\":[]}", names[i]);
		bad(text, TRUE, "empty");
		g_free(text);
		text = g_strdup_printf("{\"request\":\"%s\",\"users\":[\"ok\",\"not ok\"]}", names[i]);
		bad(text, TRUE, "users[1]");
		g_free(text);
		text = g_strdup_printf("{\"request\":\"%s\",\"users\":\"bob\"}", names[i]);
		bad(text, TRUE, "wrong type");
		g_free(text);
		text = g_strdup_printf("{\"request\":\"%s\"}", names[i]);
		bad(text, TRUE, "missing users");
		g_free(text);
		GString *many = g_string_new(NULL);
		g_string_printf(many, "{\"request\":\"%s\",\"users\":[", names[i]);
		for(int n = 0; n <= CALLS_MAX_LIST; n++)
			g_string_append_printf(many, "%s\"u%d\"", n ? "," : "", n);
		g_string_append(many, "]}");
		calls_error err;
		g_assert_cmpint(parse(many->str, TRUE, 65536, &err), ==, 413);
		g_string_free(many, TRUE);
	}
	bad("{\"request\":\"privacy\",\"last_seen\":\"friends\"}", TRUE, "everyone");
	bad("{\"request\":\"privacy\",\"last_seen\":true}", TRUE, "wrong type");
	bad("{\"request\":\"privacy\"}", TRUE, "missing last_seen");
}

static void test_invalid_requests(void) {
	bad("[]", TRUE, "object");
	bad("\"register\"", TRUE, "object");
	bad("{}", TRUE, "missing request");
	bad("{\"request\":5}", TRUE, "string");
	bad("{\"request\":\"dance\"}", TRUE, "unknown request");
	bad("{\"request\":\"register\"}", FALSE, "token");
	bad("{\"request\":\"register\",\"token\":7}", FALSE, "token");
	bad("{\"request\":\"register\",\"user\":\"bob\"}", FALSE, "token");
	bad("{\"request\":\"register\",\"token\":\"x\",\"device\":\"a b\"}", FALSE, "device");
	bad("{\"request\":\"register\"}", TRUE, "user");
	bad("{\"request\":\"register\",\"user\":\"\"}", TRUE, "user");
	bad("{\"request\":\"register\",\"user\":\"bob smith\"}", TRUE, "user");
	bad("{\"request\":\"register\",\"user\":\"b\\u00f6b\"}", TRUE, "user");
	bad("{\"request\":\"register\",\"user\":\"bob\",\"device\":\"d.1\"}", TRUE, "device");
	bad("{\"request\":\"register\",\"user\":\"bob\",\"display\":5}", TRUE, "display");
	bad("{\"request\":\"call\"}", TRUE, "to");
	bad("{\"request\":\"call\",\"to\":\"bob\",\"video\":\"yes\"}", TRUE, "video");
	bad("{\"request\":\"call\",\"to\":[\"bob\"]}", TRUE, "to");
	bad("{\"request\":\"accept\"}", TRUE, "call_id");
	bad("{\"request\":\"accept\",\"call_id\":\"0F8FAD5B-D9CB-469F-A165-70867728950E\"}", TRUE, "call_id");
	bad("{\"request\":\"accept\",\"call_id\":\"not-a-uuid\"}", TRUE, "call_id");
	bad("{\"request\":\"decline\",\"call_id\":" CID ",\"reason\":\"tired\"}", TRUE, "reason");
	bad("{\"request\":\"media\",\"call_id\":" CID ",\"audio\":false}", TRUE, "video");
	bad("{\"request\":\"media\",\"call_id\":" CID ",\"audio\":0,\"video\":true}", TRUE, "audio");
}

static void test_ids(void) {
	char *u64 = g_strnfill(64, 'u'), *u65 = g_strnfill(65, 'u');
	g_assert_true(calls_valid_user_id(u64));
	g_assert_false(calls_valid_user_id(u65));
	g_assert_true(calls_valid_device_id(u64));
	g_assert_false(calls_valid_device_id(u65));
	g_assert_true(calls_valid_user_id("+49.170@x_y-z"));
	g_assert_false(calls_valid_device_id("a@b"));
	g_assert_false(calls_valid_user_id(""));
	g_assert_false(calls_valid_user_id(NULL));
	g_assert_false(calls_valid_user_id("a/b"));
	g_assert_true(calls_valid_call_id("0f8fad5b-d9cb-469f-a165-70867728950e"));
	g_assert_false(calls_valid_call_id("0f8fad5b-d9cb-469f-a165-70867728950"));
	g_assert_false(calls_valid_call_id("0f8fad5bxd9cb-469f-a165-70867728950e"));
	g_assert_false(calls_valid_call_id("0g8fad5b-d9cb-469f-a165-70867728950e"));
	g_free(u64);
	g_free(u65);
}

static void test_size_limit(void) {
	calls_error err;
	GString *s = g_string_new("{\"request\":\"call\",\"to\":\"bob\",\"pad\":\"");
	for(int i = 0; i < 2000; i++)
		g_string_append_c(s, 'x');
	g_string_append(s, "\"}");
	g_assert_cmpint(parse(s->str, TRUE, 1024, &err), ==, 400);
	g_assert_nonnull(strstr(err.text, "larger"));
	g_assert_cmpint(parse(s->str, TRUE, 4096, &err), ==, 0);
	/* the SDP counts too */
	json_t *body = json_pack("{ssss}", "request", "call", "to", "bob");
	char *sdp = g_strnfill(3000, 'v');
	json_t *jsep = json_pack("{ssss}", "type", "offer", "sdp", sdp);
	const calls_request_spec *spec = NULL;
	g_assert_cmpint(calls_request_parse(body, jsep, TRUE, 2048, &spec, &err), ==, 400);
	g_assert_cmpint(calls_request_parse(body, jsep, TRUE, 8192, &spec, &err), ==, 0);
	json_decref(body);
	json_decref(jsep);
	g_free(sdp);
	g_string_free(s, TRUE);
}

static void test_jsep_rules(void) {
	calls_error err;
	json_t *offer = json_pack("{ssss}", "type", "offer", "sdp", "v=0");
	json_t *answer = json_pack("{ssss}", "type", "answer", "sdp", "v=0");
	const char *names[] = {"call", "accept", "update", "hangup"};
	const calls_request_spec *specs[4];
	for(int i = 0; i < 4; i++) {
		json_t *body = json_pack("{ssssss}", "request", names[i], "to", "bob", "call_id", "0f8fad5b-d9cb-469f-a165-70867728950e");
		g_assert_cmpint(calls_request_parse(body, NULL, TRUE, 0, &specs[i], &err), ==, 0);
		json_decref(body);
	}
	/* call needs an offer */
	g_assert_cmpint(calls_request_check_jsep(specs[0], NULL, &err), ==, 409);
	g_assert_cmpint(calls_request_check_jsep(specs[0], answer, &err), ==, 409);
	g_assert_cmpint(calls_request_check_jsep(specs[0], offer, &err), ==, 0);
	/* accept needs an answer */
	g_assert_cmpint(calls_request_check_jsep(specs[1], NULL, &err), ==, 409);
	g_assert_cmpint(calls_request_check_jsep(specs[1], offer, &err), ==, 409);
	g_assert_cmpint(calls_request_check_jsep(specs[1], answer, &err), ==, 0);
	/* update takes either */
	g_assert_cmpint(calls_request_check_jsep(specs[2], NULL, &err), ==, 409);
	g_assert_cmpint(calls_request_check_jsep(specs[2], offer, &err), ==, 0);
	g_assert_cmpint(calls_request_check_jsep(specs[2], answer, &err), ==, 0);
	/* hangup takes none */
	g_assert_cmpint(calls_request_check_jsep(specs[3], offer, &err), ==, 409);
	g_assert_cmpint(calls_request_check_jsep(specs[3], NULL, &err), ==, 0);
	json_decref(offer);
	json_decref(answer);
}

static void test_error_names(void) {
	g_assert_cmpstr(calls_error_name(400), ==, "invalid_request");
	g_assert_cmpstr(calls_error_name(401), ==, "unauthorized");
	g_assert_cmpstr(calls_error_name(403), ==, "forbidden");
	g_assert_cmpstr(calls_error_name(404), ==, "not_found");
	g_assert_cmpstr(calls_error_name(409), ==, "invalid_state");
	g_assert_cmpstr(calls_error_name(413), ==, "too_large");
	g_assert_cmpstr(calls_error_name(429), ==, "rate_limited");
	g_assert_cmpstr(calls_error_name(503), ==, "unavailable");
	g_assert_cmpstr(calls_error_name(999), ==, "internal");
}

static void test_cursor(void) {
	gint64 us = 0;
	char id[37];
	char *c = calls_cursor_make(G_GINT64_CONSTANT(1795278237936262), "50861c63-ba49-46b4-a587-c541d9a78bbe");
	g_assert_cmpstr(c, ==, "1795278237936262_50861c63-ba49-46b4-a587-c541d9a78bbe");
	g_assert_true(calls_cursor_parse(c, &us, id));
	g_assert_cmpint(us, ==, G_GINT64_CONSTANT(1795278237936262));
	g_assert_cmpstr(id, ==, "50861c63-ba49-46b4-a587-c541d9a78bbe");
	g_free(c);
	const char *bad[] = {"", "_", "12", "12_", "_50861c63-ba49-46b4-a587-c541d9a78bbe",
		"-1_50861c63-ba49-46b4-a587-c541d9a78bbe", "1x_50861c63-ba49-46b4-a587-c541d9a78bbe",
		"999999999999999999_50861c63-ba49-46b4-a587-c541d9a78bbe",
		"1_50861C63-BA49-46B4-A587-C541D9A78BBE", "1_50861c63-ba49-46b4-a587-c541d9a78bbe_",
		"1234567890123456789_50861c63-ba49-46b4-a587-c541d9a78bbe"};
	for(guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		if(calls_cursor_parse(bad[i], &us, id))
			g_error("cursor \"%s\" was taken", bad[i]);
	}
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/request/valid", test_valid_requests);
	g_test_add_func("/request/cursor", test_cursor);
	g_test_add_func("/request/invalid", test_invalid_requests);
	g_test_add_func("/request/ids", test_ids);
	g_test_add_func("/request/user-lists", test_user_lists);
	g_test_add_func("/request/push-fields", test_push_fields);
	g_test_add_func("/request/size-limit", test_size_limit);
	g_test_add_func("/request/jsep-rules", test_jsep_rules);
	g_test_add_func("/request/error-names", test_error_names);
	return g_test_run();
}

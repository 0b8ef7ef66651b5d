/*
 * call_harness.c - see call_harness.h.
 */
#include <string.h>

#include "calls_call.h"
#include "calls_dispatch.h"
#include "calls_identity.h"
#include "calls_out.h"
#include "calls_contacts.h"
#include "calls_presence.h"
#include "calls_push.h"
#include "call_harness.h"

calls_config cfg;
gint64 mono = 1000000000, real = G_GINT64_CONSTANT(1700000000000000);
gint64 fake_mono(void) { return mono; }
gint64 fake_real(void) { return real; }
GPtrArray *devices;

/* What the handler thread does after each flush: refused offers go back. */
void pump(void) {
	calls_out_flush();
	calls_device *d;
	char *call_id;
	while(calls_out_take_failed_offer(&d, &call_id)) {
		calls_call_offer_failed(d, call_id);
		calls_device_unref(d);
		g_free(call_id);
	}
}

void advance_ms(int ms) {
	mono += (gint64)ms * G_TIME_SPAN_MILLISECOND;
	real += (gint64)ms * G_TIME_SPAN_MILLISECOND;
	calls_call_tick();
	pump();
}

void advance(int seconds) {
	advance_ms(seconds * 1000);
}

void setup(gconstpointer data) {
	(void)data;
	calls_config_defaults(&cfg);
	cfg.auth_none = TRUE;
	cfg.ring_timeout = 30;
	cfg.ice_grace = 5;
	rec_install(TRUE);
	rec_reset();
	calls_registry_init();
	calls_call_init(&cfg, fake_mono, fake_real);
	calls_presence_init(&cfg, fake_mono, fake_real);
	calls_contacts_init(&cfg);
	calls_identity_init(&cfg);
	calls_dispatch_init(&cfg);
	calls_push_init(&cfg, fake_real);
	devices = g_ptr_array_new_with_free_func((GDestroyNotify)calls_device_unref);
}

void teardown(void) {
	calls_out_flush();
	rec_reset();
	calls_call_clear();
	calls_presence_clear();
	calls_registry_clear();
	g_ptr_array_free(devices, TRUE);
	calls_config_clear(&cfg);
}

json_t *sdp(const char *type, gboolean video) {
	return json_pack("{ssss}", "type", type, "sdp",
		video ? "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
		      : "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
}

/* Sends a request; returns the error code (0 on success). */
int req(calls_device *d, json_t *body, json_t *jsep) {
	calls_error err = {0};
	int rc = calls_dispatch(d, "tx", body, jsep, FALSE, &err);
	if(rc != 0) {
		g_assert_cmpint(rc, ==, err.code);
		g_assert_cmpstr(err.text, !=, "");
	}
	json_decref(body);
	if(jsep)
		json_decref(jsep);
	pump();
	return rc;
}

calls_device *dev_new(void) {
	calls_device *d = calls_device_new(NULL);
	g_ptr_array_add(devices, d);
	return d;
}

calls_device *reg(const char *user, const char *device) {
	calls_device *d = dev_new();
	json_t *b = json_pack("{ssss}", "request", "register", "user", user);
	if(device)
		json_object_set_new(b, "device", json_string(device));
	g_assert_cmpint(req(d, b, NULL), ==, 0);
	rec_entry *e = rec_take(d, "registered");
	g_assert_nonnull(e);
	g_assert_cmpstr(e->transaction, ==, "tx");
	return d;
}

rec_entry *expect_at(int line, calls_device *d, const char *what) {
	rec_entry *e = rec_take(d, what);
	if(e == NULL) {
		char *dump = rec_dump();
		g_error("line %d: expected '%s' for %p; sent:\n%s", line, what, (void *)d, dump);
	}
	return e;
}

void expect_ended(calls_device *d, const char *reason) {
	rec_entry *e = expect(d, "ended");
	const char *got = json_string_value(json_object_get(e->body, "reason"));
	if(strcmp(got, reason) != 0)
		g_error("expected ended %s, got %s", reason, got);
}

void expect_nothing(calls_device *d) {
	if(rec_pending(d) != 0) {
		char *dump = rec_dump();
		g_error("expected nothing more for %p; sent:\n%s", (void *)d, dump);
	}
}

guint count_kind(const char *kind, calls_device *d) {
	guint n = 0;
	for(guint i = 0; i < rec_count(); i++) {
		rec_entry *e = rec_get(i);
		if(!strcmp(e->kind, kind) && e->device == d)
			n++;
	}
	return n;
}


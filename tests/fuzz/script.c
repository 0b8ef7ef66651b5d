/*
 * script.c - runs a request script through the plugin's dispatcher and call
 * state machine, for the fuzz targets (see script.h for the format).
 */
#include <stdio.h>
#include <string.h>

#include "calls_call.h"
#include "calls_dispatch.h"
#include "calls_identity.h"
#include "calls_contacts.h"
#include "calls_presence.h"
#include "calls_out.h"
#include "recorder.h"
#include "script.h"

static gint64 clock_us;
static gint64 fake_clock(void) { return clock_us; }

/* The newest value of key in anything sent so far (g_free), or NULL. */
static char *newest(const char *key) {
	char *id = NULL;
	for(guint i = rec_count(); i > 0 && id == NULL; i--) {
		rec_entry *e = rec_get(i - 1);
		const char *c = e->body ? json_string_value(json_object_get(e->body, key)) : NULL;
		if(c != NULL)
			id = g_strdup(c);
	}
	return id;
}

/* line with every "$<name>" replaced by the newest key (g_free). */
static char *expand(const char *line, const char *name, const char *key) {
	char *value = strstr(line, name) ? newest(key) : NULL;
	if(value == NULL)
		return g_strdup(line);
	char **parts = g_strsplit(line, name, -1);
	char *out = g_strjoinv(value, parts);
	g_strfreev(parts);
	g_free(value);
	return out;
}

void fuzz_script_run(const char *data, size_t size, const char *sdp) {
	static calls_config cfg;
	calls_config_defaults(&cfg);
	cfg.auth_none = TRUE;
	cfg.ring_timeout = 5;
	cfg.ice_grace = 2;
	cfg.max_message_bytes = 4096;
	cfg.max_subscriptions = 3;
	cfg.presence_window_ms = 500;
	clock_us = 1000000;
	rec_install(TRUE);
	rec_reset();
	calls_registry_init();
	calls_call_init(&cfg, fake_clock, fake_clock);
	calls_presence_init(&cfg, fake_clock, fake_clock);
	calls_contacts_init(&cfg);
	calls_identity_init(&cfg);
	calls_dispatch_init(&cfg);
	calls_device *devs[4];
	for(int i = 0; i < 4; i++)
		devs[i] = calls_device_new(NULL);

	char *text = g_strndup(data, size);
	char **lines = g_strsplit(text, "\n", 64);
	for(char **l = lines; *l != NULL; l++) {
		char *line = *l;
		/* "<device>[u|d] <body>": u and d bring its PeerConnection up or down. */
		if(line[0] < '0' || line[0] > '3')
			continue;
		char media = (line[1] == 'u' || line[1] == 'd') ? line[1] : ' ';
		const char *rest = line + 1 + (media != ' ');
		if(*rest != ' ')
			continue;
		calls_device *d = devs[line[0] - '0'];
		char *with_call = expand(rest + 1, "$CALL", "call_id");
		char *with_link = expand(with_call, "$LINK", "link");
		char *expanded = expand(with_link, "$FEED", "feed");
		g_free(with_call);
		g_free(with_link);
		char *bar = strstr(expanded, " | ");
		json_t *jsep = NULL;
		if(bar != NULL) {
			*bar = '\0';
			jsep = json_loads(bar + 3, 0, NULL);
			const char *s = json_string_value(json_object_get(jsep, "sdp"));
			if(sdp != NULL && s != NULL && !strcmp(s, "$SDP"))
				json_object_set_new(jsep, "sdp", json_string(sdp));
		}
		json_t *body = json_loads(expanded, JSON_DECODE_ANY, NULL);
		if(body != NULL) {
			calls_error err = {0};
			if(calls_dispatch(d, "t", body, jsep, FALSE, &err) != 0)
				calls_out_reply(d, "t", calls_dispatch_error_body(body, &err), NULL);
			json_decref(body);
		}
		if(jsep != NULL)
			json_decref(jsep);
		/* Media coming and going, and time passing, are events too. */
		if(media == 'u')
			calls_call_media_up(d);
		else if(media == 'd')
			calls_call_media_down(d);
		clock_us += 700000;
		calls_call_tick();
		calls_presence_tick();
		calls_out_flush();
		g_free(expanded);
	}
	g_strfreev(lines);
	g_free(text);
	/* FUZZ_SCRIPT_TRACE=1: what the plugin sent, to see how far an input got. */
	if(g_getenv("FUZZ_SCRIPT_TRACE") != NULL) {
		char *dump = rec_dump();
		fprintf(stderr, "%s\n", dump);
		g_free(dump);
	}
	for(int i = 0; i < 4; i++) {
		calls_identity_drop(devs[i], "gone", FALSE, "failed");
		calls_out_flush();
	}
	calls_call_clear();
	calls_presence_clear();
	calls_registry_clear();
	for(int i = 0; i < 4; i++)
		calls_device_unref(devs[i]);
	rec_reset();
	calls_config_clear(&cfg);
}

/*
 * fuzz_sdp.c - libFuzzer target for the SDP a client sends, on every path
 * of the plugin that takes one: a direct call's offer and answer (passed on
 * as they are, looked at for video), a group call's offers (parsed and
 * answered with Janus's sdp-utils: calls_sfu.c), a publisher's renegotiation
 * and a subscriber's answer.
 *
 * The input is the SDP itself. Unlike the other targets, this one runs on
 * Janus's own SDP code, not on stubs: it is linked against a copy of the
 * installed janus binary made loadable as a library (unpie.py), so the
 * parser and offer/answer generator under test are the ones the plugin
 * calls in production. Janus's JSON layer only passes valid UTF-8 without
 * NUL characters, so other inputs are not tried.
 */
#include <dlfcn.h>
#include <string.h>

#include <glib.h>

#include "script.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* What a client does with one SDP, on four devices: a direct call offered and
 * answered with it, then a group call published, joined, renegotiated and
 * subscribed to. */
static const char script[] =
	"0 {\"request\":\"register\",\"user\":\"ann\"}\n"
	"1 {\"request\":\"register\",\"user\":\"bob\"}\n"
	"2 {\"request\":\"register\",\"user\":\"cy\"}\n"
	"2 {\"request\":\"call\",\"to\":\"ann\",\"video\":true} | {\"type\":\"offer\",\"sdp\":\"$SDP\"}\n"
	"0u {\"request\":\"accept\",\"call_id\":\"$CALL\"} | {\"type\":\"answer\",\"sdp\":\"$SDP\"}\n"
	"2u {\"request\":\"update\",\"call_id\":\"$CALL\"} | {\"type\":\"offer\",\"sdp\":\"$SDP\"}\n"
	"0 {\"request\":\"hangup\",\"call_id\":\"$CALL\"}\n"
	"0 {\"request\":\"group_call\",\"members\":[\"bob\",\"cy\"],\"video\":true} | {\"type\":\"offer\",\"sdp\":\"$SDP\"}\n"
	"0u {\"request\":\"update\",\"call_id\":\"$CALL\"} | {\"type\":\"offer\",\"sdp\":\"$SDP\"}\n"
	"1u {\"request\":\"join\",\"call_id\":\"$CALL\"} | {\"type\":\"offer\",\"sdp\":\"$SDP\"}\n"
	"3 {\"request\":\"subscribe\",\"call_id\":\"$CALL\",\"feed\":\"$FEED\"}\n"
	"3u {\"request\":\"update\",\"call_id\":\"$CALL\"} | {\"type\":\"answer\",\"sdp\":\"$SDP\"}\n"
	"2u {\"request\":\"join\",\"call_id\":\"$CALL\"} | {\"type\":\"offer\",\"sdp\":\"$SDP\"}\n"
	"3 {\"request\":\"update\",\"call_id\":\"$CALL\"} | {\"type\":\"answer\",\"sdp\":\"$SDP\"}\n"
	"1 {\"request\":\"leave\",\"call_id\":\"$CALL\"}\n"
	"0 {\"request\":\"leave\",\"call_id\":\"$CALL\"}\n";

/* The janus binary logs through a thread that only its main() starts:
 * without it, every message would be queued forever. */
static void quiet_janus(void) {
	static gboolean done = FALSE;
	if(done)
		return;
	done = TRUE;
	void *core = dlopen(JANUS_CORE_NAME, RTLD_NOW | RTLD_NOLOAD);
	int *level = core ? dlsym(core, "janus_log_level") : NULL;
	if(level == NULL)
		g_error("fuzz_sdp: %s is not loaded: %s", JANUS_CORE_NAME, dlerror());
	*level = 0;
	dlclose(core);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
	quiet_janus();
	if(memchr(data, '\0', size) != NULL || !g_utf8_validate((const char *)data, (gssize)size, NULL))
		return 0;
	char *sdp = g_strndup((const char *)data, size);
	fuzz_script_run(script, sizeof(script) - 1, sdp);
	g_free(sdp);
	return 0;
}

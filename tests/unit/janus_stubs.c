/*
 * janus_stubs.c - the few Janus core symbols the plugin's logic uses, for
 * linking it into unit tests without the janus binary.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include <config.h>
#include <debug.h>
#include <mutex.h>
#include <refcount.h>
#include <glib.h>
#include <rtcp.h>
#include <utils.h>

int janus_log_level = 0;
gboolean janus_log_timestamps = FALSE;
gboolean janus_log_colors = FALSE;
char *janus_log_global_prefix = NULL;
int lock_debug = 0;
int refcount_debug = 0;

void janus_vprintf(const char *format, ...) {
	if(g_getenv("CALLS_TEST_LOG") == NULL)
		return;
	va_list ap;
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
}

char *janus_random_uuid(void) {
	return g_uuid_string_random();
}

/* Same contract as the core's: the type matches, POSITIVE numbers are >= 0,
 * NONEMPTY strings are not "". */
gboolean janus_json_is_valid(json_t *val, json_type jtype, unsigned int flags) {
	gboolean ok = (jtype == JSON_TRUE) ? json_is_boolean(val) : (json_typeof(val) == jtype);
	if(!ok)
		return FALSE;
	if((flags & JANUS_JSON_PARAM_POSITIVE) && json_is_integer(val) && json_integer_value(val) < 0)
		return FALSE;
	if((flags & JANUS_JSON_PARAM_POSITIVE) && json_is_real(val) && json_real_value(val) < 0)
		return FALSE;
	if((flags & JANUS_JSON_PARAM_NONEMPTY) && json_is_string(val) && json_string_value(val)[0] == '\0')
		return FALSE;
	return TRUE;
}

/* The relay's RTCP helpers are not exercised by the unit tests. */
uint32_t janus_rtcp_get_remb(char *packet, int len) { (void)packet; (void)len; return 0; }
int janus_rtcp_cap_remb(char *packet, int len, uint32_t bitrate) { (void)packet; (void)len; (void)bitrate; return 0; }

janus_config *janus_config_parse(const char *config_file) { (void)config_file; return NULL; }
void janus_config_destroy(janus_config *config) { (void)config; }

/* The group call media (calls_sfu.c) uses Janus's SDP and RTP helpers. The
 * unit tests never get that far: an offer that cannot be parsed makes
 * group_call and join fail with 400. */
#include <rtp.h>
#include <sdp-utils.h>
#include <plugins/plugin.h>
janus_sdp *janus_sdp_parse(const char *sdp, char *error, size_t errlen) {
	(void)sdp;
	g_strlcpy(error, "no SDP parser in the unit tests", errlen);
	return NULL;
}
janus_sdp *janus_sdp_generate_answer(janus_sdp *offer) { (void)offer; return NULL; }
int janus_sdp_generate_answer_mline(janus_sdp *offer, janus_sdp *answer, janus_sdp_mline *offered, ...) {
	(void)offer; (void)answer; (void)offered; return -1;
}
janus_sdp *janus_sdp_generate_offer(const char *name, const char *address, ...) { (void)name; (void)address; return NULL; }
int janus_sdp_generate_offer_mline(janus_sdp *offer, ...) { (void)offer; return -1; }
char *janus_sdp_write(janus_sdp *sdp) { (void)sdp; return NULL; }
void janus_sdp_destroy(janus_sdp *sdp) { (void)sdp; }
int janus_sdp_get_codec_pt(janus_sdp *sdp, int index, const char *codec) { (void)sdp; (void)index; (void)codec; return -1; }
int janus_rtp_extension_id(const char *type) { (void)type; return 0; }
void janus_rtp_switching_context_reset(janus_rtp_switching_context *context) { memset(context, 0, sizeof(*context)); }
void janus_rtp_simulcasting_context_reset(janus_rtp_simulcasting_context *context) { memset(context, 0, sizeof(*context)); }
void janus_vp8_simulcast_context_reset(janus_vp8_simulcast_context *context) { memset(context, 0, sizeof(*context)); }
void janus_rtp_simulcasting_prepare(json_t *simulcast, int *rid_ext_id, uint32_t *ssrcs, char **rids) {
	(void)simulcast; (void)rid_ext_id; (void)ssrcs; (void)rids;
}
void janus_rtp_simulcasting_cleanup(int *rid_ext_id, uint32_t *ssrcs, char **rids, janus_mutex *rid_mutex) {
	(void)rid_ext_id; (void)ssrcs; (void)rids; (void)rid_mutex;
}
gboolean janus_rtp_simulcasting_context_process_rtp(janus_rtp_simulcasting_context *context,
		char *buf, int len, uint32_t *ssrcs, char **rids, janus_videocodec vcodec,
		janus_rtp_switching_context *sc, janus_mutex *rid_mutex) {
	(void)context; (void)buf; (void)len; (void)ssrcs; (void)rids; (void)vcodec; (void)sc; (void)rid_mutex;
	return FALSE;
}
void janus_rtp_header_update(janus_rtp_header *header, janus_rtp_switching_context *context, gboolean video, int step) {
	(void)header; (void)context; (void)video; (void)step;
}
void janus_vp8_simulcast_descriptor_update(char *buffer, int len, janus_vp8_simulcast_context *context, gboolean switched) {
	(void)buffer; (void)len; (void)context; (void)switched;
}
char *janus_rtp_payload(char *buf, int len, int *plen) { (void)buf; (void)len; *plen = 0; return NULL; }
void janus_plugin_rtp_extensions_reset(janus_plugin_rtp_extensions *extensions) { (void)extensions; }
gboolean janus_rtcp_has_pli(char *packet, int len) { (void)packet; (void)len; return FALSE; }
gboolean janus_rtcp_has_fir(char *packet, int len) { (void)packet; (void)len; return FALSE; }

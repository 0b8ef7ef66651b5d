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

#include <rtp.h>
#include <sdp-utils.h>
#include <plugins/plugin.h>

#ifndef CALLS_REAL_SDP
/* The group call media (calls_sfu.c) uses Janus's SDP helpers. These do
 * just enough for the group state machine's tests: parse finds the m-lines
 * (type, direction), answers carry nothing, and offers are written as one
 * "m=<type> <direction> <mid>" line per m-line, which the tests read. */
static janus_sdp_mline *stub_mline(janus_sdp *s, janus_sdp_mtype type) {
	janus_sdp_mline *m = g_new0(janus_sdp_mline, 1);
	m->type = type;
	m->index = (int)g_list_length(s->m_lines);
	m->port = 9;
	m->direction = JANUS_SDP_SENDRECV;
	s->m_lines = g_list_append(s->m_lines, m);
	return m;
}
janus_sdp *janus_sdp_parse(const char *sdp, char *error, size_t errlen) {
	if(sdp == NULL || strncmp(sdp, "v=0", 3) != 0) {
		g_strlcpy(error, "not an SDP", errlen);
		return NULL;
	}
	janus_sdp *s = g_new0(janus_sdp, 1);
	char **lines = g_strsplit(sdp, "\r\n", -1);
	janus_sdp_mline *m = NULL;
	for(char **l = lines; *l != NULL; l++) {
		if(g_str_has_prefix(*l, "m="))
			m = stub_mline(s, g_str_has_prefix(*l, "m=audio") ? JANUS_SDP_AUDIO :
				(g_str_has_prefix(*l, "m=video") ? JANUS_SDP_VIDEO : JANUS_SDP_APPLICATION));
		else if(m != NULL && g_str_has_prefix(*l, "a="))
			m->direction = janus_sdp_parse_mdirection(*l + 2) != JANUS_SDP_INVALID ?
				janus_sdp_parse_mdirection(*l + 2) : m->direction;
	}
	g_strfreev(lines);
	return s;
}
janus_sdp_mdirection janus_sdp_parse_mdirection(const char *direction) {
	static const char *const names[] = {"sendrecv", "sendonly", "recvonly", "inactive"};
	static const janus_sdp_mdirection values[] = {JANUS_SDP_SENDRECV, JANUS_SDP_SENDONLY,
		JANUS_SDP_RECVONLY, JANUS_SDP_INACTIVE};
	for(int i = 0; i < 4; i++) {
		if(!strcmp(direction, names[i]))
			return values[i];
	}
	return JANUS_SDP_INVALID;
}
const char *janus_sdp_mdirection_str(janus_sdp_mdirection direction) {
	switch(direction) {
		case JANUS_SDP_SENDONLY: return "sendonly";
		case JANUS_SDP_RECVONLY: return "recvonly";
		case JANUS_SDP_INACTIVE: return "inactive";
		default: return "sendrecv";
	}
}
janus_sdp *janus_sdp_generate_answer(janus_sdp *offer) { (void)offer; return g_new0(janus_sdp, 1); }
int janus_sdp_generate_answer_mline(janus_sdp *offer, janus_sdp *answer, janus_sdp_mline *offered, ...) {
	(void)offer; (void)answer; (void)offered; return 0;
}
janus_sdp *janus_sdp_generate_offer(const char *name, const char *address, ...) {
	(void)name; (void)address;
	return g_new0(janus_sdp, 1);
}
/* Reads the properties calls_sfu.c passes, in any order. */
int janus_sdp_generate_offer_mline(janus_sdp *offer, ...) {
	va_list args;
	va_start(args, offer);
	janus_sdp_mline *m = NULL;
	int property;
	while((property = va_arg(args, int)) != JANUS_SDP_OA_DONE) {
		switch(property) {
			case JANUS_SDP_OA_MLINE: m = stub_mline(offer, va_arg(args, int)); break;
			case JANUS_SDP_OA_MID: m->proto = g_strdup(va_arg(args, char *)); break;
			case JANUS_SDP_OA_MSID: (void)va_arg(args, char *); (void)va_arg(args, char *); break;
			case JANUS_SDP_OA_PT: (void)va_arg(args, int); break;
			case JANUS_SDP_OA_CODEC: (void)va_arg(args, char *); break;
			case JANUS_SDP_OA_DIRECTION: m->direction = va_arg(args, int); break;
			case JANUS_SDP_OA_EXTENSION: (void)va_arg(args, char *); (void)va_arg(args, int); break;
			default: g_error("janus_sdp_generate_offer_mline stub: property %d", property);
		}
	}
	va_end(args);
	return 0;
}
char *janus_sdp_write(janus_sdp *sdp) {
	GString *out = g_string_new("v=0\r\n");
	for(GList *l = sdp->m_lines; l != NULL; l = l->next) {
		janus_sdp_mline *m = l->data;
		g_string_append_printf(out, "m=%s %s %s\r\n", m->type == JANUS_SDP_AUDIO ? "audio" : "video",
			janus_sdp_mdirection_str(m->direction), m->proto ? m->proto : "-");
	}
	return g_string_free(out, FALSE);
}
void janus_sdp_destroy(janus_sdp *sdp) {
	if(sdp == NULL)
		return;
	for(GList *l = sdp->m_lines; l != NULL; l = l->next) {
		janus_sdp_mline *m = l->data;
		g_free(m->proto);
		g_free(m);
	}
	g_list_free(sdp->m_lines);
	g_free(sdp);
}
int janus_sdp_get_codec_pt(janus_sdp *sdp, int index, const char *codec) { (void)sdp; (void)index; (void)codec; return 100; }
#endif /* CALLS_REAL_SDP: fuzz_sdp links the janus binary's own */
int janus_rtp_extension_id(const char *type) { (void)type; return 1; }
void janus_rtp_switching_context_reset(janus_rtp_switching_context *context) { memset(context, 0, sizeof(*context)); }
void janus_rtp_simulcasting_context_reset(janus_rtp_simulcasting_context *context) { memset(context, 0, sizeof(*context)); }
void janus_vp8_simulcast_context_reset(janus_vp8_simulcast_context *context) { memset(context, 0, sizeof(*context)); }
void janus_rtp_simulcasting_prepare(json_t *simulcast, int *rid_ext_id, uint32_t *ssrcs, char **rids) {
	(void)simulcast; (void)rid_ext_id; (void)ssrcs; (void)rids;
}
void janus_rtp_simulcasting_cleanup(int *rid_ext_id, uint32_t *ssrcs, char **rids, janus_mutex *rid_mutex) {
	(void)rid_ext_id; (void)ssrcs; (void)rids; (void)rid_mutex;
}
/* The media path is exercised by the integration tests, not here. */
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
int janus_rtp_header_extension_parse_rid(char *buf, int len, int id, char *sdes_item, int sdes_len) {
	(void)buf; (void)len; (void)id; (void)sdes_item; (void)sdes_len;
	return -1;
}

/*
 * janus_stubs.c - the few Janus core symbols the plugin's logic uses, for
 * linking it into unit tests without the janus binary.
 */
#include <stdarg.h>
#include <stdio.h>

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

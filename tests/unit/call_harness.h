/*
 * call_harness.h - what the state machine tests share: a fake clock, the
 * dispatcher driven as the handler thread would, and expectations on what
 * the recorder saw.
 */
#ifndef CALLS_TEST_CALL_HARNESS_H
#define CALLS_TEST_CALL_HARNESS_H

#include <glib.h>
#include <jansson.h>

#include "calls_config.h"
#include "calls_registry.h"
#include "recorder.h"

extern calls_config cfg;
extern gint64 mono, real;
extern GPtrArray *devices;
gint64 fake_mono(void);
gint64 fake_real(void);

void pump(void);
void advance_ms(int ms);
void advance(int seconds);
void setup(gconstpointer data);
void teardown(void);
#define TEST(name) static void name##_body(void); \
	static void name(void) { setup(NULL); name##_body(); teardown(); } \
	static void name##_body(void)

json_t *sdp(const char *type, gboolean video);
/* Sends a request; returns the error code (0 on success). */
int req(calls_device *d, json_t *body, json_t *jsep);
calls_device *dev_new(void);
calls_device *reg(const char *user, const char *device);
rec_entry *expect_at(int line, calls_device *d, const char *what);
#define expect(d, what) expect_at(__LINE__, (d), (what))
void expect_ended(calls_device *d, const char *reason);
void expect_nothing(calls_device *d);
guint count_kind(const char *kind, calls_device *d);

#endif

/*
 * test_spool.c - the outage spool: order, durability across reopen, a torn
 * last record, replay position, emptying.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "calls_spool.h"

static char *dir;

static void setup(void) {
	dir = g_dir_make_tmp("calls-spool-XXXXXX", NULL);
	g_assert_nonnull(dir);
}

static void teardown(void) {
	char *cmd = g_strdup_printf("rm -rf '%s'", dir);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(cmd);
	g_free(dir);
}

static calls_spool *open_ok(void) {
	char *why = NULL;
	calls_spool *s = calls_spool_open(dir, &why);
	if(s == NULL)
		g_error("open: %s", why);
	return s;
}

static void test_order_and_replay(void) {
	setup();
	calls_spool *s = open_ok();
	g_assert_cmpuint(calls_spool_pending(s), ==, 0);
	for(int i = 0; i < 5; i++) {
		char *line = g_strdup_printf("call\t{\"n\":%d}", i);
		g_assert_cmpint(calls_spool_append(s, line), ==, 0);
		g_free(line);
	}
	g_assert_cmpint(calls_spool_sync(s), ==, 0);
	g_assert_cmpuint(calls_spool_pending(s), ==, 5);
	off_t end = 0;
	GPtrArray *a = calls_spool_peek(s, 2, &end);
	g_assert_cmpuint(a->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(a, 0), ==, "call\t{\"n\":0}");
	g_assert_cmpstr(g_ptr_array_index(a, 1), ==, "call\t{\"n\":1}");
	/* peeking again without consuming gives the same records */
	off_t end2 = 0;
	GPtrArray *again = calls_spool_peek(s, 2, &end2);
	g_assert_cmpstr(g_ptr_array_index(again, 0), ==, "call\t{\"n\":0}");
	g_assert_cmpint(end2, ==, end);
	g_ptr_array_unref(again);
	g_assert_cmpint(calls_spool_consume(s, end, a->len), ==, 0);
	g_ptr_array_unref(a);
	g_assert_cmpuint(calls_spool_pending(s), ==, 3);
	calls_spool_close(s);
	/* The position survives a restart: replay resumes at record 2. */
	s = open_ok();
	g_assert_cmpuint(calls_spool_pending(s), ==, 3);
	a = calls_spool_peek(s, 10, &end);
	g_assert_cmpuint(a->len, ==, 3);
	g_assert_cmpstr(g_ptr_array_index(a, 0), ==, "call\t{\"n\":2}");
	/* appended while replaying: comes after */
	g_assert_cmpint(calls_spool_append(s, "seen\t{}"), ==, 0);
	g_assert_cmpint(calls_spool_consume(s, end, a->len), ==, 0);
	g_ptr_array_unref(a);
	g_assert_cmpuint(calls_spool_pending(s), ==, 1);
	a = calls_spool_peek(s, 10, &end);
	g_assert_cmpuint(a->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(a, 0), ==, "seen\t{}");
	g_assert_cmpint(calls_spool_consume(s, end, a->len), ==, 0);
	g_ptr_array_unref(a);
	/* all replayed: the file is empty again */
	g_assert_cmpuint(calls_spool_pending(s), ==, 0);
	char *path = g_build_filename(dir, "spool.jsonl", NULL);
	GStatBuf st;
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 0);
	calls_spool_close(s);
	s = open_ok();
	g_assert_cmpuint(calls_spool_pending(s), ==, 0);
	calls_spool_close(s);
	g_free(path);
	teardown();
}

static void test_torn_record(void) {
	setup();
	calls_spool *s = open_ok();
	g_assert_cmpint(calls_spool_append(s, "call\t{\"n\":1}"), ==, 0);
	calls_spool_close(s);
	/* A crash in the middle of the next write: no newline. */
	char *path = g_build_filename(dir, "spool.jsonl", NULL);
	int fd = open(path, O_WRONLY | O_APPEND);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, "call\t{\"n\":", 10), ==, 10);
	close(fd);
	s = open_ok();
	g_assert_cmpuint(calls_spool_pending(s), ==, 1);
	g_assert_cmpint(calls_spool_append(s, "call\t{\"n\":2}"), ==, 0);
	off_t end = 0;
	GPtrArray *a = calls_spool_peek(s, 10, &end);
	g_assert_cmpuint(a->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(a, 0), ==, "call\t{\"n\":1}");
	g_assert_cmpstr(g_ptr_array_index(a, 1), ==, "call\t{\"n\":2}");
	g_ptr_array_unref(a);
	calls_spool_close(s);
	g_free(path);
	teardown();
}

static void test_stale_position(void) {
	setup();
	calls_spool *s = open_ok();
	g_assert_cmpint(calls_spool_append(s, "call\t{\"n\":1}"), ==, 0);
	g_assert_cmpint(calls_spool_append(s, "call\t{\"n\":2}"), ==, 0);
	calls_spool_close(s);
	/* A position left from an earlier, emptied spool, now pointing into
	 * the middle of a record: the replay starts over instead. */
	char *pos = g_build_filename(dir, "spool.pos", NULL);
	g_assert_true(g_file_set_contents(pos, "5\n", -1, NULL));
	s = open_ok();
	g_assert_cmpuint(calls_spool_pending(s), ==, 2);
	off_t end = 0;
	GPtrArray *a = calls_spool_peek(s, 10, &end);
	g_assert_cmpuint(a->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(a, 0), ==, "call\t{\"n\":1}");
	g_ptr_array_unref(a);
	calls_spool_close(s);
	g_free(pos);
	teardown();
}

static void test_bad_dir(void) {
	char *why = NULL;
	calls_spool *s = calls_spool_open("/proc/calls-spool-cannot-be-here", &why);
	g_assert_null(s);
	g_assert_nonnull(why);
	g_assert_nonnull(strstr(why, "/proc/calls-spool-cannot-be-here"));
	g_free(why);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/spool/order-and-replay", test_order_and_replay);
	g_test_add_func("/spool/torn-record", test_torn_record);
	g_test_add_func("/spool/stale-position", test_stale_position);
	g_test_add_func("/spool/bad-dir", test_bad_dir);
	return g_test_run();
}

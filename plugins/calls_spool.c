/*
 * calls_spool.c - the outage spool (see calls_spool.h).
 *
 * Two files in the spool folder: spool.jsonl, opened O_APPEND, and spool.pos,
 * the replay position as decimal text, replaced by rename. Losing spool.pos
 * (it is not synced) only means replaying confirmed records again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "calls_spool.h"

#define CHUNK 65536

struct calls_spool {
	char *path, *pos_path, *pos_tmp;
	int fd;
	off_t size;      /* bytes in the file, all complete lines */
	off_t pos;       /* replay position */
	guint pending;
};

static int read_pos(calls_spool *s) {
	char *text = NULL;
	if(!g_file_get_contents(s->pos_path, &text, NULL, NULL))
		return 0;
	gint64 v = g_ascii_strtoll(text, NULL, 10);
	g_free(text);
	/* A position is only good right after a record: anything else is a
	 * stale file from before the spool was emptied, and replaying from the
	 * start is the safe answer (records are idempotent). */
	char before = 0;
	if(v <= 0 || v > s->size || pread(s->fd, &before, 1, (off_t)v - 1) != 1 || before != '\n')
		v = 0;
	s->pos = (off_t)v;
	return 0;
}

static int write_pos(calls_spool *s) {
	char text[32];
	g_snprintf(text, sizeof(text), "%" G_GINT64_FORMAT "\n", (gint64)s->pos);
	if(!g_file_set_contents(s->pos_tmp, text, -1, NULL))
		return -1;
	return rename(s->pos_tmp, s->pos_path);
}

/* Drops a last line without its newline (a write cut short by a crash) and
 * counts the records after the replay position. */
static int scan(calls_spool *s) {
	struct stat st;
	if(fstat(s->fd, &st) < 0)
		return -1;
	off_t size = st.st_size, last_nl = -1, at = 0;
	char *buf = g_malloc(CHUNK);
	guint lines_after_pos = 0;
	s->size = size;
	read_pos(s);
	while(at < size) {
		ssize_t n = pread(s->fd, buf, CHUNK, at);
		if(n <= 0) {
			g_free(buf);
			return -1;
		}
		for(ssize_t i = 0; i < n; i++) {
			if(buf[i] == '\n') {
				last_nl = at + i;
				if(at + i >= s->pos)
					lines_after_pos++;
			}
		}
		at += n;
	}
	g_free(buf);
	if(last_nl + 1 != size && ftruncate(s->fd, last_nl + 1) < 0)
		return -1;
	s->size = last_nl + 1;
	if(s->pos > s->size)
		s->pos = s->size;
	s->pending = lines_after_pos;
	return 0;
}

calls_spool *calls_spool_open(const char *dir, char **why) {
	if(g_mkdir_with_parents(dir, 0700) < 0) {
		*why = g_strdup_printf("cannot create %s: %s", dir, g_strerror(errno));
		return NULL;
	}
	calls_spool *s = g_new0(calls_spool, 1);
	s->path = g_build_filename(dir, "spool.jsonl", NULL);
	s->pos_path = g_build_filename(dir, "spool.pos", NULL);
	s->pos_tmp = g_build_filename(dir, "spool.pos.tmp", NULL);
	s->fd = open(s->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if(s->fd < 0 || scan(s) < 0) {
		*why = g_strdup_printf("cannot use %s: %s", s->path, g_strerror(errno));
		calls_spool_close(s);
		return NULL;
	}
	return s;
}

void calls_spool_close(calls_spool *s) {
	if(s == NULL)
		return;
	if(s->fd >= 0)
		close(s->fd);
	g_free(s->path);
	g_free(s->pos_path);
	g_free(s->pos_tmp);
	g_free(s);
}

int calls_spool_append(calls_spool *s, const char *line) {
	size_t len = strlen(line);
	/* One write per record: O_APPEND keeps it whole, and a crash cuts at
	 * most the last one, which scan() drops. */
	char *rec = g_malloc(len + 1);
	memcpy(rec, line, len);
	rec[len] = '\n';
	size_t done = 0;
	while(done < len + 1) {
		ssize_t n = write(s->fd, rec + done, len + 1 - done);
		if(n < 0 && errno == EINTR)
			continue;
		if(n <= 0) {
			int e = errno;
			g_free(rec);
			/* Take back a partial record so the file stays whole lines. */
			if(done > 0 && ftruncate(s->fd, s->size) < 0) { /* scan() drops it at the next open */ }
			errno = e ? e : EIO;
			return -1;
		}
		done += (size_t)n;
	}
	g_free(rec);
	s->size += (off_t)(len + 1);
	s->pending++;
	return 0;
}

int calls_spool_sync(calls_spool *s) {
	return fdatasync(s->fd);
}

guint calls_spool_pending(const calls_spool *s) {
	return s->pending;
}

GPtrArray *calls_spool_peek(calls_spool *s, guint max, off_t *end) {
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	GString *line = g_string_new(NULL);
	char *buf = g_malloc(CHUNK);
	off_t at = s->pos;
	*end = s->pos;
	while(at < s->size && out->len < max) {
		size_t want = (size_t)MIN((off_t)CHUNK, s->size - at);
		ssize_t n = pread(s->fd, buf, want, at);
		if(n <= 0)
			break;
		for(ssize_t i = 0; i < n && out->len < max; i++) {
			if(buf[i] != '\n') {
				g_string_append_c(line, buf[i]);
				continue;
			}
			g_ptr_array_add(out, g_strndup(line->str, line->len));
			g_string_truncate(line, 0);
			*end = at + i + 1;
		}
		at += n;
	}
	g_free(buf);
	g_string_free(line, TRUE);
	return out;
}

int calls_spool_consume(calls_spool *s, off_t end, guint count) {
	if(end <= s->pos)
		return 0;
	s->pos = MIN(end, s->size);
	s->pending = count > s->pending ? 0 : s->pending - count;
	if(s->pos == s->size) {
		/* All replayed: start over with an empty file. The position goes
		 * first, so that a crash in between never leaves one that points
		 * into records written later. */
		if(g_unlink(s->pos_path) < 0 && errno != ENOENT)
			return -1;
		if(ftruncate(s->fd, 0) < 0)
			return -1;
		s->size = 0;
		s->pos = 0;
		s->pending = 0;
		return fdatasync(s->fd);
	}
	return write_pos(s);
}

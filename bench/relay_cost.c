/*
 * relay_cost.c - the plugin's own cost per relayed RTP packet, in isolation
 * (driven by bench/relay_cost.sh; see bench/README.md).
 *
 * The media path of a one-to-one call, as a handle's event loop runs it: the
 * plugin's incoming_rtp (the same checks as calls_plugin.c) and
 * calls_relay_rtp, for two linked devices, with a gateway whose relay_rtp
 * only counts. Janus's own work (SRTP, the send queue) is not in it. The
 * loop runs `packets` times over a realistic video packet; the program prints
 * the time per packet (best of five), and the number of heap allocations and
 * frees the plugin made during the loop, counted by wrappers around glibc's
 * allocator (this program's malloc/free are the process's). Under callgrind,
 * relay_loop() is the function to count (bench/relay_cost.sh does).
 *
 * Usage: relay_cost [packets]   (default 1000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "calls_registry.h"
#include "calls_relay.h"

/* ---- counting allocator ---- */

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

static volatile int counting;
static long allocations, frees;

void *malloc(size_t size) {
	if(counting)
		allocations++;
	return __libc_malloc(size);
}
void *calloc(size_t n, size_t size) {
	if(counting)
		allocations++;
	return __libc_calloc(n, size);
}
void *realloc(void *p, size_t size) {
	if(counting)
		allocations++;
	return __libc_realloc(p, size);
}
void free(void *p) {
	if(counting && p != NULL)
		frees++;
	__libc_free(p);
}

/* ---- a gateway that only counts ---- */

static long relayed;

static void count_rtp(janus_plugin_session *handle, janus_plugin_rtp *packet) {
	(void)handle;
	relayed += packet->length > 0;
}

static janus_callbacks gateway = {.relay_rtp = count_rtp};

/* What calls_plugin.c's incoming_rtp does before the relay. */
static volatile gint running = 1;

static void incoming_rtp(janus_plugin_session *handle, janus_plugin_rtp *packet) {
	if(handle == NULL || g_atomic_int_get(&handle->stopped) || !g_atomic_int_get(&running))
		return;
	calls_device *d = handle->plugin_handle;
	if(d != NULL && !g_atomic_int_get(&d->destroyed))
		calls_relay_rtp(d, packet);
}

__attribute__((noinline)) void relay_loop(janus_plugin_session *h, janus_plugin_rtp *packet, long n);
__attribute__((noinline)) void relay_loop(janus_plugin_session *h, janus_plugin_rtp *packet, long n) {
	for(long i = 0; i < n; i++)
		incoming_rtp(h, packet);
}

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	if(n <= 0) {
		fprintf(stderr, "usage: relay_cost [packets]\n");
		return 2;
	}
	calls_registry_init();
	calls_relay_init(&gateway, 0);
	janus_plugin_session ha = {0}, hb = {0};
	calls_device *a = calls_device_new(&ha), *b = calls_device_new(&hb);
	ha.plugin_handle = a;
	hb.plugin_handle = b;
	calls_relay_link(a, b);

	/* A VP8 packet of a 720p stream: 12-byte header, a one-byte header
	 * extension block, payload up to 1200 bytes. */
	static char buf[1200];
	memset(buf, 0, sizeof(buf));
	buf[0] = (char)0x90;
	buf[1] = 96;
	janus_plugin_rtp packet = {.mindex = 1, .video = TRUE, .buffer = buf, .length = sizeof(buf)};

	double best = 0;
	for(int round = 0; round < 5; round++) {
		gint64 t0 = g_get_monotonic_time();
		counting = 1;
		relay_loop(&ha, &packet, n);
		counting = 0;
		double ns = (double)(g_get_monotonic_time() - t0) * 1000.0 / (double)n;
		if(round == 0 || ns < best)
			best = ns;
	}
	printf("packets per round  %ld\n", n);
	printf("relayed            %ld (expected %ld)\n", relayed, 5 * n);
	printf("ns per packet      %.1f (best of 5)\n", best);
	printf("heap allocations   %ld\n", allocations);
	printf("heap frees         %ld\n", frees);
	calls_relay_unlink(a);
	calls_relay_unlink(b);
	calls_device_unref(a);
	calls_device_unref(b);
	calls_registry_clear();
	return relayed == 5 * n && allocations == 0 && frees == 0 ? 0 : 1;
}

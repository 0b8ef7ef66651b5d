/*
 * calls_relay.h - RTP and RTCP between the legs of a call.
 *
 * A leg is one device's PeerConnection on Janus. Each device has a relay
 * slot naming the device its media goes to (or, in a group call, its place
 * in the SFU). The handler thread links and
 * unlinks slots; the handles' event loops read them for every packet. The
 * slot has its own mutex so that the media path never waits for the state
 * lock (lock order: state lock, then a relay mutex; never two relay mutexes
 * at once).
 */
#ifndef CALLS_RELAY_H
#define CALLS_RELAY_H

#include <glib.h>
#include <mutex.h>
#include <plugins/plugin.h>

struct calls_device;
struct calls_sfu_pub;
struct calls_sfu_sub;

typedef struct calls_relay {
	janus_mutex mutex;
	struct calls_device *peer;   /* reference held while linked */
	/* In a group call instead (calls_sfu.c owns both): what this handle
	 * publishes, or, on a subscriber handle, what it receives. */
	struct calls_sfu_pub *pub;
	struct calls_sfu_sub *sub;
	volatile gint packets_in;    /* RTP packets received on this leg */
	volatile gint packets_out;   /* RTP packets relayed from this leg */
	gint64 remb_at;              /* last REMB cap sent to this leg (its media thread only) */
} calls_relay;

/* gateway may be NULL in unit tests; max_bitrate caps REMB (0 = no cap). */
void calls_relay_init(janus_callbacks *gateway, guint32 max_bitrate);

void calls_relay_slot_init(calls_relay *r);
void calls_relay_slot_clear(calls_relay *r);

/* Handler thread. Link makes a and b send to each other. */
void calls_relay_link(struct calls_device *a, struct calls_device *b);
void calls_relay_unlink(struct calls_device *a);
gboolean calls_relay_linked(struct calls_device *a);

/* Handler thread, when d's PeerConnection is up. */
void calls_relay_media_up(struct calls_device *d);

/* Media threads. */
void calls_relay_rtp(struct calls_device *from, janus_plugin_rtp *packet);
void calls_relay_rtcp(struct calls_device *from, janus_plugin_rtcp *packet);

#endif

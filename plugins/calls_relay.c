/*
 * calls_relay.c - forwarding of RTP/RTCP between the two legs of a call.
 *
 * The callee answers the caller's own offer (Janus relays the SDP), so both
 * legs negotiated the same codecs and payload types and packets pass through
 * unchanged. Receiver feedback goes back to the sender as it came (Janus's
 * core drops what it answers itself: reports, NACK, transport-cc), with REMB
 * capped at max_bitrate.
 */
#include <glib.h>
#include <rtcp.h>

#include "calls_relay.h"
#include "calls_registry.h"
#include "calls_sfu.h"

static janus_callbacks *gw;
static guint32 bitrate_cap;

void calls_relay_init(janus_callbacks *gateway, guint32 max_bitrate) {
	gw = gateway;
	bitrate_cap = max_bitrate;
}

void calls_relay_slot_init(calls_relay *r) {
	janus_mutex_init(&r->mutex);
	r->peer = NULL;
	r->pub = NULL;
	r->sub = NULL;
}

void calls_relay_slot_clear(calls_relay *r) {
	janus_mutex_lock(&r->mutex);
	calls_device *old = r->peer;
	r->peer = NULL;
	janus_mutex_unlock(&r->mutex);
	if(old != NULL)
		calls_device_unref(old);
}

static void set_peer(calls_device *d, calls_device *peer) {
	if(peer != NULL)
		calls_device_ref(peer);
	janus_mutex_lock(&d->relay.mutex);
	calls_device *old = d->relay.peer;
	d->relay.peer = peer;
	janus_mutex_unlock(&d->relay.mutex);
	if(old != NULL)
		calls_device_unref(old);
}

void calls_relay_link(calls_device *a, calls_device *b) {
	set_peer(a, b);
	set_peer(b, a);
}

void calls_relay_unlink(calls_device *a) {
	set_peer(a, NULL);
}

gboolean calls_relay_linked(calls_device *a) {
	janus_mutex_lock(&a->relay.mutex);
	gboolean linked = (a->relay.peer != NULL);
	janus_mutex_unlock(&a->relay.mutex);
	return linked;
}

void calls_relay_rtp(calls_device *from, janus_plugin_rtp *packet) {
	g_atomic_int_inc(&from->relay.packets_in);
	/* The peer cannot be freed while we hold the slot's mutex: unlinking
	 * takes the same mutex before dropping its reference. */
	janus_mutex_lock(&from->relay.mutex);
	calls_device *peer = from->relay.peer;
	if(peer != NULL && !g_atomic_int_get(&peer->destroyed) && gw != NULL) {
		gw->relay_rtp(peer->handle, packet);
		g_atomic_int_inc(&from->relay.packets_out);
	} else if(from->relay.pub != NULL) {
		calls_sfu_pub_rtp(from->relay.pub, packet);
		g_atomic_int_inc(&from->relay.packets_out);
	}
	janus_mutex_unlock(&from->relay.mutex);
}

void calls_relay_rtcp(calls_device *from, janus_plugin_rtcp *packet) {
	janus_mutex_lock(&from->relay.mutex);
	calls_device *peer = from->relay.peer;
	if(peer == NULL && from->relay.sub != NULL)
		calls_sfu_sub_rtcp(from->relay.sub, packet);
	if(peer == NULL || g_atomic_int_get(&peer->destroyed) || gw == NULL) {
		janus_mutex_unlock(&from->relay.mutex);
		return;
	}
	if(bitrate_cap > 0) {
		/* Not only on video: with BUNDLE a receiver's REMB may come in on
		 * the audio m-line. */
		guint32 remb = janus_rtcp_get_remb(packet->buffer, packet->length);
		if(remb > bitrate_cap)
			janus_rtcp_cap_remb(packet->buffer, packet->length, bitrate_cap);
		/* A receiver need not send REMB at all, and a sender may ignore one
		 * that comes before its encoder runs: remind every sender of the
		 * cap about once a second, paced by its own RTCP. */
		gint64 now = g_get_monotonic_time();
		if(now - from->relay.remb_at >= G_USEC_PER_SEC) {
			from->relay.remb_at = now;
			gw->send_remb(from->handle, bitrate_cap);
		}
	}
	gw->relay_rtcp(peer->handle, packet);
	janus_mutex_unlock(&from->relay.mutex);
}

void calls_relay_media_up(calls_device *d) {
	/* Start the sender at the cap instead of waiting for the receiver's
	 * first estimate to be relayed and capped. */
	if(gw != NULL && bitrate_cap > 0)
		gw->send_remb(d->handle, bitrate_cap);
}

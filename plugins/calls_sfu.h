/*
 * calls_sfu.h - media of group calls: publishers in, subscriber m-lines out.
 *
 * A participant's registered handle publishes (calls_sfu_pub: the streams
 * it sends us, their payload types and simulcast layers); its second handle
 * subscribes (calls_sfu_sub: one audio and one video m-line, a "pair", per
 * other participant). A pair whose participant left is kept inactive and
 * given to the next one, and each m-line has its own switching context, so
 * what the receiver sees on an m-line stays one continuous stream.
 *
 * Threads and locks. The handler thread creates, assigns and frees all of
 * it with the state lock held. Media threads read it under relay mutexes
 * only: a publisher's targets (the m-lines it feeds) are guarded by the
 * relay mutex of the publishing device, a subscriber's pairs by the relay
 * mutex of the subscribing device. The handler never holds two relay
 * mutexes at once, and moves an m-line from one publisher to another by
 * taking it out of the old targets, resetting it, then adding it to the
 * new ones, so a packet never sees it half changed.
 */
#ifndef CALLS_SFU_H
#define CALLS_SFU_H

#include <glib.h>
#include <jansson.h>
#include <plugins/plugin.h>

#include "calls_error.h"

struct calls_device;
typedef struct calls_sfu_pub calls_sfu_pub;
typedef struct calls_sfu_sub calls_sfu_sub;

/* A publisher's audio got loud or quiet (media thread; the receiver queues
 * it to the handler thread). */
typedef void (*calls_sfu_talking_cb)(struct calls_device *d, gboolean talking);

/* talk_level: -dBov (0 loudest, 127 silence) a mean level must be above
 * (numerically below) to count as talking. gateway may be NULL in tests. */
void calls_sfu_init(janus_callbacks *gateway, calls_sfu_talking_cb talking, int talk_level);

/* ---- handler thread ---- */

/* Answers d's offer (jsep: the core's, with its "simulcast" info): Opus and
 * VP8 only, receive only. Returns the publisher, with *answer set to the
 * JSEP answer (new reference), and attaches it to d's relay slot; NULL with
 * err set (400) when the offer carries neither codec. */
calls_sfu_pub *calls_sfu_pub_new(struct calls_device *d, const char *user, const char *display,
	json_t *jsep, json_t **answer, calls_error *err);
/* Answers a new offer of p's client (an ICE restart): the streams must be
 * the same (409 otherwise, 400 for an offer that cannot be answered). */
json_t *calls_sfu_pub_reanswer(calls_sfu_pub *p, json_t *jsep, calls_error *err);
/* Detaches p from its device and frees it; its targets must be gone
 * (calls_sfu_sub_set without it on every subscriber). */
void calls_sfu_pub_free(calls_sfu_pub *p);
gboolean calls_sfu_pub_has_video(const calls_sfu_pub *p);
struct calls_device *calls_sfu_pub_device(const calls_sfu_pub *p);

calls_sfu_sub *calls_sfu_sub_new(struct calls_device *d);
/* Drops every m-line's publisher, detaches s from its device, frees it. */
void calls_sfu_sub_free(calls_sfu_sub *s);
/* Makes s receive exactly pubs (n of them): pairs of publishers that are
 * gone become inactive, new publishers take inactive pairs first. Returns
 * TRUE when the SDP changed (a new offer is due). */
gboolean calls_sfu_sub_set(calls_sfu_sub *s, calls_sfu_pub **pubs, guint n);
/* The number of pairs (0: nothing to offer yet). */
guint calls_sfu_sub_pairs(const calls_sfu_sub *s);
/* The offer for s as it is now (new reference, {type, sdp}). */
json_t *calls_sfu_sub_offer(calls_sfu_sub *s);
/* The client answered the last offer: media may flow to it. */
void calls_sfu_sub_answered(calls_sfu_sub *s);
/* [{mid, kind, user, display}] of the m-lines that carry someone. */
json_t *calls_sfu_sub_streams(const calls_sfu_sub *s);
/* The keyframe requests s needs now: the devices of its video publishers
 * (references, g_ptr_array_unref frees them). */
GPtrArray *calls_sfu_sub_video_sources(const calls_sfu_sub *s);

/* Simulcast layer (0 low, 1 medium, 2 high) for a receiver that shows
 * videos video tiles of others, and the most its REMB estimate allows. A
 * receiver gets the lower of the two. */
int calls_sfu_layer_for_tiles(guint videos);
int calls_sfu_layer_for_remb(guint32 bitrate);
/* The layer s is sent now, and a new estimate from its receiver (for the
 * whole PeerConnection: each video stream it receives gets an equal share). */
int calls_sfu_sub_layer(const calls_sfu_sub *s);
void calls_sfu_sub_remb(calls_sfu_sub *s, guint32 bitrate);

/* ---- media threads ---- */

/* A packet from p's device; the caller holds that device's relay mutex. */
void calls_sfu_pub_rtp(calls_sfu_pub *p, janus_plugin_rtp *packet);
/* Feedback from s's device (PLI/FIR go to the publisher of that m-line,
 * REMB caps the layer it is sent); the caller holds that relay mutex. */
void calls_sfu_sub_rtcp(calls_sfu_sub *s, janus_plugin_rtcp *packet);

#endif

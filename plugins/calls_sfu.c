/*
 * calls_sfu.c - group call media (see calls_sfu.h for the threads and locks).
 *
 * Receivers get fixed payload types (Opus 111, VP8 96) whatever each
 * publisher negotiated, so one subscriber offer fits every publisher and a
 * pair can change hands without renegotiating codecs; the header is
 * rewritten per receiver and put back before the next one, so fan-out
 * needs no copy (Janus's core copies when it encrypts).
 */
#include <string.h>

#include <debug.h>
#include <rtcp.h>
#include <rtp.h>
#include <sdp-utils.h>
#include <utils.h>

#include "calls_registry.h"
#include "calls_sfu.h"

#define OPUS_PT 111
#define VP8_PT 96
/* Talking is judged over this many audio packets (20 ms each: 0.5 s). */
#define TALK_WINDOW 25
/* It stops after this long without a loud window ... */
#define TALK_HANGOVER G_USEC_PER_SEC
/* ... and changes at most twice a second. */
#define TALK_MIN_GAP (G_USEC_PER_SEC / 2)
/* REMB estimates under these cap a receiver at the low, then medium layer. */
#define REMB_LOW 300000
#define REMB_MEDIUM 900000
/* Keyframes the plugin asks a publisher for on its own, at most this often. */
#define KEYFRAME_GAP G_USEC_PER_SEC

int calls_sfu_layer_for_tiles(guint videos) {
	return videos <= 2 ? 2 : (videos <= 6 ? 1 : 0);
}

int calls_sfu_layer_for_remb(guint32 bitrate) {
	return bitrate < REMB_LOW ? 0 : (bitrate < REMB_MEDIUM ? 1 : 2);
}

static janus_callbacks *gw;
static calls_sfu_talking_cb talking_cb;
static int talk_level = 40;

typedef struct mline {
	calls_sfu_sub *sub;
	int mindex;
	gboolean video;
	char mid[16];
	calls_sfu_pub *pub;          /* NULL: carries nothing */
	gboolean used;               /* has carried someone: it stays sendonly (see offer) */
	janus_rtp_switching_context ctx;
	janus_rtp_simulcasting_context sim;
	janus_vp8_simulcast_context vp8;
} mline;

typedef struct pair {
	mline audio, video;
} pair;

struct calls_sfu_pub {
	calls_device *device;        /* reference held */
	char *user, *display;
	int audio_mindex, video_mindex;   /* -1: not sent */
	gboolean simulcast;
	int rid_ext_id;
	uint32_t ssrcs[3];
	char *rids[3];
	janus_mutex rid_mutex;
	GPtrArray *targets;          /* mline*, under device->relay.mutex */
	/* talking: the publishing device's media thread only. The levels of
	 * the last TALK_WINDOW packets, a ring, and their sum. */
	guint8 levels[TALK_WINDOW];
	int level_sum, level_n, level_at;
	gboolean talking;
	gint64 loud_at, changed_at;
	gint64 keyframe_asked;       /* the publishing device's media thread only */
};

struct calls_sfu_sub {
	calls_device *device;        /* reference held */
	GPtrArray *pairs;            /* pair*, under device->relay.mutex */
	guint64 version;
	volatile gint layer_cap;     /* 0..2, from the receiver's REMB */
	volatile gint layer_tiles;   /* 0..2, from the number of video tiles */
	volatile gint videos;        /* how many video streams it receives */
	/* The last offer was answered. Until then Janus's core may be building
	 * or changing the handle's PeerConnection on another thread, and
	 * relaying to it then races with that (as in the VideoRoom). */
	volatile gint answered;
};

void calls_sfu_init(janus_callbacks *gateway, calls_sfu_talking_cb talking, int level) {
	gw = gateway;
	talking_cb = talking;
	talk_level = level;
}

/* ---- publishers ---- */

static void set_pub_slot(calls_device *d, calls_sfu_pub *p) {
	janus_mutex_lock(&d->relay.mutex);
	d->relay.pub = p;
	janus_mutex_unlock(&d->relay.mutex);
}

/* Answers an offer: Opus and VP8, receive only, the first m-line of each
 * kind. Sets the m-line indexes that carry audio and video (-1: none). */
static json_t *answer_offer(json_t *jsep, int *audio_mindex, int *video_mindex, calls_error *err) {
	char error[200] = "";
	const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
	janus_sdp *offer = sdp ? janus_sdp_parse(sdp, error, sizeof(error)) : NULL;
	if(offer == NULL) {
		calls_fail(err, CALLS_ERR_INVALID, "the offer cannot be parsed: %s", error);
		return NULL;
	}
	janus_sdp *ans = janus_sdp_generate_answer(offer);
	int audio = -1, video = -1;
	for(GList *l = offer->m_lines; l != NULL; l = l->next) {
		janus_sdp_mline *m = l->data;
		gboolean take = FALSE;
		if(m->type == JANUS_SDP_AUDIO && audio < 0 && m->port > 0 &&
				janus_sdp_get_codec_pt(offer, m->index, "opus") >= 0) {
			take = TRUE;
			audio = m->index;
		} else if(m->type == JANUS_SDP_VIDEO && video < 0 && m->port > 0 &&
				janus_sdp_get_codec_pt(offer, m->index, "vp8") >= 0) {
			take = TRUE;
			video = m->index;
		}
		/* A sender that offers recvonly or inactive sends nothing: the
		 * m-line is answered but carries no stream. */
		if(take && (m->direction == JANUS_SDP_RECVONLY || m->direction == JANUS_SDP_INACTIVE)) {
			if(m->type == JANUS_SDP_AUDIO)
				audio = -2;
			else
				video = -2;
		}
		janus_sdp_generate_answer_mline(offer, ans, m,
			JANUS_SDP_OA_MLINE, m->type,
			JANUS_SDP_OA_ENABLED, take,
			JANUS_SDP_OA_DIRECTION, JANUS_SDP_RECVONLY,
			JANUS_SDP_OA_CODEC, m->type == JANUS_SDP_VIDEO ? "vp8" : "opus",
			JANUS_SDP_OA_ACCEPT_EXTMAP, JANUS_RTP_EXTMAP_MID,
			JANUS_SDP_OA_ACCEPT_EXTMAP, JANUS_RTP_EXTMAP_RID,
			JANUS_SDP_OA_ACCEPT_EXTMAP, JANUS_RTP_EXTMAP_REPAIRED_RID,
			JANUS_SDP_OA_ACCEPT_EXTMAP, m->type == JANUS_SDP_AUDIO ? JANUS_RTP_EXTMAP_AUDIO_LEVEL : NULL,
			JANUS_SDP_OA_ACCEPT_EXTMAP, JANUS_RTP_EXTMAP_TRANSPORT_WIDE_CC,
			JANUS_SDP_OA_ACCEPT_EXTMAP, JANUS_RTP_EXTMAP_ABS_SEND_TIME,
			JANUS_SDP_OA_DONE);
	}
	if(audio == -1 && video == -1) {
		janus_sdp_destroy(ans);
		janus_sdp_destroy(offer);
		calls_fail(err, CALLS_ERR_INVALID, "the offer has neither Opus audio nor VP8 video");
		return NULL;
	}
	char *text = janus_sdp_write(ans);
	janus_sdp_destroy(ans);
	janus_sdp_destroy(offer);
	json_t *answer = json_pack("{ssss}", "type", "answer", "sdp", text);
	g_free(text);
	*audio_mindex = MAX(audio, -1);
	*video_mindex = MAX(video, -1);
	return answer;
}

calls_sfu_pub *calls_sfu_pub_new(calls_device *d, const char *user, const char *display,
		json_t *jsep, json_t **answer, calls_error *err) {
	int audio = -1, video = -1;
	*answer = answer_offer(jsep, &audio, &video, err);
	if(*answer == NULL)
		return NULL;
	calls_sfu_pub *p = g_new0(calls_sfu_pub, 1);
	calls_device_ref(d);
	p->device = d;
	p->user = g_strdup(user);
	p->display = g_strdup(display);
	p->audio_mindex = audio;
	p->video_mindex = video;
	janus_mutex_init(&p->rid_mutex);
	p->targets = g_ptr_array_new();
	/* Janus's core lists the simulcast m-lines of the offer it took. */
	json_t *sim = json_object_get(jsep, "simulcast");
	for(size_t i = 0; i < json_array_size(sim); i++) {
		json_t *s = json_array_get(sim, i);
		if(json_integer_value(json_object_get(s, "mindex")) == p->video_mindex && p->video_mindex >= 0) {
			janus_rtp_simulcasting_prepare(s, &p->rid_ext_id, p->ssrcs, p->rids);
			p->simulcast = TRUE;
		}
	}
	set_pub_slot(d, p);
	return p;
}

json_t *calls_sfu_pub_reanswer(calls_sfu_pub *p, json_t *jsep, calls_error *err) {
	int audio = -1, video = -1;
	json_t *answer = answer_offer(jsep, &audio, &video, err);
	if(answer != NULL && (audio != p->audio_mindex || video != p->video_mindex)) {
		json_decref(answer);
		calls_fail(err, CALLS_ERR_STATE, "a new offer may not add or remove streams in a group call: leave and join again");
		return NULL;
	}
	return answer;
}

void calls_sfu_pub_free(calls_sfu_pub *p) {
	if(p == NULL)
		return;
	set_pub_slot(p->device, NULL);
	janus_rtp_simulcasting_cleanup(&p->rid_ext_id, p->ssrcs, p->rids, &p->rid_mutex);
	g_ptr_array_unref(p->targets);
	calls_device_unref(p->device);
	g_free(p->user);
	g_free(p->display);
	g_free(p);
}

gboolean calls_sfu_pub_has_video(const calls_sfu_pub *p) {
	return p->video_mindex >= 0;
}

calls_device *calls_sfu_pub_device(const calls_sfu_pub *p) {
	return p->device;
}

/* ---- subscribers ---- */

static void set_sub_slot(calls_device *d, calls_sfu_sub *s) {
	janus_mutex_lock(&d->relay.mutex);
	d->relay.sub = s;
	janus_mutex_unlock(&d->relay.mutex);
}

calls_sfu_sub *calls_sfu_sub_new(calls_device *d) {
	calls_sfu_sub *s = g_new0(calls_sfu_sub, 1);
	calls_device_ref(d);
	s->device = d;
	s->pairs = g_ptr_array_new_with_free_func(g_free);
	s->layer_cap = 2;
	s->layer_tiles = 2;
	set_sub_slot(d, s);
	return s;
}

static gboolean feeds(const calls_sfu_pub *p, const mline *m) {
	return p != NULL && (m->video ? p->video_mindex >= 0 : p->audio_mindex >= 0);
}

/* Moves m to publisher p (NULL: inactive). See the header for why the
 * steps are in this order. */
static void assign(mline *m, calls_sfu_pub *p) {
	calls_sfu_pub *old = m->pub;
	if(old == p)
		return;
	if(old != NULL && feeds(old, m)) {
		janus_mutex_lock(&old->device->relay.mutex);
		g_ptr_array_remove_fast(old->targets, m);
		janus_mutex_unlock(&old->device->relay.mutex);
	}
	janus_mutex_lock(&m->sub->device->relay.mutex);
	m->pub = p;
	/* Not a reset of ctx: it must remember the last sequence number and
	 * timestamp sent, so the next source continues from them. */
	janus_rtp_simulcasting_context_reset(&m->sim);
	/* The context finds each layer's SSRC from the rid header extension. */
	m->sim.rid_ext_id = p != NULL ? p->rid_ext_id : -1;
	m->sim.substream_target = 2;
	m->sim.templayer_target = 2;
	janus_vp8_simulcast_context_reset(&m->vp8);
	janus_mutex_unlock(&m->sub->device->relay.mutex);
	if(p != NULL && feeds(p, m)) {
		m->used = TRUE;
		janus_mutex_lock(&p->device->relay.mutex);
		g_ptr_array_add(p->targets, m);
		janus_mutex_unlock(&p->device->relay.mutex);
	}
}

static pair *pair_new(calls_sfu_sub *s) {
	pair *pr = g_new0(pair, 1);
	guint i = s->pairs->len;
	mline *ms[2] = {&pr->audio, &pr->video};
	for(int k = 0; k < 2; k++) {
		mline *m = ms[k];
		m->sub = s;
		m->video = (k == 1);
		m->mindex = (int)(2 * i + k);
		g_snprintf(m->mid, sizeof(m->mid), "%c%u", k ? 'v' : 'a', i);
		janus_rtp_switching_context_reset(&m->ctx);
		janus_rtp_simulcasting_context_reset(&m->sim);
		janus_vp8_simulcast_context_reset(&m->vp8);
	}
	janus_mutex_lock(&s->device->relay.mutex);
	g_ptr_array_add(s->pairs, pr);
	janus_mutex_unlock(&s->device->relay.mutex);
	return pr;
}

static void pair_assign(pair *pr, calls_sfu_pub *p) {
	assign(&pr->audio, p);
	assign(&pr->video, p);
}

gboolean calls_sfu_sub_set(calls_sfu_sub *s, calls_sfu_pub **pubs, guint n) {
	gboolean changed = FALSE;
	/* Pairs of publishers that are gone become free. */
	for(guint i = 0; i < s->pairs->len; i++) {
		pair *pr = g_ptr_array_index(s->pairs, i);
		calls_sfu_pub *p = pr->audio.pub;
		gboolean kept = FALSE;
		for(guint j = 0; p != NULL && j < n && !kept; j++)
			kept = (pubs[j] == p);
		if(p != NULL && !kept) {
			pair_assign(pr, NULL);
			changed = TRUE;
		}
	}
	guint videos = 0;
	for(guint j = 0; j < n; j++) {
		calls_sfu_pub *p = pubs[j];
		videos += p->video_mindex >= 0;
		pair *free_pair = NULL;
		gboolean has = FALSE;
		for(guint i = 0; i < s->pairs->len && !has; i++) {
			pair *pr = g_ptr_array_index(s->pairs, i);
			has = (pr->audio.pub == p);
			if(pr->audio.pub == NULL && free_pair == NULL)
				free_pair = pr;
		}
		if(has)
			continue;
		pair_assign(free_pair ? free_pair : pair_new(s), p);
		changed = TRUE;
	}
	g_atomic_int_set(&s->layer_tiles, calls_sfu_layer_for_tiles(videos));
	g_atomic_int_set(&s->videos, (gint)videos);
	return changed;
}

void calls_sfu_sub_free(calls_sfu_sub *s) {
	if(s == NULL)
		return;
	for(guint i = 0; i < s->pairs->len; i++)
		pair_assign(g_ptr_array_index(s->pairs, i), NULL);
	set_sub_slot(s->device, NULL);
	g_ptr_array_unref(s->pairs);
	calls_device_unref(s->device);
	g_free(s);
}

void calls_sfu_sub_answered(calls_sfu_sub *s) {
	g_atomic_int_set(&s->answered, 1);
}

guint calls_sfu_sub_pairs(const calls_sfu_sub *s) {
	return s->pairs->len;
}

json_t *calls_sfu_sub_offer(calls_sfu_sub *s) {
	janus_sdp *offer = janus_sdp_generate_offer("janus-calls", "0.0.0.0", JANUS_SDP_OA_DONE);
	for(guint i = 0; i < s->pairs->len; i++) {
		pair *pr = g_ptr_array_index(s->pairs, i);
		char msid[16];
		g_snprintf(msid, sizeof(msid), "p%u", i);
		mline *ms[2] = {&pr->audio, &pr->video};
		for(int k = 0; k < 2; k++) {
			mline *m = ms[k];
			janus_sdp_generate_offer_mline(offer,
				JANUS_SDP_OA_MLINE, m->video ? JANUS_SDP_VIDEO : JANUS_SDP_AUDIO,
				JANUS_SDP_OA_MID, m->mid,
				JANUS_SDP_OA_MSID, msid, m->mid,
				JANUS_SDP_OA_PT, m->video ? VP8_PT : OPUS_PT,
				JANUS_SDP_OA_CODEC, m->video ? "vp8" : "opus",
				/* Janus's core drops an m-line's SSRC when it goes
				 * inactive and makes a new one when it comes back:
				 * once used, an m-line stays sendonly, silent while
				 * free, so its next publisher continues its stream. */
				JANUS_SDP_OA_DIRECTION, (feeds(m->pub, m) || m->used) ? JANUS_SDP_SENDONLY : JANUS_SDP_INACTIVE,
				JANUS_SDP_OA_EXTENSION, JANUS_RTP_EXTMAP_MID, janus_rtp_extension_id(JANUS_RTP_EXTMAP_MID),
				JANUS_SDP_OA_EXTENSION, JANUS_RTP_EXTMAP_ABS_SEND_TIME,
					m->video ? janus_rtp_extension_id(JANUS_RTP_EXTMAP_ABS_SEND_TIME) : 0,
				JANUS_SDP_OA_DONE);
		}
	}
	offer->o_version = ++s->version;
	g_atomic_int_set(&s->answered, 0);
	char *text = janus_sdp_write(offer);
	janus_sdp_destroy(offer);
	json_t *jsep = json_pack("{ssss}", "type", "offer", "sdp", text);
	g_free(text);
	return jsep;
}

json_t *calls_sfu_sub_streams(const calls_sfu_sub *s) {
	json_t *out = json_array();
	for(guint i = 0; i < s->pairs->len; i++) {
		pair *pr = g_ptr_array_index(s->pairs, i);
		const mline *ms[2] = {&pr->audio, &pr->video};
		for(int k = 0; k < 2; k++) {
			const mline *m = ms[k];
			if(!feeds(m->pub, m))
				continue;
			json_array_append_new(out, json_pack("{ssssssss}", "mid", m->mid,
				"kind", m->video ? "video" : "audio", "user", m->pub->user, "display", m->pub->display));
		}
	}
	return out;
}

GPtrArray *calls_sfu_sub_video_sources(const calls_sfu_sub *s) {
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)calls_device_unref);
	for(guint i = 0; i < s->pairs->len; i++) {
		pair *pr = g_ptr_array_index(s->pairs, i);
		if(feeds(pr->video.pub, &pr->video)) {
			calls_device_ref(pr->video.pub->device);
			g_ptr_array_add(out, pr->video.pub->device);
		}
	}
	return out;
}

/* ---- media ---- */

/* A sliding window, judged at every packet: talking starts as soon as the
 * last 0.5 s are loud on average, and stops a full TALK_HANGOVER after they
 * last were. */
static void talking_update(calls_sfu_pub *p, const janus_plugin_rtp *packet) {
	int level = packet->extensions.audio_level;
	if(level < 0 || talking_cb == NULL)
		return;
	if(p->level_n == TALK_WINDOW)
		p->level_sum -= p->levels[p->level_at];
	else
		p->level_n++;
	p->levels[p->level_at] = (guint8)level;
	p->level_sum += level;
	p->level_at = (p->level_at + 1) % TALK_WINDOW;
	if(p->level_n < TALK_WINDOW)
		return;
	int mean = p->level_sum / TALK_WINDOW;
	gint64 now = g_get_monotonic_time();
	/* The level is -dBov: smaller is louder. */
	if(mean < talk_level)
		p->loud_at = now;
	gboolean talking = p->loud_at > 0 && now - p->loud_at < TALK_HANGOVER;
	if(talking != p->talking && now - p->changed_at >= TALK_MIN_GAP) {
		p->talking = talking;
		p->changed_at = now;
		talking_cb(p->device, talking);
	}
}

/* Which SSRC carries which simulcast layer is only said by the rid header
 * extension, and browsers stop sending that once the layer is acknowledged:
 * learn it from every packet, also while nobody receives this publisher
 * yet, or a later receiver never gets its video. */
static void learn_layers(calls_sfu_pub *p, char *buf, int len) {
	uint32_t ssrc = ntohl(((janus_rtp_header *)buf)->ssrc);
	int unknown = -1;
	for(int i = 0; i < 3; i++) {
		if(p->ssrcs[i] == ssrc)
			return;
		if(p->ssrcs[i] == 0 && p->rids[i] != NULL && unknown < 0)
			unknown = i;
	}
	char rid[16];
	if(unknown < 0 || janus_rtp_header_extension_parse_rid(buf, len, p->rid_ext_id, rid, sizeof(rid)) < 0)
		return;
	janus_mutex_lock(&p->rid_mutex);
	for(int i = 0; i < 3; i++) {
		if(p->rids[i] != NULL && !strcmp(p->rids[i], rid) && p->ssrcs[i] == 0)
			p->ssrcs[i] = ssrc;
	}
	janus_mutex_unlock(&p->rid_mutex);
}

static int layer_for(calls_sfu_sub *s) {
	return MIN(g_atomic_int_get(&s->layer_cap), g_atomic_int_get(&s->layer_tiles));
}

int calls_sfu_sub_layer(const calls_sfu_sub *s) {
	return layer_for((calls_sfu_sub *)s);
}

void calls_sfu_sub_remb(calls_sfu_sub *s, guint32 bitrate) {
	/* REMB estimates the whole PeerConnection: each video stream gets its
	 * share. */
	if(bitrate > 0)
		g_atomic_int_set(&s->layer_cap, calls_sfu_layer_for_remb(bitrate / (guint32)MAX(1, g_atomic_int_get(&s->videos))));
}

/* From the publisher's media thread. `now`: Janus's simulcast context asks
 * for it, and paces its own requests. */
static void ask_keyframe(calls_sfu_pub *p, gboolean now) {
	gint64 at = g_get_monotonic_time();
	if(!now && at - p->keyframe_asked < KEYFRAME_GAP)
		return;
	p->keyframe_asked = at;
	gw->send_pli_stream(p->device->handle, p->video_mindex);
}

void calls_sfu_pub_rtp(calls_sfu_pub *p, janus_plugin_rtp *packet) {
	gboolean video = packet->video;
	if(packet->length < 12 || packet->mindex != (video ? p->video_mindex : p->audio_mindex))
		return;
	if(!video)
		talking_update(p, packet);
	else if(p->simulcast && p->rid_ext_id > 0)
		learn_layers(p, packet->buffer, packet->length);
	if(p->targets->len == 0 || gw == NULL)
		return;
	char *buf = packet->buffer;
	int len = packet->length;
	janus_rtp_header *h = (janus_rtp_header *)buf;
	/* What each receiver's rewrite changes, to put back for the next. */
	uint32_t ssrc = h->ssrc, ts = h->timestamp;
	uint16_t seq = h->seq_number;
	uint8_t type = h->type;
	int plen = 0;
	char *payload = video ? janus_rtp_payload(buf, len, &plen) : NULL;
	char descriptor[8];
	gboolean keep_descriptor = payload != NULL && plen >= (int)sizeof(descriptor);
	if(keep_descriptor)
		memcpy(descriptor, payload, sizeof(descriptor));
	for(guint i = 0; i < p->targets->len; i++) {
		mline *m = g_ptr_array_index(p->targets, i);
		calls_device *to = m->sub->device;
		if(m->video != video || g_atomic_int_get(&to->destroyed) || !g_atomic_int_get(&m->sub->answered))
			continue;
		if(video && p->simulcast) {
			int want = layer_for(m->sub);
			if(m->sim.substream_target != want) {
				m->sim.substream_target = want;
				/* The switch waits for a keyframe of that layer. */
				ask_keyframe(p, FALSE);
			}
			gboolean relay = janus_rtp_simulcasting_context_process_rtp(&m->sim, buf, len, p->ssrcs, p->rids,
					JANUS_VIDEOCODEC_VP8, &m->ctx, &p->rid_mutex);
			if(m->sim.need_pli)
				ask_keyframe(p, TRUE);
			else if(m->sim.substream < 0)
				/* Nothing relayed to this receiver yet: everything up to a
				 * keyframe is dropped, so its browser sees no stream and
				 * never asks for one itself. The keyframe asked for when
				 * it answered may have come before the relay started, or
				 * before the publisher's PeerConnection was up: ask again
				 * until one comes. */
				ask_keyframe(p, FALSE);
			if(!relay)
				continue;
			janus_rtp_header_update(h, &m->ctx, TRUE, 0);
			if(keep_descriptor)
				janus_vp8_simulcast_descriptor_update(payload, plen, &m->vp8, m->sim.changed_substream);
		} else {
			janus_rtp_header_update(h, &m->ctx, video, 0);
		}
		h->type = video ? VP8_PT : OPUS_PT;
		janus_plugin_rtp out = {.mindex = m->mindex, .video = video, .buffer = buf, .length = (uint16_t)len};
		janus_plugin_rtp_extensions_reset(&out.extensions);
		gw->relay_rtp(to->handle, &out);
		h->ssrc = ssrc;
		h->timestamp = ts;
		h->seq_number = seq;
		h->type = type;
		if(keep_descriptor)
			memcpy(payload, descriptor, sizeof(descriptor));
	}
}

void calls_sfu_sub_rtcp(calls_sfu_sub *s, janus_plugin_rtcp *packet) {
	if(gw == NULL)
		return;
	calls_sfu_sub_remb(s, janus_rtcp_get_remb(packet->buffer, packet->length));
	if(!janus_rtcp_has_pli(packet->buffer, packet->length) && !janus_rtcp_has_fir(packet->buffer, packet->length))
		return;
	int mi = packet->mindex;
	if(mi < 0 || (guint)(mi / 2) >= s->pairs->len)
		return;
	pair *pr = g_ptr_array_index(s->pairs, mi / 2);
	calls_sfu_pub *p = pr->video.pub;
	if(feeds(p, &pr->video) && !g_atomic_int_get(&p->device->destroyed))
		gw->send_pli_stream(p->device->handle, p->video_mindex);
}

/*
 * janus-calls web client: one-to-one voice and video calls through janus.plugin.calls.
 *
 * Loaded after vendor/adapter.js, vendor/janus.js, config.js (window.CALLS_CONFIG) and group.js
 * (group calls: window.CallsGroup, to which this file hands the parts group calls build on).
 * One Janus session, one handle on "janus.plugin.calls" = this browser tab as a device (a group
 * call adds a second, unregistered handle that receives the other participants' media).
 * Every request gets an ack and then an event carrying the same transaction; janus.js
 * does not pass that transaction to onmessage, so the WebSocket given to janus.js notes the
 * transaction of the message it is sending and of the message it is delivering, and replies
 * are matched to their requests by it. Events without a transaction are notifications.
 */
(function () {
	'use strict';

	// ---------------------------------------------------------------- configuration

	const PLUGIN = 'janus.plugin.calls';
	const USER_RE = /^[A-Za-z0-9_.@+-]{1,64}$/;
	const REPLY_TIMEOUT_MS = 15000;
	const OFFER_WAIT_MS = 12000;

	const params = new URLSearchParams(location.search);
	const config = Object.assign({}, window.CALLS_CONFIG || {});
	const SERVER = params.get('server') || config.server || defaultServer();
	const AUTH = (params.get('auth') || config.auth || 'none') === 'jwt' ? 'jwt' : 'none';
	const DEBUG = params.get('debug') === '1';
	// Entries asked for per page of the call history (the server allows 1..100).
	const HISTORY_LIMIT = clampInt(params.get('history_limit') || config.history_limit, 1, 100, 20);

	function clampInt(v, lo, hi, dflt) {
		const n = Number(v);
		return Number.isInteger(n) && n >= lo && n <= hi ? n : dflt;
	}

	function defaultServer() {
		const host = location.hostname || 'localhost';
		const h = host.includes(':') ? '[' + host + ']' : host;
		return location.protocol === 'https:' ? 'wss://' + h + ':8989' : 'ws://' + h + ':8188';
	}

	// ---------------------------------------------------------------- state

	const S = {
		janus: null,          // Janus session
		handle: null,         // the plugin handle (this device)
		connecting: null,     // Promise while connecting
		me: null,             // {user, display, device}
		call: null,           // the current call, see newCall()
		waiting: new Map(),   // call_id -> waiting call {id, peer, display, video, jsep}
		iceServers: [],       // shared with janus.js: filled from `registered`
		recent: [],
		timer: null,
		tab: 'dial',          // the home screen's tab: 'dial' | 'contacts' | 'calls'
		missed: 0,            // the missed-calls badge
	};

	// The call history shown in the Calls tab (pages from the server, newest first).
	const H = {
		entries: [],          // history entries as the server sent them
		next: null,           // cursor of the next (older) page, or null
		filter: 'all',        // 'all' | 'missed'
		loading: false,
		loaded: false,        // the first page came in
		stale: true,          // a call ended since: load again when the tab shows
		loadedAt: 0,
		error: null,          // the last failure (CallsError), shown in the tab
		seq: 0,               // numbers loads; an answer to an older one is dropped
	};

	// The Contacts tab: the user's contacts with their presence, and the privacy setting.
	const K = {
		list: new Map(),      // user -> {user, display, state, last_seen, added}; state null until known
		loading: false,
		loaded: false,        // a `contacts` reply came in
		loadedAt: 0,
		error: null,          // the last failed load (CallsError), shown in the tab
		seq: 0,               // numbers loads; an answer to an older one is dropped
		subscribed: new Set(),// users this device asked presence_subscribe for
		nameAsked: new Set(), // users whose display name was asked for again once they came online
		reloadTimer: null,
		adding: false,
		privacy: 'everyone',  // who sees this user's state and last seen: everyone | contacts | nobody
		privacyBusy: false,
		picking: false,       // choosing contacts for a group call (checkboxes shown)
		picked: new Set(),    // the contacts chosen
	};

	const media = {
		local: new Map(),         // track id -> local MediaStreamTrack
		remote: new Map(),        // mid -> remote MediaStreamTrack
	};

	function newCall(fields) {
		return Object.assign({
			kind: 'direct',      // 'direct' | 'group' (group.js adds its own fields)
			id: null,            // call_id from the server
			peer: '',            // the other user's id
			display: '',         // the other user's display name
			video: false,        // asked for as a video call
			dir: 'out',          // 'out' | 'in'
			// out: starting -> calling -> ringing -> active
			// in: incoming -> answering -> active; awaiting-offer (end & accept) -> answering
			state: 'starting',
			jsep: null,          // the offer of an incoming call
			answeredAt: 0,
			mediaUp: false,
			muted: false,
			camOff: false,
			remoteAudio: true,
			remoteVideo: true,
			renegotiating: false, // an `update` of ours is under way
			ending: false,       // a hang-up or decline of ours is under way
		}, fields);
	}

	// ---------------------------------------------------------------- DOM helpers

	const $ = (id) => document.getElementById(id);
	const screens = ['signin', 'home', 'outgoing', 'incoming', 'incall', 'group'];

	function show(name) {
		for (const s of screens) $('screen-' + s).hidden = s !== name;
		document.body.dataset.screen = name;
		updateTitle();
	}

	function currentScreen() {
		return document.body.dataset.screen;
	}

	function initials(name) {
		const words = String(name || '?').trim().split(/[\s._@+-]+/).filter(Boolean);
		if (words.length >= 2) return (first(words[0]) + first(words[1])).toUpperCase();
		return first(words[0] || '?').toUpperCase();
	}
	function first(s) { return Array.from(s)[0] || ''; }

	function hue(s) {
		let h = 0;
		for (const ch of String(s)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
		return h % 360;
	}

	function paintAvatar(el, id, name) {
		el.textContent = initials(name || id);
		el.style.setProperty('--hue', hue(id || name));
	}

	function fmtDuration(sec) {
		sec = Math.max(0, Math.floor(sec));
		const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
		const mm = String(m).padStart(2, '0'), ss = String(s).padStart(2, '0');
		return h ? h + ':' + mm + ':' + ss : mm + ':' + ss;
	}

	function kindText(video) {
		return video ? 'video call' : 'voice call';
	}

	let toastTimer = null;
	function toast(text, kind) {
		const t = $('toast');
		t.textContent = text;
		t.className = 'toast' + (kind === 'error' ? ' error' : '');
		t.hidden = false;
		clearTimeout(toastTimer);
		toastTimer = setTimeout(() => { t.hidden = true; }, kind === 'error' ? 6000 : 4000);
	}

	function notice(msg) {
		const n = $('home-message');
		if (!msg) { n.hidden = true; n.removeAttribute('data-reason'); return; }
		n.textContent = '';
		const body = document.createElement('div');
		const main = document.createElement('span');
		main.className = 'notice-main';
		main.textContent = msg.text;
		body.append(main);
		if (msg.sub) {
			const sub = document.createElement('span');
			sub.className = 'notice-sub';
			sub.textContent = msg.sub;
			body.append(sub);
		}
		n.append(body);
		n.className = 'notice' + (msg.kind ? ' ' + msg.kind : '');
		n.dataset.reason = msg.reason || '';
		n.hidden = false;
	}

	function updateTitle() {
		const c = S.call;
		if (c && c.kind === 'group' && c.state === 'incoming') document.title = '📞 ' + (c.from || c.peer) + ': group call';
		else if (c && c.kind === 'group' && c.state === 'active') document.title = 'In ' + Group.phrase(c);
		else if (c && c.dir === 'in' && c.state === 'incoming') document.title = '📞 ' + (c.display || c.peer) + ' is calling';
		else if (c && c.state === 'active') document.title = 'In call with ' + (c.display || c.peer);
		else document.title = S.missed ? 'Calls (' + S.missed + ' missed)' : 'Calls';
	}

	// ---------------------------------------------------------------- sounds (WebAudio only)

	const Sound = {
		ctx: null,
		master: null,
		kind: null,
		timer: null,

		unlock() {
			if (!this.ctx) {
				const AC = window.AudioContext || window.webkitAudioContext;
				if (!AC) return;
				try { this.ctx = new AC(); } catch (e) { return; }
			}
			if (this.ctx.state === 'suspended') this.ctx.resume().catch(() => {});
		},

		// A short bell-like note: a sine with a touch of its octave, fast attack, soft decay.
		note(freq, at, dur, vol) {
			const ctx = this.ctx;
			const g = ctx.createGain();
			g.gain.setValueAtTime(0.0001, at);
			g.gain.exponentialRampToValueAtTime(vol, at + 0.012);
			g.gain.exponentialRampToValueAtTime(0.0001, at + dur);
			g.connect(this.master);
			for (const [mult, level] of [[1, 1], [2, 0.25]]) {
				const o = ctx.createOscillator();
				const og = ctx.createGain();
				o.type = 'sine';
				o.frequency.value = freq * mult;
				og.gain.value = level;
				o.connect(og).connect(g);
				o.start(at);
				o.stop(at + dur + 0.05);
			}
		},

		// A steady dual tone with soft edges (ring-back while the other side rings).
		tone(freqs, at, dur, vol) {
			const ctx = this.ctx;
			const g = ctx.createGain();
			g.gain.setValueAtTime(0.0001, at);
			g.gain.exponentialRampToValueAtTime(vol, at + 0.04);
			g.gain.setValueAtTime(vol, at + dur - 0.05);
			g.gain.exponentialRampToValueAtTime(0.0001, at + dur);
			g.connect(this.master);
			for (const f of freqs) {
				const o = ctx.createOscillator();
				o.frequency.value = f;
				o.connect(g);
				o.start(at);
				o.stop(at + dur + 0.05);
			}
		},

		patterns: {
			// Incoming call: a rising four-note figure, twice, then a pause.
			ring: {
				period: 2.6,
				play(s, t) {
					const notes = [659.25, 830.61, 987.77, 1318.51];
					for (let rep = 0; rep < 2; rep++) {
						notes.forEach((f, i) => s.note(f, t + rep * 0.75 + i * 0.13, 0.42, 0.22));
					}
				},
			},
			// Outgoing call once the callee's device rings.
			ringback: {
				period: 4,
				play(s, t) { s.tone([440, 480], t, 1.4, 0.07); },
			},
			// Call waiting: two short beeps.
			waiting: {
				period: 3.5,
				play(s, t) {
					s.note(880, t, 0.18, 0.12);
					s.note(880, t + 0.28, 0.18, 0.12);
				},
			},
		},

		play(kind) {
			if (this.kind === kind) return;
			this.stop();
			this.unlock();
			if (!this.ctx) return;
			const p = this.patterns[kind];
			this.kind = kind;
			this.master = this.ctx.createGain();
			this.master.gain.value = 1;
			this.master.connect(this.ctx.destination);
			const run = () => {
				try { p.play(this, this.ctx.currentTime + 0.03); } catch (e) { /* no audio output */ }
			};
			run();
			this.timer = setInterval(run, p.period * 1000);
		},

		stop(kind) {
			if (kind && this.kind !== kind) return;
			clearInterval(this.timer);
			this.timer = null;
			if (this.master && this.ctx) {
				const m = this.master;
				try { m.gain.setTargetAtTime(0, this.ctx.currentTime, 0.015); } catch (e) { /* closed */ }
				setTimeout(() => m.disconnect(), 250);
			}
			this.master = null;
			this.kind = null;
		},
	};

	// ---------------------------------------------------------------- signalling

	class CallsError extends Error {
		constructor(code, message, request) {
			super(message);
			this.code = code;
			this.request = request;
		}
	}

	const ERROR_TEXT = {
		400: 'The request was not accepted',
		401: 'Not signed in, or the token was refused',
		403: 'Not allowed',
		404: 'That call is already over',
		409: 'Not possible right now',
		413: 'Too large',
		429: 'Too many requests, slow down',
		500: 'Server error',
		503: 'The service is unavailable',
	};

	// The warning box of a panel (<prefix>-alert, -alert-main, -alert-sub) for a failed read, or
// none: 503 (the server's database is away) gets its own words, anything else the error.
function showPanelAlert(prefix, err, failed, unavailableMain, unavailableSub) {
	const alert = $(prefix + '-alert');
	if (!err) {
		alert.hidden = true;
		alert.removeAttribute('data-code');
		return;
	}
	const unavailable = err instanceof CallsError && err.code === 503;
	$(prefix + '-alert-main').textContent = unavailable ? unavailableMain : failed;
	$(prefix + '-alert-sub').textContent = unavailable ? unavailableSub : errorText(err);
	alert.dataset.code = err instanceof CallsError ? String(err.code) : '0';
	alert.hidden = false;
}

function errorText(e) {
		if (e instanceof CallsError) {
			const base = ERROR_TEXT[e.code];
			return base ? base + (e.message ? ' (' + e.message + ')' : '') : e.message;
		}
		if (e && e.name === 'NotAllowedError') return 'Camera or microphone access was denied';
		if (e && (e.name === 'NotFoundError' || e.name === 'OverconstrainedError')) return 'No camera or microphone found';
		if (e && e.name === 'NotReadableError') return 'The camera or microphone is in use by another program';
		if (e && e.message) return e.message;
		return String(e || 'unknown error');
	}

	// The transaction of the message janus.js is sending (tap.out) and of the one it is
	// delivering right now (tap.in): both are set synchronously around janus.js's own code.
	const tap = { out: null, in: null };
	class TapSocket extends WebSocket {
		constructor(url, protocols) {
			super(url, protocols);
			this.addEventListener('message', (ev) => {
				tap.in = null;
				try {
					const j = JSON.parse(ev.data);
					tap.in = (j && j.transaction) || null;
				} catch (e) { /* janus.js reports it */ }
			});
		}
		send(data) {
			try {
				const j = JSON.parse(data);
				if (j && j.janus === 'message') tap.out = j.transaction;
			} catch (e) { /* not ours */ }
			return super.send(data);
		}
	}

	const REPLY_OF = {
		register: 'registered', unregister: 'unregistered', call: 'calling', accept: 'accepted',
		decline: 'declined', hangup: 'hungup', update: 'updated', media: 'media_set', call_info: 'call_info',
		history: 'history', history_seen: 'history_seen', history_delete: 'history_deleted',
		presence_subscribe: 'presence', presence_unsubscribe: 'presence_unsubscribed', privacy: 'privacy_set',
		contacts: 'contacts', contacts_add: 'contacts_added', contacts_remove: 'contacts_removed',
		group_call: 'group_calling', join: 'joined', leave: 'left', invite: 'invited', subscribe: 'subscribed',
	};
	// Whether Janus may still hold a PeerConnection (or ICE agent) for this handle: set when a JSEP
	// goes either way, cleared when Janus reports it gone (its `hangup`). A new offer sent before
	// that is refused by Janus ("Agent already exists"), and the late `hangup` would make janus.js
	// close the new local PeerConnection.
	const janusPc = { alive: false, waiters: [], goneAt: 0 };
	function janusPcGone() {
		janusPc.alive = false;
		janusPc.goneAt = Date.now();
		for (const w of janusPc.waiters.splice(0)) w();
	}
	function waitJanusPcGone(ms) {
		if (!janusPc.alive) return Promise.resolve(true);
		return new Promise((resolve) => {
			const done = () => { clearTimeout(t); resolve(true); };
			const t = setTimeout(() => {
				const i = janusPc.waiters.indexOf(done);
				if (i >= 0) janusPc.waiters.splice(i, 1);
				resolve(!janusPc.alive);
			}, ms);
			janusPc.waiters.push(done);
		});
	}

	const pending = new Map();   // transaction -> {body, resolve, reject, timer}
	const loose = [];            // requests whose transaction could not be seen (non-WebSocket transports)

	function settle(entry, data, jsep) {
		clearTimeout(entry.timer);
		if (data && data.calls === 'error') {
			entry.reject(new CallsError(data.error_code, data.error || 'error', data.request));
		} else {
			entry.resolve({ data: data || {}, jsep: jsep || null });
		}
	}

	// Sends a request on this device's handle, or on `handle` (a group call's subscriber handle).
	function request(body, jsep, handle) {
		return new Promise((resolve, reject) => {
			const h = handle || S.handle;
			if (!h) { reject(new CallsError(0, 'Not connected to the server')); return; }
			const entry = { body, resolve, reject, timer: null, tx: null, done: false };
			const drop = () => {
				if (entry.tx) pending.delete(entry.tx);
				const i = loose.indexOf(entry);
				if (i >= 0) loose.splice(i, 1);
			};
			entry.timer = setTimeout(() => {
				drop();
				reject(new CallsError(0, 'No reply from the server to ' + body.request));
			}, REPLY_TIMEOUT_MS);
			tap.out = null;
			if (jsep && h === S.handle) janusPc.alive = true;
			let failed = false;
			h.send({
				message: body,
				jsep: jsep || undefined,
				success: (data) => {
					// An `ack` gives no data (the reply follows as an event); a synchronous
					// `success` carries the reply itself.
					if (data) { drop(); settle(entry, data, null); }
				},
				error: (err) => {
					// Refused by Janus itself (not by the plugin), e.g. a JSEP it could not take.
					failed = true;
					drop();
					clearTimeout(entry.timer);
					const e = new CallsError(0, 'Could not send ' + body.request + ': ' + err);
					e.core = true;
					reject(e);
				},
			});
			if (failed) return;
			entry.tx = tap.out;
			if (entry.tx) pending.set(entry.tx, entry);
			else loose.push(entry);
		});
	}

	function rejectAllPending(why) {
		for (const e of pending.values()) { clearTimeout(e.timer); e.reject(new CallsError(0, why)); }
		pending.clear();
		for (const e of loose.splice(0)) { clearTimeout(e.timer); e.reject(new CallsError(0, why)); }
	}

	const debugLog = [];
	// A message from Janus for this device's handle, or (from = 'sub') for a group call's subscriber handle.
	function onMessage(data, jsep, from) {
		const tx = tap.in;
		const sub = from === 'sub';
		debugLog.push({ at: Date.now(), tx, data, jsep: jsep ? jsep.type : undefined, h: sub ? 'sub' : undefined });
		if (debugLog.length > 100) debugLog.shift();
		if (DEBUG) console.log('calls <-' + (sub ? ' (subscriber)' : ''), tx || '(event)', data, jsep);
		if (!data) return;
		if (jsep && !sub) janusPc.alive = true;
		if (tx) {
			const entry = pending.get(tx);
			if (entry) { pending.delete(tx); settle(entry, data, jsep); return; }
		}
		if (!tx && loose.length) {
			const i = loose.findIndex((e) => data.calls === REPLY_OF[e.body.request] ||
				(data.calls === 'error' && data.request === e.body.request));
			if (i >= 0 && !(data.calls === 'unregistered' && data.reason !== 'requested')) {
				settle(loose.splice(i, 1)[0], data, jsep);
				return;
			}
		}
		if (tx) {
			// A reply to a request given up on (timed out): nothing waits for it any more.
			if (DEBUG) console.warn('calls: late reply', data);
			return;
		}
		if (sub) Group.onSubscriberEvent(data, jsep);
		else onNotification(data, jsep);
	}

	let janusReady = null;
	function initJanus() {
		if (!janusReady) {
			janusReady = new Promise((resolve, reject) => {
				if (typeof Janus === 'undefined') { reject(new Error('janus.js did not load')); return; }
				Janus.init({
					debug: DEBUG ? 'all' : false,
					dependencies: Janus.useDefaultDependencies({ WebSocket: TapSocket }),
					callback: resolve,
				});
			});
		}
		return janusReady;
	}

	function connect() {
		if (S.handle) return Promise.resolve();
		if (S.connecting) return S.connecting;
		S.connecting = initJanus().then(() => new Promise((resolve, reject) => {
			let up = false;
			const janus = new Janus({
				server: SERVER,
				iceServers: S.iceServers,
				destroyOnUnload: true,
				success: () => {
					janus.attach({
						plugin: PLUGIN,
						opaqueId: 'calls-web-' + Janus.randomString(10),
						success: (h) => {
							up = true;
							S.janus = janus;
							S.handle = h;
							resolve();
						},
						error: (err) => {
							janus.destroy({ notifyDestroyed: false });
							reject(new Error('The calls service is not available on this server (' + err + ')'));
						},
						onmessage: onMessage,
						onlocaltrack: onLocalTrack,
						onremotetrack: onRemoteTrack,
						oncleanup: onCleanup,
						webrtcState: onWebrtcState,
						iceState: onIceState,
						ondetached: () => onConnectionLost('The server closed this device'),
					});
				},
				error: (err) => {
					if (!up) { reject(new Error("Can't reach the server at " + SERVER + ' (' + err + ')')); return; }
					onConnectionLost('Lost the connection to the server');
				},
				destroyed: () => { if (up && S.janus === janus) onConnectionLost('Disconnected from the server'); },
			});
		})).finally(() => { S.connecting = null; });
		return S.connecting;
	}

	function onConnectionLost(why) {
		const janus = S.janus;
		S.janus = null;
		S.handle = null;
		janusPcGone();
		rejectAllPending(why);
		if (janus) { try { janus.destroy({ notifyDestroyed: false, cleanupHandles: false }); } catch (e) { /* gone */ } }
		resetMedia();
		if (S.call) endCall(S.call, { text: why, kind: 'error', reason: 'disconnected', outcome: 'failed' }, { quiet: true });
		clearWaiting();
		resetHistory();
		resetContacts();
		if (S.me) {
			S.me = null;
			signinError(why + '. Sign in again to reconnect.');
			show('signin');
		}
	}

	// ---------------------------------------------------------------- media (janus.js callbacks)

	function peer() {
		return S.handle && S.handle.webrtcStuff ? S.handle.webrtcStuff.pc : null;
	}

	function onLocalTrack(track, on) {
		if (on) media.local.set(track.id, track);
		else media.local.delete(track.id);
		attachLocal();
		render();
	}

	function onRemoteTrack(track, mid, on) {
		if (on) media.remote.set(mid, track);
		else if (media.remote.get(mid) === track || !media.remote.has(mid)) media.remote.delete(mid);
		attachRemote();
		render();
	}

	function onCleanup() {
		media.local.clear();
		media.remote.clear();
		attachLocal();
		attachRemote();
		if (S.call) S.call.mediaUp = false;
		render();
	}

	function onWebrtcState(on) {
		if (!on) janusPcGone();   // janus.js reports Janus's `hangup` this way
		const c = S.call;
		if (!c) return;
		c.mediaUp = !!on;
		render();
	}

	let lastIceRestart = 0;
	function onIceState(state) {
		const c = S.call;
		if (!c || c.state !== 'active' || state !== 'failed') return;
		// Ask for an ICE restart through `update` while the server keeps the call for ice_grace.
		// The other side answers a one-to-one call's offer (`update` event); a group call's
		// publisher gets the plugin's answer with `updated`.
		if (Date.now() - lastIceRestart < 5000 || c.renegotiating) return;
		lastIceRestart = Date.now();
		c.renegotiating = true;
		createOffer({ iceRestart: true })
			.then((jsep) => request({ request: 'update', call_id: c.id }, jsep))
			.then(({ jsep }) => { if (c.kind === 'group' && jsep && S.call === c) return applyRemoteJsep(jsep); })
			.catch((e) => { if (DEBUG) console.warn('ICE restart failed', e); })
			.finally(() => { c.renegotiating = false; });
	}

	function localVideoTrack() {
		for (const t of media.local.values()) if (t.kind === 'video' && t.readyState === 'live') return t;
		return null;
	}

	function remoteVideoTrack() {
		for (const t of media.remote.values()) if (t.kind === 'video' && t.readyState === 'live') return t;
		return null;
	}

	function setStream(el, tracks) {
		const cur = el.srcObject ? el.srcObject.getTracks() : [];
		if (cur.length === tracks.length && tracks.every((t) => cur.includes(t))) return;
		el.srcObject = tracks.length ? new MediaStream(tracks) : null;
		if (tracks.length) {
			const p = el.play();
			if (p && p.catch) p.catch(() => { /* autoplay refused: starts on the next gesture */ });
		}
	}

	function attachLocal() {
		const v = localVideoTrack();
		setStream($('local-video'), v ? [v] : []);
		setStream($('outgoing-preview'), v ? [v] : []);
	}

	function attachRemote() {
		const audio = [], video = [];
		for (const t of media.remote.values()) {
			if (t.readyState !== 'live') continue;
			(t.kind === 'audio' ? audio : video).push(t);
		}
		setStream($('remote-audio'), audio);
		setStream($('remote-video'), video.slice(0, 1));
	}

	function resetMedia() {
		media.local.clear();
		media.remote.clear();
		attachLocal();
		attachRemote();
	}

	// Closes this device's PeerConnection. When a call ends through the plugin, the plugin closes
	// Janus's side itself, and may at once offer a waiting call on this handle: a Janus `hangup`
	// from here would tear that new negotiation down. Only after a failure that the plugin may not
	// have seen (tellJanus) is Janus asked to drop its side too.
	function closePeer(tellJanus) {
		if (!S.handle) return;
		const had = !!peer();
		try { S.handle.hangup(!!tellJanus && had); } catch (e) { /* already gone */ }
		resetMedia();
	}

	// Before a new offer: waits for Janus to finish closing the previous PeerConnection (the
	// plugin closes it when a call ends); if that does not come, asks Janus to close it.
	async function janusSideClosed() {
		if (janusPc.alive && !await waitJanusPcGone(3000)) {
			try { S.handle.hangup(true); } catch (e) { /* gone */ }
			await waitJanusPcGone(2000);
			janusPcGone();
		}
		// Janus reports the hangup a little before its ICE agent is fully closed.
		const wait = janusPc.goneAt + 250 - Date.now();
		if (wait > 0) await sleep(wait);
	}

	function sleep(ms) {
		return new Promise((resolve) => setTimeout(resolve, ms));
	}

	function tracksFor(video) {
		const t = [{ type: 'audio', capture: true, recv: true }];
		if (video) t.push({ type: 'video', capture: true, recv: true });
		return t;
	}

	function createOffer(opts) {
		return new Promise((resolve, reject) => {
			if (!S.handle) { reject(new Error('Not connected')); return; }
			S.handle.createOffer(Object.assign({}, opts, { success: resolve, error: reject }));
		});
	}

	function createAnswer(jsep, tracks) {
		return new Promise((resolve, reject) => {
			if (!S.handle) { reject(new Error('Not connected')); return; }
			const opts = { jsep, success: resolve, error: reject };
			if (tracks) opts.tracks = tracks;
			S.handle.createAnswer(opts);
		});
	}

	function applyRemoteJsep(jsep) {
		return new Promise((resolve, reject) => {
			if (!S.handle) { reject(new Error('Not connected')); return; }
			S.handle.handleRemoteJsep({ jsep, success: resolve, error: reject });
		});
	}

	// ---------------------------------------------------------------- sign in / out

	function deviceId() {
		let d = null;
		try { d = sessionStorage.getItem('calls.device'); } catch (e) { /* storage off */ }
		if (!d || !/^[A-Za-z0-9_-]{1,64}$/.test(d)) {
			d = 'web-' + Janus.randomString(12).replace(/[^A-Za-z0-9]/g, 'x');
			try { sessionStorage.setItem('calls.device', d); } catch (e) { /* storage off */ }
		}
		return d;
	}

	function signinError(text) {
		const e = $('signin-error');
		e.textContent = text || '';
		e.hidden = !text;
	}

	async function signIn(ev) {
		ev.preventDefault();
		Sound.unlock();
		signinError('');
		const user = $('signin-user').value.trim();
		const display = $('signin-display').value.trim();
		const token = $('signin-token').value.trim();
		let body;
		if (AUTH === 'jwt') {
			if (!token) { signinError('Paste your access token.'); $('signin-token').focus(); return; }
			body = { request: 'register', token };
		} else {
			if (!USER_RE.test(user)) {
				$('signin-user').setAttribute('aria-invalid', 'true');
				signinError('A user id is 1 to 64 letters, digits or _ . @ + -');
				$('signin-user').focus();
				return;
			}
			$('signin-user').removeAttribute('aria-invalid');
			body = { request: 'register', user };
			if (display) body.display = display;
		}
		const btn = $('signin-submit');
		btn.disabled = true;
		btn.textContent = 'Signing in…';
		try {
			await initJanus();
			body.device = deviceId();
			await connect();
			const { data } = await request(body);
			S.me = { user: data.user, display: data.display || data.user, device: data.device };
			try {
				if (data.device) sessionStorage.setItem('calls.device', data.device);
				if (AUTH === 'none') localStorage.setItem('calls.last', JSON.stringify({ user, display }));
			} catch (e) { /* storage off */ }
			S.iceServers.splice(0, S.iceServers.length, ...(Array.isArray(data.ice_servers) ? data.ice_servers : []));
			loadRecent();
			resetHistory();
			resetContacts();
			K.privacy = PRIVACY_VALUES.includes(data.privacy) ? data.privacy : 'everyone';
			renderPrivacy();
			setMissed(data.missed_calls);
			enterHome();
			// Contacts and their presence are kept up to date from now on, whichever tab shows.
			loadContacts();
			Group.afterSignIn();
			if (data.missed_calls > 0) {
				notice({ text: 'You missed ' + data.missed_calls + (data.missed_calls === 1 ? ' call' : ' calls') + ' while away',
					kind: 'warn', reason: 'missed_calls' });
			}
		} catch (e) {
			signinError(e instanceof CallsError && e.code === 401 ? 'Sign-in refused: ' + (e.message || 'bad token')
				: errorText(e));
		} finally {
			btn.disabled = false;
			btn.textContent = 'Sign in';
		}
	}

	function enterHome() {
		paintAvatar($('home-avatar'), S.me.user, S.me.display);
		$('home-display').textContent = S.me.display;
		$('home-user').textContent = S.me.user + (S.me.device ? ' · ' + S.me.device : '');
		notice(null);
		renderRecent();
		show('home');
		showTab('dial');
		setTimeout(() => $('call-to').focus(), 0);
	}

	async function signOut() {
		if (S.call) await hangup();
		clearWaiting();
		try { await request({ request: 'unregister' }); } catch (e) { /* leaving anyway */ }
		S.me = null;
		resetHistory();
		resetContacts();
		show('signin');
	}

	function onUnregistered(d) {
		if (!S.me) return;
		if (S.call) endCall(S.call, null, { quiet: true });
		clearWaiting();
		resetHistory();
		resetContacts();
		S.me = null;
		const why = {
			replaced: 'You signed in again as this device somewhere else.',
			kicked: 'You were signed out by an administrator.',
		}[d.reason] || 'You were signed out (' + (d.reason || 'unknown reason') + ').';
		signinError(why);
		show('signin');
	}

	// ---------------------------------------------------------------- notifications

	function onNotification(d, jsep) {
		switch (d.calls) {
		case 'incoming_call': onIncoming(d, jsep); break;
		case 'ringing': onRinging(d); break;
		case 'accepted': onAccepted(d, jsep); break;
		case 'ended': onEnded(d); break;
		case 'update': onUpdate(d, jsep); break;
		case 'media_state': onMediaState(d); break;
		case 'participant_joined': case 'participant_left': case 'talking': Group.onEvent(d); break;
		case 'unregistered': onUnregistered(d); break;
		case 'missed_calls': setMissed(d.count); break;
		case 'presence': applyPresence(d.users); break;
		case 'error': toast(errorText(new CallsError(d.error_code, d.error)), 'error'); break;
		default: if (DEBUG) console.log('calls: unhandled', d);
		}
	}

	function onIncoming(d, jsep) {
		if (!d.call_id) return;
		const info = {
			id: d.call_id, peer: d.from || '', display: d.display || d.from || 'Unknown',
			video: !!d.video, jsep: jsep || null,
		};
		if (d.group && typeof d.group === 'object') Object.assign(info, Group.ringInfo(d));
		const c = S.call;
		// Joining a group call by its link: until the server names the call, a ring may be for it.
		if (c && c.kind === 'group' && Group.holdRing(c, d, jsep)) return;
		if (c && c.id === info.id) {
			if (c.kind === 'group') return;   // rung again (invited again): the same call
			// The same call again: after "end & accept", now with its offer.
			if (jsep) c.jsep = jsep;
			if (c.state === 'awaiting-offer' && c.jsep) acceptCall(c);
			return;
		}
		if (c) {
			// Busy here: call waiting.
			const had = S.waiting.get(info.id);
			if (had && !info.jsep) info.jsep = had.jsep;
			S.waiting.set(info.id, info);
			renderWaiting();
			if (c.state !== 'incoming') Sound.play('waiting');
			return;
		}
		// Idle here: ring. The server may still mark it `waiting` (without its offer) while it
		// sees this device's previous PeerConnection as not yet closed; it sends the offer again
		// once it is, and an accept pressed before that waits for it (see acceptCall).
		const had = S.waiting.get(info.id);
		if (had && !info.jsep) info.jsep = had.jsep;
		S.waiting.delete(info.id);
		renderWaiting();
		S.call = (info.kind === 'group' ? Group.newCall : newCall)(Object.assign({}, info, { dir: 'in', state: 'incoming' }));
		showIncoming(S.call);
		Sound.play('ring');
	}

	function onRinging(d) {
		const c = S.call;
		if (c && c.kind === 'group' && c.id === d.call_id) { Group.onRinging(c); return; }
		if (!c || c.id !== d.call_id || c.dir !== 'out' || c.state !== 'calling') return;
		c.state = 'ringing';
		$('outgoing-status').textContent = 'Ringing…';
		Sound.play('ringback');
	}

	async function onAccepted(d, jsep) {
		const c = S.call;
		if (!c || c.id !== d.call_id || c.dir !== 'out') return;
		if (c.state !== 'calling' && c.state !== 'ringing') return;
		Sound.stop();
		c.state = 'answering';
		showIncall(c);
		try {
			if (jsep) await applyRemoteJsep(jsep);
			if (S.call === c) markActive(c);
		} catch (e) {
			if (S.call !== c) return;
			toast('Could not connect the call: ' + errorText(e), 'error');
			hangup();
		}
	}

	function onUpdate(d, jsep) {
		const c = S.call;
		if (!c || c.id !== d.call_id || !jsep) return;
		if (jsep.type === 'offer') {
			// The other side renegotiates (turns video on, restarts ICE): answer with what we send now.
			createAnswer(jsep, null)
				.then((answer) => request({ request: 'update', call_id: c.id }, answer))
				.catch((e) => toast('Could not update the call: ' + errorText(e), 'error'))
				.finally(render);
		} else {
			applyRemoteJsep(jsep).catch((e) => toast('Could not update the call: ' + errorText(e), 'error'));
		}
	}

	function onMediaState(d) {
		const c = S.call;
		if (!c || c.id !== d.call_id) return;
		if (c.kind === 'group') { Group.onEvent(d); return; }
		if (typeof d.audio === 'boolean') c.remoteAudio = d.audio;
		if (typeof d.video === 'boolean') c.remoteVideo = d.video;
		render();
	}

	const ENDED = {
		hangup: (n) => ({ text: n + ' ended the call', kind: '', outcome: 'answered' }),
		cancelled: (n, c) => ({ text: 'Missed ' + kindText(c.video) + ' from ' + n, sub: n + ' hung up before you answered.', kind: 'warn', outcome: 'missed' }),
		missed: (n, c) => ({ text: 'Missed ' + kindText(c.video) + ' from ' + n, kind: 'warn', outcome: 'missed' }),
		declined: (n) => ({ text: n + ' declined the call', kind: 'warn', outcome: 'declined' }),
		busy: (n) => ({ text: n + ' is busy on another call', sub: 'Try again later.', kind: 'warn', outcome: 'busy' }),
		no_answer: (n) => ({ text: n + " didn't answer", kind: 'warn', outcome: 'no_answer' }),
		unavailable: (n) => ({ text: n + ' is unavailable', sub: 'They are not signed in on any device right now.', kind: 'warn', outcome: 'unavailable' }),
		answered_elsewhere: () => ({ text: 'Answered on another device', kind: '', outcome: 'answered' }),
		declined_elsewhere: () => ({ text: 'Declined on another device', kind: '', outcome: 'declined' }),
		failed: (n) => ({ text: 'The call with ' + n + ' dropped', sub: 'The connection was lost.', kind: 'error', outcome: 'failed' }),
		kicked: () => ({ text: 'The call was ended by an administrator', kind: 'error', outcome: 'failed' }),
		server_shutdown: () => ({ text: 'The call ended: the server is shutting down', kind: 'error', outcome: 'failed' }),
	};

	function onEnded(d) {
		Group.dropHeldRing(d.call_id);
		const w = S.waiting.get(d.call_id);
		if (w) {
			S.waiting.delete(d.call_id);
			renderWaiting();
			if (d.reason === 'cancelled' || d.reason === 'missed') {
				addRecent({ peer: w.peer, display: w.display, video: w.video, dir: 'in', outcome: 'missed' });
				toast('Missed ' + kindText(w.video) + ' from ' + w.display);
				missedCall();
			}
			historyChanged();
			return;
		}
		const c = S.call;
		if (!c || c.id !== d.call_id) return;
		if (c.kind === 'group') { Group.onEnded(c, d); return; }
		const name = c.display || c.peer;
		const make = ENDED[d.reason];
		const msg = make ? make(name, c) : { text: 'Call ended (' + (d.reason || 'unknown') + ')', kind: 'warn', outcome: 'failed' };
		msg.reason = d.reason || 'unknown';
		const secs = typeof d.duration === 'number' ? d.duration : (c.answeredAt ? (Date.now() - c.answeredAt) / 1000 : null);
		if (secs !== null && (c.answeredAt || typeof d.duration === 'number') && msg.outcome === 'answered') {
			msg.sub = 'Duration ' + fmtDuration(secs);
			msg.duration = secs;
		}
		// This device rang and nobody answered here or elsewhere: one more missed call.
		const missed = c.dir === 'in' && !c.answeredAt && (d.reason === 'missed' || d.reason === 'cancelled');
		endCall(c, msg);
		if (missed) missedCall();
	}

	// ---------------------------------------------------------------- call actions

	// display: the callee's name when known (a contact), shown until the server tells it.
	async function startCall(to, video, display) {
		if (!S.me || S.call) return;
		Sound.unlock();
		const input = $('call-to');
		if (!USER_RE.test(to)) {
			input.setAttribute('aria-invalid', 'true');
			toast('Type a user id: 1 to 64 letters, digits or _ . @ + -', 'error');
			input.focus();
			return;
		}
		input.removeAttribute('aria-invalid');
		if (to === S.me.user) { toast("That's you. Call someone else."); return; }
		notice(null);
		const c = S.call = newCall({ peer: to, display: display || to, video, dir: 'out', state: 'starting' });
		showOutgoing(c);
		try {
			let data = null;
			for (let attempt = 1; !data; attempt++) {
				await janusSideClosed();
				if (S.call !== c) return;
				const jsep = await createOffer({ tracks: tracksFor(video) });
				if (S.call !== c) { if (!S.call) closePeer(); return; }
				try {
					data = (await request({ request: 'call', to, video }, jsep)).data;
				} catch (e) {
					// Janus may refuse a new offer while it still closes the previous
					// PeerConnection ("Agent already exists"): once more, a moment later.
					if (!(e.core && attempt === 1)) throw e;
					closePeer();
					await sleep(600);
					janusPcGone();
				}
			}
			if (S.call !== c) {
				// Cancelled while the server was setting it up: cancel it there too.
				request({ request: 'hangup', call_id: data.call_id }).catch(() => {});
				return;
			}
			c.id = data.call_id;
			c.state = 'calling';
		} catch (e) {
			if (S.call !== c) return;
			endCall(c, { text: "Couldn't call " + to, sub: errorText(e), kind: 'error', reason: 'error', outcome: 'failed' },
				{ tellJanus: true });
		}
	}

	async function acceptCall(c) {
		if (!c || S.call !== c) return;
		if (c.kind === 'group') { Group.joinFromRing(c); return; }
		if (c.state !== 'incoming' && c.state !== 'awaiting-offer') return;
		Sound.stop();
		clearTimeout(c.offerTimer);
		if (!c.jsep) {
			c.state = 'awaiting-offer';
			showIncall(c);
			waitForOffer(c);
			return;
		}
		c.state = 'answering';
		showIncall(c);
		if (peer()) closePeer();   // an older PeerConnection must not be reused
		try {
			const answer = await createAnswer(c.jsep, tracksFor(c.video));
			if (S.call !== c) { if (!S.call) closePeer(); return; }
			await request({ request: 'accept', call_id: c.id }, answer);
			if (S.call !== c) return;
			markActive(c);
		} catch (e) {
			if (S.call !== c) return;
			if (!(e instanceof CallsError)) {
				// Could not capture or answer: stop this call ringing here.
				request({ request: 'decline', call_id: c.id }).catch(() => {});
			}
			endCall(c, { text: "Couldn't answer the call", sub: errorText(e), kind: 'error', reason: 'error', outcome: 'failed' },
				{ tellJanus: true });
		}
	}

	function markActive(c) {
		c.state = 'active';
		c.answeredAt = Date.now();
		startTimer();
		render();
		updateTitle();
	}

	async function decline(reason) {
		const c = S.call;
		if (!c || c.dir !== 'in' || c.state !== 'incoming' || c.ending) return;
		c.ending = true;
		Sound.stop();
		const body = { request: 'decline', call_id: c.id };
		if (reason) body.reason = reason;
		try { await request(body); } catch (e) { /* over already */ }
		if (S.call === c) {
			endCall(c, { text: c.kind === 'group' ? 'You declined ' + Group.phrase(c) + ' from ' + c.display
				: 'You declined the call from ' + (c.display || c.peer), kind: '', reason: 'declined', outcome: 'declined' });
		}
	}

	// Ends the current call from this side: cancel (caller, before an answer), decline
	// (callee, before answering) or hang up.
	async function hangup(opts) {
		const c = S.call;
		if (!c || (c.ending && !(opts && opts.force))) return;
		if (c.dir === 'in' && c.state === 'incoming') { await decline(); return; }
		if (c.kind === 'group') { await Group.leave(c, opts); return; }
		c.ending = true;
		Sound.stop();
		const answered = !!c.answeredAt;
		if (c.id && c.state !== 'awaiting-offer') {
			try { await request({ request: 'hangup', call_id: c.id }); } catch (e) { /* over already */ }
		} else if (c.id) {
			try { await request({ request: 'decline', call_id: c.id }); } catch (e) { /* over already */ }
		}
		if (S.call !== c) return;
		const name = c.display || c.peer;
		if (answered) {
			const secs = (Date.now() - c.answeredAt) / 1000;
			endCall(c, { text: 'Call with ' + name + ' ended', sub: 'Duration ' + fmtDuration(secs), kind: '',
				reason: 'hangup', outcome: 'answered', duration: secs }, opts);
		} else {
			endCall(c, { text: 'Call cancelled', kind: '', reason: 'cancelled', outcome: c.dir === 'out' ? 'cancelled' : 'declined' }, opts);
		}
	}

	// Forgets the call locally: sounds, timer, PeerConnection, screen.
	function endCall(c, msg, opts) {
		if (S.call !== c) return;
		S.call = null;
		clearTimeout(c.offerTimer);
		stopTimer();
		Sound.stop();
		closePeer(opts && opts.tellJanus);
		if (c.kind === 'group') Group.cleanup(c);
		else if (msg && msg.outcome) {
			addRecent({ peer: c.peer, display: c.display, video: c.video, dir: c.dir, outcome: msg.outcome, duration: msg.duration });
		}
		// A call still waiting stays in its banner: the server rings it again, with its
		// offer, once this call is over (then it shows as an ordinary incoming call).
		renderWaiting();
		historyChanged();
		renderContacts();   // its call buttons work again
		if (opts && opts.quiet) return;
		if (S.me) {
			show('home');
			notice(msg);
			renderRecent();
		}
		updateTitle();
	}

	async function toggleMute() {
		const c = S.call;
		if (!c || !S.handle) return;
		c.muted = !c.muted;
		if (c.muted) S.handle.muteAudio(); else S.handle.unmuteAudio();
		render();
		sendMediaState(c);
	}

	async function toggleCamera() {
		const c = S.call;
		if (!c || !S.handle) return;
		if (!localVideoTrack()) { turnVideoOn(); return; }
		c.camOff = !c.camOff;
		if (c.camOff) S.handle.muteVideo(); else S.handle.unmuteVideo();
		render();
		sendMediaState(c);
	}

	function toggleMuteGroup() {
		const c = S.call;
		if (c && c.kind === 'group' && c.state === 'active') toggleMute();
	}

	function toggleCameraGroup() {
		const c = S.call;
		// The publisher's PeerConnection is not renegotiated: only a camera it sends can go off and on.
		if (c && c.kind === 'group' && c.state === 'active' && localVideoTrack()) toggleCamera();
	}

	function sendMediaState(c) {
		if (!c.id || c.state !== 'active') return;
		const body = { request: 'media', call_id: c.id, audio: !c.muted, video: !!localVideoTrack() && !c.camOff };
		request(body).catch((e) => { if (DEBUG) console.warn('media', e); });
	}

	// Voice call -> video: add (or start sending on) a video track and renegotiate with `update`.
	async function turnVideoOn() {
		const c = S.call;
		if (!c || c.state !== 'active' || c.renegotiating || !peer()) return;
		c.renegotiating = true;
		render();
		try {
			const pc = peer();
			const hasVideo = pc.getTransceivers().some((t) => !t.stopped && t.receiver && t.receiver.track &&
				t.receiver.track.kind === 'video');
			const track = { type: 'video', capture: true, recv: true };
			if (hasVideo) track.replace = true; else track.add = true;
			const jsep = await createOffer({ tracks: [track] });
			if (S.call !== c) return;
			await request({ request: 'update', call_id: c.id }, jsep);
			c.video = true;
			c.camOff = false;
			sendMediaState(c);
		} catch (e) {
			if (S.call === c) toast("Couldn't turn on video: " + errorText(e), 'error');
		} finally {
			c.renegotiating = false;
			render();
		}
	}

	// ---------------------------------------------------------------- call waiting

	function latestWaiting() {
		let w = null;
		for (const v of S.waiting.values()) w = v;
		return w;
	}

	function renderWaiting() {
		const w = latestWaiting();
		const b = $('waiting-banner');
		if (!w) {
			b.hidden = true;
			Sound.stop('waiting');
			if (!S.call) Sound.stop('ring');
			return;
		}
		b.dataset.callId = w.id;
		if (w.kind === 'group') {
			paintAvatar($('waiting-avatar'), w.id, Group.name(w));
			$('waiting-name').textContent = Group.name(w);
			$('waiting-kind').textContent = (w.video ? 'Group video call' : 'Group voice call') + ' waiting · from ' + w.display;
			$('btn-waiting-accept').textContent = S.call ? 'End & join' : 'Join';
			b.hidden = false;
			return;
		}
		paintAvatar($('waiting-avatar'), w.peer, w.display);
		$('waiting-name').textContent = w.display;
		$('waiting-kind').textContent = (w.video ? 'Video' : 'Voice') + ' call waiting' + (w.peer && w.peer !== w.display ? ' · ' + w.peer : '');
		$('btn-waiting-accept').textContent = S.call ? 'End & accept' : 'Accept';
		b.hidden = false;
	}

	function clearWaiting() {
		S.waiting.clear();
		renderWaiting();
	}

	async function declineWaiting() {
		const w = latestWaiting();
		if (!w) return;
		S.waiting.delete(w.id);
		renderWaiting();
		const body = { request: 'decline', call_id: w.id };
		if (S.call) body.reason = 'busy';
		try { await request(body); } catch (e) { /* over already */ }
		addRecent({ peer: w.peer, display: w.display, video: w.video, dir: 'in', outcome: 'declined' });
		historyChanged();
		if (!S.waiting.size && !S.call) Sound.stop();
	}

	async function endAndAccept() {
		const w = latestWaiting();
		if (!w) return;
		S.waiting.delete(w.id);
		renderWaiting();
		Sound.stop();
		if (S.call) await hangup({ quiet: true, force: true });
		if (w.kind === 'group') { Group.joinWaiting(w); return; }
		// Whatever else still waits rings again after this; only the chosen one is answered.
		const c = S.call = newCall({ id: w.id, peer: w.peer, display: w.display, video: w.video, dir: 'in',
			state: 'awaiting-offer', jsep: w.jsep });
		acceptCall(c);
	}

	// The server sends a waiting call's offer once this device's old PeerConnection is down.
	function waitForOffer(c) {
		clearTimeout(c.offerTimer);
		c.offerTimer = setTimeout(() => {
			if (S.call === c && c.state === 'awaiting-offer') {
				request({ request: 'decline', call_id: c.id }).catch(() => {});
				endCall(c, { text: 'The call from ' + (c.display || c.peer) + ' could not be answered',
					sub: 'It did not come through in time.', kind: 'error', reason: 'error', outcome: 'failed' });
			}
		}, OFFER_WAIT_MS);
	}

	// ---------------------------------------------------------------- screens

	function showOutgoing(c) {
		paintAvatar($('outgoing-avatar'), c.peer, c.display);
		$('outgoing-name').textContent = c.display;
		$('outgoing-status').textContent = 'Calling…';
		$('outgoing-kind').textContent = c.video ? 'Video call' : 'Voice call';
		$('btn-cancel').disabled = false;
		render();
		show('outgoing');
	}

	function showIncoming(c) {
		$('incoming-kind').dataset.video = c.video ? 'true' : 'false';
		$('incoming-kind').dataset.group = c.kind === 'group' ? 'true' : 'false';
		$('btn-accept').querySelector('use').setAttribute('href', c.video ? '#i-video' : '#i-phone');
		$('btn-accept').disabled = false;
		$('btn-decline').disabled = false;
		if (c.kind === 'group') {
			Group.showRing(c);
		} else {
			paintAvatar($('incoming-avatar'), c.peer, c.display);
			$('incoming-name').textContent = c.display;
			$('incoming-user').textContent = c.peer !== c.display ? c.peer : '';
			$('incoming-kind').textContent = c.video ? 'Incoming video call' : 'Incoming voice call';
			$('incoming-members').hidden = true;
			$('accept-label').textContent = 'Accept';
			$('btn-accept').setAttribute('aria-label', 'Accept');
			$('btn-accept').title = 'Accept';
		}
		show('incoming');
	}

	function showIncall(c) {
		paintAvatar($('incall-avatar'), c.peer, c.display);
		$('incall-name').textContent = c.display;
		render();
		show('incall');
	}

	function render() {
		const c = S.call;
		const scr = $('screen-incall');
		if (!c || c.kind === 'group') {
			scr.dataset.remoteVideo = 'off';
			scr.dataset.localVideo = 'off';
			if (c) Group.render();
			return;
		}
		const lv = localVideoTrack();
		const rv = remoteVideoTrack();
		scr.dataset.remoteVideo = rv && c.remoteVideo !== false ? 'on' : 'off';
		scr.dataset.localVideo = lv ? (c.camOff ? 'muted' : 'on') : 'off';
		$('outgoing-preview').hidden = !(lv && c.video);
		const mute = $('btn-mute');
		mute.setAttribute('aria-pressed', String(c.muted));
		mute.setAttribute('aria-label', c.muted ? 'Unmute' : 'Mute');
		const cam = $('btn-camera');
		cam.hidden = !lv;
		cam.setAttribute('aria-pressed', String(c.camOff));
		cam.setAttribute('aria-label', c.camOff ? 'Turn camera on' : 'Turn camera off');
		const von = $('btn-video-on');
		von.hidden = !!lv;
		von.disabled = c.renegotiating || c.state !== 'active';
		const flags = [];
		if (c.state === 'active') {
			if (c.remoteAudio === false) flags.push((c.display || c.peer) + ' is muted');
			if (c.remoteVideo === false && rv) flags.push('Camera off');
		}
		$('remote-flags').textContent = flags.join(' · ');
		$('remote-flags').hidden = !flags.length;
		updateTimer();
	}

	function updateTimer() {
		const c = S.call;
		const t = $('call-timer');
		if (!c) return;
		if (c.kind === 'group') { Group.updateStatus(); return; }
		if (c.state === 'active' && c.mediaUp) {
			t.textContent = fmtDuration((Date.now() - c.answeredAt) / 1000);
			t.dataset.running = 'true';
		} else if (c.state === 'active' && c.answeredAt && Date.now() - c.answeredAt > 4000) {
			t.textContent = 'Reconnecting…';
			t.dataset.running = 'false';
		} else {
			t.textContent = 'Connecting…';
			t.dataset.running = 'false';
		}
	}

	function startTimer() {
		stopTimer();
		S.timer = setInterval(updateTimer, 500);
		updateTimer();
	}

	function stopTimer() {
		clearInterval(S.timer);
		S.timer = null;
	}

	// ---------------------------------------------------------------- recent calls (this browser only)

	const OUTCOME_TEXT = {
		missed: 'Missed', declined: 'Declined', cancelled: 'Cancelled', no_answer: 'No answer', busy: 'Busy',
		unavailable: 'Unavailable', failed: 'Failed',
	};

	function recentKey() { return S.me ? 'calls.recent.' + S.me.user : null; }

	function loadRecent() {
		S.recent = [];
		try {
			const v = JSON.parse(localStorage.getItem(recentKey()) || '[]');
			if (Array.isArray(v)) S.recent = v.slice(0, 8);
		} catch (e) { /* none */ }
	}

	function addRecent(r) {
		if (!S.me || !r.peer) return;
		r.at = Date.now();
		S.recent.unshift(r);
		S.recent = S.recent.slice(0, 8);
		try { localStorage.setItem(recentKey(), JSON.stringify(S.recent)); } catch (e) { /* storage off */ }
	}

	function renderRecent() {
		const list = $('recent-list');
		list.textContent = '';
		$('recent').hidden = !S.recent.length;
		for (const r of S.recent) {
			const li = document.createElement('li');
			const b = document.createElement('button');
			b.type = 'button';
			b.title = 'Call ' + r.display + ' again';
			b.dataset.peer = r.peer;
			const bad = r.outcome === 'missed' || r.outcome === 'failed';
			if (bad) b.className = 'r-bad';
			const av = document.createElement('span');
			av.className = 'avatar avatar-sm';
			paintAvatar(av, r.peer, r.display);
			const text = document.createElement('span');
			text.className = 'r-text';
			const name = document.createElement('span');
			name.className = 'r-name';
			name.textContent = r.display || r.peer;
			const sub = document.createElement('span');
			sub.className = 'r-sub';
			sub.innerHTML = '<svg><use href="#' + (r.dir === 'in' ? 'i-in' : 'i-out') + '"/></svg>';
			const when = fmtWhen(new Date(r.at).toISOString());
			const what = r.outcome === 'answered' ? (typeof r.duration === 'number' ? fmtLength(r.duration) : 'Answered')
				: (OUTCOME_TEXT[r.outcome] || r.outcome);
			sub.append(document.createTextNode(when + ' · ' + what));
			text.append(name, sub);
			const kind = document.createElement('span');
			kind.className = 'r-kind';
			kind.innerHTML = '<svg><use href="#' + (r.video ? 'i-video' : 'i-phone') + '"/></svg>';
			b.append(av, text, kind);
			b.addEventListener('click', () => {
				$('call-to').value = r.peer;
				startCall(r.peer, !!r.video);
			});
			li.append(b);
			list.append(li);
		}
	}

	// ---------------------------------------------------------------- tabs, missed-calls badge

	const TABS = ['dial', 'contacts', 'calls'];

	function showTab(name) {
		S.tab = TABS.includes(name) ? name : 'dial';
		for (const t of document.querySelectorAll('.tabs .tab')) {
			const on = t.dataset.tab === S.tab;
			t.setAttribute('aria-selected', String(on));
			t.tabIndex = on ? 0 : -1;
			$('panel-' + t.dataset.tab).hidden = !on;
		}
		document.body.dataset.tab = S.tab;
		if (S.tab === 'contacts') {
			if (!K.loading && (!K.loaded || K.error || Date.now() - K.loadedAt > 30000)) loadContacts();
			else renderContacts();
			return;
		}
		if (S.tab !== 'calls') return;
		// Opening the tab is seeing the missed calls, on every device of this user.
		markSeen();
		if (H.stale || !H.loaded || H.error || Date.now() - H.loadedAt > 30000) loadHistory(true);
		else renderHistory();
	}

	function historyShown() {
		return !!S.me && currentScreen() === 'home' && S.tab === 'calls';
	}

	function setMissed(n) {
		S.missed = Number.isInteger(n) && n > 0 ? n : 0;
		const b = $('calls-badge');
		b.textContent = S.missed > 99 ? '99+' : String(S.missed);
		b.hidden = !S.missed;
		$('tab-calls').setAttribute('aria-label', S.missed ? 'Calls, ' + S.missed + ' missed' : 'Calls');
		updateTitle();
	}

	function markSeen() {
		setMissed(0);
		if (!S.me) return;
		request({ request: 'history_seen' }).catch((e) => { if (DEBUG) console.warn('history_seen', e); });
	}

	// A call that rang this device ended without an answer. Looking at the Calls tab right
	// then is seeing it; otherwise the badge counts it.
	function missedCall() {
		if (historyShown() && !document.hidden) markSeen();
		else setMissed(S.missed + 1);
	}

	// ---------------------------------------------------------------- call history (the Calls tab)

	const HISTORY_OUTCOME = {
		missed: 'Missed', declined: 'Declined', cancelled: 'Cancelled', no_answer: 'No answer', busy: 'Busy',
		unavailable: 'Unavailable', failed: 'Failed',
	};

	// Forgets the history and the badge (sign-in, sign-out, connection lost).
	function resetHistory() {
		setMissed(0);
		H.seq++;
		Object.assign(H, { entries: [], next: null, filter: 'all', loading: false, loaded: false, stale: true,
			loadedAt: 0, error: null });
		renderHistory();
	}

	// A call ended (or a waiting one was declined): its entry is in the history now.
	function historyChanged() {
		H.stale = true;
		// After the caller has shown the home screen again.
		setTimeout(() => { if (H.stale && historyShown()) loadHistory(true); }, 0);
	}

	// Loads the first page again (reset) or the next, older page.
	async function loadHistory(reset) {
		if (!S.me) return;
		if (!reset && (H.loading || !H.next)) return;
		const seq = ++H.seq;
		const body = { request: 'history', limit: HISTORY_LIMIT };
		if (!reset) body.before = H.next;
		if (H.filter === 'missed') body.filter = 'missed';
		H.loading = true;
		if (reset) H.stale = false;
		renderHistory();
		try {
			const { data } = await request(body);
			if (seq !== H.seq) return;
			const got = Array.isArray(data.entries) ? data.entries.filter((e) => e && typeof e.call_id === 'string') : [];
			if (reset) {
				H.entries = got;
			} else {
				const have = new Set(H.entries.map((e) => e.call_id));
				H.entries = H.entries.concat(got.filter((e) => !have.has(e.call_id)));
			}
			H.next = typeof data.next === 'string' && data.next ? data.next : null;
			H.loaded = true;
			H.loadedAt = Date.now();
			H.error = null;
		} catch (e) {
			if (seq !== H.seq) return;
			if (reset) H.stale = true;
			H.error = e;
		} finally {
			if (seq === H.seq) {
				H.loading = false;
				renderHistory();
			}
		}
	}

	function setFilter(f) {
		if (f === H.filter) return;
		H.filter = f === 'missed' ? 'missed' : 'all';
		H.entries = [];
		H.next = null;
		H.loaded = false;
		loadHistory(true);
	}

	async function deleteEntry(id, li) {
		if (!S.me || li.getAttribute('aria-busy') === 'true') return;
		li.setAttribute('aria-busy', 'true');
		for (const b of li.querySelectorAll('button')) b.disabled = true;
		try {
			await request({ request: 'history_delete', call_ids: [id] });
			// Gone from this user's log (count 0: it was gone already).
			H.entries = H.entries.filter((e) => e.call_id !== id);
			renderHistory();
		} catch (e) {
			li.removeAttribute('aria-busy');
			for (const b of li.querySelectorAll('button')) b.disabled = false;
			renderHistory();
			toast(e instanceof CallsError && e.code === 503 ? 'History is unavailable right now: the call was not deleted'
				: "Couldn't delete the call: " + errorText(e), 'error');
		}
	}

	// "14:03" for today, a date otherwise.
	function fmtWhen(iso) {
		const d = new Date(iso);
		if (isNaN(d)) return '';
		const now = new Date();
		if (d.toDateString() === now.toDateString()) {
			return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
		}
		const opts = { day: 'numeric', month: 'short' };
		if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
		return d.toLocaleDateString([], opts);
	}

	// m:ss (h:mm:ss from an hour on).
	function fmtLength(sec) {
		sec = Math.max(0, Math.floor(Number(sec) || 0));
		const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = String(sec % 60).padStart(2, '0');
		return h ? h + ':' + String(m).padStart(2, '0') + ':' + s : m + ':' + s;
	}

	function svgUse(id) {
		const NS = 'http://www.w3.org/2000/svg';
		const svg = document.createElementNS(NS, 'svg');
		svg.setAttribute('aria-hidden', 'true');
		const use = document.createElementNS(NS, 'use');
		use.setAttribute('href', '#' + id);
		svg.append(use);
		return svg;
	}

	function span(cls, text) {
		const e = document.createElement('span');
		if (cls) e.className = cls;
		if (text !== undefined) e.textContent = text;
		return e;
	}

	function historyRow(e) {
		const li = document.createElement('li');
		const video = e.media === 'video';
		const incoming = e.direction === 'incoming';
		const answered = e.outcome === 'answered';
		const group = e.kind === 'group';
		const who = group ? (e.title || (Array.isArray(e.participants) && e.participants.length
			? e.participants.map((p) => (p && typeof p === 'object' ? p.display || p.user : p)).join(', ') : 'Group call'))
			: (e.display || e.peer || 'Unknown');
		li.dataset.callId = e.call_id;
		li.dataset.direction = incoming ? 'incoming' : 'outgoing';
		li.dataset.outcome = e.outcome || '';
		li.dataset.media = video ? 'video' : 'audio';
		if (e.peer) li.dataset.peer = e.peer;
		if (e.outcome === 'missed') li.className = 'h-missed';

		const av = span('avatar avatar-sm');
		av.setAttribute('aria-hidden', 'true');
		paintAvatar(av, group ? who : e.peer, who);

		const text = span('h-text');
		const name = span('h-name');
		name.append(span('h-display', who));
		if (!group && e.peer && e.peer !== who) name.append(span('h-user', e.peer));
		const sub = span('h-sub');
		const arrow = svgUse(incoming ? 'i-in' : 'i-out');
		arrow.setAttribute('aria-hidden', 'false');
		arrow.setAttribute('role', 'img');
		arrow.setAttribute('aria-label', incoming ? 'Incoming' : 'Outgoing');
		arrow.classList.add('h-dir');
		const what = answered ? fmtLength(e.duration) : (HISTORY_OUTCOME[e.outcome] || e.outcome || '');
		const line = span('');
		line.append(span('h-media', video ? 'Video' : 'Voice'), document.createTextNode(' · '),
			span(answered ? 'h-duration' : 'h-outcome', what), document.createTextNode(' · '),
			span('h-when', fmtWhen(e.started_at)));
		sub.append(arrow, line);
		text.append(name, sub);
		const started = new Date(e.started_at);
		text.title = (incoming ? 'Incoming ' : 'Outgoing ') + (video ? 'video' : 'voice') + ' call' +
			(isNaN(started) ? '' : ', ' + started.toLocaleString()) +
			(answered ? ', ' + fmtLength(e.duration) : ', ' + what.toLowerCase());

		const actions = span('h-actions');
		if (!group && e.peer) {
			const back = document.createElement('button');
			back.type = 'button';
			back.className = 'icon-btn h-callback';
			back.dataset.testid = 'history-callback';
			back.title = (video ? 'Video call ' : 'Voice call ') + who;
			back.setAttribute('aria-label', back.title);
			back.disabled = !!S.call;
			back.append(svgUse(video ? 'i-video' : 'i-phone'));
			back.addEventListener('click', () => {
				if (S.call) return;
				$('call-to').value = e.peer;
				startCall(e.peer, video);
			});
			actions.append(back);
		}
		const del = document.createElement('button');
		del.type = 'button';
		del.className = 'icon-btn h-delete';
		del.dataset.testid = 'history-delete';
		del.title = 'Delete from history';
		del.setAttribute('aria-label', 'Delete the call with ' + who + ' from history');
		del.append(svgUse('i-trash'));
		del.addEventListener('click', () => deleteEntry(e.call_id, li));
		actions.append(del);

		li.append(av, text, actions);
		return li;
	}

	function renderHistory() {
		const list = $('history-list');
		list.textContent = '';
		for (const e of H.entries) list.append(historyRow(e));
		$('history').setAttribute('aria-busy', String(H.loading));
		for (const c of document.querySelectorAll('#history-chips .chip')) c.setAttribute('aria-pressed', String(c.dataset.filter === H.filter));

		const err = H.error;
		showPanelAlert('history', err, "Couldn't load the call history",
			'History is unavailable right now', 'Calls still work; they will show up here later.');
		$('history-retry').disabled = H.loading;
		$('history-loading').hidden = !(H.loading && !H.entries.length);
		const empty = H.loaded && !H.loading && !err && !H.entries.length;
		$('history-empty').textContent = H.filter === 'missed' ? 'No missed calls.' : 'No calls yet. Calls you make and get show up here.';
		$('history-empty').hidden = !empty;
		const more = $('history-more');
		more.hidden = !H.next || (!!err && !H.entries.length);
		more.disabled = H.loading;
		more.textContent = H.loading && H.entries.length ? 'Loading…' : 'Show older calls';
	}

	// ---------------------------------------------------------------- contacts and presence (the Contacts tab)

	const PRIVACY_VALUES = ['everyone', 'contacts', 'nobody'];
	const PRESENCE_STATES = ['online', 'in_call', 'offline', 'unknown'];
	const SUBSCRIBE_BATCH = 100;   // ids per presence_subscribe (the server's limit)
	const PRIVACY_HINT = {
		everyone: 'Anyone who follows your status sees it.',
		contacts: 'Only the people you added to your contacts see it; others see “unknown”.',
		nobody: 'Nobody sees it; everyone sees “unknown”.',
	};

	// Each sign-in is an epoch: answers to requests of an earlier one are dropped.
	K.epoch = 0;
	K.touched = new Map();   // user -> {at, add}: added or removed here, for loads under way meanwhile

	function contactsShown() {
		return !!S.me && currentScreen() === 'home' && S.tab === 'contacts';
	}

	// Forgets the contacts (sign-in, sign-out, connection lost). The server ends this device's
	// subscriptions itself when it unregisters.
	function resetContacts() {
		K.epoch++;
		K.seq++;
		clearTimeout(K.reloadTimer);
		Object.assign(K, { loading: false, loaded: false, loadedAt: 0, error: null, reloadTimer: null, adding: false,
			privacy: 'everyone', privacyBusy: false, picking: false });
		K.picked = new Set();
		K.list = new Map();
		K.subscribed = new Set();
		K.nameAsked = new Set();
		K.touched = new Map();
		$('contact-add-user').value = '';
		addError('');
		renderContacts();
		renderPrivacy();
	}

	function contactEntry(u) {
		const state = PRESENCE_STATES.includes(u.state) ? u.state : 'unknown';
		return {
			user: u.user,
			display: typeof u.display === 'string' && u.display ? u.display : u.user,
			state,
			last_seen: state === 'offline' && typeof u.last_seen === 'string' ? u.last_seen : null,
			added: 0,
		};
	}

	// Reads the contacts (`contacts`), then follows the presence of those not followed yet.
	async function loadContacts() {
		if (!S.me) return;
		const seq = ++K.seq;
		const started = Date.now();
		K.loading = true;
		renderContacts();
		try {
			const { data } = await request({ request: 'contacts' });
			if (seq !== K.seq) return;
			const got = Array.isArray(data.users)
				? data.users.filter((u) => u && typeof u.user === 'string' && USER_RE.test(u.user)) : [];
			const next = new Map();
			for (const u of got) {
				const t = K.touched.get(u.user);
				if (t && !t.add && t.at >= started) continue;   // removed here while this load was under way
				const had = K.list.get(u.user);
				next.set(u.user, Object.assign(contactEntry(u), had ? { added: had.added } : {}));
			}
			for (const [user, t] of K.touched) {
				// Added here while this load was under way: the reply may not have it yet.
				if (t.add && t.at >= started && !next.has(user) && K.list.has(user)) next.set(user, K.list.get(user));
			}
			K.list = next;
			K.loaded = true;
			K.loadedAt = Date.now();
			K.error = null;
			subscribe(Array.from(next.keys()));
		} catch (e) {
			if (seq !== K.seq) return;
			K.error = e;
		} finally {
			if (seq === K.seq) {
				K.loading = false;
				renderContacts();
			}
		}
	}

	// Display names come with `contacts`: asked again after an add, and once a contact that never
	// signed in (shown by its id) comes online.
	function reloadContactsSoon() {
		clearTimeout(K.reloadTimer);
		K.reloadTimer = setTimeout(() => {
			K.reloadTimer = null;
			if (S.me) loadContacts();
		}, 300);
	}

	// presence_subscribe for the ids not followed yet, SUBSCRIBE_BATCH at a time.
	async function subscribe(ids) {
		const epoch = K.epoch;
		const todo = Array.from(new Set(ids)).filter((id) => !K.subscribed.has(id));
		for (let i = 0; i < todo.length; i += SUBSCRIBE_BATCH) {
			const chunk = todo.slice(i, i + SUBSCRIBE_BATCH);
			for (const id of chunk) K.subscribed.add(id);
			try {
				const { data } = await request({ request: 'presence_subscribe', users: chunk });
				if (epoch !== K.epoch) return;
				applyPresence(data.users);
			} catch (e) {
				if (epoch !== K.epoch) return;
				for (const id of chunk) K.subscribed.delete(id);
				toast(e instanceof CallsError && e.code === 413 ? "Can't follow the status of more people: " + e.message
					: "Couldn't get your contacts' status: " + errorText(e), 'error');
				return;
			}
		}
	}

	function unsubscribe(ids) {
		const todo = ids.filter((id) => K.subscribed.has(id));
		if (!todo.length) return;
		for (const id of todo) K.subscribed.delete(id);
		request({ request: 'presence_unsubscribe', users: todo }).catch((e) => { if (DEBUG) console.warn('presence_unsubscribe', e); });
	}

	// A `presence` reply or notification: [{user, state, last_seen?}].
	function applyPresence(users) {
		if (!Array.isArray(users)) return;
		let changed = false, askNames = false;
		for (const u of users) {
			if (!u || typeof u.user !== 'string') continue;
			const c = K.list.get(u.user);
			if (!c) continue;
			const e = contactEntry(u);
			c.state = e.state;
			c.last_seen = e.last_seen;
			changed = true;
			if ((c.state === 'online' || c.state === 'in_call') && c.display === c.user && !K.nameAsked.has(c.user)) {
				K.nameAsked.add(c.user);
				askNames = true;
			}
		}
		if (changed) renderContacts();
		if (askNames) reloadContactsSoon();
	}

	function addError(text) {
		const e = $('contact-add-error');
		e.textContent = text || '';
		e.hidden = !text;
		if (text) $('contact-add-user').setAttribute('aria-invalid', 'true');
		else $('contact-add-user').removeAttribute('aria-invalid');
	}

	async function addContact(ev) {
		ev.preventDefault();
		if (!S.me || K.adding) return;
		const input = $('contact-add-user');
		const id = input.value.trim();
		addError('');
		if (!USER_RE.test(id)) {
			addError(id ? 'A user id is 1 to 64 letters, digits or _ . @ + -' : 'Type the user id of the person to add.');
			input.focus();
			return;
		}
		const had = K.list.get(id);
		if (had) {
			addError(had.display + ' is already in your contacts.');
			flashRow(id);
			return;
		}
		const epoch = K.epoch;
		K.adding = true;
		renderContacts();
		try {
			const { data } = await request({ request: 'contacts_add', users: [id] });
			if (epoch !== K.epoch) return;
			const ids = Array.isArray(data.users) ? data.users.filter((u) => typeof u === 'string' && USER_RE.test(u)) : [id];
			const now = Date.now();
			for (const u of ids) {
				K.touched.set(u, { at: now, add: true });
				if (!K.list.has(u)) K.list.set(u, { user: u, display: u, state: null, last_seen: null, added: now });
			}
			if (input.value.trim() === id) input.value = '';
			renderContacts();
			await subscribe(ids);
			if (epoch === K.epoch) reloadContactsSoon();
		} catch (e) {
			if (epoch !== K.epoch) return;
			addError(addErrorText(e, id));
			input.focus();
		} finally {
			if (epoch === K.epoch) {
				K.adding = false;
				renderContacts();
			}
		}
	}

	function addErrorText(e, id) {
		if (e instanceof CallsError) {
			if (e.code === 400 && S.me && id === S.me.user) return "You can't add yourself as a contact.";
			if (e.code === 413) return 'You have too many contacts to add ' + id + (e.message ? ' (' + e.message + ')' : '') + '.';
			if (e.code === 503) return 'Contacts are unavailable right now: ' + id + ' was not added. Try again in a moment.';
		}
		return "Couldn't add " + id + ': ' + errorText(e);
	}

	async function removeContact(user, li) {
		if (!S.me || li.getAttribute('aria-busy') === 'true') return;
		const c = K.list.get(user);
		const name = c ? c.display : user;
		const epoch = K.epoch;
		li.setAttribute('aria-busy', 'true');
		for (const b of li.querySelectorAll('button')) b.disabled = true;
		try {
			await request({ request: 'contacts_remove', users: [user] });
			if (epoch !== K.epoch) return;
			K.touched.set(user, { at: Date.now(), add: false });
			K.list.delete(user);
			unsubscribe([user]);
			toast('Removed ' + name + ' from your contacts');
		} catch (e) {
			if (epoch !== K.epoch) return;
			toast(e instanceof CallsError && e.code === 503 ? 'Contacts are unavailable right now: ' + name + ' was not removed'
				: "Couldn't remove " + name + ': ' + errorText(e), 'error');
		} finally {
			if (epoch === K.epoch) {
				li.removeAttribute('aria-busy');
				renderContacts();
			}
		}
	}

	async function changePrivacy(value) {
		if (!S.me || K.privacyBusy || !PRIVACY_VALUES.includes(value) || value === K.privacy) { renderPrivacy(); return; }
		const before = K.privacy;
		const epoch = K.epoch;
		K.privacy = value;
		K.privacyBusy = true;
		renderPrivacy();
		try {
			const { data } = await request({ request: 'privacy', last_seen: value });
			if (epoch !== K.epoch) return;
			K.privacy = PRIVACY_VALUES.includes(data.last_seen) ? data.last_seen : value;
		} catch (e) {
			if (epoch !== K.epoch) return;
			K.privacy = before;
			toast(e instanceof CallsError && e.code === 503 ? 'Privacy settings are unavailable right now: nothing was changed'
				: "Couldn't change who sees your status: " + errorText(e), 'error');
		} finally {
			if (epoch === K.epoch) {
				K.privacyBusy = false;
				renderPrivacy();
			}
		}
	}

	function renderPrivacy() {
		for (const r of document.querySelectorAll('input[name="privacy"]')) {
			r.checked = r.value === K.privacy;
			r.disabled = K.privacyBusy || !S.me;
		}
		$('privacy').setAttribute('aria-busy', String(K.privacyBusy));
		$('privacy').dataset.value = K.privacy;
		$('privacy-hint').textContent = PRIVACY_HINT[K.privacy] || '';
	}

	// "last seen just now", "… 5 minutes ago", "… today at 14:03", "… yesterday at 09:12", "… 3 Nov at 18:40".
	function fmtLastSeen(iso) {
		const d = new Date(iso);
		if (isNaN(d)) return 'offline';
		const now = new Date();
		const secs = (now - d) / 1000;
		if (secs < 60) return 'last seen just now';
		if (secs < 3600) {
			const m = Math.floor(secs / 60);
			return 'last seen ' + m + (m === 1 ? ' minute ago' : ' minutes ago');
		}
		const at = ' at ' + String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
		if (d.toDateString() === now.toDateString()) return 'last seen today' + at;
		const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
		if (d.toDateString() === yesterday.toDateString()) return 'last seen yesterday' + at;
		const opts = { day: 'numeric', month: 'short' };
		if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
		return 'last seen ' + d.toLocaleDateString([], opts) + at;
	}

	function presenceText(c) {
		switch (c.state) {
		case 'online': return 'online';
		case 'in_call': return 'in a call';
		case 'offline': return c.last_seen ? fmtLastSeen(c.last_seen) : 'offline';
		case 'unknown': return 'unknown';
		default: return 'checking…';
		}
	}

	function presenceTitle(c) {
		switch (c.state) {
		case 'online': return 'Online now';
		case 'in_call': return 'In a call right now';
		case 'offline': {
			const d = c.last_seen ? new Date(c.last_seen) : null;
			return d && !isNaN(d) ? 'Last seen ' + d.toLocaleString() : 'Offline; not seen yet';
		}
		case 'unknown': return 'Hidden by their privacy setting';
		default: return 'Checking…';
		}
	}

	function flashRow(user) {
		const li = contactRows.get(user);
		if (!li) return;
		li.classList.remove('c-new');
		void li.offsetWidth;   // restart the animation
		li.classList.add('c-new');
		li.scrollIntoView({ block: 'nearest' });
	}

	const contactRows = new Map();   // user -> li, kept between renders (a presence change only updates it)

	function contactButton(cls, testid, icon) {
		const b = document.createElement('button');
		b.type = 'button';
		b.className = 'icon-btn ' + cls;
		b.dataset.testid = testid;
		b.append(svgUse(icon));
		return b;
	}

	function contactRow(user) {
		const li = document.createElement('li');
		li.dataset.user = user;
		// Picking people for a group call: a checkbox, and the whole row toggles it.
		const pick = document.createElement('input');
		pick.type = 'checkbox';
		pick.className = 'c-pick';
		pick.dataset.testid = 'contact-pick';
		pick.addEventListener('change', () => Group.pick(user, pick.checked));
		li.addEventListener('click', (ev) => {
			if (!K.picking || ev.target === pick) return;
			pick.checked = !pick.checked;
			Group.pick(user, pick.checked);
		});
		const wrap = span('c-avatar');
		const av = span('avatar avatar-sm');
		av.setAttribute('aria-hidden', 'true');
		const dot = span('p-dot');
		dot.dataset.testid = 'presence-dot';
		wrap.append(av, dot);
		const text = span('c-text');
		const name = span('c-name');
		const display = span('c-display');
		const id = span('c-user');
		name.append(display, id);
		const status = span('c-status');
		status.dataset.testid = 'presence-text';
		text.append(name, status);
		const actions = span('c-actions');
		const voice = contactButton('c-call c-voice', 'contact-voice', 'i-phone');
		const video = contactButton('c-call c-video', 'contact-video', 'i-video');
		const remove = contactButton('c-remove', 'contact-remove', 'i-person-remove');
		const call = (withVideo) => {
			if (S.call) return;
			const c = K.list.get(user);
			$('call-to').value = user;
			startCall(user, withVideo, c && c.display !== user ? c.display : undefined);
		};
		voice.addEventListener('click', () => call(false));
		video.addEventListener('click', () => call(true));
		remove.addEventListener('click', () => removeContact(user, li));
		actions.append(voice, video, remove);
		li.append(pick, wrap, text, actions);
		li.addEventListener('animationend', () => li.classList.remove('c-new'));
		li._parts = { pick, av, dot, display, id, status, voice, video, remove };
		return li;
	}

	function updateContactRow(li, c) {
		const p = li._parts;
		const state = c.state || 'pending';
		li.dataset.state = state;
		if (c.last_seen) li.dataset.lastSeen = c.last_seen;
		else delete li.dataset.lastSeen;
		if (c.added && !li._flashed) {
			li._flashed = true;
			li.classList.add('c-new');
		}
		if (p.av.dataset.name !== c.display) {
			paintAvatar(p.av, c.user, c.display);
			p.av.dataset.name = c.display;
		}
		p.dot.dataset.state = state;
		p.display.textContent = c.display;
		p.id.textContent = c.display !== c.user ? c.user : '';
		p.id.hidden = c.display === c.user;
		const text = presenceText(c);
		if (p.status.textContent !== text) p.status.textContent = text;
		p.status.dataset.state = state;
		p.status.title = presenceTitle(c);
		const busy = li.getAttribute('aria-busy') === 'true';
		p.voice.disabled = p.video.disabled = busy || !!S.call;
		p.remove.disabled = busy;
		p.voice.title = 'Voice call ' + c.display;
		p.video.title = 'Video call ' + c.display;
		p.remove.title = 'Remove ' + c.display + ' from contacts';
		for (const b of [p.voice, p.video, p.remove]) b.setAttribute('aria-label', b.title);
		p.pick.hidden = !K.picking;
		p.pick.checked = K.picked.has(c.user);
		p.pick.setAttribute('aria-label', 'Add ' + c.display + ' to the group call');
	}

	function byName(a, b) {
		return a.display.localeCompare(b.display, undefined, { sensitivity: 'base' }) || (a.user < b.user ? -1 : a.user > b.user ? 1 : 0);
	}

	function renderContacts() {
		const list = $('contacts-list');
		const sorted = Array.from(K.list.values()).sort(byName);
		sorted.forEach((c, i) => {
			let li = contactRows.get(c.user);
			if (!li) {
				li = contactRow(c.user);
				contactRows.set(c.user, li);
			}
			updateContactRow(li, c);
			if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
		});
		for (const [user, li] of contactRows) {
			if (!K.list.has(user)) {
				li.remove();
				contactRows.delete(user);
			}
		}
		const n = sorted.length;
		const here = sorted.filter((c) => c.state === 'online' || c.state === 'in_call').length;
		$('contacts-count').textContent = n ? (here ? here + ' online · ' : '') + n + (n === 1 ? ' contact' : ' contacts') : '';
		$('contacts').setAttribute('aria-busy', String(K.loading));

		const err = K.error;
		showPanelAlert('contacts', err, "Couldn't load your contacts", 'Contacts are unavailable',
			"The server can't read them right now. Calls still work; try again in a moment.");
		$('contacts-retry').disabled = K.loading;
		$('contacts-loading').hidden = !(K.loading && !n && !K.loaded);
		$('contacts-empty').hidden = !(K.loaded && !K.loading && !err && !n);
		$('contact-add-submit').disabled = K.adding || !S.me;
		$('contacts').dataset.picking = String(K.picking);
		Group.renderCompose();
	}

	// ---------------------------------------------------------------- wiring

	function init() {
		$('server-name').textContent = SERVER;
		$('server-lock').hidden = !/^(wss|https):/.test(SERVER);
		if (AUTH === 'jwt') {
			$('field-user').hidden = true;
			$('field-display').hidden = true;
			$('field-token').hidden = false;
		}
		let last = null;
		try { last = JSON.parse(localStorage.getItem('calls.last') || 'null'); } catch (e) { /* none */ }
		$('signin-user').value = params.get('user') || (last && last.user) || '';
		$('signin-display').value = params.get('display') || (last && last.display) || '';
		show('signin');
		$('signin-form').addEventListener('submit', signIn);
		$('btn-signout').addEventListener('click', signOut);
		$('dial-form').addEventListener('submit', (ev) => {
			ev.preventDefault();
			const video = !!(ev.submitter && ev.submitter.value === 'video');
			startCall($('call-to').value.trim(), video);
		});
		$('call-to').addEventListener('input', () => $('call-to').removeAttribute('aria-invalid'));
		$('btn-cancel').addEventListener('click', () => { $('btn-cancel').disabled = true; hangup(); });
		$('btn-accept').addEventListener('click', () => {
			$('btn-accept').disabled = true;
			Sound.unlock();
			acceptCall(S.call);
		});
		$('btn-decline').addEventListener('click', () => { $('btn-decline').disabled = true; decline(); });
		$('btn-hangup').addEventListener('click', () => hangup());
		$('btn-mute').addEventListener('click', toggleMute);
		$('btn-camera').addEventListener('click', toggleCamera);
		$('btn-video-on').addEventListener('click', turnVideoOn);
		for (const t of document.querySelectorAll('.tabs .tab')) {
			t.addEventListener('click', () => showTab(t.dataset.tab));
			t.addEventListener('keydown', (ev) => {
				if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') return;
				const i = TABS.indexOf(t.dataset.tab) + (ev.key === 'ArrowRight' ? 1 : -1);
				const other = TABS[(i + TABS.length) % TABS.length];
				showTab(other);
				$('tab-' + other).focus();
			});
		}
		for (const c of document.querySelectorAll('#history-chips .chip')) c.addEventListener('click', () => setFilter(c.dataset.filter));
		$('history-retry').addEventListener('click', () => loadHistory(!H.loaded || H.stale || !H.next));
		$('history-more').addEventListener('click', () => loadHistory(false));
		$('contact-add-form').addEventListener('submit', addContact);
		$('contact-add-user').addEventListener('input', () => addError(''));
		$('contacts-retry').addEventListener('click', () => loadContacts());
		for (const r of document.querySelectorAll('input[name="privacy"]')) {
			r.addEventListener('change', () => { if (r.checked) changePrivacy(r.value); });
		}
		// "last seen 5 minutes ago" grows older on screen.
		setInterval(() => { if (contactsShown() && !document.hidden) renderContacts(); }, 30000);
		renderPrivacy();
		$('btn-waiting-decline').addEventListener('click', declineWaiting);
		$('btn-waiting-accept').addEventListener('click', endAndAccept);
		document.addEventListener('keydown', (ev) => {
			if (ev.key !== 'Escape') return;
			if (Group.onEscape()) return;
			// Escape leaves a one-to-one call or declines a ring, never a group call in progress.
			if (S.call && currentScreen() !== 'home' && !(S.call.kind === 'group' && S.call.state !== 'incoming')) hangup();
		});
		Group.init();
		if (!window.Janus) signinError('janus.js did not load: check that vendor/janus.js is served beside this page.');
		else initJanus();
	}

	// Group calls (group.js) get the parts of this client they build on.
	const Group = window.CallsGroup({
		S, K, $, PLUGIN, USER_RE, DEBUG, params, media, CallsError, Sound,
		request, onMessage, onIncoming, errorText, toast, notice, show, currentScreen, paintAvatar, span, svgUse, fmtDuration,
		sleep, newCall, markActive, endCall, hangup, render, updateTitle, renderContacts, missedCall, historyChanged,
		janusSideClosed, janusPcGone, createOffer, applyRemoteJsep, closePeer, localVideoTrack, setStream,
		toggleMute: toggleMuteGroup, toggleCamera: toggleCameraGroup, signinError,
	});

	// For tests and debugging: the PeerConnection and a summary of the state.
	window.callsDebug = {
		pc: peer,
		subPc: () => Group.subPc(),
		server: SERVER,
		auth: AUTH,
		state() {
			const c = S.call;
			return {
				screen: currentScreen(),
				me: S.me && Object.assign({}, S.me),
				call: c && { kind: c.kind, id: c.id, state: c.state, dir: c.dir, peer: c.peer, video: c.video, muted: c.muted,
					camOff: c.camOff, mediaUp: c.mediaUp, remoteAudio: c.remoteAudio, remoteVideo: c.remoteVideo },
				waiting: Array.from(S.waiting.keys()),
				localTracks: Array.from(media.local.values()).map((t) => t.kind),
				remoteTracks: Array.from(media.remote.values()).map((t) => t.kind),
				sound: Sound.kind,
				tab: S.tab,
				missed: S.missed,
				history: { entries: H.entries.length, next: H.next, loading: H.loading, loaded: H.loaded,
					error: H.error ? { code: H.error.code, message: H.error.message } : null },
				contacts: { users: Array.from(K.list.values()).map((c) => ({ user: c.user, display: c.display,
					state: c.state, last_seen: c.last_seen })), loading: K.loading, loaded: K.loaded,
					error: K.error ? { code: K.error.code, message: K.error.message } : null,
					subscribed: Array.from(K.subscribed), privacy: K.privacy, privacyBusy: K.privacyBusy },
				group: Group.debugState(),
			};
		},
		log: debugLog,
	};

	if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
	else init();
})();

/*
 * janus-calls web client: group calls (docs/protocol.md, "Group calls").
 *
 * Loaded before calls.js, which calls window.CallsGroup(core) once with the parts of the client
 * that group calls build on (requests, the current call S.call, screens, sounds, contacts).
 *
 * Two handles per device. The registered handle publishes this device's audio and video:
 * `group_call` or `join` with an offer, answered by the plugin. A second handle on the same
 * session, the subscriber, sends `subscribe {call_id, feed}` and receives everyone else on one
 * PeerConnection that the plugin offers (`subscribed` and later `streams`, each with an offer) and
 * this side answers (`update` + answer). `streams` maps each m-line (mid) to a participant: the
 * track janus.js reports with that mid goes to that participant's tile.
 */
(function () {
	'use strict';

	window.CallsGroup = function (core) {
		const { S, K, $ } = core;
		const TITLE_MAX_BYTES = 128;
		const INVITE_MAX = 100;      // user ids per `invite`
		const WIDE = 900;            // from this width on, the participants panel opens beside the grid
		const RING_MS = 45000;       // how long an invited member is shown as "Ringing…"

		let pendingJoin = null;      // {link, video} from a ?join= link, joined once signed in
		const tiles = new Map();     // user -> tile (the current call's grid)
		let sideOpen = null;         // the participants panel: null = as the screen width suggests

		// ------------------------------------------------------------ names

		function me() { return S.me ? S.me.user : ''; }

		// The call's name for headings, and for sentences.
		function name(c) { return (c && c.title) || 'Group call'; }
		function phrase(c) { return c && c.title ? '“' + c.title + '”' : 'the group call'; }

		// A user's display name: from the call, the contacts, or the id itself.
		function nameOf(c, user) {
			if (user === me()) return S.me.display || user;
			const p = c && c.people.get(user);
			if (p && p.display && p.display !== user) return p.display;
			const k = K.list.get(user);
			if (k && k.display) return k.display;
			if (c && user === c.peer && c.display) return c.display;
			return (p && p.display) || user;
		}

		function listNames(names) {
			if (names.length <= 1) return names.join('');
			return names.slice(0, -1).join(', ') + ' and ' + names[names.length - 1];
		}

		function groupAvatar(el, c) {
			core.paintAvatar(el, c.id || c.title || 'group', c.title || 'Group');
			if (!c.title) {
				el.textContent = '';
				el.append(core.svgUse('i-group'));
			}
		}

		function utf8Length(s) {
			return new TextEncoder().encode(s).length;
		}

		function validIds(list) {
			return Array.isArray(list) ? Array.from(new Set(list.filter((u) => typeof u === 'string' && core.USER_RE.test(u)))) : [];
		}

		// ------------------------------------------------------------ the call object

		function newGroupCall(fields) {
			return core.newCall(Object.assign({
				kind: 'group',
				title: '',
				members: [],          // every invited user (from the ring or the caller's choice)
				from: '',             // who rang this device
				link: null,           // the join link (bearer secret) from group_calling / joined
				feed: null,           // this device's place in the call, for `subscribe`
				people: new Map(),    // the other participants: user -> {user, display, audio, video, talking, order}
				left: new Set(),      // users that left (a late `streams` must not bring them back)
				invited: new Set(),   // users rung for this call that have not joined
				invitedAt: new Map(), // user -> when this device saw them rung (for "Ringing…")
				streams: new Map(),   // mid -> {mid, kind, user, display}, from `subscribed` / `streams`
				sub: null,            // the subscriber handle and its state
				ringing: false,       // a member's device rings (`ringing`)
				held: [],             // rings that came while joining by link: [{d, jsep}], see holdRing
				meTalking: false,
				order: 0,
			}, fields));
		}

		function isGroup(c) { return !!c && c.kind === 'group'; }

		function addPerson(c, p) {
			if (!p || typeof p.user !== 'string' || !core.USER_RE.test(p.user) || p.user === me()) return null;
			const had = c.people.get(p.user);
			const person = {
				user: p.user,
				display: typeof p.display === 'string' && p.display ? p.display : (had ? had.display : nameOf(c, p.user)),
				audio: typeof p.audio === 'boolean' ? p.audio : (had ? had.audio : true),
				video: typeof p.video === 'boolean' ? p.video : (had ? had.video : true),
				talking: had ? had.talking : false,
				order: had ? had.order : ++c.order,
			};
			c.people.set(p.user, person);
			c.invited.delete(p.user);
			c.left.delete(p.user);
			return person;
		}

		// What `incoming_call` with `group` adds to a ringing call.
		function ringInfo(d) {
			const g = d.group || {};
			const members = validIds(g.members);
			return {
				kind: 'group',
				title: typeof g.title === 'string' ? g.title : '',
				members,
				from: typeof d.from === 'string' ? d.from : '',
			};
		}

		// ------------------------------------------------------------ starting and joining

		// While this device joins by a link, the server has not named the call yet: an
		// `incoming_call` then may be the ring of that very call. It waits until the join is answered:
		// the same call is dropped, another one rings as usual (call waiting, or an ordinary ring if
		// the join failed).
		function holdRing(c, d, jsep) {
			if (c.id || (c.state !== 'joining' && c.state !== 'starting')) return false;
			c.held.push({ d, jsep });
			return true;
		}

		function dropHeldRing(id) {
			const c = S.call;
			if (isGroup(c)) c.held = c.held.filter((h) => h.d.call_id !== id);
		}

		function replayHeld(c) {
			const held = c.held.splice(0);
			for (const h of held) if (h.d.call_id !== c.id || S.call !== c) core.onIncoming(h.d, h.jsep);
		}

		function publishTracks(video) {
			// Send only: everyone else comes in on the subscriber's PeerConnection.
			// Video goes out in three simulcast layers (janus.js: rids h, m, l at
			// full, half and quarter size); the plugin sends each receiver the one
			// that fits its grid and its bandwidth.
			const t = [{ type: 'audio', capture: true, recv: false }];
			if (video) t.push({ type: 'video', capture: true, recv: false, simulcast: true });
			return t;
		}

		function errorFor(e, req) {
			if (e instanceof core.CallsError) {
				if (e.code === 404) return req === 'join' ? 'The call is over, or the link is not valid.' : core.errorText(e);
				if (e.code === 403) return 'You were not invited to this call: ask for its link.';
				if (e.code === 413) return req === 'join' ? 'The call is full.' : 'That is more people than one call can hold.';
				if (e.code === 409) {
					return req === 'join' ? 'You are already in this call on another device, or in another call.'
						: 'You are already in a call.';
				}
			}
			return core.errorText(e);
		}

		// Publishes this device's media with `group_call` or `join`, then subscribes to the others.
		async function publish(c, body) {
			core.notice(null);
			showScreen(c);
			let data = null, jsep = null;
			try {
				for (let attempt = 1; !data; attempt++) {
					await core.janusSideClosed();
					if (S.call !== c) return;
					const offer = await core.createOffer({ tracks: publishTracks(c.video) });
					if (S.call !== c) { if (!S.call) core.closePeer(); return; }
					try {
						({ data, jsep } = await core.request(body, offer));
					} catch (e) {
						// Janus may refuse a new offer while it still closes the previous
						// PeerConnection: once more, a moment later (as for one-to-one calls).
						if (!(e.core && attempt === 1)) throw e;
						core.closePeer();
						await core.sleep(600);
						core.janusPcGone();
					}
				}
				if (S.call !== c) {
					// Left while the server was setting it up: leave there too.
					if (data.call_id) core.request({ request: 'leave', call_id: data.call_id }).catch(() => {});
					replayHeld(c);
					return;
				}
				c.id = data.call_id;
				c.link = typeof data.link === 'string' ? data.link : null;
				c.feed = data.feed;
				if (typeof data.title === 'string') c.title = data.title;
				if (Array.isArray(data.participants)) for (const p of data.participants) addPerson(c, p);
				// Joined from the ring: the other members rung with this device and not in the call yet.
				if (body.request === 'join') for (const u of c.members) if (u !== me() && !c.people.has(u)) c.invited.add(u);
				replayHeld(c);
				if (jsep) await core.applyRemoteJsep(jsep);
				if (S.call !== c) return;
				core.markActive(c);
				subscribe(c);
			} catch (e) {
				if (S.call !== c) return;
				if (c.id) core.request({ request: 'leave', call_id: c.id }).catch(() => {});
				core.endCall(c, {
					text: body.request === 'join' ? "Couldn't join the group call" : "Couldn't start the group call",
					sub: errorFor(e, body.request), kind: 'error', reason: 'error', outcome: 'failed',
				}, { tellJanus: true });
				replayHeld(c);
			}
		}

		// The caller: `group_call` with the chosen members.
		function start(members, title, video) {
			if (!S.me || S.call) return;
			core.Sound.unlock();
			const c = S.call = newGroupCall({ dir: 'out', state: 'starting', video, title, members: [me()].concat(members),
				invited: new Set(members) });
			const body = { request: 'group_call', members, video };
			if (title) body.title = title;
			publish(c, body);
		}

		// A member answers the ring (the Join button).
		function joinFromRing(c) {
			if (!isGroup(c) || S.call !== c || c.state !== 'incoming') return;
			core.Sound.stop();
			c.state = 'joining';
			publish(c, { request: 'join', call_id: c.id });
		}

		// A group call that rang while this device was in another call ("End & join").
		function joinWaiting(w) {
			if (!S.me || S.call) return;
			const c = S.call = newGroupCall({ id: w.id, dir: 'in', state: 'joining', video: w.video, title: w.title,
				members: w.members, from: w.from, peer: w.peer, display: w.display });
			publish(c, { request: 'join', call_id: w.id });
		}

		// Anyone signed in, with the call's link.
		function joinLink(j) {
			if (!S.me) return;
			if (S.call) { core.toast('End the current call first, then join with the link.', 'error'); return; }
			core.Sound.unlock();
			const c = S.call = newGroupCall({ dir: 'in', state: 'joining', video: j.video !== false });
			publish(c, { request: 'join', link: j.link });
		}

		// A pasted link: the page's own URL with ?join=<link> (and &video=0 for a voice call), or the bare link.
		function parseLink(text) {
			const s = String(text || '').trim();
			if (!s) return null;
			if (/^https?:\/\//i.test(s)) {
				try {
					const u = new URL(s);
					const link = u.searchParams.get('join');
					if (link) return { link, video: u.searchParams.get('video') !== '0' };
				} catch (e) { /* not a URL: the bare link */ }
				return null;
			}
			if (/^\?join=/.test(s)) {
				const q = new URLSearchParams(s);
				return q.get('join') ? { link: q.get('join'), video: q.get('video') !== '0' } : null;
			}
			return /\s/.test(s) ? null : { link: s, video: true };
		}

		// The link to share: this page with ?join=, keeping the server it talks to.
		function linkUrl(c) {
			if (!c || !c.link) return '';
			const u = new URL(location.href);
			const q = new URLSearchParams();
			for (const k of ['server', 'auth']) if (core.params.get(k)) q.set(k, core.params.get(k));
			q.set('join', c.link);
			if (!c.video) q.set('video', '0');
			u.search = q.toString();
			u.hash = '';
			return u.toString();
		}

		// ------------------------------------------------------------ the subscriber handle

		function attachSubscriber(c) {
			return new Promise((resolve, reject) => {
				const janus = S.janus;
				if (!janus) { reject(new core.CallsError(0, 'Not connected to the server')); return; }
				const sub = { handle: null, tracks: new Map(), queue: Promise.resolve(), up: false, ice: null, subscribed: false };
				janus.attach({
					plugin: core.PLUGIN,
					opaqueId: 'calls-web-sub-' + Janus.randomString(10),
					success: (h) => { sub.handle = h; resolve(sub); },
					error: (err) => reject(new Error('Could not open a second connection to the server (' + err + ')')),
					onmessage: (data, jsep) => core.onMessage(data, jsep, 'sub'),
					onremotetrack: (track, mid, on) => {
						mid = String(mid);
						if (on) sub.tracks.set(mid, track);
						else if (sub.tracks.get(mid) === track) sub.tracks.delete(mid);
						if (c.sub === sub) renderSoon();
					},
					oncleanup: () => {
						sub.tracks.clear();
						sub.up = false;
						if (c.sub === sub) renderSoon();
					},
					webrtcState: (on) => {
						sub.up = !!on;
						if (c.sub === sub) renderSoon();
					},
					iceState: (st) => { sub.ice = st; },
				});
			});
		}

		function detachSubscriber(sub) {
			if (!sub || !sub.handle) return;
			try { sub.handle.detach({ success() {}, error() {} }); } catch (e) { /* session gone */ }
		}

		async function subscribe(c) {
			let sub = null;
			try {
				sub = await attachSubscriber(c);
				if (S.call !== c) { detachSubscriber(sub); return; }
				c.sub = sub;
				const { data, jsep } = await core.request({ request: 'subscribe', call_id: c.id, feed: c.feed }, null, sub.handle);
				if (S.call !== c || c.sub !== sub) return;
				sub.subscribed = true;
				onStreams(c, data.streams, jsep);
			} catch (e) {
				if (S.call !== c) return;
				if (sub) sub.error = e;
				core.toast("Can't receive the others in this call: " + core.errorText(e), 'error');
				render();
			}
		}

		function answerOffer(handle, jsep) {
			return new Promise((resolve, reject) => {
				// Nothing to send on this PeerConnection: every offered m-line is answered recvonly.
				handle.createAnswer({ jsep, tracks: [], success: resolve, error: reject });
			});
		}

		// `subscribed` or `streams`: the new mapping, and an offer to answer with `update`. Offers are
		// answered one at a time, in order.
		function onStreams(c, streams, jsep) {
			const sub = c.sub;
			if (!sub) return;
			sub.queue = sub.queue.then(async () => {
				if (S.call !== c || c.sub !== sub) return;
				setStreams(c, streams);
				renderSoon();
				if (!jsep || jsep.type !== 'offer') return;
				const answer = await answerOffer(sub.handle, jsep);
				if (S.call !== c || c.sub !== sub) return;
				await core.request({ request: 'update', call_id: c.id }, answer, sub.handle);
			}).catch((e) => {
				if (S.call === c) core.toast("Can't receive the others in this call: " + core.errorText(e), 'error');
			}).finally(renderSoon);
		}

		function setStreams(c, list) {
			c.streams = new Map();
			for (const s of Array.isArray(list) ? list : []) {
				if (!s || (typeof s.mid !== 'string' && typeof s.mid !== 'number') || typeof s.user !== 'string') continue;
				const mid = String(s.mid);
				c.streams.set(mid, { mid, kind: s.kind === 'video' ? 'video' : 'audio', user: s.user,
					display: typeof s.display === 'string' && s.display ? s.display : s.user });
				if (s.user === me() || c.left.has(s.user)) continue;
				const p = c.people.get(s.user);
				if (!p) addPerson(c, { user: s.user, display: s.display });
				else if (s.display && p.display === p.user) p.display = s.display;
			}
		}

		// The live track that `streams` maps to this user and kind, if janus.js has reported it.
		function trackOf(c, user, kind) {
			if (!c.sub) return null;
			for (const s of c.streams.values()) {
				if (s.user !== user || s.kind !== kind) continue;
				const t = c.sub.tracks.get(s.mid);
				if (t && t.readyState === 'live') return t;
			}
			return null;
		}

		// ------------------------------------------------------------ events

		// From the subscriber handle: `streams` (+ offer), `ended`.
		function onSubscriberEvent(d, jsep) {
			const c = S.call;
			if (!isGroup(c) || !c.sub || d.call_id !== c.id) return;
			if (d.calls === 'streams') onStreams(c, d.streams, jsep);
			else if (d.calls === 'ended') onEnded(c, d);
			else if (d.calls === 'error') core.toast(core.errorText(new core.CallsError(d.error_code, d.error)), 'error');
		}

		// participant_joined, participant_left, talking, media_state.
		function onEvent(d) {
			const c = S.call;
			if (!isGroup(c) || !c.id || c.id !== d.call_id || c.state === 'incoming') return;
			switch (d.calls) {
			case 'participant_joined': {
				const p = addPerson(c, { user: d.user, display: d.display });
				if (p) core.toast(p.display + ' joined');
				core.Sound.stop('ringback');
				break;
			}
			case 'participant_left': {
				const p = c.people.get(d.user);
				if (!p) break;
				c.people.delete(d.user);
				c.left.add(d.user);
				for (const [mid, s] of c.streams) if (s.user === d.user) c.streams.delete(mid);
				core.toast(p.display + (d.reason === 'failed' ? ' lost the connection' : d.reason === 'kicked' ? ' was removed from the call' : ' left'));
				break;
			}
			case 'talking':
				if (d.user === me()) c.meTalking = !!d.talking;
				else if (c.people.has(d.user)) c.people.get(d.user).talking = !!d.talking;
				break;
			case 'media_state': {
				const p = c.people.get(d.user);
				if (!p) break;
				if (typeof d.audio === 'boolean') p.audio = d.audio;
				if (typeof d.video === 'boolean') p.video = d.video;
				if (!p.audio) p.talking = false;
				break;
			}
			default:
				return;
			}
			renderSoon();
		}

		function onRinging(c) {
			c.ringing = true;
			if (c.state === 'active' && !c.people.size) core.Sound.play('ringback');
			renderSoon();
		}

		const RING_ENDED = {
			cancelled: (c) => ({ text: 'Missed group call from ' + c.display, sub: 'It ended before you joined.', kind: 'warn', missed: true }),
			missed: (c) => ({ text: 'Missed group call from ' + c.display, sub: 'You can still join it while it goes on.', kind: 'warn', missed: true }),
			answered_elsewhere: () => ({ text: 'Joined on another device', kind: '' }),
			declined_elsewhere: () => ({ text: 'Declined on another device', kind: '' }),
		};
		const CALL_ENDED = {
			kicked: () => ({ text: 'The group call was ended by an administrator', kind: 'error', outcome: 'failed' }),
			failed: () => ({ text: 'You dropped out of the group call', sub: 'The connection was lost.', kind: 'error', outcome: 'failed' }),
			server_shutdown: () => ({ text: 'The call ended: the server is shutting down', kind: 'error', outcome: 'failed' }),
			left: (c) => ({ text: 'You left ' + phrase(c), kind: '', outcome: 'answered' }),
		};

		// `ended` for this device's group call, on either handle.
		function onEnded(c, d) {
			const reason = d.reason || 'unknown';
			if (c.state === 'incoming') {
				const make = RING_ENDED[reason] || CALL_ENDED[reason];
				const msg = make ? make(c) : { text: 'The group call ended (' + reason + ')', kind: 'warn' };
				msg.reason = reason;
				msg.outcome = msg.missed ? 'missed' : 'failed';
				core.endCall(c, msg);
				if (msg.missed) core.missedCall();
				return;
			}
			// The ring's end means nothing to a device that is joining or in the call; nor does the
			// subscriber's `ended` after this device's own `leave`.
			if (RING_ENDED[reason] || c.ending) return;
			const make = CALL_ENDED[reason];
			const msg = make ? make(c) : { text: 'The group call ended (' + reason + ')', kind: 'warn', outcome: 'failed' };
			msg.reason = reason;
			if (c.answeredAt) {
				const secs = typeof d.duration === 'number' ? d.duration : (Date.now() - c.answeredAt) / 1000;
				msg.sub = (msg.sub ? msg.sub + ' ' : '') + 'Duration ' + core.fmtDuration(secs);
				msg.duration = secs;
			}
			core.endCall(c, msg);
		}

		// Leave (the red button): `leave`, then forget the call here.
		async function leave(c, opts) {
			if (!isGroup(c)) return;
			c.ending = true;
			core.Sound.stop();
			render();
			const secs = c.answeredAt ? (Date.now() - c.answeredAt) / 1000 : null;
			if (c.id && c.state === 'active') {
				try { await core.request({ request: 'leave', call_id: c.id }); } catch (e) { /* over already */ }
			}
			if (S.call !== c) return;
			core.endCall(c, secs !== null
				? { text: 'You left ' + phrase(c), sub: 'Duration ' + core.fmtDuration(secs), kind: '', reason: 'left',
					outcome: 'answered', duration: secs }
				: { text: 'Group call cancelled', kind: '', reason: 'cancelled', outcome: 'cancelled' }, opts);
		}

		// From endCall (S.call is already cleared): the subscriber handle and the grid go.
		function cleanup(c) {
			const sub = c.sub;
			c.sub = null;
			detachSubscriber(sub);
			for (const t of tiles.values()) {
				t.video.srcObject = null;
				if (t.audio) t.audio.srcObject = null;
				t.el.remove();
			}
			tiles.clear();
			closeInvite();
			sideOpen = null;
			$('toast').hidden = true;   // "… joined", "… left": about a call that is over
			core.renderContacts();
		}

		// ------------------------------------------------------------ the ring

		function showRing(c) {
			groupAvatar($('incoming-avatar'), c);
			$('incoming-name').textContent = name(c);
			$('incoming-user').textContent = 'from ' + c.display + (c.peer && c.peer !== c.display ? ' · ' + c.peer : '');
			$('incoming-kind').textContent = c.video ? 'Incoming group video call' : 'Incoming group voice call';
			$('accept-label').textContent = 'Join';
			$('btn-accept').setAttribute('aria-label', 'Join');
			$('btn-accept').title = 'Join';
			const box = $('incoming-members');
			box.textContent = '';
			const others = c.members.filter((u) => u !== me());
			const faces = core.span('members-faces');
			for (const u of others.slice(0, 5)) {
				const av = core.span('avatar avatar-sm');
				core.paintAvatar(av, u, nameOf(c, u));
				av.title = nameOf(c, u);
				faces.append(av);
			}
			if (others.length > 5) faces.append(core.span('avatar avatar-sm members-more', '+' + (others.length - 5)));
			const names = others.map((u) => nameOf(c, u));
			const text = core.span('members-text', others.length ? 'With ' + listNames(names.concat('you')) : '');
			box.append(faces, text);
			box.dataset.count = String(c.members.length);
			box.hidden = !others.length;
		}

		// ------------------------------------------------------------ the call screen

		function showScreen(c) {
			if (S.call !== c) return;
			render();
			core.show('group');
			layout();
		}

		let renderQueued = false;
		function renderSoon() {
			if (renderQueued) return;
			renderQueued = true;
			Promise.resolve().then(() => {
				renderQueued = false;
				render();
			});
		}

		function render() {
			const c = S.call;
			if (!isGroup(c) || c.state === 'incoming') return;
			const scr = $('screen-group');
			scr.dataset.state = c.state;
			scr.dataset.video = c.video ? 'true' : 'false';
			$('group-title').textContent = name(c);
			renderTiles(c);
			renderPeople(c);
			renderControls(c);
			updateStatus();
		}

		function statusText(c) {
			if (c.state === 'starting') return 'Starting…';
			if (c.state === 'joining') return 'Joining…';
			if (c.ending) return 'Leaving…';
			if (!c.people.size) return c.dir === 'out' ? (c.ringing ? 'Ringing…' : 'Calling…') : 'Waiting for others to join…';
			if (c.mediaUp) return core.fmtDuration((Date.now() - c.answeredAt) / 1000);
			if (Date.now() - c.answeredAt > 4000) return 'Reconnecting…';
			return 'Connecting…';
		}

		function updateStatus() {
			const c = S.call;
			if (!isGroup(c)) return;
			const t = $('group-status');
			const text = statusText(c);
			if (c.invited.size && c.state === 'active') renderPeople(c);
			if (t.textContent !== text) t.textContent = text;
			t.dataset.running = String(/^\d/.test(text));
		}

		function makeTile(user, self) {
			const el = document.createElement('div');
			el.className = 'tile';
			el.dataset.user = user;
			el.dataset.testid = 'group-tile';
			if (self) el.dataset.self = 'true';
			const video = document.createElement('video');
			video.autoplay = true;
			video.playsInline = true;
			video.muted = true;
			const av = core.span('avatar tile-avatar');
			av.setAttribute('aria-hidden', 'true');
			const label = core.span('tile-label');
			const nm = core.span('tile-name');
			label.append(nm);
			const badges = core.span('tile-badges');
			const mic = core.span('tile-badge tile-mic');
			mic.append(core.svgUse('i-mic-off'));
			mic.title = 'Muted';
			const cam = core.span('tile-badge tile-cam');
			cam.append(core.svgUse('i-video-off'));
			cam.title = 'Camera off';
			badges.append(mic, cam);
			el.append(video, av, label, badges);
			let audio = null;
			if (!self) {
				audio = document.createElement('audio');
				audio.autoplay = true;
				el.append(audio);
			}
			return { el, video, audio, av, nm, mic, cam, avName: null };
		}

		function updateTile(c, t, info) {
			const { el } = t;
			if (t.avName !== info.display) {
				core.paintAvatar(t.av, info.user, info.display);
				t.avName = info.display;
			}
			const label = info.self ? 'You' : info.display;
			if (t.nm.textContent !== label) t.nm.textContent = label;
			el.title = info.self ? info.display + ' (you)' : info.display;
			core.setStream(t.video, info.videoTrack ? [info.videoTrack] : []);
			if (t.audio) core.setStream(t.audio, info.audioTrack ? [info.audioTrack] : []);
			el.dataset.video = info.videoTrack ? 'on' : 'off';
			el.dataset.talking = String(!!info.talking);
			el.dataset.audio = String(info.audio !== false);
			el.dataset.camera = String(info.video !== false);
			t.mic.hidden = info.audio !== false;
			t.cam.hidden = info.video !== false || !c.video;
		}

		// One tile per participant, this device's own last (muted, mirrored).
		function renderTiles(c) {
			const grid = $('group-grid');
			const people = Array.from(c.people.values()).sort((a, b) => a.order - b.order);
			const lv = core.localVideoTrack();
			const want = people.map((p) => ({
				user: p.user, display: p.display, self: false, audio: p.audio, video: p.video, talking: p.talking && p.audio,
				videoTrack: p.video === false ? null : trackOf(c, p.user, 'video'),
				audioTrack: trackOf(c, p.user, 'audio'),
			}));
			if (S.me) {
				want.push({ user: S.me.user, display: S.me.display, self: true, audio: !c.muted,
					video: !(c.camOff && lv), talking: c.meTalking && !c.muted, videoTrack: lv && !c.camOff ? lv : null });
			}
			const before = grid.children.length;
			want.forEach((info, i) => {
				let t = tiles.get(info.user);
				if (!t) {
					t = makeTile(info.user, info.self);
					tiles.set(info.user, t);
				}
				updateTile(c, t, info);
				if (grid.children[i] !== t.el) grid.insertBefore(t.el, grid.children[i] || null);
			});
			const keep = new Set(want.map((w) => w.user));
			for (const [user, t] of tiles) {
				if (keep.has(user)) continue;
				t.video.srcObject = null;
				if (t.audio) t.audio.srcObject = null;
				t.el.remove();
				tiles.delete(user);
			}
			grid.dataset.count = String(want.length);
			if (grid.children.length !== before || !grid.style.getPropertyValue('--tile-w')) layout();
		}

		// Sizes the tiles: the number of columns that gives the largest tiles in the stage, each
		// between square (portrait 3:4 on a portrait screen) and wide 16:9; rows are centred, the
		// last one too.
		function layout() {
			const stage = $('group-stage');
			const grid = $('group-grid');
			const n = grid.children.length;
			const W = stage.clientWidth, H = stage.clientHeight;
			if (!n || !W || !H) return;
			const gap = W < 500 ? 6 : 10;
			const narrowest = W >= H ? 1 : 3 / 4;
			let best = null;
			for (let cols = 1; cols <= n; cols++) {
				const rows = Math.ceil(n / cols);
				const cw = (W - gap * (cols - 1)) / cols;
				const ch = (H - gap * (rows - 1)) / rows;
				if (cw <= 0 || ch <= 0) continue;
				const a = Math.min(16 / 9, Math.max(narrowest, cw / ch));
				let w = cw, h = w / a;
				if (h > ch) { h = ch; w = h * a; }
				if (!best || w * h > best.w * best.h + 1) best = { cols, w, h };
			}
			if (!best) return;
			grid.style.setProperty('--gap', gap + 'px');
			grid.style.setProperty('--tile-w', Math.floor(best.w) + 'px');
			grid.style.setProperty('--tile-h', Math.floor(best.h) + 'px');
			grid.style.width = Math.ceil(best.cols * Math.floor(best.w) + (best.cols - 1) * gap) + 'px';
			grid.dataset.cols = String(best.cols);
		}

		function personRow(user, display, sub, flags) {
			const li = document.createElement('li');
			li.dataset.user = user;
			const av = core.span('avatar avatar-sm');
			av.setAttribute('aria-hidden', 'true');
			core.paintAvatar(av, user, display);
			const text = core.span('gp-text');
			text.append(core.span('gp-name', display), core.span('gp-sub', sub));
			const icons = core.span('gp-icons');
			if (flags.talking) li.dataset.talking = 'true';
			if (flags.muted) icons.append(core.svgUse('i-mic-off'));
			if (flags.camOff) icons.append(core.svgUse('i-video-off'));
			li.append(av, text, icons);
			return li;
		}

		function renderPeople(c) {
			const list = $('group-people');
			list.textContent = '';
			if (S.me) {
				list.append(personRow(S.me.user, S.me.display + ' (you)', c.meTalking && !c.muted ? 'Talking' : (c.dir === 'out' ? 'Started the call' : 'In the call'),
					{ talking: c.meTalking && !c.muted, muted: c.muted, camOff: c.video && c.camOff }));
			}
			for (const p of Array.from(c.people.values()).sort((a, b) => a.order - b.order)) {
				list.append(personRow(p.user, p.display, p.talking && p.audio ? 'Talking' : (p.user !== p.display ? p.user : 'In the call'),
					{ talking: p.talking && p.audio, muted: !p.audio, camOff: c.video && !p.video }));
			}
			const n = c.people.size + 1;
			$('group-count').textContent = n + (n === 1 ? ' person' : ' people');
			const inv = $('group-invited');
			inv.textContent = '';
			const invited = Array.from(c.invited).filter((u) => !c.people.has(u) && u !== me());
			for (const u of invited) {
				// A ring lasts ring_timeout (45 s by default); nobody is told of a decline.
				const at = c.invitedAt.get(u) || c.answeredAt;
				const li = personRow(u, nameOf(c, u), c.ringing && Date.now() - at < RING_MS ? 'Ringing…' : 'Invited', {});
				li.classList.add('gp-invited');
				inv.append(li);
			}
			$('group-invited-head').hidden = !invited.length;
			const url = linkUrl(c);
			const input = $('group-link');
			if (input.value !== url) input.value = url;
			$('group-link-box').hidden = !url;
			$('btn-group-copy').disabled = !url;
		}

		function renderControls(c) {
			const active = c.state === 'active' && !c.ending;
			const mute = $('btn-group-mute');
			mute.setAttribute('aria-pressed', String(c.muted));
			mute.setAttribute('aria-label', c.muted ? 'Unmute' : 'Mute');
			mute.title = mute.getAttribute('aria-label');
			mute.disabled = !active;
			const cam = $('btn-group-camera');
			cam.hidden = !c.video;
			cam.setAttribute('aria-pressed', String(c.camOff));
			cam.setAttribute('aria-label', c.camOff ? 'Turn camera on' : 'Turn camera off');
			cam.title = cam.getAttribute('aria-label');
			cam.disabled = !active || !core.localVideoTrack();
			$('btn-group-invite').disabled = !active;
			const wide = window.innerWidth >= WIDE;
			const open = sideOpen === null ? wide : sideOpen;
			$('screen-group').dataset.side = open ? 'open' : 'closed';
			$('btn-group-people').setAttribute('aria-pressed', String(open));
			$('btn-group-leave').disabled = !!c.ending;
		}

		function toggleSide(open) {
			const wide = window.innerWidth >= WIDE;
			const now = sideOpen === null ? wide : sideOpen;
			sideOpen = typeof open === 'boolean' ? open : !now;
			render();
			layout();
		}

		async function copyLink() {
			const c = S.call;
			const url = isGroup(c) ? linkUrl(c) : '';
			if (!url) return;
			let ok = false;
			try {
				await navigator.clipboard.writeText(url);
				ok = true;
			} catch (e) {
				const input = $('group-link');
				input.focus();
				input.select();
				try { ok = document.execCommand('copy'); } catch (e2) { ok = false; }
			}
			$('btn-group-copy').dataset.copied = String(ok);
			core.toast(ok ? 'Link copied: anyone signed in can join with it' : 'Select the link and copy it', ok ? '' : 'error');
		}

		// ------------------------------------------------------------ invite

		function inviteCandidates(c) {
			return Array.from(K.list.values())
				.filter((k) => !c.people.has(k.user) && k.user !== me())
				.sort((a, b) => a.display.localeCompare(b.display, undefined, { sensitivity: 'base' }));
		}

		function openInvite() {
			const c = S.call;
			if (!isGroup(c) || c.state !== 'active') return;
			const list = $('invite-list');
			list.textContent = '';
			for (const k of inviteCandidates(c)) {
				const li = document.createElement('li');
				const label = document.createElement('label');
				const box = document.createElement('input');
				box.type = 'checkbox';
				box.value = k.user;
				box.dataset.testid = 'invite-pick';
				const av = core.span('avatar avatar-sm');
				core.paintAvatar(av, k.user, k.display);
				const text = core.span('gp-text');
				text.append(core.span('gp-name', k.display), core.span('gp-sub', c.invited.has(k.user) ? 'Invited already: rings again'
					: k.display !== k.user ? k.user : ''));
				label.append(box, av, text);
				li.dataset.user = k.user;
				li.append(label);
				list.append(li);
			}
			$('invite-empty').hidden = !!list.children.length;
			$('invite-user').value = '';
			inviteError('');
			$('invite-sheet').hidden = false;
			$('btn-invite-send').disabled = false;
			(list.querySelector('input') || $('invite-user')).focus();
		}

		function closeInvite() {
			$('invite-sheet').hidden = true;
		}

		function inviteError(text) {
			$('invite-error').textContent = text || '';
			$('invite-error').hidden = !text;
		}

		async function sendInvite(ev) {
			ev.preventDefault();
			const c = S.call;
			if (!isGroup(c) || c.state !== 'active') { closeInvite(); return; }
			const picked = Array.from(document.querySelectorAll('#invite-list input:checked')).map((b) => b.value);
			const typed = $('invite-user').value.split(/[\s,;]+/).filter(Boolean);
			const bad = typed.find((u) => !core.USER_RE.test(u));
			if (bad) { inviteError('“' + bad + '” is not a user id (1 to 64 letters, digits or _ . @ + -).'); return; }
			const users = Array.from(new Set(picked.concat(typed))).filter((u) => u !== me());
			if (!users.length) { inviteError('Choose someone to ring, or type their user id.'); return; }
			if (users.length > INVITE_MAX) { inviteError('At most ' + INVITE_MAX + ' people at a time.'); return; }
			$('btn-invite-send').disabled = true;
			try {
				const { data } = await core.request({ request: 'invite', call_id: c.id, users });
				if (S.call !== c) return;
				const rung = validIds(data.users);
				for (const u of rung) {
					c.invited.add(u);
					c.invitedAt.set(u, Date.now());
				}
				closeInvite();
				core.toast(rung.length ? 'Ringing ' + listNames(rung.map((u) => nameOf(c, u))) : 'They are in the call already');
				render();
			} catch (e) {
				if (S.call !== c) return;
				inviteError(e instanceof core.CallsError && e.code === 413 ? 'The call cannot hold that many people.' : "Couldn't invite: " + core.errorText(e));
			} finally {
				$('btn-invite-send').disabled = false;
			}
		}

		// ------------------------------------------------------------ new group call (the Contacts tab)

		function renderCompose() {
			const on = K.picking && !!S.me;
			$('group-compose').hidden = !on;
			$('btn-group-new').hidden = on;
			$('btn-group-new').disabled = !!S.call || !K.list.size;
			if (!on) return;
			const chosen = Array.from(K.picked).filter((u) => K.list.has(u));
			const names = chosen.map((u) => K.list.get(u).display);
			$('group-picked').textContent = chosen.length
				? chosen.length + ' chosen: ' + listNames(names) : 'Tick the contacts to call.';
			$('group-compose').dataset.count = String(chosen.length);
			$('btn-group-voice').disabled = $('btn-group-video').disabled = !chosen.length || !!S.call;
		}

		function pick(user, on) {
			if (on) K.picked.add(user); else K.picked.delete(user);
			renderCompose();
		}

		function openCompose() {
			if (!S.me || S.call) return;
			K.picking = true;
			K.picked = new Set();
			$('group-title-input').value = '';
			$('group-title-input').removeAttribute('aria-invalid');
			core.renderContacts();
			$('group-title-input').focus();
		}

		function closeCompose() {
			K.picking = false;
			K.picked = new Set();
			core.renderContacts();
		}

		function startFromCompose(video) {
			const members = Array.from(K.picked).filter((u) => K.list.has(u) && u !== me());
			if (!members.length || S.call) return;
			const input = $('group-title-input');
			const title = input.value.trim();
			if (utf8Length(title) > TITLE_MAX_BYTES) {
				input.setAttribute('aria-invalid', 'true');
				core.toast('The title is too long (at most ' + TITLE_MAX_BYTES + ' bytes).', 'error');
				input.focus();
				return;
			}
			input.removeAttribute('aria-invalid');
			closeCompose();
			start(members, title, video);
		}

		// ------------------------------------------------------------ wiring

		function init() {
			const link = core.params.get('join');
			if (link) {
				pendingJoin = { link, video: core.params.get('video') !== '0' };
				$('signin-join').hidden = false;
			}
			$('btn-group-new').addEventListener('click', openCompose);
			$('btn-group-cancel').addEventListener('click', closeCompose);
			$('btn-group-voice').addEventListener('click', () => startFromCompose(false));
			$('btn-group-video').addEventListener('click', () => startFromCompose(true));
			$('group-title-input').addEventListener('input', () => $('group-title-input').removeAttribute('aria-invalid'));
			$('join-form').addEventListener('submit', (ev) => {
				ev.preventDefault();
				const input = $('join-link');
				const j = parseLink(input.value);
				if (!j) {
					input.setAttribute('aria-invalid', 'true');
					core.toast('Paste the link of a group call (it has ?join= in it).', 'error');
					input.focus();
					return;
				}
				input.removeAttribute('aria-invalid');
				if (ev.submitter && ev.submitter.value) j.video = ev.submitter.value === 'video';
				input.value = '';
				joinLink(j);
			});
			$('join-link').addEventListener('input', () => $('join-link').removeAttribute('aria-invalid'));
			$('btn-group-mute').addEventListener('click', () => core.toggleMute());
			$('btn-group-camera').addEventListener('click', () => core.toggleCamera());
			$('btn-group-invite').addEventListener('click', openInvite);
			$('btn-group-invite-2').addEventListener('click', openInvite);
			$('btn-group-people').addEventListener('click', () => toggleSide());
			$('btn-group-side-close').addEventListener('click', () => toggleSide(false));
			$('btn-group-leave').addEventListener('click', () => { if (S.call) core.hangup(); });
			$('btn-group-copy').addEventListener('click', copyLink);
			$('invite-form').addEventListener('submit', sendInvite);
			$('btn-invite-cancel').addEventListener('click', closeInvite);
			$('invite-sheet').addEventListener('click', (ev) => { if (ev.target === $('invite-sheet')) closeInvite(); });
			if (window.ResizeObserver) new ResizeObserver(() => layout()).observe($('group-stage'));
			window.addEventListener('resize', () => { if (isGroup(S.call)) render(); });
		}

		// Once registered: a ?join= link given with the page is joined now, once.
		function afterSignIn() {
			if (!pendingJoin) return;
			const j = pendingJoin;
			pendingJoin = null;
			$('signin-join').hidden = true;
			try {
				const u = new URL(location.href);
				u.searchParams.delete('join');
				u.searchParams.delete('video');
				history.replaceState(null, '', u.toString());
			} catch (e) { /* keep the URL */ }
			joinLink(j);
		}

		function onEscape() {
			if (!$('invite-sheet').hidden) { closeInvite(); return true; }
			const c = S.call;
			if (isGroup(c) && c.state !== 'incoming' && window.innerWidth < WIDE && $('screen-group').dataset.side === 'open') {
				toggleSide(false);
				return true;
			}
			if (K.picking && core.currentScreen() === 'home') { closeCompose(); return true; }
			return false;
		}

		function subPc() {
			const c = S.call;
			return isGroup(c) && c.sub && c.sub.handle && c.sub.handle.webrtcStuff ? c.sub.handle.webrtcStuff.pc : null;
		}

		function debugState() {
			const c = S.call;
			if (!isGroup(c)) return null;
			return {
				id: c.id, state: c.state, dir: c.dir, title: c.title, video: c.video, link: c.link, linkUrl: linkUrl(c),
				ringing: c.ringing, members: c.members.slice(), invited: Array.from(c.invited), meTalking: c.meTalking,
				people: Array.from(c.people.values()).map((p) => ({ user: p.user, display: p.display, audio: p.audio,
					video: p.video, talking: p.talking })),
				streams: Array.from(c.streams.values()),
				tracks: c.sub ? Array.from(c.sub.tracks).map(([mid, t]) => ({ mid, kind: t.kind, live: t.readyState === 'live', muted: t.muted })) : [],
				subscribed: !!(c.sub && c.sub.subscribed), subUp: !!(c.sub && c.sub.up), subIce: c.sub ? c.sub.ice : null,
				tiles: Array.from(tiles.keys()),
			};
		}

		return {
			newCall: newGroupCall, holdRing, dropHeldRing, init, afterSignIn, onEscape, ringInfo, name, phrase, showRing, joinFromRing, joinWaiting, onEvent, onRinging,
			onEnded, onSubscriberEvent, leave, cleanup, render, updateStatus, renderCompose, pick, subPc, debugState,
		};
	};
})();

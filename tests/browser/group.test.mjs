// Browser test of group calls in the bundled web client (docs/protocol.md, "Group calls"), against
// a running Janus with janus.plugin.calls (run.sh starts it, with PostgreSQL for the contacts).
//
// Three users. lea (a laptop-sized page) adds max and nina as contacts and starts a group video
// call with both from her Contacts tab; max (a phone-sized page) joins from the ring; nina (a
// laptop-sized page) opens the call's link (?join=…) and joins once she has signed in. Every page
// must show three tiles with the right names, and play decoded video from both other participants
// in their tiles. Every fake microphone plays a tone now and then, so the plugin's `talking` marks
// each speaker; max mutes: his tile shows the mute badge and he is no longer marked. nina leaves: the other two grids shrink to
// two tiles. She comes back by pasting the link (the others' m-lines that carried her are reused),
// max leaves and lea rings him again with "Add people", and he joins from the ring. Once everyone
// has left, the link no longer works (404) and lea's Calls tab lists the call under its title.
// Then a voice call without a title: max declines, nina joins from the ring, the tiles show avatars
// and audio flows. Screenshots: screenshots/group-*.png.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
	useBrowser, pages, openPage, state, explain, waitFor, waitScreen, shot, signIn, needSignedIn, homeMessage,
	LAPTOP, PHONE,
} from './harness.mjs';

// A WAV file for Chromium's fake microphone, played in a loop: a 440 Hz tone at -12 dBFS for `on`
// seconds, then silence up to `seconds`. Chromium's own beeps are too short to count as talking
// (the mean level over 0.5 s above -40 dBov), and a speaker that never stops is announced only once:
// who joins later would never hear of it.
function toneWav(seconds, on) {
	const rate = 48000, n = Math.round(rate * seconds), tone = Math.round(rate * on);
	const b = Buffer.alloc(44 + n * 2);
	b.write('RIFF', 0); b.writeUInt32LE(36 + n * 2, 4); b.write('WAVE', 8);
	b.write('fmt ', 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
	b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
	b.write('data', 36); b.writeUInt32LE(n * 2, 40);
	for (let i = 0; i < tone; i++) b.writeInt16LE(Math.round(0.25 * 32767 * Math.sin(2 * Math.PI * 440 * i / rate)), 44 + i * 2);
	return b;
}
const toneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'calls-group-test-'));
const TONE = path.join(toneDir, 'tone.wav');
fs.writeFileSync(TONE, toneWav(3.5, 1.5));
const TALK_CYCLE_MS = 3500;
after(() => fs.rmSync(toneDir, { recursive: true, force: true }));

useBrowser({ args: ['--use-file-for-fake-audio-capture=' + TONE] });

const NAMES = { lea: 'Lea Roux', max: 'Max Weber', nina: 'Nina Park' };
const TITLE = 'Design review';

// ---------------------------------------------------------------- helpers

// The tiles of a page's grid, in order.
function tiles(page) {
	return page.evaluate(() => Array.from(document.querySelectorAll('#group-grid .tile')).map((t) => ({
		user: t.dataset.user,
		name: t.querySelector('.tile-name').textContent,
		self: t.dataset.self === 'true',
		video: t.dataset.video,
		audio: t.dataset.audio,
		micBadge: !t.querySelector('.tile-mic').hidden,
		width: t.offsetWidth,
		height: t.offsetHeight,
	})));
}

// Waits until the grid of `page` holds exactly the tiles of `users`; returns them.
async function waitTiles(page, who, users, timeout = 30000) {
	const want = users.slice().sort();
	await waitFor(page, who + ': the grid did not come to show ' + want.join(', '), (w) => {
		const got = Array.from(document.querySelectorAll('#group-grid .tile')).map((t) => t.dataset.user).sort();
		return got.length === w.length && got.every((u, i) => u === w[i]);
	}, want, timeout);
	return tiles(page);
}

// Each tile carries its participant's name ("You" on one's own, which is the one muted self-view).
function assertNames(list, self) {
	for (const t of list) {
		if (t.user === self) {
			assert.ok(t.self, self + ': own tile marked as self');
			assert.equal(t.name, 'You');
		} else {
			assert.ok(!t.self, t.user + ': not a self tile');
			assert.equal(t.name, NAMES[t.user], 'the tile of ' + t.user);
		}
		assert.ok(t.width > 80 && t.height > 60, t.user + ': tile has a size (' + t.width + 'x' + t.height + ')');
	}
}

// Watches the video element in the tile of `user` for `ms`: its size, how far its currentTime moved,
// and how many frames it painted (requestVideoFrameCallback) and decoded (getVideoPlaybackQuality).
function measureVideo(page, user, ms = 1500) {
	return page.evaluate(async ([u, ms]) => {
		const tile = document.querySelector('#group-grid .tile[data-user="' + u + '"]');
		const v = tile && tile.querySelector('video');
		if (!v) return { found: false };
		const quality = () => (v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0);
		const t0 = v.currentTime, q0 = quality();
		let frames = 0, done = false;
		if (v.requestVideoFrameCallback) {
			const cb = () => { frames++; if (!done) v.requestVideoFrameCallback(cb); };
			v.requestVideoFrameCallback(cb);
		}
		await new Promise((r) => setTimeout(r, ms));
		done = true;
		return {
			found: true, width: v.videoWidth, height: v.videoHeight, advanced: +(v.currentTime - t0).toFixed(2), frames,
			decoded: quality() - q0, paused: v.paused, shown: getComputedStyle(v).display !== 'none',
			muted: v.muted, tile: tile.dataset.video,
		};
	}, [user, ms]);
}

// Waits until the tile of `user` on `page` plays decoded video: a picture size, time going on,
// frames painted.
async function waitPlaying(page, who, user, timeout = 30000) {
	const deadline = Date.now() + timeout;
	let last = null;
	while (Date.now() < deadline) {
		last = await measureVideo(page, user);
		if (last.found && last.shown && !last.paused && last.width > 0 && last.advanced > 0.5 && last.frames >= 5) return last;
		await page.waitForTimeout(300);
	}
	throw new Error(who + ': the video of ' + user + ' does not play: ' + JSON.stringify(last) + await explain(page));
}

async function status(page) {
	return (await page.textContent('#group-status')).trim();
}

async function openContacts(page) {
	await page.click('#tab-contacts');
	await waitFor(page, 'the Contacts tab did not open', () => document.body.dataset.tab === 'contacts' &&
		!document.getElementById('panel-contacts').hidden && !window.callsDebug.state().contacts.loading);
}

async function addContact(page, user) {
	await page.fill('#contact-add-user', user);
	await page.click('#contact-add-submit');
	await waitFor(page, user + ' was not added', (u) => !!document.querySelector('#contacts-list li[data-user="' + u + '"]') &&
		!document.getElementById('contact-add-submit').disabled, user);
}

async function leave(page, who, said = new RegExp('You left “' + TITLE + '”')) {
	await page.click('#btn-group-leave');
	const msg = await homeMessage(page, 'left');
	assert.match(msg, said, who + ': the home screen says the call was left');
	assert.match(msg, /Duration \d\d:\d\d/);
	assert.equal(await page.evaluate(() => window.callsDebug.subPc()), null, who + ': no subscriber PeerConnection left');
	assert.equal(await page.evaluate(() => window.callsDebug.pc()), null, who + ': no publisher PeerConnection left');
}

// ---------------------------------------------------------------- tests

test('lea, max and nina sign in; lea has max and nina as contacts', { timeout: 60000 }, async () => {
	const lea = await openPage('lea', LAPTOP);
	const max = await openPage('max', PHONE);
	await signIn(lea, 'lea', NAMES.lea);
	await signIn(max, 'max', NAMES.max);
	await openContacts(lea);
	for (const u of ['max', 'nina']) {
		if (!await lea.$('#contacts-list li[data-user="' + u + '"]')) await addContact(lea, u);
	}
	await lea.click('#tab-dial');
});

test('group video call: ring and link joins, three tiles playing video everywhere, leave, rejoin, invite',
	{ timeout: 300000 }, async (t) => {
		needSignedIn('lea', 'max');
		const lea = pages.lea.page, max = pages.max.page;

		// lea picks max and nina in her Contacts tab and starts a video call with a title.
		await openContacts(lea);
		await lea.click('#btn-group-new');
		await lea.waitForSelector('#group-compose:not([hidden])');
		assert.ok(await lea.isDisabled('#btn-group-video'), 'nobody picked yet: no call');
		await lea.click('#contacts-list li[data-user="max"] .c-pick');
		await lea.click('#contacts-list li[data-user="nina"] .c-display');   // a click on the row ticks it too
		await lea.fill('#group-title-input', TITLE);
		assert.equal(await lea.getAttribute('#group-compose', 'data-count'), '2');
		assert.match(await lea.textContent('#group-picked'), /2 chosen/);
		await shot(lea, 'group-laptop-compose.png');
		await lea.click('#btn-group-video');
		await waitScreen(lea, 'group');
		await waitFor(lea, 'lea: the group call did not start', () => {
			const g = window.callsDebug.state().group;
			return g && g.state === 'active' && g.id && g.link && g.subscribed;
		});
		const started = (await state(lea)).group;
		assert.equal(started.title, TITLE);
		assert.deepEqual(started.invited.slice().sort(), ['max', 'nina']);
		assert.equal(await lea.textContent('#group-title'), TITLE);
		assertNames(await waitTiles(lea, 'lea', ['lea']), 'lea');
		await waitPlaying(lea, 'lea (self-view)', 'lea');
		assert.ok(await lea.evaluate(() => document.querySelector('#group-grid .tile[data-self] video').muted), 'the self-view is muted');
		const link = await lea.inputValue('#group-link');
		assert.match(link, /[?&]join=/, 'the call link is shown');
		t.diagnostic('call ' + started.id + ', link ' + link);

		// max's phone rings with the title and the members; lea hears that it rings.
		await waitScreen(max, 'incoming');
		assert.equal(await max.textContent('#incoming-name'), TITLE);
		assert.equal(await max.getAttribute('#incoming-kind', 'data-group'), 'true');
		assert.equal(await max.getAttribute('#incoming-kind', 'data-video'), 'true');
		assert.match(await max.textContent('#incoming-kind'), /group video call/i);
		assert.match(await max.textContent('#incoming-user'), /Lea Roux/);
		assert.match(await max.textContent('#incoming-members'), /Lea Roux/);
		assert.equal(await max.getAttribute('#incoming-members', 'data-count'), '3');
		assert.equal((await max.textContent('#accept-label')).trim(), 'Join');
		assert.equal((await state(max)).sound, 'ring');
		await waitFor(lea, 'lea: the status did not say Ringing…', () => document.getElementById('group-status').textContent === 'Ringing…');
		await shot(max, 'group-phone-ringing.png');
		await shot(lea, 'group-laptop-alone.png');

		// max joins from the ring.
		await max.click('#btn-accept');
		await waitScreen(max, 'group');
		assertNames(await waitTiles(max, 'max', ['lea', 'max']), 'max');
		assertNames(await waitTiles(lea, 'lea', ['lea', 'max']), 'lea');

		// nina opens the link, signs in, and is in the call.
		const nina = await openPage('nina', LAPTOP, Object.fromEntries(new URL(link).searchParams));
		await waitScreen(nina, 'signin');
		assert.ok(await nina.isVisible('#signin-join'), 'the sign-in screen says that a call waits');
		await nina.fill('#signin-user', 'nina');
		await nina.fill('#signin-display', NAMES.nina);
		await nina.click('#signin-submit');
		await waitScreen(nina, 'group', 20000);
		assert.ok(!await nina.evaluate(() => location.search.includes('join=')), 'the link is taken off the address once used');

		// Three tiles with names everywhere, and video from both others playing in each.
		const all = ['lea', 'max', 'nina'];
		const views = { lea, max, nina };
		for (const [who, page] of Object.entries(views)) assertNames(await waitTiles(page, who, all), who);
		for (const [who, page] of Object.entries(views)) {
			for (const other of all.filter((u) => u !== who)) {
				const v = await waitPlaying(page, who, other);
				t.diagnostic(who + ' sees ' + other + ': ' + v.width + 'x' + v.height + ', +' + v.advanced + ' s, ' +
					v.frames + ' frames painted, ' + v.decoded + ' decoded in 1.5 s');
			}
		}
		for (const [who, page] of Object.entries(views)) {
			const g = (await state(page)).group;
			assert.equal(g.people.length, 2, who + ': two others in the call');
			assert.equal(g.streams.filter((s) => s.kind === 'video').length, 2, who + ': two video streams mapped');
			assert.equal(g.streams.filter((s) => s.kind === 'audio').length, 2, who + ': two audio streams mapped');
			assert.match(await status(page), /^\d\d:\d\d$/, who + ': the call timer runs');
		}
		assert.match(await nina.textContent('#group-title'), new RegExp(TITLE));
		// Simulcast: each camera goes out in three layers (rids h, m, l, each half the size of the one
		// before), and each receiver is sent one whole layer of it: the one its tiles call for (two
		// tiles: the top one), lower when its bandwidth estimate is short, as on a busy machine. Which
		// layer depends on the load; that the picture is one of them, and changes with them, does not.
		// (The layer rule itself is unit tested.) Chrome may scale all layers down when the machine is
		// busy, so the picture is compared with what the sender sends at the same moment.
		const layersOf = (page) => page.evaluate(async () => {
			const out = {};
			(await window.callsDebug.pc().getStats()).forEach((s) => {
				if (s.type === 'outbound-rtp' && s.kind === 'video') out[s.rid] = s.frameWidth || 0;
			});
			return out;
		});
		for (const [who, page] of Object.entries(views)) {
			const layers = await layersOf(page);
			t.diagnostic(who + ' sends ' + JSON.stringify(layers));
			assert.deepEqual(Object.keys(layers).sort(), ['h', 'l', 'm'], who + ': three simulcast layers');
		}
		for (const [who, page] of Object.entries(views)) {
			for (const other of all.filter((u) => u !== who)) {
				const deadline = Date.now() + 20000;
				let v, sent, layer;
				do {
					v = await measureVideo(page, other, 300);
					sent = await layersOf(views[other]);
					layer = Object.keys(sent).find((rid) => sent[rid] === v.width);
				} while (!(layer && v.width > 0) && Date.now() < deadline);
				assert.ok(layer && v.width > 0, who + ' gets one layer of ' + other + ': ' + JSON.stringify(v) +
					', sent ' + JSON.stringify(sent));
				t.diagnostic(who + ' gets ' + other + ' at ' + v.width + ', layer ' + layer + ' (sent ' + JSON.stringify(sent) + ')');
			}
		}
		await shot(lea, 'group-laptop-grid.png');
		await shot(max, 'group-phone-grid.png');
		await shot(nina, 'group-laptop-grid-nina.png');

		// The tones make everyone a speaker now and then: each tile is marked on every grid, one's own
		// too (`talking` goes to the speaker as well).
		for (const [who, page] of Object.entries(views)) {
			for (const u of all) {
				await waitFor(page, who + ': ' + u + ' never showed as talking', (user) =>
					document.querySelector('#group-grid .tile[data-user="' + user + '"]').dataset.talking === 'true', u, 15000);
			}
		}
		await shot(lea, 'group-laptop-talking.png');

		// max mutes: a mute badge on his tile for the others, and he is no longer a speaker; then he unmutes.
		await max.click('#btn-group-mute');
		for (const [who, page] of [['lea', lea], ['nina', nina]]) {
			await waitFor(page, who + ': max did not show as muted and silent', () => {
				const tile = document.querySelector('#group-grid .tile[data-user="max"]');
				return tile && tile.dataset.audio === 'false' && !tile.querySelector('.tile-mic').hidden &&
					tile.dataset.talking === 'false';
			});
		}
		// Muted, max stays silent for longer than his tone's cycle.
		const quiet = await lea.evaluate((ms) => new Promise((resolve) => {
			const tile = document.querySelector('#group-grid .tile[data-user="max"]');
			let talked = false;
			const obs = new MutationObserver(() => { if (tile.dataset.talking === 'true') talked = true; });
			obs.observe(tile, { attributes: true, attributeFilter: ['data-talking'] });
			setTimeout(() => { obs.disconnect(); resolve(!talked && tile.dataset.talking === 'false'); }, ms);
		}), TALK_CYCLE_MS + 1500);
		assert.ok(quiet, 'lea: muted max was marked as talking');
		await shot(lea, 'group-laptop-max-muted.png');
		await max.click('#btn-group-mute');
		await waitFor(lea, 'lea: max did not show as unmuted', () =>
			document.querySelector('#group-grid .tile[data-user="max"]').dataset.audio === 'true');

		// The participants panel on the phone: everyone, and the link with its copy button.
		await max.click('#btn-group-people');
		await max.waitForSelector('#group-side', { state: 'visible' });
		assert.deepEqual(await max.$$eval('#group-people li', (l) => l.map((li) => li.dataset.user).sort()), all);
		assert.equal(await max.inputValue('#group-link'), link);
		await shot(max, 'group-phone-people.png');
		await max.click('#btn-group-side-close');
		await max.waitForSelector('#group-side', { state: 'hidden' });


		// nina leaves: the two other grids shrink to two tiles.
		await leave(nina, 'nina');
		assertNames(await waitTiles(lea, 'lea', ['lea', 'max']), 'lea');
		assertNames(await waitTiles(max, 'max', ['lea', 'max']), 'max');
		await waitPlaying(lea, 'lea, after nina left', 'max');
		await shot(lea, 'group-laptop-after-leave.png');
		await shot(max, 'group-phone-after-leave.png');

		// nina comes back by pasting the link on the Dial tab.
		await nina.click('#tab-dial');
		await nina.fill('#join-link', link);
		await nina.click('#btn-join-video');
		await waitScreen(nina, 'group', 20000);
		for (const [who, page] of Object.entries(views)) await waitTiles(page, who, all);
		await waitPlaying(lea, 'lea, after nina came back', 'nina');
		await waitPlaying(max, 'max, after nina came back', 'nina');
		await waitPlaying(nina, 'nina, back', 'lea');
		await waitPlaying(nina, 'nina, back', 'max');

		// max leaves; lea rings him again with "Add people"; he joins from the ring.
		await leave(max, 'max');
		await waitTiles(lea, 'lea', ['lea', 'nina']);
		await lea.click('#btn-group-invite');
		await lea.waitForSelector('#invite-sheet', { state: 'visible' });
		assert.deepEqual(await lea.$$eval('#invite-list li', (l) => l.map((li) => li.dataset.user)), ['max'],
			'only the contact not in the call is offered');
		await lea.check('#invite-list li[data-user="max"] input');
		await shot(lea, 'group-laptop-invite.png');
		await lea.click('#btn-invite-send');
		await lea.waitForSelector('#invite-sheet', { state: 'hidden' });
		await waitScreen(max, 'incoming');
		assert.equal(await max.textContent('#incoming-name'), TITLE);
		await max.click('#btn-accept');
		await waitScreen(max, 'group');
		for (const [who, page] of Object.entries(views)) await waitTiles(page, who, all);
		await waitPlaying(max, 'max, back', 'lea');
		await waitPlaying(max, 'max, back', 'nina');
		await waitPlaying(lea, 'lea, with max back', 'max');

		// Everyone leaves; the call is over and its link no longer works.
		await leave(max, 'max');
		await leave(nina, 'nina');
		await leave(lea, 'lea');
		await nina.click('#tab-dial');
		await nina.fill('#join-link', link);
		await nina.click('#btn-join-video');
		const msg = await homeMessage(nina, 'error');
		assert.match(msg, /Couldn't join the group call/);
		assert.match(msg, /over/);

		// lea's Calls tab lists the call under its title.
		await lea.click('#tab-calls');
		await waitFor(lea, 'the group call is not in lea\'s history', (id) =>
			!!document.querySelector('#history-list li[data-call-id="' + id + '"]'), started.id, 20000);
		assert.equal(await lea.textContent('#history-list li[data-call-id="' + started.id + '"] .h-display'), TITLE);
		await shot(lea, 'group-laptop-history.png');
	});

// Inbound audio packets on the page's subscriber PeerConnection (-1 without one).
function subscriberAudio(page) {
	return page.evaluate(async () => {
		const pc = window.callsDebug.subPc();
		if (!pc) return -1;
		let n = 0;
		(await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') n += r.packetsReceived || 0; });
		return n;
	});
}

async function waitAudioGrowing(page, who, by = 25, timeout = 20000) {
	const deadline = Date.now() + timeout;
	let first = null, last = null;
	while (Date.now() < deadline) {
		last = await subscriberAudio(page);
		if (first === null && last > 0) first = last;
		if (first !== null && last >= first + by) return { from: first, to: last };
		await page.waitForTimeout(400);
	}
	throw new Error(who + ': inbound audio did not grow (first ' + first + ', last ' + last + ')' + await explain(page));
}

test('group voice call without a title: max declines, nina joins from the ring; avatars, audio both ways',
	{ timeout: 120000 }, async (t) => {
		needSignedIn('lea', 'max');
		if (!pages.nina) throw new Error('nina is not signed in (see the group video call test)');
		const lea = pages.lea.page, max = pages.max.page, nina = pages.nina.page;

		await openContacts(lea);
		await lea.click('#btn-group-new');
		await lea.click('#contacts-list li[data-user="max"] .c-pick');
		await lea.click('#contacts-list li[data-user="nina"] .c-pick');
		await lea.click('#btn-group-voice');
		await waitScreen(lea, 'group');
		await waitFor(lea, 'lea: the voice group call did not start', () => {
			const g = window.callsDebug.state().group;
			return g && g.state === 'active' && g.subscribed;
		});
		assert.equal(await lea.textContent('#group-title'), 'Group call');
		assert.ok(!await lea.isVisible('#btn-group-camera'), 'no camera button in a voice call');
		assert.match(await lea.inputValue('#group-link'), /[?&]video=0/, 'the link of a voice call joins without video');

		// max declines: only his ringing stops.
		await waitScreen(max, 'incoming');
		assert.equal(await max.textContent('#incoming-name'), 'Group call');
		assert.match(await max.textContent('#incoming-kind'), /group voice call/i);
		assert.equal(await max.getAttribute('#incoming-kind', 'data-video'), 'false');
		await max.click('#btn-decline');
		assert.match(await homeMessage(max, 'declined'), /You declined the group call from Lea Roux/);

		// nina joins from her ring.
		await waitScreen(nina, 'incoming');
		await nina.click('#btn-accept');
		await waitScreen(nina, 'group');
		for (const [who, page, self] of [['lea', lea, 'lea'], ['nina', nina, 'nina']]) {
			const list = await waitTiles(page, who, ['lea', 'nina']);
			assertNames(list, self);
			for (const tile of list) assert.equal(tile.video, 'off', who + ': no picture in a voice call');
			assert.ok(await page.isVisible('#group-grid .tile[data-user="' + (self === 'lea' ? 'nina' : 'lea') + '"] .tile-avatar'),
				who + ': the avatar stands in for the picture');
		}
		const heard = { lea: await waitAudioGrowing(lea, 'lea'), nina: await waitAudioGrowing(nina, 'nina') };
		t.diagnostic('audio packets: lea ' + heard.lea.from + ' -> ' + heard.lea.to + ', nina ' + heard.nina.from + ' -> ' + heard.nina.to);
		await waitFor(lea, 'lea: max still shows as invited', () =>
			!!document.querySelector('#group-invited li[data-user="max"]'));
		await shot(lea, 'group-laptop-voice.png');

		await leave(nina, 'nina', /You left the group call/);
		await waitTiles(lea, 'lea', ['lea']);
		await leave(lea, 'lea', /You left the group call/);
	});

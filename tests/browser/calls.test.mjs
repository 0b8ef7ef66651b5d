// Browser test of the bundled web client (html/) against a running Janus with janus.plugin.calls.
//
// Run through run.sh, which starts Janus inside a private network namespace. By hand, inside such
// a namespace with Janus up:  CALLS_JANUS_WS=ws://127.0.0.1:8188 node --test calls.test.mjs
//
// Two Chromium pages (alice on a laptop-sized window, bob on a phone-sized one) sign in, call each
// other and prove that media flows with getStats(). Screenshots go to screenshots/.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = path.join(HERE, 'screenshots');
const JANUS_WS = process.env.CALLS_JANUS_WS || 'ws://127.0.0.1:8188';
const CHROMIUM = process.env.CALLS_CHROMIUM || '/usr/lib/chromium/chromium';

// From shared/testing-webrtc.md; playwright adds --headless itself. Autoplay without a gesture
// lets the remote audio element play in a page driven by the test.
const CHROMIUM_FLAGS = [
	'--no-sandbox',
	'--use-fake-device-for-media-stream',
	'--use-fake-ui-for-media-stream',
	'--allow-loopback-in-peer-connection',
	'--disable-features=WebRtcHideLocalIpsWithMdns',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
	'--no-first-run',
	'--autoplay-policy=no-user-gesture-required',
];

const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let server, browser;
const pages = {};     // name -> {page, logs}

before(async () => {
	fs.mkdirSync(SHOTS, { recursive: true });
	server = await startServer({ janus: JANUS_WS, auth: 'none', lifetimeMs: 10 * 60 * 1000 });
	browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: 30000 });
});

// Keeps each page's console and the plugin messages it received, for a look after a failure.
async function saveLog(name) {
	const p = pages[name];
	try {
		fs.writeFileSync(path.join(SHOTS, name + '-console.log'), p.logs.join('\n') + '\n');
		const msgs = await p.page.evaluate(() => window.callsDebug.log);
		fs.writeFileSync(path.join(SHOTS, name + '-messages.json'), JSON.stringify(msgs, null, 1) + '\n');
	} catch (e) { /* page gone */ }
}

after(async () => {
	for (const name of Object.keys(pages)) await saveLog(name);
	if (browser) await browser.close();
	if (server) await server.close();
});

// Leaves every page on its home screen (or sign-in) so that a failed test does not spill over.
beforeEach(async () => {
	for (const { page } of Object.values(pages)) {
		const st = await state(page).catch(() => null);
		if (!st || !st.call) continue;
		for (const id of ['btn-hangup', 'btn-cancel', 'btn-decline']) {
			const b = page.locator('#' + id);
			if (await b.isVisible()) { await b.click().catch(() => {}); break; }
		}
		await page.waitForFunction(() => !window.callsDebug.state().call, null, { timeout: 10000 }).catch(() => {});
	}
});

// ---------------------------------------------------------------- helpers

async function openPage(name, viewport) {
	const context = await browser.newContext({ viewport, deviceScaleFactor: 1, hasTouch: viewport === PHONE });
	const page = await context.newPage();
	const logs = [];
	page.on('console', (m) => logs.push('[' + m.type() + '] ' + m.text()));
	page.on('pageerror', (e) => logs.push('[pageerror] ' + e.message));
	page.setDefaultTimeout(15000);
	await page.goto(server.url);
	try {
		await page.waitForFunction(() => !!window.callsDebug);
	} catch (e) {
		// Seen once in about ten runs on a loaded 2-core machine: the first page of a new
		// Chromium never ran its scripts. Load it again once, and say so in the page's log.
		logs.push('[test] client not ready after 15 s (' + e.message + '); reloading once');
		console.error(name + ': client not ready after 15 s; reloading once');
		await page.reload();
		await page.waitForFunction(() => !!window.callsDebug, null, { timeout: 30000 });
	}
	pages[name] = { page, logs };
	return page;
}

function state(page) {
	return page.evaluate(() => window.callsDebug.state());
}

async function explain(page) {
	const st = await state(page).catch((e) => 'state unavailable: ' + e.message);
	const log = await page.evaluate(() => window.callsDebug.log.slice(-12)).catch(() => []);
	const shown = await page.evaluate(() => ['signin-error', 'toast', 'home-message']
		.map((id) => document.getElementById(id))
		.filter((e) => !e.hidden && e.textContent.trim())
		.map((e) => e.id + ': ' + e.textContent.trim())).catch(() => []);
	return '\n  state: ' + JSON.stringify(st) + '\n  shown: ' + JSON.stringify(shown) +
		'\n  last plugin messages: ' + JSON.stringify(log);
}

async function waitScreen(page, name, timeout = 15000) {
	try {
		await page.waitForFunction((n) => document.body.dataset.screen === n, name, { timeout });
	} catch (e) {
		throw new Error('screen "' + name + '" did not show' + await explain(page));
	}
	await page.waitForTimeout(50);
}

async function shot(page, file) {
	await page.waitForTimeout(400);   // let entrance animations finish
	await page.screenshot({ path: path.join(SHOTS, file) });
}

async function signIn(page, user, display) {
	await page.fill('#signin-user', user);
	await page.fill('#signin-display', display);
	await page.click('#signin-submit');
	await waitScreen(page, 'home');
	assert.equal(await page.textContent('#home-display'), display);
	signedIn.add(user);
}

// The call tests need alice and bob signed in by the first test: without them, fail at once.
const signedIn = new Set();
function needSignedIn(...users) {
	for (const u of users) if (!signedIn.has(u)) throw new Error(u + ' is not signed in (see the first test)');
}

async function dial(page, to, kind) {
	await page.fill('#call-to', to);
	await page.click(kind === 'video' ? '#btn-video-call' : '#btn-voice-call');
}

async function homeMessage(page, reason) {
	try {
		await page.waitForFunction((r) => {
			const n = document.getElementById('home-message');
			return document.body.dataset.screen === 'home' && !n.hidden && n.dataset.reason === r;
		}, reason, { timeout: 15000 });
	} catch (e) {
		const got = await page.evaluate(() => {
			const n = document.getElementById('home-message');
			return { hidden: n.hidden, reason: n.dataset.reason, text: n.textContent };
		});
		throw new Error('expected a home message for "' + reason + '", got ' + JSON.stringify(got) + await explain(page));
	}
	return (await page.textContent('#home-message')).trim();
}

// Sums the inbound RTP counters of the page's PeerConnection.
function inbound(page) {
	return page.evaluate(async () => {
		const pc = window.callsDebug.pc();
		const out = { pc: !!pc, ice: pc ? pc.iceConnectionState : null,
			audio: { packets: 0, bytes: 0 }, video: { packets: 0, bytes: 0, frames: 0 } };
		if (!pc) return out;
		const stats = await pc.getStats();
		stats.forEach((r) => {
			if (r.type !== 'inbound-rtp') return;
			const k = r.kind || r.mediaType;
			if (!out[k]) return;
			out[k].packets += r.packetsReceived || 0;
			out[k].bytes += r.bytesReceived || 0;
			if (k === 'video') out.video.frames += r.framesDecoded || 0;
		});
		return out;
	});
}

// Waits until pick(stats) is above zero, then until it has grown by at least `by`.
async function waitGrowing(page, label, pick, by, timeout = 25000) {
	const deadline = Date.now() + timeout;
	let first = null, last = null;
	while (Date.now() < deadline) {
		last = await inbound(page);
		const v = pick(last);
		if (first === null && v > 0) first = v;
		if (first !== null && v >= first + by) return { from: first, to: v };
		await page.waitForTimeout(400);
	}
	throw new Error(label + ' did not grow (first ' + first + ', last stats ' + JSON.stringify(last) + ')' + await explain(page));
}

const videoFrames = (s) => s.video.frames;
const audioPackets = (s) => s.audio.packets;

// ---------------------------------------------------------------- tests

test('the client loads and both users sign in', { timeout: 60000 }, async () => {
	const alice = await openPage('alice', LAPTOP);
	const bob = await openPage('bob', PHONE);
	await waitScreen(alice, 'signin');
	await waitScreen(bob, 'signin');
	assert.equal(await bob.evaluate(() => window.callsDebug.server), JANUS_WS);
	await shot(alice, 'laptop-signin.png');
	await shot(bob, 'phone-signin.png');
	await signIn(alice, 'alice', 'Alice Martin');
	await signIn(bob, 'bob', 'Bob Stone');
	await shot(bob, 'phone-home.png');
});

test('video call: ring, answer, media both ways, hang up', { timeout: 120000 }, async (t) => {
	needSignedIn('alice', 'bob');
	const alice = pages.alice.page, bob = pages.bob.page;
	await dial(alice, 'bob', 'video');
	await waitScreen(alice, 'outgoing');

	await waitScreen(bob, 'incoming');
	assert.match(await bob.textContent('#incoming-name'), /Alice Martin/);
	assert.equal(await bob.getAttribute('#incoming-kind', 'data-video'), 'true');
	await alice.waitForFunction(() => document.getElementById('outgoing-status').textContent === 'Ringing…');
	assert.equal((await state(bob)).sound, 'ring', 'bob hears the ringtone');
	assert.equal((await state(alice)).sound, 'ringback', 'alice hears the ring-back tone');
	await shot(alice, 'laptop-ringing.png');
	await shot(bob, 'phone-incoming.png');

	await bob.click('#btn-accept');
	await waitScreen(bob, 'incall');
	await waitScreen(alice, 'incall');

	const aliceVideo = await waitGrowing(alice, 'alice: inbound video framesDecoded', videoFrames, 10);
	const bobVideo = await waitGrowing(bob, 'bob: inbound video framesDecoded', videoFrames, 10);
	const aliceAudio = await waitGrowing(alice, 'alice: inbound audio packetsReceived', audioPackets, 20);
	const bobAudio = await waitGrowing(bob, 'bob: inbound audio packetsReceived', audioPackets, 20);
	t.diagnostic('alice received video frames ' + aliceVideo.from + ' -> ' + aliceVideo.to + ', audio packets ' +
		aliceAudio.from + ' -> ' + aliceAudio.to + '; bob video frames ' + bobVideo.from + ' -> ' + bobVideo.to +
		', audio packets ' + bobAudio.from + ' -> ' + bobAudio.to);

	for (const p of [alice, bob]) {
		await p.waitForFunction(() => /^\d\d:\d\d$/.test(document.getElementById('call-timer').textContent));
		assert.equal(await p.getAttribute('#screen-incall', 'data-remote-video'), 'on');
		assert.equal(await p.getAttribute('#screen-incall', 'data-local-video'), 'on');
		await p.waitForFunction(() => document.getElementById('remote-video').videoWidth > 0);
	}
	await shot(alice, 'laptop-incall.png');
	await shot(bob, 'phone-incall.png');

	await alice.click('#btn-hangup');
	const aliceMsg = await homeMessage(alice, 'hangup');
	const bobMsg = await homeMessage(bob, 'hangup');
	assert.match(aliceMsg, /Call with bob ended/);
	assert.match(bobMsg, /Alice Martin ended the call/);
	assert.match(bobMsg, /Duration \d\d:\d\d/);
	assert.equal(await alice.evaluate(() => window.callsDebug.pc()), null);
	assert.equal(await bob.evaluate(() => window.callsDebug.pc()), null);
	await shot(alice, 'laptop-ended.png');
	await shot(bob, 'phone-ended.png');
});

test('voice call declined by the callee', { timeout: 60000 }, async () => {
	needSignedIn('alice', 'bob');
	const alice = pages.alice.page, bob = pages.bob.page;
	await dial(alice, 'bob', 'voice');
	await waitScreen(bob, 'incoming');
	assert.equal(await bob.getAttribute('#incoming-kind', 'data-video'), 'false');
	await bob.click('#btn-decline');
	assert.match(await homeMessage(bob, 'declined'), /You declined the call from Alice Martin/);
	assert.match(await homeMessage(alice, 'declined'), /bob declined the call/);
});

test('the caller cancels before an answer', { timeout: 60000 }, async () => {
	needSignedIn('alice', 'bob');
	const alice = pages.alice.page, bob = pages.bob.page;
	await dial(alice, 'bob', 'video');
	await waitScreen(bob, 'incoming');
	await alice.waitForFunction(() => document.getElementById('outgoing-status').textContent === 'Ringing…');
	await alice.click('#btn-cancel');
	assert.match(await homeMessage(alice, 'cancelled'), /Call cancelled/);
	assert.match(await homeMessage(bob, 'cancelled'), /Missed video call from Alice Martin/);
	await shot(bob, 'phone-missed.png');
});

test('a user signed in nowhere is unavailable', { timeout: 60000 }, async () => {
	needSignedIn('alice');
	const alice = pages.alice.page;
	await dial(alice, 'nobody-here', 'voice');
	assert.match(await homeMessage(alice, 'unavailable'), /nobody-here is unavailable/);
	await shot(alice, 'laptop-unavailable.png');
});

test('voice call turned into a video call (update)', { timeout: 120000 }, async () => {
	needSignedIn('alice', 'bob');
	const alice = pages.alice.page, bob = pages.bob.page;
	await dial(alice, 'bob', 'voice');
	await waitScreen(bob, 'incoming');
	await bob.click('#btn-accept');
	await waitScreen(alice, 'incall');
	await waitScreen(bob, 'incall');
	await waitGrowing(alice, 'alice: inbound audio packetsReceived', audioPackets, 20);
	await waitGrowing(bob, 'bob: inbound audio packetsReceived', audioPackets, 20);
	assert.equal(await alice.getAttribute('#screen-incall', 'data-remote-video'), 'off');
	await shot(bob, 'phone-incall-voice.png');

	await alice.click('#btn-video-on');
	await alice.waitForFunction(() => document.getElementById('screen-incall').dataset.localVideo === 'on');
	await waitGrowing(bob, 'bob: inbound video framesDecoded after update', videoFrames, 10);
	await bob.waitForFunction(() => document.getElementById('screen-incall').dataset.remoteVideo === 'on');

	await bob.click('#btn-video-on');
	await waitGrowing(alice, 'alice: inbound video framesDecoded after update', videoFrames, 10);
	await alice.waitForFunction(() => document.getElementById('screen-incall').dataset.remoteVideo === 'on');
	await shot(bob, 'phone-incall-upgraded.png');

	await bob.click('#btn-hangup');
	assert.match(await homeMessage(alice, 'hangup'), /bob ended the call/);
	await homeMessage(bob, 'hangup');
});

test('call waiting: end the current call and accept the waiting one', { timeout: 150000 }, async () => {
	needSignedIn('alice', 'bob');
	const alice = pages.alice.page, bob = pages.bob.page;
	const carol = await openPage('carol', LAPTOP);
	await signIn(carol, 'carol', 'Carol Jones');

	await dial(alice, 'bob', 'voice');
	await waitScreen(bob, 'incoming');
	await bob.click('#btn-accept');
	await waitScreen(alice, 'incall');
	await waitGrowing(bob, 'bob: inbound audio from alice', audioPackets, 10);

	await dial(carol, 'bob', 'video');
	await bob.waitForSelector('#waiting-banner:not([hidden])');
	assert.match(await bob.textContent('#waiting-name'), /Carol Jones/);
	await carol.waitForFunction(() => document.getElementById('outgoing-status').textContent === 'Ringing…');
	await shot(bob, 'phone-call-waiting.png');

	await bob.click('#btn-waiting-accept');
	assert.match(await homeMessage(alice, 'hangup'), /bob ended the call/);
	await waitScreen(carol, 'incall', 20000);
	await bob.waitForFunction(() => {
		const s = window.callsDebug.state();
		return s.call && s.call.peer === 'carol' && s.call.state === 'active';
	}, null, { timeout: 20000 }).catch(async () => { throw new Error('bob did not answer carol' + await explain(bob)); });
	await waitGrowing(bob, 'bob: inbound video from carol', videoFrames, 10);
	await waitGrowing(carol, 'carol: inbound video from bob', videoFrames, 10);
	await shot(bob, 'phone-incall-carol.png');

	await carol.click('#btn-hangup');
	assert.match(await homeMessage(bob, 'hangup'), /Carol Jones ended the call/);
	await saveLog('carol');
	delete pages.carol;
	await carol.context().close();
});

// Browser test of the bundled web client (html/) against a running Janus with janus.plugin.calls.
//
// Run through run.sh, which starts Janus inside a private network namespace. By hand, inside such
// a namespace with Janus up:  CALLS_JANUS_WS=ws://127.0.0.1:8188 node --test calls.test.mjs
//
// Two Chromium pages (alice on a laptop-sized window, bob on a phone-sized one) sign in, call each
// other and prove that media flows with getStats(). Screenshots go to screenshots/. The helpers are
// in harness.mjs; the Calls tab (call history) is tested in history.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useBrowser, pages, openPage, closePage, state, explain, waitScreen, shot, signIn, needSignedIn, dial,
	homeMessage, waitGrowing, videoFrames, audioPackets, JANUS_WS, LAPTOP, PHONE,
} from './harness.mjs';

useBrowser();

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
	await closePage('carol');
});

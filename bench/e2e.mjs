// bench/e2e.mjs - call setup as a person sees it, in a real browser (see bench/README.md).
//
// Run by bench/e2e.sh through tests/browser/run.sh, which starts PostgreSQL and Janus with the
// plugin inside a network namespace and runs this file with `node --test`: that is why it is a
// test file with one test, and why it takes its pages, Chromium and the static server from
// tests/browser/harness.mjs. Nothing here asserts a number; the test fails (and the benchmark
// exits non-zero) only when a call could not be set up.
//
// Two pages of the bundled client sign in as `caller` and `callee`; the caller makes BENCH_CALLS
// video calls, the callee accepts each after BENCH_RING_MS, the caller hangs up BENCH_HOLD_MS
// after both sides show video. Every time stamp is taken inside the pages (see installProbe)
// with Date.now(); the pages and this process run on one machine, so they read the same
// system clock, which the clock check at the start confirms.
import { test } from 'node:test';
import os from 'node:os';
import {
	useBrowser, pages, openPage, signIn, dial, waitScreen, waitFor, explain, LAPTOP, PHONE,
} from '../tests/browser/harness.mjs';

function envInt(name, dflt) {
	const v = process.env[name];
	if (v === undefined || v === '') return dflt;
	const n = Number(v);
	if (!Number.isInteger(n) || n < 0) throw new Error(name + ' must be a whole number, not ' + JSON.stringify(v));
	return n;
}

const CALLS = Math.max(1, envInt('BENCH_CALLS', 20));
const RING_MS = envInt('BENCH_RING_MS', 1000);
const HOLD_MS = envInt('BENCH_HOLD_MS', 1000);
const GAP_MS = envInt('BENCH_GAP_MS', 1000);
const STEP_TIMEOUT_MS = envInt('BENCH_STEP_TIMEOUT_MS', 20000);

useBrowser();

// Runs in each page once, after the client loaded. It patches the client's environment rather
// than the client, so that the client under test stays the one users get:
// - clicks on any button, caught in the capture phase, i.e. before the client's own handler;
// - the screen the client shows (body[data-screen]), by a MutationObserver, and the next
//   animation frame after the ringing screen appeared;
// - getUserMedia, and set{Local,Remote}Description of every PeerConnection, wrapped on the
//   prototype because janus.js creates the PeerConnection itself; the first such call also
//   attaches the ICE, connection and track listeners (a remote track unmutes with its first
//   RTP packet);
// - the first remote video frame, by requestVideoFrameCallback on #remote-video (arm()).
// Marks keep their first value per call; arm() starts a new call's marks.
function installProbe() {
	let run = {};
	const mark = (name, t = Date.now()) => { if (!(name in run)) run[name] = t; };
	// performance.now() stamps (those of requestVideoFrameCallback) on this page's Date.now() clock.
	const toEpoch = (perf) => Date.now() - performance.now() + perf;

	document.addEventListener('click', (ev) => {
		const b = ev.target && ev.target.closest && ev.target.closest('button[id]');
		if (b) mark('click:' + b.id);
	}, true);

	new MutationObserver(() => {
		const s = document.body.dataset.screen;
		mark('screen:' + s);
		const r = run;
		if (s === 'incoming') requestAnimationFrame(() => { if (!('screen:incoming+frame' in r)) r['screen:incoming+frame'] = Date.now(); });
	}).observe(document.body, { attributes: true, attributeFilter: ['data-screen'] });

	const md = navigator.mediaDevices;
	const gum = md.getUserMedia.bind(md);
	md.getUserMedia = (c) => {
		mark('gum:start');
		return gum(c).then((s) => { mark('gum:done'); return s; });
	};

	const watched = new WeakSet();
	function watch(pc) {
		if (watched.has(pc)) return;
		watched.add(pc);
		pc.addEventListener('icegatheringstatechange', () => mark('gather:' + pc.iceGatheringState));
		pc.addEventListener('iceconnectionstatechange', () => mark('ice:' + pc.iceConnectionState));
		pc.addEventListener('connectionstatechange', () => mark('pc:' + pc.connectionState));
		pc.addEventListener('track', (ev) => {
			const t = ev.track;
			if (t.kind !== 'video') return;
			if (!t.muted) mark('video:unmute');
			else t.addEventListener('unmute', () => mark('video:unmute'), { once: true });
		});
	}
	const proto = RTCPeerConnection.prototype;
	for (const [method, side] of [['setLocalDescription', 'local'], ['setRemoteDescription', 'remote']]) {
		const orig = proto[method];
		proto[method] = function (desc, ...rest) {
			watch(this);
			const kind = (desc && desc.type) || 'implicit';
			mark(side + ':' + kind + ':called');
			return orig.call(this, desc, ...rest).then((r) => { mark(side + ':' + kind); return r; });
		};
	}

	window.benchE2E = {
		arm() {
			run = { armed: Date.now() };
			const r = run;
			document.getElementById('remote-video').requestVideoFrameCallback((now, meta) => {
				r['frame:shown'] = toEpoch(meta.presentationTime);
				if (meta.receiveTime) r['frame:received'] = toEpoch(meta.receiveTime);
				if (meta.processingDuration !== undefined) r.decodeMs = meta.processingDuration * 1000;
				r.frameSize = meta.width + 'x' + meta.height;
				// What had come in by then: the first keyframe and whatever followed it until
				// getStats answered (framesReceived says how much that was).
				const pc = window.callsDebug.pc();
				if (pc) {
					pc.getStats().then((st) => st.forEach((x) => {
						if (x.type === 'inbound-rtp' && x.kind === 'video') {
							Object.assign(r, { firstBytes: x.bytesReceived, firstPackets: x.packetsReceived, firstFramesReceived: x.framesReceived });
						}
					})).catch(() => {});
				}
			});
		},
		marks() {
			// The plugin's messages as the client logged them on arrival (calls.js debugLog).
			for (const m of window.callsDebug.log) {
				if (m.at >= run.armed && m.data && m.data.calls) {
					const n = 'msg:' + m.data.calls;
					if (!(n in run)) run[n] = m.at;
				}
			}
			return run;
		},
		async counters() {
			const pc = window.callsDebug.pc();
			const out = {};
			if (!pc) return out;
			(await pc.getStats()).forEach((s) => {
				if (s.kind !== 'video') return;
				if (s.type === 'inbound-rtp') Object.assign(out, { pliSent: s.pliCount, firSent: s.firCount, keyFramesDecoded: s.keyFramesDecoded, framesDecoded: s.framesDecoded });
				if (s.type === 'outbound-rtp') Object.assign(out, { pliReceived: s.pliCount, keyFramesEncoded: s.keyFramesEncoded });
			});
			return out;
		},
	};
}

// Offsets of each page's Date.now() from this process's (the midpoint of the round trip);
// on one machine they are 0 within the round trip, which bounds how far the cross-page times
// (ring, caller's first frame) could be off.
async function clockCheck(named) {
	const rows = [];
	for (const [name, page] of named) {
		let best = null;
		for (let i = 0; i < 10; i++) {
			const t0 = Date.now();
			const tp = await page.evaluate(() => Date.now());
			const t1 = Date.now();
			if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: tp - (t0 + t1) / 2 };
		}
		rows.push(name + ' ' + (best.offset >= 0 ? '+' : '') + best.offset.toFixed(1) + ' ms (round trip ' + best.rtt + ' ms)');
	}
	return rows.join(', ');
}

// ---------------------------------------------------------------- numbers and tables

// Nearest rank, as bench/benchlib.py's pct().
function pct(values, p) {
	if (!values.length) return NaN;
	const s = [...values].sort((a, b) => a - b);
	return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p / 100 * s.length) - 1))];
}

const ms = (v) => (v === undefined || v === null || Number.isNaN(v) ? '-' : String(Math.round(v)));

// A table row: label, how many values, p50, p90, max (ms); calls lacking a mark are left out.
function summary(label, values) {
	const v = values.filter((x) => Number.isFinite(x));
	return [label, v.length, ms(pct(v, 50)), ms(pct(v, 90)), ms(v.length ? Math.max(...v) : NaN)];
}

function printTable(title, header, rows, note) {
	const cells = [header, ...rows].map((r) => r.map(String));
	const w = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
	const rule = '+' + w.map((n) => '-'.repeat(n + 2)).join('+') + '+';
	const fmt = (r, head) => '| ' + r.map((c, i) => (i === 0 || head ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |';
	const out = ['', '== ' + title + ' ==', rule, fmt(cells[0], true), rule, ...cells.slice(1).map((r) => fmt(r)), rule];
	if (note) out.push(note);
	console.log(out.join('\n'));
}

// The three measures the benchmark is about, from one call's marks.
function measures(a, b) {
	return {
		ring: b['screen:incoming'] - a['click:btn-video-call'],
		calleeFrame: b['frame:shown'] - b['click:btn-accept'],
		callerFrame: a['frame:shown'] - b['click:btn-accept'],
	};
}

// Where the time goes: each step after its phase's start, per call.
const RING_STEPS = [
	['caller: camera and microphone asked for', 'a', 'gum:start'],
	['caller: camera and microphone open', 'a', 'gum:done'],
	['caller: offer set (local description)', 'a', 'local:offer'],
	['caller: ICE gathering complete', 'a', 'gather:complete'],
	['callee: incoming_call received', 'b', 'msg:incoming_call'],
	['callee: ringing screen (DOM)', 'b', 'screen:incoming'],
	['callee: ringing screen, next animation frame', 'b', 'screen:incoming+frame'],
	['caller: ringing received', 'a', 'msg:ringing'],
];
const ACCEPT_STEPS = [
	['callee: offer set (remote description)', 'b', 'remote:offer'],
	['callee: camera and microphone asked for', 'b', 'gum:start'],
	['callee: camera and microphone open', 'b', 'gum:done'],
	['callee: answer set (local description)', 'b', 'local:answer'],
	['callee: ICE checking', 'b', 'ice:checking'],
	['callee: ICE connected', 'b', 'ice:connected'],
	['callee: DTLS up (connectionState connected)', 'b', 'pc:connected'],
	['caller: accepted received', 'a', 'msg:accepted'],
	['caller: answer given to its PeerConnection', 'a', 'remote:answer:called'],
	['caller: answer set (remote description)', 'a', 'remote:answer'],
	['caller: ICE checking', 'a', 'ice:checking'],
	['caller: ICE connected', 'a', 'ice:connected'],
	['caller: DTLS up (connectionState connected)', 'a', 'pc:connected'],
	['caller: first video RTP (track unmuted)', 'a', 'video:unmute'],
	['caller: first frame received (all its packets)', 'a', 'frame:received'],
	['caller: first frame shown (rVFC presentationTime)', 'a', 'frame:shown'],
	['callee: first video RTP (track unmuted)', 'b', 'video:unmute'],
	['callee: first frame received (all its packets)', 'b', 'frame:received'],
	['callee: first frame shown (rVFC presentationTime)', 'b', 'frame:shown'],
];

// The same calls cut into phases: each row is the time between two marks of one call.
const PHASES = [
	['caller: getUserMedia', 'a', 'gum:start', 'a', 'gum:done'],
	['caller: offer set -> callee: incoming_call received (WebSocket, Janus, plugin)', 'a', 'local:offer', 'b', 'msg:incoming_call'],
	['callee: incoming_call received -> ringing screen (client)', 'b', 'msg:incoming_call', 'b', 'screen:incoming'],
	['callee: accept pressed -> answer set (getUserMedia, SDP)', 'b', 'click:btn-accept', 'b', 'local:answer'],
	['callee: getUserMedia', 'b', 'gum:start', 'b', 'gum:done'],
	['callee: answer set -> caller: accepted received (signalling)', 'b', 'local:answer', 'a', 'msg:accepted'],
	['caller: accepted received -> answer given to its PeerConnection (janus.js)', 'a', 'msg:accepted', 'a', 'remote:answer:called'],
	['callee: ICE checking -> connected', 'b', 'ice:checking', 'b', 'ice:connected'],
	['caller: ICE checking -> connected', 'a', 'ice:checking', 'a', 'ice:connected'],
	['callee: ICE connected -> DTLS up', 'b', 'ice:connected', 'b', 'pc:connected'],
	['caller: ICE connected -> DTLS up', 'a', 'ice:connected', 'a', 'pc:connected'],
	['both legs up (the later DTLS) -> callee: first video RTP', 'both', 'pc:connected', 'b', 'video:unmute'],
	['both legs up (the later DTLS) -> caller: first video RTP', 'both', 'pc:connected', 'a', 'video:unmute'],
	['callee: first video RTP -> first whole frame', 'b', 'video:unmute', 'b', 'frame:received'],
	['caller: first video RTP -> first whole frame', 'a', 'video:unmute', 'a', 'frame:received'],
	['callee: first whole frame -> shown (decode, render)', 'b', 'frame:received', 'b', 'frame:shown'],
	['caller: first whole frame -> shown (decode, render)', 'a', 'frame:received', 'a', 'frame:shown'],
];

const phaseRows = (done) => PHASES.map(([label, s1, k1, s2, k2]) => summary(label, done.map((c) => c[s2][k2] - c[s1][k1])));
const stepRows = (done, steps, start) => steps.map(([label, side, key]) => summary(label, done.map((c) => c[side][key] - start(c))));

function report(done, failed) {
	const per = done.map((c) => measures(c.a, c.b));
	printTable('Each call (ms)', ['call', 'ring', 'callee first frame', 'caller first frame', 'frame size callee / caller', 'PLIs sent callee / caller', 'PLIs received callee / caller', 'keyframes encoded callee / caller'],
		done.map((c, i) => [i + 1, ms(per[i].ring), ms(per[i].calleeFrame), ms(per[i].callerFrame),
			(c.b.frameSize || '-') + ' / ' + (c.a.frameSize || '-'),
			(c.bStats.pliSent ?? '-') + ' / ' + (c.aStats.pliSent ?? '-'),
			(c.bStats.pliReceived ?? '-') + ' / ' + (c.aStats.pliReceived ?? '-'),
			(c.bStats.keyFramesEncoded ?? '-') + ' / ' + (c.aStats.keyFramesEncoded ?? '-')]));
	const row = (label, key) => summary(label, per.map((m) => m[key]));
	printTable('Call setup in the browser, K = ' + done.length + ' calls' + (failed ? ' (then one failed)' : ''),
		['measure', 'K', 'p50 ms', 'p90 ms', 'max ms'],
		[row('ring: call pressed (caller) -> ringing screen (callee)', 'ring'),
			row('accept pressed -> first remote video frame, callee', 'calleeFrame'),
			row('accept pressed -> first remote video frame, caller', 'callerFrame')],
		'Times taken in the pages with Date.now() (one machine, one clock); first frame: requestVideoFrameCallback on #remote-video, its presentationTime.');
	printTable('Where the ring time goes (ms after the caller pressed call)', ['step', 'n', 'p50', 'p90', 'max'],
		stepRows(done, RING_STEPS, (c) => c.a['click:btn-video-call']));
	printTable('Where the answer time goes (ms after the callee pressed accept)', ['step', 'n', 'p50', 'p90', 'max'],
		stepRows(done, ACCEPT_STEPS, (c) => c.b['click:btn-accept']),
		'Each step is a separate distribution: the p90 of one step and of the next may come from different calls.');
	printTable('Phases of each call (ms)', ['phase', 'n', 'p50', 'p90', 'max'], phaseRows(done),
		'A first video RTP packet waits for both legs (caller-Janus, Janus-callee) to be up; the first whole frame is the first keyframe.');
	const dec = [];
	for (const c of done) for (const s of [c.a, c.b]) if (Number.isFinite(s.decodeMs)) dec.push(s.decodeMs);
	if (dec.length) console.log('decode time of the first frame (rVFC processingDuration): p50 ' + pct(dec, 50).toFixed(1) + ' ms, max ' + Math.max(...dec).toFixed(1) + ' ms');
	const got = [];
	for (const c of done) for (const s of [c.a, c.b]) if (Number.isFinite(s.firstBytes)) got.push(s);
	if (got.length) {
		const p50 = (k) => pct(got.map((s) => s[k]), 50);
		console.log('video received when the first frame was shown (getStats right after it): p50 ' + (p50('firstBytes') / 1000).toFixed(1) +
			' kB in ' + p50('firstPackets') + ' packets, ' + p50('firstFramesReceived') + ' frame(s); max ' +
			(Math.max(...got.map((s) => s.firstBytes)) / 1000).toFixed(1) + ' kB (the first keyframe and the few frames after it)');
	}
}

// ---------------------------------------------------------------- the calls

async function oneCall(caller, callee) {
	await Promise.all([caller.evaluate(() => window.benchE2E.arm()), callee.evaluate(() => window.benchE2E.arm())]);
	await dial(caller, 'callee', 'video');
	await waitScreen(callee, 'incoming', STEP_TIMEOUT_MS);
	// A person takes a moment to answer; the caller's side settles meanwhile as it would.
	await callee.waitForTimeout(RING_MS);
	await callee.click('#btn-accept');
	const framed = () => 'frame:shown' in window.benchE2E.marks();
	await Promise.all([
		waitFor(caller, 'caller: no remote video frame', framed, null, STEP_TIMEOUT_MS),
		waitFor(callee, 'callee: no remote video frame', framed, null, STEP_TIMEOUT_MS),
	]);
	await caller.waitForTimeout(HOLD_MS);
	const [a, b, aStats, bStats] = await Promise.all([
		caller.evaluate(() => window.benchE2E.marks()), callee.evaluate(() => window.benchE2E.marks()),
		caller.evaluate(() => window.benchE2E.counters()), callee.evaluate(() => window.benchE2E.counters()),
	]);
	await caller.click('#btn-hangup');
	const idle = () => document.body.dataset.screen === 'home' && !window.callsDebug.state().call && !window.callsDebug.pc();
	await Promise.all([
		waitFor(caller, 'caller: back home after hanging up', idle, null, STEP_TIMEOUT_MS),
		waitFor(callee, 'callee: back home after the hang-up', idle, null, STEP_TIMEOUT_MS),
	]);
	// Media flows only once Janus has both legs: the later one gates the first packet either way.
	const both = { 'pc:connected': Math.max(a['pc:connected'], b['pc:connected']) };
	return { a, b, both, aStats, bStats };
}

test('end-to-end call setup timing', { timeout: 120000 + CALLS * (RING_MS + HOLD_MS + GAP_MS + 3 * STEP_TIMEOUT_MS) }, async () => {
	const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
	console.log('janus-calls e2e benchmark, ' + new Date().toISOString().replace(/\.\d+Z$/, 'Z') + ', ' + os.cpus().length +
		' CPUs, load average ' + load + ', commit ' + (process.env.BENCH_COMMIT || '?'));
	console.log('BENCH_CALLS=' + CALLS + ' BENCH_RING_MS=' + RING_MS + ' BENCH_HOLD_MS=' + HOLD_MS + ' BENCH_GAP_MS=' + GAP_MS +
		' BENCH_STEP_TIMEOUT_MS=' + STEP_TIMEOUT_MS);
	const caller = await openPage('e2e-caller', LAPTOP);
	const callee = await openPage('e2e-callee', PHONE);
	for (const p of [caller, callee]) {
		await waitScreen(p, 'signin');
		await p.evaluate(installProbe);
	}
	await signIn(caller, 'caller', 'Bench Caller');
	await signIn(callee, 'callee', 'Bench Callee');
	console.log('clock offsets from the test process: ' + await clockCheck([['caller', caller], ['callee', callee]]));

	const done = [];
	let failure = null;
	for (let i = 0; i < CALLS; i++) {
		try {
			const c = await oneCall(caller, callee);
			done.push(c);
			const m = measures(c.a, c.b);
			console.log('call ' + (i + 1) + '/' + CALLS + ': ring ' + ms(m.ring) + ' ms, first frame callee ' + ms(m.calleeFrame) +
				' ms, caller ' + ms(m.callerFrame) + ' ms');
		} catch (e) {
			failure = new Error('call ' + (i + 1) + ' of ' + CALLS + ' failed: ' + e.message);
			break;
		}
		if (GAP_MS) await caller.waitForTimeout(GAP_MS);
	}
	if (done.length) report(done, failure);
	if (failure) {
		// The wait that failed explained its own page; the other page's side matters as much.
		for (const [name, p] of Object.entries(pages)) failure.message += '\n' + name + ':' + await explain(p.page);
		throw failure;
	}
});

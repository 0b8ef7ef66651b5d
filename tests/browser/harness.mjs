// What the browser tests share: Chromium with fake devices, the static server for html/, pages
// that sign in and call, and the checks on what a page shows. Each test file calls useBrowser()
// once at its top level; it registers the before/after hooks that start and stop both.
import { before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SHOTS = path.join(HERE, 'screenshots');
// The private PostgreSQL of run.sh (tests/lib/pg_instance.py), for tests that freeze it.
export const PG_DIR = process.env.CALLS_PG_DIR || '';
export const JANUS_WS = process.env.CALLS_JANUS_WS || 'ws://127.0.0.1:8188';
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

export const LAPTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

let server, browser;
export const pages = {};     // name -> {page, logs}

// Starts the static server and Chromium before the file's tests, stops them after; before each
// test, ends whatever call a page is still in so that a failed test does not spill over.
// args: more Chromium flags (e.g. a file for the fake microphone).
export function useBrowser({ args = [] } = {}) {
	before(async () => {
		fs.mkdirSync(SHOTS, { recursive: true });
		server = await startServer({ janus: JANUS_WS, auth: 'none', lifetimeMs: 10 * 60 * 1000 });
		browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS.concat(args), timeout: 30000 });
	});

	after(async () => {
		for (const name of Object.keys(pages)) await saveLog(name);
		if (browser) await browser.close();
		if (server) await server.close();
	});

	beforeEach(async () => {
		for (const { page } of Object.values(pages)) {
			const st = await state(page).catch(() => null);
			if (!st || !st.call) continue;
			for (const id of ['btn-hangup', 'btn-cancel', 'btn-decline', 'btn-group-leave']) {
				const b = page.locator('#' + id);
				if (await b.isVisible()) { await b.click().catch(() => {}); break; }
			}
			await page.waitForFunction(() => !window.callsDebug.state().call, null, { timeout: 10000 }).catch(() => {});
		}
	});
}

// Keeps each page's console and the plugin messages it received, for a look after a failure.
export async function saveLog(name) {
	const p = pages[name];
	try {
		fs.writeFileSync(path.join(SHOTS, name + '-console.log'), p.logs.join('\n') + '\n');
		const msgs = await p.page.evaluate(() => window.callsDebug.log);
		fs.writeFileSync(path.join(SHOTS, name + '-messages.json'), JSON.stringify(msgs, null, 1) + '\n');
	} catch (e) { /* page gone */ }
}

// Saves the page's logs and closes its browser context.
export async function closePage(name) {
	const p = pages[name];
	if (!p) return;
	await saveLog(name);
	delete pages[name];
	await p.page.context().close();
}

// ---------------------------------------------------------------- helpers

// query: extra URL parameters of the client (e.g. {history_limit: 3}).
export async function openPage(name, viewport, query) {
	const context = await browser.newContext({ viewport, deviceScaleFactor: 1, hasTouch: viewport === PHONE });
	const page = await context.newPage();
	const logs = [];
	page.on('console', (m) => logs.push('[' + m.type() + '] ' + m.text()));
	page.on('pageerror', (e) => logs.push('[pageerror] ' + e.message));
	page.setDefaultTimeout(15000);
	const url = server.url + (query ? '?' + new URLSearchParams(query) : '');
	await page.goto(url);
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

export function state(page) {
	return page.evaluate(() => window.callsDebug.state());
}

export async function explain(page) {
	const st = await state(page).catch((e) => 'state unavailable: ' + e.message);
	const log = await page.evaluate(() => window.callsDebug.log.slice(-12)).catch(() => []);
	const shown = await page.evaluate(() => ['signin-error', 'toast', 'home-message', 'history-alert']
		.map((id) => document.getElementById(id))
		.filter((e) => !e.hidden && e.textContent.trim())
		.map((e) => e.id + ': ' + e.textContent.trim().replace(/\s+/g, ' '))).catch(() => []);
	return '\n  state: ' + JSON.stringify(st) + '\n  shown: ' + JSON.stringify(shown) +
		'\n  last plugin messages: ' + JSON.stringify(log);
}

// Waits until fn (run in the page with arg) is true; on timeout fails with `what` and the page's state.
export async function waitFor(page, what, fn, arg, timeout = 15000) {
	try {
		await page.waitForFunction(fn, arg, { timeout });
	} catch (e) {
		throw new Error(what + ' (waited ' + timeout + ' ms)' + await explain(page));
	}
}

export async function waitScreen(page, name, timeout = 15000) {
	await waitFor(page, 'screen "' + name + '" did not show', (n) => document.body.dataset.screen === n, name, timeout);
	await page.waitForTimeout(50);
}

export async function shot(page, file) {
	await page.waitForTimeout(400);   // let entrance animations finish
	await page.screenshot({ path: path.join(SHOTS, file) });
}

export async function signIn(page, user, display) {
	await page.fill('#signin-user', user);
	await page.fill('#signin-display', display);
	await page.click('#signin-submit');
	await waitScreen(page, 'home');
	assert.equal(await page.textContent('#home-display'), display);
	signedIn.add(user);
}

// The call tests need users signed in by a first test: without them, fail at once.
const signedIn = new Set();
export function needSignedIn(...users) {
	for (const u of users) if (!signedIn.has(u)) throw new Error(u + ' is not signed in (see the first test)');
}

export async function dial(page, to, kind) {
	await page.click('#tab-dial');
	await page.fill('#call-to', to);
	await page.click(kind === 'video' ? '#btn-video-call' : '#btn-voice-call');
}

export async function homeMessage(page, reason) {
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
export function inbound(page) {
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
export async function waitGrowing(page, label, pick, by, timeout = 25000) {
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

export const videoFrames = (s) => s.video.frames;
export const audioPackets = (s) => s.audio.packets;

// Hangs PostgreSQL (SIGSTOP on all its processes, tests/lib/pg_instance.py) until thaw() is
// called, or the test file ends (an after hook thaws it; the helper also resumes it when its
// stdin closes).
export function freezeDatabase() {
	const code = [
		'import sys',
		'sys.path.insert(0, sys.argv[1])',
		'from pg_instance import PgCluster',
		'pg = PgCluster(sys.argv[2])',
		'pg.freeze()',
		'print("frozen", flush=True)',
		'sys.stdin.read()',
		'pg.thaw()',
		'print("thawed", flush=True)',
	].join('\n');
	const lib = path.resolve(HERE, '..', 'lib');
	const p = spawn('python3', ['-c', code, lib, PG_DIR], { stdio: ['pipe', 'pipe', 'inherit'] });
	let out = '';
	const exited = new Promise((resolve) => p.on('exit', resolve));
	const frozen = new Promise((resolve, reject) => {
		p.stdout.on('data', (b) => { out += b; if (out.includes('frozen')) resolve(); });
		exited.then((code) => reject(new Error('the freeze helper ended (' + code + '): ' + out)));
	});
	const thaw = async () => {
		frozenDb = null;
		p.stdin.end();
		await exited;
		if (!out.includes('thawed')) throw new Error('the database was not thawed: ' + out);
	};
	frozenDb = { thaw };
	return frozen.then(() => frozenDb);
}
let frozenDb = null;
after(async () => { if (frozenDb) await frozenDb.thaw().catch(() => {}); });

// Browser test of the Calls tab (call history) of the bundled web client, against a running Janus
// whose plugin keeps its history in PostgreSQL (run.sh starts both).
//
// dana (a laptop-sized page) and eli (a phone-sized one) call each other: a call while eli is
// signed in nowhere, an answered video call, a declined voice call, a cancelled one. Then the Calls
// tab must list them with the right marks, the missed-calls badge must count and clear (also on
// eli's second device), calling back must ring the other page, deleting must remove the entry,
// and with the database hung the tab must say that history is unavailable while calls still work.
// The last part needs CALLS_PG_DIR, the folder of the test's PostgreSQL cluster (tests/lib/pg_instance.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useBrowser, openPage, closePage, state, explain, waitFor, waitScreen, shot, signIn, needSignedIn, dial,
	homeMessage, LAPTOP, PHONE, PG_DIR, freezeDatabase,
} from './harness.mjs';

useBrowser();

// ---------------------------------------------------------------- helpers

// The entries the Calls tab shows, top to bottom.
function entries(page) {
	return page.evaluate(() => Array.from(document.querySelectorAll('#history-list li')).map((li) => ({
		id: li.dataset.callId,
		peer: li.dataset.peer,
		direction: li.dataset.direction,
		outcome: li.dataset.outcome,
		media: li.dataset.media,
		red: li.classList.contains('h-missed') &&
			getComputedStyle(li.querySelector('.h-display')).color === 'rgb(234, 0, 56)',
		display: li.querySelector('.h-display').textContent,
		user: (li.querySelector('.h-user') || {}).textContent || '',
		arrow: li.querySelector('.h-dir use').getAttribute('href'),
		duration: (li.querySelector('.h-duration') || {}).textContent || '',
		outcomeText: (li.querySelector('.h-outcome') || {}).textContent || '',
		when: li.querySelector('.h-when').textContent,
		callback: (li.querySelector('.h-callback use') || { getAttribute: () => '' }).getAttribute('href'),
	})));
}

// Waits until the Calls tab shows n entries (and nothing is loading).
async function waitEntries(page, n, timeout = 15000) {
	await waitFor(page, 'the Calls tab did not show ' + n + ' entries', (k) => {
		const h = document.getElementById('history');
		return document.querySelectorAll('#history-list li').length === k && h.getAttribute('aria-busy') === 'false';
	}, n, timeout);
	return entries(page);
}

async function badge(page) {
	return page.evaluate(() => {
		const b = document.getElementById('calls-badge');
		return b.hidden ? 0 : Number(b.textContent);
	});
}

async function waitBadge(page, n) {
	await waitFor(page, 'the missed-calls badge did not show ' + n, (k) => {
		const b = document.getElementById('calls-badge');
		return k === 0 ? b.hidden : !b.hidden && b.textContent === String(k);
	}, n);
}

async function openCalls(page) {
	await page.click('#tab-calls');
	await waitFor(page, 'the Calls tab did not open', () => document.body.dataset.tab === 'calls' &&
		!document.getElementById('panel-calls').hidden);
}

async function waitRinging(page) {
	await waitFor(page, 'the caller did not hear ringing',
		() => document.getElementById('outgoing-status').textContent === 'Ringing…');
}


const P = {};   // name -> page

// ---------------------------------------------------------------- tests

test('calls to log: unavailable, answered, declined, cancelled; the badge counts the missed ones', { timeout: 120000 }, async () => {
	// dana's pages of history hold 3 entries, so that her tab needs "Show older calls".
	const dana = P.dana = await openPage('dana', LAPTOP, { history_limit: 3 });
	await signIn(dana, 'dana', 'Dana Scott');
	assert.equal(await badge(dana), 0);

	// eli is signed in nowhere: unavailable for dana, missed for eli.
	await dial(dana, 'eli', 'voice');
	assert.match(await homeMessage(dana, 'unavailable'), /eli is unavailable/);

	const eli = P.eli = await openPage('eli', PHONE);
	await signIn(eli, 'eli', 'Eli Brown');
	await waitBadge(eli, 1);   // registered.missed_calls

	// An answered video call of a few seconds, hung up by dana.
	await dial(dana, 'eli', 'video');
	await waitScreen(eli, 'incoming');
	await eli.click('#btn-accept');
	await waitScreen(eli, 'incall');
	await waitScreen(dana, 'incall');
	await dana.waitForFunction(() => /^00:0[3-9]$/.test(document.getElementById('call-timer').textContent),
		null, { timeout: 20000 });
	await dana.click('#btn-hangup');
	await homeMessage(dana, 'hangup');
	await homeMessage(eli, 'hangup');

	// A voice call from eli that dana declines.
	await dial(eli, 'dana', 'voice');
	await waitScreen(dana, 'incoming');
	await dana.click('#btn-decline');
	await homeMessage(eli, 'declined');
	await homeMessage(dana, 'declined');

	// A voice call dana cancels while eli's page rings: a missed call for eli.
	await dial(dana, 'eli', 'voice');
	await waitScreen(eli, 'incoming');
	await waitRinging(dana);
	await dana.click('#btn-cancel');
	await homeMessage(dana, 'cancelled');
	assert.match(await homeMessage(eli, 'cancelled'), /Missed voice call from Dana Scott/);

	await waitBadge(eli, 2);
	assert.equal(await badge(dana), 0, 'dana missed nothing');
	assert.equal(await eli.getAttribute('#tab-calls', 'aria-label'), 'Calls, 2 missed');
	await shot(eli, 'phone-calls-badge.png');
});

test('the Calls tab lists the calls; opening it clears the badge on every device', { timeout: 90000 }, async () => {
	needSignedIn('dana', 'eli');
	const eli = P.eli, dana = P.dana;

	// eli's second device: its badge starts from registered.missed_calls.
	const eli2 = await openPage('eli-laptop', LAPTOP);
	await signIn(eli2, 'eli', 'Eli Brown');
	await waitBadge(eli2, 2);

	await openCalls(eli);
	assert.equal(await badge(eli), 0, 'opening the tab clears the badge');
	// history_seen reaches the other device as missed_calls {count: 0}.
	await waitBadge(eli2, 0);
	await closePage('eli-laptop');

	const got = await waitEntries(eli, 4);
	const expect = [
		{ direction: 'incoming', outcome: 'missed', media: 'audio', red: true, arrow: '#i-in', outcomeText: 'Missed', callback: '#i-phone' },
		{ direction: 'outgoing', outcome: 'declined', media: 'audio', red: false, arrow: '#i-out', outcomeText: 'Declined', callback: '#i-phone' },
		{ direction: 'incoming', outcome: 'answered', media: 'video', red: false, arrow: '#i-in', outcomeText: '', callback: '#i-video' },
		{ direction: 'incoming', outcome: 'missed', media: 'audio', red: true, arrow: '#i-in', outcomeText: 'Missed', callback: '#i-phone' },
	];
	got.forEach((e, i) => {
		for (const [k, v] of Object.entries(expect[i])) assert.equal(e[k], v, 'eli entry ' + i + ' ' + k + ': ' + JSON.stringify(e));
		assert.equal(e.peer, 'dana');
		assert.equal(e.display, 'Dana Scott');
		assert.equal(e.user, 'dana');
		assert.match(e.when, /^\d\d:\d\d$/, 'today: HH:MM');
	});
	const secs = got[2].duration.match(/^(\d+):(\d\d)$/);
	assert.ok(secs && Number(secs[1]) * 60 + Number(secs[2]) >= 3, 'answered call lasted 3 s or more: ' + got[2].duration);
	assert.equal(got[0].duration, '', 'no duration when not answered');
	assert.equal(await eli.isVisible('#history-more'), false, 'one page holds all four');
	await shot(eli, 'phone-calls.png');

	// dana's view, three entries a page.
	await openCalls(dana);
	let d = await waitEntries(dana, 3);
	assert.deepEqual(d.map((e) => [e.direction, e.outcome, e.media]), [
		['outgoing', 'cancelled', 'audio'],
		['incoming', 'declined', 'audio'],
		['outgoing', 'answered', 'video'],
	]);
	assert.ok(d.every((e) => !e.red), 'dana has no missed call');
	assert.equal(d[1].arrow, '#i-in');
	assert.equal(d[0].outcomeText, 'Cancelled');
	await dana.click('#history-more');
	d = await waitEntries(dana, 4);
	assert.deepEqual([d[3].direction, d[3].outcome, d[3].display, d[3].user], ['outgoing', 'unavailable', 'Eli Brown', 'eli']);
	await waitFor(dana, 'no "Show older calls" after the last page', () => document.getElementById('history-more').hidden);
	await dana.mouse.move(1, 1);   // no hover on the screenshot
	await shot(dana, 'laptop-calls.png');

	// The Missed filter.
	await eli.click('#history-missed');
	const missed = await waitEntries(eli, 2);
	assert.ok(missed.every((e) => e.outcome === 'missed'));
	await eli.click('#history-all');
	await waitEntries(eli, 4);
});

test('call back from the Calls tab rings the other side; the list refreshes when it ends', { timeout: 90000 }, async () => {
	needSignedIn('dana', 'eli');
	const eli = P.eli, dana = P.dana;
	const before = await entries(eli);

	// eli calls back the answered video call: dana's page rings with video.
	await eli.click('#history-list li[data-outcome="answered"] .h-callback');
	await waitScreen(eli, 'outgoing');
	await waitScreen(dana, 'incoming');
	assert.equal(await dana.getAttribute('#incoming-kind', 'data-video'), 'true');
	assert.match(await dana.textContent('#incoming-name'), /Eli Brown/);
	await dana.click('#btn-decline');
	await homeMessage(eli, 'declined');
	assert.equal((await state(eli)).tab, 'calls', 'eli is back on the Calls tab');
	let now = await waitEntries(eli, before.length + 1);
	assert.deepEqual([now[0].direction, now[0].outcome, now[0].media], ['outgoing', 'declined', 'video']);

	// dana calls back the call she cancelled (voice) and cancels again: eli, looking at the
	// Calls tab, sees the missed call at once and gets no badge for it.
	await dana.click('#history-list li[data-outcome="cancelled"] .h-callback');
	await waitScreen(eli, 'incoming');
	assert.equal(await eli.getAttribute('#incoming-kind', 'data-video'), 'false');
	await waitRinging(dana);
	await dana.click('#btn-cancel');
	await homeMessage(eli, 'cancelled');
	now = await waitEntries(eli, before.length + 2);
	assert.deepEqual([now[0].direction, now[0].outcome, now[0].media, now[0].red], ['incoming', 'missed', 'audio', true]);
	assert.equal(await badge(eli), 0, 'no badge for a missed call seen in the open tab');
});

test('deleting an entry removes it from the list and from the log', { timeout: 60000 }, async () => {
	needSignedIn('eli');
	const eli = P.eli;
	const list = await entries(eli);
	const victim = list[1];
	await eli.click('#history-list li[data-call-id="' + victim.id + '"] .h-delete');
	let now = await waitEntries(eli, list.length - 1);
	assert.ok(!now.some((e) => e.id === victim.id), 'the entry is gone from the list');
	assert.deepEqual(now.map((e) => e.id), list.filter((e) => e.id !== victim.id).map((e) => e.id));
	// Loaded again from the server (the filter switch reloads): still gone.
	await eli.click('#history-missed');
	await waitFor(eli, 'missed filter', () => document.getElementById('history-missed').getAttribute('aria-pressed') === 'true' &&
		document.getElementById('history').getAttribute('aria-busy') === 'false');
	await eli.click('#history-all');
	now = await waitEntries(eli, list.length - 1);
	assert.ok(!now.some((e) => e.id === victim.id), 'the entry is gone from the log');
});

test('with the database hung: "History is unavailable right now", calls still work', { timeout: 120000 }, async (t) => {
	if (!PG_DIR) { t.skip('CALLS_PG_DIR is not set'); return; }
	needSignedIn('dana', 'eli');
	const eli = P.eli, dana = P.dana;
	const shown = await entries(eli);
	const db = await freezeDatabase();

	// A call while the database does not answer: it rings and ends as usual.
	await dial(dana, 'eli', 'voice');
	await waitScreen(eli, 'incoming');
	await eli.click('#btn-decline');
	await homeMessage(dana, 'declined');
	await homeMessage(eli, 'declined');
	// eli's tab reloads after the call and gets 503: a message, the old entries stay.
	await waitFor(eli, 'no "unavailable" message in the Calls tab', () => {
		const a = document.getElementById('history-alert');
		return !a.hidden && a.dataset.code === '503';
	}, null, 20000);
	assert.match(await eli.textContent('#history-alert'), /History is unavailable right now/);
	assert.equal((await entries(eli)).length, shown.length, 'the entries already shown stay');
	// Deleting fails with a message and keeps the entry.
	await eli.click('#history-list li[data-call-id="' + shown[0].id + '"] .h-delete');
	await waitFor(eli, 'no toast for the failed delete', () => {
		const t = document.getElementById('toast');
		return !t.hidden && /History is unavailable right now/.test(t.textContent);
	}, null, 20000);
	await waitFor(eli, 'the entry came back usable', (id) => {
		const li = document.querySelector('#history-list li[data-call-id="' + id + '"]');
		return li && li.getAttribute('aria-busy') !== 'true';
	}, shown[0].id);
	await shot(eli, 'phone-calls-unavailable.png');
	// The rest of the app is usable: the Dial tab.
	await eli.click('#tab-dial');
	assert.equal(await eli.isVisible('#call-to'), true);
	await eli.click('#tab-calls');

	await db.thaw();
	// Once the plugin is connected again (it retries with a backoff of up to 10 s), "Try again"
	// shows the history, with the call made during the outage (spooled, then written).
	const deadline = Date.now() + 45000;
	for (let tries = 0; ; tries++) {
		await eli.waitForFunction(() => document.getElementById('history').getAttribute('aria-busy') === 'false',
			null, { timeout: 20000 });
		if (await eli.isHidden('#history-alert')) break;
		if (Date.now() > deadline) throw new Error('history still unavailable 45 s after the database came back' + await explain(eli));
		if (tries) await eli.waitForTimeout(1000);
		await eli.click('#history-retry');
	}
	let now;
	try {
		now = await waitEntries(eli, shown.length + 1, 5000);
	} catch (e) {
		// Say whether the entry was written at all: load the list again a moment later.
		await eli.waitForTimeout(2000);
		await eli.click('#history-missed');
		await eli.click('#history-all');
		const later = await waitEntries(eli, shown.length + 1, 5000).then(() => true, () => false);
		throw new Error('the first history reply after the database came back lacks the call made during the ' +
			'outage; ' + (later ? 'a later reply has it (the read overtook the spooled writes)' : 'later replies lack it too') +
			'\n' + e.message);
	}
	assert.deepEqual([now[0].direction, now[0].outcome, now[0].media], ['incoming', 'declined', 'audio']);
	assert.equal(now[1].id, shown[0].id);
});

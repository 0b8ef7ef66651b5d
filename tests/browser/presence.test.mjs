// Browser test of the Contacts tab (contacts, presence, privacy) of the bundled web client, against
// a running Janus whose plugin keeps contacts, privacy and last_seen in PostgreSQL (run.sh starts both).
//
// fay (a laptop-sized page) adds gus while gus is signed in nowhere: offline, grey. gus (a phone-
// sized page) signs in: online, green, with his display name. hal calls gus: while it rings gus is
// still online, once answered "in a call"; after the hangup online again. fay calls gus from the
// contact's row. gus signs out: "last seen …". Then gus hides his state ("Nobody": fay sees
// "unknown"), shows it to his contacts only (still unknown for fay until gus adds her), and the
// setting comes back in `registered`. Removing a contact unsubscribes from it. With the database
// hung, the tab says that contacts are unavailable while adding a contact and calling still work
// (needs CALLS_PG_DIR, the folder of the test's PostgreSQL cluster, tests/lib/pg_instance.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useBrowser, openPage, state, explain, waitFor, waitScreen, shot, signIn, needSignedIn, dial, homeMessage,
	LAPTOP, PHONE, PG_DIR, freezeDatabase,
} from './harness.mjs';

// The presence dot's colours (calls.css, light scheme), and the panel behind a hollow one.
const DOT = {
	online: 'rgb(37, 211, 102)',
	in_call: 'rgb(255, 159, 10)',
	offline: 'rgb(134, 150, 160)',
	unknown: 'rgb(255, 255, 255)',
};

useBrowser();

// ---------------------------------------------------------------- helpers

async function openContacts(page) {
	await page.click('#tab-contacts');
	await waitFor(page, 'the Contacts tab did not open', () => document.body.dataset.tab === 'contacts' &&
		!document.getElementById('panel-contacts').hidden);
}

// What the Contacts tab shows for one contact (null when it is not listed).
function contact(page, user) {
	return page.evaluate(async (u) => {
		const li = document.querySelector('#contacts-list li[data-user="' + u + '"]');
		if (!li) return null;
		const dot = li.querySelector('.p-dot');
		// The dot fades to its new colour (a CSS transition): the colour once it is there.
		await Promise.all(dot.getAnimations().map((a) => a.finished.catch(() => {})));
		const cs = getComputedStyle(dot);
		return {
			state: li.dataset.state,
			lastSeen: li.dataset.lastSeen || null,
			text: li.querySelector('.c-status').textContent,
			display: li.querySelector('.c-display').textContent,
			user: li.querySelector('.c-user').textContent,
			dot: cs.backgroundColor,
			hollow: cs.boxShadow.includes('inset'),
			voice: !li.querySelector('.c-voice').disabled,
			video: !li.querySelector('.c-video').disabled,
		};
	}, user);
}

// Waits until the row of `user` shows `st` (a presence state); returns what it shows.
async function waitState(page, user, st, timeout = 15000) {
	await waitFor(page, 'the contact ' + user + ' did not show as ' + st, ([u, s]) => {
		const li = document.querySelector('#contacts-list li[data-user="' + u + '"]');
		return li && li.dataset.state === s;
	}, [user, st], timeout);
	return contact(page, user);
}

function assertShows(c, st, text) {
	assert.ok(c, 'the contact is listed');
	assert.equal(c.state, st);
	if (text instanceof RegExp) assert.match(c.text, text);
	else assert.equal(c.text, text);
	assert.equal(c.dot, DOT[st], st + ': dot colour');
	assert.equal(c.hollow, st === 'unknown', st + ': hollow dot');
}

// Adds a contact through the form; waits for its row.
async function addContact(page, user) {
	await page.fill('#contact-add-user', user);
	await page.click('#contact-add-submit');
	await waitFor(page, user + ' was not added', (u) => !!document.querySelector('#contacts-list li[data-user="' + u + '"]') &&
		document.getElementById('contact-add-error').hidden && !document.getElementById('contact-add-submit').disabled, user);
}

// Sets the privacy setting through the Contacts tab; waits for privacy_set.
async function setPrivacy(page, value) {
	await page.check('#privacy-' + value);
	await waitFor(page, 'privacy did not become ' + value, (v) => {
		const p = document.getElementById('privacy');
		return p.getAttribute('aria-busy') === 'false' && p.dataset.value === v;
	}, value);
	const log = await page.evaluate(() => window.callsDebug.log.filter((m) => m.data.calls === 'privacy_set').pop());
	assert.equal(log && log.data.last_seen, value, 'the server confirmed privacy_set {last_seen: ' + value + '}');
}

async function checkedPrivacy(page) {
	return page.evaluate(() => (document.querySelector('input[name="privacy"]:checked') || {}).value || null);
}

async function signOut(page) {
	await page.click('#btn-signout');
	await waitScreen(page, 'signin');
}

// The page's contacts list has been read from the server (not loading, no error).
async function waitContactsLoaded(page) {
	await waitFor(page, 'the contacts did not load', () => {
		const s = window.callsDebug.state().contacts;
		return s.loaded && !s.loading && !s.error;
	});
}

// Presence notifications (events without a transaction) the page got since `since` about `user`.
function notificationsAbout(page, user, since) {
	return page.evaluate(([u, t]) => window.callsDebug.log.filter((m) => !m.tx && m.at >= t && m.data.calls === 'presence' &&
		Array.isArray(m.data.users) && m.data.users.some((e) => e.user === u)).map((m) => m.data), [user, since]);
}

// Lets the rows' animations (a new contact's highlight, dots fading) finish.
function settle(page) {
	return page.evaluate(() => Promise.race([
		Promise.all(document.getElementById('contacts-list').getAnimations({ subtree: true }).map((a) => a.finished.catch(() => {}))),
		new Promise((resolve) => setTimeout(resolve, 3000)),
	]));
}

// Screenshots at both sizes of what the page shows now.
async function shotBoth(page, name, size) {
	await page.mouse.move(1, 1);   // no hover on the screenshot
	await settle(page);
	await shot(page, (size === PHONE ? 'phone-' : 'laptop-') + name + '.png');
	const other = size === PHONE ? LAPTOP : PHONE;
	await page.setViewportSize(other);
	await shot(page, (other === PHONE ? 'phone-' : 'laptop-') + name + '.png');
	await page.setViewportSize(size);
}


const P = {};   // name -> page

// ---------------------------------------------------------------- tests

test('a contact added while offline turns online, in a call, online again, then "last seen"', { timeout: 150000 }, async () => {
	const fay = P.fay = await openPage('fay', LAPTOP);
	await signIn(fay, 'fay', 'Fay Lopez');
	await openContacts(fay);
	await waitContactsLoaded(fay);
	assert.equal(await fay.isVisible('#contacts-empty'), true, 'no contacts yet: the empty state shows');
	assert.equal(await checkedPrivacy(fay), 'everyone', 'registered.privacy is "everyone" by default');

	// Errors of contacts_add are shown: a bad id (the client's check), yourself (the server's 400).
	await fay.fill('#contact-add-user', 'not an id');
	await fay.click('#contact-add-submit');
	await waitFor(fay, 'no message for a bad id', () => !document.getElementById('contact-add-error').hidden);
	assert.match(await fay.textContent('#contact-add-error'), /1 to 64 letters/);
	await fay.fill('#contact-add-user', 'fay');
	await fay.click('#contact-add-submit');
	await waitFor(fay, 'no message for adding yourself', () => /yourself/.test(document.getElementById('contact-add-error').textContent));
	const refused = await fay.evaluate(() => window.callsDebug.log.filter((m) => m.data.calls === 'error').pop());
	assert.deepEqual([refused.data.request, refused.data.error_code], ['contacts_add', 400], 'the server refused it with 400');
	assert.equal(await fay.isVisible('#contact-add-error'), true);
	assert.equal((await state(fay)).contacts.users.length, 0, 'nothing was added');

	// gus has never signed in: offline, grey, no last seen.
	await addContact(fay, 'gus');
	assertShows(await waitState(fay, 'gus', 'offline'), 'offline', 'offline');
	assert.deepEqual((await state(fay)).contacts.subscribed, ['gus'], 'fay follows gus (presence_subscribe)');
	assert.equal(await fay.inputValue('#contact-add-user'), '', 'the field is emptied');

	// gus signs in: online, green, and his display name comes with it.
	const gus = P.gus = await openPage('gus', PHONE);
	await signIn(gus, 'gus', 'Gus Meyer');
	assertShows(await waitState(fay, 'gus', 'online'), 'online', 'online');
	await waitFor(fay, 'gus\'s display name did not show', () =>
		document.querySelector('#contacts-list li[data-user="gus"] .c-display').textContent === 'Gus Meyer');
	assert.equal((await contact(fay, 'gus')).user, 'gus');

	// hal calls gus. Ringing is not a call yet: gus stays online.
	const hal = P.hal = await openPage('hal', LAPTOP);
	await signIn(hal, 'hal', 'Hal Ortiz');
	await dial(hal, 'gus', 'voice');
	await waitScreen(gus, 'incoming');
	await fay.waitForTimeout(1200);   // more than the coalescing window (500 ms)
	assertShows(await contact(fay, 'gus'), 'online', 'online');
	await gus.click('#btn-accept');
	await waitScreen(gus, 'incall');
	await waitScreen(hal, 'incall');
	assertShows(await waitState(fay, 'gus', 'in_call'), 'in_call', 'in a call');

	// Adding someone who is in a call: the presence reply says so at once.
	await addContact(fay, 'hal');
	assertShows(await waitState(fay, 'hal', 'in_call'), 'in_call', 'in a call');
	await waitFor(fay, 'hal\'s display name did not show', () =>
		document.querySelector('#contacts-list li[data-user="hal"] .c-display').textContent === 'Hal Ortiz');
	assert.match(await fay.textContent('#contacts-count'), /^2 online · 2 contacts$/);
	await shotBoth(fay, 'contacts-incall', LAPTOP);

	// The call ends: both online again.
	await hal.click('#btn-hangup');
	await homeMessage(hal, 'hangup');
	await homeMessage(gus, 'hangup');
	assertShows(await waitState(fay, 'gus', 'online'), 'online', 'online');
	assertShows(await waitState(fay, 'hal', 'online'), 'online', 'online');

	// The video button of gus's row calls him like the Dial tab does.
	const row = await contact(fay, 'gus');
	assert.ok(row.voice && row.video, 'call buttons are enabled');
	await fay.click('#contacts-list li[data-user="gus"] .c-video');
	await waitScreen(fay, 'outgoing');
	await waitScreen(gus, 'incoming');
	assert.equal(await gus.getAttribute('#incoming-kind', 'data-video'), 'true');
	assert.match(await gus.textContent('#incoming-name'), /Fay Lopez/);
	assert.equal(await fay.textContent('#outgoing-name'), 'Gus Meyer', 'the outgoing call shows the contact\'s name');
	await gus.click('#btn-decline');
	assert.match(await homeMessage(fay, 'declined'), /Gus Meyer declined the call/);
	assert.equal((await state(fay)).tab, 'contacts', 'fay is back on the Contacts tab');

	// gus signs out: offline with the time he left.
	await signOut(gus);
	const gone = await waitState(fay, 'gus', 'offline');
	assertShows(gone, 'offline', /^last seen (just now|1 minute ago)$/);
	assert.ok(gone.lastSeen && Math.abs(Date.parse(gone.lastSeen) - Date.now()) < 60000, 'last_seen is about now: ' + gone.lastSeen);
	await fay.mouse.move(1, 1);
	await settle(fay);
	await shot(fay, 'laptop-contacts-lastseen.png');
});

test('privacy: "nobody" shows gus as unknown, "contacts" only to his contacts; the setting is kept', { timeout: 150000 }, async () => {
	needSignedIn('fay', 'gus', 'hal');
	const fay = P.fay, gus = P.gus, hal = P.hal;

	await signIn(gus, 'gus', 'Gus Meyer');
	assertShows(await waitState(fay, 'gus', 'online'), 'online', 'online');
	await openContacts(gus);
	await waitContactsLoaded(gus);
	assert.equal(await checkedPrivacy(gus), 'everyone');
	await shot(gus, 'phone-contacts-empty.png');

	// Nobody: fay sees "unknown" with a hollow dot.
	await setPrivacy(gus, 'nobody');
	assertShows(await waitState(fay, 'gus', 'unknown'), 'unknown', 'unknown');
	assert.equal((await contact(fay, 'gus')).lastSeen, null);

	// My contacts: still unknown for fay, who is not gus's contact...
	await setPrivacy(gus, 'contacts');
	await fay.waitForTimeout(1200);
	assertShows(await contact(fay, 'gus'), 'unknown', 'unknown');
	// ...until gus adds her.
	await addContact(gus, 'fay');
	assertShows(await waitState(fay, 'gus', 'online'), 'online', 'online');
	assertShows(await waitState(gus, 'fay', 'online'), 'online', 'online');
	await waitFor(gus, 'fay\'s display name did not show', () =>
		document.querySelector('#contacts-list li[data-user="fay"] .c-display').textContent === 'Fay Lopez');
	// hal is no contact of gus: unknown to him.
	await openContacts(hal);
	await addContact(hal, 'gus');
	assertShows(await waitState(hal, 'gus', 'unknown'), 'unknown', 'unknown');

	// The setting and the contacts are kept: they come back at the next sign-in.
	await signOut(gus);
	await signIn(gus, 'gus', 'Gus Meyer');
	assert.equal(await checkedPrivacy(gus), 'contacts', 'registered.privacy is "contacts"');
	await openContacts(gus);
	await waitContactsLoaded(gus);
	assertShows(await waitState(gus, 'fay', 'online'), 'online', 'online');
	assert.equal((await contact(gus, 'fay')).display, 'Fay Lopez');
	assertShows(await waitState(fay, 'gus', 'online'), 'online', 'online');
	await gus.mouse.move(1, 1);
	await settle(gus);
	await shot(gus, 'phone-contacts-privacy.png');

	// Every state at once on fay's list, for the screenshots: gus hidden again (unknown), hal in a
	// call with gus, ivy signed out a moment ago (last seen), kim online, zoe never seen (offline).
	await setPrivacy(gus, 'nobody');
	const other = P.ivy = await openPage('ivy', PHONE);
	await signIn(other, 'ivy', 'Ivy Chen');
	await signOut(other);
	await signIn(other, 'kim', 'Kim Park');
	for (const u of ['ivy', 'kim', 'zoe']) await addContact(fay, u);
	await waitState(fay, 'gus', 'unknown');
	await dial(hal, 'gus', 'voice');
	await waitScreen(gus, 'incoming');
	await gus.click('#btn-accept');
	await waitScreen(hal, 'incall');
	assertShows(await waitState(fay, 'hal', 'in_call'), 'in_call', 'in a call');
	assertShows(await contact(fay, 'gus'), 'unknown', 'unknown');
	assertShows(await waitState(fay, 'ivy', 'offline'), 'offline', /^last seen /);
	assertShows(await waitState(fay, 'kim', 'online'), 'online', 'online');
	assertShows(await waitState(fay, 'zoe', 'offline'), 'offline', 'offline');
	await waitFor(fay, 'display names did not show', () => ['Ivy Chen', 'Kim Park'].every((n) =>
		Array.from(document.querySelectorAll('#contacts-list .c-display')).some((e) => e.textContent === n)));
	const order = await fay.evaluate(() => Array.from(document.querySelectorAll('#contacts-list li')).map((li) => li.dataset.user));
	assert.deepEqual(order, ['gus', 'hal', 'ivy', 'kim', 'zoe'], 'sorted by display name');
	await shotBoth(fay, 'contacts', LAPTOP);
	await hal.click('#btn-hangup');
	await homeMessage(hal, 'hangup');
	await homeMessage(gus, 'hangup');
});

test('removing a contact removes it for good and stops its presence notifications', { timeout: 90000 }, async () => {
	needSignedIn('fay', 'kim');
	const fay = P.fay, kim = P.ivy;
	await fay.click('#contacts-list li[data-user="kim"] .c-remove');
	await waitFor(fay, 'kim\'s row did not go away', () => !document.querySelector('#contacts-list li[data-user="kim"]'));
	await waitFor(fay, 'kim is still followed', () => !window.callsDebug.state().contacts.subscribed.includes('kim'));
	assert.match(await fay.textContent('#toast'), /Removed Kim Park from your contacts/);
	// presence_unsubscribe was answered.
	await waitFor(fay, 'no presence_unsubscribed', () => window.callsDebug.log.some((m) => m.data.calls === 'presence_unsubscribed' &&
		Array.isArray(m.data.users) && m.data.users.includes('kim')));
	const since = await fay.evaluate(() => Date.now());
	await signOut(kim);
	await fay.waitForTimeout(1500);   // three coalescing windows
	assert.deepEqual(await notificationsAbout(fay, 'kim', since), [], 'no presence notification about kim after the removal');

	// Gone from the server too: a new sign-in lists the others only, with their presence.
	await signOut(fay);
	await signIn(fay, 'fay', 'Fay Lopez');
	await openContacts(fay);
	await waitContactsLoaded(fay);
	const users = (await state(fay)).contacts.users.map((c) => c.user);
	assert.deepEqual(users.sort(), ['gus', 'hal', 'ivy', 'zoe']);
	assertShows(await waitState(fay, 'hal', 'online'), 'online', 'online');
	assertShows(await waitState(fay, 'gus', 'unknown'), 'unknown', 'unknown');
	assert.deepEqual((await state(fay)).contacts.subscribed.sort(), ['gus', 'hal', 'ivy', 'zoe'], 'fay follows them again');
});

test('with the database hung: "Contacts are unavailable right now", adding and calling still work', { timeout: 150000 }, async (t) => {
	if (!PG_DIR) { t.skip('CALLS_PG_DIR is not set'); return; }
	needSignedIn('fay', 'hal');
	const fay = P.fay, hal = P.hal;
	const db = await freezeDatabase();

	// A new sign-in while the database does not answer: the contacts cannot be read.
	await signOut(fay);
	await signIn(fay, 'fay', 'Fay Lopez');
	await openContacts(fay);
	await waitFor(fay, 'no "unavailable" message in the Contacts tab', () => {
		const a = document.getElementById('contacts-alert');
		return !a.hidden && a.dataset.code === '503';
	}, null, 20000);
	assert.match(await fay.textContent('#contacts-alert'), /Contacts are unavailable/);
	assert.equal(await fay.isVisible('#contacts-empty'), false, 'no "No contacts yet" while they cannot be read');

	// Adding works (the server keeps it for the database), and the contact's row calls.
	await addContact(fay, 'hal');
	await waitState(fay, 'hal', 'online');
	await fay.click('#contacts-list li[data-user="hal"] .c-voice');
	await waitScreen(hal, 'incoming');
	await hal.click('#btn-decline');
	await homeMessage(fay, 'declined');
	assert.equal((await state(fay)).tab, 'contacts');
	assert.equal(await fay.isVisible('#contacts-alert'), true, 'the message stays');
	await fay.mouse.move(1, 1);
	await settle(fay);
	await shot(fay, 'laptop-contacts-unavailable.png');
	// The rest of the app too: the Dial tab.
	await fay.click('#tab-dial');
	assert.equal(await fay.isVisible('#call-to'), true);
	await openContacts(fay);

	await db.thaw();
	// Once the plugin is connected again (it retries with a backoff of up to 10 s), "Try again"
	// lists every contact, once.
	const deadline = Date.now() + 45000;
	for (let tries = 0; ; tries++) {
		await fay.waitForFunction(() => document.getElementById('contacts').getAttribute('aria-busy') === 'false',
			null, { timeout: 20000 });
		if (await fay.isHidden('#contacts-alert')) break;
		if (Date.now() > deadline) throw new Error('contacts still unavailable 45 s after the database came back' + await explain(fay));
		if (tries) await fay.waitForTimeout(1000);
		await fay.click('#contacts-retry');
	}
	const users = await fay.evaluate(() => Array.from(document.querySelectorAll('#contacts-list li')).map((li) => li.dataset.user));
	assert.deepEqual(users, ['gus', 'hal', 'ivy', 'zoe']);
	assertShows(await waitState(fay, 'hal', 'online'), 'online', 'online');
});

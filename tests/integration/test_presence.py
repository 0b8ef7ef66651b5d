"""Presence and contacts: presence_subscribe / presence_unsubscribe, the states
online / in_call / offline / unknown, last_seen across restarts and a crash,
privacy (everyone, contacts, nobody), contacts_add / contacts_remove /
contacts, the per-device subscription limit, coalescing of a flapping user,
and what happens while PostgreSQL is away.

The "presence" Janus writes to the session's private PostgreSQL with a 300 ms
presence window, max_subscriptions = 150 and max_contacts = 6; "presence_nodb" has no database
and no window. Stored values are checked in SQL, not only in replies.
"""

import asyncio
import datetime
import re
import time

import pytest

from flows import answer, hang_up, ring, wait_ended

pytestmark = pytest.mark.janus("presence")

WINDOW = 0.3          # presence_window_ms of the "presence" variant
NOTE = 3              # how long a notification may take (window included)
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def ts(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


async def sql(db, query, **params):
    return await asyncio.to_thread(db.query, query, params)


async def wait_sql(db, query, pred, what, timeout=15, **params):
    deadline = time.monotonic() + timeout
    while True:
        rows = await sql(db, query, **params)
        if pred(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError("database: %s not seen within %ss; last rows: %s" % (what, timeout, rows))
        await asyncio.sleep(0.2)


def entries(reply_or_event):
    users = reply_or_event.get("users") if hasattr(reply_or_event, "get") else None
    assert isinstance(users, list), "presence without a users list: %r" % reply_or_event
    for e in users:
        assert set(e) <= {"user", "state", "last_seen"}, e
        assert e["state"] in ("online", "in_call", "offline", "unknown"), e
        if "last_seen" in e:
            assert e["state"] == "offline", "last_seen only with offline: %r" % e
            assert RFC3339_MS.match(e["last_seen"]), e
    return {e["user"]: e for e in users}


async def subscribe(dev, users):
    reply = await dev.ok({"request": "presence_subscribe", "users": list(users)}, "presence")
    got = entries(reply.data)
    assert [e["user"] for e in reply.data["users"]] == list(dict.fromkeys(users)), \
        "one entry per distinct user, in request order: %r" % reply.data
    return got


async def next_presence(dev, user, timeout=NOTE):
    """The next presence notification that mentions user: its entry."""
    ev = await dev.wait_event("presence", timeout, **{})
    got = entries(ev)
    while user not in got:
        ev = await dev.wait_event("presence", timeout)
        got = entries(ev)
    return got[user]


async def expect_state(dev, user, state, timeout=NOTE):
    e = await next_presence(dev, user, timeout)
    assert e["state"] == state, "%s: expected %s %s, got %r" % (dev.label, user, state, e)
    return e


async def quiet(dev, within=WINDOW * 3):
    await dev.no_event("presence", within=within)


async def locked(db, table, seconds):
    """A task that holds table locked for seconds; it holds the lock once
    this returns."""
    lock = asyncio.create_task(sql(db, "BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE;"
                                       " SELECT pg_sleep(%s); COMMIT;" % (table, seconds)))
    await asyncio.sleep(0.3)
    return lock


async def sent(dev, request, user):
    """The task of dev's request about user, sent in the background; Janus
    has it once this returns."""
    task = asyncio.create_task(dev.request({"request": request, "users": [user]}, timeout=10))
    await asyncio.sleep(0.2)
    return task


async def subscriptions(calls):
    """How many presence subscriptions the plugin holds."""
    return (await calls.admin_ok({"request": "stats"}, "stats"))["subscriptions"]


async def store_up(dev, timeout=30):
    """Waits until the plugin reads from PostgreSQL (right after a start it
    is still connecting, and users it cannot check are unknown)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = await dev.request({"request": "contacts"}, timeout=10)
        if not reply.is_error:
            return
        assert reply.error_code == 503 and time.monotonic() < deadline, reply
        await asyncio.sleep(0.2)


# ------------------------------------------------------------ states

async def test_states_across_devices_and_calls(calls, pg):
    """offline (never seen) -> online -> (second device: nothing) -> ringing:
    nothing -> answered: in_call (both sides) -> hangup: online -> one device
    left: nothing -> last device left: offline with last_seen, also in SQL."""
    a = await calls.device(calls.uid("watcher"))
    await store_up(a)
    bu, cu = calls.uid("bob"), calls.uid("carol")
    got = await subscribe(a, [bu, cu, bu])
    assert got[bu] == {"user": bu, "state": "offline"}, got
    assert got[cu] == {"user": cu, "state": "offline"}, got

    b1 = await calls.device(bu)
    await expect_state(a, bu, "online")
    b2 = await calls.device(bu)
    await quiet(a)
    c = await calls.device(cu)
    await expect_state(a, cu, "online")

    call_id, inc = await ring(b1, [c])
    await quiet(a)                          # ringing changes nobody's presence
    await answer(b1, c, inc[c])
    seen = {}
    deadline = time.monotonic() + NOTE
    while len(seen) < 2 and time.monotonic() < deadline:
        ev = await a.wait_event("presence", NOTE)
        seen.update({u: e["state"] for u, e in entries(ev).items()})
    assert seen == {bu: "in_call", cu: "in_call"}, seen
    # b2 is not in the call, but the user is: still in_call.
    await quiet(a)
    await hang_up(c, call_id)
    await wait_ended(b1, call_id, "hangup")
    seen = {}
    deadline = time.monotonic() + NOTE
    while len(seen) < 2 and time.monotonic() < deadline:
        ev = await a.wait_event("presence", NOTE)
        seen.update({u: e["state"] for u, e in entries(ev).items()})
    assert seen == {bu: "online", cu: "online"}, seen

    await b1.ok({"request": "unregister"}, "unregistered")
    await quiet(a)                          # b2 is still there
    before = time.time()
    await b2.ok({"request": "unregister"}, "unregistered")
    e = await expect_state(a, bu, "offline")
    assert "last_seen" in e, e
    assert before - 1 <= ts(e["last_seen"]) <= time.time() + 1, (before, e)
    rows = await wait_sql(pg, "SELECT extract(epoch FROM last_seen)::float8 FROM calls_users WHERE user_id = :'u'",
                          lambda r: r and r[0][0] is not None, "last_seen of %s" % bu, u=bu)
    assert abs(float(rows[0][0]) - ts(e["last_seen"])) < 0.01, (rows, e)
    # A new subscriber gets the same.
    a2 = await calls.device(calls.uid("late"))
    got = await subscribe(a2, [bu])
    assert got[bu] == e, (got, e)


async def test_callee_in_call_and_caller_ringing(calls):
    """The callee's state is in_call once it answers; a caller whose call
    only rings stays online; a call cancelled while ringing changes nothing."""
    w = await calls.device(calls.uid("w"))
    x = await calls.device(calls.uid("x"))
    y = await calls.device(calls.uid("y"))
    await subscribe(w, [x.user, y.user])
    call_id, inc = await ring(x, [y])
    await hang_up(x, call_id)
    await wait_ended(y, call_id, "cancelled")
    await quiet(w)
    call_id, inc = await ring(y, [x])
    await answer(y, x, inc[x])
    states = {}
    deadline = time.monotonic() + NOTE
    while len(states) < 2 and time.monotonic() < deadline:
        ev = await w.wait_event("presence", NOTE)
        states.update({u: e["state"] for u, e in entries(ev).items()})
    assert states == {x.user: "in_call", y.user: "in_call"}, states
    # A new subscriber sees in_call at once.
    w2 = await calls.device(calls.uid("w2"))
    got = await subscribe(w2, [x.user, y.user])
    assert got[x.user]["state"] == "in_call" and got[y.user]["state"] == "in_call", got
    await hang_up(y, call_id)
    await wait_ended(x, call_id, "hangup")
    await expect_state(w2, x.user, "online")


async def test_handle_gone_and_unsubscribe(calls):
    """A detached handle goes offline; presence_unsubscribe stops
    notifications; unregister ends the device's subscriptions."""
    w = await calls.device(calls.uid("w"))
    t = await calls.device(calls.uid("t"))
    u = calls.uid("u")
    await subscribe(w, [t.user, u])
    stats = await calls.admin_ok({"request": "stats"}, "stats")
    assert stats.get("subscriptions", 0) >= 2, stats
    await t.handle.detach()
    e = await expect_state(w, t.user, "offline")
    assert "last_seen" in e
    reply = await w.ok({"request": "presence_unsubscribe", "users": [t.user, calls.uid("never")]},
                       "presence_unsubscribed")
    assert reply.data.get("users") == [t.user, calls.uid("never")], reply
    t2 = await calls.device(t.user)
    await quiet(w, 1.0)
    # u is still watched
    u1 = await calls.device(u)
    await expect_state(w, u, "online")
    before = (await calls.admin_ok({"request": "stats"}, "stats"))["subscriptions"]
    await w.ok({"request": "unregister"}, "unregistered")
    after = (await calls.admin_ok({"request": "stats"}, "stats"))["subscriptions"]
    assert after == before - 1, (before, after)
    del t2, u1


async def test_flapping_is_coalesced(calls):
    """A device that registers and leaves ten times within the window reaches
    a subscriber as at most one notification, and the last state wins."""
    w = await calls.device(calls.uid("w"))
    fu = calls.uid("flap")
    steady = await calls.device(calls.uid("steady"))
    await subscribe(w, [fu, steady.user])
    start = time.monotonic()
    for _ in range(10):
        d = await calls.device(fu)
        await d.ok({"request": "unregister"}, "unregistered")
    took = time.monotonic() - start
    # All ten ended offline: the window ends at offline again, and the
    # subscriber saw offline before: nothing, or one notification with a
    # fresher last_seen, but never online.
    got = []
    deadline = time.monotonic() + WINDOW * 4 + took
    while time.monotonic() < deadline:
        try:
            ev = await w.wait_event("presence", max(0.05, deadline - time.monotonic()))
        except AssertionError:
            break
        got.append(entries(ev).get(fu))
    got = [g for g in got if g is not None]
    n_windows = int(took / WINDOW) + 2
    assert len(got) <= n_windows, "%d notifications for %d flaps in %.2fs (window %.1fs): %r" % (
        len(got), 10, took, WINDOW, got)
    assert all(g["state"] == "offline" for g in got[-1:]), got
    # Ending online: one notification (online) at most per window, last online.
    d = None
    for i in range(5):
        d = await calls.device(fu)
        if i < 4:
            await d.ok({"request": "unregister"}, "unregistered")
    e = await expect_state(w, fu, "online", timeout=NOTE)
    await quiet(w)
    assert e == {"user": fu, "state": "online"}


async def test_subscription_limit(calls):
    """max_subscriptions = 150 per device: over it is 413 and changes nothing;
    re-subscribing costs nothing; a list over 100 ids is 413; bad ids 400."""
    w = await calls.device(calls.uid("w"))
    ids = [calls.uid("n%03d" % i) for i in range(150)]
    await subscribe(w, ids[:100])
    await subscribe(w, ids[100:150])
    await subscribe(w, ids[:10])            # already held
    await w.err({"request": "presence_subscribe", "users": [calls.uid("one-more")]}, 413)
    await w.err({"request": "presence_subscribe", "users": ids[:100] + [calls.uid("x")]}, 413)
    await w.err({"request": "presence_subscribe", "users": []}, 400)
    await w.err({"request": "presence_subscribe", "users": ["bad id"]}, 400)
    await w.err({"request": "presence_subscribe", "users": "alice"}, 400)
    await w.err({"request": "presence_subscribe"}, 400)
    # The refused one was not subscribed: it coming online says nothing.
    one = await calls.device(calls.uid("one-more"))
    await quiet(w)
    await w.ok({"request": "presence_unsubscribe", "users": ids[:1]}, "presence_unsubscribed")
    got = await subscribe(w, [one.user])
    assert got[one.user]["state"] == "online"
    # Another device of the same user has a limit of its own.
    w2 = await calls.device(w.user)
    await subscribe(w2, ids[:100])


# ------------------------------------------------------------ privacy

async def test_privacy_rules(calls, pg):
    """everyone / contacts / nobody, for a watcher that is a contact and one
    that is not, and the user itself; the change reaches subscribers, and
    the setting is in calls_users and in the next registered."""
    owner = await calls.device(calls.uid("owner"))
    assert owner.registered.get("privacy") == "everyone", owner.registered
    friend = await calls.device(calls.uid("friend"))
    stranger = await calls.device(calls.uid("stranger"))
    for w in (friend, stranger, owner):
        got = await subscribe(w, [owner.user])
        assert got[owner.user]["state"] == "online", got

    reply = await owner.ok({"request": "privacy", "last_seen": "nobody"}, "privacy_set")
    assert reply.data.get("last_seen") == "nobody", reply
    assert (await next_presence(friend, owner.user)) == {"user": owner.user, "state": "unknown"}
    assert (await next_presence(stranger, owner.user)) == {"user": owner.user, "state": "unknown"}
    await quiet(owner)                      # it always sees itself
    await wait_sql(pg, "SELECT privacy FROM calls_users WHERE user_id = :'u'",
                   lambda r: r == [["nobody"]], "privacy nobody", u=owner.user)

    await owner.ok({"request": "contacts_add", "users": [friend.user]}, "contacts_added")
    await quiet(friend)                     # nobody is nobody, contacts too
    await owner.ok({"request": "privacy", "last_seen": "contacts"}, "privacy_set")
    assert (await next_presence(friend, owner.user))["state"] == "online"
    await quiet(stranger)
    await owner.ok({"request": "contacts_remove", "users": [friend.user]}, "contacts_removed")
    assert (await next_presence(friend, owner.user))["state"] == "unknown"
    await owner.ok({"request": "contacts_add", "users": [friend.user, stranger.user]}, "contacts_added")
    assert (await next_presence(friend, owner.user))["state"] == "online"
    assert (await next_presence(stranger, owner.user))["state"] == "online"
    await owner.ok({"request": "contacts_remove", "users": [stranger.user]}, "contacts_removed")
    assert (await next_presence(stranger, owner.user))["state"] == "unknown"

    # Offline with privacy "contacts": the friend sees offline and last_seen,
    # a new stranger sees unknown; both after a Janus restart too.
    await owner.ok({"request": "unregister"}, "unregistered")
    e = await expect_state(friend, owner.user, "offline")
    assert "last_seen" in e
    await quiet(stranger)
    late = await calls.device(calls.uid("late"))
    got = await subscribe(late, [owner.user])
    assert got[owner.user] == {"user": owner.user, "state": "unknown"}, got
    await wait_sql(pg, "SELECT privacy, last_seen IS NOT NULL FROM calls_users WHERE user_id = :'u'",
                   lambda r: r == [["contacts", "t"]], "privacy and last_seen", u=owner.user)
    await calls.aclose()
    calls.janus.restart()
    friend = await calls.device(friend.user)
    await store_up(friend)
    stranger = await calls.device(stranger.user)
    got = await subscribe(friend, [owner.user])
    assert got[owner.user] == e, (got, e)
    got = await subscribe(stranger, [owner.user])
    assert got[owner.user] == {"user": owner.user, "state": "unknown"}, got
    owner = await calls.device(owner.user)
    assert owner.registered.get("privacy") == "contacts", owner.registered
    assert (await next_presence(friend, owner.user))["state"] == "online"
    await quiet(stranger)
    await owner.ok({"request": "privacy", "last_seen": "everyone"}, "privacy_set")
    assert (await next_presence(stranger, owner.user))["state"] == "online"
    await owner.err({"request": "privacy", "last_seen": "friends"}, 400)
    await owner.err({"request": "privacy"}, 400)


# ------------------------------------------------------------ contacts

async def test_contacts_list(calls, pg):
    """contacts_add / contacts_remove / contacts, with display names and
    states as the asker may see them, and the rows in calls_contacts."""
    me = await calls.device(calls.uid("me"), display="Me Myself")
    on = await calls.device(calls.uid("on"), display="Online One")
    hidden = await calls.device(calls.uid("hidden"), display="Hidden")
    await hidden.ok({"request": "privacy", "last_seen": "nobody"}, "privacy_set")
    gone = await calls.device(calls.uid("gone"), display="Gone Away")
    await gone.ok({"request": "unregister"}, "unregistered")
    never = calls.uid("never")
    ids = [on.user, hidden.user, gone.user, never]
    reply = await me.ok({"request": "contacts_add", "users": ids + [on.user]}, "contacts_added")
    assert reply.data.get("users") == ids + [on.user], reply
    reply = await me.ok({"request": "contacts"}, "contacts")
    users = reply.data.get("users")
    assert [u["user"] for u in users] == sorted(ids), users
    by = {u["user"]: u for u in users}
    assert by[on.user] == {"user": on.user, "display": "Online One", "state": "online"}, by
    assert by[hidden.user] == {"user": hidden.user, "display": "Hidden", "state": "unknown"}, by
    assert by[gone.user]["state"] == "offline" and by[gone.user]["display"] == "Gone Away", by
    assert RFC3339_MS.match(by[gone.user].get("last_seen", "")), by
    assert by[never] == {"user": never, "display": never, "state": "offline"}, by
    await wait_sql(pg, "SELECT string_agg(contact_id, ',' ORDER BY contact_id) FROM calls_contacts WHERE user_id = :'u'",
                   lambda r: r == [[",".join(sorted(ids))]], "contacts rows", u=me.user)

    await me.ok({"request": "contacts_remove", "users": [gone.user, calls.uid("not-a-contact")]},
                "contacts_removed")
    reply = await me.ok({"request": "contacts"}, "contacts")
    assert [u["user"] for u in reply.data["users"]] == sorted([on.user, hidden.user, never]), reply
    # Another device of the same user sees the same list.
    me2 = await calls.device(me.user)
    reply2 = await me2.ok({"request": "contacts"}, "contacts")
    assert [u["user"] for u in reply2.data["users"]] == [u["user"] for u in reply.data["users"]]

    await me.err({"request": "contacts_add", "users": [me.user]}, 400)
    await me.err({"request": "contacts_add", "users": ["no spaces"]}, 400)
    await me.err({"request": "contacts_add", "users": []}, 400)
    await me.err({"request": "contacts_add", "users": [calls.uid("c%d" % i) for i in range(101)]}, 413)
    await me.err({"request": "contacts_remove"}, 400)
    rows = await sql(pg, "SELECT count(*) FROM calls_contacts WHERE user_id = :'u'", u=me.user)
    assert rows == [["3"]], rows
    # max_contacts = 6: 3 held, 4 new ones are too many (none added); ones
    # already held do not count; 3 new ones fit.
    more = [calls.uid("more%d" % i) for i in range(4)]
    await me.err({"request": "contacts_add", "users": more}, 413)
    await me.ok({"request": "contacts_add", "users": more[:3] + [on.user]}, "contacts_added")
    await me.err({"request": "contacts_add", "users": more[3:]}, 413)
    await wait_sql(pg, "SELECT count(*) FROM calls_contacts WHERE user_id = :'u'",
                   lambda r: r == [["6"]], "six contacts", u=me.user)


# ------------------------------------------------------------ restarts and outages

async def test_last_seen_after_stop_and_crash(calls, pg):
    """Users online when Janus stops are last seen at the stop; after a crash
    (SIGKILL), when that run was last known alive (10 s heartbeat)."""
    s = await calls.device(calls.uid("stopped"))
    await calls.aclose()
    stop_at = time.time()
    calls.janus.restart()
    w = await calls.device(calls.uid("w"))
    await store_up(w)
    got = await subscribe(w, [s.user])
    e = got[s.user]
    assert e["state"] == "offline" and "last_seen" in e, e
    assert stop_at - 2 <= ts(e["last_seen"]) <= time.time(), (stop_at, e)

    k = await calls.device(calls.uid("crashed"))
    await asyncio.sleep(1)
    await calls.aclose()
    kill_at = time.time()
    calls.janus.kill()
    calls.janus.start()
    w = await calls.device(calls.uid("w2"))
    await store_up(w)
    await wait_sql(pg, "SELECT online_node IS NULL AND last_seen IS NOT NULL FROM calls_users WHERE user_id = :'u'",
                   lambda r: r == [["t"]], "crash-left user closed", u=k.user)
    got = await subscribe(w, [k.user])
    e = got[k.user]
    assert e["state"] == "offline" and "last_seen" in e, e
    assert kill_at - 12 <= ts(e["last_seen"]) <= kill_at + 1, (kill_at, e)


async def test_database_outage(calls, db):
    """While PostgreSQL is stopped: privacy and contact changes succeed and
    take effect (they are spooled), contacts is 503, a user whose privacy
    cannot be read is unknown, users here are answered from memory. Once it
    is back, the changes are in the tables and the unknown user is resolved."""
    owner = await calls.device(calls.uid("owner"))
    w = await calls.device(calls.uid("w"))
    absent = calls.uid("absent")
    await subscribe(w, [owner.user])
    db.stop()
    try:
        await owner.ok({"request": "privacy", "last_seen": "nobody"}, "privacy_set", timeout=10)
        assert (await next_presence(w, owner.user))["state"] == "unknown"
        await owner.ok({"request": "contacts_add", "users": [w.user]}, "contacts_added", timeout=10)
        await owner.ok({"request": "privacy", "last_seen": "contacts"}, "privacy_set", timeout=10)
        assert (await next_presence(w, owner.user))["state"] == "online"
        await owner.err({"request": "contacts"}, 503, timeout=10)
        got = await subscribe(w, [absent])
        assert got[absent] == {"user": absent, "state": "unknown"}, got
    finally:
        db.start()
    # Once the database answers again, the user it could not check is
    # read again and its subscriber hears what it may see.
    e = await next_presence(w, absent, timeout=60)
    assert e == {"user": absent, "state": "offline"}, e
    await wait_sql(db, "SELECT (SELECT privacy FROM calls_users WHERE user_id = :'u'),"
                       " (SELECT count(*) FROM calls_contacts WHERE user_id = :'u' AND contact_id = :'w')",
                   lambda r: r == [["contacts", "1"]], "spooled privacy and contact", timeout=60,
                   u=owner.user, w=w.user)
    deadline = time.monotonic() + 60
    while True:
        reply = await owner.request({"request": "contacts"}, timeout=10)
        if not reply.is_error:
            break
        assert reply.error_code == 503 and time.monotonic() < deadline, reply
        await asyncio.sleep(0.5)
    assert [u["user"] for u in reply.data["users"]] == [w.user], reply


async def test_slow_answer_does_not_undo_a_change(calls, db):
    """A register whose profile read is slow (a table lock holds it, shorter
    than timeout_ms) must not bring back the privacy the user changed on
    another device meanwhile: the subscriber stays on unknown."""
    b1 = await calls.device(calls.uid("owner"))
    w = await calls.device(calls.uid("w"))
    await store_up(w)
    got = await subscribe(w, [b1.user])
    assert got[b1.user]["state"] == "online"
    lock = await locked(db, "calls_participants", 1.2)
    b2 = await calls.device(b1.user, register=False)
    reg = asyncio.create_task(b2.register(user=b1.user))
    await asyncio.sleep(0.2)
    assert not reg.done(), "the register was not held by the lock"
    await b1.ok({"request": "privacy", "last_seen": "nobody"}, "privacy_set")
    assert (await next_presence(w, b1.user)) == {"user": b1.user, "state": "unknown"}
    registered = await asyncio.wait_for(reg, 10)
    await lock
    assert registered.get("privacy") == "nobody", registered
    await quiet(w, WINDOW * 5)
    w2 = await calls.device(calls.uid("w2"))
    got = await subscribe(w2, [b1.user])
    assert got[b1.user] == {"user": b1.user, "state": "unknown"}, got


async def subscribe_held(calls, db, name):
    """A watcher (its store up) sends a presence_subscribe of a new user
    called name while calls_users is locked for 1 s, so that it waits for the
    database. The watcher, the user, the subscriptions before, and the tasks
    of the lock and of the subscribe."""
    w = await calls.device(calls.uid("w"))
    await store_up(w)
    target = calls.uid(name)
    before = await subscriptions(calls)
    lock = await locked(db, "calls_users", 1.0)
    sub = await sent(w, "presence_subscribe", target)
    return w, target, before, lock, sub


async def test_unsubscribe_waits_for_subscribe(calls, db):
    """An unsubscribe sent while the subscribe before it waits for the
    database is answered after it and undoes it."""
    w, target, before, lock, sub = await subscribe_held(calls, db, "slow")
    unsub = await sent(w, "presence_unsubscribe", target)
    assert not sub.done() and not unsub.done(), "both wait for the database"
    r1 = await sub
    r2 = await unsub
    await lock
    assert r1.name == "presence" and r2.name == "presence_unsubscribed", (r1, r2)
    after = await subscriptions(calls)
    assert after == before, (before, after)
    await calls.device(target)
    await quiet(w)


async def test_answer_after_unregister(calls, db):
    """A subscribe whose handle unregisters (and registers again as someone
    else) while the database answers still gets one reply, 409, and
    subscribes nobody; the handle's requests after that work."""
    w, target, before, lock, sub = await subscribe_held(calls, db, "late-target")
    await w.ok({"request": "unregister"}, "unregistered")
    await w.register(user=calls.uid("other"))
    reply = await sub
    await lock
    assert reply.is_error and reply.error_code == 409, reply
    after = await subscriptions(calls)
    assert after == before, (before, after)
    got = await subscribe(w, [target])
    assert got[target]["state"] == "offline", got


# ------------------------------------------------------------ no database

@pytest.mark.janus("presence_nodb")
async def test_without_database(calls):
    """No database: presence works from memory (last_seen since start, a
    window of 0), privacy and contacts are 503."""
    w = await calls.device(calls.uid("w"))
    assert w.registered.get("privacy") == "everyone"
    t = await calls.device(calls.uid("t"))
    got = await subscribe(w, [t.user])
    assert got[t.user] == {"user": t.user, "state": "online"}
    await t.ok({"request": "unregister"}, "unregistered")
    e = await expect_state(w, t.user, "offline", timeout=2)
    assert "last_seen" in e
    await w.ok({"request": "presence_unsubscribe", "users": [t.user]}, "presence_unsubscribed")
    got = await subscribe(w, [t.user])
    assert got[t.user] == e, (got, e)     # kept in memory
    for body in ({"request": "privacy", "last_seen": "nobody"}, {"request": "contacts"},
                 {"request": "contacts_add", "users": [t.user]},
                 {"request": "contacts_remove", "users": [t.user]}):
        await w.err(body, 503)

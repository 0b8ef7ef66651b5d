"""Push registrations: push_register / push_unregister, kept per user and
device in calls_push_registrations (checked in SQL), written through a
database outage, and 503 without a database. (Delivery: test_push.py.)"""

import asyncio
import time

import pytest

from pg_instance import PgError

pytestmark = pytest.mark.janus("push")


async def rows(db, user, voip=True):
    """(device, platform, voip, token) of user's registrations, sorted, or
    (device, platform, token) with voip False; None while the schema is not
    there yet (a Janus that has just started). test_push.py uses it too."""
    columns = "device_id, platform, voip::text, token" if voip else "device_id, platform, token"
    try:
        got = await asyncio.to_thread(
            db.query, "SELECT " + columns + " FROM calls_push_registrations"
                      " WHERE user_id = :'u' ORDER BY 1, 2, 3", {"u": user})
    except PgError as e:
        if "does not exist" not in str(e):
            raise
        return None
    return [tuple(r) for r in got]


async def wait_rows(db, user, want, timeout=15, voip=True):
    """Waits until rows(db, user, voip) is want."""
    deadline = time.monotonic() + timeout
    while True:
        got = await rows(db, user, voip)
        if got == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError("registrations of %s: %r, expected %r" % (user, got, want))
        await asyncio.sleep(0.2)


async def test_register_refresh_move_unregister(calls, db):
    a = await calls.device(calls.uid("ann"), device="phone-1")
    reply = await a.ok({"request": "push_register", "platform": "apns", "token": "tok-voip-1", "voip": True},
                       "push_registered")
    assert reply.data == {"calls": "push_registered", "device": "phone-1", "platform": "apns", "voip": True}, reply
    await a.ok({"request": "push_register", "platform": "apns", "token": "tok-alert-1"}, "push_registered")
    await a.ok({"request": "push_register", "platform": "webhook", "token": "app:ann/phone-1"}, "push_registered")
    await wait_rows(db, a.user, [("phone-1", "apns", "false", "tok-alert-1"), ("phone-1", "apns", "true", "tok-voip-1"),
                                 ("phone-1", "webhook", "false", "app:ann/phone-1")])
    # A new token for the same kind replaces the old one.
    await a.ok({"request": "push_register", "platform": "apns", "token": "tok-voip-2", "voip": True}, "push_registered")
    await wait_rows(db, a.user, [("phone-1", "apns", "false", "tok-alert-1"), ("phone-1", "apns", "true", "tok-voip-2"),
                                 ("phone-1", "webhook", "false", "app:ann/phone-1")])
    # The same token registered by another user's device moves there.
    b = await calls.device(calls.uid("ben"), device="phone-9")
    await b.ok({"request": "push_register", "platform": "apns", "token": "tok-voip-2", "voip": True}, "push_registered")
    await wait_rows(db, b.user, [("phone-9", "apns", "true", "tok-voip-2")])
    await wait_rows(db, a.user, [("phone-1", "apns", "false", "tok-alert-1"),
                                 ("phone-1", "webhook", "false", "app:ann/phone-1")])
    # Unregister removes this device's registrations only.
    a2 = await calls.device(a.user, device="tablet")
    await a2.ok({"request": "push_register", "platform": "fcm", "token": "fcm-tablet"}, "push_registered")
    reply = await a.ok({"request": "push_unregister"}, "push_unregistered")
    assert reply.data.get("device") == "phone-1", reply
    await wait_rows(db, a.user, [("tablet", "fcm", "false", "fcm-tablet")])
    await wait_rows(db, b.user, [("phone-9", "apns", "true", "tok-voip-2")])


async def test_bad_requests(calls):
    u = await calls.device(calls.uid("u"), register=False)
    await u.err({"request": "push_register", "platform": "fcm", "token": "t"}, 401)
    await u.register(user=calls.uid("u"))
    await u.err({"request": "push_register", "platform": "gcm", "token": "t"}, 400)
    await u.err({"request": "push_register", "platform": "fcm", "token": ""}, 400)
    await u.err({"request": "push_register", "platform": "fcm", "token": "has space"}, 400)
    await u.err({"request": "push_register", "platform": "fcm"}, 400)
    await u.err({"request": "push_register", "platform": "apns", "token": "t", "voip": "yes"}, 400)


async def test_written_through_an_outage(calls, db):
    d = await calls.device(calls.uid("out"), device="phone")
    db.stop()
    try:
        await d.ok({"request": "push_register", "platform": "fcm", "token": "fcm-during-outage"},
                   "push_registered", timeout=10)
    finally:
        db.start()
    await wait_rows(db, d.user, [("phone", "fcm", "false", "fcm-during-outage")], timeout=60)


@pytest.mark.janus("default")
async def test_without_database(calls):
    d = await calls.device(calls.uid("nodb"))
    await d.err({"request": "push_register", "platform": "fcm", "token": "t"}, 503)
    await d.err({"request": "push_unregister"}, 503)

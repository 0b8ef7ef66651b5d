"""What one user must not be able to do to another, and text that looks
like SQL staying text. (Forged, expired and `none` JWTs: test_register.py;
acting on a call one is not part of: test_call_flows.py; the admin key:
test_admin.py; presence hidden by privacy: test_presence.py.)"""

import pytest

from test_history import history, one_call, sql, sql_value, wait_written, id_list

pytestmark = pytest.mark.janus("history")

INJECTIONS = ["x'); DROP TABLE calls_calls; --", "\" OR 1=1 --", "a\\'b", "$1", "}{\"calls\":\"x\"}"]


async def test_stranger_cannot_read_or_delete_someone_elses_history(calls, db):
    a = await calls.device(calls.uid("a"))
    b = await calls.device(calls.uid("b"))
    ids = [await one_call(a, b, "declined") for _ in range(2)]
    await wait_written(db, ids)
    c = await calls.device(calls.uid("c"))
    # A user field is ignored: history is always the asker's own.
    got = await history(c, user=a.user)
    assert got["entries"] == [], got
    # Deleting calls one was not part of removes nothing, anywhere.
    reply = await c.ok({"request": "history_delete", "call_ids": ids}, "history_deleted")
    assert reply.data.get("count") == 0, reply
    for dev in (a, b):
        assert sorted(e["call_id"] for e in (await history(dev))["entries"]) == sorted(ids)
    assert await sql_value(db, "SELECT count(*) FROM calls_participants WHERE deleted AND call_id ="
                               " ANY(string_to_array(:'ids', ',')::uuid[])", ids=id_list(ids)) == "0"
    # Nor can the call be looked at or ended by the stranger.
    await c.err({"request": "call_info", "call_id": ids[0]}, 403)


@pytest.mark.parametrize("text", INJECTIONS)
async def test_sql_in_a_display_name_is_stored_as_text(calls, db, text):
    a = await calls.device(calls.uid("a"), display=text)
    b = await calls.device(calls.uid("b"))
    call_id = await one_call(a, b, "declined")
    await wait_written(db, [call_id])
    # What the callee's history shows, and what SQL holds, is the name as typed.
    rows = await sql(db, "SELECT display FROM calls_users WHERE user_id = :'u'", u=a.user)
    assert rows == [[text]], rows
    entries = (await history(b))["entries"]
    assert entries and entries[0]["call_id"] == call_id, entries
    assert entries[0].get("display") == text, entries[0]
    assert await sql_value(db, "SELECT count(*) FROM calls_calls WHERE call_id = :'c'::uuid", c=call_id) == "1"


@pytest.mark.parametrize("text", INJECTIONS)
async def test_sql_in_an_id_is_refused(calls, text):
    a = await calls.device(calls.uid("a"))
    await a.err({"request": "call", "to": text, "video": False}, 400)
    await a.err({"request": "contacts_add", "users": [text]}, 400)
    await a.err({"request": "presence_subscribe", "users": [text]}, 400)
    await a.err({"request": "history_delete", "call_ids": [text]}, 400)
    await a.err({"request": "call_info", "call_id": text}, 400)
    await a.err({"request": "invite", "call_id": text, "users": [calls.uid("b")]}, 400)
    await a.err({"request": "leave", "call_id": text}, 400)
    d = await calls.device(register=False)
    await d.err({"request": "register", "user": text}, 400)
    await d.err({"request": "register", "user": calls.uid("d"), "device": text}, 400)
    await d.err({"request": "subscribe", "call_id": "00000000-0000-4000-8000-000000000000", "feed": text}, 400)


async def test_stranger_cannot_act_on_a_group_call(calls, db):
    """Without an invitation or the link, a registered user can do nothing to
    a group call; the title is data, stored and shown as typed."""
    from group_peer import participant
    title = INJECTIONS[0]
    a = await participant(calls, calls.uid("a"))
    b = await participant(calls, calls.uid("b"))
    await a.group_call([b.user], video=False, title=title)
    call_id = a.call_id
    await b.dev.wait_event("incoming_call", call_id=call_id)
    x = await participant(calls, calls.uid("x"))
    await x.refused({"request": "join", "call_id": call_id}, 403, video=False)
    for body in ({"request": "invite", "call_id": call_id, "users": [x.user]},
                 {"request": "leave", "call_id": call_id},
                 {"request": "decline", "call_id": call_id},
                 {"request": "media", "call_id": call_id, "audio": False, "video": False},
                 {"request": "call_info", "call_id": call_id}):
        await x.dev.err(body, 403)
    # A member who has not joined cannot act for the participants either.
    await b.dev.err({"request": "invite", "call_id": call_id, "users": [x.user]}, 409)
    # The caller's feed works on an unregistered handle only with the right call.
    s = await x.new_sub_handle()
    reply = await s.message({"request": "subscribe", "call_id": call_id, "feed": "0" * 36})
    assert reply.name == "error" and reply.error_code == 403, reply
    await b.join(call_id=call_id, video=False)
    await a.leave()
    await b.leave()
    await wait_written(db, [call_id])
    assert await sql_value(db, "SELECT title FROM calls_calls WHERE call_id = :'c'::uuid", c=call_id) == title
    entries = (await history(b.dev))["entries"]
    assert entries[0]["call_id"] == call_id and entries[0]["title"] == title, entries[0]

-- janus-calls schema, migration 3: call records written a batch at a time.
--
-- calls_put_calls(docs) takes a JSON array of the documents calls_put_call()
-- takes and writes them with one statement per table instead of two per
-- document. Within one array the newest document of a call stands for its
-- older ones: the plugin's documents of a call only ever add fields (start,
-- then answer, then end), so this is what applying them one by one would
-- give. Against rows already in the table the rule is unchanged: a value
-- once set is never changed or cleared, so replays change nothing.

CREATE FUNCTION calls_put_calls(docs jsonb) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO calls_calls AS c (call_id, kind, media, caller, caller_device, callee, title,
		started_at, answered_at, ended_at, reason, node, boot)
	SELECT DISTINCT ON ((e.doc->>'call_id')::uuid)
		(e.doc->>'call_id')::uuid, e.doc->>'kind', e.doc->>'media', e.doc->>'caller',
		e.doc->>'caller_device', e.doc->>'callee', e.doc->>'title', (e.doc->>'started_at')::timestamptz,
		(e.doc->>'answered_at')::timestamptz, (e.doc->>'ended_at')::timestamptz, e.doc->>'reason',
		e.doc->>'node', (e.doc->>'boot')::uuid
	FROM jsonb_array_elements(docs) WITH ORDINALITY AS e(doc, n)
	ORDER BY (e.doc->>'call_id')::uuid, e.n DESC
	ON CONFLICT (call_id) DO UPDATE SET
		caller_device = COALESCE(c.caller_device, excluded.caller_device),
		title = COALESCE(c.title, excluded.title),
		answered_at = COALESCE(c.answered_at, excluded.answered_at),
		ended_at = COALESCE(c.ended_at, excluded.ended_at),
		reason = COALESCE(c.reason, excluded.reason);

	INSERT INTO calls_participants AS p (call_id, user_id, role, started_at, invited_at,
		answered_at, left_at, outcome, device_id)
	SELECT DISTINCT ON ((e.doc->>'call_id')::uuid, x."user")
		(e.doc->>'call_id')::uuid, x."user", x.role, (e.doc->>'started_at')::timestamptz,
		x.invited_at, x.answered_at, x.left_at, x.outcome, x.device
	FROM jsonb_array_elements(docs) WITH ORDINALITY AS e(doc, n),
		jsonb_to_recordset(COALESCE(e.doc->'participants', '[]'::jsonb)) AS x("user" text,
			role text, invited_at timestamptz, answered_at timestamptz, left_at timestamptz,
			outcome text, device text)
	ORDER BY (e.doc->>'call_id')::uuid, x."user", e.n DESC
	ON CONFLICT (call_id, user_id) DO UPDATE SET
		invited_at = COALESCE(p.invited_at, excluded.invited_at),
		answered_at = COALESCE(p.answered_at, excluded.answered_at),
		left_at = COALESCE(p.left_at, excluded.left_at),
		outcome = COALESCE(p.outcome, excluded.outcome),
		device_id = COALESCE(p.device_id, excluded.device_id);
END
$$;

-- One document is a batch of one: a single definition of how a record is
-- written.
CREATE OR REPLACE FUNCTION calls_put_call(doc jsonb) RETURNS void
LANGUAGE sql
AS $$ SELECT calls_put_calls(jsonb_build_array(doc)) $$;

INSERT INTO calls_migrations (version, name) VALUES (3, 'batch_writes');

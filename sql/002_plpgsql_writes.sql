-- janus-calls schema, migration 2: the write functions in PL/pgSQL.
--
-- As LANGUAGE sql functions they were planned again on every call, which
-- made planning most of the cost of a call record (bench/history.sh: about
-- 0.5 ms of server CPU per record). PL/pgSQL keeps the plans of its
-- statements for the session. Same arguments, same effect.

CREATE OR REPLACE FUNCTION calls_put_call(doc jsonb) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO calls_calls AS c (call_id, kind, media, caller, caller_device, callee, title,
			started_at, answered_at, ended_at, reason, node, boot)
		VALUES ((doc->>'call_id')::uuid, doc->>'kind', doc->>'media', doc->>'caller',
			doc->>'caller_device', doc->>'callee', doc->>'title', (doc->>'started_at')::timestamptz,
			(doc->>'answered_at')::timestamptz, (doc->>'ended_at')::timestamptz, doc->>'reason',
			doc->>'node', (doc->>'boot')::uuid)
		ON CONFLICT (call_id) DO UPDATE SET
			caller_device = COALESCE(c.caller_device, excluded.caller_device),
			title = COALESCE(c.title, excluded.title),
			answered_at = COALESCE(c.answered_at, excluded.answered_at),
			ended_at = COALESCE(c.ended_at, excluded.ended_at),
			reason = COALESCE(c.reason, excluded.reason);

		INSERT INTO calls_participants AS p (call_id, user_id, role, started_at, invited_at,
			answered_at, left_at, outcome, device_id)
		SELECT (doc->>'call_id')::uuid, x."user", x.role, (doc->>'started_at')::timestamptz,
			x.invited_at, x.answered_at, x.left_at, x.outcome, x.device
		FROM jsonb_to_recordset(COALESCE(doc->'participants', '[]'::jsonb)) AS x("user" text,
			role text, invited_at timestamptz, answered_at timestamptz, left_at timestamptz,
			outcome text, device text)
		ON CONFLICT (call_id, user_id) DO UPDATE SET
			invited_at = COALESCE(p.invited_at, excluded.invited_at),
			answered_at = COALESCE(p.answered_at, excluded.answered_at),
			left_at = COALESCE(p.left_at, excluded.left_at),
			outcome = COALESCE(p.outcome, excluded.outcome),
			device_id = COALESCE(p.device_id, excluded.device_id);
END
$$;

CREATE OR REPLACE FUNCTION calls_put_presence(doc jsonb) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO calls_users AS u (user_id, display, last_seen)
		VALUES (doc->>'user', doc->>'display',
			CASE WHEN (doc->>'offline')::boolean THEN (doc->>'at')::timestamptz END)
		ON CONFLICT (user_id) DO UPDATE SET
			display = COALESCE(excluded.display, u.display),
			last_seen = CASE WHEN (doc->>'offline')::boolean
				THEN GREATEST(u.last_seen, excluded.last_seen) ELSE u.last_seen END;

		INSERT INTO calls_devices AS d (user_id, device_id, first_seen, last_seen)
		SELECT doc->>'user', doc->>'device', (doc->>'at')::timestamptz, (doc->>'at')::timestamptz
		WHERE doc->>'device' IS NOT NULL
		ON CONFLICT (user_id, device_id) DO UPDATE SET
			first_seen = LEAST(d.first_seen, excluded.first_seen),
			last_seen = GREATEST(d.last_seen, excluded.last_seen);
END
$$;

CREATE OR REPLACE FUNCTION calls_put_seen(doc jsonb) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	UPDATE calls_participants SET seen = true
		WHERE user_id = doc->>'user' AND outcome = 'missed' AND NOT seen AND NOT deleted
			AND started_at <= (doc->>'at')::timestamptz;
		INSERT INTO calls_users AS u (user_id, missed_seen_at)
		VALUES (doc->>'user', (doc->>'at')::timestamptz)
		ON CONFLICT (user_id) DO UPDATE SET
			missed_seen_at = GREATEST(u.missed_seen_at, excluded.missed_seen_at);
END
$$;

INSERT INTO calls_migrations (version, name) VALUES (2, 'plpgsql_writes');

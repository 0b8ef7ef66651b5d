-- janus-calls schema, migration 7: group calls in the history.
--
-- A group call's document is the one of 001 with kind "group", a title, one
-- participant per invited user (role caller or member; answered_at is the
-- first join, left_at the last leave) and, new here, its segments:
--   segments: [{user, device, joined_at, left_at?}]
-- one per stretch a device spent in the call, so a user who left and came
-- back has several. The plugin writes the whole document at the start, at
-- every join and leave, and at the end; members invited later are only in
-- the later ones. Writes stay idempotent: a segment is known by (call_id,
-- user_id, joined_at), and a value once set is never changed.
--
-- The history entry of a group call lists its participants (calls_log gains
-- that column), and its duration is the time the user actually spent in the
-- call: first join to last leave would count the time away too.

CREATE TABLE calls_group_segments (
	call_id uuid NOT NULL REFERENCES calls_calls ON DELETE CASCADE,
	user_id text NOT NULL,
	-- No foreign key to calls_participants: a document the plugin got
	-- slightly wrong must still keep its call, not be set aside whole.
	device_id text,
	joined_at timestamptz NOT NULL,
	left_at timestamptz,
	PRIMARY KEY (call_id, user_id, joined_at)
);

-- 003's function with the segments added. calls_put_call() stays a batch of
-- one, so both paths write the same rows.
--
-- Participants and segments are updated only when the document fills a value
-- still unset: a group call is written again at every join and leave, and
-- rewriting all of its unchanged rows each time would only make dead tuples.
CREATE OR REPLACE FUNCTION calls_put_calls(docs jsonb) RETURNS void
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
		device_id = COALESCE(p.device_id, excluded.device_id)
	WHERE (p.invited_at IS NULL AND excluded.invited_at IS NOT NULL)
		OR (p.answered_at IS NULL AND excluded.answered_at IS NOT NULL)
		OR (p.left_at IS NULL AND excluded.left_at IS NOT NULL)
		OR (p.outcome IS NULL AND excluded.outcome IS NOT NULL)
		OR (p.device_id IS NULL AND excluded.device_id IS NOT NULL);

	INSERT INTO calls_group_segments AS s (call_id, user_id, device_id, joined_at, left_at)
	SELECT DISTINCT ON ((e.doc->>'call_id')::uuid, x."user", x.joined_at)
		(e.doc->>'call_id')::uuid, x."user", x.device, x.joined_at, x.left_at
	FROM jsonb_array_elements(docs) WITH ORDINALITY AS e(doc, n),
		jsonb_to_recordset(COALESCE(e.doc->'segments', '[]'::jsonb)) AS x("user" text,
			device text, joined_at timestamptz, left_at timestamptz)
	ORDER BY (e.doc->>'call_id')::uuid, x."user", x.joined_at, e.n DESC
	ON CONFLICT (call_id, user_id, joined_at) DO UPDATE SET
		device_id = COALESCE(s.device_id, excluded.device_id),
		left_at = COALESCE(s.left_at, excluded.left_at)
	WHERE (s.device_id IS NULL AND excluded.device_id IS NOT NULL)
		OR (s.left_at IS NULL AND excluded.left_at IS NOT NULL);
END
$$;

-- At start, calls a crashed run left open: as in 001, and for group calls
-- the open segments end with the call, a member's last leave is the end of
-- its last segment, and a caller nobody joined gets `failed` (the server
-- ended it, as for a direct call), not the `answered` of its own join.
-- Members who never joined keep no left_at: they were never in the call.
CREATE OR REPLACE FUNCTION calls_close_orphan_calls(p_node text, p_boot uuid) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
	v_alive timestamptz;
	v_count integer;
BEGIN
	SELECT alive_at INTO v_alive FROM calls_nodes WHERE node = p_node AND boot <> p_boot;
	WITH closed AS (
		UPDATE calls_calls c SET
			ended_at = LEAST(now(), GREATEST(c.started_at, c.answered_at, COALESCE(v_alive, now()))),
			reason = 'server_shutdown'
		WHERE c.node = p_node AND c.boot <> p_boot AND c.ended_at IS NULL
		RETURNING c.call_id, c.kind, c.answered_at, c.ended_at
	), segments AS (
		-- A join after the last heartbeat must not end before it began.
		UPDATE calls_group_segments s SET left_at = GREATEST(s.joined_at, closed.ended_at)
		FROM closed
		WHERE s.call_id = closed.call_id AND s.left_at IS NULL
		RETURNING 1
	), members AS (
		UPDATE calls_participants p SET
			outcome = CASE
				WHEN closed.kind = 'group' AND p.role = 'caller' THEN
					CASE WHEN closed.answered_at IS NOT NULL THEN 'answered' ELSE 'failed' END
				WHEN p.answered_at IS NOT NULL THEN 'answered'
				WHEN p.role = 'caller' THEN 'failed' ELSE 'missed' END,
			left_at = COALESCE(p.left_at, CASE
				WHEN closed.kind <> 'group' THEN closed.ended_at
				WHEN p.answered_at IS NOT NULL THEN COALESCE(
					(SELECT max(COALESCE(s.left_at, GREATEST(s.joined_at, closed.ended_at)))
					 FROM calls_group_segments s
					 WHERE s.call_id = p.call_id AND s.user_id = p.user_id),
					closed.ended_at) END)
		FROM closed
		WHERE p.call_id = closed.call_id AND p.outcome IS NULL
		RETURNING 1
	)
	SELECT count(*) INTO v_count FROM closed,
		(SELECT count(*) FROM members) m, (SELECT count(*) FROM segments) g;
	INSERT INTO calls_nodes (node, boot, started_at, alive_at)
	VALUES (p_node, p_boot, now(), now())
	ON CONFLICT (node) DO UPDATE SET boot = excluded.boot, started_at = excluded.started_at,
		alive_at = excluded.alive_at;
	RETURN v_count;
END
$$;

-- The time a user spent in a group call, in whole seconds: the sum of its
-- segments (an open one ends when the user left, else with the call), or,
-- for a call written without segments, first join to last leave.
CREATE FUNCTION calls_group_seconds(p_call uuid, p_user text, p_answered timestamptz,
	p_end timestamptz) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT GREATEST(0, floor(extract(epoch FROM COALESCE(
		(SELECT sum(GREATEST(interval '0', COALESCE(s.left_at, p_end) - s.joined_at))
		 FROM calls_group_segments s WHERE s.call_id = p_call AND s.user_id = p_user),
		p_end - p_answered))))::bigint
$$;

-- 001's view, with group calls: answered_at and duration only for users who
-- joined someone (a caller alone in the call did not talk to anybody, and a
-- direct caller's entry has no answered_at when nobody answered either), and
-- participants, every invited user of a group call: the caller first, then
-- in the order they were invited, ties by user id. New columns go last, as
-- CREATE OR REPLACE VIEW requires; a query that does not name participants
-- does not compute it.
CREATE OR REPLACE VIEW calls_log AS
SELECT p.user_id, p.call_id, c.kind, c.media,
	CASE WHEN p.role = 'caller' THEN 'outgoing' ELSE 'incoming' END AS direction,
	CASE WHEN c.kind = 'direct' THEN
		CASE WHEN p.role = 'caller' THEN c.callee ELSE c.caller END END AS peer,
	c.title, p.started_at,
	CASE WHEN c.kind = 'direct' OR p.outcome = 'answered' THEN p.answered_at END AS answered_at,
	COALESCE(p.left_at, c.ended_at) AS ended_at,
	CASE WHEN p.answered_at IS NULL THEN 0
		WHEN c.kind = 'group' THEN CASE WHEN p.outcome <> 'answered' THEN 0
			ELSE calls_group_seconds(p.call_id, p.user_id, p.answered_at, COALESCE(p.left_at, c.ended_at))::integer END
		ELSE GREATEST(0, floor(extract(epoch FROM COALESCE(p.left_at, c.ended_at) - p.answered_at)))::integer
	END AS duration,
	p.outcome, p.seen, p.role, p.device_id,
	CASE WHEN c.kind = 'group' THEN
		(SELECT json_agg(json_strip_nulls(json_build_object('user', o.user_id,
			'joined_at', calls_ts(o.answered_at),
			'left_at', CASE WHEN o.answered_at IS NOT NULL THEN calls_ts(o.left_at) END,
			'outcome', o.outcome))
			ORDER BY o.role = 'caller' DESC, COALESCE(o.invited_at, o.answered_at), o.user_id)
		 FROM calls_participants o WHERE o.call_id = p.call_id) END AS participants
FROM calls_participants p JOIN calls_calls c USING (call_id)
WHERE p.outcome IS NOT NULL AND NOT p.deleted;

-- 001's view, with group calls: one row per member (not the caller), dst the
-- member, from its invitation (calldate) to its last leave, or the end of
-- the call for a member who never joined; billsec is the time it spent in
-- the call, and the disposition ANSWERED if it joined, else NO ANSWER (a
-- member declining or missing the ring ends nobody's call, so never BUSY or
-- FAILED). Direct calls are unchanged.
CREATE OR REPLACE VIEW calls_cdr AS
SELECT g.calldate,
	format('"%s" <%s>', COALESCE(cu.display, c.caller), c.caller)::varchar(80) AS clid,
	c.caller::varchar(80) AS src,
	p.user_id::varchar(80) AS dst,
	c.kind::varchar(80) AS dcontext,
	('WebRTC/' || c.caller || COALESCE('-' || c.caller_device, ''))::varchar(80) AS channel,
	('WebRTC/' || p.user_id || COALESCE('-' || p.device_id, ''))::varchar(80) AS dstchannel,
	'Dial'::varchar(80) AS lastapp,
	('WebRTC/' || p.user_id)::varchar(80) AS lastdata,
	GREATEST(0, floor(extract(epoch FROM COALESCE(p.left_at, c.ended_at) - g.calldate)))::bigint AS duration,
	CASE WHEN p.answered_at IS NULL THEN 0
		WHEN c.kind = 'group' THEN calls_group_seconds(p.call_id, p.user_id, p.answered_at, COALESCE(p.left_at, c.ended_at))
		ELSE GREATEST(0, floor(extract(epoch FROM COALESCE(p.left_at, c.ended_at) - p.answered_at)))::bigint
	END AS billsec,
	(CASE
		WHEN c.kind = 'group' THEN CASE WHEN p.answered_at IS NOT NULL THEN 'ANSWERED' ELSE 'NO ANSWER' END
		WHEN p.outcome = 'answered' THEN 'ANSWERED'
		WHEN p.outcome = 'busy' OR cp.outcome = 'busy' THEN 'BUSY'
		WHEN p.outcome IN ('failed', 'unavailable') OR cp.outcome IN ('failed', 'unavailable') THEN 'FAILED'
		ELSE 'NO ANSWER'
	END)::varchar(45) AS disposition,
	3::bigint AS amaflags,
	''::varchar(20) AS accountcode,
	(CASE WHEN c.kind = 'direct' THEN c.call_id::text
		ELSE c.call_id::text || '/' || p.user_id END)::varchar(150) AS uniqueid,
	COALESCE(c.title, '')::varchar(255) AS userfield,
	c.call_id::text::varchar(150) AS linkedid
FROM calls_calls c
JOIN calls_participants p ON p.call_id = c.call_id AND p.role <> 'caller'
CROSS JOIN LATERAL (SELECT CASE WHEN c.kind = 'group' THEN COALESCE(p.invited_at, c.started_at)
	ELSE c.started_at END AS calldate) g
LEFT JOIN calls_participants cp ON cp.call_id = c.call_id AND cp.role = 'caller'
LEFT JOIN calls_users cu ON cu.user_id = c.caller
WHERE c.ended_at IS NOT NULL;

INSERT INTO calls_migrations (version, name) VALUES (7, 'group_calls');

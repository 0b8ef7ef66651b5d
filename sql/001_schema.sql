-- janus-calls schema, migration 1: users, devices, calls and their per-user
-- rows, contacts, push registrations, and the functions the plugin writes
-- through.
--
-- The plugin applies every file of sql/ in order at start (they are built
-- into it), each in its own transaction under an advisory lock, and records
-- it in calls_migrations; `psql -f sql/001_schema.sql` does the same by hand.
-- A file is applied once: its last statement records it.
--
-- Writes from the plugin are idempotent: calls_put_call() may see the same
-- call any number of times, in any order of its start and end, and the row
-- ends up as the first complete record made it. That is what lets the plugin
-- replay its outage spool, or a batch a connection died under, without
-- counting anything twice.

CREATE TABLE IF NOT EXISTS calls_migrations (
	version integer PRIMARY KEY,
	name text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE calls_users (
	user_id text PRIMARY KEY,
	display text,
	-- who may see this user's state and last seen (issue: presence)
	privacy text NOT NULL DEFAULT 'everyone'
		CHECK (privacy IN ('everyone', 'contacts', 'nobody')),
	-- when the last device of the user went away; NULL while online or never seen
	last_seen timestamptz,
	-- when the user last marked missed calls seen (history_seen)
	missed_seen_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE calls_devices (
	user_id text NOT NULL,
	device_id text NOT NULL,
	first_seen timestamptz NOT NULL,
	last_seen timestamptz NOT NULL,
	PRIMARY KEY (user_id, device_id)
);

-- One row per call. node/boot say which Janus process ran it, so that a
-- restarted process closes the calls its previous run left open.
CREATE TABLE calls_calls (
	call_id uuid PRIMARY KEY,
	kind text NOT NULL CHECK (kind IN ('direct', 'group')),
	media text NOT NULL CHECK (media IN ('audio', 'video')),
	caller text NOT NULL,
	caller_device text,
	callee text,                    -- direct calls: the user called
	title text,                     -- group calls
	started_at timestamptz NOT NULL,
	answered_at timestamptz,
	ended_at timestamptz,
	reason text,                    -- why it ended, as the caller heard it
	node text NOT NULL,
	boot uuid NOT NULL
);
CREATE INDEX calls_calls_open ON calls_calls (node) WHERE ended_at IS NULL;
CREATE INDEX calls_calls_started ON calls_calls (started_at);

-- One row per user of a call: the user's own view of it. outcome is NULL
-- while the call is on.
CREATE TABLE calls_participants (
	call_id uuid NOT NULL REFERENCES calls_calls ON DELETE CASCADE,
	user_id text NOT NULL,
	role text NOT NULL CHECK (role IN ('caller', 'callee', 'member')),
	started_at timestamptz NOT NULL,    -- the call's, here for the log index
	invited_at timestamptz,
	answered_at timestamptz,            -- answered or joined
	left_at timestamptz,
	outcome text CHECK (outcome IN ('answered', 'missed', 'declined', 'cancelled',
		'no_answer', 'busy', 'unavailable', 'failed')),
	device_id text,                     -- the device that answered, or called
	seen boolean NOT NULL DEFAULT false,     -- a missed call marked seen
	deleted boolean NOT NULL DEFAULT false,  -- history_delete: gone from this user's log
	PRIMARY KEY (call_id, user_id)
);
-- A user's log, newest first, by keyset: (started_at, call_id) < cursor.
CREATE INDEX calls_participants_log ON calls_participants (user_id, started_at DESC, call_id DESC)
	WHERE outcome IS NOT NULL AND NOT deleted;
CREATE INDEX calls_participants_missed ON calls_participants (user_id, started_at DESC, call_id DESC)
	WHERE outcome = 'missed' AND NOT deleted;
CREATE INDEX calls_participants_unseen ON calls_participants (user_id)
	WHERE outcome = 'missed' AND NOT seen AND NOT deleted;

CREATE TABLE calls_contacts (
	user_id text NOT NULL,
	contact_id text NOT NULL,
	added_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, contact_id)
);
CREATE INDEX calls_contacts_reverse ON calls_contacts (contact_id);

CREATE TABLE calls_push_registrations (
	user_id text NOT NULL,
	device_id text NOT NULL,
	platform text NOT NULL CHECK (platform IN ('webhook', 'fcm', 'apns')),
	voip boolean NOT NULL DEFAULT false,
	token text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, device_id, platform, voip)
);

-- Janus processes that use this database, and when each was last alive:
-- the end time given to calls a crash left open.
CREATE TABLE calls_nodes (
	node text PRIMARY KEY,
	boot uuid NOT NULL,
	started_at timestamptz NOT NULL,
	alive_at timestamptz NOT NULL
);

-- RFC 3339 UTC with milliseconds, as the wire protocol writes times.
CREATE FUNCTION calls_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

-- The state of one call, as a JSON document:
--   {call_id, kind, media, caller, caller_device, callee, title, started_at,
--    answered_at, ended_at, reason, node, boot,
--    participants: [{user, role, invited_at, answered_at, left_at, outcome, device}]}
-- Absent fields are NULL. A field once set is never changed or cleared by a
-- later document (first complete record wins), so replays change nothing.
CREATE FUNCTION calls_put_call(doc jsonb) RETURNS void
LANGUAGE sql
AS $$
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
$$;

-- A device registered (online) or the user's last device left (last_seen).
--   {user, display, device, at, offline: bool}
CREATE FUNCTION calls_put_presence(doc jsonb) RETURNS void
LANGUAGE sql
AS $$
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
$$;

-- history_seen: the user's missed calls up to "at" are seen.  {user, at}
CREATE FUNCTION calls_put_seen(doc jsonb) RETURNS void
LANGUAGE sql
AS $$
	UPDATE calls_participants SET seen = true
	WHERE user_id = doc->>'user' AND outcome = 'missed' AND NOT seen AND NOT deleted
		AND started_at <= (doc->>'at')::timestamptz;
	INSERT INTO calls_users AS u (user_id, missed_seen_at)
	VALUES (doc->>'user', (doc->>'at')::timestamptz)
	ON CONFLICT (user_id) DO UPDATE SET
		missed_seen_at = GREATEST(u.missed_seen_at, excluded.missed_seen_at);
$$;

-- At start: calls that an earlier run of this node left open (it crashed,
-- or lost the database and was killed before it could write their end) end
-- with server_shutdown, at the last time that run was known alive. Then
-- this run (boot) becomes the node's current one. Returns how many closed.
CREATE FUNCTION calls_close_orphans(p_node text, p_boot uuid) RETURNS integer
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
		RETURNING c.call_id, c.ended_at
	), members AS (
		UPDATE calls_participants p SET
			outcome = CASE WHEN p.answered_at IS NOT NULL THEN 'answered'
				WHEN p.role = 'caller' THEN 'failed' ELSE 'missed' END,
			left_at = COALESCE(p.left_at, closed.ended_at)
		FROM closed
		WHERE p.call_id = closed.call_id AND p.outcome IS NULL
		RETURNING 1
	)
	SELECT count(*) INTO v_count FROM closed, (SELECT count(*) FROM members) m;
	INSERT INTO calls_nodes (node, boot, started_at, alive_at)
	VALUES (p_node, p_boot, now(), now())
	ON CONFLICT (node) DO UPDATE SET boot = excluded.boot, started_at = excluded.started_at,
		alive_at = excluded.alive_at;
	RETURN v_count;
END
$$;

-- A user's call log, one row per call and user, as the history request and
-- SQL users see it. Deleted entries and calls still on are not in it.
CREATE VIEW calls_log AS
SELECT p.user_id, p.call_id, c.kind, c.media,
	CASE WHEN p.role = 'caller' THEN 'outgoing' ELSE 'incoming' END AS direction,
	CASE WHEN c.kind = 'direct' THEN
		CASE WHEN p.role = 'caller' THEN c.callee ELSE c.caller END END AS peer,
	c.title, p.started_at, p.answered_at, COALESCE(p.left_at, c.ended_at) AS ended_at,
	CASE WHEN p.answered_at IS NULL THEN 0
		ELSE GREATEST(0, floor(extract(epoch FROM COALESCE(p.left_at, c.ended_at) - p.answered_at)))::integer
	END AS duration,
	p.outcome, p.seen, p.role, p.device_id
FROM calls_participants p JOIN calls_calls c USING (call_id)
WHERE p.outcome IS NOT NULL AND NOT p.deleted;

-- Asterisk cdr_pgsql columns, one row per callee or invited member of a call,
-- so that telephony reporting tools read this table unchanged.
CREATE VIEW calls_cdr AS
SELECT c.started_at AS calldate,
	format('"%s" <%s>', COALESCE(cu.display, c.caller), c.caller)::varchar(80) AS clid,
	c.caller::varchar(80) AS src,
	p.user_id::varchar(80) AS dst,
	c.kind::varchar(80) AS dcontext,
	('WebRTC/' || c.caller || COALESCE('-' || c.caller_device, ''))::varchar(80) AS channel,
	('WebRTC/' || p.user_id || COALESCE('-' || p.device_id, ''))::varchar(80) AS dstchannel,
	'Dial'::varchar(80) AS lastapp,
	('WebRTC/' || p.user_id)::varchar(80) AS lastdata,
	GREATEST(0, floor(extract(epoch FROM COALESCE(p.left_at, c.ended_at) - c.started_at)))::bigint AS duration,
	CASE WHEN p.answered_at IS NULL THEN 0
		ELSE GREATEST(0, floor(extract(epoch FROM COALESCE(p.left_at, c.ended_at) - p.answered_at)))::bigint
	END AS billsec,
	(CASE
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
LEFT JOIN calls_participants cp ON cp.call_id = c.call_id AND cp.role = 'caller'
LEFT JOIN calls_users cu ON cu.user_id = c.caller
WHERE c.ended_at IS NOT NULL;

INSERT INTO calls_migrations (version, name) VALUES (1, 'schema');

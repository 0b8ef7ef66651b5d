-- bench/load.sql - fills the call history with :n synthetic direct calls
-- between :u users, set-based, in one transaction.
--
-- psql variables: n (calls), u (users, >= 2), t_end (the newest call's time;
-- calls are spread evenly over the year before it, in call order, so the
-- heap is in time order as on a live server).
--
-- Every value is a deterministic function of the call number i
-- (hashint8extended(i, k) with a different k per choice), so the two passes
-- (calls, then their two participant rows) agree without reading each other.
--
-- Mix of endings (caller / callee outcome):
--   60% answered (answered / answered), 12% cancelled (cancelled / missed),
--   10% ring timeout (no_answer / missed), 10% declined (declined / declined),
--    4% declined as busy (busy / declined), 4% every device busy (busy / missed).
-- Missed calls older than 30 days are marked seen; 1% of the entries are
-- deleted from their user's log (history_delete).
--
-- Indexes and constraints of the two tables are dropped first and made again
-- at the end from their own definitions (pg_get_indexdef/constraintdef), so
-- the schema stays whatever sql/ says. With wal_level = minimal the rows and
-- index builds of tables truncated in this transaction skip the WAL.

\set ON_ERROR_STOP on
\pset tuples_only on
\pset format unaligned

BEGIN;
-- Sorts, the series of call numbers and the foreign key check in memory.
SET LOCAL work_mem = '256MB';
SELECT 'STEP begin ' || extract(epoch FROM clock_timestamp());

CREATE TEMP TABLE bench_ddl ON COMMIT DROP AS
SELECT CASE c.contype WHEN 'f' THEN 1 ELSE 2 END AS drop_order,
	CASE c.contype WHEN 'p' THEN 1 ELSE 3 END AS create_order,
	format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) AS drop_sql,
	format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
		pg_get_constraintdef(c.oid)) AS create_sql
FROM pg_constraint c
WHERE (c.conrelid IN ('calls_calls'::regclass, 'calls_participants'::regclass)
		AND c.contype IN ('p', 'u', 'f'))
	-- other tables' keys into them (calls_group_segments): the primary key
	-- of calls_calls cannot go while one depends on it
	OR (c.confrelid IN ('calls_calls'::regclass, 'calls_participants'::regclass) AND c.contype = 'f')
UNION ALL
SELECT 3, 2, format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid IN ('calls_calls'::regclass, 'calls_participants'::regclass)
	AND NOT EXISTS (SELECT 1 FROM pg_constraint c
		WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u'));

-- CASCADE: and the group call segments, in schemas that have them.
TRUNCATE calls_participants, calls_calls, calls_users CASCADE;
SELECT drop_sql FROM bench_ddl ORDER BY drop_order \gexec

-- One row per call number with every choice made.
CREATE TEMP VIEW bench_gen AS
SELECT i,
	md5('bench-call-' || i)::uuid AS call_id,
	a, 1 + (a - 1 + 1 + (hashint8extended(i, 2) & 4611686018427387903) % (:u - 1)) % :u AS b,
	st, o, ring, talk,
	CASE WHEN (hashint8extended(i, 6) & 4611686018427387903) % 10 < 3 THEN 'video' ELSE 'audio' END AS media,
	CASE WHEN (hashint8extended(i, 7) & 1) = 0 THEN 'phone' ELSE 'web' END AS caller_device,
	CASE WHEN (hashint8extended(i, 8) & 1) = 0 THEN 'phone' ELSE 'web' END AS callee_device,
	(hashint8extended(i, 9) & 4611686018427387903) % 100 = 0 AS caller_deleted,
	(hashint8extended(i, 10) & 4611686018427387903) % 100 = 0 AS callee_deleted
FROM generate_series(1, :n::bigint) AS i
CROSS JOIN LATERAL (SELECT
	1 + (hashint8extended(i, 1) & 4611686018427387903) % :u AS a,
	-- even spread over the year, plus a jitter within the call's slot
	:'t_end'::timestamptz - interval '365 days'
		+ ((i - 1) * (31536000000000 / :n::bigint)
		   + (hashint8extended(i, 3) & 4611686018427387903) % GREATEST(1, 31536000000000 / :n::bigint))
		  * interval '1 microsecond' AS st,
	(hashint8extended(i, 4) & 4611686018427387903) % 100 AS o,
	(hashint8extended(i, 5) & 4611686018427387903) % 30000000 AS ring,
	(hashint8extended(i, 11) & 4611686018427387903) % 900000000 AS talk) AS x;

-- outcome class: 0 answered, 1 cancelled, 2 no_answer, 3 declined, 4 busy (declined), 5 busy (nothing rang)
CREATE TEMP VIEW bench_calls AS
SELECT g.*, k,
	(ARRAY['hangup', 'cancelled', 'no_answer', 'declined', 'busy', 'busy'])[k + 1] AS reason,
	(ARRAY['answered', 'cancelled', 'no_answer', 'declined', 'busy', 'busy'])[k + 1] AS caller_outcome,
	(ARRAY['answered', 'missed', 'missed', 'declined', 'declined', 'missed'])[k + 1] AS callee_outcome,
	CASE k WHEN 0 THEN st + (1000000 + ring / 2) * interval '1 microsecond' END AS answered_at,
	st + (CASE k
		WHEN 0 THEN 1000000 + ring / 2 + talk
		WHEN 1 THEN 1000000 + ring
		WHEN 2 THEN 45000000
		WHEN 3 THEN 2000000 + ring / 3
		WHEN 4 THEN 1000000 + ring / 6
		ELSE ring / 300 END) * interval '1 microsecond' AS ended_at,
	'u' || lpad(a::text, 6, '0') AS caller, 'u' || lpad(b::text, 6, '0') AS callee
FROM (SELECT * FROM bench_gen OFFSET 0) g   -- OFFSET 0: compute each value once, not per use
CROSS JOIN LATERAL (SELECT CASE WHEN o < 60 THEN 0 WHEN o < 72 THEN 1 WHEN o < 82 THEN 2
	WHEN o < 92 THEN 3 WHEN o < 96 THEN 4 ELSE 5 END AS k) AS kk;

SELECT 'STEP prepared ' || extract(epoch FROM clock_timestamp());

INSERT INTO calls_users (user_id, display, last_seen)
SELECT 'u' || lpad(k::text, 6, '0'), 'User ' || k,
	:'t_end'::timestamptz - (k % 1000) * interval '1 hour'
FROM generate_series(1, :u) AS k;
SELECT 'STEP users ' || extract(epoch FROM clock_timestamp());

INSERT INTO calls_calls (call_id, kind, media, caller, caller_device, callee, title,
	started_at, answered_at, ended_at, reason, node, boot)
SELECT call_id, 'direct', media, caller, caller_device, callee, NULL,
	st, answered_at, ended_at, reason, 'bench-load', '00000000-0000-4000-8000-000000000000'
FROM bench_calls;
SELECT 'STEP calls ' || extract(epoch FROM clock_timestamp());

INSERT INTO calls_participants (call_id, user_id, role, started_at, invited_at, answered_at,
	left_at, outcome, device_id, seen, deleted)
SELECT c.call_id, p.user_id, p.role, c.st, c.st, c.answered_at, c.ended_at, p.outcome, p.device,
	p.outcome = 'missed' AND c.st < :'t_end'::timestamptz - interval '30 days', p.deleted
FROM (SELECT * FROM bench_calls OFFSET 0) c
CROSS JOIN LATERAL (VALUES
	(c.caller, 'caller', c.caller_outcome, c.caller_device, c.caller_deleted),
	(c.callee, 'callee', c.callee_outcome, CASE WHEN c.k = 0 THEN c.callee_device END, c.callee_deleted)
) AS p(user_id, role, outcome, device, deleted);
SELECT 'STEP participants ' || extract(epoch FROM clock_timestamp());

SELECT create_sql FROM bench_ddl ORDER BY create_order \gexec
SELECT 'STEP indexes ' || extract(epoch FROM clock_timestamp());

COMMIT;
SELECT 'STEP commit ' || extract(epoch FROM clock_timestamp());

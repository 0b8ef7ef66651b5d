-- janus-calls schema, migration 4: presence.
--
-- Privacy and contacts become writable, and last_seen survives a crash:
-- calls_users remembers which run of which node last saw the user online,
-- so that the next start of that node can give the users it left online
-- the last time that run was known alive (as it does for calls).
--
-- Every write stays idempotent and order-preserving, as the spool needs:
-- replaying a record that is already in changes nothing.

ALTER TABLE calls_users
	ADD COLUMN online_node text,
	ADD COLUMN online_boot uuid;

CREATE INDEX calls_users_online ON calls_users (online_node) WHERE online_node IS NOT NULL;

-- A device registered (online) or the user's last device left (offline).
--   {user, display?, device?, at, offline: bool, node?, boot?}
CREATE OR REPLACE FUNCTION calls_put_presence(doc jsonb) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	v_offline boolean := (doc->>'offline')::boolean;
	v_at timestamptz := (doc->>'at')::timestamptz;
BEGIN
	INSERT INTO calls_users AS u (user_id, display, last_seen, online_node, online_boot)
		VALUES (doc->>'user', doc->>'display', CASE WHEN v_offline THEN v_at END,
			CASE WHEN NOT v_offline THEN doc->>'node' END,
			CASE WHEN NOT v_offline THEN (doc->>'boot')::uuid END)
		ON CONFLICT (user_id) DO UPDATE SET
			display = COALESCE(excluded.display, u.display),
			last_seen = CASE WHEN v_offline THEN GREATEST(u.last_seen, excluded.last_seen) ELSE u.last_seen END,
			-- Going offline clears the mark only of the run that set it: an
			-- older record replayed late must not hide a newer login.
			online_node = CASE WHEN NOT v_offline THEN COALESCE(excluded.online_node, u.online_node)
				WHEN u.online_boot IS NOT DISTINCT FROM (doc->>'boot')::uuid OR doc->>'boot' IS NULL THEN NULL
				ELSE u.online_node END,
			online_boot = CASE WHEN NOT v_offline THEN COALESCE(excluded.online_boot, u.online_boot)
				WHEN u.online_boot IS NOT DISTINCT FROM (doc->>'boot')::uuid OR doc->>'boot' IS NULL THEN NULL
				ELSE u.online_boot END;

	INSERT INTO calls_devices AS d (user_id, device_id, first_seen, last_seen)
		SELECT doc->>'user', doc->>'device', v_at, v_at
		WHERE doc->>'device' IS NOT NULL
		ON CONFLICT (user_id, device_id) DO UPDATE SET
			last_seen = GREATEST(d.last_seen, excluded.last_seen);
END
$$;

-- privacy {last_seen}:  {user, privacy}
CREATE FUNCTION calls_put_privacy(doc jsonb) RETURNS void
LANGUAGE sql
AS $$
	INSERT INTO calls_users AS u (user_id, privacy)
	VALUES (doc->>'user', doc->>'privacy')
	ON CONFLICT (user_id) DO UPDATE SET privacy = excluded.privacy;
$$;

-- contacts_add / contacts_remove:  {user, add?: [ids], remove?: [ids], at}
CREATE FUNCTION calls_put_contacts(doc jsonb) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO calls_contacts (user_id, contact_id, added_at)
		SELECT doc->>'user', a.id, (doc->>'at')::timestamptz
		FROM jsonb_array_elements_text(COALESCE(doc->'add', '[]')) AS a(id)
		ON CONFLICT DO NOTHING;
	DELETE FROM calls_contacts
		WHERE user_id = doc->>'user'
		AND contact_id IN (SELECT jsonb_array_elements_text(COALESCE(doc->'remove', '[]')));
END
$$;

-- At start, after the calls: the users an earlier run of this node left
-- online were last seen when that run was last known alive.
ALTER FUNCTION calls_close_orphans(text, uuid) RENAME TO calls_close_orphan_calls;

CREATE FUNCTION calls_close_orphans(p_node text, p_boot uuid) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
	v_alive timestamptz;
	v_count integer;
BEGIN
	SELECT alive_at INTO v_alive FROM calls_nodes WHERE node = p_node AND boot <> p_boot;
	UPDATE calls_users SET
		last_seen = GREATEST(last_seen, LEAST(now(), COALESCE(v_alive, now()))),
		online_node = NULL, online_boot = NULL
	WHERE online_node = p_node AND online_boot <> p_boot;
	v_count := calls_close_orphan_calls(p_node, p_boot);
	RETURN v_count;
END
$$;

INSERT INTO calls_migrations (version, name) VALUES (4, 'presence');

-- janus-calls schema, migration 5: push registrations become writable.
--
-- push_register / push_unregister of a device, as one JSON document:
--   {user, device, at, platform, token, voip}   register (or refresh the token)
--   {user, device, at, remove: true}             unregister every registration of the device
-- A token belongs to one device: registering it again elsewhere (the app
-- signed in as someone else) moves it. Replayed in order, as the spool
-- does, a document changes nothing the second time.

CREATE INDEX calls_push_registrations_token ON calls_push_registrations (platform, token);

CREATE FUNCTION calls_put_push(doc jsonb) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	IF COALESCE((doc->>'remove')::boolean, false) THEN
		DELETE FROM calls_push_registrations
			WHERE user_id = doc->>'user' AND device_id = doc->>'device';
		RETURN;
	END IF;
	DELETE FROM calls_push_registrations
		WHERE platform = doc->>'platform' AND token = doc->>'token'
		AND (user_id, device_id) <> (doc->>'user', doc->>'device');
	INSERT INTO calls_push_registrations AS r (user_id, device_id, platform, voip, token, created_at, updated_at)
		VALUES (doc->>'user', doc->>'device', doc->>'platform', COALESCE((doc->>'voip')::boolean, false),
			doc->>'token', (doc->>'at')::timestamptz, (doc->>'at')::timestamptz)
		ON CONFLICT (user_id, device_id, platform, voip) DO UPDATE SET
			token = excluded.token,
			updated_at = GREATEST(r.updated_at, excluded.updated_at);
END
$$;

INSERT INTO calls_migrations (version, name) VALUES (5, 'push_registrations');

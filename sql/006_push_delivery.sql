-- janus-calls schema, migration 6: push delivery deletes dead registrations.
--
-- calls_put_push gains a third document, written by the push thread when a
-- provider says a token is dead (APNs 410, FCM UNREGISTERED, webhook 410):
--   {user, device, at, platform, token, voip, dead: true}
-- It deletes that registration only if it still holds that token and was
-- not registered again after `at` (the app may have refreshed it meanwhile).

CREATE OR REPLACE FUNCTION calls_put_push(doc jsonb) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	IF COALESCE((doc->>'dead')::boolean, false) THEN
		DELETE FROM calls_push_registrations
			WHERE user_id = doc->>'user' AND device_id = doc->>'device'
			AND platform = doc->>'platform' AND voip = COALESCE((doc->>'voip')::boolean, false)
			AND token = doc->>'token' AND updated_at <= (doc->>'at')::timestamptz;
		RETURN;
	END IF;
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

INSERT INTO calls_migrations (version, name) VALUES (6, 'push_delivery');

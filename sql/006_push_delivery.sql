-- janus-calls schema, migration 6: push delivery deletes dead registrations.
--
-- calls_put_push gains a third document, written by the push thread when a
-- provider says a token is dead (APNs 410, FCM UNREGISTERED, webhook 410):
--   {user, device, at, platform, token, voip, dead: true}
-- It deletes that registration only if it still holds that token and was
-- not registered again after `at` (the app may have refreshed it meanwhile).
-- The register and unregister documents keep migration 5's function, under
-- a name of its own.

ALTER FUNCTION calls_put_push(jsonb) RENAME TO calls_put_push_registration;

CREATE FUNCTION calls_put_push(doc jsonb) RETURNS void
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
	PERFORM calls_put_push_registration(doc);
END
$$;

INSERT INTO calls_migrations (version, name) VALUES (6, 'push_delivery');

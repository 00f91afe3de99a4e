-- When the session a refresh token belongs to began (its login): no token of the session
-- lives past that plus the absolute session lifetime, however often it was refreshed.
ALTER TABLE refresh_tokens ADD COLUMN session_started_at timestamptz;
UPDATE refresh_tokens t SET session_started_at =
    (SELECT min(f.issued_at) FROM refresh_tokens f WHERE f.family_id = t.family_id);
ALTER TABLE refresh_tokens ALTER COLUMN session_started_at SET NOT NULL;

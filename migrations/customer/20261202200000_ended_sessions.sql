-- Sessions ended (logout, log out everywhere, a password change, a reused refresh token) while
-- access tokens of theirs may still be alive. Each is announced on the broker so that every
-- service refuses those tokens; a row is kept until they have expired.
CREATE TABLE ended_sessions (
    family_id        uuid PRIMARY KEY,
    ended_at         timestamptz NOT NULL DEFAULT now(),
    -- When the session's last access token expires (its newest refresh token's issue plus the
    -- access-token lifetime).
    tokens_expire_at timestamptz NOT NULL,
    announced_at     timestamptz
);
CREATE INDEX ended_sessions_unannounced_idx ON ended_sessions (ended_at) WHERE announced_at IS NULL;

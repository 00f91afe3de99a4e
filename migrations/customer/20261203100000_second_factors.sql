-- A second factor per account (TOTP): pending until a first code confirms it. The last step
-- used is kept so that every code works once.
CREATE TABLE second_factors (
    customer_id    uuid PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    secret         bytea NOT NULL,
    confirmed_at   timestamptz,
    last_used_step bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Single-use recovery codes, as SHA-256 hashes.
CREATE TABLE recovery_codes (
    customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    code_hash   bytea NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (customer_id, code_hash)
);

-- A login whose password was right and whose second factor is still to come: a short-lived
-- opaque token (hashed) and how many wrong codes it has seen.
CREATE TABLE second_factor_challenges (
    token_hash  bytea PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    failures    integer NOT NULL DEFAULT 0
);
CREATE INDEX second_factor_challenges_expires_at_idx ON second_factor_challenges (expires_at);

-- Whether a session's login showed a second factor: refreshing a session that did not is
-- refused once the account needs one.
ALTER TABLE refresh_tokens ADD COLUMN second_factor boolean NOT NULL DEFAULT false;

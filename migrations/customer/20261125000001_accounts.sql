-- Accounts, their sessions (refresh tokens), token signing keys and login failures.

CREATE TABLE customers (
    id            uuid PRIMARY KEY,
    -- Stored normalized (trimmed, lower case); uniqueness is on that form.
    email         text NOT NULL,
    name          text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'shopper' CHECK (role IN ('shopper', 'operator')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_email_key UNIQUE (email)
);

-- One refresh token per row; a login starts a family, each rotation adds a row to it.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    family_id   uuid NOT NULL,
    customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    -- SHA-256 of the token: the token itself is never stored.
    token_hash  bytea NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_customer_id_idx ON refresh_tokens (customer_id);

-- The Ed25519 key that signs access tokens when none is configured, shared by every
-- instance of customer so they mint interchangeable tokens.
CREATE TABLE signing_keys (
    slot        smallint PRIMARY KEY DEFAULT 1 CHECK (slot = 1),
    pkcs8_der   bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Failed logins per subject ('account:<email>' or 'address:<ip>'), for rate limiting
-- that holds across every instance of customer.
CREATE TABLE login_failures (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_subject_at_idx ON login_failures (subject, at);

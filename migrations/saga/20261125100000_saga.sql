-- The saga engine's own tables, in their own schema so a host service's tables never clash.
CREATE SCHEMA IF NOT EXISTS saga;

CREATE TABLE saga.instances (
    id uuid PRIMARY KEY,
    -- The definition's name (e.g. "checkout").
    saga text NOT NULL,
    state text NOT NULL CHECK (state IN ('running', 'compensating', 'completed', 'failed', 'stuck')),
    -- Where the instance stands: the step (index into the definition), forward or compensation,
    -- and the attempts made of it in that phase.
    step integer NOT NULL,
    phase text NOT NULL CHECK (phase IN ('forward', 'compensation')),
    attempts integer NOT NULL,
    -- Why it is failing or failed, for people.
    failure text,
    input jsonb NOT NULL,
    -- Who started it (the host decides what it means, e.g. a customer id) and the key that makes
    -- starting idempotent for that owner, with a fingerprint of what was asked.
    owner text NOT NULL,
    idempotency_key text,
    request_hash text,
    -- The worker holding the instance and until when; another worker may take it afterwards.
    lease_owner text,
    lease_until timestamptz,
    -- When the next attempt is due (after a backoff).
    run_after timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    UNIQUE (saga, owner, idempotency_key)
);

CREATE INDEX instances_by_state ON saga.instances (state, created_at DESC, id DESC);
CREATE INDEX instances_by_age ON saga.instances (created_at DESC, id DESC);
CREATE INDEX instances_by_owner ON saga.instances (owner, created_at DESC);

CREATE TABLE saga.attempts (
    id bigserial PRIMARY KEY,
    instance_id uuid NOT NULL REFERENCES saga.instances (id) ON DELETE CASCADE,
    step integer NOT NULL,
    step_name text NOT NULL,
    phase text NOT NULL CHECK (phase IN ('forward', 'compensation')),
    attempt integer NOT NULL,
    worker text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at timestamptz,
    -- running, succeeded, failed, or abandoned (its worker stopped before recording an outcome)
    outcome text NOT NULL CHECK (outcome IN ('running', 'succeeded', 'failed', 'abandoned')),
    error text
);

CREATE INDEX attempts_of_instance ON saga.attempts (instance_id, id);
CREATE INDEX attempts_running ON saga.attempts (instance_id) WHERE outcome = 'running';

-- What operators did to an instance, and why.
CREATE TABLE saga.operator_actions (
    id bigserial PRIMARY KEY,
    instance_id uuid NOT NULL REFERENCES saga.instances (id) ON DELETE CASCADE,
    operator text NOT NULL,
    action text NOT NULL,
    reason text NOT NULL,
    state_before text NOT NULL,
    state_after text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX operator_actions_of_instance ON saga.operator_actions (instance_id, id);

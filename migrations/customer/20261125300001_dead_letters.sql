-- Events customer could not apply. The broker dead-letters them to `<queue>.dead`; customer
-- moves each one from there into this table, which is what operators list, select, replay and
-- discard. A table rather than the queue itself, because a queue can only be read from its
-- head: it cannot list without taking, pick one message out of the middle, or keep who did
-- what to a message once it is gone.
CREATE TABLE dead_letters (
    id          uuid PRIMARY KEY,
    -- The message's id (the event id for our events; blank when the message had none).
    message_id  text NOT NULL,
    kind        text NOT NULL,
    -- The order the event is about, when the body says so.
    order_id    uuid,
    body        text NOT NULL,
    -- The last error met applying it, and how many deliveries of it failed.
    error       text NOT NULL,
    attempts    integer NOT NULL,
    -- Why the broker dead-lettered it (`rejected`: unreadable; `delivery_limit`: kept failing).
    dead_reason text NOT NULL,
    dead_at     timestamptz NOT NULL DEFAULT now(),
    state       text NOT NULL DEFAULT 'dead' CHECK (state IN ('dead', 'replayed', 'discarded')),
    resolved_at timestamptz
);
-- The same event dead-lettered again while still open is one dead letter, not two.
CREATE UNIQUE INDEX dead_letters_open_message_id_key ON dead_letters (message_id)
    WHERE state = 'dead' AND message_id <> '';
CREATE INDEX dead_letters_by_state ON dead_letters (state, dead_at DESC, id DESC);

-- Every replay and discard: who, when, what came of it, and why.
CREATE TABLE dead_letter_actions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dead_letter_id uuid NOT NULL REFERENCES dead_letters (id) ON DELETE CASCADE,
    operator       text NOT NULL,
    action         text NOT NULL CHECK (action IN ('replay', 'discard')),
    outcome        text NOT NULL,
    reason         text,
    error          text,
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letter_actions_of_letter ON dead_letter_actions (dead_letter_id, id);

-- When the event happened at product-order, so the event lag (applied_at - occurred_at) can be
-- read; a BRIN index keeps "events applied lately" cheap on this append-only table.
ALTER TABLE applied_events ADD COLUMN occurred_at timestamptz;
CREATE INDEX applied_events_applied_at_idx ON applied_events USING brin (applied_at);

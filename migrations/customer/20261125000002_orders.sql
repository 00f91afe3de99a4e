-- Customer's read model of orders, fed by product-order's events.
CREATE TABLE orders (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    status      text NOT NULL,
    -- The version of the newest event applied; older events never overwrite it.
    version     bigint NOT NULL,
    total       bigint NOT NULL,
    currency    char(3) NOT NULL,
    lines       jsonb NOT NULL,
    contact     jsonb NOT NULL,
    delivery    jsonb NOT NULL,
    placed_at   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX orders_of_customer ON orders (customer_id, placed_at DESC, id DESC);

-- Every status the order went through, with when it happened at product-order.
CREATE TABLE order_status_history (
    order_id    uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    version     bigint NOT NULL,
    status      text NOT NULL,
    reason      text,
    at          timestamptz NOT NULL,
    PRIMARY KEY (order_id, version)
);

-- Events already applied: recorded in the transaction that applies them, so each applies once.
CREATE TABLE applied_events (
    event_id    uuid PRIMARY KEY,
    kind        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- Events that failed, with their last error; those that ran out of attempts are in the
-- dead-letter queue too.
CREATE TABLE event_failures (
    message_id  text PRIMARY KEY,
    kind        text NOT NULL,
    attempts    integer NOT NULL,
    last_error  text NOT NULL,
    dead_lettered boolean NOT NULL DEFAULT false,
    body        text NOT NULL,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now()
);

-- Stock held for a checkout: reserved (taken from products.stock), then committed to its order,
-- or released (given back). A checkout reserves each product at most once.
CREATE TABLE stock_reservations (
    checkout_id uuid NOT NULL,
    product_id  uuid NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    state       text NOT NULL CHECK (state IN ('held', 'committed', 'released')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (checkout_id, product_id)
);
CREATE INDEX stock_reservations_held ON stock_reservations (created_at) WHERE state = 'held';

CREATE TABLE orders (
    id          uuid PRIMARY KEY,
    -- The checkout (saga instance) that placed it: one order per checkout.
    checkout_id uuid NOT NULL UNIQUE,
    customer_id uuid NOT NULL,
    status      text NOT NULL CHECK (status IN ('placed', 'confirmed', 'shipped', 'delivered', 'cancelled')),
    -- Per-order sequence carried by its events: 1 when placed, +1 per status change.
    version     bigint NOT NULL DEFAULT 1,
    total       bigint NOT NULL CHECK (total >= 0),
    currency    char(3) NOT NULL,
    contact     jsonb NOT NULL,
    delivery    jsonb NOT NULL,
    placed_at   timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_by_customer ON orders (customer_id, placed_at DESC, id DESC);
CREATE INDEX orders_by_status ON orders (status, placed_at DESC, id DESC);

CREATE TABLE order_lines (
    order_id    uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id  uuid NOT NULL REFERENCES products (id),
    sku         text NOT NULL,
    name        text NOT NULL,
    unit_price  bigint NOT NULL CHECK (unit_price >= 0),
    quantity    integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE order_status_changes (
    order_id    uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    version     bigint NOT NULL,
    status      text NOT NULL,
    previous_status text,
    -- Who moved it: a customer or operator id, or null for the saga.
    changed_by  uuid,
    reason      text,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, version)
);

-- Events written in the same transaction as the change they announce; the relay publishes
-- them to RabbitMQ with publisher confirms and marks them published.
CREATE TABLE outbox (
    id            uuid PRIMARY KEY,
    routing_key   text NOT NULL,
    payload       jsonb NOT NULL,
    -- The order (or other aggregate) it is about.
    aggregate_id  uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- When the relay may take it; a saga that publishes its own events sets this later, so the
    -- relay only steps in when the saga does not.
    relay_after   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_unpublished ON outbox (relay_after) WHERE published_at IS NULL;
CREATE INDEX outbox_by_aggregate ON outbox (aggregate_id);

-- Reconciliation: the repairs operators make, the orders that changed lately, and a record of
-- every product's initial stock.

-- Each repair with who made it, why, and what it changed.
CREATE TABLE reconciliation_actions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- republish or release.
    action      text NOT NULL CHECK (action IN ('republish', 'release')),
    -- The operator's email and customer id, as the saga actions record them.
    operator    text NOT NULL,
    reason      text NOT NULL,
    order_id    uuid,
    checkout_id uuid,
    details     jsonb NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reconciliation_actions_newest ON reconciliation_actions (at DESC, id DESC);

-- The order digest lists the orders that changed since a moment: without this it would read
-- every order. An order is written once when placed and once per status change (each of those
-- moves `status`, indexed already, so none was a heap-only update before either).
CREATE INDEX orders_by_update ON orders (updated_at DESC, id DESC);

-- The stock check adds up a product's stock changes from its initial stock, which products
-- created through the API record as a change from 0 ("initial stock"). Products put in by the
-- demo seed or load-products before now have none: record theirs as what their stock and
-- their standing reservations add up to today (the best that can be known; any drift before
-- now is taken as their start).
INSERT INTO stock_changes (product_id, changed_by, stock_from, stock_to, reason)
SELECT p.id, '00000000-0000-0000-0000-000000000000', 0, p.stock + coalesce(r.held, 0), 'initial stock'
FROM products p
LEFT JOIN (
    SELECT product_id, sum(quantity)::integer AS held FROM stock_reservations
    WHERE state IN ('held', 'committed') GROUP BY product_id
) r ON r.product_id = p.id
WHERE p.stock + coalesce(r.held, 0) > 0
  AND NOT EXISTS (SELECT 1 FROM stock_changes c WHERE c.product_id = p.id);

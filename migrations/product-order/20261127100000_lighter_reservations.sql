-- Every checkout writes two reservations and moves them from held to committed in the same
-- transaction; each write also paid for what follows, on the checkout's busiest path.

-- No query reads stock_reservations_held, yet the planner chose it (every entry a committed
-- reservation left behind until vacuum) for placing an order's
-- `UPDATE ... WHERE checkout_id = $1 AND state = 'held'`, and the change of state it indexes
-- kept that update from staying on its page. The primary key finds a checkout's reservations.
DROP INDEX stock_reservations_held;

-- A reservation is written by the transaction that has just taken the product's stock (its
-- row locked), and products are never deleted (they are deactivated): the foreign key checked
-- nothing that could fail, at the price of a lookup that share-locks the product row (a
-- contended one, for popular products) on each insert and again on each change of state.
ALTER TABLE stock_reservations DROP CONSTRAINT stock_reservations_product_id_fkey;

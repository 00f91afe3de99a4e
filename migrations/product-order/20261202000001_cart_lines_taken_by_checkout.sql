-- The checkout that took a cart line as it is: set by the checkout's POST for every line of
-- the snapshot, cleared when the shopper changes the line afterwards. Placing the order
-- removes only the lines still taken by its checkout (a line changed since stays in the
-- cart), and a second checkout of lines a running checkout has taken is refused (two tabs),
-- whether that checkout runs at once or waits in the queue.
ALTER TABLE cart_items ADD COLUMN checkout_id uuid;

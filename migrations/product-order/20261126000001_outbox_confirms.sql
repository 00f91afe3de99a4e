-- Tells an event handed to the broker apart from one the broker confirmed: `sent_at` is the
-- last time it was sent, `published_at` (already there) the time the broker's confirm was
-- recorded, and `routed` whether the broker could route it to at least one queue (false: it
-- confirmed and dropped it, since no queue was bound).
ALTER TABLE outbox ADD COLUMN sent_at timestamptz;
ALTER TABLE outbox ADD COLUMN routed boolean;

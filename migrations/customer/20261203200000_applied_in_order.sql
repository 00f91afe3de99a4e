-- Events applied in one transaction (a status change that waited for the one before it is
-- applied right after it) keep the order they were applied in: the time of each insert, not
-- of the transaction's start.
ALTER TABLE applied_events ALTER COLUMN applied_at SET DEFAULT clock_timestamp();

-- What the operator console needs: finding instances by what their input says, counting them
-- per state without reading them all, and saying what an operator action changed.

-- Keys a definition takes from an instance's input to find it by (e.g. the shopper's email),
-- lower case; kept in step with the input when an operator edits it.
ALTER TABLE saga.instances ADD COLUMN search_keys text[] NOT NULL DEFAULT '{}';
CREATE INDEX instances_by_search_key ON saga.instances USING gin (search_keys);

-- How many instances are in each state, kept by a trigger so counting reads at most
-- 5 x 16 rows however many instances there are. Each instance counts in one of 16 slots (by
-- its id), so concurrent transactions rarely wait on the same counter row.
CREATE TABLE saga.state_counts (
    state text NOT NULL,
    slot smallint NOT NULL,
    n bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (state, slot)
);

INSERT INTO saga.state_counts (state, slot, n)
SELECT s.state, slot.slot, coalesce(c.n, 0)
FROM unnest(ARRAY['running', 'compensating', 'completed', 'failed', 'stuck']) AS s(state)
CROSS JOIN generate_series(0, 15) AS slot(slot)
LEFT JOIN (
    SELECT state, (abs(hashtext(id::text)) % 16) AS slot, count(*) AS n
    FROM saga.instances GROUP BY 1, 2
) c ON c.state = s.state AND c.slot = slot.slot;

CREATE FUNCTION saga.count_states() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bucket smallint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        bucket := abs(hashtext(OLD.id::text)) % 16;
        UPDATE saga.state_counts c SET n = c.n - 1 WHERE c.state = OLD.state AND c.slot = bucket;
        RETURN NULL;
    END IF;
    bucket := abs(hashtext(NEW.id::text)) % 16;
    IF TG_OP = 'INSERT' THEN
        UPDATE saga.state_counts c SET n = c.n + 1 WHERE c.state = NEW.state AND c.slot = bucket;
    -- Two counter rows, always locked in the order of their state's name, so two transactions
    -- moving instances in opposite directions cannot deadlock on them.
    ELSIF OLD.state < NEW.state THEN
        UPDATE saga.state_counts c SET n = c.n - 1 WHERE c.state = OLD.state AND c.slot = bucket;
        UPDATE saga.state_counts c SET n = c.n + 1 WHERE c.state = NEW.state AND c.slot = bucket;
    ELSE
        UPDATE saga.state_counts c SET n = c.n + 1 WHERE c.state = NEW.state AND c.slot = bucket;
        UPDATE saga.state_counts c SET n = c.n - 1 WHERE c.state = OLD.state AND c.slot = bucket;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER instances_count_states
AFTER INSERT OR DELETE ON saga.instances
FOR EACH ROW EXECUTE FUNCTION saga.count_states();

CREATE TRIGGER instances_count_state_changes
AFTER UPDATE OF state ON saga.instances
FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION saga.count_states();

-- What an action changed besides the state (the fields edited, the event sent again, when a
-- bulk retry is due), as JSON for people to read.
ALTER TABLE saga.operator_actions ADD COLUMN details jsonb;

-- The counters keep only the ended states (completed, failed), the ones that pile up. Instances
-- at work (running, compensating, stuck) are few and are counted from instances_by_state when
-- asked, so starting an instance and moving it between steps updates no counter at all.
DELETE FROM saga.state_counts WHERE state NOT IN ('completed', 'failed');

DROP TRIGGER instances_count_states ON saga.instances;
DROP TRIGGER instances_count_state_changes ON saga.instances;

CREATE OR REPLACE FUNCTION saga.count_states() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bucket smallint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        bucket := abs(hashtext(OLD.id::text)) % 16;
    ELSE
        bucket := abs(hashtext(NEW.id::text)) % 16;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state IN ('completed', 'failed') THEN
        UPDATE saga.state_counts c SET n = c.n - 1 WHERE c.state = OLD.state AND c.slot = bucket;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.state IN ('completed', 'failed') THEN
        UPDATE saga.state_counts c SET n = c.n + 1 WHERE c.state = NEW.state AND c.slot = bucket;
    END IF;
    RETURN NULL;
END;
$$;

-- No instance moves straight between completed and failed, so one transaction never holds two
-- counter rows and two cannot deadlock on them.
CREATE TRIGGER instances_count_inserts
AFTER INSERT ON saga.instances
FOR EACH ROW WHEN (NEW.state IN ('completed', 'failed')) EXECUTE FUNCTION saga.count_states();

CREATE TRIGGER instances_count_deletes
AFTER DELETE ON saga.instances
FOR EACH ROW WHEN (OLD.state IN ('completed', 'failed')) EXECUTE FUNCTION saga.count_states();

CREATE TRIGGER instances_count_state_changes
AFTER UPDATE OF state ON saga.instances
FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
                   AND (OLD.state IN ('completed', 'failed') OR NEW.state IN ('completed', 'failed')))
EXECUTE FUNCTION saga.count_states();

-- Every step moves its instance and closes an attempt. With room left on each page those
-- updates stay on their page (HOT) and leave the indexes alone.
ALTER TABLE saga.instances SET (fillfactor = 70);
ALTER TABLE saga.attempts SET (fillfactor = 80);

-- Closing an attempt changes its outcome, and an index whose predicate reads the outcome made
-- every close write new index entries. attempts_of_instance finds an instance's open attempts.
DROP INDEX saga.attempts_running;

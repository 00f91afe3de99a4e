-- One index fewer to write for every instance started (and again when it ends): the unique
-- index that makes starting idempotent leads with the owner, so it also finds an owner's
-- instances (a shopper has few; they are sorted when read).
ALTER TABLE saga.instances DROP CONSTRAINT instances_saga_owner_idempotency_key_key;
ALTER TABLE saga.instances ADD CONSTRAINT instances_owner_saga_idempotency_key_key
    UNIQUE (owner, saga, idempotency_key);
DROP INDEX saga.instances_by_owner;

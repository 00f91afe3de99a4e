-- Login failures become throttled attempts of any kind (logins per account and address,
-- per address, registrations per address); the old per-account subjects go with the rename
-- (they only ever counted the last 15 minutes).
ALTER TABLE login_failures RENAME TO throttled_attempts;
ALTER INDEX login_failures_subject_at_idx RENAME TO throttled_attempts_subject_at_idx;
DELETE FROM throttled_attempts;

-- Why an instance failed in the words of the step that failed, when that step gave a reason
-- meant for whoever started the saga (StepError::rejected); `failure` keeps the full text for
-- operators, database errors and worker names included.
ALTER TABLE saga.instances ADD COLUMN public_failure text;

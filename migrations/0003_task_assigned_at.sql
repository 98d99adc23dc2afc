-- When a task was placed on its node: runners get their grace period from then, not from submit.
ALTER TABLE tasks ADD COLUMN assigned_at_ms BIGINT;

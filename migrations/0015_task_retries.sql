-- Ours: how often a task may be queued again (node lost, could not start), and which attempt
-- it is on.
ALTER TABLE tasks ADD COLUMN retries BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN attempt BIGINT NOT NULL DEFAULT 1;

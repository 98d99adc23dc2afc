-- Ours: a task's priority (-100..100), and an index for the fair-share usage of recent tasks.
ALTER TABLE tasks ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
CREATE INDEX tasks_completed_at ON tasks (completed_at_ms);

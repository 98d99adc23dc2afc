-- Ours (lab scheduling): a task's name, its time limit, and the tasks it waits for.
ALTER TABLE tasks ADD COLUMN name TEXT;
ALTER TABLE tasks ADD COLUMN time_limit_seconds BIGINT;
-- A JSON list of task ids (strings), empty for none.
ALTER TABLE tasks ADD COLUMN depends_on TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tasks ADD COLUMN dependency TEXT;
CREATE INDEX tasks_name ON tasks (name);

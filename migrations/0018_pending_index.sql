-- Ours: the queue reads the pending set's fingerprint and ids (task_id, attempt) on every pass;
-- this index answers both without reading the table.
CREATE INDEX tasks_status_attempt ON tasks (status, task_id, attempt);
-- It also serves every query by status, so the index on status alone goes.
DROP INDEX tasks_status;

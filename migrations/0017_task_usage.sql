-- Ours: what a task's runner measured of it (usage accounting): CPU time in microseconds (an
-- integer, as every column here: portable between SQLite and PostgreSQL) and peak memory.
ALTER TABLE tasks ADD COLUMN cpu_microseconds BIGINT;
ALTER TABLE tasks ADD COLUMN max_memory_bytes BIGINT;

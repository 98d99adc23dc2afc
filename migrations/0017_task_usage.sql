-- Ours: what a task's runner measured of it (usage accounting): CPU seconds and peak memory.
ALTER TABLE tasks ADD COLUMN cpu_seconds DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN max_memory_bytes BIGINT;

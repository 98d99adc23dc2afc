-- Output dropped past [paths] max_log_bytes, as the runner reported it with the final status;
-- NULL: nothing was dropped (or no limit applied).
ALTER TABLE tasks ADD COLUMN stdout_dropped BIGINT;
ALTER TABLE tasks ADD COLUMN stderr_dropped BIGINT;

-- Ours: the registry image a task or VPS runs in when it names one instead of an environment.
ALTER TABLE tasks ADD COLUMN image TEXT;

-- Imports from another system's database (the original HakuRiver 0.3's tables): one row per
-- source, so an import in place runs once.
CREATE TABLE imports (
    source TEXT PRIMARY KEY,
    imported_at_ms BIGINT NOT NULL,
    summary TEXT NOT NULL
);

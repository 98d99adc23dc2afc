-- Compute nodes, keyed by the name their runner registers with.
-- Portable SQL: the same file runs on SQLite and PostgreSQL. Times are UTC milliseconds.
CREATE TABLE nodes (
    hostname            TEXT PRIMARY KEY,
    url                 TEXT NOT NULL,
    total_cores         BIGINT NOT NULL,
    memory_total_bytes  BIGINT,
    status              TEXT NOT NULL,
    registered_at_ms    BIGINT NOT NULL,
    last_heartbeat_ms   BIGINT NOT NULL,
    cpu_percent         DOUBLE PRECISION,
    memory_percent      DOUBLE PRECISION,
    memory_used_bytes   BIGINT,
    current_avg_temp    DOUBLE PRECISION,
    current_max_temp    DOUBLE PRECISION,
    numa_topology       TEXT,
    gpu_info            TEXT
);

CREATE INDEX nodes_status_heartbeat ON nodes (status, last_heartbeat_ms);

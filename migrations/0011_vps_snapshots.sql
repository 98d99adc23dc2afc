-- VPS tasks saved as environment tarballs (`vps save`): which tarball came from which VPS.
CREATE TABLE vps_snapshots (
    tarball TEXT PRIMARY KEY,
    task_id BIGINT NOT NULL,
    env_name TEXT NOT NULL,
    timestamp_s BIGINT NOT NULL,
    size_bytes BIGINT NOT NULL,
    node TEXT NOT NULL,
    saved_by TEXT
);
CREATE INDEX vps_snapshots_task ON vps_snapshots (task_id);

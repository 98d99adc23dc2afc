-- Tasks. Times are UTC milliseconds; lists and maps are JSON text; booleans are 0/1.
CREATE TABLE tasks (
    task_id                     BIGINT PRIMARY KEY,
    batch_id                    BIGINT,
    task_type                   TEXT NOT NULL,
    command                     TEXT NOT NULL,
    arguments                   TEXT NOT NULL,
    env_vars                    TEXT NOT NULL,
    required_cores              BIGINT NOT NULL,
    required_memory_bytes       BIGINT,
    required_gpus               TEXT NOT NULL,
    target_node                 TEXT,
    target_numa_node_id         BIGINT,
    assigned_node               TEXT,
    container_name              TEXT NOT NULL,
    privileged                  BIGINT NOT NULL,
    additional_mounts           TEXT NOT NULL,
    status                      TEXT NOT NULL,
    exit_code                   BIGINT,
    error_message               TEXT,
    submitted_at_ms             BIGINT NOT NULL,
    started_at_ms               BIGINT,
    completed_at_ms             BIGINT,
    assignment_suspicion_count  BIGINT NOT NULL DEFAULT 0,
    ssh_port                    BIGINT
);

CREATE INDEX tasks_status ON tasks (status);
CREATE INDEX tasks_assigned_node ON tasks (assigned_node, status);
CREATE INDEX tasks_batch ON tasks (batch_id);

-- API tokens: the secret is never stored, only its SHA-256.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT,
    revoked_at_ms BIGINT,
    last_used_at_ms BIGINT
);
-- Dashboard logins: the cookie's SHA-256, the token that logged in, when it ends.
CREATE TABLE sessions (
    secret_hash TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
-- Who submitted a task (a token's name); none when authentication was off.
ALTER TABLE tasks ADD COLUMN owner TEXT;
-- The SHA-256 of the identity of the runner a node name is bound to.
ALTER TABLE nodes ADD COLUMN runner_identity_hash TEXT;

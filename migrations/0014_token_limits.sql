-- Ours: a token's own per-user limits (JSON `UserLimits`), set by an admin; none: `[limits]`.
ALTER TABLE api_tokens ADD COLUMN limits TEXT;

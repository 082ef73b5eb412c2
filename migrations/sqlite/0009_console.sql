-- Operators sign in to the console: an argon2 password hash per operator, and sessions kept as
-- the SHA-256 of a random token (the cookie) with the token that guards against cross-site
-- requests (CSRF).
ALTER TABLE operators ADD COLUMN password_hash TEXT;

CREATE TABLE operator_sessions (
    token_hash BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    operator_id BLOB NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions(operator_id);
CREATE INDEX operators_email ON operators(email);

-- Telegram: where a polling channel's intake stands, and single-use tokens that link a new
-- address (a Telegram chat) to a contact the hub already knows.

-- A pulling channel's cursor (Telegram: the next getUpdates offset); a restart resumes here.
CREATE TABLE channel_cursors (
    channel_id BLOB PRIMARY KEY,
    cursor TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Deep-link tokens: only the SHA-256 of the token is kept. Single use (used_at), expiring.
CREATE TABLE link_tokens (
    token_hash BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    channel_id BLOB NOT NULL,
    contact_id BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    created_at INTEGER NOT NULL
);

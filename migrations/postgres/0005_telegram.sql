-- Telegram: where a polling channel's intake stands, and single-use tokens that link a new
-- address (a Telegram chat) to a contact the hub already knows.

-- A pulling channel's cursor (Telegram: the next getUpdates offset); a restart resumes here.
CREATE TABLE channel_cursors (
    channel_id UUID PRIMARY KEY,
    cursor TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Deep-link tokens: only the SHA-256 of the token is kept. Single use (used_at), expiring.
CREATE TABLE link_tokens (
    token_hash BYTEA PRIMARY KEY,
    tenant_id UUID NOT NULL,
    channel_id UUID NOT NULL,
    contact_id UUID NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);

-- Email channels: where each mailbox's importer stands, mail it could not import, channel
-- health, and the subject a conversation started with.

-- (UIDVALIDITY, last imported UID) per email channel: a restart resumes here.
CREATE TABLE email_cursors (
    channel_id UUID PRIMARY KEY,
    uid_validity BIGINT NOT NULL,
    last_uid BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Mail that could not become a message (unparseable, no sender, refused): kept raw, sealed
-- under the tenant key, with the reason, so people can look at it; the importer moves on.
CREATE TABLE email_quarantine (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    channel_id UUID NOT NULL,
    uid BIGINT NOT NULL,
    raw BYTEA NOT NULL,
    error TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX email_quarantine_channel ON email_quarantine(channel_id, id);

-- The last error a channel's background work (an importer, a poller) hit; NULL when healthy.
CREATE TABLE channel_health (
    channel_id UUID PRIMARY KEY,
    last_error TEXT,
    updated_at BIGINT NOT NULL
);

-- The subject an email conversation started with, sealed under the contact's key.
ALTER TABLE conversations ADD COLUMN subject BYTEA;

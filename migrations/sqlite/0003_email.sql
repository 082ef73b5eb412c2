-- Email channels: where each mailbox's importer stands, mail it could not import, channel
-- health, and the subject a conversation started with.

-- (UIDVALIDITY, last imported UID) per email channel: a restart resumes here.
CREATE TABLE email_cursors (
    channel_id BLOB PRIMARY KEY,
    uid_validity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Mail that could not become a message (unparseable, no sender, refused): kept raw, sealed
-- under the tenant key, with the reason, so people can look at it; the importer moves on.
CREATE TABLE email_quarantine (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    channel_id BLOB NOT NULL,
    uid INTEGER NOT NULL,
    raw BLOB NOT NULL,
    error TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX email_quarantine_channel ON email_quarantine(channel_id, id);

-- The last error a channel's background work (an importer, a poller) hit; NULL when healthy.
CREATE TABLE channel_health (
    channel_id BLOB PRIMARY KEY,
    last_error TEXT,
    updated_at INTEGER NOT NULL
);

-- The subject an email conversation started with, sealed under the contact's key.
ALTER TABLE conversations ADD COLUMN subject BLOB;

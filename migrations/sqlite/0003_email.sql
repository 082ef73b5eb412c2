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

-- Files that came with messages. Name and content are sealed under the contact's key; content
-- larger than the channel's limit is not kept (data NULL), its name, type and size are.
CREATE TABLE attachments (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    message_id BLOB NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    contact_id BLOB NOT NULL,
    filename BLOB,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB,
    created_at INTEGER NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id);
CREATE INDEX attachments_contact ON attachments(contact_id);

-- Where quoted history starts in a message's text (a reply quoting the mail it answers), so a
-- console can show only what is new.
CREATE TABLE message_quotes (
    message_id BLOB PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    quote_start INTEGER NOT NULL
);

-- One-click unsubscribes (RFC 8058) from marketing mail: the contact withdrew consent to
-- marketing on this channel; marketing sends to them are refused from then on.
CREATE TABLE email_unsubscribes (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    channel_id BLOB NOT NULL,
    contact_id BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (channel_id, contact_id)
);

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

-- Files that came with messages. Name and content are sealed under the contact's key; content
-- larger than the channel's limit is not kept (data NULL), its name, type and size are.
CREATE TABLE attachments (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    message_id UUID NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    contact_id UUID NOT NULL,
    filename BYTEA,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    data BYTEA,
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id);
CREATE INDEX attachments_contact ON attachments(contact_id);

-- Where quoted history starts in a message's text (a reply quoting the mail it answers), so a
-- console can show only what is new.
CREATE TABLE message_quotes (
    message_id UUID PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    quote_start BIGINT NOT NULL
);

-- One-click unsubscribes (RFC 8058) from marketing mail: the contact withdrew consent to
-- marketing on this channel; marketing sends to them are refused from then on.
CREATE TABLE email_unsubscribes (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    channel_id UUID NOT NULL,
    contact_id UUID NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (channel_id, contact_id)
);

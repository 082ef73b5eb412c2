-- Messenger channels (WhatsApp, Messenger, Instagram).
--
-- The message templates a provider keeps for a channel, as last synced (only approved ones are
-- sent; a status webhook keeps the status current).
CREATE TABLE channel_templates (
    channel_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    components TEXT NOT NULL,
    synced_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, name, language)
);

-- A message sent as a template: the template and its parameters, sealed under the contact's key
-- (parameters carry personal data); the text is the template rendered.
ALTER TABLE messages ADD COLUMN template BYTEA;
-- The message this one quotes (a reply to a specific message), when it is stored.
ALTER TABLE messages ADD COLUMN quoted_id UUID;

-- Every status a provider reported about a sent message, in the order received, applied or not:
-- a late "sent" after "read" is kept here and never moves the message back. A report about a
-- provider id not stored yet (the status overtook the send's own answer) waits here with no
-- message id until the send records it.
CREATE TABLE delivery_reports (
    id UUID PRIMARY KEY,
    message_id UUID REFERENCES messages(id) ON DELETE CASCADE,
    channel_id UUID NOT NULL,
    external_id TEXT,
    status TEXT NOT NULL,
    error TEXT,
    applied BOOLEAN NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX delivery_reports_message ON delivery_reports(message_id, received_at);
CREATE INDEX delivery_reports_waiting ON delivery_reports(channel_id, external_id) WHERE message_id IS NULL;

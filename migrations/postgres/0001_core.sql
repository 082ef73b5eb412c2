-- Hub core: tenants, access, channels, contacts, conversations, messages, outbox, transfers.
-- Ids are UUIDv7 (uuid here, BLOB in SQLite); times are BIGINT microseconds since the epoch.
-- Columns holding personal data are BYTEA ciphertext under the contact's data key.

CREATE TABLE tenants (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE operators (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX operators_tenant ON operators(tenant_id, id);

CREATE TABLE api_keys (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    operator_id UUID REFERENCES operators(id),
    role TEXT NOT NULL,
    key_hash BYTEA NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE channels (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    secrets BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX channels_tenant ON channels(tenant_id, id);

CREATE TABLE contacts (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    name BYTEA,
    email BYTEA,
    phone BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX contacts_tenant ON contacts(tenant_id, id);

-- One data key per contact, wrapped by the tenant key. Erasure destroys `wrapped` and keeps the
-- row as the record that the key is gone (crypto-shredding).
CREATE TABLE data_keys (
    contact_id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    wrapped BYTEA,
    created_at BIGINT NOT NULL,
    destroyed_at BIGINT
);

CREATE TABLE identities (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    contact_id UUID NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    address_index BYTEA NOT NULL,
    address BYTEA NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, kind, address_index)
);
CREATE INDEX identities_contact ON identities(contact_id);

CREATE TABLE conversations (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    contact_id UUID NOT NULL REFERENCES contacts(id),
    channel_id UUID NOT NULL REFERENCES channels(id),
    status TEXT NOT NULL,
    assignee_id UUID REFERENCES operators(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_message_at BIGINT NOT NULL
);
CREATE INDEX conversations_tenant ON conversations(tenant_id, id);
CREATE INDEX conversations_contact ON conversations(contact_id, channel_id, id);

-- The hot table: only the conversation is a foreign key (tenant, contact and channel follow
-- from it and are copied for filtering), so an insert checks one referenced row, not four.
CREATE TABLE messages (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    conversation_id UUID NOT NULL REFERENCES conversations(id),
    contact_id UUID NOT NULL,
    channel_id UUID NOT NULL,
    direction TEXT NOT NULL,
    author_type TEXT NOT NULL,
    author_id UUID,
    external_id TEXT,
    text BYTEA NOT NULL,
    private BOOLEAN NOT NULL,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (channel_id, external_id)
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
CREATE INDEX messages_send_queue ON messages(next_attempt_at) WHERE status = 'queued';

-- Connection data (IP, user agent) is its own data category, kept apart from content.
CREATE TABLE message_technical (
    message_id UUID PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    tenant_id UUID NOT NULL,
    ip BYTEA,
    user_agent BYTEA
);

CREATE TABLE visitor_sessions (
    token_hash BYTEA PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    channel_id UUID NOT NULL REFERENCES channels(id),
    contact_id UUID NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    visitor_id UUID NOT NULL,
    ip BYTEA,
    user_agent BYTEA,
    created_at BIGINT NOT NULL
);

-- Transactional outbox: every state change writes its events here in the same transaction.
-- Payloads that mention a contact are encrypted under that contact's data key.
CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    id UUID NOT NULL UNIQUE,
    tenant_id UUID NOT NULL,
    event_type TEXT NOT NULL,
    contact_id UUID,
    payload BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_tenant ON outbox(tenant_id, seq);

-- Every piece of personal data that left the hub, where to, and on what grounds.
CREATE TABLE transfers (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    contact_id UUID,
    message_id UUID,
    destination_kind TEXT NOT NULL,
    destination TEXT NOT NULL,
    country TEXT,
    mechanism TEXT,
    data_categories TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX transfers_tenant ON transfers(tenant_id, id);

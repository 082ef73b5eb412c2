-- Hub core: tenants, access, channels, contacts, conversations, messages, outbox, transfers.
-- Ids are UUIDv7 (BLOB here, uuid in PostgreSQL); times are INTEGER microseconds since the epoch.
-- Columns holding personal data are BLOBs of ciphertext under the contact's data key.

CREATE TABLE tenants (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE operators (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX operators_tenant ON operators(tenant_id, id);

CREATE TABLE api_keys (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    operator_id BLOB REFERENCES operators(id),
    role TEXT NOT NULL,
    key_hash BLOB NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE channels (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    secrets BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX channels_tenant ON channels(tenant_id, id);

CREATE TABLE contacts (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name BLOB,
    email BLOB,
    phone BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX contacts_tenant ON contacts(tenant_id, id);

-- One data key per contact, wrapped by the tenant key. Erasure destroys `wrapped` and keeps the
-- row as the record that the key is gone (crypto-shredding).
CREATE TABLE data_keys (
    contact_id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    wrapped BLOB,
    created_at INTEGER NOT NULL,
    destroyed_at INTEGER
);

CREATE TABLE identities (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    contact_id BLOB NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    address_index BLOB NOT NULL,
    address BLOB NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, kind, address_index)
);
CREATE INDEX identities_contact ON identities(contact_id);

CREATE TABLE conversations (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    contact_id BLOB NOT NULL REFERENCES contacts(id),
    channel_id BLOB NOT NULL REFERENCES channels(id),
    status TEXT NOT NULL,
    assignee_id BLOB REFERENCES operators(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_message_at INTEGER NOT NULL
);
CREATE INDEX conversations_tenant ON conversations(tenant_id, id);
CREATE INDEX conversations_contact ON conversations(contact_id, channel_id, id);

-- The hot table: only the conversation is a foreign key (tenant, contact and channel follow
-- from it and are copied for filtering), so an insert checks one referenced row, not four.
CREATE TABLE messages (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    conversation_id BLOB NOT NULL REFERENCES conversations(id),
    contact_id BLOB NOT NULL,
    channel_id BLOB NOT NULL,
    direction TEXT NOT NULL,
    author_type TEXT NOT NULL,
    author_id BLOB,
    external_id TEXT,
    text BLOB NOT NULL,
    private BOOLEAN NOT NULL,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (channel_id, external_id)
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
CREATE INDEX messages_send_queue ON messages(next_attempt_at) WHERE status = 'queued';

-- Connection data (IP, user agent) is its own data category, kept apart from content.
CREATE TABLE message_technical (
    message_id BLOB PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    tenant_id BLOB NOT NULL,
    ip BLOB,
    user_agent BLOB
);

CREATE TABLE visitor_sessions (
    token_hash BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    channel_id BLOB NOT NULL REFERENCES channels(id),
    contact_id BLOB NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    visitor_id BLOB NOT NULL,
    ip BLOB,
    user_agent BLOB,
    created_at INTEGER NOT NULL
);

-- Transactional outbox: every state change writes its events here in the same transaction.
-- Payloads that mention a contact are encrypted under that contact's data key.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE,
    tenant_id BLOB NOT NULL,
    event_type TEXT NOT NULL,
    contact_id BLOB,
    payload BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX outbox_tenant ON outbox(tenant_id, seq);

-- Every piece of personal data that left the hub, where to, and on what grounds.
CREATE TABLE transfers (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    contact_id BLOB,
    message_id BLOB,
    destination_kind TEXT NOT NULL,
    destination TEXT NOT NULL,
    country TEXT,
    mechanism TEXT,
    data_categories TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX transfers_tenant ON transfers(tenant_id, id);

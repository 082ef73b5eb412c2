-- Identities: an address is held *verified* by at most one contact of a tenant; a claimed
-- (typed-in) address may be claimed by any number of contacts and never routes inbound mail.
-- SQLite cannot drop a table constraint, so the table is rebuilt.
CREATE TABLE identities_new (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    contact_id BLOB NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    address_index BLOB NOT NULL,
    address BLOB NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO identities_new SELECT id, tenant_id, contact_id, kind, address_index, address, status, created_at FROM identities;
DROP TABLE identities;
ALTER TABLE identities_new RENAME TO identities;
CREATE INDEX identities_contact ON identities(contact_id);
CREATE INDEX identities_address ON identities(tenant_id, kind, address_index);
CREATE UNIQUE INDEX identities_verified ON identities(tenant_id, kind, address_index) WHERE status = 'verified';

-- Master key rotation creates a new root generation and re-wraps every data key under it; the
-- generation that wrapped a key tells a process that missed the rotation's moment which keys
-- it wrapped afterwards under an old generation (they are re-wrapped when it restarts).
ALTER TABLE data_keys ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
CREATE INDEX data_keys_generation ON data_keys(generation);

-- The hub's own messages may say where they go and what they are called: one identity of the
-- contact (a transcript to the address the visitor confirmed) instead of the contact's best
-- address on the channel's kind, and a subject of the hub's wording.
ALTER TABLE messages ADD COLUMN subject TEXT;
ALTER TABLE messages ADD COLUMN recipient_identity_id BLOB;

-- A visitor confirming an email address before a transcript goes to it: the link in the
-- confirmation mail carries a random token; only its SHA-256 is kept.
CREATE TABLE address_confirmations (
    token_hash BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    contact_id BLOB NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    identity_id BLOB NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    channel_id BLOB NOT NULL,
    conversation_id BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    confirmed_at INTEGER
);
CREATE INDEX address_confirmations_contact ON address_confirmations(contact_id);

-- API keys: a name, an optional expiry, when last used; revoked keys stay for the audit trail.
ALTER TABLE api_keys ADD COLUMN name TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
CREATE INDEX api_keys_tenant ON api_keys(tenant_id, id);

-- Operators: deactivated (no sign-in, no keys, no assignments; can come back) and deleted
-- (personal data erased; messages keep their author as a former operator).
ALTER TABLE operators ADD COLUMN deactivated_at INTEGER;
ALTER TABLE operators ADD COLUMN deleted_at INTEGER;

-- Sessions: where they came from, for the operator's list of sessions.
ALTER TABLE operator_sessions ADD COLUMN user_agent TEXT;
ALTER TABLE operator_sessions ADD COLUMN last_seen_at INTEGER;

-- Password reset by mail: a random token, single-use and expiring; only its SHA-256 is kept.
CREATE TABLE password_resets (
    token_hash BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    operator_id BLOB NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX password_resets_operator ON password_resets(operator_id);

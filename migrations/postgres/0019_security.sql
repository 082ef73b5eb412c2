-- Identities: an address is held *verified* by at most one contact of a tenant; a claimed
-- (typed-in) address may be claimed by any number of contacts and never routes inbound mail.
ALTER TABLE identities DROP CONSTRAINT identities_tenant_id_kind_address_index_key;
CREATE INDEX identities_address ON identities(tenant_id, kind, address_index);
CREATE UNIQUE INDEX identities_verified ON identities(tenant_id, kind, address_index) WHERE status = 'verified';

-- Master key rotation creates a new root generation and re-wraps every data key under it; the
-- generation that wrapped a key tells a process that missed the rotation's moment which keys
-- it wrapped afterwards under an old generation (they are re-wrapped when it restarts).
ALTER TABLE data_keys ADD COLUMN generation BIGINT NOT NULL DEFAULT 1;
CREATE INDEX data_keys_generation ON data_keys(generation);

-- The hub's own messages may say where they go and what they are called: one identity of the
-- contact (a transcript to the address the visitor confirmed) instead of the contact's best
-- address on the channel's kind, and a subject of the hub's wording.
ALTER TABLE messages ADD COLUMN subject TEXT;
ALTER TABLE messages ADD COLUMN recipient_identity_id UUID;

-- A visitor confirming an email address before a transcript goes to it: the link in the
-- confirmation mail carries a random token; only its SHA-256 is kept.
CREATE TABLE address_confirmations (
    token_hash BYTEA PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    contact_id UUID NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    identity_id UUID NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    channel_id UUID NOT NULL,
    conversation_id UUID NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    confirmed_at BIGINT
);
CREATE INDEX address_confirmations_contact ON address_confirmations(contact_id);

-- API keys: a name, an optional expiry, when last used; revoked keys stay for the audit trail.
ALTER TABLE api_keys ADD COLUMN name TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
CREATE INDEX api_keys_tenant ON api_keys(tenant_id, id);

-- Operators: deactivated (no sign-in, no keys, no assignments; can come back) and deleted
-- (personal data erased; messages keep their author as a former operator).
ALTER TABLE operators ADD COLUMN deactivated_at BIGINT;
ALTER TABLE operators ADD COLUMN deleted_at BIGINT;

-- Sessions: where they came from, for the operator's list of sessions.
ALTER TABLE operator_sessions ADD COLUMN user_agent TEXT;
ALTER TABLE operator_sessions ADD COLUMN last_seen_at BIGINT;

-- Password reset by mail: a random token, single-use and expiring; only its SHA-256 is kept.
CREATE TABLE password_resets (
    token_hash BYTEA PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    operator_id UUID NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX password_resets_operator ON password_resets(operator_id);

-- SMS: files the provider keeps until someone asks for them, and the consent ledger that
-- opt-out keywords and provider signals feed.

-- Where the channel can fetch an attachment's content later (an MMS media URL), when the
-- content was not delivered with the message.
ALTER TABLE attachments ADD COLUMN remote TEXT;

-- The consent ledger: append-only, one hash chain per tenant. `channel` is the medium (sms,
-- email, telegram, webchat), whichever provider carries it; `address_index` the blind index of
-- the address (it outlives erasure, so an opt-out survives "forget me"); `address` the address
-- sealed under the contact's key; `purpose` '*' means every purpose. `hash` is
-- SHA-256(prev_hash || canonical bytes of the row), so an edited or removed row is detectable.
CREATE TABLE consent_events (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    contact_id BLOB,
    channel TEXT NOT NULL,
    address_index BLOB NOT NULL,
    address BLOB,
    sender_scope TEXT,
    purpose TEXT NOT NULL,
    action TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    method TEXT NOT NULL,
    evidence TEXT NOT NULL,
    notice_url TEXT,
    notice_version TEXT,
    actor TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    UNIQUE (tenant_id, seq)
);
CREATE INDEX consent_events_address ON consent_events(tenant_id, channel, address_index, seq);
CREATE INDEX consent_events_contact ON consent_events(contact_id);

-- The end of each tenant's chain; appending locks this row, so chains never fork.
CREATE TABLE consent_heads (
    tenant_id BLOB PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL
);

-- Addresses a channel cannot deliver to: hard bounces counted per channel and identity; after
-- the second the address is marked undeliverable on that channel (shown on the contact, sends
-- to it fail at once) until the person writes from it again.
CREATE TABLE undeliverable_addresses (
    channel_id BLOB NOT NULL,
    identity_id BLOB NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    tenant_id BLOB NOT NULL,
    contact_id BLOB NOT NULL,
    hard_bounces INTEGER NOT NULL,
    last_code TEXT,
    last_reason TEXT,
    updated_at INTEGER NOT NULL,
    marked_at INTEGER,
    PRIMARY KEY (channel_id, identity_id)
);
CREATE INDEX undeliverable_contact ON undeliverable_addresses(contact_id);

-- Customer satisfaction: one survey per resolution, answered 1–5 with an optional comment
-- (sealed under the contact's key, like everything they write).
CREATE TABLE csat_surveys (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    conversation_id BLOB NOT NULL,
    contact_id BLOB NOT NULL,
    channel_id BLOB NOT NULL,
    operator_id BLOB,
    token_hash BLOB NOT NULL UNIQUE,
    score INTEGER,
    comment BLOB,
    created_at INTEGER NOT NULL,
    answered_at INTEGER
);
CREATE INDEX csat_tenant ON csat_surveys(tenant_id, created_at);

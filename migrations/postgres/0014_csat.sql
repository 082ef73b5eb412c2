-- Customer satisfaction: one survey per resolution, answered 1–5 with an optional comment
-- (sealed under the contact's key, like everything they write).
CREATE TABLE csat_surveys (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    conversation_id UUID NOT NULL,
    contact_id UUID NOT NULL,
    channel_id UUID NOT NULL,
    operator_id UUID,
    token_hash BYTEA NOT NULL UNIQUE,
    score BIGINT,
    comment BYTEA,
    created_at BIGINT NOT NULL,
    answered_at BIGINT
);
CREATE INDEX csat_tenant ON csat_surveys(tenant_id, created_at);

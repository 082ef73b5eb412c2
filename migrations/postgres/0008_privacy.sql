-- Data-subject rights, retention and the audit log.

-- Requests under GDPR Art. 15–21: what was asked, about whom, when it is due, how it ended.
-- `detail` holds the request's parameters (corrected fields, lifting a restriction) as JSON;
-- `result` the outcome (counts, the error) as JSON. Kept after an erasure as its record.
CREATE TABLE privacy_requests (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    kind TEXT NOT NULL,
    contact_id UUID,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    result TEXT,
    requested_by UUID,
    created_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX privacy_requests_tenant ON privacy_requests(tenant_id, id);
CREATE INDEX privacy_requests_pending ON privacy_requests(status, id);

-- Restricted contacts (Art. 18): kept, but excluded from processing until lifted.
ALTER TABLE contacts ADD COLUMN restricted BOOLEAN NOT NULL DEFAULT FALSE;

-- Per-tenant retention, in days; NULL keeps forever (webhook payloads: the hub-wide setting).
CREATE TABLE tenant_retention (
    tenant_id UUID PRIMARY KEY,
    messages_days BIGINT,
    closed_conversations_days BIGINT,
    technical_data_days BIGINT,
    webhook_payload_days BIGINT,
    audit_days BIGINT,
    updated_at BIGINT NOT NULL
);

-- Who read or changed personal data, when, from where. Append-only; purged by audit_days.
CREATE TABLE audit_log (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    key_id UUID,
    operator_id UUID,
    ip TEXT,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id UUID,
    detail TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log(tenant_id, id);
CREATE INDEX audit_log_target ON audit_log(tenant_id, target_id);
CREATE INDEX messages_contact ON messages(contact_id);
CREATE INDEX outbox_contact ON outbox(contact_id);

-- Outbound webhooks: endpoints and their secrets, one delivery per (endpoint, event), and every
-- attempt. Event bodies are not copied: a delivery points at its outbox row, whose payload was
-- serialized once when the event was committed.

-- The dispatcher fans each event out to the tenant's endpoints exactly once; this flag (and its
-- partial index) is its queue. A flag rather than a "last seq" cursor: on PostgreSQL a lower
-- seq can commit after a higher one, and a cursor would skip it.
ALTER TABLE outbox ADD COLUMN dispatched BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX outbox_undispatched ON outbox(seq) WHERE NOT dispatched;

-- Per-conversation event counter: the `sequence` in every event about a conversation.
ALTER TABLE conversations ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE webhook_endpoints (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- JSON array of event types; NULL means every type.
    event_types TEXT,
    thin_payload BOOLEAN NOT NULL DEFAULT FALSE,
    -- Where the receiver processes the data (ISO 3166 alpha-2) and on what transfer grounds.
    country TEXT,
    transfer_mechanism TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason TEXT,
    -- Start of the current run of failures; cleared by any success.
    first_failure_at INTEGER,
    last_success_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints(tenant_id, id);

-- Signing secrets, sealed under the tenant key. expires_at NULL: the current secret; set: an
-- old secret still signing until then (rotation grace period).
CREATE TABLE webhook_secrets (
    id BLOB PRIMARY KEY,
    endpoint_id BLOB NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    secret BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX webhook_secrets_endpoint ON webhook_secrets(endpoint_id);

CREATE TABLE webhook_deliveries (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    endpoint_id BLOB NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id BLOB NOT NULL,
    event_type TEXT NOT NULL,
    contact_id BLOB,
    -- The thin body for endpoints that asked for one (no personal data); NULL: the event's own
    -- payload from the outbox.
    body BLOB,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_until INTEGER,
    last_status_code INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    delivered_at INTEGER,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, id);
CREATE INDEX webhook_deliveries_contact ON webhook_deliveries(contact_id);

CREATE TABLE webhook_attempts (
    id BLOB PRIMARY KEY,
    delivery_id BLOB NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    tenant_id BLOB NOT NULL,
    endpoint_id BLOB NOT NULL,
    contact_id BLOB,
    attempt INTEGER NOT NULL,
    -- The webhook-timestamp this attempt was signed with.
    signed_at INTEGER NOT NULL,
    status_code INTEGER,
    latency_micros INTEGER NOT NULL,
    -- The receiver's answer, truncated; personal data, purged with the payload.
    response_body TEXT,
    error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, id);
CREATE INDEX webhook_attempts_created ON webhook_attempts(created_at);
CREATE INDEX outbox_created ON outbox(created_at);

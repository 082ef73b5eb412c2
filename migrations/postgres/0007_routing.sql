-- Routing policy: a tenant's rules, its answers to subprocessors, what it has been told about
-- registry changes, and what the transfer log records about each decision.

-- The tenant's rules document (JSON), as PUT /v1/policy stored it.
CREATE TABLE tenant_policies (
    tenant_id UUID PRIMARY KEY,
    document TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Approval or objection per subprocessor (Art. 28(2)); no row: not approved.
CREATE TABLE subprocessor_authorizations (
    tenant_id UUID NOT NULL,
    subprocessor_id TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    decided_by UUID,
    decided_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subprocessor_id)
);

-- The registry entry as the tenant was last told of it (a fingerprint of status, effective
-- date, entity, countries, mechanism, categories); a different one is announced again.
CREATE TABLE subprocessor_notices (
    tenant_id UUID NOT NULL,
    subprocessor_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    notified_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subprocessor_id)
);

-- The transfer log records what left and what did not: categories redacted, pseudonymized,
-- and the rule (or default) that decided.
ALTER TABLE transfers ADD COLUMN categories_removed TEXT NOT NULL DEFAULT '[]';
ALTER TABLE transfers ADD COLUMN categories_pseudonymized TEXT NOT NULL DEFAULT '[]';
ALTER TABLE transfers ADD COLUMN rule TEXT;
CREATE INDEX transfers_tenant_contact ON transfers(tenant_id, contact_id, id);

-- The directory of tenants → home region. Only the main database's copy is read: it is the one
-- thing shared across regions (ids and region names, no personal data); each region's database
-- holds its tenants' rows and data.
CREATE TABLE tenant_directory (
    tenant_id UUID PRIMARY KEY,
    region TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO tenant_directory (tenant_id, region, created_at) SELECT id, region, created_at FROM tenants;

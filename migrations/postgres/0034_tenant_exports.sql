-- Tenant exports made on an admin's request through the API: written in the background into
-- the data directory, downloadable through a link that expires.
CREATE TABLE tenant_exports (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    -- pending, ready, failed or expired
    status TEXT NOT NULL,
    error TEXT,
    bytes BIGINT,
    row_count BIGINT,
    requested_by UUID,
    created_at BIGINT NOT NULL,
    completed_at BIGINT,
    expires_at BIGINT
);
CREATE INDEX tenant_exports_by_tenant ON tenant_exports (tenant_id, id);

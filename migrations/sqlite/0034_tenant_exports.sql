-- Tenant exports made on an admin's request through the API: written in the background into
-- the data directory, downloadable through a link that expires.
CREATE TABLE tenant_exports (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    -- pending, ready, failed or expired
    status TEXT NOT NULL,
    error TEXT,
    bytes INTEGER,
    row_count INTEGER,
    requested_by BLOB,
    created_at INTEGER NOT NULL,
    completed_at INTEGER,
    expires_at INTEGER
);
CREATE INDEX tenant_exports_by_tenant ON tenant_exports (tenant_id, id);

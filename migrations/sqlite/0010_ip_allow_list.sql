-- Per-tenant IP allow-list for the API and the console: a JSON array of addresses or CIDR
-- networks; no row (or an empty list) allows every address.
CREATE TABLE tenant_ip_allow_lists (
    tenant_id BLOB PRIMARY KEY,
    cidrs TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Keys a tenant brought along when it was imported from another installation: the keys its
-- blind indexes, search terms and pseudonyms were made with there, so they keep matching here.
-- Sealed under this installation's tenant key (associated data: "tenant.index_key" and the id).
CREATE TABLE tenant_keys (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    label TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, label)
);

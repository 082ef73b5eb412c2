-- Keys a tenant brought along when it was imported from another installation: the keys its
-- blind indexes, search terms and pseudonyms were made with there, so they keep matching here.
-- Sealed under this installation's tenant key (associated data: "tenant.index_key" and the id).
CREATE TABLE tenant_keys (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    label TEXT NOT NULL,
    wrapped BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, label)
);

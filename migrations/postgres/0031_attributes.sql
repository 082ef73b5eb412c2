-- Custom attributes a tenant defines for contacts and conversations, typed; values of personal
-- ones are sealed under the contact's data key (value NULL, sealed set), the others kept as
-- canonical JSON so the inbox can filter on them.
CREATE TABLE attribute_definitions (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    applies_to TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    options TEXT,
    personal BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, applies_to, key)
);

CREATE TABLE contact_attributes (
    owner_id UUID NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    definition_id UUID NOT NULL REFERENCES attribute_definitions(id) ON DELETE CASCADE,
    value TEXT,
    sealed BYTEA,
    PRIMARY KEY (owner_id, definition_id)
);
CREATE INDEX contact_attributes_value ON contact_attributes(definition_id, value);

CREATE TABLE conversation_attributes (
    owner_id UUID NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    definition_id UUID NOT NULL REFERENCES attribute_definitions(id) ON DELETE CASCADE,
    value TEXT,
    sealed BYTEA,
    PRIMARY KEY (owner_id, definition_id)
);
CREATE INDEX conversation_attributes_value ON conversation_attributes(definition_id, value);

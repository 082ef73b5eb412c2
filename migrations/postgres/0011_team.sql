-- Working as a team: canned responses; operators' availability and capacity for automatic
-- assignment.

-- Replies operators reuse, with placeholders such as {{contact.name}} (the tenant's own text).
CREATE TABLE canned_responses (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    shortcut TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, shortcut)
);

-- online | away | offline; automatic assignment picks online operators below their capacity.
ALTER TABLE operators ADD COLUMN availability TEXT NOT NULL DEFAULT 'offline';
ALTER TABLE operators ADD COLUMN capacity BIGINT NOT NULL DEFAULT 5;
ALTER TABLE operators ADD COLUMN last_assigned_at BIGINT;

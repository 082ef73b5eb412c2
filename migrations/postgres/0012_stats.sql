-- When a conversation was last resolved, for resolution-time statistics.
ALTER TABLE conversations ADD COLUMN resolved_at BIGINT;
CREATE INDEX conversations_created ON conversations(tenant_id, created_at);

-- One delivery state machine for every channel: scheduled, queued, sending, sent, delivered,
-- read, failed, canceled, unknown.
--
-- Why a message failed, beyond the words in `error`: permanent or transient, the provider's
-- code (or the hub's, like consent_missing), and who said so.
ALTER TABLE messages ADD COLUMN failure_class TEXT;
ALTER TABLE messages ADD COLUMN failure_code TEXT;
ALTER TABLE messages ADD COLUMN failure_provider TEXT;
-- When a scheduled message is due (it waits with status 'scheduled' until then).
ALTER TABLE messages ADD COLUMN send_at BIGINT;

-- The send queue holds due scheduled messages too.
DROP INDEX messages_send_queue;
CREATE INDEX messages_send_queue ON messages(next_attempt_at) WHERE status IN ('queued', 'scheduled');
-- Sends whose answer is outstanding, found by their lease when a process died mid-send.
CREATE INDEX messages_sending ON messages(lease_until) WHERE status = 'sending';
-- The dead-letter view and the list of scheduled messages.
CREATE INDEX messages_attention ON messages(tenant_id, status, id) WHERE status IN ('failed', 'unknown', 'scheduled', 'canceled');

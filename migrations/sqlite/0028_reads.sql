-- Where each operator has read each conversation up to: unread counts per operator.
CREATE TABLE conversation_reads (
    conversation_id BLOB NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    operator_id BLOB NOT NULL,
    read_at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, operator_id)
);
CREATE INDEX conversation_reads_operator ON conversation_reads(operator_id);

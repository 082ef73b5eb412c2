-- Business hours per channel (JSON: time zone, weekly schedule, holidays, away message), and
-- when a conversation was last told "we are closed", so it is told once.
CREATE TABLE business_hours (
    channel_id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    document TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
ALTER TABLE conversations ADD COLUMN away_notified_at INTEGER;

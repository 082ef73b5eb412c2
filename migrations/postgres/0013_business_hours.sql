-- Business hours per channel (JSON: time zone, weekly schedule, holidays, away message), and
-- when a conversation was last told "we are closed", so it is told once.
CREATE TABLE business_hours (
    channel_id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    document TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
ALTER TABLE conversations ADD COLUMN away_notified_at BIGINT;

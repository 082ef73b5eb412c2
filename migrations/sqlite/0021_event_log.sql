-- The outbox is the event log every consumer reads by cursor. Each durable consumer (webhook
-- fan-out, automatic assignment, away messages) keeps its position here
-- and moves it in the same transaction as the work it did; existing consumers start where the
-- log ends now (their earlier work was done by the listeners they replace), webhook fan-out
-- where the first event not yet fanned out waits.
CREATE TABLE event_consumers (
    name TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO event_consumers (name, seq, updated_at) SELECT 'assignment', COALESCE(MAX(seq), 0), 0 FROM outbox;
INSERT INTO event_consumers (name, seq, updated_at) SELECT 'away_messages', COALESCE(MAX(seq), 0), 0 FROM outbox;
INSERT INTO event_consumers (name, seq, updated_at)
SELECT 'webhooks', COALESCE((SELECT MIN(seq) - 1 FROM outbox WHERE NOT dispatched), (SELECT MAX(seq) FROM outbox), 0), 0;

-- Events at or below `purged_through` were removed by retention: a reader asking for events
-- after an older position is told to re-sync instead of being handed a silent gap.
CREATE TABLE event_log_horizon (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    purged_through BIGINT NOT NULL
);
INSERT INTO event_log_horizon (id, purged_through) VALUES (1, 0);

-- The `dispatched` flag is no longer written: fan-out keeps a position instead.
DROP INDEX outbox_undispatched;

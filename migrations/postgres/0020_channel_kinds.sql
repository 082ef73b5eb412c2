-- Channel kinds are plugins: every kind keeps its intake position in `channel_cursors`, as
-- text the kind reads. A mailbox's position moves there as `uidvalidity:uid`.
INSERT INTO channel_cursors (channel_id, cursor, updated_at)
SELECT channel_id, CAST(uid_validity AS TEXT) || ':' || CAST(last_uid AS TEXT), updated_at FROM email_cursors
WHERE channel_id NOT IN (SELECT channel_id FROM channel_cursors);

DROP TABLE email_cursors;

-- Many hub processes on one database: who is alive, and who owns what.

-- Each `omnibridge serve` process: its id, where it runs, and a heartbeat. A node whose
-- heartbeat is older than the lease time is dead; its row is removed by the next node.
CREATE TABLE nodes (
    id BLOB PRIMARY KEY,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    listen TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);

-- Work that must have exactly one owner (a mailbox's IMAP importer, a bot's long poll): the
-- owner renews its lease; when it stops renewing, another node takes the lease over.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner BLOB NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- The node that committed each event: the others hand it to their websockets.
ALTER TABLE outbox ADD COLUMN origin BLOB;

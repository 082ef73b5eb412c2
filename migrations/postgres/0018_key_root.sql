-- Master key rotation. Every key the hub uses derives from one root key. Until the first
-- rotation the root is the master key itself; a rotation stores the root here, sealed under
-- (a key derived from) the new master key, so nothing else has to be re-encrypted.
CREATE TABLE key_root (
    id INTEGER PRIMARY KEY,
    wrapped BYTEA NOT NULL,
    rotated_at BIGINT NOT NULL
);

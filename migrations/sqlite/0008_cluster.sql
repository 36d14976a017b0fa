-- Several instances on one database: who is alive (a heartbeat per instance) and who holds
-- what (a lease per IMAP account, 'imap:<account>', and one for the follow-up sweep, 'sweep').
-- A lease is good until expires_at (the database's clock, Unix ms); its owner renews it on
-- every heartbeat, and anyone may take it once it has expired.
CREATE TABLE instance (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    stopped_at   BIGINT                       -- a clean stop; NULL while running or after a crash
);

CREATE TABLE lease (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,                -- instance.id
    expires_at  BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL
);
CREATE INDEX lease_owner ON lease (owner);

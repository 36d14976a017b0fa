-- IMAP mailboxes: one row per (account, folder). The checkpoint (UIDVALIDITY and the highest UID
-- whose message is stored) moves in the same transaction as the messages it covers; the health
-- columns are what `keepwarm status` shows.
CREATE TABLE mailbox (
    account         TEXT COLLATE "C" NOT NULL,
    folder          TEXT COLLATE "C" NOT NULL,
    rep_id          TEXT COLLATE "C",
    uid_validity    BIGINT,
    last_uid        BIGINT NOT NULL DEFAULT 0,
    -- While a first sync is under way: only messages since this time (Unix ms) are fetched.
    backfill_since  BIGINT,
    last_sync_at    BIGINT,                    -- last time the folder was brought up to date
    last_error      TEXT COLLATE "C",
    last_error_at   BIGINT,
    failures        BIGINT NOT NULL DEFAULT 0, -- consecutive failed attempts
    behind          BIGINT,                    -- messages known on the server, not stored yet
    mode            TEXT COLLATE "C",                      -- 'idle' | 'poll' | 'once'
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (account, folder)
);

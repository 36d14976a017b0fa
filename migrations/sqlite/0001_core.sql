-- keepwarm core schema: customers, identities, messages, sightings, failures.
-- Timestamps are BIGINT Unix milliseconds (UTC) so the schema stays portable to PostgreSQL.

CREATE TABLE customer (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    name_key         TEXT NOT NULL,
    group_id         TEXT,
    tier             TEXT NOT NULL,
    owner            TEXT,
    country          TEXT,
    last_inbound_at  BIGINT,
    last_outbound_at BIGINT,
    last_contact_at  BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX customer_name_key ON customer (name_key);
CREATE INDEX customer_group ON customer (group_id);

-- email address, company domain or E.164 phone → a customer, or (a domain shared inside a
-- corporate group) → the group.
CREATE TABLE identity (
    kind        TEXT NOT NULL,          -- 'email' | 'domain' | 'phone'
    value       TEXT NOT NULL,
    customer_id TEXT REFERENCES customer (id) ON DELETE CASCADE,
    group_id    TEXT,
    PRIMARY KEY (kind, value)
);
CREATE INDEX identity_customer ON identity (customer_id);

CREATE TABLE message (
    id                INTEGER PRIMARY KEY,
    key               TEXT NOT NULL UNIQUE,   -- Message-ID, wamid, or sha256 content key
    message_id        TEXT,                   -- Message-ID without brackets, when the mail had one
    channel           TEXT NOT NULL,          -- 'email' | 'whatsapp' | ...
    direction         TEXT NOT NULL,          -- 'inbound' | 'outbound' | 'internal'
    class             TEXT NOT NULL,          -- 'human' | 'auto-reply' | 'bounce' | 'bulk' | 'spam'
    counts_as_contact INTEGER NOT NULL,
    customer_id       TEXT,
    group_id          TEXT,
    match_reason      TEXT NOT NULL,          -- 'address' | 'domain' | 'phone' | 'none'
    counterpart       TEXT,                   -- the external address or number the match used
    rep_id            TEXT,
    from_addr         TEXT,
    to_addrs          TEXT NOT NULL,          -- JSON array of addresses (To then Cc)
    subject           TEXT NOT NULL,
    body              TEXT NOT NULL,          -- what this sender wrote: quotes and signature removed
    sent_at           BIGINT NOT NULL,        -- Date header, clamped to received_at when in the future
    received_at       BIGINT NOT NULL,
    in_reply_to       TEXT,
    created_at        BIGINT NOT NULL
);
CREATE INDEX message_customer ON message (customer_id, sent_at);
CREATE INDEX message_unknown ON message (from_addr) WHERE customer_id IS NULL;

-- Where a message was seen: one row per mailbox file / IMAP uid / webhook delivery.
CREATE TABLE sighting (
    source_key  TEXT PRIMARY KEY,             -- 'maildir:<dir>/<unique>', 'mbox:<file>#<n>', ...
    message_key TEXT NOT NULL,                -- message.key
    mailbox     TEXT NOT NULL,
    rep_id      TEXT,
    seen_at     BIGINT NOT NULL
);
CREATE INDEX sighting_message ON sighting (message_key);

-- Input that could not be turned into a message, kept with the reason.
CREATE TABLE failure (
    source_key  TEXT PRIMARY KEY,
    mailbox     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    raw         BLOB,
    created_at  BIGINT NOT NULL
);

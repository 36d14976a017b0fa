-- The follow-up policy's state per customer (kept by the sweep), the public pool's history,
-- leads and their routing position, and the outbox of events for the CRM.

-- The tier timer's state as of the last sweep ('ok' | 'due-soon' | 'due' | 'overdue' |
-- 'released'), the earliest deadline and why, and when the sweep must look again (the next
-- boundary; 0 = now: timers moved, the customer was imported or the policy changed).
ALTER TABLE customer ADD COLUMN fu_state TEXT;
ALTER TABLE customer ADD COLUMN next_due_at BIGINT;
ALTER TABLE customer ADD COLUMN due_reason TEXT;
ALTER TABLE customer ADD COLUMN check_at BIGINT NOT NULL DEFAULT 0;
-- The reply / second follow-up deadline a followup.due event was written for.
ALTER TABLE customer ADD COLUMN notified_due_at BIGINT;
-- Out of office: the clock is paused from the auto-reply until the return date.
ALTER TABLE customer ADD COLUMN paused_from BIGINT;
ALTER TABLE customer ADD COLUMN paused_until BIGINT;
-- Another rep contacted this customer.
ALTER TABLE customer ADD COLUMN conflict_rep TEXT;
ALTER TABLE customer ADD COLUMN conflict_at BIGINT;
-- Why a release is held back (the owner's mailbox is unhealthy), NULL when it is not.
ALTER TABLE customer ADD COLUMN release_frozen TEXT;
-- The last change of ownership by the policy: released to the pool, claimed, assigned.
ALTER TABLE customer ADD COLUMN pool_changed_at BIGINT;
ALTER TABLE customer ADD COLUMN pool_reason TEXT;
CREATE INDEX customer_check ON customer (check_at);
CREATE INDEX customer_owner ON customer (owner);

-- Every change of ownership made by the policy, for audits and `keepwarm pool --history`.
CREATE TABLE pool_history (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    action      TEXT NOT NULL,      -- 'released' | 'claimed'
    rep_id      TEXT,               -- the former owner (released) or the new one (claimed)
    reason      TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX pool_history_customer ON pool_history (customer_id, at);
CREATE INDEX pool_history_rep ON pool_history (rep_id, action, at);

-- Inquiries from unknown senders turned into customers (tier new).
CREATE TABLE lead (
    customer_id TEXT PRIMARY KEY,
    message_key TEXT NOT NULL,
    channel     TEXT NOT NULL,
    counterpart TEXT NOT NULL,
    owner       TEXT,               -- NULL: every rep was at its daily cap (the lead is in the pool)
    how         TEXT NOT NULL,      -- 'round-robin' | 'direct' (it came to a rep's own mailbox) | 'pool'
    created_at  BIGINT NOT NULL
);
CREATE INDEX lead_created ON lead (created_at);

-- Small named values that must survive restarts (the lead routing position).
CREATE TABLE setting (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Events for the CRM, written in the transaction of the change that caused them.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    customer_id TEXT,
    payload     TEXT NOT NULL,      -- the whole event as JSON
    created_at  BIGINT NOT NULL
);
CREATE INDEX outbox_customer ON outbox (customer_id, id);

-- Unmatched messages by the address or number they were exchanged with (leads attach them).
CREATE INDEX message_counterpart ON message (counterpart) WHERE customer_id IS NULL;

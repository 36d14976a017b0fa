-- Deliveries of outbox events to each CRM webhook. The dispatcher fans new outbox rows out to
-- the webhooks that want their kind (a cursor per webhook in `setting`), claims due deliveries
-- with a lease, and records each outcome. One customer's events reach a webhook in order.
CREATE TABLE delivery (
    id              INTEGER PRIMARY KEY,
    event_seq       BIGINT NOT NULL,            -- outbox.id
    webhook         TEXT NOT NULL,              -- [[crm.webhooks]] name
    order_key       TEXT NOT NULL,              -- the customer id (or the event id): delivered in event order
    state           TEXT NOT NULL,              -- 'pending' | 'delivered' | 'rejected' | 'dead'
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_status     INTEGER,                    -- HTTP status of the last attempt
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    done_at         BIGINT,
    UNIQUE (webhook, event_seq)
);
CREATE INDEX delivery_due ON delivery (state, next_attempt_at);
CREATE INDEX delivery_order ON delivery (webhook, order_key, event_seq) WHERE state = 'pending';

-- Trait tags: the evidence stored with each message, and each customer's tag state.

CREATE TABLE message_tag (
    message_key TEXT NOT NULL,
    tag         TEXT NOT NULL,
    rule        TEXT NOT NULL,            -- tag/lang/keyword-or-pattern of the first hit
    matched     TEXT NOT NULL,
    evidence    TEXT NOT NULL,            -- the first hit with ~40 characters each side
    field       TEXT NOT NULL,            -- 'subject' | 'body'
    span_start  INTEGER NOT NULL,         -- byte range of the match in the stored field text
    span_end    INTEGER NOT NULL,
    lang        TEXT NOT NULL,
    hits        INTEGER NOT NULL,
    PRIMARY KEY (message_key, tag)
);

CREATE TABLE customer_tag (
    customer_id      TEXT NOT NULL,
    tag              TEXT NOT NULL,
    state            TEXT NOT NULL,       -- 'suggested' | 'accepted' | 'dismissed'
    first_seen       BIGINT NOT NULL,
    last_seen        BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,     -- last_seen + the rule's ttl: not shown after this
    evidence_count   INTEGER NOT NULL,
    last_message_key TEXT NOT NULL,
    last_rule        TEXT NOT NULL,
    last_evidence    TEXT NOT NULL,
    next_step        TEXT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (customer_id, tag)
);

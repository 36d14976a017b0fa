-- Trait tags: the evidence stored with each message, and each customer's tag state.

CREATE TABLE message_tag (
    message_key TEXT COLLATE "C" NOT NULL,
    tag         TEXT COLLATE "C" NOT NULL,
    rule        TEXT COLLATE "C" NOT NULL,            -- tag/lang/keyword-or-pattern of the first hit
    matched     TEXT COLLATE "C" NOT NULL,
    evidence    TEXT COLLATE "C" NOT NULL,            -- the first hit with ~40 characters each side
    field       TEXT COLLATE "C" NOT NULL,            -- 'subject' | 'body'
    span_start  BIGINT NOT NULL,         -- byte range of the match in the stored field text
    span_end    BIGINT NOT NULL,
    lang        TEXT COLLATE "C" NOT NULL,
    hits        BIGINT NOT NULL,
    PRIMARY KEY (message_key, tag)
);

CREATE TABLE customer_tag (
    customer_id      TEXT COLLATE "C" NOT NULL,
    tag              TEXT COLLATE "C" NOT NULL,
    state            TEXT COLLATE "C" NOT NULL,       -- 'suggested' | 'accepted' | 'dismissed'
    first_seen       BIGINT NOT NULL,
    last_seen        BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,     -- last_seen + the rule's ttl: not shown after this
    evidence_count   BIGINT NOT NULL,
    last_message_key TEXT COLLATE "C" NOT NULL,
    last_rule        TEXT COLLATE "C" NOT NULL,
    last_evidence    TEXT COLLATE "C" NOT NULL,
    next_step        TEXT COLLATE "C" NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (customer_id, tag)
);

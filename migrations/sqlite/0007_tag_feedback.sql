-- Reps' answers to tag suggestions (through the CRM): accepted or dismissed. A dismissed tag
-- comes back only with evidence newer than the dismissal.
ALTER TABLE customer_tag ADD COLUMN feedback_at BIGINT;
-- When the tag last became a live suggestion (created, back after a dismissal or expiry): a
-- tag.suggested event is written then.
ALTER TABLE customer_tag ADD COLUMN suggested_at BIGINT;
CREATE TABLE tag_feedback (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    tag         TEXT NOT NULL,
    rule        TEXT NOT NULL,      -- the rule whose evidence the rep judged
    message_key TEXT NOT NULL,
    state       TEXT NOT NULL,      -- 'accepted' | 'dismissed'
    at          BIGINT NOT NULL
);
CREATE INDEX tag_feedback_rule ON tag_feedback (rule);

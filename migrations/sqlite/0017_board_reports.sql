-- What `keepwarm rules eval` measured, kept for the board's Rules page: the pack's version,
-- the corpus, the overall scores and the per-tag scores as JSON
-- ([{"tag", "precision", "recall", "f1", "tp", "fp", "fn"}]).
CREATE TABLE rule_eval (
    id           INTEGER PRIMARY KEY,
    at           BIGINT NOT NULL,
    pack_version TEXT NOT NULL,
    corpus       TEXT NOT NULL,
    messages     BIGINT NOT NULL,
    labeled      BIGINT NOT NULL,
    micro_f1     DOUBLE PRECISION NOT NULL,
    macro_f1     DOUBLE PRECISION NOT NULL,
    tags         TEXT NOT NULL
);

-- The Team page counts customers' mail and chat per week: customer messages by time.
CREATE INDEX message_contact_sent ON message (sent_at) WHERE customer_id IS NOT NULL AND class = 'human';

-- The whole decoded text of a mail whose sender's client quoted earlier mail or added a
-- signature or disclaimer (the board folds it under the sender's own words); NULL when the
-- text was all the sender's own, for chat, and once [retention] quoted has dropped it.
ALTER TABLE message ADD COLUMN quoted TEXT;

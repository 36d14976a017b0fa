-- Our first message the customer has not answered (the first outbound after their last
-- inbound): the second follow-up is due seven days after it, once; a later message of ours
-- is that follow-up.
ALTER TABLE customer ADD COLUMN unanswered_since BIGINT;
UPDATE customer SET unanswered_since = (
    SELECT MIN(m.sent_at) FROM message m
     WHERE m.customer_id = customer.id AND m.direction = 'outbound' AND m.counts_as_contact = 1
       AND m.sent_at > COALESCE(customer.last_inbound_at, -1)
);
UPDATE customer SET check_at = 0;

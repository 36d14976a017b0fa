-- When the customer first wrote to us: the first-touch clock of a new customer counts from
-- it (not from the latest message, nor from when keepwarm learned of the customer).
ALTER TABLE customer ADD COLUMN first_inbound_at BIGINT;
UPDATE customer SET first_inbound_at = (
    SELECT MIN(m.sent_at) FROM message m
     WHERE m.customer_id = customer.id AND m.direction = 'inbound' AND m.counts_as_contact = 1
);
-- Every stored state is judged again with the new clock.
UPDATE customer SET check_at = 0;

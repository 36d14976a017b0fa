-- Ownership: the customer's stage and protection, the pool it sits in, the release warning
-- already given, and who changed its owner (pool history).

-- potential | target | signed | dormant (signed implies protected).
ALTER TABLE customer ADD COLUMN stage TEXT NOT NULL DEFAULT 'potential';
-- Protected by its owner (a close customer): never released by the no-contact rule, and
-- counted against the owner's max_protected unless signed. 0 or 1.
ALTER TABLE customer ADD COLUMN protected BIGINT NOT NULL DEFAULT 0;
-- The pool a customer without owner sits in (NULL: the default pool).
ALTER TABLE customer ADD COLUMN pool TEXT;
-- When the owner last got the customer (claim, assignment, import): first touch counts from
-- it for a customer who never wrote.
ALTER TABLE customer ADD COLUMN owned_since BIGINT;
-- The release moment a customer.release_warning was written for.
ALTER TABLE customer ADD COLUMN warned_release_at BIGINT;
CREATE INDEX customer_pool ON customer (pool) WHERE owner IS NULL;

-- Who made the change (the policy, cli:<user>, api:<fingerprint>), the owner before it and
-- the pool involved. action: released | claimed | assigned.
ALTER TABLE pool_history ADD COLUMN actor TEXT;
ALTER TABLE pool_history ADD COLUMN former_owner TEXT;
ALTER TABLE pool_history ADD COLUMN pool TEXT;
UPDATE pool_history SET former_owner = rep_id WHERE action = 'released';
CREATE INDEX pool_history_at ON pool_history (at);

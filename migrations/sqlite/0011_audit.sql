-- Every change of a customer's owner or tier made by a person (CLI, CSV import, REST API):
-- who, when, why. Changes the policy makes (releases, claims, lead routing) are in
-- pool_history.
CREATE TABLE customer_change (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    field       TEXT NOT NULL,      -- 'owner' | 'tier' (later: 'stage', 'protected')
    old_value   TEXT,               -- NULL: the customer was new, or had no owner
    new_value   TEXT,
    actor       TEXT NOT NULL,      -- 'cli:<os user>' | 'api:<token fingerprint>'
    via         TEXT NOT NULL,      -- 'import' | 'api-upsert' | 'api-import'
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX customer_change_customer ON customer_change (customer_id, at);

-- A customer erased on request: that it happened, by whom, why, and how many rows went; none
-- of the erased data.
CREATE TABLE erasure (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    counts      TEXT NOT NULL,      -- JSON: rows removed per table
    at          BIGINT NOT NULL
);

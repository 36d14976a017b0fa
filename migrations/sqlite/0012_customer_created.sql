-- When the directory began (the first customer still in it): releases to the public pool wait
-- until it is pool.release_start_after old, read with MIN(created_at) at every sweep.
CREATE INDEX customer_created ON customer (created_at);

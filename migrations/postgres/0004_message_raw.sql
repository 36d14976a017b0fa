-- Chat messages keep the raw event they came from (the webhook's message or status object, as
-- JSON), for audits and for fields keepwarm does not read yet.
ALTER TABLE message ADD COLUMN raw TEXT COLLATE "C";

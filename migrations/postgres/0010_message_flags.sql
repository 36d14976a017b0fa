-- What was cut short while a message was prepared: 'text-truncated' (its text was over the
-- cap, the head was kept), 'over-budget' (the per-message time budget ran out: the steps not
-- yet run were skipped). Comma-separated; '' for none.
ALTER TABLE message ADD COLUMN flags TEXT NOT NULL DEFAULT '';

-- A batch can be created with an Idempotency-Key, like a single job: a retry with the same key
-- and body answers the first batch and reserves nothing again; the same key with another body
-- is refused. NULL keys (no header) never conflict.
ALTER TABLE batches ADD COLUMN idempotency_key TEXT;
ALTER TABLE batches ADD COLUMN idempotency_digest TEXT;
CREATE UNIQUE INDEX batches_idempotency ON batches (owner_id, idempotency_key);

-- Rate limits become a token bucket (the generic cell rate algorithm): per key, the time the
-- bucket is next due to be full again (`due_at`, unix ms) and how many hits in a row it refused.
-- Fixed windows let a whole burst through on each side of a boundary. Old counters mean nothing
-- under the new rule, so they are dropped: every key starts with a full bucket.
DROP TABLE rate_limits;
CREATE TABLE rate_limits (
    scope    TEXT NOT NULL,
    key      TEXT NOT NULL,
    due_at   BIGINT NOT NULL,
    refused  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, key)
);

-- The SHA-256 of the job body a client sent with an Idempotency-Key, so a reuse of the key with
-- another body is refused (`idempotency.mismatch`) instead of silently answering the first job.
-- NULL for jobs submitted before this column existed.
ALTER TABLE jobs ADD COLUMN idempotency_digest TEXT;

-- Outbound webhooks (issue 23): endpoints registered per API token, the jobs each token
-- submitted, and the delivery outbox. A delivery row is written in the same transaction that
-- ends the job (or reports its progress), so a crash between the job's end and the sending
-- loses nothing; the sender claims due rows with a short lease.

CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_id        TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    -- The signing secret sealed under the owner's data key (AES-256-GCM), never in clear.
    secret_sealed   BYTEA NOT NULL,
    progress_events BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT NOT NULL,
    disabled_at     BIGINT,
    disabled_reason TEXT
);
CREATE INDEX webhook_endpoints_token ON webhook_endpoints (token_id);
CREATE INDEX webhook_endpoints_user ON webhook_endpoints (user_id);

-- Which API token submitted a job: its endpoints hear about that job.
CREATE TABLE job_api_tokens (
    job_id   TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE
);
CREATE INDEX job_api_tokens_token ON job_api_tokens (token_id);

CREATE TABLE webhook_deliveries (
    -- Also the message's webhook-id, the same on every attempt.
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    job_id          TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    -- pending, delivered, failed
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_attempt_at BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

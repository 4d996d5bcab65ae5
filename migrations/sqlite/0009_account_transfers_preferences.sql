-- A transfer that belongs to no job (the script writer, POST /api/v1/scripts) is logged like any
-- other, attached to its user only (P-TP-4): job_id becomes optional. SQLite cannot drop a NOT
-- NULL constraint, so the table is rebuilt with its rows, indexes and cascades.
CREATE TABLE provider_transfers_new (
    id         TEXT PRIMARY KEY,
    job_id     TEXT REFERENCES jobs (id) ON DELETE CASCADE,
    revision   INTEGER NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    model      TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    sent_json  TEXT NOT NULL,
    request_id TEXT,
    status     TEXT NOT NULL CHECK (status IN ('sending', 'accepted', 'failed')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO provider_transfers_new
    SELECT id, job_id, revision, user_id, provider, model, purpose, sent_json, request_id, status,
           created_at, updated_at
    FROM provider_transfers;
DROP TABLE provider_transfers;
ALTER TABLE provider_transfers_new RENAME TO provider_transfers;
CREATE INDEX provider_transfers_job ON provider_transfers (job_id, created_at);
CREATE INDEX provider_transfers_request ON provider_transfers (provider, request_id);
CREATE INDEX provider_transfers_user ON provider_transfers (user_id, created_at);
-- The retention sweep deletes rows older than the log period (P-RET-3).
CREATE INDEX provider_transfers_created ON provider_transfers (created_at);

-- The settings of the user's last submitted job (P-IN-6), so the Create form starts from them.
-- Only settings: never the script, prompts or upload ids.
CREATE TABLE user_preferences (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    settings_json TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- A transfer that belongs to no job (the script writer, POST /api/v1/scripts) is logged like any
-- other, attached to its user only (P-TP-4): job_id becomes optional.
ALTER TABLE provider_transfers ALTER COLUMN job_id DROP NOT NULL;
CREATE INDEX provider_transfers_user ON provider_transfers (user_id, created_at);
-- The retention sweep deletes rows older than the log period (P-RET-3).
CREATE INDEX provider_transfers_created ON provider_transfers (created_at);

-- The settings of the user's last submitted job (P-IN-6), so the Create form starts from them.
-- Only settings: never the script, prompts or upload ids.
CREATE TABLE user_preferences (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    settings_json TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);

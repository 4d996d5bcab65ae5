-- Email address changes (P-ACC-5): a code sent to the new address, which the code row keeps
-- until it is verified. SQLite cannot alter a CHECK constraint, so the table is rebuilt.
CREATE TABLE email_codes_new (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify', 'reset', 'change_email')),
    code_hash  TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    new_email  TEXT
);
INSERT INTO email_codes_new (id, user_id, purpose, code_hash, attempts, created_at, expires_at, used_at)
    SELECT id, user_id, purpose, code_hash, attempts, created_at, expires_at, used_at FROM email_codes;
DROP TABLE email_codes;
ALTER TABLE email_codes_new RENAME TO email_codes;
CREATE INDEX email_codes_user_purpose ON email_codes (user_id, purpose, created_at);

-- Encryption at rest (P-SEC-2): one data key per user, stored only wrapped (AES-256-GCM) under
-- an operator key that lives outside the database. Deleting the row destroys the key, so every
-- media object sealed under it becomes unreadable, backups included (crypto-shredding); the
-- foreign key makes deleting the user do the same.
CREATE TABLE data_keys (
    user_id         TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    key_id          TEXT NOT NULL UNIQUE,
    wrapped_key     BYTEA NOT NULL,
    operator_key_id TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    wrapped_at      BIGINT NOT NULL
);
CREATE INDEX data_keys_operator_key ON data_keys (operator_key_id);

-- Reelsmith schema, SQLite flavour. IDs are TEXT (UUIDv7, time-ordered); times are INTEGER unix
-- milliseconds; JSON documents are TEXT. Keep in step with ../postgres/0001_initial.sql.

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL,
    email_norm        TEXT NOT NULL,
    username          TEXT NOT NULL,
    username_norm     TEXT NOT NULL,
    password_hash     TEXT,
    display_name      TEXT NOT NULL DEFAULT '',
    email_verified_at INTEGER,
    role              TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    birth_year        INTEGER,
    age_confirmed_min INTEGER,
    processing_paused BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    deleted_at        INTEGER
);
CREATE UNIQUE INDEX users_email_norm_uq ON users (email_norm);
CREATE UNIQUE INDEX users_username_norm_uq ON users (username_norm);

CREATE TABLE email_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    code_hash  TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX email_codes_user_purpose ON email_codes (user_id, purpose, created_at);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    user_agent   TEXT,
    ip           TEXT
);
CREATE UNIQUE INDEX sessions_token_hash_uq ON sessions (token_hash);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE UNIQUE INDEX api_tokens_token_hash_uq ON api_tokens (token_hash);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('image', 'audio', 'video')),
    object_key  TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mime        TEXT NOT NULL,
    width       INTEGER,
    height      INTEGER,
    duration_ms INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX uploads_owner ON uploads (owner_id, id);
CREATE INDEX uploads_object_key ON uploads (object_key);

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    owner_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    stage            TEXT,
    progress         REAL NOT NULL DEFAULT 0,
    params_json      TEXT NOT NULL,
    error_code       TEXT,
    error_message    TEXT,
    usage_json       TEXT,
    idempotency_key  TEXT,
    current_revision INTEGER NOT NULL DEFAULT 1,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
-- NULL keys never collide, so jobs without an Idempotency-Key are unconstrained.
CREATE UNIQUE INDEX jobs_owner_idempotency_uq ON jobs (owner_id, idempotency_key);
CREATE INDEX jobs_owner ON jobs (owner_id, id);
CREATE INDEX jobs_queue ON jobs (status, next_attempt_at);
CREATE INDEX jobs_lease ON jobs (status, lease_expires_at);

CREATE TABLE job_revisions (
    job_id           TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    revision         INTEGER NOT NULL,
    params_json      TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    output_keys_json TEXT NOT NULL DEFAULT '[]',
    usage_json       TEXT,
    error_code       TEXT,
    error_message    TEXT,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    PRIMARY KEY (job_id, revision)
);

CREATE TABLE job_stage_outputs (
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    revision    INTEGER NOT NULL,
    stage       TEXT NOT NULL,
    output_json TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (job_id, revision, stage)
);

CREATE TABLE job_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    stage        TEXT,
    progress     REAL,
    payload_json TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX job_events_job ON job_events (job_id, id);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    user_id     TEXT REFERENCES users (id) ON DELETE SET NULL,
    ip          TEXT,
    user_agent  TEXT,
    detail_json TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX audit_log_user ON audit_log (user_id, id);
CREATE INDEX audit_log_created ON audit_log (created_at);

CREATE TABLE rate_limits (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);

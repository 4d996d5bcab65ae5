-- Account exports (P-RIGHTS-1): one row per archive the user asked for. The archive itself is a
-- sealed object under the owner's data key (object_key); the row is the only record of it, so
-- the retention sweep deletes the object first and the row last once expires_at has passed.
-- expires_at is set when the archive is ready (the download link's lifetime starts then).
CREATE TABLE exports (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('building', 'ready', 'failed')),
    object_key TEXT,
    size       BIGINT,
    error_code TEXT,
    created_at BIGINT NOT NULL,
    ready_at   BIGINT,
    expires_at BIGINT
);
CREATE INDEX exports_user ON exports (user_id, id);
-- At most one archive being built per user: two concurrent requests cannot both pass a count,
-- so the database refuses the second insert (the API answers 409 export.in_progress).
CREATE UNIQUE INDEX exports_one_building ON exports (user_id) WHERE status = 'building';
CREATE INDEX exports_expires ON exports (expires_at);

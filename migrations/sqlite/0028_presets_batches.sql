-- Presets and batches (issue 25). A preset is a user's named settings (the render spec without
-- its script, media or recording), validated like a job's; the operator's templates live in the
-- configuration, not here. A batch is many jobs submitted in one request, their credits reserved
-- in one transaction; `batch_jobs` keeps their order. A job deleted by its owner leaves its
-- batch; an account's deletion takes its presets and batches with it.
CREATE TABLE presets (
    id            TEXT PRIMARY KEY,
    owner_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    settings_json TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX presets_owner ON presets (owner_id, created_at);

CREATE TABLE batches (
    id            TEXT PRIMARY KEY,
    owner_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    preset_id     TEXT,
    settings_json TEXT NOT NULL,
    credits       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX batches_owner ON batches (owner_id, created_at);

CREATE TABLE batch_jobs (
    batch_id TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    job_id   TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (batch_id, position)
);
CREATE INDEX batch_jobs_job ON batch_jobs (job_id);

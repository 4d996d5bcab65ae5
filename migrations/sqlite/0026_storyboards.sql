-- Storyboards (issue 25): a job's scenes, planned and quoted but not yet rendered, so their
-- owner can edit them before anything is reserved or charged. Rendering turns the draft into a
-- job of the same id whose stored plan (jobs.plan_json, job_revisions.plan_json) carries the
-- storyboard, and deletes this row in the same transaction. `version` is the ETag's number:
-- a replacement names the version it was edited from, so two tabs cannot overwrite each other.
CREATE TABLE storyboards (
    id              TEXT PRIMARY KEY,
    owner_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    params_json     TEXT NOT NULL,
    storyboard_json TEXT NOT NULL,
    version         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX storyboards_owner ON storyboards (owner_id, created_at);

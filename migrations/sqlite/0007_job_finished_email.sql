-- A transactional email a person may ask for (P-COMM-1): "your video is ready" (or could not be
-- made) when a job ends. Off by default; the Account page switches it.
ALTER TABLE users ADD COLUMN notify_job_finished BOOLEAN NOT NULL DEFAULT FALSE;

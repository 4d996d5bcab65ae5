-- The plan a job was quoted with (issue 16): provider, model, shots and price, made once when the
-- job (or a new revision of it) is submitted and executed as is by the worker, so a change to the
-- model registry between quote and run cannot change what is rendered or charged. A versioned
-- JSON record (`reelsmith_jobs::StoredPlan`). NULL for jobs stored before this migration: the
-- worker plans those itself, once, as it did before.
ALTER TABLE jobs ADD COLUMN plan_json TEXT;
ALTER TABLE job_revisions ADD COLUMN plan_json TEXT;

-- Live progress (issue 23): every transaction that writes a job event, or deletes a job, announces
-- the job's id on `reelsmith_job_events` (delivered when it commits), so the processes that
-- follow event streams read the database only for jobs that changed. The payload is the job id
-- alone; the events are read from `job_events` as before.
CREATE FUNCTION reelsmith_announce_job_event() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('reelsmith_job_events', OLD.id);
    ELSE
        PERFORM pg_notify('reelsmith_job_events', NEW.job_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER job_events_announce AFTER INSERT ON job_events
    FOR EACH ROW EXECUTE FUNCTION reelsmith_announce_job_event();

CREATE TRIGGER jobs_deleted_announce AFTER DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION reelsmith_announce_job_event();

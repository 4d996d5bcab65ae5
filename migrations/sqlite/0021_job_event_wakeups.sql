-- Live progress (issue 23): on PostgreSQL this migration adds the triggers that announce new job
-- events with NOTIFY. SQLite has no such channel: the store wakes the serving process's event
-- streams itself after each commit (crates/store/src/live.rs), so there is nothing to change.
SELECT 1;

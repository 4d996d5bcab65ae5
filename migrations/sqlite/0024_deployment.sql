-- The deployment's identity (issue 23): one row, written by the first process that starts on
-- this database. Every process checks it at start against its own operator key and the marker
-- object in its media store, so a worker pointed at another database, another media store or
-- without the servers' key refuses to start instead of corrupting jobs.
CREATE TABLE deployment (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL,
    operator_key_id TEXT NOT NULL,
    -- 1 once the marker object was written to the media store: from then on a store without
    -- it is another store (or an emptied one), not an interrupted first start.
    store_marked INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Credits (P-BILL-1, P-BILL-4). The balance is the sum of the ledger, always: a job's cost is a
-- 'spend' entry written when the job is queued (after checking the sum covers it) and a 'refund'
-- entry when it fails or is cancelled. credit_holds remembers which spends are still provisional.
-- Ledger rows outlive the account (user_id becomes NULL on purge) because payment records are
-- kept, detached from the person, for their legal period (P-RET-4).
CREATE TABLE credit_ledger (
    id         TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE SET NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('grant', 'purchase', 'spend', 'refund')),
    amount     INTEGER NOT NULL,
    job_id     TEXT,
    revision   INTEGER,
    note       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX credit_ledger_user ON credit_ledger (user_id, id);

-- One row per job revision with a non-zero cost: 'held' from queueing until the job ends, then
-- 'charged' (succeeded) or 'released' (failed, cancelled, deleted or replaced; refunded).
CREATE TABLE credit_holds (
    job_id     TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE SET NULL,
    amount     INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('held', 'charged', 'released')),
    created_at INTEGER NOT NULL,
    settled_at INTEGER,
    PRIMARY KEY (job_id, revision)
);
CREATE INDEX credit_holds_user ON credit_holds (user_id, state);

-- Explicit opt-in per third-party provider (P-TP-2): who, which provider, under which policy
-- version, when; withdrawal closes the row, a new grant opens a new one, so history stays.
CREATE TABLE provider_consents (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider       TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    granted_at     INTEGER NOT NULL,
    withdrawn_at   INTEGER
);
CREATE INDEX provider_consents_user ON provider_consents (user_id, provider, granted_at);

-- Every transfer to a provider (P-TP-3, P-TP-4): written before the request leaves ('sending'),
-- so even a crash mid-call leaves a record; the provider's request id is added once accepted.
-- sent_json lists what was sent (fields, sizes, upload ids), never the content itself.
CREATE TABLE provider_transfers (
    id         TEXT PRIMARY KEY,
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    revision   INTEGER NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    model      TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    sent_json  TEXT NOT NULL,
    request_id TEXT,
    status     TEXT NOT NULL CHECK (status IN ('sending', 'accepted', 'failed')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX provider_transfers_job ON provider_transfers (job_id, created_at);
CREATE INDEX provider_transfers_request ON provider_transfers (provider, request_id);

-- Policy and terms versions (P-COMM-2). A material version must be accepted before its user's
-- next job; a non-material one (a typo, a clarification) is only shown. The first privacy
-- version is `privacy.policy_version` from the configuration until an operator publishes one.
CREATE TABLE policy_versions (
    kind         TEXT NOT NULL CHECK (kind IN ('privacy', 'terms')),
    version      TEXT NOT NULL,
    summary      TEXT NOT NULL,
    body         TEXT NOT NULL DEFAULT '',
    material     BOOLEAN NOT NULL,
    published_at BIGINT NOT NULL,
    notified     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, version)
);
CREATE INDEX policy_versions_latest ON policy_versions (kind, published_at);

-- Who accepted which version, and when: the record P-COMM-2 asks for.
CREATE TABLE policy_acceptances (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    version     TEXT NOT NULL,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind, version)
);

-- Marketing email only with opt-in (P-COMM-1, P-RIGHTS-4). The unsubscribe token is what a
-- link in a marketing email carries: it works without signing in and only ever unsubscribes.
ALTER TABLE users ADD COLUMN marketing_opt_in_at BIGINT;
ALTER TABLE users ADD COLUMN unsubscribe_token TEXT;
CREATE UNIQUE INDEX users_unsubscribe_token ON users (unsubscribe_token);

-- Rights requests that arrive by email (P-RIGHTS-5), tracked for operators: due 30 days after
-- receipt, and fulfilled only after the requester's identity was checked. The purge clears the
-- requester's address and notes; the request's kind and dates stay as the record it was handled.
CREATE TABLE rights_requests (
    id                   TEXT PRIMARY KEY,
    user_id              TEXT REFERENCES users (id) ON DELETE SET NULL,
    requester_email      TEXT NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('access', 'rectification', 'erasure',
                             'restriction', 'objection', 'portability', 'other')),
    received_at          BIGINT NOT NULL,
    due_at               BIGINT NOT NULL,
    identity_checked_at  BIGINT,
    identity_method      TEXT,
    status               TEXT NOT NULL CHECK (status IN ('open', 'fulfilled', 'refused')),
    closed_at            BIGINT,
    notes                TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rights_requests_due ON rights_requests (status, due_at);

-- Breach notices (P-COMM-3): the notice as written, and one row per recipient recording when
-- it went out (or why it did not). Rows keep the user id, never the address, so a purge leaves
-- the count and times.
CREATE TABLE breach_notices (
    id            TEXT PRIMARY KEY,
    subject       TEXT NOT NULL,
    template      TEXT NOT NULL,
    discovered_at BIGINT,
    created_at    BIGINT NOT NULL
);
CREATE TABLE breach_notice_sends (
    notice_id TEXT NOT NULL REFERENCES breach_notices (id) ON DELETE CASCADE,
    user_id   TEXT REFERENCES users (id) ON DELETE SET NULL,
    seq       BIGINT NOT NULL,
    status    TEXT NOT NULL CHECK (status IN ('sent', 'failed')),
    error     TEXT,
    sent_at   BIGINT NOT NULL,
    PRIMARY KEY (notice_id, seq)
);

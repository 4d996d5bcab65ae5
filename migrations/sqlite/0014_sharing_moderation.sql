-- Sharing and safety (issue 19): public works (P-VIS-2), share links (P-VIS-3), profile
-- avatars (P-ACC-5), takedowns, bans, reports, jobs held for review and legal takedown
-- requests (P-SAFE-1..3). Keep in step with ../postgres/0014_sharing_moderation.sql.

-- A published work: the revision shown and the creation details its owner chose to show.
-- Unpublishing deletes the row; takedowns, bans and deletions hide it through their own rows.
CREATE TABLE publications (
    job_id       TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    owner_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    revision     INTEGER NOT NULL,
    title        TEXT NOT NULL,
    show_prompt  BOOLEAN NOT NULL DEFAULT FALSE,
    show_engine  BOOLEAN NOT NULL DEFAULT FALSE,
    show_model   BOOLEAN NOT NULL DEFAULT FALSE,
    show_length  BOOLEAN NOT NULL DEFAULT FALSE,
    views        INTEGER NOT NULL DEFAULT 0,
    published_at INTEGER NOT NULL
);
-- The gallery's two orders and the profile's list read these indexes, newest first.
CREATE INDEX publications_newest ON publications (published_at DESC, job_id DESC);
CREATE INDEX publications_views ON publications (views DESC, published_at DESC);
CREATE INDEX publications_owner ON publications (owner_id, published_at DESC);

-- Unlisted links: only the SHA-256 of the token is kept. `revision` NULL follows the latest
-- finished revision.
CREATE TABLE share_links (
    id         TEXT PRIMARY KEY,
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    owner_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    revision   INTEGER,
    expires_at INTEGER,
    revoked_at INTEGER,
    views      INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX share_links_token_uq ON share_links (token_hash);
CREATE INDEX share_links_job ON share_links (job_id, id);

-- The optional avatar: one of the person's own (cleaned) image uploads.
CREATE TABLE profiles (
    user_id          TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    avatar_upload_id TEXT REFERENCES uploads (id) ON DELETE SET NULL,
    updated_at       INTEGER NOT NULL
);

-- A work taken out of public view by a moderator, with the reason its owner is shown.
CREATE TABLE takedowns (
    job_id       TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    reason       TEXT NOT NULL,
    moderator_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    legal_id     TEXT,
    created_at   INTEGER NOT NULL
);

-- A banned account: its sessions ended, its works hidden, its sign-ins refused.
CREATE TABLE account_bans (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    reason       TEXT NOT NULL,
    moderator_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL
);

-- Reports of public works or share links by anyone. `reporter_key` (a hash of the account or
-- the client address) makes a second report of the same work by the same reporter a no-op.
CREATE TABLE reports (
    id           TEXT PRIMARY KEY,
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    via          TEXT NOT NULL CHECK (via IN ('gallery', 'share')),
    reporter_key TEXT NOT NULL,
    reporter_id  TEXT REFERENCES users (id) ON DELETE SET NULL,
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    resolved_at  INTEGER,
    resolution   TEXT
);
CREATE UNIQUE INDEX reports_dedupe_uq ON reports (job_id, reporter_key);
CREATE INDEX reports_open ON reports (resolved_at, created_at);

-- Jobs the automated checks held for a person's review (borderline results). A held job stays
-- queued with a far-future due time, so no worker claims it until it is approved.
CREATE TABLE moderation_holds (
    job_id       TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    owner_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    categories   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    decided_at   INTEGER,
    decision     TEXT CHECK (decision IN ('approved', 'refused')),
    moderator_id TEXT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX moderation_holds_open ON moderation_holds (decided_at, created_at);

-- Legal takedown requests (P-SAFE-3): who asked, about which work, on what basis, and the
-- decision with its date.
CREATE TABLE legal_requests (
    id              TEXT PRIMARY KEY,
    job_id          TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    requester       TEXT NOT NULL,
    requester_email TEXT NOT NULL,
    basis           TEXT NOT NULL,
    received_at     INTEGER NOT NULL,
    decision        TEXT NOT NULL CHECK (decision IN ('pending', 'taken_down', 'rejected')),
    decided_at      INTEGER,
    moderator_id    TEXT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX legal_requests_received ON legal_requests (received_at);

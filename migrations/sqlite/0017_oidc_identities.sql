-- Sign-in through outside identity providers (issue 20, P-ACC-4).
--
-- One row per provider account linked to one of ours. Only who the person is at the provider
-- (its stable subject) is kept, never the provider's tokens.
CREATE TABLE oidc_identities (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    email        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX oidc_identities_subject_uq ON oidc_identities (provider, subject);
CREATE INDEX oidc_identities_user ON oidc_identities (user_id);

-- A sign-in under way at a provider, keyed by the digest of its `state`; bound to the browser
-- that started it by the digest of a short-lived cookie. Used once.
CREATE TABLE oidc_flows (
    state_hash    TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    browser_hash  TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    link_user_id  TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);

-- A provider's person we know but cannot sign in yet: a first sign-in waiting for its username,
-- age statement and policy acceptance, or a verified address that matches an existing account
-- (link_user_id), waiting for its owner to sign in to that account.
CREATE TABLE oidc_pending (
    token_hash    TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    link_user_id  TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);

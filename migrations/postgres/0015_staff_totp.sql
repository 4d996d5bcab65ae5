-- Staff and second factors (issue 20, P-SEC-4, P-SEC-5).
-- A suspended account cannot sign in or use its tokens; an operator restores it.
ALTER TABLE users ADD COLUMN suspended_at BIGINT;
-- TOTP: the secret sealed under the person's data key (AES-256-GCM), never in clear. While
-- enrolment awaits its first code the secret sits in totp_pending; totp_enabled_at says it was
-- confirmed. totp_last_step is the time step of the last accepted code: a code whose step is not
-- greater is a replay and is refused.
ALTER TABLE users ADD COLUMN totp_secret BYTEA;
ALTER TABLE users ADD COLUMN totp_pending BYTEA;
ALTER TABLE users ADD COLUMN totp_enabled_at BIGINT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
-- When this session last passed a TOTP check (step-up); staff actions need it recent.
ALTER TABLE sessions ADD COLUMN step_up_at BIGINT;

-- Ten one-time recovery codes per enrolment, stored as SHA-256 digests.
CREATE TABLE totp_recovery_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX totp_recovery_codes_user ON totp_recovery_codes (user_id);

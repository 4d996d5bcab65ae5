-- Email address changes (P-ACC-5): a code sent to the new address, which the code row keeps
-- until it is verified.
ALTER TABLE email_codes DROP CONSTRAINT email_codes_purpose_check;
ALTER TABLE email_codes ADD CONSTRAINT email_codes_purpose_check
    CHECK (purpose IN ('verify', 'reset', 'change_email'));
ALTER TABLE email_codes ADD COLUMN new_email TEXT;

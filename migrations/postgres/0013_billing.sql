-- Paying for it (issue 18; P-BILL-1..3, P-RET-4).

-- Every credit change that must happen once (a plan's grant for one period, a purchase, the
-- reversal of a refunded payment) carries a key; the unique index makes a second writer, a replayed
-- webhook or a restarted scheduler a no-op. Job spends and refunds keep NULL (their holds settle
-- them once).
ALTER TABLE credit_ledger ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX credit_ledger_idempotency ON credit_ledger (idempotency_key);

-- Each user's plan when it is not the default one. `plan` is in force now; `pending_plan` takes
-- over at `period_end` (a downgrade); `cancel_at_period_end` returns to the default plan then.
CREATE TABLE billing_plans (
    user_id              TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    plan                 TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('active', 'past_due', 'canceled')),
    processor            TEXT,
    customer_id          TEXT,
    subscription_id      TEXT,
    period_end           BIGINT,
    cancel_at_period_end BIGINT NOT NULL DEFAULT 0,
    pending_plan         TEXT,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX billing_plans_subscription ON billing_plans (processor, subscription_id);

-- A checkout started from the studio: who buys what. The processor's session carries our id
-- back (client_reference_id / request_id); an open checkout is expired after its lifetime.
CREATE TABLE billing_checkouts (
    id          TEXT PRIMARY KEY,
    user_id     TEXT REFERENCES users (id) ON DELETE SET NULL,
    processor   TEXT NOT NULL,
    item_kind   TEXT NOT NULL CHECK (item_kind IN ('plan', 'pack')),
    item        TEXT NOT NULL,
    session_id  TEXT,
    status      TEXT NOT NULL CHECK (status IN ('open', 'completed', 'expired')),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX billing_checkouts_user ON billing_checkouts (user_id, created_at);

-- Payments as the processor reported them: the invoices page, the export, and the records the
-- law requires. On purge user_id becomes NULL (detached) and the row stays until the legal
-- period has passed (billing.payment_records_years).
CREATE TABLE billing_payments (
    id               TEXT PRIMARY KEY,
    user_id          TEXT REFERENCES users (id) ON DELETE SET NULL,
    processor        TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    payment_ref      TEXT,
    item             TEXT NOT NULL,
    description      TEXT NOT NULL,
    amount_cents     BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    tax_cents        BIGINT,
    receipt_url      TEXT,
    credits          BIGINT NOT NULL,
    credits_reversed BIGINT NOT NULL DEFAULT 0,
    refunded_cents   BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    UNIQUE (processor, external_id)
);
CREATE INDEX billing_payments_user ON billing_payments (user_id, created_at);
CREATE INDEX billing_payments_ref ON billing_payments (processor, payment_ref);

-- Webhook events seen, by the processor's event id: a replay is answered without effect.
CREATE TABLE billing_events (
    processor   TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (processor, event_id)
);

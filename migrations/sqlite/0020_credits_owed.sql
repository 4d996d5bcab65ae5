-- A payment's credits to take back after a refund or chargeback, apart from those taken back so
-- far: the balance is never lowered below zero (P-BILL-1), so what it cannot cover yet is owed
-- and is taken from the next credits the user receives.
ALTER TABLE billing_payments ADD COLUMN credits_to_reverse INTEGER NOT NULL DEFAULT 0;
UPDATE billing_payments SET credits_to_reverse = credits_reversed;

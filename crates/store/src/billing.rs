//! Billing's records (issue 18): each user's plan, checkouts, payments, processed webhook events,
//! and the credit changes that must happen exactly once (P-BILL-1, P-BILL-3).
//!
//! Exactly-once rests on two unique keys: `credit_ledger.idempotency_key` (a plan's grant for one
//! month, a purchase, a payment's reversal) and `billing_events (processor, event_id)`. A webhook's
//! whole effect is written in the transaction that records its event id, so a replay, a second
//! worker or a crash in the middle can neither double nor half-apply it.

use serde::Serialize;

use crate::credits::{settle_debt, CreditKind};
use crate::db::{new_id, with_pool, BeginWrite, UnixMillis};
use crate::error::{StoreError, StoreResult};
use crate::Db;

/// A user's plan row; absent means the default (free) plan.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct UserPlan {
    pub user_id: String,
    pub plan: String,
    /// `active`, `past_due` or `canceled`.
    pub status: String,
    pub processor: Option<String>,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    /// When the paid period ends (subscriptions); NULL for Lifetime.
    pub period_end: Option<i64>,
    /// 1 when the subscription ends at `period_end` (a cancellation), else 0.
    pub cancel_at_period_end: i64,
    /// The plan that takes over at `period_end` (a downgrade).
    pub pending_plan: Option<String>,
    pub updated_at: i64,
}

const PLAN_COLUMNS: &str = "user_id, plan, status, processor, customer_id, subscription_id, \
    period_end, cancel_at_period_end, pending_plan, updated_at";

/// A started checkout.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Checkout {
    pub id: String,
    pub user_id: Option<String>,
    pub processor: String,
    /// `plan` or `pack`.
    pub item_kind: String,
    pub item: String,
    pub session_id: Option<String>,
    /// `open`, `completed` or `expired`.
    pub status: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A payment as the processor reported it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Payment {
    pub id: String,
    pub user_id: Option<String>,
    pub processor: String,
    /// The checkout session or invoice id at the processor.
    pub external_id: String,
    /// The payment intent / charge the processor refunds by.
    pub payment_ref: Option<String>,
    pub item: String,
    pub description: String,
    pub amount_cents: i64,
    pub currency: String,
    pub tax_cents: Option<i64>,
    pub receipt_url: Option<String>,
    pub credits: i64,
    /// Credits taken back so far after refunds and chargebacks.
    pub credits_reversed: i64,
    /// Credits the refunds so far take back in all; above `credits_reversed` while the user's
    /// balance could not cover them (owed, taken from the next credits they receive).
    pub credits_to_reverse: i64,
    pub refunded_cents: i64,
    pub created_at: i64,
}

const PAYMENT_COLUMNS: &str = "id, user_id, processor, external_id, payment_ref, item, \
    description, amount_cents, currency, tax_cents, receipt_url, credits, credits_reversed, \
    credits_to_reverse, refunded_cents, created_at";

/// A payment to record; `id` and `created_at` are filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPayment {
    pub user_id: String,
    pub processor: String,
    pub external_id: String,
    pub payment_ref: Option<String>,
    pub item: String,
    pub description: String,
    pub amount_cents: i64,
    pub currency: String,
    pub tax_cents: Option<i64>,
    pub receipt_url: Option<String>,
    pub credits: i64,
}

/// A credit change that happens at most once, by its key.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditOnce {
    pub user_id: String,
    pub kind: CreditKind,
    pub amount: i64,
    pub note: String,
    pub key: String,
}

/// How an event changes a user's plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanChange {
    /// This plan is in force now (a new subscription, an upgrade, Lifetime replacing a
    /// subscription); clears any pending downgrade or cancellation.
    Set {
        user_id: String,
        plan: String,
        processor: String,
        customer_id: Option<String>,
        subscription_id: Option<String>,
        period_end: Option<i64>,
    },
    /// The subscription's state at the processor; `None` fields stay as they are.
    Subscription {
        processor: String,
        subscription_id: String,
        status: Option<String>,
        period_end: Option<i64>,
        cancel_at_period_end: Option<bool>,
        /// `Some(Some(p))` schedules a downgrade to `p`; `Some(None)` clears one.
        pending_plan: Option<Option<String>>,
        /// An immediate change of plan (an upgrade).
        plan: Option<String>,
    },
    /// The subscription ended: its user goes back to the default plan. A row that no longer
    /// names it (Lifetime replaced it) is left alone.
    Ended {
        processor: String,
        subscription_id: String,
    },
}

/// The whole effect of one webhook event, written in one transaction with its event id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BillingChange {
    pub payment: Option<NewPayment>,
    pub credits: Vec<CreditOnce>,
    /// A plan grant for a month: (user, plan, credits, month `YYYY-MM`).
    pub plan_grant: Option<(String, String, i64, String)>,
    pub plan: Option<PlanChange>,
    pub checkout_completed: Option<String>,
    /// A payment refunded (cumulatively) to this many cents: (processor, payment_ref).
    pub refund: Option<(String, String, i64)>,
    /// The processor's receipt for a recorded payment: (processor, payment_ref, url).
    pub receipt: Option<(String, String, String)>,
}

/// What became of a webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    Applied,
    /// Its id was seen before: nothing changed.
    Duplicate,
}

/// The key prefix of a user's plan grants for one month.
fn grant_prefix(user_id: &str, month: &str) -> String {
    format!("plan-grant:{user_id}:{month}:")
}

/// Inside a write transaction: lock the user row (PostgreSQL; SQLite's write transaction already
/// excludes other writers), so grants, reversals and job holds of one user run one at a time.
macro_rules! lock_user {
    ($tx:expr, $user_id:expr) => {
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind($user_id)
            .execute(&mut *$tx)
    };
}

/// Insert a keyed ledger entry unless its key exists; true when written.
macro_rules! credit_once {
    ($tx:expr, $user_id:expr, $kind:expr, $amount:expr, $note:expr, $key:expr, $now:expr) => {
        async {
            let done = sqlx::query(
                "INSERT INTO credit_ledger \
                 (id, user_id, kind, amount, job_id, revision, note, created_at, idempotency_key) \
                 VALUES ($1, $2, $3, $4, NULL, NULL, $5, $6, $7) \
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(new_id())
            .bind($user_id)
            .bind($kind)
            .bind($amount)
            .bind($note)
            .bind($now)
            .bind($key)
            .execute(&mut *$tx)
            .await?;
            Ok::<bool, StoreError>(done.rows_affected() == 1)
        }
    };
}

/// Top the user's plan grants for `month` up to `credits`: one entry keyed by plan and month,
/// of the difference between `credits` and what plan grants already gave that month (an upgrade
/// mid-month gets the difference at once; a switch to a plan with as many credits gets nothing).
macro_rules! plan_grant {
    ($tx:expr, $user_id:expr, $plan:expr, $credits:expr, $month:expr, $now:expr) => {
        async {
            let prefix = grant_prefix($user_id, $month);
            lock_user!($tx, $user_id).await?;
            let granted: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_ledger \
                 WHERE user_id = $1 AND kind = 'grant' AND idempotency_key LIKE $2",
            )
            .bind($user_id)
            .bind(format!("{prefix}%"))
            .fetch_one(&mut *$tx)
            .await?;
            let amount: i64 = $credits - granted;
            if amount <= 0 {
                return Ok::<i64, StoreError>(0);
            }
            let note = format!("plan {}: credits for {}", $plan, $month);
            let key = format!("{prefix}{}", $plan);
            let written = credit_once!($tx, $user_id, "grant", amount, &note, &key, $now).await?;
            Ok(if written { amount } else { 0 })
        }
    };
}

/// Take back the credits of a payment refunded (cumulatively) to `refunded_cents`: the share of
/// its credits that the refunded share of its amount bought. Only what the balance covers is
/// taken now, so it never falls below zero (P-BILL-1); the rest is owed (`credits_to_reverse`
/// above `credits_reversed`) and [`settle_debt!`] takes it from the next credits received.
macro_rules! reverse_payment {
    ($tx:expr, $p:expr, $refunded_cents:expr, $now:expr) => {
        async {
            let p: &Payment = $p;
            let refunded: i64 = $refunded_cents;
            let refunded = refunded.clamp(0, p.amount_cents.max(0));
            let target = if p.amount_cents > 0 {
                (i128::from(p.credits) * i128::from(refunded) / i128::from(p.amount_cents)) as i64
            } else {
                0
            };
            sqlx::query(
                "UPDATE billing_payments SET refunded_cents = $2, \
                 credits_to_reverse = CASE WHEN credits_to_reverse < $3 THEN $3 \
                 ELSE credits_to_reverse END \
                 WHERE id = $1 AND refunded_cents < $2",
            )
            .bind(&p.id)
            .bind(refunded)
            .bind(target)
            .execute(&mut *$tx)
            .await?;
            if let Some(user_id) = &p.user_id {
                settle_debt!($tx, user_id.as_str(), $now).await?;
            }
            Ok::<(), StoreError>(())
        }
    };
}
impl Db {
    /// A user's plan row, if they have one.
    pub async fn user_plan(&self, user_id: &str) -> StoreResult<Option<UserPlan>> {
        let sql = format!("SELECT {PLAN_COLUMNS} FROM billing_plans WHERE user_id = $1");
        let row = with_pool!(self, pool => sqlx::query_as::<_, UserPlan>(&sql)
            .bind(user_id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Add credits once per `key`: false (and nothing written) when the key was used before.
    pub async fn add_credits_once(
        &self,
        credit: &CreditOnce,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        if credit.amount == 0 {
            return Err(StoreError::InvalidCredits("a credit change of 0".into()));
        }
        let written = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            lock_user!(tx, &credit.user_id).await?;
            let written = credit_once!(tx, &credit.user_id, credit.kind.as_str(), credit.amount,
                &credit.note, &credit.key, now).await?;
            settle_debt!(tx, credit.user_id.as_str(), now).await?;
            tx.commit().await?;
            Ok::<bool, StoreError>(written)
        }.await)?;
        Ok(written)
    }

    /// The scheduler's grant of `plan`'s monthly credits for `month` (`YYYY-MM`); see
    /// [`plan_grant!`]. Returns the credits added (0 when already granted).
    pub async fn grant_plan_credits(
        &self,
        user_id: &str,
        plan: &str,
        credits: i64,
        month: &str,
        now: UnixMillis,
    ) -> StoreResult<i64> {
        let n = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let n = plan_grant!(tx, user_id, plan, credits, month, now).await?;
            settle_debt!(tx, user_id, now).await?;
            tx.commit().await?;
            Ok::<i64, StoreError>(n)
        }.await)?;
        Ok(n)
    }

    /// Users who are not deleted, with their plan row, ids after `after`, at most `limit`.
    pub async fn users_with_plans(
        &self,
        after: &str,
        limit: u32,
    ) -> StoreResult<Vec<(String, Option<UserPlan>)>> {
        let ids: Vec<String> = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT id FROM users WHERE deleted_at IS NULL AND id > $1 ORDER BY id LIMIT $2")
            .bind(after).bind(i64::from(limit)).fetch_all(pool).await)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let plan = self.user_plan(&id).await?;
            out.push((id, plan));
        }
        Ok(out)
    }

    /// Apply what falls due at a period's end: a scheduled downgrade takes over, a cancelled
    /// subscription returns its user to the default plan. Returns the rows changed.
    pub async fn roll_plans(&self, now: UnixMillis) -> StoreResult<u64> {
        let n = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let ended = sqlx::query(
                "DELETE FROM billing_plans WHERE period_end IS NOT NULL AND period_end <= $1 \
                 AND (cancel_at_period_end <> 0 OR status = 'canceled')",
            )
            .bind(now).execute(&mut *tx).await?.rows_affected();
            let downgraded = sqlx::query(
                "UPDATE billing_plans SET plan = pending_plan, pending_plan = NULL, updated_at = $1 \
                 WHERE pending_plan IS NOT NULL AND period_end IS NOT NULL AND period_end <= $1",
            )
            .bind(now).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok::<u64, StoreError>(ended + downgraded)
        }.await)?;
        Ok(n)
    }

    /// Jobs of the user that are queued or running.
    pub async fn active_job_count(&self, user_id: &str) -> StoreResult<i64> {
        let sql = "SELECT COUNT(*) FROM jobs WHERE owner_id = $1 \
            AND status IN ('queued', 'running')";
        let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(user_id).fetch_one(pool).await)?;
        Ok(n)
    }

    pub async fn create_checkout(&self, checkout: &Checkout) -> StoreResult<()> {
        let sql = "INSERT INTO billing_checkouts (id, user_id, processor, item_kind, item, \
            session_id, status, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&checkout.id).bind(&checkout.user_id).bind(&checkout.processor)
            .bind(&checkout.item_kind).bind(&checkout.item).bind(&checkout.session_id)
            .bind(&checkout.status).bind(checkout.created_at).bind(checkout.expires_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn set_checkout_session(&self, id: &str, session_id: &str) -> StoreResult<()> {
        let sql = "UPDATE billing_checkouts SET session_id = $2 WHERE id = $1";
        with_pool!(self, pool => sqlx::query(sql).bind(id).bind(session_id)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn checkout(&self, id: &str) -> StoreResult<Option<Checkout>> {
        let sql = "SELECT id, user_id, processor, item_kind, item, session_id, status, \
            created_at, expires_at FROM billing_checkouts WHERE id = $1";
        let row = with_pool!(self, pool => sqlx::query_as::<_, Checkout>(sql)
            .bind(id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Open checkouts past their lifetime become `expired`; returns how many.
    pub async fn expire_checkouts(&self, now: UnixMillis) -> StoreResult<u64> {
        let sql = "UPDATE billing_checkouts SET status = 'expired' \
            WHERE status = 'open' AND expires_at <= $1";
        let n = with_pool!(self, pool => sqlx::query(sql).bind(now).execute(pool).await
            .map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// A checkout whose session could not be created is closed at once.
    pub async fn expire_checkouts_by_id(&self, id: &str) -> StoreResult<()> {
        let sql =
            "UPDATE billing_checkouts SET status = 'expired' WHERE id = $1 AND status = 'open'";
        with_pool!(self, pool => sqlx::query(sql).bind(id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The user's plan row by the processor's subscription id.
    pub async fn plan_by_subscription(
        &self,
        processor: &str,
        subscription_id: &str,
    ) -> StoreResult<Option<UserPlan>> {
        let sql = format!(
            "SELECT {PLAN_COLUMNS} FROM billing_plans WHERE processor = $1 AND subscription_id = $2"
        );
        let row = with_pool!(self, pool => sqlx::query_as::<_, UserPlan>(&sql)
            .bind(processor).bind(subscription_id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// The user's payments, newest first.
    pub async fn payments(&self, user_id: &str) -> StoreResult<Vec<Payment>> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM billing_payments WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, Payment>(&sql)
            .bind(user_id).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Whether a payment with this reference (the processor's payment intent, order or
    /// session id) is recorded: a refund for one not yet recorded arrived before its payment.
    pub async fn payment_known(&self, processor: &str, reference: &str) -> StoreResult<bool> {
        let sql = "SELECT COUNT(*) FROM billing_payments \
            WHERE processor = $1 AND (payment_ref = $2 OR external_id = $2)";
        let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(processor).bind(reference).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// Payment records detached from a purged account (P-RET-4) and created before `cutoff`
    /// are deleted; returns how many.
    pub async fn purge_detached_payments(&self, cutoff: UnixMillis) -> StoreResult<u64> {
        let sql = "DELETE FROM billing_payments WHERE user_id IS NULL AND created_at < $1";
        let n = with_pool!(self, pool => sqlx::query(sql).bind(cutoff).execute(pool).await
            .map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// Record that an event was received and could not be applied (a bad signature is never
    /// recorded: anyone could send one). Idempotent on the event id.
    pub async fn record_billing_event(
        &self,
        processor: &str,
        event_id: &str,
        kind: &str,
        outcome: &str,
        now: UnixMillis,
    ) -> StoreResult<EventOutcome> {
        let sql = "INSERT INTO billing_events (processor, event_id, type, outcome, received_at) \
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (processor, event_id) DO NOTHING";
        let n = with_pool!(self, pool => sqlx::query(sql).bind(processor).bind(event_id)
            .bind(kind).bind(outcome).bind(now).execute(pool).await
            .map(|r| r.rows_affected()))?;
        Ok(if n == 1 {
            EventOutcome::Applied
        } else {
            EventOutcome::Duplicate
        })
    }

    /// Apply one webhook event's whole effect with its event id, in one transaction; an id seen
    /// before changes nothing.
    pub async fn apply_billing_event(
        &self,
        processor: &str,
        event_id: &str,
        kind: &str,
        change: &BillingChange,
        now: UnixMillis,
    ) -> StoreResult<EventOutcome> {
        let outcome = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let seen = sqlx::query(
                "INSERT INTO billing_events (processor, event_id, type, outcome, received_at) \
                 VALUES ($1, $2, $3, 'applied', $4) ON CONFLICT (processor, event_id) DO NOTHING",
            )
            .bind(processor).bind(event_id).bind(kind).bind(now)
            .execute(&mut *tx).await?;
            if seen.rows_affected() == 0 {
                return Ok::<EventOutcome, StoreError>(EventOutcome::Duplicate);
            }
            if let Some(p) = &change.payment {
                sqlx::query(
                    "INSERT INTO billing_payments (id, user_id, processor, external_id, \
                     payment_ref, item, description, amount_cents, currency, tax_cents, \
                     receipt_url, credits, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                     ON CONFLICT (processor, external_id) DO NOTHING",
                )
                .bind(new_id()).bind(&p.user_id).bind(&p.processor).bind(&p.external_id)
                .bind(&p.payment_ref).bind(&p.item).bind(&p.description).bind(p.amount_cents)
                .bind(&p.currency).bind(p.tax_cents).bind(&p.receipt_url).bind(p.credits)
                .bind(now)
                .execute(&mut *tx).await?;
            }
            for c in &change.credits {
                lock_user!(tx, &c.user_id).await?;
                credit_once!(tx, &c.user_id, c.kind.as_str(), c.amount, &c.note, &c.key, now)
                    .await?;
                settle_debt!(tx, c.user_id.as_str(), now).await?;
            }
            if let Some(plan) = &change.plan {
                match plan {
                    PlanChange::Set { user_id, plan, processor, customer_id, subscription_id,
                        period_end } => {
                        sqlx::query(
                            "INSERT INTO billing_plans (user_id, plan, status, processor, \
                             customer_id, subscription_id, period_end, cancel_at_period_end, \
                             pending_plan, updated_at) \
                             VALUES ($1, $2, 'active', $3, $4, $5, $6, 0, NULL, $7) \
                             ON CONFLICT (user_id) DO UPDATE SET plan = $2, status = 'active', \
                             processor = $3, customer_id = COALESCE($4, billing_plans.customer_id), \
                             subscription_id = $5, period_end = $6, cancel_at_period_end = 0, \
                             pending_plan = NULL, updated_at = $7",
                        )
                        .bind(user_id).bind(plan).bind(processor).bind(customer_id)
                        .bind(subscription_id).bind(period_end).bind(now)
                        .execute(&mut *tx).await?;
                    }
                    PlanChange::Subscription { processor, subscription_id, status, period_end,
                        cancel_at_period_end, pending_plan, plan } => {
                        let (set_pending, pending) = match pending_plan {
                            Some(p) => (true, p.clone()),
                            None => (false, None),
                        };
                        sqlx::query(
                            "UPDATE billing_plans SET status = COALESCE($3, status), \
                             period_end = COALESCE($4, period_end), \
                             cancel_at_period_end = COALESCE($5, cancel_at_period_end), \
                             pending_plan = CASE WHEN $6 THEN $7 ELSE pending_plan END, \
                             plan = COALESCE($8, plan), updated_at = $9 \
                             WHERE processor = $1 AND subscription_id = $2",
                        )
                        .bind(processor).bind(subscription_id).bind(status).bind(period_end)
                        .bind(cancel_at_period_end.map(i64::from)).bind(set_pending).bind(pending)
                        .bind(plan).bind(now)
                        .execute(&mut *tx).await?;
                    }
                    PlanChange::Ended { processor, subscription_id } => {
                        sqlx::query(
                            "DELETE FROM billing_plans WHERE processor = $1 AND subscription_id = $2",
                        )
                        .bind(processor).bind(subscription_id)
                        .execute(&mut *tx).await?;
                    }
                }
            }
            if let Some((user_id, plan, credits, month)) = &change.plan_grant {
                plan_grant!(tx, user_id.as_str(), plan, *credits, month.as_str(), now).await?;
                settle_debt!(tx, user_id.as_str(), now).await?;
            }
            if let Some(id) = &change.checkout_completed {
                sqlx::query("UPDATE billing_checkouts SET status = 'completed' WHERE id = $1")
                    .bind(id).execute(&mut *tx).await?;
            }
            if let Some((processor, payment_ref, refunded_cents)) = &change.refund {
                let sql = format!(
                    "SELECT {PAYMENT_COLUMNS} FROM billing_payments \
                     WHERE processor = $1 AND (payment_ref = $2 OR external_id = $2)"
                );
                let payment: Option<Payment> = sqlx::query_as(&sql)
                    .bind(processor).bind(payment_ref).fetch_optional(&mut *tx).await?;
                if let Some(p) = payment {
                    reverse_payment!(tx, &p, *refunded_cents, now).await?;
                }
            }
            if let Some((processor, payment_ref, url)) = &change.receipt {
                sqlx::query(
                    "UPDATE billing_payments SET receipt_url = $3 \
                     WHERE processor = $1 AND (payment_ref = $2 OR external_id = $2)",
                )
                .bind(processor).bind(payment_ref).bind(url)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(EventOutcome::Applied)
        }.await)?;
        Ok(outcome)
    }
}

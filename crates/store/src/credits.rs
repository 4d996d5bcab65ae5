//! Credits (P-BILL-1, P-BILL-4): a ledger per user whose sum is the balance, and holds that tie a
//! job revision's cost to its outcome.
//!
//! A job with a cost is only queued if the balance covers it: queueing writes a `spend` entry
//! and a `held` hold in the same transaction as the job row. When the revision succeeds the hold
//! becomes `charged` (the spend stands); when it fails, is cancelled, deleted or replaced by a new
//! revision before it ran, the hold becomes `released` and a `refund` entry gives the credits
//! back. Holds are settled inside the queue's own transactions, so a job can never end without
//! its credits being settled, nor be settled twice.

use serde::Serialize;

use crate::db::{new_id, with_pool, BeginWrite, UnixMillis};
use crate::error::{StoreError, StoreResult};
use crate::Db;

/// Why the ledger changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditKind {
    /// Credits given by the operator or a plan (sign-up, monthly grant).
    Grant,
    /// Credits bought.
    Purchase,
    /// A job's cost, taken when it was queued.
    Spend,
    /// A failed or cancelled job's cost, given back.
    Refund,
}

impl CreditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditKind::Grant => "grant",
            CreditKind::Purchase => "purchase",
            CreditKind::Spend => "spend",
            CreditKind::Refund => "refund",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        Ok(match s {
            "grant" => CreditKind::Grant,
            "purchase" => CreditKind::Purchase,
            "spend" => CreditKind::Spend,
            "refund" => CreditKind::Refund,
            other => return Err(StoreError::Corrupt(format!("credit kind `{other}`"))),
        })
    }
}

/// One change of a user's balance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerEntry {
    pub id: String,
    pub kind: CreditKind,
    /// Positive for grants, purchases and refunds, negative for spends.
    pub amount: i64,
    pub job_id: Option<String>,
    pub revision: Option<i64>,
    pub note: String,
    pub created_at: UnixMillis,
}

#[derive(sqlx::FromRow)]
struct LedgerRow {
    id: String,
    kind: String,
    amount: i64,
    job_id: Option<String>,
    revision: Option<i64>,
    note: String,
    created_at: i64,
}

impl LedgerRow {
    fn into_entry(self) -> StoreResult<LedgerEntry> {
        Ok(LedgerEntry {
            kind: CreditKind::parse(&self.kind)?,
            id: self.id,
            amount: self.amount,
            job_id: self.job_id,
            revision: self.revision,
            note: self.note,
            created_at: self.created_at,
        })
    }
}

pub(crate) const INSERT_LEDGER: &str = "INSERT INTO credit_ledger \
    (id, user_id, kind, amount, job_id, revision, note, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Inside the caller's write transaction: take what `$user_id` owes after refunds and chargebacks
/// (see `reverse_payment!`) from their balance, oldest payment first, as far as the balance
/// goes and never below zero (P-BILL-1). Called wherever credits arrive and before every hold,
/// so owed credits are never spent. Returns the credits taken.
macro_rules! settle_debt {
    ($tx:expr, $user_id:expr, $now:expr) => {
        async {
            let user_id: &str = $user_id;
            let owed: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT id, credits_to_reverse, credits_reversed FROM billing_payments \
                 WHERE user_id = $1 AND credits_to_reverse > credits_reversed \
                 ORDER BY created_at, id",
            )
            .bind(user_id)
            .fetch_all(&mut *$tx)
            .await?;
            if owed.is_empty() {
                return Ok::<i64, $crate::error::StoreError>(0);
            }
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(user_id)
                .execute(&mut *$tx)
                .await?;
            let mut balance: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_ledger WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_one(&mut *$tx)
            .await?;
            let mut taken = 0i64;
            for (payment, to_reverse, reversed) in owed {
                let take = (to_reverse - reversed).min(balance);
                if take <= 0 {
                    break;
                }
                let now_reversed = reversed + take;
                sqlx::query(
                    "UPDATE billing_payments SET credits_reversed = $2 \
                     WHERE id = $1 AND credits_reversed = $3",
                )
                .bind(&payment)
                .bind(now_reversed)
                .bind(reversed)
                .execute(&mut *$tx)
                .await?;
                sqlx::query(
                    "INSERT INTO credit_ledger \
                     (id, user_id, kind, amount, job_id, revision, note, created_at, idempotency_key) \
                     VALUES ($1, $2, 'purchase', $3, NULL, NULL, $4, $5, $6)",
                )
                .bind($crate::db::new_id())
                .bind(user_id)
                .bind(-take)
                .bind(format!("payment refunded: {take} credits taken back"))
                .bind($now)
                .bind(format!("reversal:{payment}:{now_reversed}"))
                .execute(&mut *$tx)
                .await?;
                balance -= take;
                taken += take;
            }
            Ok(taken)
        }
    };
}
pub(crate) use settle_debt;

/// Inside the caller's write transaction: take `$amount` credits from `$user_id` for one job
/// revision, or fail with [`StoreError::InsufficientCredits`] and write nothing. The no-op update
/// of the user row is what serialises concurrent holds on PostgreSQL (a row lock held to the end
/// of the transaction); SQLite's write transaction already excludes every other writer.
macro_rules! hold_credits {
    ($tx:expr, $user_id:expr, $job_id:expr, $revision:expr, $amount:expr, $now:expr) => {
        async {
            let amount: i64 = $amount;
            if amount <= 0 {
                return Ok::<(), $crate::error::StoreError>(());
            }
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind($user_id)
                .execute(&mut *$tx)
                .await?;
            // Owed credits are taken first: they are not the user's to spend.
            $crate::credits::settle_debt!($tx, $user_id, $now).await?;
            let balance: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_ledger WHERE user_id = $1",
            )
            .bind($user_id)
            .fetch_one(&mut *$tx)
            .await?;
            if balance < amount {
                return Err($crate::error::StoreError::InsufficientCredits {
                    needed: amount,
                    balance,
                });
            }
            sqlx::query($crate::credits::INSERT_LEDGER)
                .bind($crate::db::new_id())
                .bind($user_id)
                .bind("spend")
                .bind(-amount)
                .bind($job_id)
                .bind($revision)
                .bind("job cost, reserved when queued")
                .bind($now)
                .execute(&mut *$tx)
                .await?;
            sqlx::query(
                "INSERT INTO credit_holds (job_id, revision, user_id, amount, state, created_at) \
                 VALUES ($1, $2, $3, $4, 'held', $5)",
            )
            .bind($job_id)
            .bind($revision)
            .bind($user_id)
            .bind(amount)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
            Ok(())
        }
    };
}
pub(crate) use hold_credits;

/// Inside the caller's write transaction: settle the holds of `$job_id` that are still held,
/// for one revision (`Some(rev)`) or all (`None`). `$charge` true makes them final; false
/// releases them and refunds the credits. Returns the credits refunded.
macro_rules! settle_holds {
    ($tx:expr, $job_id:expr, $revision:expr, $charge:expr, $now:expr) => {
        async {
            let revision: Option<i64> = $revision;
            let charge: bool = $charge;
            let held: Vec<(i64, Option<String>, i64)> = sqlx::query_as(
                "SELECT revision, user_id, amount FROM credit_holds \
                 WHERE job_id = $1 AND state = 'held' AND ($2 IS NULL OR revision = $2)",
            )
            .bind($job_id)
            .bind(revision)
            .fetch_all(&mut *$tx)
            .await?;
            let mut refunded = 0i64;
            for (rev, user_id, amount) in held {
                sqlx::query(
                    "UPDATE credit_holds SET state = $3, settled_at = $4 \
                     WHERE job_id = $1 AND revision = $2",
                )
                .bind($job_id)
                .bind(rev)
                .bind(if charge { "charged" } else { "released" })
                .bind($now)
                .execute(&mut *$tx)
                .await?;
                if !charge && user_id.is_some() {
                    sqlx::query($crate::credits::INSERT_LEDGER)
                        .bind($crate::db::new_id())
                        .bind(&user_id)
                        .bind("refund")
                        .bind(amount)
                        .bind($job_id)
                        .bind(rev)
                        .bind("job did not complete: reserved cost returned")
                        .bind($now)
                        .execute(&mut *$tx)
                        .await?;
                    refunded += amount;
                    if let Some(user_id) = user_id.as_deref() {
                        $crate::credits::settle_debt!($tx, user_id, $now).await?;
                    }
                }
            }
            Ok::<i64, $crate::error::StoreError>(refunded)
        }
    };
}
pub(crate) use settle_holds;

/// A job revision's hold, for showing the reserved cost on the job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreditHold {
    pub revision: i64,
    pub amount: i64,
    /// `held`, `charged` or `released`.
    pub state: String,
}

impl Db {
    /// The user's balance: the sum of their ledger (P-BILL-1).
    pub async fn credit_balance(&self, user_id: &str) -> StoreResult<i64> {
        let sql = "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_ledger \
            WHERE user_id = $1";
        let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(user_id).fetch_one(pool).await)?;
        Ok(n)
    }

    /// Credits the user owes after refunds and chargebacks their balance could not cover yet;
    /// taken from the next credits they receive (P-BILL-1).
    pub async fn credits_owed(&self, user_id: &str) -> StoreResult<i64> {
        let sql = "SELECT CAST(COALESCE(SUM(credits_to_reverse - credits_reversed), 0) AS BIGINT) \
            FROM billing_payments WHERE user_id = $1";
        let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(user_id).fetch_one(pool).await)?;
        Ok(n)
    }

    /// The user's ledger, newest first, at most `limit` entries older than id `before`.
    pub async fn credit_ledger(
        &self,
        user_id: &str,
        limit: u32,
        before: Option<&str>,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let sql = "SELECT id, kind, amount, job_id, revision, note, created_at FROM credit_ledger \
            WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
        let rows = with_pool!(self, pool => sqlx::query_as::<_, LedgerRow>(sql)
            .bind(user_id).bind(before.unwrap_or("~")).bind(i64::from(limit.clamp(1, 10_000)))
            .fetch_all(pool).await)?;
        rows.into_iter().map(LedgerRow::into_entry).collect()
    }

    /// Add credits (a grant by the operator or a plan, or a purchase). Spends and refunds are
    /// written only by the queue.
    pub async fn add_credits(
        &self,
        user_id: &str,
        kind: CreditKind,
        amount: i64,
        note: &str,
        now: UnixMillis,
    ) -> StoreResult<LedgerEntry> {
        if !matches!(kind, CreditKind::Grant | CreditKind::Purchase) || amount <= 0 {
            return Err(StoreError::InvalidCredits(
                "only positive grants and purchases can be added".into(),
            ));
        }
        let id = new_id();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            sqlx::query(INSERT_LEDGER)
                .bind(&id).bind(user_id).bind(kind.as_str()).bind(amount)
                .bind(None::<String>).bind(None::<i64>).bind(note).bind(now)
                .execute(&mut *tx).await?;
            settle_debt!(tx, user_id, now).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }.await)?;
        Ok(LedgerEntry {
            id,
            kind,
            amount,
            job_id: None,
            revision: None,
            note: note.to_owned(),
            created_at: now,
        })
    }

    /// The holds of one job, oldest revision first.
    pub async fn credit_holds(&self, job_id: &str) -> StoreResult<Vec<CreditHold>> {
        let sql = "SELECT revision, amount, state FROM credit_holds WHERE job_id = $1 \
            ORDER BY revision";
        let rows: Vec<(i64, i64, String)> = with_pool!(self, pool => sqlx::query_as(sql)
            .bind(job_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(revision, amount, state)| CreditHold {
                revision,
                amount,
                state,
            })
            .collect())
    }
}

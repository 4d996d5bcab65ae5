//! Outbound webhooks (issue 23): endpoints that API users register per token, the link from a
//! job to the token that submitted it, and the delivery outbox.
//!
//! A delivery row is written inside the transaction that ends the job (or records its
//! progress), with the job's final state in its payload, so an event can be neither lost by a
//! crash nor sent for a job whose end was rolled back. Senders claim due rows with a short
//! lease, so several worker processes never send the same attempt twice at once; the message id
//! stays the same on every attempt, for the receiver to de-duplicate.

use serde_json::{json, Value};

use crate::db::{new_id, with_pool, BeginWrite, Db, UnixMillis};
use crate::error::StoreResult;

pub const EVENT_SUCCEEDED: &str = "job.succeeded";
pub const EVENT_FAILED: &str = "job.failed";
pub const EVENT_PROGRESS: &str = "job.progress";

/// A registered receiver. The signing secret is sealed; [`WebhookEndpoint`] never carries it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WebhookEndpoint {
    pub id: String,
    pub user_id: String,
    pub token_id: String,
    pub url: String,
    pub progress_events: bool,
    pub created_at: UnixMillis,
    pub disabled_at: Option<UnixMillis>,
    pub disabled_reason: Option<String>,
}

/// One event for one endpoint, and how its delivery went so far.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WebhookDelivery {
    pub id: String,
    pub endpoint_id: String,
    pub job_id: String,
    pub event_type: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: UnixMillis,
    pub last_attempt_at: Option<UnixMillis>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: UnixMillis,
    pub delivered_at: Option<UnixMillis>,
}

/// A claimed delivery with what the sender needs: where to, and the sealed secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: String,
    pub endpoint_id: String,
    pub user_id: String,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub payload: String,
    pub attempts: i64,
    pub created_at: UnixMillis,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered {
        status: u16,
    },
    /// Try again at `next_attempt_at`.
    Retry {
        status: Option<u16>,
        error: String,
        next_attempt_at: UnixMillis,
    },
    /// Retries exhausted: the delivery fails and its endpoint is disabled.
    GiveUp {
        status: Option<u16>,
        error: String,
    },
}

const ENDPOINT_COLUMNS: &str =
    "id, user_id, token_id, url, progress_events, created_at, disabled_at, disabled_reason";
const DELIVERY_COLUMNS: &str = "id, endpoint_id, job_id, event_type, payload, status, attempts, \
    next_attempt_at, last_attempt_at, last_status, last_error, created_at, delivered_at";

/// The live endpoints that hear about a job: those of the token that submitted it, while the
/// token is not revoked; progress only to endpoints that asked for it.
pub(crate) const SUBSCRIBED: &str = "SELECT e.id FROM webhook_endpoints e \
    JOIN job_api_tokens t ON t.token_id = e.token_id \
    JOIN api_tokens a ON a.id = e.token_id \
    WHERE t.job_id = $1 AND e.disabled_at IS NULL AND a.revoked_at IS NULL \
      AND (NOT $2 OR e.progress_events) ORDER BY e.id";

pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (id, endpoint_id, \
    job_id, event_type, payload, status, attempts, next_attempt_at, created_at) \
    VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)";

/// A message id in the form the Standard Webhooks examples use (`msg_…`).
pub fn message_id() -> String {
    format!("msg_{}", new_id().replace('-', ""))
}

/// The event as sent: `{"type", "timestamp", "data"}`, the Standard Webhooks envelope.
pub fn envelope(event: &str, data: &Value, now: UnixMillis) -> String {
    json!({ "type": event, "timestamp": reelsmith_core::calendar::rfc3339(now), "data": data })
        .to_string()
}

/// Write the outbox rows for `$event` about `$job_id` on `$tx`, the transaction that changes the
/// job; evaluates to `Result<(), sqlx::Error>`.
macro_rules! enqueue_webhooks {
    ($tx:expr, $job_id:expr, $event:expr, $data:expr, $now:expr) => {
        async {
            let progress = $event == $crate::webhooks::EVENT_PROGRESS;
            let endpoints: Vec<String> = sqlx::query_scalar($crate::webhooks::SUBSCRIBED)
                .bind($job_id)
                .bind(progress)
                .fetch_all(&mut *$tx)
                .await?;
            if !endpoints.is_empty() {
                let payload = $crate::webhooks::envelope($event, $data, $now);
                for endpoint in endpoints {
                    sqlx::query($crate::webhooks::INSERT_DELIVERY)
                        .bind($crate::webhooks::message_id())
                        .bind(&endpoint)
                        .bind($job_id)
                        .bind($event)
                        .bind(&payload)
                        .bind($now)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
            Ok::<(), sqlx::Error>(())
        }
    };
}
pub(crate) use enqueue_webhooks;

impl Db {
    /// Remember that `token_id` submitted `job_id`, so the token's endpoints hear about it.
    /// Written after the job's own insert, so a job that already ended (a worker can be that
    /// fast) gets its final event here. The job row is locked first: either this transaction
    /// sees the job ended, or the ending transaction sees this link, never neither.
    pub async fn record_job_token(
        &self,
        job_id: &str,
        token_id: &str,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let lock = match self {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => " FOR UPDATE",
        };
        let read = format!(
            "SELECT status, current_revision, error_code, error_message FROM jobs WHERE id = $1{lock}"
        );
        let link = "INSERT INTO job_api_tokens (job_id, token_id) VALUES ($1, $2) \
            ON CONFLICT (job_id) DO NOTHING";
        type Row = (String, i64, Option<String>, Option<String>);
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let Some((status, revision, code, message)) = sqlx::query_as::<_, Row>(&read)
                .bind(job_id).fetch_optional(&mut *tx).await? else {
                return Ok(());
            };
            let n = sqlx::query(link).bind(job_id).bind(token_id)
                .execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                match status.as_str() {
                    "succeeded" => {
                        let data = json!({ "job_id": job_id, "revision": revision, "status": "succeeded" });
                        enqueue_webhooks!(tx, job_id, EVENT_SUCCEEDED, &data, now).await?;
                    }
                    "failed" => {
                        let data = json!({ "job_id": job_id, "revision": revision, "status": "failed",
                            "error": { "code": code, "message": message } });
                        enqueue_webhooks!(tx, job_id, EVENT_FAILED, &data, now).await?;
                    }
                    _ => {}
                }
            }
            tx.commit().await?;
            Ok::<(), sqlx::Error>(())
        }.await)?;
        Ok(())
    }

    /// Store a new endpoint (its signing secret sealed by the caller) and return it.
    pub async fn create_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        secret_sealed: &[u8],
    ) -> StoreResult<()> {
        let sql = "INSERT INTO webhook_endpoints (id, user_id, token_id, url, secret_sealed, \
            progress_events, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let e = endpoint;
        with_pool!(self, pool => sqlx::query(sql).bind(&e.id).bind(&e.user_id).bind(&e.token_id)
            .bind(&e.url).bind(secret_sealed).bind(e.progress_events).bind(e.created_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The owner's endpoints on one of their tokens, oldest first.
    pub async fn list_webhook_endpoints(
        &self,
        user_id: &str,
        token_id: &str,
    ) -> StoreResult<Vec<WebhookEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE user_id = $1 AND token_id = $2 \
             ORDER BY created_at, id"
        );
        Ok(
            with_pool!(self, pool => sqlx::query_as::<_, WebhookEndpoint>(&sql)
            .bind(user_id).bind(token_id).fetch_all(pool).await)?,
        )
    }

    /// One of the owner's endpoints; `None` when unknown or another person's.
    pub async fn webhook_endpoint_for_owner(
        &self,
        user_id: &str,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND user_id = $2"
        );
        Ok(
            with_pool!(self, pool => sqlx::query_as::<_, WebhookEndpoint>(&sql)
            .bind(id).bind(user_id).fetch_optional(pool).await)?,
        )
    }

    /// Delete an endpoint and its delivery log. `false` when not the owner's.
    pub async fn delete_webhook_endpoint(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let sql = "DELETE FROM webhook_endpoints WHERE id = $1 AND user_id = $2";
        let n = with_pool!(self, pool => sqlx::query(sql).bind(id).bind(user_id)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// An endpoint's deliveries, newest first.
    pub async fn list_webhook_deliveries(
        &self,
        endpoint_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        Ok(
            with_pool!(self, pool => sqlx::query_as::<_, WebhookDelivery>(&sql)
            .bind(endpoint_id).bind(limit).fetch_all(pool).await)?,
        )
    }

    /// Claim up to `limit` due deliveries of enabled endpoints for `lease_ms`. A claim is a
    /// conditional update, so two senders racing for one row get it once.
    pub async fn claim_due_webhooks(
        &self,
        limit: i64,
        lease_ms: i64,
        now: UnixMillis,
    ) -> StoreResult<Vec<DueDelivery>> {
        let candidates = "SELECT d.id FROM webhook_deliveries d \
            JOIN webhook_endpoints e ON e.id = d.endpoint_id \
            WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
              AND (d.lease_until IS NULL OR d.lease_until <= $1) AND e.disabled_at IS NULL \
            ORDER BY d.next_attempt_at, d.id LIMIT $2";
        let claim = "UPDATE webhook_deliveries SET lease_until = $2 WHERE id = $1 \
            AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $3)";
        let read = "SELECT d.id, d.endpoint_id, e.user_id, e.url, e.secret_sealed, d.payload, \
            d.attempts, d.created_at FROM webhook_deliveries d \
            JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1";
        let ids: Vec<String> = with_pool!(self, pool => sqlx::query_scalar(candidates)
            .bind(now).bind(limit).fetch_all(pool).await)?;
        let mut claimed = Vec::new();
        for id in ids {
            let n = with_pool!(self, pool => sqlx::query(claim).bind(&id).bind(now + lease_ms)
                .bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
            if n != 1 {
                continue;
            }
            let row = with_pool!(self, pool => sqlx::query_as::<_, DueDelivery>(read)
                .bind(&id).fetch_optional(pool).await)?;
            claimed.extend(row);
        }
        Ok(claimed)
    }

    /// Record one attempt. On [`AttemptOutcome::GiveUp`] the endpoint is disabled and its other
    /// pending deliveries fail with it, in the same transaction; the answer says whether this
    /// call disabled it (so the owner is told once).
    pub async fn record_webhook_attempt(
        &self,
        delivery: &DueDelivery,
        outcome: &AttemptOutcome,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let attempts = delivery.attempts + 1;
        match outcome {
            AttemptOutcome::Delivered { status } => {
                let sql = "UPDATE webhook_deliveries SET status = 'delivered', attempts = $2, \
                    last_attempt_at = $3, last_status = $4, last_error = NULL, delivered_at = $3, \
                    lease_until = NULL WHERE id = $1";
                with_pool!(self, pool => sqlx::query(sql).bind(&delivery.id).bind(attempts)
                    .bind(now).bind(i64::from(*status)).execute(pool).await.map(|_| ()))?;
                Ok(false)
            }
            AttemptOutcome::Retry {
                status,
                error,
                next_attempt_at,
            } => {
                let sql = "UPDATE webhook_deliveries SET attempts = $2, last_attempt_at = $3, \
                    last_status = $4, last_error = $5, next_attempt_at = $6, lease_until = NULL \
                    WHERE id = $1";
                with_pool!(self, pool => sqlx::query(sql).bind(&delivery.id).bind(attempts)
                    .bind(now).bind(status.map(i64::from)).bind(error).bind(*next_attempt_at)
                    .execute(pool).await.map(|_| ()))?;
                Ok(false)
            }
            AttemptOutcome::GiveUp { status, error } => {
                let this = "UPDATE webhook_deliveries SET status = 'failed', attempts = $2, \
                    last_attempt_at = $3, last_status = $4, last_error = $5, lease_until = NULL \
                    WHERE id = $1";
                let disable =
                    "UPDATE webhook_endpoints SET disabled_at = $2, disabled_reason = $3 \
                    WHERE id = $1 AND disabled_at IS NULL";
                let others = "UPDATE webhook_deliveries SET status = 'failed', \
                    last_error = 'endpoint disabled', lease_until = NULL \
                    WHERE endpoint_id = $1 AND status = 'pending'";
                let reason = format!("{attempts} attempts failed; last: {error}");
                with_pool!(self, pool => async {
                    let mut tx = pool.begin_write().await?;
                    sqlx::query(this).bind(&delivery.id).bind(attempts).bind(now)
                        .bind(status.map(i64::from)).bind(error).execute(&mut *tx).await?;
                    let n = sqlx::query(disable).bind(&delivery.endpoint_id).bind(now)
                        .bind(&reason).execute(&mut *tx).await?.rows_affected();
                    sqlx::query(others).bind(&delivery.endpoint_id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok::<bool, sqlx::Error>(n == 1)
                }.await)
                .map_err(Into::into)
            }
        }
    }
}

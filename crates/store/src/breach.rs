//! Breach notices (P-COMM-3): what an operator told affected users, and when each notice went
//! out. One row per recipient records the time (or the failure); rows name the user by id, not
//! by address, so an account purge leaves the record of the send without the person.

use serde::Serialize;

use crate::db::{new_id, with_pool, BeginWrite, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};

/// A notice as written by the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct BreachNotice {
    pub id: String,
    pub subject: String,
    /// The message text, with `{name}` and `{product}` placeholders.
    pub template: String,
    /// When the operator became aware of the breach, if given: the 72-hour target runs from it.
    pub discovered_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
}

/// One attempt to deliver a notice to one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct BreachSend {
    pub user_id: Option<String>,
    pub seq: i64,
    /// `sent` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub sent_at: UnixMillis,
}

/// A notice with the counts of its sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreachSummary {
    pub notice: BreachNotice,
    pub sent: i64,
    pub failed: i64,
    pub first_sent_at: Option<UnixMillis>,
    pub last_sent_at: Option<UnixMillis>,
}

impl Db {
    pub async fn create_breach_notice(
        &self,
        subject: &str,
        template: &str,
        discovered_at: Option<UnixMillis>,
        now: UnixMillis,
    ) -> StoreResult<BreachNotice> {
        let notice = BreachNotice {
            id: new_id(),
            subject: subject.to_owned(),
            template: template.to_owned(),
            discovered_at,
            created_at: now,
        };
        let sql = "INSERT INTO breach_notices (id, subject, template, discovered_at, created_at) \
            VALUES ($1, $2, $3, $4, $5)";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&notice.id).bind(subject).bind(template).bind(discovered_at).bind(now)
            .execute(pool).await.map(|_| ()))?;
        Ok(notice)
    }

    pub async fn breach_notice(&self, id: &str) -> StoreResult<Option<BreachNotice>> {
        let sql = "SELECT id, subject, template, discovered_at, created_at FROM breach_notices \
            WHERE id = $1";
        let row = with_pool!(self, pool => sqlx::query_as::<_, BreachNotice>(sql)
            .bind(id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Record one delivery attempt: `error` is `None` when the message was handed to the mail
    /// transport.
    pub async fn record_breach_send(
        &self,
        notice_id: &str,
        user_id: &str,
        error: Option<&str>,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let status = if error.is_some() { "failed" } else { "sent" };
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let seq: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM breach_notice_sends WHERE notice_id = $1",
            )
            .bind(notice_id).fetch_one(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO breach_notice_sends (notice_id, user_id, seq, status, error, sent_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(notice_id).bind(user_id).bind(seq).bind(status).bind(error).bind(now)
            .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }.await)
    }

    /// Every attempt for a notice, in order.
    pub async fn breach_sends(&self, notice_id: &str) -> StoreResult<Vec<BreachSend>> {
        let sql = "SELECT user_id, seq, status, error, sent_at FROM breach_notice_sends \
            WHERE notice_id = $1 ORDER BY seq";
        let rows = with_pool!(self, pool => sqlx::query_as::<_, BreachSend>(sql)
            .bind(notice_id).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Users of a notice whose attempts all failed so far (for a retry).
    pub async fn breach_unsent_users(&self, notice_id: &str) -> StoreResult<Vec<String>> {
        let sql = "SELECT DISTINCT f.user_id FROM breach_notice_sends f \
            WHERE f.notice_id = $1 AND f.status = 'failed' AND f.user_id IS NOT NULL \
            AND NOT EXISTS (SELECT 1 FROM breach_notice_sends s WHERE s.notice_id = f.notice_id \
                AND s.user_id = f.user_id AND s.status = 'sent') ORDER BY f.user_id";
        let rows = with_pool!(self, pool => sqlx::query_scalar::<_, String>(sql)
            .bind(notice_id).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// The notices sent (or attempted) to one user, with when: (notice, attempt), oldest first.
    pub async fn breach_notices_to(
        &self,
        user_id: &str,
    ) -> StoreResult<Vec<(BreachNotice, BreachSend)>> {
        let sql = "SELECT n.id, n.subject, n.template, n.discovered_at, n.created_at, \
            s.user_id, s.seq, s.status, s.error, s.sent_at \
            FROM breach_notice_sends s JOIN breach_notices n ON n.id = s.notice_id \
            WHERE s.user_id = $1 ORDER BY s.sent_at, s.seq";
        type Row = (
            String,
            String,
            String,
            Option<i64>,
            i64,
            Option<String>,
            i64,
            String,
            Option<String>,
            i64,
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, Row>(sql)
            .bind(user_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    BreachNotice {
                        id: r.0,
                        subject: r.1,
                        template: r.2,
                        discovered_at: r.3,
                        created_at: r.4,
                    },
                    BreachSend {
                        user_id: r.5,
                        seq: r.6,
                        status: r.7,
                        error: r.8,
                        sent_at: r.9,
                    },
                )
            })
            .collect())
    }

    /// Every notice, newest first, with its counts.
    pub async fn breach_notices(&self) -> StoreResult<Vec<BreachSummary>> {
        let sql = "SELECT id, subject, template, discovered_at, created_at FROM breach_notices \
            ORDER BY created_at DESC, id DESC";
        let notices = with_pool!(self, pool => sqlx::query_as::<_, BreachNotice>(sql)
            .fetch_all(pool).await)?;
        let counts = "SELECT \
            COALESCE(SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0), \
            COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0), \
            MIN(CASE WHEN status = 'sent' THEN sent_at END), \
            MAX(CASE WHEN status = 'sent' THEN sent_at END) \
            FROM breach_notice_sends WHERE notice_id = $1";
        let mut out = Vec::with_capacity(notices.len());
        for notice in notices {
            let (sent, failed, first, last) = with_pool!(self, pool =>
                sqlx::query_as::<_, (i64, i64, Option<i64>, Option<i64>)>(counts)
                    .bind(&notice.id).fetch_one(pool).await)?;
            out.push(BreachSummary {
                notice,
                sent,
                failed,
                first_sent_at: first,
                last_sent_at: last,
            });
        }
        Ok(out)
    }
}

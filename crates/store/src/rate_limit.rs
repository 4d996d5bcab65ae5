//! Fixed-window rate limits kept in the database, so every API process counts against the same
//! budget (P-SEC-7).

use crate::db::{with_pool, Db, UnixMillis};
use crate::error::StoreResult;

/// The verdict on one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Within the limit; `remaining` more hits fit in this window.
    Allowed { remaining: i64 },
    /// Over the limit; the window resets in `retry_after_ms`.
    Limited { retry_after_ms: i64 },
}

impl RateDecision {
    pub fn is_allowed(self) -> bool {
        matches!(self, RateDecision::Allowed { .. })
    }
}

#[derive(sqlx::FromRow)]
struct Counter {
    window_start: i64,
    count: i64,
}

impl Db {
    /// Count one hit against `(scope, key)` (for example `("login", ip)`) and decide. Windows are
    /// aligned to multiples of `window_ms`; the increment and the window roll-over are one
    /// atomic upsert, so concurrent hits from many processes are all counted.
    pub async fn rate_limit_hit(
        &self,
        scope: &str,
        key: &str,
        limit: i64,
        window_ms: i64,
        now: UnixMillis,
    ) -> StoreResult<RateDecision> {
        let window_ms = window_ms.max(1);
        let window_start = now - now.rem_euclid(window_ms);
        let sql =
            "INSERT INTO rate_limits (scope, key, window_start, count) VALUES ($1, $2, $3, 1) \
            ON CONFLICT (scope, key) DO UPDATE SET \
              count = CASE WHEN rate_limits.window_start = excluded.window_start \
                           THEN rate_limits.count + 1 ELSE 1 END, \
              window_start = excluded.window_start \
            RETURNING window_start, count";
        let counter = with_pool!(self, pool => sqlx::query_as::<_, Counter>(sql)
            .bind(scope).bind(key).bind(window_start)
            .fetch_one(pool).await)?;
        Ok(if counter.count <= limit {
            RateDecision::Allowed {
                remaining: limit - counter.count,
            }
        } else {
            RateDecision::Limited {
                retry_after_ms: (counter.window_start + window_ms - now).max(1),
            }
        })
    }

    /// Forget the count for `(scope, key)`, for example after a successful sign-in.
    pub async fn rate_limit_reset(&self, scope: &str, key: &str) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query("DELETE FROM rate_limits WHERE scope = $1 AND key = $2")
            .bind(scope).bind(key).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Drop counters whose window started before `cutoff`, so the table stays small.
    pub async fn purge_rate_limits_before(&self, cutoff: UnixMillis) -> StoreResult<u64> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(cutoff).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }
}

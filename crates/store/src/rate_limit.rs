//! Rate limits kept in the database, so every API process counts against the same budget
//! (P-SEC-7). Each `(scope, key)` is a token bucket holding `limit` hits that refills one hit
//! every `window / limit`: the generic cell rate algorithm, which stores a single time per key,
//! the moment the bucket is full again (`due_at`). Unlike fixed windows, there is no boundary at
//! which a whole new burst becomes available: `limit` hits then wait, whenever they come.

use crate::db::{with_pool, Db, UnixMillis};
use crate::error::StoreResult;

/// The verdict on one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Within the limit; `remaining` more hits fit right now.
    Allowed { remaining: i64 },
    /// Over the limit; one more hit fits in `retry_after_ms`.
    Limited { retry_after_ms: i64 },
}

impl RateDecision {
    pub fn is_allowed(self) -> bool {
        matches!(self, RateDecision::Allowed { .. })
    }
}

#[derive(sqlx::FromRow)]
struct Bucket {
    due_at: i64,
    refused: i64,
}

/// One hit: allowed when the bucket, refilled up to `now`, still has room for it. A refused
/// hit leaves `due_at` alone, so hammering a full bucket does not push the wait further out.
/// `$3` is now, `$4` the cost of one hit (window / limit), `$5` the window.
const HIT_SQL: &str = "INSERT INTO rate_limits (scope, key, due_at, refused) \
    VALUES ($1, $2, $3 + $4, 0) \
    ON CONFLICT (scope, key) DO UPDATE SET \
      refused = CASE WHEN (CASE WHEN rate_limits.due_at > $3 THEN rate_limits.due_at ELSE $3 END) \
                          + $4 <= $3 + $5 \
                     THEN 0 ELSE rate_limits.refused + 1 END, \
      due_at = CASE WHEN (CASE WHEN rate_limits.due_at > $3 THEN rate_limits.due_at ELSE $3 END) \
                         + $4 <= $3 + $5 \
                    THEN (CASE WHEN rate_limits.due_at > $3 THEN rate_limits.due_at ELSE $3 END) + $4 \
                    ELSE rate_limits.due_at END \
    RETURNING due_at, refused";

/// The longest window honoured, so `now + window` cannot overflow in SQL.
const MAX_WINDOW_MS: i64 = 10 * 366 * 24 * 3_600_000;

impl Db {
    /// Count one hit against `(scope, key)` (for example `("sign_in", ip)`) at `now` and decide:
    /// at most `limit` hits at once, then one per `window_ms / limit`. The decision and the
    /// update are one atomic upsert, so concurrent hits from many processes are all counted.
    pub async fn rate_limit_hit(
        &self,
        scope: &str,
        key: &str,
        limit: i64,
        window_ms: i64,
        now: UnixMillis,
    ) -> StoreResult<RateDecision> {
        let window_ms = window_ms.clamp(1, MAX_WINDOW_MS);
        let cost = (window_ms / limit.max(1)).max(1);
        let bucket = with_pool!(self, pool => sqlx::query_as::<_, Bucket>(HIT_SQL)
            .bind(scope).bind(key).bind(now).bind(cost).bind(window_ms)
            .fetch_one(pool).await)?;
        Ok(if bucket.refused == 0 {
            RateDecision::Allowed {
                remaining: (now + window_ms - bucket.due_at) / cost,
            }
        } else {
            RateDecision::Limited {
                retry_after_ms: (bucket.due_at + cost - now - window_ms).max(1),
            }
        })
    }

    /// Forget the count for `(scope, key)`, for example after a successful sign-in.
    pub async fn rate_limit_reset(&self, scope: &str, key: &str) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query("DELETE FROM rate_limits WHERE scope = $1 AND key = $2")
            .bind(scope).bind(key).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Drop buckets that are full again by `cutoff` (they hold no history worth keeping), so
    /// the table stays small.
    pub async fn purge_rate_limits_before(&self, cutoff: UnixMillis) -> StoreResult<u64> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM rate_limits WHERE due_at < $1")
            .bind(cutoff).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }
}

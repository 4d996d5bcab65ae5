//! Marketing email is opt-in (P-COMM-1) and can be left at any time, signed in or not
//! (P-RIGHTS-4). Opting in gives the account an unsubscribe token that every marketing email's
//! link carries; the token can do one thing only, unsubscribe, so it works without a session.

use crate::db::{with_pool, Db, UnixMillis};
use crate::error::StoreResult;

/// Someone who asked for marketing email, with the token their unsubscribe link carries.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MarketingRecipient {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub unsubscribe_token: String,
}

impl Db {
    /// Opt the user in (keeping their token if they had one, else storing `new_token`) or out.
    /// False when there is no such account.
    pub async fn set_marketing_opt_in(
        &self,
        user_id: &str,
        opt_in: bool,
        new_token: &str,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let n = if opt_in {
            let sql = "UPDATE users SET marketing_opt_in_at = COALESCE(marketing_opt_in_at, $2), \
                unsubscribe_token = COALESCE(unsubscribe_token, $3), updated_at = $2 \
                WHERE id = $1 AND deleted_at IS NULL";
            with_pool!(self, pool => sqlx::query(sql)
                .bind(user_id).bind(now).bind(new_token)
                .execute(pool).await.map(|r| r.rows_affected()))?
        } else {
            let sql = "UPDATE users SET marketing_opt_in_at = NULL, updated_at = $2 WHERE id = $1";
            with_pool!(self, pool => sqlx::query(sql)
                .bind(user_id).bind(now)
                .execute(pool).await.map(|r| r.rows_affected()))?
        };
        Ok(n == 1)
    }

    /// Unsubscribe whoever `token` belongs to. Returns their id, also when they had already
    /// left (so a second click says the same thing), or `None` for a token nobody has.
    pub async fn unsubscribe_by_token(
        &self,
        token: &str,
        now: UnixMillis,
    ) -> StoreResult<Option<String>> {
        if token.is_empty() {
            return Ok(None);
        }
        let find = "SELECT id FROM users WHERE unsubscribe_token = $1";
        let id = with_pool!(self, pool => sqlx::query_scalar::<_, String>(find)
            .bind(token).fetch_optional(pool).await)?;
        if let Some(id) = &id {
            let sql = "UPDATE users SET marketing_opt_in_at = NULL, updated_at = $2 \
                WHERE id = $1 AND marketing_opt_in_at IS NOT NULL";
            with_pool!(self, pool => sqlx::query(sql)
                .bind(id).bind(now).execute(pool).await.map(|_| ()))?;
        }
        Ok(id)
    }

    /// Whether `token` belongs to an account (the unsubscribe page asks before it acts).
    pub async fn unsubscribe_token_exists(&self, token: &str) -> StoreResult<bool> {
        if token.is_empty() {
            return Ok(false);
        }
        let sql = "SELECT COUNT(*) FROM users WHERE unsubscribe_token = $1";
        let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(token).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// Everyone a marketing email may go to: opted in, address verified, account not deleted.
    pub async fn marketing_recipients(&self) -> StoreResult<Vec<MarketingRecipient>> {
        let sql = "SELECT id, email, display_name, unsubscribe_token FROM users \
            WHERE marketing_opt_in_at IS NOT NULL AND unsubscribe_token IS NOT NULL \
            AND email_verified_at IS NOT NULL AND deleted_at IS NULL ORDER BY id";
        let rows = with_pool!(self, pool => sqlx::query_as::<_, MarketingRecipient>(sql)
            .fetch_all(pool).await)?;
        Ok(rows)
    }
}

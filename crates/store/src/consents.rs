//! Consent per third-party provider (P-TP-2): an explicit opt-in, recorded with the policy version
//! the user saw, that they can withdraw at any time. The worker asks for the active consent
//! right before each transfer, so a withdrawal stops every transfer that has not started yet.

use serde::Serialize;

use crate::db::{new_id, with_pool, BeginWrite, UnixMillis};
use crate::error::{StoreError, StoreResult};
use crate::Db;

/// One grant of consent, and its withdrawal once withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Consent {
    pub id: String,
    pub provider: String,
    pub policy_version: String,
    pub granted_at: UnixMillis,
    pub withdrawn_at: Option<UnixMillis>,
}

const COLUMNS: &str = "id, provider, policy_version, granted_at, withdrawn_at";

impl Db {
    /// Record the user's opt-in for `provider` under `policy_version`. An active consent for the
    /// same provider is closed first, so there is at most one open row per provider and the
    /// history shows every version agreed to.
    pub async fn grant_consent(
        &self,
        user_id: &str,
        provider: &str,
        policy_version: &str,
        now: UnixMillis,
    ) -> StoreResult<Consent> {
        let close = "UPDATE provider_consents SET withdrawn_at = $3 \
            WHERE user_id = $1 AND provider = $2 AND withdrawn_at IS NULL";
        let insert = "INSERT INTO provider_consents \
            (id, user_id, provider, policy_version, granted_at) VALUES ($1, $2, $3, $4, $5)";
        let id = new_id();
        with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            sqlx::query(close).bind(user_id).bind(provider).bind(now).execute(&mut *tx).await?;
            sqlx::query(insert).bind(&id).bind(user_id).bind(provider).bind(policy_version)
                .bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }.await)?;
        Ok(Consent {
            id,
            provider: provider.to_owned(),
            policy_version: policy_version.to_owned(),
            granted_at: now,
            withdrawn_at: None,
        })
    }

    /// Withdraw the user's consent for `provider`; false when there was none to withdraw.
    pub async fn withdraw_consent(
        &self,
        user_id: &str,
        provider: &str,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE provider_consents SET withdrawn_at = $3 \
            WHERE user_id = $1 AND provider = $2 AND withdrawn_at IS NULL";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(provider).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The user's open consent for `provider`, if any.
    pub async fn active_consent(
        &self,
        user_id: &str,
        provider: &str,
    ) -> StoreResult<Option<Consent>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM provider_consents \
             WHERE user_id = $1 AND provider = $2 AND withdrawn_at IS NULL \
             ORDER BY granted_at DESC LIMIT 1"
        );
        let row = with_pool!(self, pool => sqlx::query_as::<_, Consent>(&sql)
            .bind(user_id).bind(provider).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Every consent the user ever gave, newest first (for their privacy page and export).
    pub async fn consents_for_user(&self, user_id: &str) -> StoreResult<Vec<Consent>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM provider_consents WHERE user_id = $1 \
             ORDER BY granted_at DESC, id DESC"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, Consent>(&sql)
            .bind(user_id).fetch_all(pool).await)?;
        Ok(rows)
    }
}

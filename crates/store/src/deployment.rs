//! The deployment's identity: one row naming the deployment, the operator key its media is
//! sealed under, and whether its media store carries the matching marker object. Processes
//! compare it with their own configuration at start (see the CLI's `deployment` module).

use crate::db::{with_pool, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};

/// The media-store object that names the deployment the store belongs to.
pub const DEPLOYMENT_MARKER_KEY: &str = "reelsmith-deployment.json";

/// The `deployment` row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Deployment {
    pub id: String,
    pub operator_key_id: String,
    pub store_marked: i64,
}

impl Deployment {
    pub fn store_marked(&self) -> bool {
        self.store_marked != 0
    }
}

impl Db {
    /// The deployment this database belongs to, if a process has claimed it.
    pub async fn deployment(&self) -> StoreResult<Option<Deployment>> {
        let sql = "SELECT id, operator_key_id, store_marked FROM deployment WHERE singleton = 1";
        Ok(
            with_pool!(self, pool => sqlx::query_as::<_, Deployment>(sql)
            .fetch_optional(pool).await)?,
        )
    }

    /// Names this database's deployment `id` unless another process did first; returns the row
    /// that won, so two processes starting together agree.
    pub async fn claim_deployment(
        &self,
        id: &str,
        operator_key_id: &str,
        now: UnixMillis,
    ) -> StoreResult<Deployment> {
        let sql =
            "INSERT INTO deployment (singleton, id, operator_key_id, store_marked, created_at) \
                   VALUES (1, $1, $2, 0, $3) ON CONFLICT (singleton) DO NOTHING";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(operator_key_id).bind(now).execute(pool).await.map(|_| ()))?;
        self.deployment().await?.ok_or_else(|| {
            StoreError::Corrupt("the deployment row is missing right after its insert".into())
        })
    }

    /// Records that the media store now holds the deployment's marker object.
    pub async fn mark_deployment_store(&self) -> StoreResult<()> {
        let sql = "UPDATE deployment SET store_marked = 1 WHERE singleton = 1";
        with_pool!(self, pool => sqlx::query(sql).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// After an operator key rotation: the deployment's media is now sealed under `key_id`.
    pub async fn set_deployment_key(&self, key_id: &str) -> StoreResult<()> {
        let sql = "UPDATE deployment SET operator_key_id = $1 WHERE singleton = 1";
        with_pool!(self, pool => sqlx::query(sql).bind(key_id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }
}

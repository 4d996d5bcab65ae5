//! Account exports (P-RIGHTS-1): one row per archive a user asked for. The archive is a sealed
//! object under the owner's data key at [`export_key`]; the row is the only record of it, so the
//! retention sweep deletes the object first and the row last.
//!
//! Life of a row: `building` (at most one per user, enforced by a partial unique index) →
//! `ready` (object stored, `expires_at` set) or `failed` (an error code, no object). A build
//! interrupted by a crash stays `building`; after [`STALE_BUILD_MS`] it no longer blocks a new
//! request and the sweep removes it.

use serde::Serialize;

use crate::db::{new_id, with_pool, BeginWrite, UnixMillis};
use crate::error::{unique_violation_on, StoreError, StoreResult};
use crate::Db;

/// A build still `building` after this long was interrupted (the server stopped mid-way): it is
/// marked failed when the user asks again, and swept. Generous: a build only copies objects.
pub const STALE_BUILD_MS: i64 = 6 * 60 * 60 * 1000;

/// The code a build left behind by a stopped server is failed with.
pub const EXPORT_INTERRUPTED: &str = "export.interrupted";

/// Where an export's archive is stored: under the owner's folder, so a listing by owner finds
/// every archive even if a row is missing.
pub fn export_key(user_id: &str, export_id: &str) -> String {
    format!("{}/{export_id}.zip", export_prefix(user_id))
}

/// The folder of every export archive of one user.
pub fn export_prefix(user_id: &str) -> String {
    format!("exports/{user_id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Building,
    Ready,
    Failed,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Building => "building",
            ExportStatus::Ready => "ready",
            ExportStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoreResult<ExportStatus> {
        match s {
            "building" => Ok(ExportStatus::Building),
            "ready" => Ok(ExportStatus::Ready),
            "failed" => Ok(ExportStatus::Failed),
            other => Err(StoreError::Corrupt(format!("export status `{other}`"))),
        }
    }
}

/// One requested export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub id: String,
    pub user_id: String,
    pub status: ExportStatus,
    /// Set once ready.
    pub object_key: Option<String>,
    /// The archive's size in bytes, once ready.
    pub size: Option<i64>,
    /// Why the build failed, a stable code.
    pub error_code: Option<String>,
    pub created_at: UnixMillis,
    pub ready_at: Option<UnixMillis>,
    /// When the download link stops working; set when ready.
    pub expires_at: Option<UnixMillis>,
}

impl Export {
    /// Ready and not yet expired at `now`: the archive can be downloaded.
    pub fn downloadable(&self, now: UnixMillis) -> bool {
        self.status == ExportStatus::Ready && self.expires_at.is_some_and(|at| now < at)
    }
}

#[derive(sqlx::FromRow)]
struct ExportRow {
    id: String,
    user_id: String,
    status: String,
    object_key: Option<String>,
    size: Option<i64>,
    error_code: Option<String>,
    created_at: i64,
    ready_at: Option<i64>,
    expires_at: Option<i64>,
}

impl ExportRow {
    fn into_export(self) -> StoreResult<Export> {
        Ok(Export {
            status: ExportStatus::parse(&self.status)?,
            id: self.id,
            user_id: self.user_id,
            object_key: self.object_key,
            size: self.size,
            error_code: self.error_code,
            created_at: self.created_at,
            ready_at: self.ready_at,
            expires_at: self.expires_at,
        })
    }
}

const COLUMNS: &str =
    "id, user_id, status, object_key, size, error_code, created_at, ready_at, expires_at";

impl Db {
    /// Record a new export in `building`. Fails with [`StoreError::ExportInProgress`] while
    /// another build of the same user runs; a build older than [`STALE_BUILD_MS`] is failed
    /// first (its server stopped), so it cannot block the user for good.
    pub async fn create_export(&self, user_id: &str, now: UnixMillis) -> StoreResult<Export> {
        let stale = "UPDATE exports SET status = 'failed', error_code = $3 \
            WHERE user_id = $1 AND status = 'building' AND created_at < $2";
        let insert = "INSERT INTO exports (id, user_id, status, created_at) \
            VALUES ($1, $2, 'building', $3)";
        let id = new_id();
        let result = with_pool!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            sqlx::query(stale).bind(user_id).bind(now - STALE_BUILD_MS).bind(EXPORT_INTERRUPTED)
                .execute(&mut *tx).await?;
            sqlx::query(insert).bind(&id).bind(user_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await
        }.await);
        if let Err(err) = result {
            // The only unique index an insert with a fresh id can hit is "one building".
            return Err(match unique_violation_on(&err) {
                Some(_) => StoreError::ExportInProgress,
                None => StoreError::Database(err),
            });
        }
        Ok(Export {
            id,
            user_id: user_id.to_owned(),
            status: ExportStatus::Building,
            object_key: None,
            size: None,
            error_code: None,
            created_at: now,
            ready_at: None,
            expires_at: None,
        })
    }

    /// The user's export with this id; `None` when missing or another user's.
    pub async fn export_for_owner(&self, user_id: &str, id: &str) -> StoreResult<Option<Export>> {
        let sql = format!("SELECT {COLUMNS} FROM exports WHERE id = $1 AND user_id = $2");
        let row = with_pool!(self, pool => sqlx::query_as::<_, ExportRow>(&sql)
            .bind(id).bind(user_id).fetch_optional(pool).await)?;
        row.map(ExportRow::into_export).transpose()
    }

    /// The user's exports, newest first.
    pub async fn list_exports(&self, user_id: &str) -> StoreResult<Vec<Export>> {
        let sql = format!("SELECT {COLUMNS} FROM exports WHERE user_id = $1 ORDER BY id DESC");
        let rows = with_pool!(self, pool => sqlx::query_as::<_, ExportRow>(&sql)
            .bind(user_id).fetch_all(pool).await)?;
        rows.into_iter().map(ExportRow::into_export).collect()
    }

    /// A build finished: the archive is stored at `object_key`. Conditional on the row still
    /// `building`; `false` means it was failed or deleted meanwhile and the caller must delete
    /// the object it wrote.
    pub async fn mark_export_ready(
        &self,
        id: &str,
        object_key: &str,
        size: i64,
        now: UnixMillis,
        expires_at: UnixMillis,
    ) -> StoreResult<bool> {
        let sql = "UPDATE exports SET status = 'ready', object_key = $2, size = $3, \
            ready_at = $4, expires_at = $5 WHERE id = $1 AND status = 'building'";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(object_key).bind(size).bind(now).bind(expires_at)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// A build failed with `code`; conditional on the row still `building`.
    pub async fn mark_export_failed(&self, id: &str, code: &str) -> StoreResult<bool> {
        let sql = "UPDATE exports SET status = 'failed', error_code = $2 \
            WHERE id = $1 AND status = 'building'";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(code)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Exports the retention sweep removes at `now`: ready ones whose link expired, failed ones
    /// created more than `keep_failed_ms` ago, and builds older than [`STALE_BUILD_MS`]
    /// (interrupted). Oldest first, at most `limit`.
    pub async fn exports_to_expire(
        &self,
        now: UnixMillis,
        keep_failed_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<Export>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM exports WHERE \
             (status = 'ready' AND expires_at <= $1) \
             OR (status = 'failed' AND created_at <= $2) \
             OR (status = 'building' AND created_at <= $3) \
             ORDER BY id LIMIT $4"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, ExportRow>(&sql)
            .bind(now).bind(now - keep_failed_ms).bind(now - STALE_BUILD_MS)
            .bind(i64::from(limit.max(1)))
            .fetch_all(pool).await)?;
        rows.into_iter().map(ExportRow::into_export).collect()
    }

    /// Delete an export's row (after its object). `false` when it was already gone.
    pub async fn delete_export(&self, id: &str) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query("DELETE FROM exports WHERE id = $1")
            .bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}

//! Uploaded source media, owned by one user, stored under a content-addressed object key.

use crate::db::{new_id, with_pool, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};

/// What kind of medium an upload holds, decided by sniffing its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadKind {
    Image,
    Audio,
    Video,
}

impl UploadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadKind::Image => "image",
            UploadKind::Audio => "audio",
            UploadKind::Video => "video",
        }
    }

    fn parse(s: &str) -> StoreResult<UploadKind> {
        match s {
            "image" => Ok(UploadKind::Image),
            "audio" => Ok(UploadKind::Audio),
            "video" => Ok(UploadKind::Video),
            other => Err(StoreError::Corrupt(format!(
                "unknown upload kind `{other}`"
            ))),
        }
    }
}

/// A stored upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub id: String,
    pub owner_id: String,
    pub kind: UploadKind,
    pub object_key: String,
    pub size: i64,
    pub mime: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_ms: Option<i64>,
    pub created_at: UnixMillis,
}

/// What recording an upload needs (the object is already stored).
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub owner_id: String,
    pub kind: UploadKind,
    pub object_key: String,
    pub size: i64,
    pub mime: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_ms: Option<i64>,
}

/// Keyset paging: at most `limit` rows older than the row with id `before`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: u32,
    pub before: Option<String>,
}

impl Page {
    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Page {
        Page {
            limit,
            before: None,
        }
    }

    /// The bound the SQL uses: ids are UUIDv7 strings, and every one sorts below "~".
    pub(crate) fn before_bound(&self) -> &str {
        self.before.as_deref().unwrap_or("~")
    }

    pub(crate) fn sql_limit(&self) -> i64 {
        i64::from(self.limit.clamp(1, 1000))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UploadRow {
    id: String,
    owner_id: String,
    kind: String,
    object_key: String,
    size: i64,
    mime: String,
    width: Option<i64>,
    height: Option<i64>,
    duration_ms: Option<i64>,
    created_at: i64,
}

impl UploadRow {
    pub(crate) fn into_upload(self) -> StoreResult<Upload> {
        Ok(Upload {
            kind: UploadKind::parse(&self.kind)?,
            id: self.id,
            owner_id: self.owner_id,
            object_key: self.object_key,
            size: self.size,
            mime: self.mime,
            width: self.width,
            height: self.height,
            duration_ms: self.duration_ms,
            created_at: self.created_at,
        })
    }
}

pub(crate) const UPLOAD_COLUMNS: &str =
    "id, owner_id, kind, object_key, size, mime, width, height, duration_ms, created_at";

impl Db {
    /// Record an upload whose object is already in media storage.
    pub async fn create_upload(&self, new: &NewUpload, now: UnixMillis) -> StoreResult<Upload> {
        let upload = Upload {
            id: new_id(),
            owner_id: new.owner_id.clone(),
            kind: new.kind,
            object_key: new.object_key.clone(),
            size: new.size,
            mime: new.mime.clone(),
            width: new.width,
            height: new.height,
            duration_ms: new.duration_ms,
            created_at: now,
        };
        let sql = format!("INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        with_pool!(self, pool => sqlx::query(&sql)
            .bind(&upload.id).bind(&upload.owner_id).bind(upload.kind.as_str())
            .bind(&upload.object_key).bind(upload.size).bind(&upload.mime)
            .bind(upload.width).bind(upload.height).bind(upload.duration_ms).bind(now)
            .execute(pool).await.map(|_| ()))?;
        Ok(upload)
    }

    /// The owner's upload with this id; `None` for anyone else's (P-SEC-4).
    pub async fn upload_for_owner(&self, owner_id: &str, id: &str) -> StoreResult<Option<Upload>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1 AND owner_id = $2");
        let row = with_pool!(self, pool => sqlx::query_as::<_, UploadRow>(&sql)
            .bind(id).bind(owner_id).fetch_optional(pool).await)?;
        row.map(UploadRow::into_upload).transpose()
    }

    /// The owner's uploads, newest first.
    pub async fn list_uploads(&self, owner_id: &str, page: &Page) -> StoreResult<Vec<Upload>> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE owner_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, UploadRow>(&sql)
            .bind(owner_id).bind(page.before_bound()).bind(page.sql_limit())
            .fetch_all(pool).await)?;
        rows.into_iter().map(UploadRow::into_upload).collect()
    }

    /// Delete the owner's upload row and return it, so the caller can delete its object when
    /// [`Db::object_key_referenced`] says nothing else uses it. `None` when not theirs.
    pub async fn delete_upload(&self, owner_id: &str, id: &str) -> StoreResult<Option<Upload>> {
        let sql = format!(
            "DELETE FROM uploads WHERE id = $1 AND owner_id = $2 RETURNING {UPLOAD_COLUMNS}"
        );
        let row = with_pool!(self, pool => sqlx::query_as::<_, UploadRow>(&sql)
            .bind(id).bind(owner_id).fetch_optional(pool).await)?;
        row.map(UploadRow::into_upload).transpose()
    }

    /// Uploads still stored under a name derived from their content: `(id, owner, object key)`.
    pub async fn content_addressed_uploads(&self) -> StoreResult<Vec<(String, String, String)>> {
        let sql = "SELECT id, owner_id, object_key FROM uploads \
                   WHERE object_key LIKE 'uploads/%/sha256/%' ORDER BY id";
        Ok(
            with_pool!(self, pool => sqlx::query_as::<_, (String, String, String)>(sql)
            .fetch_all(pool).await)?,
        )
    }

    /// Points an upload at `new` if it still names `old`; false when it no longer does (deleted
    /// or already switched by another process).
    pub async fn switch_upload_object(&self, id: &str, old: &str, new: &str) -> StoreResult<bool> {
        let sql = "UPDATE uploads SET object_key = $1 WHERE id = $2 AND object_key = $3";
        let changed = with_pool!(self, pool => sqlx::query(sql)
            .bind(new).bind(id).bind(old).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(changed > 0)
    }

    /// Bytes the owner's uploads take, as stored (their storage quota counts these).
    pub async fn upload_bytes_of(&self, owner_id: &str) -> StoreResult<i64> {
        // PostgreSQL sums BIGINT as NUMERIC; the cast keeps one Rust type for both engines.
        let sql = "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM uploads WHERE owner_id = $1";
        Ok(with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(owner_id).fetch_one(pool).await)?)
    }

    /// Whether any upload still points at this object key (content addressing lets two uploads
    /// of the same bytes share one object).
    pub async fn object_key_referenced(&self, object_key: &str) -> StoreResult<bool> {
        let sql = "SELECT COUNT(*) FROM uploads WHERE object_key = $1";
        let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(object_key).fetch_one(pool).await)?;
        Ok(n > 0)
    }
}

//! Sharing (issue 19): published works and the public gallery (P-VIS-2), unlisted share links
//! (P-VIS-3) and profile avatars (P-ACC-5).
//!
//! Everything public goes through one visibility rule, [`VISIBLE`]: the owner's account is
//! neither deleted nor banned, the work was not taken down, and the revision shown finished.
//! Unpublishing, a takedown, a ban or a deletion therefore hides a work from the gallery, the
//! profile and every share link in the same instant, with nothing to keep in step.

use serde_json::Value;

use crate::db::{new_id, with_pool, Db, UnixMillis};
use crate::error::StoreResult;
use crate::jobs::{parse_json, parse_output_keys};
use crate::uploads::{Upload, UploadRow, UPLOAD_COLUMNS};

/// The SQL condition a public work meets, over `j` (jobs) and `u` (its owner).
pub(crate) const VISIBLE: &str = "u.deleted_at IS NULL \
    AND NOT EXISTS (SELECT 1 FROM account_bans b WHERE b.user_id = u.id) \
    AND NOT EXISTS (SELECT 1 FROM takedowns t WHERE t.job_id = j.id)";

/// Which creation details the owner shows with a published work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShownDetails {
    pub prompt: bool,
    pub engine: bool,
    pub model: bool,
    pub length: bool,
}

/// A published work as its owner manages it.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    pub job_id: String,
    pub revision: i64,
    pub title: String,
    pub shown: ShownDetails,
    pub views: i64,
    pub published_at: UnixMillis,
}

/// A work as the public sees it: only what is visible, with its author.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicWork {
    pub job_id: String,
    pub revision: i64,
    pub title: String,
    pub username: String,
    pub display_name: String,
    pub owner_id: String,
    pub shown: ShownDetails,
    pub views: i64,
    pub published_at: UnixMillis,
    /// The revision's parameters and usage: the API shows only the parts `shown` allows.
    pub params: Value,
    pub usage: Option<Value>,
    pub output_keys: Vec<String>,
}

/// The gallery's orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GallerySort {
    Newest,
    MostViewed,
}

/// A share link as its owner sees it (never the token: only its hash is stored).
#[derive(Debug, Clone, PartialEq)]
pub struct ShareLink {
    pub id: String,
    pub job_id: String,
    /// `None`: always the latest finished revision.
    pub revision: Option<i64>,
    pub expires_at: Option<UnixMillis>,
    pub revoked_at: Option<UnixMillis>,
    pub views: i64,
    pub created_at: UnixMillis,
}

/// What a valid share link opens: one finished revision of one visible work.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedWork {
    pub link_id: String,
    pub job_id: String,
    pub owner_id: String,
    pub revision: i64,
    /// The job's own title, or `None` for the default (the caller derives it from `params`).
    pub title: Option<String>,
    pub params: Value,
    pub output_keys: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct PublicRow {
    job_id: String,
    revision: i64,
    title: String,
    username: String,
    display_name: String,
    owner_id: String,
    show_prompt: bool,
    show_engine: bool,
    show_model: bool,
    show_length: bool,
    views: i64,
    published_at: i64,
    params_json: String,
    usage_json: Option<String>,
    output_keys_json: String,
}

impl PublicRow {
    fn into_work(self) -> StoreResult<PublicWork> {
        Ok(PublicWork {
            params: parse_json("revision params", &self.params_json)?,
            usage: self
                .usage_json
                .as_deref()
                .map(|u| parse_json("revision usage", u))
                .transpose()?,
            output_keys: parse_output_keys(&self.output_keys_json)?,
            shown: ShownDetails {
                prompt: self.show_prompt,
                engine: self.show_engine,
                model: self.show_model,
                length: self.show_length,
            },
            job_id: self.job_id,
            revision: self.revision,
            title: self.title,
            username: self.username,
            display_name: self.display_name,
            owner_id: self.owner_id,
            views: self.views,
            published_at: self.published_at,
        })
    }
}

/// A public work's columns, over `p` (publications), `j`, `u` and `r` (the published revision).
/// The page size a plan is asked for (the API's page plus one).
const GALLERY_PLAN_LIMIT: u32 = 25;

fn gallery_sql(sort: GallerySort) -> String {
    let order = match sort {
        GallerySort::Newest => "p.published_at DESC, p.job_id DESC",
        GallerySort::MostViewed => "p.views DESC, p.published_at DESC, p.job_id DESC",
    };
    format!("{PUBLIC_SELECT} AND {VISIBLE} ORDER BY {order} LIMIT $1 OFFSET $2")
}

/// Every visible-work query starts here and adds `AND …`. The tables are listed with `CROSS
/// JOIN` and joined in `WHERE` so SQLite keeps `publications` as the outer loop (its planner does
/// not reorder a CROSS JOIN): the gallery's order is then read from `publications_newest` or
/// `publications_views` and stops after one page, instead of scanning every succeeded revision
/// and sorting (measured by `scripts/bench api`, D-safety-5). PostgreSQL plans both forms alike.
const PUBLIC_SELECT: &str = "SELECT p.job_id, p.revision, p.title, u.username, u.display_name, \
    p.owner_id, p.show_prompt, p.show_engine, p.show_model, p.show_length, p.views, p.published_at, \
    r.params_json, r.usage_json, r.output_keys_json \
    FROM publications p CROSS JOIN jobs j CROSS JOIN users u CROSS JOIN job_revisions r \
    WHERE j.id = p.job_id AND u.id = p.owner_id AND r.job_id = p.job_id \
    AND r.revision = p.revision AND r.status = 'succeeded'";

#[derive(sqlx::FromRow)]
struct PublicationRow {
    job_id: String,
    revision: i64,
    title: String,
    show_prompt: bool,
    show_engine: bool,
    show_model: bool,
    show_length: bool,
    views: i64,
    published_at: i64,
}

#[derive(sqlx::FromRow)]
struct ShareRow {
    id: String,
    job_id: String,
    revision: Option<i64>,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    views: i64,
    created_at: i64,
}

impl From<ShareRow> for ShareLink {
    fn from(r: ShareRow) -> ShareLink {
        ShareLink {
            id: r.id,
            job_id: r.job_id,
            revision: r.revision,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            views: r.views,
            created_at: r.created_at,
        }
    }
}

const SHARE_COLUMNS: &str = "id, job_id, revision, expires_at, revoked_at, views, created_at";

#[derive(sqlx::FromRow)]
struct SharedRow {
    link_id: String,
    job_id: String,
    owner_id: String,
    revision: i64,
    title: Option<String>,
    params_json: String,
    output_keys_json: String,
}

impl Db {
    /// Publish (or re-publish with new details) the owner's job at `revision`, which must have
    /// succeeded. `false` when the job is not theirs or the revision did not succeed.
    pub async fn publish_job(
        &self,
        owner_id: &str,
        job_id: &str,
        revision: i64,
        title: &str,
        shown: ShownDetails,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        // The SELECT makes ownership and the finished revision part of the insert itself.
        let sql = "INSERT INTO publications (job_id, owner_id, revision, title, show_prompt, \
            show_engine, show_model, show_length, views, published_at) \
            SELECT j.id, j.owner_id, r.revision, $4, $5, $6, $7, $8, 0, $9 FROM jobs j \
            JOIN job_revisions r ON r.job_id = j.id AND r.revision = $3 AND r.status = 'succeeded' \
            WHERE j.id = $2 AND j.owner_id = $1 \
            ON CONFLICT (job_id) DO UPDATE SET revision = excluded.revision, title = excluded.title, \
            show_prompt = excluded.show_prompt, show_engine = excluded.show_engine, \
            show_model = excluded.show_model, show_length = excluded.show_length";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(owner_id).bind(job_id).bind(revision).bind(title)
            .bind(shown.prompt).bind(shown.engine).bind(shown.model).bind(shown.length).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Take the owner's work out of the gallery. `false` when it was not published (or not theirs).
    pub async fn unpublish_job(&self, owner_id: &str, job_id: &str) -> StoreResult<bool> {
        let n = with_pool!(self, pool => sqlx::query(
            "DELETE FROM publications WHERE job_id = $1 AND owner_id = $2")
            .bind(job_id).bind(owner_id)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// The owner's publication of their job, if published.
    pub async fn publication_for_owner(
        &self,
        owner_id: &str,
        job_id: &str,
    ) -> StoreResult<Option<Publication>> {
        let sql = "SELECT job_id, revision, title, show_prompt, show_engine, show_model, \
            show_length, views, published_at FROM publications WHERE job_id = $1 AND owner_id = $2";
        let row: Option<PublicationRow> = with_pool!(self, pool => sqlx::query_as(sql)
            .bind(job_id).bind(owner_id).fetch_optional(pool).await)?;
        Ok(row.map(|r| Publication {
            job_id: r.job_id,
            revision: r.revision,
            title: r.title,
            shown: ShownDetails {
                prompt: r.show_prompt,
                engine: r.show_engine,
                model: r.show_model,
                length: r.show_length,
            },
            views: r.views,
            published_at: r.published_at,
        }))
    }

    /// One page of the gallery: `limit` visible works after skipping `offset`.
    pub async fn gallery(
        &self,
        sort: GallerySort,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<PublicWork>> {
        self.public_works(&gallery_sql(sort), None, limit, offset)
            .await
    }

    /// How the database runs one gallery page (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on
    /// PostgreSQL), one line per step: `scripts/bench api` prints it, and the tests check that
    /// the order is read from an index instead of sorting every published work.
    pub async fn gallery_plan(&self, sort: GallerySort, offset: u32) -> StoreResult<Vec<String>> {
        let sql = gallery_sql(sort);
        let (limit, offset) = (i64::from(GALLERY_PLAN_LIMIT), i64::from(offset));
        let lines = match self {
            Db::Sqlite(pool) => {
                let rows: Vec<(i64, i64, i64, String)> =
                    sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                        .bind(limit)
                        .bind(offset)
                        .fetch_all(pool)
                        .await?;
                rows.into_iter().map(|r| r.3).collect()
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar(&format!("EXPLAIN {sql}"))
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(lines)
    }

    /// One page of a person's visible published works, newest first.
    pub async fn works_of(
        &self,
        owner_id: &str,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<PublicWork>> {
        let sql = format!(
            "{PUBLIC_SELECT} AND p.owner_id = $3 AND {VISIBLE} \
             ORDER BY p.published_at DESC, p.job_id DESC LIMIT $1 OFFSET $2"
        );
        self.public_works(&sql, Some(owner_id), limit, offset).await
    }

    async fn public_works(
        &self,
        sql: &str,
        owner_id: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<PublicWork>> {
        let limit = i64::from(limit.clamp(1, 100));
        let offset = i64::from(offset);
        let rows: Vec<PublicRow> = with_pool!(self, pool => {
            let q = sqlx::query_as(sql).bind(limit).bind(offset);
            let q = match owner_id { Some(o) => q.bind(o.to_owned()), None => q };
            q.fetch_all(pool).await
        })?;
        rows.into_iter().map(PublicRow::into_work).collect()
    }

    /// A visible published work.
    pub async fn public_work(&self, job_id: &str) -> StoreResult<Option<PublicWork>> {
        let sql = format!("{PUBLIC_SELECT} AND p.job_id = $1 AND {VISIBLE}");
        let row: Option<PublicRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(job_id).fetch_optional(pool).await)?;
        row.map(PublicRow::into_work).transpose()
    }

    /// Counts one view of a published work.
    pub async fn count_public_view(&self, job_id: &str) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(
            "UPDATE publications SET views = views + 1 WHERE job_id = $1")
            .bind(job_id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Records a share link for the owner's job; `false` when the job is not theirs, or a
    /// pinned revision did not succeed.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_share_link(
        &self,
        owner_id: &str,
        job_id: &str,
        token_hash: &str,
        revision: Option<i64>,
        expires_at: Option<UnixMillis>,
        now: UnixMillis,
    ) -> StoreResult<Option<ShareLink>> {
        let id = new_id();
        // A link to "the latest" needs a finished revision to open today; a pinned one needs
        // that revision finished.
        let sql = "INSERT INTO share_links (id, job_id, owner_id, token_hash, revision, expires_at, \
            views, created_at) SELECT $1, j.id, j.owner_id, $4, $5, $6, 0, $7 FROM jobs j \
            WHERE j.id = $3 AND j.owner_id = $2 AND EXISTS (SELECT 1 FROM job_revisions r \
              WHERE r.job_id = j.id AND r.status = 'succeeded' AND ($5 IS NULL OR r.revision = $5))";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(&id).bind(owner_id).bind(job_id).bind(token_hash).bind(revision)
            .bind(expires_at).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if n != 1 {
            return Ok(None);
        }
        Ok(Some(ShareLink {
            id,
            job_id: job_id.to_owned(),
            revision,
            expires_at,
            revoked_at: None,
            views: 0,
            created_at: now,
        }))
    }

    /// The owner's links to their job, newest first.
    pub async fn share_links_of(
        &self,
        owner_id: &str,
        job_id: &str,
    ) -> StoreResult<Vec<ShareLink>> {
        let sql = format!(
            "SELECT {SHARE_COLUMNS} FROM share_links WHERE job_id = $1 AND owner_id = $2 ORDER BY id DESC"
        );
        let rows: Vec<ShareRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(job_id).bind(owner_id).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(ShareLink::from).collect())
    }

    /// Revokes the owner's link; `None` when not theirs. Revoking twice keeps the first time.
    pub async fn revoke_share_link(
        &self,
        owner_id: &str,
        id: &str,
        now: UnixMillis,
    ) -> StoreResult<Option<ShareLink>> {
        let sql = format!(
            "UPDATE share_links SET revoked_at = COALESCE(revoked_at, $3) \
             WHERE id = $1 AND owner_id = $2 RETURNING {SHARE_COLUMNS}"
        );
        let row: Option<ShareRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(id).bind(owner_id).bind(now).fetch_optional(pool).await)?;
        Ok(row.map(ShareLink::from))
    }

    /// What the link with this token hash opens now: `None` when unknown, revoked, expired, its
    /// work taken down, its owner deleted or banned, or no revision it may show has finished.
    pub async fn shared_work(
        &self,
        token_hash: &str,
        now: UnixMillis,
    ) -> StoreResult<Option<SharedWork>> {
        let sql = format!(
            "SELECT s.id AS link_id, j.id AS job_id, j.owner_id, r.revision, j.title, \
             r.params_json, r.output_keys_json \
             FROM share_links s JOIN jobs j ON j.id = s.job_id JOIN users u ON u.id = j.owner_id \
             JOIN job_revisions r ON r.job_id = j.id AND r.revision = COALESCE(s.revision, \
               (SELECT MAX(l.revision) FROM job_revisions l WHERE l.job_id = j.id AND l.status = 'succeeded')) \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL \
               AND (s.expires_at IS NULL OR s.expires_at > $2) \
               AND r.status = 'succeeded' AND {VISIBLE}"
        );
        let row: Option<SharedRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(token_hash).bind(now).fetch_optional(pool).await)?;
        row.map(|r| {
            Ok(SharedWork {
                params: parse_json("revision params", &r.params_json)?,
                output_keys: parse_output_keys(&r.output_keys_json)?,
                link_id: r.link_id,
                job_id: r.job_id,
                owner_id: r.owner_id,
                revision: r.revision,
                title: r.title,
            })
        })
        .transpose()
    }

    /// Counts one view of a share link.
    pub async fn count_share_view(&self, link_id: &str) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(
            "UPDATE share_links SET views = views + 1 WHERE id = $1")
            .bind(link_id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Sets (or with `None` clears) the person's avatar: one of their own image uploads.
    /// `false` when the upload is not theirs or not an image.
    pub async fn set_avatar(
        &self,
        user_id: &str,
        upload_id: Option<&str>,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        if let Some(upload_id) = upload_id {
            let sql = "INSERT INTO profiles (user_id, avatar_upload_id, updated_at) \
                SELECT $1, u.id, $3 FROM uploads u WHERE u.id = $2 AND u.owner_id = $1 AND u.kind = 'image' \
                ON CONFLICT (user_id) DO UPDATE SET avatar_upload_id = excluded.avatar_upload_id, \
                updated_at = excluded.updated_at";
            let n = with_pool!(self, pool => sqlx::query(sql)
                .bind(user_id).bind(upload_id).bind(now)
                .execute(pool).await.map(|r| r.rows_affected()))?;
            Ok(n == 1)
        } else {
            with_pool!(self, pool => sqlx::query(
                "UPDATE profiles SET avatar_upload_id = NULL, updated_at = $2 WHERE user_id = $1")
                .bind(user_id).bind(now).execute(pool).await.map(|_| ()))?;
            Ok(true)
        }
    }

    /// The person's avatar upload, if any.
    pub async fn avatar_of(&self, user_id: &str) -> StoreResult<Option<Upload>> {
        let columns = UPLOAD_COLUMNS
            .split(", ")
            .map(|c| format!("x.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM profiles p JOIN uploads x ON x.id = p.avatar_upload_id \
             WHERE p.user_id = $1"
        );
        let row: Option<UploadRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(user_id).fetch_optional(pool).await)?;
        row.map(UploadRow::into_upload).transpose()
    }

    /// The id of the account with this username whose profile is public: not deleted, not
    /// banned.
    pub async fn public_user_id(&self, username: &str) -> StoreResult<Option<String>> {
        let sql = "SELECT u.id FROM users u WHERE u.username_norm = $1 AND u.deleted_at IS NULL \
            AND NOT EXISTS (SELECT 1 FROM account_bans b WHERE b.user_id = u.id)";
        let id = with_pool!(self, pool => sqlx::query_scalar::<_, String>(sql)
            .bind(username.trim().to_lowercase()).fetch_optional(pool).await)?;
        Ok(id)
    }
}

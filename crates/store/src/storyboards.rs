//! Storyboards not yet rendered (issue 25, migration 0026): the spec and the scenes their owner
//! edits, with a version number that every replacement must name. Rendering turns one into the
//! job of the same id (see [`Db::render_storyboard`]) and removes the draft in that transaction.

use serde_json::Value;

use crate::db::{new_id, with_pool, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};
use crate::jobs::{parse_json, NewJob, SubmittedJob};

/// A draft storyboard as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftStoryboard {
    /// Also the id of the job it becomes.
    pub id: String,
    pub owner_id: String,
    /// The render spec the draft was made from (its script and media follow the scenes).
    pub params: Value,
    /// The scenes (`reelsmith_jobs::Storyboard`).
    pub storyboard: Value,
    /// Starts at 1 and grows by one with each replacement.
    pub version: i64,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// The answer to a replacement.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplaceOutcome {
    Replaced(DraftStoryboard),
    /// The draft is at another version than the one named: nothing was changed.
    Stale {
        current: i64,
    },
    /// No such draft among the owner's.
    Missing,
}

#[derive(sqlx::FromRow)]
struct DraftRow {
    id: String,
    owner_id: String,
    params_json: String,
    storyboard_json: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str = "id, owner_id, params_json, storyboard_json, version, created_at, updated_at";

impl DraftRow {
    fn into_draft(self) -> StoreResult<DraftStoryboard> {
        Ok(DraftStoryboard {
            params: parse_json("storyboard params", &self.params_json)?,
            storyboard: parse_json("storyboard", &self.storyboard_json)?,
            id: self.id,
            owner_id: self.owner_id,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl Db {
    /// Stores a new draft (version 1). Nothing is reserved.
    pub async fn create_storyboard(
        &self,
        owner_id: &str,
        params: &Value,
        storyboard: &Value,
        now: UnixMillis,
    ) -> StoreResult<DraftStoryboard> {
        let id = new_id();
        let sql = "INSERT INTO storyboards (id, owner_id, params_json, storyboard_json, version, \
            created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $5)";
        let (p, b) = (params.to_string(), storyboard.to_string());
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&id).bind(owner_id).bind(&p).bind(&b).bind(now).execute(pool).await
            .map(|_| ()))?;
        self.storyboard_for_owner(owner_id, &id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("stored storyboard vanished".into()))
    }

    /// The owner's draft with this id; `None` for anyone else's (P-SEC-4) or a rendered one.
    pub async fn storyboard_for_owner(
        &self,
        owner_id: &str,
        id: &str,
    ) -> StoreResult<Option<DraftStoryboard>> {
        let sql = format!("SELECT {COLUMNS} FROM storyboards WHERE id = $1 AND owner_id = $2");
        let row = with_pool!(self, pool => sqlx::query_as::<_, DraftRow>(&sql)
            .bind(id).bind(owner_id).fetch_optional(pool).await)?;
        row.map(DraftRow::into_draft).transpose()
    }

    /// Replaces the draft's spec and scenes if it is still at `expected` (compare and swap, so
    /// of two editors working from one version only the first saves).
    pub async fn replace_storyboard(
        &self,
        owner_id: &str,
        id: &str,
        expected: i64,
        params: &Value,
        storyboard: &Value,
        now: UnixMillis,
    ) -> StoreResult<ReplaceOutcome> {
        let sql = "UPDATE storyboards SET params_json = $4, storyboard_json = $5, \
            version = version + 1, updated_at = $6 \
            WHERE id = $1 AND owner_id = $2 AND version = $3";
        let (p, b) = (params.to_string(), storyboard.to_string());
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(owner_id).bind(expected).bind(&p).bind(&b).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        match self.storyboard_for_owner(owner_id, id).await? {
            None => Ok(ReplaceOutcome::Missing),
            Some(draft) if n == 1 => Ok(ReplaceOutcome::Replaced(draft)),
            Some(draft) => Ok(ReplaceOutcome::Stale {
                current: draft.version,
            }),
        }
    }

    /// Every draft of the owner, oldest first (for the account export).
    pub async fn storyboards_of(&self, owner_id: &str) -> StoreResult<Vec<DraftStoryboard>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM storyboards WHERE owner_id = $1 ORDER BY created_at, id"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, DraftRow>(&sql)
            .bind(owner_id).fetch_all(pool).await)?;
        rows.into_iter().map(DraftRow::into_draft).collect()
    }

    /// Deletes the owner's draft; false when there was none.
    pub async fn delete_storyboard(&self, owner_id: &str, id: &str) -> StoreResult<bool> {
        let sql = "DELETE FROM storyboards WHERE id = $1 AND owner_id = $2";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(owner_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Ids of the drafts last changed before `cutoff` (the retention sweep's), oldest first.
    pub async fn storyboards_untouched_since(
        &self,
        cutoff: UnixMillis,
    ) -> StoreResult<Vec<String>> {
        let sql = "SELECT id FROM storyboards WHERE updated_at < $1 ORDER BY updated_at, id";
        Ok(with_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(cutoff).fetch_all(pool).await)?)
    }

    /// Deletes a draft only if it is still untouched since `cutoff`: one edited while the sweep
    /// ran stays. False when it stayed or was gone.
    pub async fn delete_storyboard_untouched(
        &self,
        id: &str,
        cutoff: UnixMillis,
    ) -> StoreResult<bool> {
        let sql = "DELETE FROM storyboards WHERE id = $1 AND updated_at < $2";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(cutoff).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Queues the draft as the job of the same id with its plan (which carries the storyboard),
    /// reserving `new.cost`, and deletes the draft, in one transaction. `None` when the owner
    /// has no such draft (it was rendered already, or deleted): nothing is written.
    pub async fn render_storyboard(
        &self,
        id: &str,
        new: &NewJob,
        plan: &Value,
        max_active: Option<i64>,
        now: UnixMillis,
    ) -> StoreResult<Option<SubmittedJob>> {
        self.insert_planned_job(id, Some(id), new, Some(plan), None, max_active, now)
            .await
    }

    /// The plan stored with one revision of the owner's job: `None` when the job is not theirs
    /// or has no such revision, `Some(None)` for a revision stored without a plan.
    pub async fn revision_plan(
        &self,
        owner_id: &str,
        id: &str,
        revision: i64,
    ) -> StoreResult<Option<Option<Value>>> {
        let sql = "SELECT r.plan_json FROM job_revisions r JOIN jobs j ON j.id = r.job_id \
            WHERE r.job_id = $1 AND j.owner_id = $2 AND r.revision = $3";
        let row: Option<Option<String>> = with_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(id).bind(owner_id).bind(revision).fetch_optional(pool).await)?;
        row.map(|plan| plan.map(|p| parse_json("revision plan", &p)).transpose())
            .transpose()
    }
}

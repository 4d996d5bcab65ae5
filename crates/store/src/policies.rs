//! Versions of the privacy policy and the terms, and who accepted which (P-COMM-2).
//!
//! A *material* version changes what applies to people: every user is emailed, sees a notice,
//! and must accept it (or a later version) before their next job. A non-material version (a
//! clarification) is published and shown without asking anyone for anything.

use serde::Serialize;

use crate::db::{with_pool, Db, UnixMillis};
use crate::error::{unique_violation_on, StoreError, StoreResult};

/// Which document a version belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    Privacy,
    Terms,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 2] = [PolicyKind::Privacy, PolicyKind::Terms];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Privacy => "privacy",
            PolicyKind::Terms => "terms",
        }
    }

    pub fn parse(s: &str) -> Option<PolicyKind> {
        match s {
            "privacy" => Some(PolicyKind::Privacy),
            "terms" => Some(PolicyKind::Terms),
            _ => None,
        }
    }
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyVersion {
    pub kind: PolicyKind,
    pub version: String,
    /// What changed, in a sentence or two: the notice and the email show it.
    pub summary: String,
    /// The document's text for the terms; for the privacy policy, which `/privacy` generates
    /// from the live settings, any text the operator adds to it.
    pub body: String,
    pub material: bool,
    pub published_at: UnixMillis,
    /// How many users were emailed about it (material versions).
    pub notified: i64,
}

/// A recorded acceptance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PolicyAcceptance {
    pub kind: String,
    pub version: String,
    pub accepted_at: UnixMillis,
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    kind: String,
    version: String,
    summary: String,
    body: String,
    material: bool,
    published_at: i64,
    notified: i64,
}

impl PolicyRow {
    fn into_version(self) -> StoreResult<PolicyVersion> {
        let kind = PolicyKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown policy kind `{}`", self.kind)))?;
        Ok(PolicyVersion {
            kind,
            version: self.version,
            summary: self.summary,
            body: self.body,
            material: self.material,
            published_at: self.published_at,
            notified: self.notified,
        })
    }
}

const COLUMNS: &str = "kind, version, summary, body, material, published_at, notified";

impl Db {
    /// Publish a version; it becomes the current one of its kind. Fails with
    /// [`StoreError::PolicyVersionExists`] when that version of that document was published
    /// before (versions are never edited: publish a new one).
    pub async fn publish_policy(
        &self,
        kind: PolicyKind,
        version: &str,
        summary: &str,
        body: &str,
        material: bool,
        now: UnixMillis,
    ) -> StoreResult<PolicyVersion> {
        // Published times must grow, so "latest" is unambiguous even within one millisecond.
        let newest = self.latest_policy(kind).await?.map(|v| v.published_at);
        let published_at = newest.map_or(now, |t| now.max(t + 1));
        let sql = "INSERT INTO policy_versions \
            (kind, version, summary, body, material, published_at) VALUES ($1, $2, $3, $4, $5, $6)";
        let inserted = with_pool!(self, pool => sqlx::query(sql)
            .bind(kind.as_str()).bind(version).bind(summary).bind(body).bind(material)
            .bind(published_at).execute(pool).await.map(|_| ()));
        if let Err(err) = inserted {
            return Err(match unique_violation_on(&err) {
                Some(_) => StoreError::PolicyVersionExists,
                None => StoreError::Database(err),
            });
        }
        Ok(PolicyVersion {
            kind,
            version: version.to_owned(),
            summary: summary.to_owned(),
            body: body.to_owned(),
            material,
            published_at,
            notified: 0,
        })
    }

    /// The current version of `kind`, if any was published.
    pub async fn latest_policy(&self, kind: PolicyKind) -> StoreResult<Option<PolicyVersion>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM policy_versions WHERE kind = $1 \
             ORDER BY published_at DESC LIMIT 1"
        );
        let row = with_pool!(self, pool => sqlx::query_as::<_, PolicyRow>(&sql)
            .bind(kind.as_str()).fetch_optional(pool).await)?;
        row.map(PolicyRow::into_version).transpose()
    }

    /// One version, if it was published.
    pub async fn policy_version(
        &self,
        kind: PolicyKind,
        version: &str,
    ) -> StoreResult<Option<PolicyVersion>> {
        let sql = format!("SELECT {COLUMNS} FROM policy_versions WHERE kind = $1 AND version = $2");
        let row = with_pool!(self, pool => sqlx::query_as::<_, PolicyRow>(&sql)
            .bind(kind.as_str()).bind(version).fetch_optional(pool).await)?;
        row.map(PolicyRow::into_version).transpose()
    }

    /// Every published version of both documents, newest first.
    pub async fn policy_history(&self) -> StoreResult<Vec<PolicyVersion>> {
        let sql = format!("SELECT {COLUMNS} FROM policy_versions ORDER BY published_at DESC, kind");
        let rows = with_pool!(self, pool => sqlx::query_as::<_, PolicyRow>(&sql)
            .fetch_all(pool).await)?;
        rows.into_iter().map(PolicyRow::into_version).collect()
    }

    /// Record that the user accepted `version` of `kind`. Accepting twice keeps the first time.
    pub async fn accept_policy(
        &self,
        user_id: &str,
        kind: PolicyKind,
        version: &str,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO policy_acceptances (user_id, kind, version, accepted_at) \
            VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, kind, version) DO NOTHING";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id).bind(kind.as_str()).bind(version).bind(now)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Accept the current version of every document (at sign-up, where the person is shown them).
    pub async fn accept_current_policies(&self, user_id: &str, now: UnixMillis) -> StoreResult<()> {
        for kind in PolicyKind::ALL {
            if let Some(current) = self.latest_policy(kind).await? {
                self.accept_policy(user_id, kind, &current.version, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// What the user has accepted, newest first (for the account page and the export).
    pub async fn policy_acceptances_of(&self, user_id: &str) -> StoreResult<Vec<PolicyAcceptance>> {
        let sql = "SELECT kind, version, accepted_at FROM policy_acceptances WHERE user_id = $1 \
            ORDER BY accepted_at DESC, kind";
        let rows = with_pool!(self, pool => sqlx::query_as::<_, PolicyAcceptance>(sql)
            .bind(user_id).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// The current versions the user must accept before their next job: for each document whose
    /// latest *material* version the user has not accepted (nor any version published after
    /// it), the document's current version.
    pub async fn pending_policies(&self, user_id: &str) -> StoreResult<Vec<PolicyVersion>> {
        let material = "SELECT MAX(published_at) FROM policy_versions \
            WHERE kind = $1 AND material = TRUE";
        let accepted = "SELECT COUNT(*) FROM policy_acceptances a JOIN policy_versions v \
            ON v.kind = a.kind AND v.version = a.version \
            WHERE a.user_id = $1 AND a.kind = $2 AND v.published_at >= $3";
        let mut pending = Vec::new();
        for kind in PolicyKind::ALL {
            let since = with_pool!(self, pool => sqlx::query_scalar::<_, Option<i64>>(material)
                .bind(kind.as_str()).fetch_one(pool).await)?;
            let Some(since) = since else { continue };
            let n = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(accepted)
                .bind(user_id).bind(kind.as_str()).bind(since).fetch_one(pool).await)?;
            if n == 0 {
                if let Some(current) = self.latest_policy(kind).await? {
                    pending.push(current);
                }
            }
        }
        Ok(pending)
    }

    /// Remember how many people were emailed about a version.
    pub async fn set_policy_notified(
        &self,
        kind: PolicyKind,
        version: &str,
        notified: i64,
    ) -> StoreResult<()> {
        let sql = "UPDATE policy_versions SET notified = $3 WHERE kind = $1 AND version = $2";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(kind.as_str()).bind(version).bind(notified)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Every account that is not deleted, with the address to write to: who hears of a new
    /// material policy version or a breach.
    pub async fn active_user_contacts(&self) -> StoreResult<Vec<UserContact>> {
        let sql = "SELECT id, email, display_name FROM users WHERE deleted_at IS NULL ORDER BY id";
        let rows = with_pool!(self, pool => sqlx::query_as::<_, UserContact>(sql)
            .fetch_all(pool).await)?;
        Ok(rows)
    }
}

/// Who to write to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserContact {
    pub id: String,
    pub email: String,
    pub display_name: String,
}

impl From<crate::User> for UserContact {
    fn from(user: crate::User) -> UserContact {
        UserContact {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
        }
    }
}

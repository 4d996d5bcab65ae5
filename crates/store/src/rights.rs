//! Rights requests that arrive by email (P-RIGHTS-5): an operator records each one, it is due
//! 30 days after it was received, and it can be closed as fulfilled only once the requester's
//! identity was checked (so nobody gets another person's data, or erases it, by asking).

use serde::Serialize;

use crate::db::{new_id, with_pool, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};

/// How long an operator has to answer a request.
pub const RIGHTS_DUE_DAYS: i64 = 30;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What the person asked for (the rights of GDPR articles 15 to 21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RightsKind {
    Access,
    Rectification,
    Erasure,
    Restriction,
    Objection,
    Portability,
    Other,
}

impl RightsKind {
    pub const ALL: [RightsKind; 7] = [
        RightsKind::Access,
        RightsKind::Rectification,
        RightsKind::Erasure,
        RightsKind::Restriction,
        RightsKind::Objection,
        RightsKind::Portability,
        RightsKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RightsKind::Access => "access",
            RightsKind::Rectification => "rectification",
            RightsKind::Erasure => "erasure",
            RightsKind::Restriction => "restriction",
            RightsKind::Objection => "objection",
            RightsKind::Portability => "portability",
            RightsKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<RightsKind> {
        RightsKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RightsOutcome {
    Fulfilled,
    Refused,
}

impl RightsOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RightsOutcome::Fulfilled => "fulfilled",
            RightsOutcome::Refused => "refused",
        }
    }
}

/// One request, as tracked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RightsRequest {
    pub id: String,
    /// The account the address belonged to when the request was recorded, if any.
    pub user_id: Option<String>,
    pub requester_email: String,
    pub kind: String,
    pub received_at: UnixMillis,
    pub due_at: UnixMillis,
    pub identity_checked_at: Option<UnixMillis>,
    /// How the identity was checked, in the operator's words.
    pub identity_method: Option<String>,
    /// `open`, `fulfilled` or `refused`.
    pub status: String,
    pub closed_at: Option<UnixMillis>,
    pub notes: String,
}

impl RightsRequest {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }

    /// Open past its due date.
    pub fn is_overdue(&self, now: UnixMillis) -> bool {
        self.is_open() && now > self.due_at
    }
}

const COLUMNS: &str = "id, user_id, requester_email, kind, received_at, due_at, \
    identity_checked_at, identity_method, status, closed_at, notes";

impl Db {
    /// Record a request received at `received_at` from `email`. It is linked to the account
    /// holding that address, if any, and due [`RIGHTS_DUE_DAYS`] after receipt.
    pub async fn record_rights_request(
        &self,
        email: &str,
        kind: RightsKind,
        received_at: UnixMillis,
        notes: &str,
    ) -> StoreResult<RightsRequest> {
        let user = self.user_by_email(email).await?;
        let id = new_id();
        let due_at = received_at + RIGHTS_DUE_DAYS * DAY_MS;
        let sql = "INSERT INTO rights_requests \
            (id, user_id, requester_email, kind, received_at, due_at, status, notes) \
            VALUES ($1, $2, $3, $4, $5, $6, 'open', $7)";
        let user_id = user.map(|u| u.id);
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&id).bind(&user_id).bind(email.trim()).bind(kind.as_str())
            .bind(received_at).bind(due_at).bind(notes)
            .execute(pool).await.map(|_| ()))?;
        self.rights_request(&id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("inserted rights request vanished".into()))
    }

    pub async fn rights_request(&self, id: &str) -> StoreResult<Option<RightsRequest>> {
        let sql = format!("SELECT {COLUMNS} FROM rights_requests WHERE id = $1");
        let row = with_pool!(self, pool => sqlx::query_as::<_, RightsRequest>(&sql)
            .bind(id).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Requests by due date, soonest first; only the open ones when `open_only`.
    pub async fn rights_requests(&self, open_only: bool) -> StoreResult<Vec<RightsRequest>> {
        let filter = if open_only {
            "WHERE status = 'open'"
        } else {
            ""
        };
        let sql = format!("SELECT {COLUMNS} FROM rights_requests {filter} ORDER BY due_at, id");
        let rows = with_pool!(self, pool => sqlx::query_as::<_, RightsRequest>(&sql)
            .fetch_all(pool).await)?;
        Ok(rows)
    }

    /// The requests recorded for an account, newest first (for its export).
    pub async fn rights_requests_of(&self, user_id: &str) -> StoreResult<Vec<RightsRequest>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM rights_requests WHERE user_id = $1 ORDER BY received_at DESC, id"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, RightsRequest>(&sql)
            .bind(user_id).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// Record that the requester's identity was checked, and how.
    pub async fn check_rights_identity(
        &self,
        id: &str,
        method: &str,
        now: UnixMillis,
    ) -> StoreResult<RightsRequest> {
        let request = self.open_rights_request(id).await?;
        let sql = "UPDATE rights_requests SET identity_checked_at = $2, identity_method = $3 \
            WHERE id = $1";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&request.id).bind(now).bind(method.trim())
            .execute(pool).await.map(|_| ()))?;
        self.open_rights_request(id).await
    }

    /// Close a request. Fulfilling one whose requester's identity was not checked fails with
    /// [`StoreError::RightsIdentityUnchecked`]; refusing is always possible (a request from an
    /// address that cannot prove itself is refused).
    pub async fn close_rights_request(
        &self,
        id: &str,
        outcome: RightsOutcome,
        note: &str,
        now: UnixMillis,
    ) -> StoreResult<RightsRequest> {
        let request = self.open_rights_request(id).await?;
        if outcome == RightsOutcome::Fulfilled && request.identity_checked_at.is_none() {
            return Err(StoreError::RightsIdentityUnchecked);
        }
        let notes = match (request.notes.is_empty(), note.trim().is_empty()) {
            (_, true) => request.notes.clone(),
            (true, false) => note.trim().to_owned(),
            (false, false) => format!("{}\n{}", request.notes, note.trim()),
        };
        let sql = "UPDATE rights_requests SET status = $2, closed_at = $3, notes = $4 \
            WHERE id = $1 AND status = 'open'";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&request.id).bind(outcome.as_str()).bind(now).bind(&notes)
            .execute(pool).await.map(|_| ()))?;
        self.rights_request(id)
            .await?
            .ok_or(StoreError::RightsRequestNotFound)
    }

    async fn open_rights_request(&self, id: &str) -> StoreResult<RightsRequest> {
        let request = self
            .rights_request(id)
            .await?
            .ok_or(StoreError::RightsRequestNotFound)?;
        if !request.is_open() {
            return Err(StoreError::RightsRequestClosed);
        }
        Ok(request)
    }
}

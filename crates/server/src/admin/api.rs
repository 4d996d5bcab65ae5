//! `/api/v1/admin/…`: the console's JSON API. Every handler takes a [`RequireStaff`], so a user
//! gets 404 and staff without a recent TOTP check 403; every change is audit-logged as
//! `admin.*` with the actor, the subject, the address and the user agent.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use reelsmith_store::{AuditFilter, CancelOutcome, Role};
use serde::Deserialize;
use serde_json::json;

use super::views;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::staff::{Admin, Moderator, RequireStaff};
use crate::AppState;
use reelsmith_core::Code;

#[derive(Deserialize, Default)]
pub struct UserQuery {
    #[serde(default)]
    pub q: String,
}

/// `GET /api/v1/admin/me`: who the console sees (staff with step-up only).
pub async fn whoami(staff: RequireStaff<Moderator>) -> Json<serde_json::Value> {
    Json(json!({ "id": staff.id(), "role": staff.user.user.role.as_str() }))
}

pub async fn users(
    State(state): State<AppState>,
    _staff: RequireStaff<Admin>,
    ApiQuery(query): ApiQuery<UserQuery>,
) -> ApiResult<Response> {
    Ok(Json(json!({ "users": views::users(&state, &query.q).await? })).into_response())
}

pub async fn user(
    State(state): State<AppState>,
    _staff: RequireStaff<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let detail = views::user_detail(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(detail).into_response())
}

/// The account an action is about; 404 when it does not exist.
async fn subject(state: &AppState, id: &str) -> ApiResult<reelsmith_store::StaffUserRow> {
    state
        .db
        .staff_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

/// Staff cannot lock themselves out (demote, suspend or delete their own account) here; the
/// command line can.
fn not_self(staff: &RequireStaff<Admin>, id: &str) -> ApiResult<()> {
    if staff.id() == id {
        return Err(ApiError::of(
            Code::AdminSelfAction,
            "use another admin's account (or the command line) to change your own",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct RoleChange {
    pub role: String,
}

pub fn parse_role(text: &str) -> ApiResult<Role> {
    match text.trim() {
        "user" => Ok(Role::User),
        "moderator" => Ok(Role::Moderator),
        "admin" => Ok(Role::Admin),
        _ => Err(ApiError::of(
            Code::AdminInvalidRole,
            "the role is one of user, moderator, admin",
        )),
    }
}

pub async fn set_role(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleChange>,
) -> ApiResult<Response> {
    let role = parse_role(&req.role)?;
    let before = subject(&state, &id).await?;
    not_self(&staff, &id)?;
    state.db.set_role(&id, role, state.clock.now()).await?;
    let detail = json!({ "from": before.role, "to": role.as_str() });
    staff
        .audit(&state, "admin.role_changed", Some(&id), detail)
        .await;
    Ok(Json(json!({ "id": id, "role": role.as_str() })).into_response())
}

pub async fn suspend(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    subject(&state, &id).await?;
    not_self(&staff, &id)?;
    let changed = state.db.suspend_user(&id, state.clock.now()).await?;
    let detail = json!({ "changed": changed });
    staff
        .audit(&state, "admin.user_suspended", Some(&id), detail)
        .await;
    Ok(Json(json!({ "id": id, "suspended": true })).into_response())
}

pub async fn restore(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    subject(&state, &id).await?;
    let changed = state.db.restore_user(&id, state.clock.now()).await?;
    let detail = json!({ "changed": changed });
    staff
        .audit(&state, "admin.user_restored", Some(&id), detail)
        .await;
    Ok(Json(json!({ "id": id, "suspended": false })).into_response())
}

pub async fn end_sessions(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    subject(&state, &id).await?;
    not_self(&staff, &id)?;
    let ended = state.db.revoke_all_sessions(&id).await?;
    let detail = json!({ "ended": ended });
    staff
        .audit(&state, "admin.sessions_ended", Some(&id), detail)
        .await;
    Ok(Json(json!({ "id": id, "sessions_ended": ended })).into_response())
}

/// Starts the deletion the person could start themselves (P-RET-4): at once, purge later.
pub async fn delete_user(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    subject(&state, &id).await?;
    not_self(&staff, &id)?;
    let now = state.clock.now();
    let changed = state.db.mark_user_deleted(&id, now).await?;
    let purge_by =
        crate::time::rfc3339(now + i64::from(state.config.retention.purge_days) * 86_400_000);
    let detail = json!({ "changed": changed, "purge_by": purge_by });
    staff
        .audit(&state, "admin.user_deleted", Some(&id), detail)
        .await;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "status": "deleted", "purge_by": purge_by })),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct CreditChange {
    /// `grant` or `refund`.
    pub kind: String,
    pub amount: i64,
    pub reason: String,
}

pub async fn credits(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreditChange>,
) -> ApiResult<Response> {
    subject(&state, &id).await?;
    let refund = match req.kind.as_str() {
        "grant" => false,
        "refund" => true,
        _ => {
            return Err(ApiError::of(
                Code::AdminInvalidCreditKind,
                "the kind is `grant` or `refund`",
            ))
        }
    };
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::of(
            Code::AdminReasonRequired,
            "say why, in at most 500 characters",
        ));
    }
    if req.amount <= 0 || req.amount > 10_000_000 {
        return Err(ApiError::of(
            Code::AdminInvalidAmount,
            "the amount is a whole number of credits from 1 to 10000000",
        ));
    }
    let entry = state
        .db
        .add_manual_credits(&id, refund, req.amount, reason, state.clock.now())
        .await?;
    let detail =
        json!({ "kind": req.kind, "amount": req.amount, "reason": reason, "entry": entry });
    staff
        .audit(&state, "admin.credits_added", Some(&id), detail)
        .await;
    let balance = state.db.credit_balance(&id).await?;
    Ok(Json(json!({ "id": id, "entry": entry, "balance": balance })).into_response())
}

#[derive(Deserialize, Default)]
pub struct JobQuery {
    #[serde(default)]
    pub status: Option<String>,
}

pub async fn jobs(
    State(state): State<AppState>,
    _staff: RequireStaff<Admin>,
    ApiQuery(query): ApiQuery<JobQuery>,
) -> ApiResult<Response> {
    let queue = views::queue(&state, query.status.as_deref()).await?;
    Ok(Json(queue).into_response())
}

pub async fn retry_job(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let job = state
        .db
        .job_by_id(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    if !state.db.retry_failed_job(&id, state.clock.now()).await? {
        return Err(ApiError::of(
            Code::AdminJobNotFailed,
            "only a failed job can be retried",
        ));
    }
    let detail = json!({ "job_id": id, "error": job.error.map(|e| e.code) });
    staff
        .audit(&state, "admin.job_retried", Some(&job.owner_id), detail)
        .await;
    Ok(Json(json!({ "id": id, "status": "queued" })).into_response())
}

pub async fn cancel_job(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let job = state
        .db
        .job_by_id(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    match state
        .db
        .cancel_job(&job.owner_id, &id, state.clock.now())
        .await?
    {
        CancelOutcome::Cancelled(_) => {}
        CancelOutcome::NotFound => return Err(ApiError::not_found("job")),
        CancelOutcome::AlreadyFinished(_) => {
            return Err(ApiError::of(
                Code::AdminJobFinished,
                "the job has ended already",
            ))
        }
    }
    let detail = json!({ "job_id": id });
    staff
        .audit(&state, "admin.job_cancelled", Some(&job.owner_id), detail)
        .await;
    Ok(Json(json!({ "id": id, "status": "cancelled" })).into_response())
}

pub async fn providers(
    State(state): State<AppState>,
    _staff: RequireStaff<Admin>,
) -> ApiResult<Response> {
    Ok(Json(views::providers(&state).await?).into_response())
}

pub async fn privacy(
    State(state): State<AppState>,
    _staff: RequireStaff<Admin>,
) -> ApiResult<Response> {
    Ok(Json(views::privacy(&state).await?).into_response())
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// `YYYY-MM-DD` or an RFC 3339 time (UTC).
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub before: Option<i64>,
    #[serde(default)]
    pub limit: Option<u32>,
}

impl AuditQuery {
    pub fn filter(&self, default_limit: u32) -> ApiResult<AuditFilter> {
        let date = |text: &Option<String>| -> ApiResult<Option<i64>> {
            match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                None => Ok(None),
                Some(t) => crate::time::parse_utc(t).map(Some).ok_or_else(|| {
                    ApiError::of(
                        Code::RequestInvalidQuery,
                        "dates are YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
                    )
                }),
            }
        };
        let nonempty = |t: &Option<String>| {
            t.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        Ok(AuditFilter {
            kind_prefix: nonempty(&self.kind),
            user_id: nonempty(&self.user),
            since: date(&self.since)?,
            until: date(&self.until)?,
            before: self.before,
            limit: self.limit.unwrap_or(default_limit),
        })
    }
}

pub async fn audit(
    State(state): State<AppState>,
    _staff: RequireStaff<Admin>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let rows = views::audit(&state, &query.filter(200)?).await?;
    Ok(Json(json!({ "entries": rows })).into_response())
}

/// The filtered audit log as a CSV download; the export itself is audit-logged (P-SEC-6).
pub async fn audit_csv(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let filter = query.filter(10_000)?;
    let rows = views::audit(&state, &filter).await?;
    let detail = json!({ "rows": rows.len(), "kind": filter.kind_prefix, "user": filter.user_id });
    staff
        .audit(&state, "admin.audit_exported", None, detail)
        .await;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"reelsmith-audit.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        views::audit_csv(&rows),
    )
        .into_response())
}

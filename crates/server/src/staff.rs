//! Who may use staff routes (P-SEC-4, P-SEC-5). Add `RequireStaff<Moderator>` or
//! `RequireStaff<Admin>` to a handler's arguments and it runs only for:
//! - a signed-in person whose role is at least the one named; anyone else (anonymous, a user, a
//!   moderator on an admin route) gets exactly what a missing route gets, 404, so the console's
//!   existence reveals nothing, and the attempt is audit-logged (`staff.denied`);
//! - who has enrolled TOTP and passed a TOTP check in this very browser session within
//!   `staff.step_up_minutes` (step-up). Otherwise 403 `staff.totp_required` (not enrolled) or
//!   `staff.step_up_required` (no recent check, or an API token, which cannot carry one), also
//!   audit-logged. On a page (any path outside `/api/`) these become a redirect to the check
//!   (`/admin/verify?next=…`) or to enrolment (`/account/security`), and the 404 an HTML page.
//!
//! `RequireRole<R>` is the role check alone, for the pages where staff pass the check itself.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use reelsmith_store::Role;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{ClientInfo, CurrentUser};
use crate::AppState;
use reelsmith_core::Code;

/// The least role a staff route admits.
pub trait StaffLevel: Send + Sync + 'static {
    const MIN: Role;
}

/// Moderators and admins.
pub struct Moderator;
/// Admins only.
pub struct Admin;

impl StaffLevel for Moderator {
    const MIN: Role = Role::Moderator;
}
impl StaffLevel for Admin {
    const MIN: Role = Role::Admin;
}

fn rank(role: Role) -> u8 {
    match role {
        Role::User => 0,
        Role::Moderator => 1,
        Role::Admin => 2,
    }
}

/// A staff member who passed the role check and a recent TOTP check.
pub struct RequireStaff<R: StaffLevel> {
    pub user: CurrentUser,
    pub client: ClientInfo,
    _level: PhantomData<R>,
}

/// A staff member who passed the role check only (no step-up).
pub struct RequireRole<R: StaffLevel> {
    pub user: CurrentUser,
    pub client: ClientInfo,
    _level: PhantomData<R>,
}

impl<R: StaffLevel> RequireStaff<R> {
    pub fn id(&self) -> &str {
        self.user.id()
    }

    /// Who acts and from where, for handlers that pass both on.
    pub fn into_parts(self) -> (CurrentUser, ClientInfo) {
        (self.user, self.client)
    }

    /// Record an admin action: who (this staff member), what (`kind`, `detail`), when (now),
    /// from where (address and user agent), and about whom (`subject`).
    pub async fn audit(
        &self,
        state: &AppState,
        kind: &str,
        subject: Option<&str>,
        mut detail: serde_json::Value,
    ) {
        if let Some(map) = detail.as_object_mut() {
            map.insert("actor".into(), json!(self.user.id()));
            map.insert("actor_role".into(), json!(self.user.user.role.as_str()));
            if let Some(subject) = subject {
                map.insert("subject".into(), json!(subject));
            }
        }
        // The entry is filed under the actor; the subject is named in the detail.
        self.client
            .record(state, kind, Some(self.id()), Some(detail))
            .await;
    }
}

/// Why a staff route refused.
pub enum StaffRefusal {
    /// Not allowed to know the route exists: exactly what an unknown path answers.
    Hidden(Response),
    /// Staff, but without an enrolled second factor.
    NotEnrolled {
        page: bool,
    },
    /// Staff, but without a recent TOTP check in this session.
    StepUp {
        page: bool,
        next: String,
    },
    Failed(ApiError),
}

impl IntoResponse for StaffRefusal {
    fn into_response(self) -> Response {
        match self {
            StaffRefusal::Hidden(response) => response,
            StaffRefusal::NotEnrolled { page: true } => {
                Redirect::to("/account/security?staff=1").into_response()
            }
            StaffRefusal::NotEnrolled { page: false } => ApiError::of(
                Code::StaffTotpRequired,
                "staff must enrol a TOTP authenticator before any staff action",
            )
            .into_response(),
            StaffRefusal::StepUp { page: true, next } => Redirect::to(&format!(
                "/admin/verify?next={}",
                crate::web::encode_path(&next)
            ))
            .into_response(),
            StaffRefusal::StepUp { page: false, .. } => ApiError::of(
                Code::StaffStepUpRequired,
                "enter a TOTP code (POST /api/v1/me/totp/verify) in this browser session first",
            )
            .into_response(),
            StaffRefusal::Failed(err) => err.into_response(),
        }
    }
}

/// A page is anything outside the API: refusals there are HTML or redirects. The path is the
/// original one: inside the nested `/api/v1` router `parts.uri` has lost its prefix.
fn is_page(parts: &Parts) -> bool {
    let original = parts.extensions.get::<axum::extract::OriginalUri>();
    let path = original.map_or(parts.uri.path(), |o| o.0.path());
    !path.starts_with("/api/")
}

/// The caller, if their role is at least `min`; otherwise the refusal, audit-logged.
async fn check_role(
    parts: &mut Parts,
    state: &AppState,
    min: Role,
) -> Result<(CurrentUser, ClientInfo), StaffRefusal> {
    let client = ClientInfo::from_request_parts(parts, state)
        .await
        .unwrap_or_default();
    let caller = CurrentUser::from_request_parts(parts, state).await.ok();
    match caller {
        Some(user) if rank(user.user.role) >= rank(min) => Ok((user, client)),
        caller => {
            let detail = json!({
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "needed": min.as_str(),
            });
            client
                .record(
                    state,
                    "staff.denied",
                    caller.as_ref().map(|u| u.id()),
                    Some(detail),
                )
                .await;
            let caller = caller.ok_or_else(ApiError::unauthenticated);
            let hidden =
                crate::web::fallback(caller, parts.uri.clone(), parts.headers.clone()).await;
            Err(StaffRefusal::Hidden(hidden))
        }
    }
}

impl<R: StaffLevel> FromRequestParts<AppState> for RequireRole<R> {
    type Rejection = StaffRefusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, StaffRefusal> {
        let (user, client) = check_role(parts, state, R::MIN).await?;
        Ok(RequireRole {
            user,
            client,
            _level: PhantomData,
        })
    }
}

impl<R: StaffLevel> FromRequestParts<AppState> for RequireStaff<R> {
    type Rejection = StaffRefusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, StaffRefusal> {
        let (user, client) = check_role(parts, state, R::MIN).await?;
        let page = is_page(parts);
        let failed = |err: reelsmith_store::StoreError| StaffRefusal::Failed(err.into());
        let enrolled = state
            .db
            .totp_state(user.id())
            .await
            .map_err(failed)?
            .is_some_and(|t| t.enabled());
        let refusal = if !enrolled {
            Some(("staff.totp_required", StaffRefusal::NotEnrolled { page }))
        } else if !has_step_up(state, &user).await.map_err(failed)? {
            // Only a page fetched with GET can come back after the check.
            let next = if parts.method == Method::GET {
                parts.uri.path().to_owned()
            } else {
                "/admin".to_owned()
            };
            Some((
                "staff.step_up_required",
                StaffRefusal::StepUp { page, next },
            ))
        } else {
            None
        };
        if let Some((kind, refusal)) = refusal {
            let detail = json!({ "method": parts.method.as_str(), "path": parts.uri.path() });
            client
                .record(state, kind, Some(user.id()), Some(detail))
                .await;
            return Err(refusal);
        }
        Ok(RequireStaff {
            user,
            client,
            _level: PhantomData,
        })
    }
}

/// Whether this session passed a TOTP check within `staff.step_up_minutes`.
pub async fn has_step_up(
    state: &AppState,
    user: &CurrentUser,
) -> Result<bool, reelsmith_store::StoreError> {
    let Some(session) = user.session_id() else {
        return Ok(false);
    };
    let Some(at) = state.db.session_step_up_at(session).await? else {
        return Ok(false);
    };
    let window = i64::from(state.config.staff.step_up_minutes.max(1)) * 60_000;
    let now = state.clock.now();
    Ok(at <= now && now - at < window)
}

//! `/admin/…`: the console's pages, rendered on the server from the same views as the JSON
//! API. Their buttons and forms call that API (`web/static/admin.js`), so every action passes
//! the same role, step-up, CSRF and audit checks whichever way it comes.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::api::{AuditQuery, JobQuery, UserQuery};
use super::views::{
    self, AuditView, JobView, LeaseView, PrivacyOverview, ProvidersOverview, UserDetail, UserView,
    JOB_STATUSES,
};
use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::staff::{Admin, Moderator, RequireRole, RequireStaff};
use crate::AppState;
use reelsmith_core::Code;

/// What every console page's frame needs.
pub struct Frame {
    pub title: &'static str,
    pub page: &'static str,
    pub name: String,
    pub is_admin: bool,
}

impl Frame {
    fn new(title: &'static str, page: &'static str, user: &CurrentUser) -> Frame {
        Frame {
            title,
            page,
            name: user.user.display_name.clone(),
            is_admin: user.user.role == reelsmith_store::Role::Admin,
        }
    }

    pub fn current(&self, page: &str) -> &'static str {
        if self.page == page {
            "page"
        } else {
            "false"
        }
    }
}

fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(err) => ApiError::fault(Code::WebRender, &err).into_response(),
    }
}

fn failed(err: ApiError) -> Response {
    err.into_response()
}

#[derive(Template)]
#[template(path = "admin/home.html")]
pub struct Home {
    pub f: Frame,
    pub step_up_minutes: u32,
}

pub async fn home(State(state): State<AppState>, staff: RequireStaff<Moderator>) -> Response {
    render(Home {
        f: Frame::new("Console", "home", &staff.user),
        step_up_minutes: state.config.staff.step_up_minutes,
    })
}

#[derive(Template)]
#[template(path = "admin/verify.html")]
pub struct Verify {
    pub f: Frame,
    pub next: String,
    pub step_up_minutes: u32,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The TOTP check that gives this session step-up. Staff who have not enrolled go to
/// enrolment first.
pub async fn verify(
    State(state): State<AppState>,
    staff: RequireRole<Moderator>,
    query: Result<Query<NextQuery>, QueryRejection>,
) -> Response {
    let query = query.ok();
    let enrolled = match state.db.totp_state(staff.user.id()).await {
        Ok(t) => t.is_some_and(|t| t.enabled()),
        Err(err) => return failed(err.into()),
    };
    if !enrolled {
        return Redirect::to("/account/security?staff=1").into_response();
    }
    let next = query
        .and_then(|Query(q)| q.next)
        .and_then(|raw| reelsmith_auth::same_origin_path(&raw))
        .filter(|p| p.starts_with("/admin") || p.starts_with("/moderation"))
        .unwrap_or_else(|| "/admin".to_owned());
    render(Verify {
        f: Frame::new("Confirm it is you", "verify", &staff.user),
        next,
        step_up_minutes: state.config.staff.step_up_minutes,
    })
}

#[derive(Template)]
#[template(path = "admin/users.html")]
pub struct Users {
    pub f: Frame,
    pub q: String,
    pub users: Vec<UserView>,
}

pub async fn users(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    query: Result<Query<UserQuery>, QueryRejection>,
) -> Response {
    let q = query.ok().map(|Query(q)| q.q).unwrap_or_default();
    match views::users(&state, &q).await {
        Ok(users) => render(Users {
            f: Frame::new("Users", "users", &staff.user),
            q,
            users,
        }),
        Err(err) => failed(err),
    }
}

#[derive(Template)]
#[template(path = "admin/user.html")]
pub struct User {
    pub f: Frame,
    pub d: UserDetail,
    pub is_self: bool,
}

pub async fn user(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    Path(id): Path<String>,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    match views::user_detail(&state, &id).await {
        Ok(Some(d)) => render(User {
            f: Frame::new("User", "users", &staff.user),
            is_self: d.user.id == staff.id(),
            d,
        }),
        Ok(None) => crate::web::fallback(Ok(staff.user), uri, headers).await,
        Err(err) => failed(err),
    }
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
pub struct Jobs {
    pub f: Frame,
    pub status: String,
    pub statuses: [&'static str; 5],
    pub jobs: Vec<JobView>,
    pub leases: Vec<LeaseView>,
}

pub async fn jobs(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    query: Result<Query<JobQuery>, QueryRejection>,
) -> Response {
    let status = query.ok().and_then(|Query(q)| q.status).unwrap_or_default();
    match views::queue(&state, Some(status.as_str()).filter(|s| !s.is_empty())).await {
        Ok(queue) => render(Jobs {
            f: Frame::new("Jobs and queue", "jobs", &staff.user),
            status,
            statuses: JOB_STATUSES,
            jobs: queue.jobs,
            leases: queue.leases,
        }),
        Err(err) => failed(err),
    }
}

#[derive(Template)]
#[template(path = "admin/providers.html")]
pub struct Providers {
    pub f: Frame,
    pub o: ProvidersOverview,
}

pub async fn providers(State(state): State<AppState>, staff: RequireStaff<Admin>) -> Response {
    match views::providers(&state).await {
        Ok(o) => render(Providers {
            f: Frame::new("Providers", "providers", &staff.user),
            o,
        }),
        Err(err) => failed(err),
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct Audit {
    pub f: Frame,
    pub kind: String,
    pub user: String,
    pub since: String,
    pub until: String,
    /// The same filter as a query string, for the CSV link.
    pub query: String,
    pub entries: Vec<AuditView>,
}

pub async fn audit(
    State(state): State<AppState>,
    staff: RequireStaff<Admin>,
    query: Result<Query<AuditQuery>, QueryRejection>,
    uri: Uri,
) -> Response {
    let query = query.ok().map(|Query(q)| q).unwrap_or_default();
    let filter = match query.filter(200) {
        Ok(f) => f,
        Err(err) => return failed(err),
    };
    match views::audit(&state, &filter).await {
        Ok(entries) => render(Audit {
            f: Frame::new("Audit log", "audit", &staff.user),
            kind: query.kind.unwrap_or_default(),
            user: query.user.unwrap_or_default(),
            since: query.since.unwrap_or_default(),
            until: query.until.unwrap_or_default(),
            query: uri.query().unwrap_or("").to_owned(),
            entries,
        }),
        Err(err) => failed(err),
    }
}

#[derive(Template)]
#[template(path = "admin/privacy.html")]
pub struct Privacy {
    pub f: Frame,
    pub o: PrivacyOverview,
}

pub async fn privacy(State(state): State<AppState>, staff: RequireStaff<Admin>) -> Response {
    match views::privacy(&state).await {
        Ok(o) => render(Privacy {
            f: Frame::new("Privacy tools", "privacy", &staff.user),
            o,
        }),
        Err(err) => failed(err),
    }
}

#[derive(Template)]
#[template(path = "security.html")]
pub struct Security {
    pub c: crate::web::Chrome,
    pub enabled: bool,
    pub recovery_codes_left: i64,
    pub is_staff: bool,
}

/// `/account/security`: any signed-in person enrols or removes their authenticator here.
pub async fn security(
    State(state): State<AppState>,
    caller: crate::web::Caller,
    uri: Uri,
) -> Response {
    let Ok(user) = &caller else {
        return Redirect::to(&format!(
            "/signin?next={}",
            crate::web::encode_path(uri.path())
        ))
        .into_response();
    };
    let enabled = match state.db.totp_state(user.id()).await {
        Ok(t) => t.is_some_and(|t| t.enabled()),
        Err(err) => return failed(err.into()),
    };
    let left = match state.db.recovery_codes_left(user.id()).await {
        Ok(n) => n,
        Err(err) => return failed(err.into()),
    };
    render(Security {
        is_staff: user.user.role != reelsmith_store::Role::User,
        c: crate::web::Chrome {
            title: "Sign-in security",
            page: "security",
            user: Some(user.user.display_name.clone()),
        },
        enabled,
        recovery_codes_left: left,
    })
}

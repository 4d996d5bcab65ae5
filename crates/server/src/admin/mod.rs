//! The admin console (issue 20; P-SEC-4, P-SEC-5): pages under `/admin` and their JSON API
//! under `/api/v1/admin`, plus the second-factor endpoints every account has
//! (`/api/v1/me/totp…`) and the page to enrol one (`/account/security`).
//!
//! Who may enter is decided by [`crate::staff::RequireStaff`] in each handler: users (and
//! anonymous callers) get 404, staff without a recent TOTP check are sent to `/admin/verify`.
//! Moderators reach the console's home (and the moderation queue, where that is built); users,
//! jobs, providers, credits, the privacy tools and the audit log are for admins.

pub mod api;
pub mod pages;
pub mod views;

use axum::routing::{get, post, put};
use axum::Router;

use crate::{mfa, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/totp", get(mfa::status).delete(mfa::disable))
        .route("/api/v1/me/totp/enrol", post(mfa::enrol))
        .route("/api/v1/me/totp/confirm", post(mfa::confirm))
        .route("/api/v1/me/totp/verify", post(mfa::verify))
        .route("/api/v1/admin/me", get(api::whoami))
        .route("/api/v1/admin/users", get(api::users))
        .route("/api/v1/admin/users/{id}", get(api::user))
        .route("/api/v1/admin/users/{id}/role", put(api::set_role))
        .route("/api/v1/admin/users/{id}/suspend", post(api::suspend))
        .route("/api/v1/admin/users/{id}/restore", post(api::restore))
        .route(
            "/api/v1/admin/users/{id}/sessions/end",
            post(api::end_sessions),
        )
        .route("/api/v1/admin/users/{id}/delete", post(api::delete_user))
        .route("/api/v1/admin/users/{id}/credits", post(api::credits))
        .route("/api/v1/admin/jobs", get(api::jobs))
        .route("/api/v1/admin/jobs/{id}/retry", post(api::retry_job))
        .route("/api/v1/admin/jobs/{id}/cancel", post(api::cancel_job))
        .route("/api/v1/admin/providers", get(api::providers))
        .route("/api/v1/admin/privacy", get(api::privacy))
        .route("/api/v1/admin/audit", get(api::audit))
        .route("/api/v1/admin/audit.csv", get(api::audit_csv))
        .route("/admin", get(pages::home))
        .route("/admin/verify", get(pages::verify))
        .route("/admin/users", get(pages::users))
        .route("/admin/users/{id}", get(pages::user))
        .route("/admin/jobs", get(pages::jobs))
        .route("/admin/providers", get(pages::providers))
        .route("/admin/audit", get(pages::audit))
        .route("/admin/audit.csv", get(api::audit_csv))
        .route("/admin/privacy", get(pages::privacy))
        .route("/account/security", get(pages::security))
}

/// Every staff route, for tests that check each refuses those who may not see it.
pub const STAFF_GET_ROUTES: &[&str] = &[
    "/api/v1/admin/me",
    "/api/v1/admin/users",
    "/api/v1/admin/jobs",
    "/api/v1/admin/providers",
    "/api/v1/admin/privacy",
    "/api/v1/admin/audit",
    "/api/v1/admin/audit.csv",
    "/admin",
    "/admin/verify",
    "/admin/users",
    "/admin/jobs",
    "/admin/providers",
    "/admin/audit",
    "/admin/audit.csv",
    "/admin/privacy",
];

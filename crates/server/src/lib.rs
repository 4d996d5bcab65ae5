//! Reelsmith's HTTP API (axum): accounts and sessions, API tokens, uploads, jobs with their
//! event stream and ranged downloads, the OpenAPI document, and health, readiness and metrics;
//! and the web studio's pages (`web`), with cross-site request refusal and security headers on
//! every response.
//!
//! `router(AppState::new(db, media, mailer, config))` is the whole service; the CLI serves it
//! (with `into_make_service_with_connect_info::<SocketAddr>()` so audit entries get the peer
//! address) next to the workers.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod account;
pub mod admin;
pub mod auth;
pub mod batches;
pub mod billing;
pub mod billing_webhooks;
pub mod cloud_voices;
pub mod consents;
pub mod credits;
pub mod error;
pub mod error_codes;
pub mod exports;
pub mod extract;
pub mod health;
pub mod hsts;
pub mod job_cost;
pub mod jobs;
pub mod marketing;
pub mod metrics;
pub mod mfa;
pub mod moderation;
pub mod oidc;
pub mod openapi;
pub mod outbound_webhooks;
pub mod policies;
pub mod presets;
pub mod preview;
pub mod providers;
pub mod range;
pub mod readiness;
pub mod scripts;
pub mod sessions;
pub mod sharing;
pub mod sound;
pub mod staff;
pub mod state;
pub mod stock_search;
pub mod storyboards;
pub mod time;
pub mod tokens;
pub mod transfers;
pub mod uploads;
pub mod web;
pub mod webhooks;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderName;
use axum::routing::{get, post};
use axum::Router;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ApiResult};
pub use extract::{CurrentUser, SESSION_COOKIE};
pub use jobs::{output_key, Output};
pub use state::AppState;

/// JSON bodies are small; only uploads get a larger limit.
const JSON_BODY_LIMIT: usize = 256 * 1024;
/// Room for the multipart framing around an upload's file.
pub(crate) const MULTIPART_OVERHEAD: usize = 64 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let upload_limit = usize::try_from(state.config.limits.max_file_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(MULTIPART_OVERHEAD);
    let api = Router::new()
        .route("/auth/signup", post(auth::signup))
        .route("/auth/verify", post(auth::verify))
        .route("/auth/verify/resend", post(auth::resend_verification))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/password/forgot", post(auth::forgot_password))
        .route("/auth/password/reset", post(auth::reset_password))
        .route(
            "/me",
            get(auth::me)
                .patch(account::update_profile)
                .delete(account::delete_account),
        )
        .route(
            "/me/processing",
            axum::routing::put(account::set_processing),
        )
        .route("/me/password", post(account::change_password))
        .route("/me/email", post(account::request_email_change))
        .route("/me/email/verify", post(account::verify_email_change))
        .route("/me/credits", get(credits::mine))
        .route("/me/transfers", get(transfers::mine))
        .route("/me/username", axum::routing::put(account::set_username))
        .route("/me/preferences", get(account::preferences))
        .route("/me/exports", post(exports::create).get(exports::list))
        .route("/me/exports/{id}/download", get(exports::download))
        .route("/me/consents", get(consents::list))
        .route("/me/marketing", axum::routing::put(marketing::set))
        .route(
            "/me/notifications",
            axum::routing::put(account::set_notifications),
        )
        .route("/me/policies", get(policies::mine))
        .route("/me/policies/accept", post(policies::accept))
        .route("/policies", get(policies::list))
        .route("/errors", get(error_codes::list))
        .route(
            "/me/consents/{provider}",
            axum::routing::put(consents::grant).delete(consents::withdraw),
        )
        .route("/providers", get(providers::list))
        .route("/tokens", post(tokens::create).get(tokens::list))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/sessions", get(sessions::list))
        .route("/sessions/{id}", axum::routing::delete(sessions::revoke))
        .route("/sessions/revoke-others", post(sessions::revoke_others))
        .route(
            "/uploads",
            post(uploads::create)
                .layer(DefaultBodyLimit::max(upload_limit))
                .get(uploads::list),
        )
        .route("/uploads/{id}", get(uploads::get).delete(uploads::delete))
        .route("/uploads/{id}/content", get(uploads::content))
        .route("/jobs", post(jobs::submit).get(jobs::list))
        .route("/jobs/quote", post(credits::quote))
        .route("/jobs/{id}/transfers", get(transfers::list))
        .route(
            "/jobs/{id}",
            get(jobs::get).delete(jobs::delete).patch(jobs::update),
        )
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route(
            "/jobs/{id}/revisions",
            post(jobs::revise).get(jobs::revisions),
        )
        .route(
            "/jobs/{id}/revisions/{revision}",
            axum::routing::delete(jobs::delete_revision),
        )
        .route("/jobs/{id}/events", get(jobs::events))
        .route("/jobs/{id}/video", get(jobs::video))
        .route("/jobs/{id}/poster", get(jobs::poster))
        .route("/jobs/{id}/captions.vtt", get(jobs::captions_vtt))
        .route("/jobs/{id}/captions.srt", get(jobs::captions_srt))
        .route("/scripts", post(scripts::write))
        .route("/preview/frame", post(preview::frame))
        .route("/fonts", get(preview::fonts))
        .route("/webhooks/fal", post(webhooks::fal_webhook))
        .route("/webhooks/replicate", post(webhooks::replicate_webhook))
        .route("/webhooks/kie", post(webhooks::kie_webhook))
        .merge(sharing_api())
        .merge(outbound_webhooks_api())
        .merge(storyboards_api())
        .merge(presets_api(state.config.batches.max_request_kib * 1024))
        .route("/voices", get(sound::voices))
        .route("/voices/{id}/sample", get(sound::voice_sample))
        .route("/music", get(sound::music))
        .route("/music/{id}/preview", get(sound::music_preview))
        // Billing (issue 18).
        .route("/billing/plans", get(billing::plans))
        .route("/me/billing", get(billing::mine))
        .route("/me/billing/checkout", post(billing::checkout))
        .route("/me/billing/portal", post(billing::portal))
        .route("/admin/credits", post(billing::operator_credits))
        .route(
            "/billing/webhooks/stripe",
            post(billing_webhooks::stripe_webhook),
        )
        .route(
            "/billing/webhooks/creem",
            post(billing_webhooks::creem_webhook),
        );

    Router::new()
        .nest("/api/v1", api)
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/api/docs", get(openapi::docs_page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(web::routes())
        .merge(admin::routes())
        .merge(sharing_pages())
        .merge(oidc::routes())
        .fallback(web::fallback)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn(web::csrf::protect))
        .layer(axum::middleware::from_fn(web::headers::security_headers))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            hsts::add,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// Issue 19's API: share links, publishing, the gallery, profiles, reports and moderation.
fn sharing_api() -> Router<AppState> {
    use axum::routing::{delete, put};
    Router::new()
        .route(
            "/jobs/{id}/shares",
            post(sharing::create_share).get(sharing::list_shares),
        )
        .route(
            "/jobs/{id}/shares/{share_id}",
            delete(sharing::revoke_share),
        )
        .route(
            "/jobs/{id}/publication",
            get(sharing::get_publication)
                .put(sharing::publish)
                .delete(sharing::unpublish),
        )
        .route("/me/avatar", put(sharing::set_avatar))
        .route("/gallery", get(sharing::public::gallery))
        .route("/gallery/{id}", get(sharing::public::work))
        .route("/gallery/{id}/{file}", get(sharing::public::work_file))
        .route("/profiles/{username}", get(sharing::public::profile))
        .route("/profiles/{username}/avatar", get(sharing::public::avatar))
        .route("/reports", post(moderation::report))
        .route("/moderation/queue", get(moderation::queue))
        .route("/moderation/jobs/{id}/approve", post(moderation::approve))
        .route("/moderation/jobs/{id}/refuse", post(moderation::refuse))
        .route("/moderation/jobs/{id}/takedown", post(moderation::takedown))
        .route("/moderation/users/{username}/ban", post(moderation::ban))
        .route(
            "/moderation/legal",
            post(moderation::record_legal).get(moderation::list_legal),
        )
        .route(
            "/moderation/legal/{id}/decision",
            post(moderation::decide_legal),
        )
}

/// Issue 25's storyboards: a draft's scenes, edited before the job is queued.
fn storyboards_api() -> Router<AppState> {
    use storyboards as sb;
    Router::new()
        .route("/storyboards", post(sb::create))
        .route(
            "/jobs/{id}/storyboard",
            get(sb::get).put(sb::replace).delete(sb::delete),
        )
        .route("/jobs/{id}/render", post(sb::render))
        .route(
            "/jobs/{id}/storyboard/scenes/{n}/pictures",
            get(stock_search::search),
        )
        .route("/jobs/{id}/description.txt", get(stock_search::description))
        .route(
            "/jobs/{id}/storyboard/picks/{pick}/preview",
            get(stock_search::preview),
        )
}

/// Issue 25's presets and batches; a batch's body may be larger than other JSON bodies.
fn presets_api(batch_body_limit: usize) -> Router<AppState> {
    let limit = || DefaultBodyLimit::max(batch_body_limit);
    Router::new()
        .route("/presets", post(presets::create).get(presets::list))
        .route(
            "/presets/{id}",
            get(presets::get)
                .put(presets::replace)
                .delete(presets::delete),
        )
        .route(
            "/batches",
            post(batches::create).get(batches::list).layer(limit()),
        )
        .route("/batches/quote", post(batches::quote).layer(limit()))
        .route("/batches/{id}", get(batches::get))
}

/// Issue 23's outbound webhooks, registered per API token.
fn outbound_webhooks_api() -> Router<AppState> {
    use outbound_webhooks as w;
    Router::new()
        .route("/tokens/{id}/webhooks", post(w::create).get(w::list))
        .route(
            "/tokens/{id}/webhooks/{webhook_id}",
            axum::routing::delete(w::delete),
        )
        .route(
            "/tokens/{id}/webhooks/{webhook_id}/deliveries",
            get(w::deliveries),
        )
}

/// Issue 19's pages: shared videos, Discover, public works and profiles, the moderation queue.
fn sharing_pages() -> Router<AppState> {
    Router::new()
        .route("/s/{token}", get(sharing::pages::shared_page))
        .route("/s/{token}/{file}", get(sharing::public::shared_file))
        .route("/discover", get(sharing::pages::discover))
        .route("/discover/{id}", get(sharing::pages::work_page))
        .route("/u/{username}", get(sharing::pages::profile_page))
        .route("/moderation", get(moderation::page::moderation_page))
}

/// Every request's span carries its id (also sent back as `x-request-id`).
fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", request_id = %id, method = %request.method(), uri = %request.uri().path())
}

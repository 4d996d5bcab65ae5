//! `/healthz` (the process answers), `/readyz` (the database and media storage answer) and
//! `/metrics` (Prometheus text, only with the configured bearer token).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use reelsmith_auth::hash_token;

use crate::error::ApiError;
use crate::metrics::job_counts;
use crate::readiness::probe;
use crate::AppState;
use reelsmith_core::Code;

/// What `/readyz` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    /// `ok` or `unavailable`.
    pub database: String,
    /// `ok` or `unavailable`.
    pub storage: String,
    /// The dependencies that are down or did not answer in time: `database`, `storage`.
    pub down: Vec<String>,
}

/// What `/healthz` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health, description = "the process is alive")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness, description = "database and storage reachable"), (status = 503, body = Readiness, description = "a dependency is down or did not answer within 2 s; `down` names which")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    // Both probed at once, each bounded, so the answer comes within READINESS_TIMEOUT even
    // when a dependency accepts connections and never answers.
    // A lookup of a key that never exists: reaching the backend is what counts.
    let (database, storage) = tokio::join!(
        probe(state.db.ping()),
        probe(async { state.media.head("readyz/probe").await.map(|_| ()) }),
    );
    let ok = database.is_ok() && storage.is_ok();
    for (what, result) in [("database", &database), ("storage", &storage)] {
        if let Err(err) = result {
            tracing::warn!(what, error = %err, "not ready");
        }
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let down: Vec<&str> = [("database", &database), ("storage", &storage)]
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(what, _)| *what)
        .collect();
    let body = json!({
        "status": if ok { "ready" } else { "unavailable" },
        "database": if database.is_ok() { "ok" } else { "unavailable" },
        "storage": if storage.is_ok() { "ok" } else { "unavailable" },
        "down": down,
    });
    (status, Json(body)).into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "application/openmetrics-text", description = "OpenMetrics text format (read by Prometheus)"),
        (status = 401, description = "`metrics.unauthorized`: the bearer token is missing or wrong"),
        (status = 404, description = "no `metrics.token` is configured")))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refusal) = metrics_allowed(&state, &headers) {
        return refusal.into_response();
    }
    match job_counts(&state.db).await {
        Ok(counts) => state.metrics.set_job_counts(&counts),
        Err(err) => tracing::warn!(error = %err, "could not count jobs for metrics"),
    }
    // Workers embedded in this process (`serve` without `--no-workers`) record into the
    // process's pipeline registry: it is shown here too.
    let out = reelsmith_metrics::encode(&[
        state.metrics.registry(),
        reelsmith_metrics::worker().registry(),
    ]);
    (
        [(header::CONTENT_TYPE, reelsmith_metrics::CONTENT_TYPE)],
        out,
    )
        .into_response()
}

/// Only the scraper holding `metrics.token` reads the metrics; without a token configured the
/// route does not exist for anyone.
fn metrics_allowed(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.config.metrics.token else {
        return Err(ApiError::not_found("page"));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    // Digests of equal length are compared, so the time taken says nothing about the token.
    match given {
        Some(given) if hash_token(given) == hash_token(token.expose()) => Ok(()),
        _ => Err(ApiError::of(
            Code::MetricsUnauthorized,
            "send the metrics token as `Authorization: Bearer <token>`",
        )),
    }
}

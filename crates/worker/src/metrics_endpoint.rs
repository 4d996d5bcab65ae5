//! `reelsmith worker`'s own `GET /metrics` (`worker.metrics_listen`): a worker process has no
//! API, yet its stage durations, runs and provider calls live only in its memory. The access
//! rule is the server's: 404 while no `metrics.token` is configured, 401 without the right
//! bearer token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use reelsmith_config::Secret;
use reelsmith_metrics::{scrape_access, Access};
use tokio_util::sync::CancellationToken;

/// The worker's metrics routes; `token` is `metrics.token`.
pub fn router(token: Option<Secret<String>>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "not_found", "no such page") })
        .with_state(Arc::new(token))
}

/// Serves [`router`] on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    token: Option<Secret<String>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let address: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?address, "worker metrics listening");
    axum::serve(listener, router(token))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn metrics(State(token): State<Arc<Option<Secret<String>>>>, headers: HeaderMap) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = token.as_ref().as_ref().map(|t| t.expose().as_str());
    match scrape_access(token, authorization) {
        Access::NotConfigured => problem(StatusCode::NOT_FOUND, "not_found", "no such page"),
        Access::Refused => problem(
            StatusCode::UNAUTHORIZED,
            "metrics.unauthorized",
            "send the metrics token as `Authorization: Bearer <token>`",
        ),
        Access::Allowed => {
            let text = reelsmith_metrics::encode(&[reelsmith_metrics::worker().registry()]);
            (
                [(header::CONTENT_TYPE, reelsmith_metrics::CONTENT_TYPE)],
                text,
            )
                .into_response()
        }
    }
}

/// The same RFC 7807 shape the API answers with.
fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": format!("urn:reelsmith:problem:{code}"),
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

//! Prometheus metrics of the API: requests by route template and status (and their durations),
//! written by a middleware, and job counts by status, read from the database at scrape time (so
//! every API process reports the same truth). The registry types live in `reelsmith-metrics`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// The API's registry (requests, durations, queue depth); see `reelsmith-metrics`.
pub use reelsmith_metrics::ServerMetrics as Metrics;

/// Counts every answered request under its route template (`/api/v1/jobs/{id}`), never the
/// raw path, so ids do not explode the label set.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .observe_request(&route, response.status().as_u16(), started.elapsed());
    response
}

/// Jobs per status, straight from the jobs table.
pub async fn job_counts(db: &reelsmith_store::Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    const SQL: &str = "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status";
    match db {
        reelsmith_store::Db::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
        reelsmith_store::Db::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
    }
}

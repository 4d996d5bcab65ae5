//! Prometheus text metrics: request counts by route template and status, written by a
//! middleware, and job counts by status, read from the database at scrape time (so every API
//! process and worker reports the same truth).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// One counter per (route, status). Reads take the shared lock and bump an atomic, so the hot
/// path never waits on other requests; only a first-seen pair takes the write lock.
#[derive(Default)]
pub struct Metrics {
    requests: RwLock<BTreeMap<(String, u16), Arc<AtomicU64>>>,
}

impl Metrics {
    pub fn count_request(&self, route: &str, status: u16) {
        let key = (route.to_owned(), status);
        if let Some(counter) = self.requests.read().ok().and_then(|m| m.get(&key).cloned()) {
            counter.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Ok(mut map) = self.requests.write() {
            map.entry(key).or_default().fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn request_count(&self, route: &str, status: u16) -> u64 {
        self.requests
            .read()
            .ok()
            .and_then(|m| {
                m.get(&(route.to_owned(), status))
                    .map(|c| c.load(Ordering::Relaxed))
            })
            .unwrap_or(0)
    }

    pub fn render_requests(&self, out: &mut String) {
        out.push_str(
            "# HELP reelsmith_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE reelsmith_http_requests_total counter\n");
        if let Ok(map) = self.requests.read() {
            for ((route, status), count) in map.iter() {
                let _ = writeln!(
                    out,
                    "reelsmith_http_requests_total{{route=\"{}\",status=\"{status}\"}} {}",
                    escape_label(route),
                    count.load(Ordering::Relaxed)
                );
            }
        }
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts every answered request under its route template (`/api/v1/jobs/{id}`), never the
/// raw path, so ids do not explode the label set.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state
        .metrics
        .count_request(&route, response.status().as_u16());
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

pub fn render_job_counts(counts: &[(String, i64)], out: &mut String) {
    out.push_str("# HELP reelsmith_jobs Jobs in the database, by status.\n");
    out.push_str("# TYPE reelsmith_jobs gauge\n");
    for status in ["queued", "running", "succeeded", "failed", "cancelled"] {
        let n = counts
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "reelsmith_jobs{{status=\"{status}\"}} {n}");
    }
}

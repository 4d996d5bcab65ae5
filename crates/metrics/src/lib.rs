//! Reelsmith's Prometheus metrics, on `prometheus-client` (the Prometheus project's own Rust
//! client). Two registries:
//!
//! - [`ServerMetrics`], one per API (`AppState`): HTTP requests and their durations by route
//!   template, and the queue depth the server reads from the database at scrape time.
//! - [`WorkerMetrics`], one per process ([`worker`]): pipeline stage durations, finished runs
//!   by outcome, provider calls and errors. Process-wide because the pipeline and the provider
//!   adapters record from deep inside, and because workers embedded in `serve` must show on the
//!   server's `/metrics` without being wired to it (docs/decisions.md, D-metrics-1).
//!
//! Every label value is a fixed word (a stage, an outcome, a provider's registry name, an error
//! code) or a route template: never a user, an email, a job id or a secret.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use sha2::{Digest, Sha256};

/// What `/metrics` answers with: the OpenMetrics text format, which Prometheus reads natively.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Statuses reported even when no job has them, so a dashboard's series never vanish.
pub const JOB_STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderCall {
    provider: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderError {
    provider: &'static str,
    code: &'static str,
}

/// API answers take milliseconds; a slow upload or export seconds: 5 ms to about 10 s.
fn http_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

/// A stage takes from a fraction of a second (fetch, store) to an hour (a long render with
/// provider shots): 50 ms to about 55 min.
fn stage_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 17))
}

/// The API's metrics: requests by route template and status, their durations, and the queue
/// depth (set from the database just before each scrape).
#[derive(Debug)]
pub struct ServerMetrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    durations: Histograms<RouteLabel>,
    jobs: Family<StatusLabel, Gauge>,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        let requests = Family::<RouteStatus, Counter>::default();
        let durations = Histograms::<RouteLabel>::new_with_constructor(http_histogram as fn() -> _);
        let jobs = Family::<StatusLabel, Gauge>::default();
        let mut registry = Registry::default();
        registry.register(
            "reelsmith_http_requests",
            "HTTP requests answered, by route template and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "reelsmith_http_request_duration",
            "Time to answer an HTTP request (until the answer's head), by route template",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "reelsmith_jobs",
            "Jobs in the database by status, read at scrape time (the queue depth is status=\"queued\")",
            jobs.clone(),
        );
        ServerMetrics {
            registry,
            requests,
            durations,
            jobs,
        }
    }
}

impl ServerMetrics {
    /// One answered request; `route` is the matched template (`/api/v1/jobs/{id}`), never the
    /// raw path.
    pub fn observe_request(&self, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RouteStatus {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn request_count(&self, route: &str, status: u16) -> u64 {
        self.requests
            .get(&RouteStatus {
                route: route.to_owned(),
                status,
            })
            .map_or(0, |c| c.get())
    }

    /// The job counts by status just read from the database; the usual statuses read 0 when
    /// absent.
    pub fn set_job_counts(&self, counts: &[(String, i64)]) {
        for status in JOB_STATUSES {
            if !counts.iter().any(|(s, _)| s == status) {
                self.jobs
                    .get_or_create(&StatusLabel {
                        status: status.to_owned(),
                    })
                    .set(0);
            }
        }
        for (status, n) in counts {
            self.jobs
                .get_or_create(&StatusLabel {
                    status: status.clone(),
                })
                .set(*n);
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// The job pipeline's metrics, one set per process (see [`worker`]).
#[derive(Debug)]
pub struct WorkerMetrics {
    registry: Registry,
    stages: Histograms<StageLabel>,
    runs: Family<OutcomeLabel, Counter>,
    provider_calls: Family<ProviderCall, Counter>,
    provider_errors: Family<ProviderError, Counter>,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        let stages = Histograms::<StageLabel>::new_with_constructor(stage_histogram as fn() -> _);
        let runs = Family::<OutcomeLabel, Counter>::default();
        let provider_calls = Family::<ProviderCall, Counter>::default();
        let provider_errors = Family::<ProviderError, Counter>::default();
        let mut registry = Registry::default();
        registry.register_with_unit(
            "reelsmith_stage_duration",
            "Time a job spent in a completed pipeline stage (fetch, voice, shots, transcribe, render, store) \
             or, within render, in a completed engine stage (plan, narrate, align, mix, compose, encode, finish)",
            Unit::Seconds,
            stages.clone(),
        );
        registry.register(
            "reelsmith_renders",
            "Job runs ended by a worker, by outcome (succeeded, failed, retrying, released, lease_lost)",
            runs.clone(),
        );
        registry.register(
            "reelsmith_provider_calls",
            "HTTP calls to third-party providers (each try), by provider and outcome (ok, error)",
            provider_calls.clone(),
        );
        registry.register(
            "reelsmith_provider_errors",
            "Failed provider calls (each try), by provider and stable error code",
            provider_errors.clone(),
        );
        WorkerMetrics {
            registry,
            stages,
            runs,
            provider_calls,
            provider_errors,
        }
    }
}

impl WorkerMetrics {
    /// A stage that completed; `stage` is one of the pipeline's fixed names.
    pub fn observe_stage(&self, stage: &'static str, took: Duration) {
        self.stages
            .get_or_create(&StageLabel { stage })
            .observe(took.as_secs_f64());
    }

    /// A job run that ended on this worker; `outcome` is a fixed word.
    pub fn count_run(&self, outcome: &'static str) {
        self.runs.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// One try of a provider call: `error` is the error's stable code when it failed.
    pub fn count_provider_call(&self, provider: &'static str, error: Option<&'static str>) {
        let outcome = if error.is_some() { "error" } else { "ok" };
        self.provider_calls
            .get_or_create(&ProviderCall { provider, outcome })
            .inc();
        if let Some(code) = error {
            self.provider_errors
                .get_or_create(&ProviderError { provider, code })
                .inc();
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// This process's pipeline metrics.
pub fn worker() -> &'static WorkerMetrics {
    static METRICS: OnceLock<WorkerMetrics> = OnceLock::new();
    METRICS.get_or_init(WorkerMetrics::default)
}

/// The registries as one OpenMetrics exposition.
pub fn encode(registries: &[&Registry]) -> String {
    let mut out = String::new();
    for registry in registries {
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, registry);
    }
    let _ = encode_eof(&mut out);
    out
}

/// Whether a scrape may read the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// No `metrics.token` is configured: the endpoint does not exist for anyone.
    NotConfigured,
    /// The bearer token is missing or wrong.
    Refused,
}

/// The server's scrape rule, for `reelsmith worker`'s own endpoint: only `Authorization: Bearer
/// <metrics.token>`. Digests of equal length are compared, so the time taken says nothing
/// about the token.
pub fn scrape_access(token: Option<&str>, authorization: Option<&str>) -> Access {
    let Some(token) = token else {
        return Access::NotConfigured;
    };
    let given = authorization
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if Sha256::digest(given) == Sha256::digest(token) => Access::Allowed,
        _ => Access::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_once_and_ends_with_eof() {
        let server = ServerMetrics::default();
        server.observe_request("/api/v1/jobs/{id}", 200, Duration::from_millis(3));
        server.set_job_counts(&[("queued".into(), 2)]);
        let workers = WorkerMetrics::default();
        workers.observe_stage("render", Duration::from_millis(1500));
        workers.count_run("succeeded");
        workers.count_provider_call("fal", Some("provider.rate_limited"));
        let text = encode(&[server.registry(), workers.registry()]);
        for line in [
            "reelsmith_http_requests_total{route=\"/api/v1/jobs/{id}\",status=\"200\"} 1",
            "reelsmith_http_request_duration_seconds_count{route=\"/api/v1/jobs/{id}\"} 1",
            "reelsmith_jobs{status=\"queued\"} 2",
            "reelsmith_jobs{status=\"running\"} 0",
            "reelsmith_stage_duration_seconds_count{stage=\"render\"} 1",
            "reelsmith_stage_duration_seconds_bucket{le=\"1.6\",stage=\"render\"} 1",
            "reelsmith_renders_total{outcome=\"succeeded\"} 1",
            "reelsmith_provider_calls_total{provider=\"fal\",outcome=\"error\"} 1",
            "reelsmith_provider_errors_total{provider=\"fal\",code=\"provider.rate_limited\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert_eq!(text.matches("# EOF").count(), 1);
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn only_the_configured_bearer_token_may_scrape() {
        let token = Some("scraper-token-8f3k2m9q");
        assert_eq!(scrape_access(None, Some("Bearer x")), Access::NotConfigured);
        assert_eq!(scrape_access(token, None), Access::Refused);
        assert_eq!(scrape_access(token, Some("Bearer wrong")), Access::Refused);
        assert_eq!(
            scrape_access(token, Some("scraper-token-8f3k2m9q")),
            Access::Refused
        );
        assert_eq!(
            scrape_access(token, Some("Bearer scraper-token-8f3k2m9q")),
            Access::Allowed
        );
    }
}

//! Prometheus metrics (issue 23, Operations): a real studio render through a worker in the same
//! process moves the stage histograms, the runs counter and the HTTP counters on the server's
//! `/metrics`; provider calls against a local server that fails once are counted by provider
//! and code; no label carries an id, an email or a secret; and every query of the shipped
//! Grafana dashboard names a metric the scrape exposes.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{app_with, Auth, TestApp};
use reelsmith_providers::http::{CallPolicy, Endpoint, Http, Idempotent};
use reelsmith_providers::Secret;
use reelsmith_worker::{JobOutcome, Worker, WorkerSettings};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "scraper-token-8f3k2m9q";
const EMAIL: &str = "mia@example.org";

async fn scrape(t: &TestApp) -> String {
    let reply = t.get("/metrics", &Auth::Bearer(TOKEN.into())).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        reelsmith_metrics::CONTENT_TYPE
    );
    String::from_utf8(reply.body.to_vec()).unwrap()
}

/// The value of the sample written exactly `series` (name and labels), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|rest| rest.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Every label value of every sample line.
fn label_values(text: &str) -> Vec<String> {
    let mut values = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, labels)) = line.split_once('{') else {
            continue;
        };
        let labels = labels.rsplit_once('}').map_or(labels, |(l, _)| l);
        for pair in labels.split("\",") {
            let value = pair.split_once("=\"").map_or("", |(_, v)| v);
            values.push(value.trim_end_matches('"').to_owned());
        }
    }
    values
}

/// A label value that could name someone or something: an email, or a word of eight or more
/// letters and digits that has digits (a UUID's group, a token, a numeric id).
fn looks_like_an_id(value: &str) -> bool {
    value.contains('@')
        || value
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w.len() >= 8 && w.chars().any(|c| c.is_ascii_digit()))
}

/// Signs up a user who submits a tiny studio job over the API, and runs a worker in this
/// process until the job ends; returns the user's session cookie and the job's id.
async fn render_one_job(t: &TestApp) -> (String, String) {
    let cookie = t.signed_in_user(EMAIL, "mia").await;
    let user = Auth::Cookie(cookie.clone());
    let created = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &user,
            json!({ "script": "Hello there.", "resolution": "480p" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let job_id = created.json()["id"].as_str().unwrap().to_owned();

    let mut settings = WorkerSettings::from_config(&t.state.config);
    settings.poll_interval = Duration::from_millis(100);
    settings.engine.encode.preset = "ultrafast".into();
    let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::with_settings(t.state.db.clone(), t.state.media.clone(), settings, "w1")
        .with_outcomes(tx);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));
    let outcome = tokio::time::timeout(Duration::from_secs(120), outcomes.recv())
        .await
        .expect("the job ends within two minutes")
        .unwrap();
    shutdown.cancel();
    running.await.unwrap().unwrap();
    assert!(
        matches!(&outcome, JobOutcome::Succeeded { job_id: id, .. } if *id == job_id),
        "{outcome:?}"
    );
    (cookie, job_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_moves_the_stage_histograms_runs_and_http_counters_and_no_label_names_anyone() {
    let t = app_with(|c| c.metrics.token = Some(TOKEN.into())).await;
    let before = scrape(&t).await;
    let (cookie, job_id) = render_one_job(&t).await;
    let user = Auth::Cookie(cookie.clone());
    let shown = t.get(&format!("/api/v1/jobs/{job_id}"), &user).await;
    assert_eq!(shown.status, StatusCode::OK);

    let after = scrape(&t).await;
    for stage in ["fetch", "render", "store"] {
        let series = format!("reelsmith_stage_duration_seconds_count{{stage=\"{stage}\"}}");
        assert!(
            sample(&after, &series) >= sample(&before, &series) + 1.0,
            "{series} did not move:\n{after}"
        );
        let sum = format!("reelsmith_stage_duration_seconds_sum{{stage=\"{stage}\"}}");
        assert!(sample(&after, &sum) > sample(&before, &sum), "{sum}");
    }
    // Within `render`, each of the engine's own stages is a series of its own (a narrated
    // script: no `align`, which times a recording).
    for stage in ["plan", "narrate", "mix", "compose", "encode", "finish"] {
        let series = format!("reelsmith_stage_duration_seconds_count{{stage=\"{stage}\"}}");
        assert!(
            sample(&after, &series) >= sample(&before, &series) + 1.0,
            "{series} did not move:\n{after}"
        );
    }
    let succeeded = "reelsmith_renders_total{outcome=\"succeeded\"}";
    assert!(sample(&after, succeeded) >= sample(&before, succeeded) + 1.0);
    // The API's registry is this app's own: its counts are exact.
    assert_eq!(
        sample(
            &after,
            "reelsmith_http_requests_total{route=\"/api/v1/jobs\",status=\"201\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "reelsmith_http_requests_total{route=\"/api/v1/jobs/{id}\",status=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "reelsmith_http_request_duration_seconds_count{route=\"/api/v1/jobs/{id}\"}"
        ),
        1.0
    );
    assert_eq!(sample(&after, "reelsmith_jobs{status=\"succeeded\"}"), 1.0);
    assert_eq!(sample(&after, "reelsmith_jobs{status=\"queued\"}"), 0.0);

    let owner = t.state.db.user_by_email(EMAIL).await.unwrap().unwrap();
    for secret in [
        job_id.as_str(),
        owner.id.as_str(),
        EMAIL,
        TOKEN,
        cookie.as_str(),
    ] {
        assert!(
            !label_values(&after).iter().any(|v| v.contains(secret)),
            "a label carries {secret}"
        );
    }
    let suspicious: Vec<String> = label_values(&after)
        .into_iter()
        .filter(|v| looks_like_an_id(v))
        .collect();
    assert!(
        suspicious.is_empty(),
        "labels that look like ids: {suspicious:?}"
    );
}

/// A local provider that answers the first call 503 and every later one 200.
async fn flaky_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let answer = if served == 0 {
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
            } else {
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}"
            };
            served += 1;
            let _ = socket.write_all(answer.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    format!("http://{address}/")
}

/// One call of `provider`'s HTTP client to [`flaky_provider`]: a 503, then a 200 on the retry.
async fn call_a_flaky_provider(provider: &'static str) {
    let base = flaky_provider().await;
    let policy = CallPolicy {
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
        ..CallPolicy::default()
    };
    let http = Http::new(
        provider,
        Endpoint::new(&base, Secret::new("r8_metrics-test-key-0123456789"))
            .unwrap()
            .with_policy(policy),
    )
    .unwrap();
    let url = http.url("v1/predictions/abc").unwrap();
    let (answer, _) = http
        .send_json::<Value>("status", Idempotent::Yes, &|c| c.get(url.clone()))
        .await
        .unwrap();
    assert_eq!(answer["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_calls_and_errors_are_counted_by_provider_and_code() {
    let t = app_with(|c| c.metrics.token = Some(TOKEN.into())).await;
    let before = scrape(&t).await;
    call_a_flaky_provider("replicate").await;

    let after = scrape(&t).await;
    for (series, moved) in [
        (
            "reelsmith_provider_calls_total{provider=\"replicate\",outcome=\"error\"}",
            1.0,
        ),
        (
            "reelsmith_provider_calls_total{provider=\"replicate\",outcome=\"ok\"}",
            1.0,
        ),
        (
            "reelsmith_provider_errors_total{provider=\"replicate\",code=\"provider.unavailable\"}",
            1.0,
        ),
    ] {
        // Other tests of this binary run in the same process; only this one calls `replicate`.
        assert_eq!(
            sample(&after, series) - sample(&before, series),
            moved,
            "{series}:\n{after}"
        );
    }
    assert!(!after.contains("r8_metrics-test-key"));
    assert!(!after.contains("abc"));
}

/// The series names a scrape holds, from its `# TYPE` lines and its samples.
fn exposed_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            match kind {
                "counter" => {
                    names.insert(format!("{name}_total"));
                }
                "histogram" => {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{name}{suffix}"));
                    }
                }
                _ => {
                    names.insert(name.to_owned());
                }
            }
        } else if !line.starts_with('#') {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

fn exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_of_the_grafana_dashboard_names_a_metric_the_scrape_exposes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/reelsmith.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queries = Vec::new();
    exprs(&dashboard, &mut queries);
    assert!(queries.len() >= 6, "{queries:?}");

    // A family shows in the scrape once it has a series: a render and a provider call give
    // every family one.
    let t = app_with(|c| c.metrics.token = Some(TOKEN.into())).await;
    render_one_job(&t).await;
    // Another provider than the counting test's, which runs at the same time.
    call_a_flaky_provider("fal").await;
    let exposed = exposed_names(&scrape(&t).await);
    let mut used = BTreeSet::new();
    for query in &queries {
        let mut rest = query.as_str();
        while let Some(at) = rest.find("reelsmith_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                exposed.contains(&name),
                "{name} (in `{query}`) is not exposed; the scrape has {exposed:?}"
            );
            rest = &rest[at + name.len()..];
            used.insert(name);
        }
    }
    // The dashboard shows what the issue asks for: queue depth, renders, stages, provider
    // errors, HTTP rate and latency.
    for wanted in [
        "reelsmith_jobs",
        "reelsmith_renders_total",
        "reelsmith_stage_duration_seconds_bucket",
        "reelsmith_provider_errors_total",
        "reelsmith_http_requests_total",
        "reelsmith_http_request_duration_seconds_bucket",
    ] {
        assert!(used.contains(wanted), "the dashboard never shows {wanted}");
    }
}

//! Metrics and live progress of a split deployment through the real binary: `serve --no-workers`
//! and a separate `reelsmith worker` with `worker.metrics_listen`, sharing one data folder (one
//! SQLite file). A job submitted to the server is rendered by the worker process, whose own
//! `/metrics` (token required) shows the pipeline's and the engine's stage durations and the
//! finished run, while the server's shows the queue from the database; the server's event stream
//! shows the worker's events as they are written, not at its safety read (D-live-3).

mod platform;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use platform::{free_port, Server};
use serde_json::json;

const TOKEN: &str = "scraper-token-8f3k2m9q";

/// Generous on a loaded 2-core machine; only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(180);

/// A `reelsmith worker` process, SIGKILLed and reaped on drop.
struct WorkerProcess {
    child: Child,
    log: PathBuf,
}

impl WorkerProcess {
    fn start(data: &Path, metrics_listen: &str) -> WorkerProcess {
        let log = data.with_extension("worker.log");
        let child = Command::new(platform::bin())
            .arg("worker")
            .arg("--data")
            .arg(data)
            .env("REELSMITH__METRICS__TOKEN", TOKEN)
            .env("REELSMITH__WORKER__METRICS_LISTEN", metrics_listen)
            .env("REELSMITH__RENDER__X264_PRESET", "ultrafast")
            .env("REELSMITH__SPEECH__DEFAULT_VOICE", "espeak")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the worker starts");
        WorkerProcess { child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(url: &str, bearer: Option<&str>) -> Option<(u16, String)> {
    let mut request = reqwest::Client::new().get(url);
    if let Some(bearer) = bearer {
        request = request.header("authorization", format!("Bearer {bearer}"));
    }
    let reply = request.send().await.ok()?;
    let status = reply.status().as_u16();
    Some((status, reply.text().await.unwrap_or_default()))
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|rest| rest.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
}

/// Unix milliseconds of an event's `at` (`2026-12-06T16:20:01.123Z`, as the API writes it).
fn at_ms(at: &str) -> i64 {
    let num = |range: std::ops::Range<usize>| at[range].parse::<i64>().unwrap();
    let days =
        reelsmith_core::calendar::days_from_civil(num(0..4), num(5..7) as u32, num(8..10) as u32);
    ((days * 24 + num(11..13)) * 60 + num(14..16)) * 60_000 + num(17..19) * 1000 + num(20..23)
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Reads an event stream's blocks as `(kind, data, arrival in Unix ms)`, up to a terminal event.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn next(&mut self) -> Option<(String, serde_json::Value, i64)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                };
                if let (Some(kind), Some(data)) = (field("event:"), field("data:")) {
                    return Some((kind, serde_json::from_str(&data).unwrap(), unix_ms()));
                }
                continue;
            }
            let chunk = self.response.chunk().await.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// The stream's safety read comes 20 to 30 s after its last read (EVENT_RECHECK): an event shown
/// within this of its commit was woken for.
const PROMPT_MS: i64 = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_worker_on_sqlite_serves_its_stage_metrics_and_wakes_the_servers_streams_promptly(
) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &[("REELSMITH__METRICS__TOKEN", TOKEN)],
        &["--no-workers"],
    )
    .await;
    let mut api = server.client();
    api.sign_up_and_in(&data, "ops@example.org", "ops").await;
    let created = api
        .submit(
            &json!({ "script": "Hello there.", "resolution": "480p" }),
            None,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    // The stream is open (and has read `queued`) before the worker process exists.
    let response = api
        .request(reqwest::Method::GET, &format!("/api/v1/jobs/{id}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = Events {
        response,
        buffer: String::new(),
    };
    let (first, _, _) = events.next().await.expect("the queued event");
    assert_eq!(first, "queued");

    let listen = format!("127.0.0.1:{}", free_port());
    let worker = WorkerProcess::start(&data, &listen);
    let worker_metrics = format!("http://{listen}/metrics");
    let mut seen = Vec::new();
    let reading = async {
        while let Some(event) = events.next().await {
            let terminal = matches!(event.0.as_str(), "succeeded" | "failed" | "cancelled");
            seen.push(event);
            if terminal {
                break;
            }
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .unwrap_or_else(|_| panic!("the job did not end; worker log:\n{}", worker.log_text()));
    let kinds: Vec<&str> = seen.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
    assert_eq!(
        kinds.last(),
        Some(&"succeeded"),
        "{kinds:?}\n{}",
        worker.log_text()
    );
    assert!(kinds.contains(&"progress"), "{kinds:?}");
    for (kind, data, arrived) in &seen {
        let late = arrived - at_ms(data["at"].as_str().unwrap());
        assert!(
            late < PROMPT_MS,
            "`{kind}` reached the stream {late} ms after the worker wrote it: not woken"
        );
    }

    for refused in [None, Some("scraper-token-wrong")] {
        let (status, body) = get(&worker_metrics, refused).await.expect("it listens");
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("metrics.unauthorized"), "{body}");
    }
    let (status, text) = get(&worker_metrics, Some(TOKEN)).await.unwrap();
    assert_eq!(status, 200, "{text}");
    // A fresh process that ran exactly one job: the pipeline's stages, and the engine's within
    // `render` (a narrated script: no `align`).
    for stage in [
        "fetch", "render", "store", "plan", "narrate", "mix", "compose", "encode", "finish",
    ] {
        let series = format!("reelsmith_stage_duration_seconds_count{{stage=\"{stage}\"}}");
        assert_eq!(sample(&text, &series), Some(1.0), "{series}:\n{text}");
    }
    assert_eq!(
        sample(&text, "reelsmith_renders_total{outcome=\"succeeded\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("reelsmith_http_requests"), "{text}");
    assert!(!text.contains(&id), "{text}");

    // The server runs no worker: it counts the queue and its requests, not stages.
    let (status, text) = get(&format!("{}/metrics", server.base), Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        sample(&text, "reelsmith_jobs{status=\"succeeded\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "reelsmith_http_requests_total{route=\"/api/v1/jobs\",status=\"201\"}"
        ),
        Some(1.0)
    );
    assert!(!text.contains("reelsmith_stage_duration"), "{text}");
}

//! Metrics of a split deployment through the real binary: `serve --no-workers` and a separate
//! `reelsmith worker` with `worker.metrics_listen`, sharing one data folder. A job submitted to
//! the server is rendered by the worker process, whose own `/metrics` (token required) shows the
//! stage durations and the finished run, while the server's shows the queue from the database.

mod platform;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_worker_serves_its_pipeline_metrics_behind_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &[("REELSMITH__METRICS__TOKEN", TOKEN)],
        &["--no-workers"],
    )
    .await;
    let listen = format!("127.0.0.1:{}", free_port());
    let worker = WorkerProcess::start(&data, &listen);
    let worker_metrics = format!("http://{listen}/metrics");

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
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = api.job(&id).await["status"].as_str().unwrap().to_owned();
        if status == "succeeded" {
            break;
        }
        assert!(
            status != "failed" && Instant::now() < deadline,
            "job {status}; worker log:\n{}",
            worker.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    for refused in [None, Some("scraper-token-wrong")] {
        let (status, body) = get(&worker_metrics, refused).await.expect("it listens");
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("metrics.unauthorized"), "{body}");
    }
    let (status, text) = get(&worker_metrics, Some(TOKEN)).await.unwrap();
    assert_eq!(status, 200, "{text}");
    // A fresh process that ran exactly one job.
    for stage in ["fetch", "render", "store"] {
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

//! The production profile as a whole, with real processes on loopback: a throwaway PostgreSQL
//! cluster (initdb), moto_server as S3, two `reelsmith serve --no-workers` and three
//! `reelsmith worker`, each with its own data folder and one shared configuration file, driven
//! through the REST API. Faults: a worker killed with SIGKILL in the middle of a render, the
//! database restarted in the middle of a run, and SIGTERM to a worker that is rendering. After
//! each, every job finished exactly once, nothing is left over, and nothing failed.
//!
//! Kept short: leases of 4 s, 480p renders of a sentence or a paragraph.

mod platform;
#[path = "../../store/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use platform::{Api, Server};
use serde_json::{json, Value};
use sqlx::Connection;

const SHORT: &str = "Boats leave the harbour at dawn.";
const LONG: &str = "Every morning the old harbour wakes slowly. Fishing boats creak against the \
wooden pier while gulls circle overhead, waiting for the first catch of the day. The fishermen \
have done this for generations. Their grandfathers mended the same nets, read the same clouds, \
and told the same stories about storms that nearly took them.";

/// Generous on a loaded 2-core machine; only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(240);

/// A `reelsmith worker` process, SIGKILLed on drop.
struct WorkerProcess {
    child: Option<Child>,
    data: PathBuf,
    log: PathBuf,
}

impl WorkerProcess {
    fn start(config: &Path, data: &Path, n: usize) -> WorkerProcess {
        std::fs::create_dir_all(data).unwrap();
        let log = data.join(format!("worker-{n}-{}.log", support::free_port()));
        let child = Command::new(platform::bin())
            .arg("worker")
            .arg("--config")
            .arg(config)
            .arg("--data")
            .arg(data)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the worker starts");
        WorkerProcess {
            child: Some(child),
            data: data.to_path_buf(),
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: i32) {
        unsafe { libc::kill(self.pid() as i32, signal) };
    }

    /// Waits for the process to exit and returns its exit code.
    fn wait(&mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the worker never exited: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn work_folders(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.data.join("tmp").join("work"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn write_config(dir: &Path, url: &str, s3_port: u16, bucket: &str) -> PathBuf {
    let file = dir.join("cluster.toml");
    std::fs::write(
        &file,
        format!(
            r#"[database]
url = "{url}"
max_connections = 4
acquire_timeout_seconds = 2

[storage]
backend = "s3"

[storage.s3]
endpoint = "http://127.0.0.1:{s3_port}"
region = "us-east-1"
bucket = "{bucket}"
access_key_id = "testing"
secret_access_key = "testing"
path_style = true
allow_http = true
timeout_seconds = 10
connect_timeout_seconds = 2
max_retries = 2

[encryption]
key_file = "{}"

[worker]
concurrency = 1
lease_seconds = 4
heartbeat_seconds = 1
max_attempts = 3
per_user_running_jobs = 3
global_running_jobs = 3
shutdown_grace_seconds = 60
store_retry_seconds = 30

[rate_limits.job_submission]
count = 1000
window_seconds = 60
"#,
            dir.join("operator.key").display()
        ),
    )
    .unwrap();
    file
}

/// The jobs table and its events, read straight from PostgreSQL: what the API does not show
/// (who holds a lease, how often a job succeeded).
struct Ledger {
    url: String,
}

impl Ledger {
    async fn conn(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url).await.unwrap()
    }

    async fn lease_owner(&self, job_id: &str) -> Option<String> {
        let mut c = self.conn().await;
        sqlx::query_scalar::<_, Option<String>>("SELECT lease_owner FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_one(&mut c)
            .await
            .unwrap()
    }

    async fn events(&self, job_id: &str, kind: &str) -> Vec<Value> {
        let mut c = self.conn().await;
        let rows: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT payload_json FROM job_events WHERE job_id = $1 AND kind = $2 ORDER BY id",
        )
        .bind(job_id)
        .bind(kind)
        .fetch_all(&mut c)
        .await
        .unwrap();
        rows.into_iter()
            .map(|p| {
                p.and_then(|p| serde_json::from_str(&p).ok())
                    .unwrap_or(Value::Null)
            })
            .collect()
    }

    async fn ledger_entries(&self, job_id: &str) -> i64 {
        let mut c = self.conn().await;
        sqlx::query_scalar("SELECT COUNT(*) FROM credit_ledger WHERE job_id = $1")
            .bind(job_id)
            .fetch_one(&mut c)
            .await
            .unwrap()
    }
}

async fn submit(api: &Api, script: &str) -> String {
    let reply = api
        .submit(&json!({ "script": script, "resolution": "480p" }), None)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["id"].as_str().unwrap().to_owned()
}

/// Polls the job through the API until it is running past `above` progress.
async fn wait_running(api: &Api, job_id: &str, above: f64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let job = api.job(job_id).await;
        if job["status"] == "running" && job["progress"].as_f64().unwrap_or(0.0) > above {
            return;
        }
        assert!(
            job["status"] != "succeeded" && job["status"] != "failed",
            "{job}"
        );
        assert!(Instant::now() < deadline, "never running: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until every job ended; returns their final views. API errors (503 while the
/// database restarts) are waited out.
async fn wait_all_ended(api: &Api, ids: &[String]) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    let mut done = Vec::new();
    for id in ids {
        loop {
            let reply = api.get(&format!("/api/v1/jobs/{id}")).await;
            if reply.status == 200 {
                let job = reply.json();
                if matches!(
                    job["status"].as_str(),
                    Some("succeeded" | "failed" | "cancelled")
                ) {
                    done.push(job);
                    break;
                }
            }
            assert!(Instant::now() < deadline, "job {id} never ended");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    done
}

/// Every job succeeded, exactly once, with one set of four outputs in the bucket and no
/// second charge.
async fn assert_exactly_once(
    ledger: &Ledger,
    store: &reelsmith_store::MediaStore,
    ended: &[Value],
) {
    for job in ended {
        let id = job["id"].as_str().unwrap();
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(
            ledger.events(id, "succeeded").await.len(),
            1,
            "job {id} succeeded once"
        );
        assert!(ledger.events(id, "failed").await.is_empty());
        assert!(
            ledger.ledger_entries(id).await <= 1,
            "job {id} charged at most once"
        );
        let objects = store.list(&format!("jobs/{id}")).await.unwrap();
        assert_eq!(objects.len(), 4, "one set of outputs for {id}: {objects:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_and_three_workers_survive_a_killed_worker_a_database_restart_and_sigterm() {
    let temp = tempfile::tempdir().unwrap();
    let cluster = support::postgres::Cluster::start();
    let url = cluster.addr().create_database().await;
    let moto = support::moto::Moto::start();
    let bucket = support::moto::MotoAddr { port: moto.port }.create_bucket();
    let config = write_config(temp.path(), &url, moto.port, &bucket);
    let config_flag = config.display().to_string();
    let ledger = Ledger { url: url.clone() };
    let store = reelsmith_store::MediaStore::s3(&reelsmith_store::S3Config {
        endpoint: Some(format!("http://127.0.0.1:{}", moto.port)),
        region: "us-east-1".into(),
        bucket: bucket.clone(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        path_style: true,
        allow_http: true,
    })
    .unwrap();

    let data_a = temp.path().join("server-a");
    let data_b = temp.path().join("server-b");
    let server_a = Server::start(&data_a, &[], &["--config", &config_flag, "--no-workers"]).await;
    let server_b = Server::start(&data_b, &[], &["--config", &config_flag, "--no-workers"]).await;
    let mut workers: Vec<WorkerProcess> = (0..3)
        .map(|n| WorkerProcess::start(&config, &temp.path().join(format!("worker-{n}")), n))
        .collect();

    let mut via_a = server_a.client();
    via_a
        .sign_up_and_in(&data_a, "ops@example.org", "ops")
        .await;
    let mut via_b = server_b.client();
    via_b.cookie = via_a.cookie.clone();
    assert_eq!(
        via_b.get("/api/v1/me").await.status,
        200,
        "one session across servers"
    );

    // 1. SIGKILL of the worker rendering a job: another takes it over once the lease lapses.
    let long = submit(&via_a, LONG).await;
    let short = submit(&via_b, SHORT).await;
    wait_running(&via_a, &long, 0.15).await;
    let owner = ledger.lease_owner(&long).await.expect("a lease holder");
    let pid: u32 = owner.split('.').nth(1).unwrap().parse().unwrap();
    let victim = workers
        .iter()
        .position(|w| w.pid() == pid)
        .expect("one of ours");
    workers[victim].signal(libc::SIGKILL);
    assert_eq!(workers[victim].wait(), None, "killed by a signal");
    let left_behind = workers[victim].work_folders();
    assert_eq!(
        left_behind.len(),
        1,
        "the dead worker's folder: {left_behind:?}"
    );
    let ended = wait_all_ended(&via_b, &[long.clone(), short.clone()]).await;
    assert_exactly_once(&ledger, &store, &ended).await;
    let started = ledger.events(&long, "started").await;
    assert!(
        started.iter().any(|s| s["takeover"] == true),
        "taken over: {started:?}"
    );
    // A worker started again on that machine clears what the dead one left.
    let data = workers[victim].data.clone();
    workers[victim] = WorkerProcess::start(&config, &data, 10);
    let deadline = Instant::now() + PATIENCE;
    while !workers[victim].log_text().contains("worker started") {
        assert!(Instant::now() < deadline, "{}", workers[victim].log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        workers[victim].work_folders().is_empty(),
        "stale folder removed"
    );

    // 2. PostgreSQL restarted mid-run: the API answers 503 with Retry-After meanwhile, and
    // servers and workers reconnect on their own.
    let during = [submit(&via_a, LONG).await, submit(&via_b, SHORT).await];
    wait_running(&via_a, &during[0], 0.10).await;
    cluster.stop();
    let down = via_b.get(&format!("/api/v1/jobs/{}", during[1])).await;
    assert_eq!(down.status, 503, "{}", down.text());
    assert!(down.headers.get("retry-after").is_some());
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.restart();
    let ended = wait_all_ended(&via_a, &during).await;
    assert_exactly_once(&ledger, &store, &ended).await;

    // 3. SIGTERM to the worker rendering: the stage finishes, the job succeeds, exit 0.
    let graceful = submit(&via_b, LONG).await;
    wait_running(&via_b, &graceful, 0.15).await;
    let owner = ledger.lease_owner(&graceful).await.expect("a lease holder");
    let pid: u32 = owner.split('.').nth(1).unwrap().parse().unwrap();
    let index = workers
        .iter()
        .position(|w| w.pid() == pid)
        .expect("one of ours");
    workers[index].signal(libc::SIGTERM);
    let code = workers[index].wait();
    assert_eq!(code, Some(0), "{}", workers[index].log_text());
    assert!(workers[index].log_text().contains("worker stopped"));
    let ended = wait_all_ended(&via_b, std::slice::from_ref(&graceful)).await;
    assert_exactly_once(&ledger, &store, &ended).await;
    assert!(
        ledger.lease_owner(&graceful).await.is_none(),
        "the lease is released"
    );
    assert!(workers[index].work_folders().is_empty());

    drop(workers);
    drop((server_a, server_b));
}

/// Live progress across processes (issue 23): a stream open on a `serve --no-workers` process
/// gets each event that another process writes (this test, on a connection of its own, as a
/// worker would), in order and once, each well before the stream's safety read (every 20 to
/// 30 s): the server was woken by PostgreSQL's NOTIFY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_on_a_server_is_woken_by_events_another_process_writes() {
    let temp = tempfile::tempdir().unwrap();
    let url = support::postgres::shared().create_database().await;
    let config = temp.path().join("live.toml");
    std::fs::write(
        &config,
        format!("[database]\nurl = \"{url}\"\nmax_connections = 4\n"),
    )
    .unwrap();
    let data = temp.path().join("server");
    let config_flag = config.display().to_string();
    let server = Server::start(&data, &[], &["--config", &config_flag, "--no-workers"]).await;
    let mut api = server.client();
    api.sign_up_and_in(&data, "live@example.org", "live").await;
    let job = submit(&api, SHORT).await;
    let response = api
        .request(reqwest::Method::GET, &format!("/api/v1/jobs/{job}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = (response, String::new());
    // An event's (id, kind), or a failure naming what did not come in time.
    async fn next(stream: &mut (reqwest::Response, String), want: &str) -> (i64, String) {
        let prompt = Duration::from_secs(8);
        let read = async {
            loop {
                if let Some(end) = stream.1.find("\n\n") {
                    let block: String = stream.1.drain(..end + 2).collect();
                    let field = |name: &str| {
                        block
                            .lines()
                            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                    };
                    if let (Some(id), Some(kind)) = (field("id: "), field("event: ")) {
                        return Some((id.parse::<i64>().unwrap(), kind));
                    }
                    continue;
                }
                let chunk = stream.0.chunk().await.ok()??;
                stream.1.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        match tokio::time::timeout(prompt, read).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("the stream ended before `{want}`"),
            Err(_) => panic!("no `{want}` within {prompt:?}: the server was not woken"),
        }
    }
    let mut seen = vec![next(&mut stream, "queued").await];

    let worker = reelsmith_store::Db::connect(&url, 1).await.unwrap();
    let now = reelsmith_store::now_ms;
    let claimed = worker
        .claim_next_job("another-process", 60_000, Default::default(), now())
        .await
        .unwrap()
        .expect("the job");
    seen.push(next(&mut stream, "started").await);
    for progress in [0.3, 0.6] {
        worker
            .update_progress(&claimed.lease, "render", progress, now())
            .await
            .unwrap();
        seen.push(next(&mut stream, "progress").await);
    }
    worker
        .finish_job(&claimed.lease, &[], &json!({ "engine": "studio" }), now())
        .await
        .unwrap();
    seen.push(next(&mut stream, "succeeded").await);
    let kinds: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["queued", "started", "progress", "progress", "succeeded"]
    );
    let written: Vec<i64> = worker
        .job_events_since(&job, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    let ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, written, "every event, in order, once");
    worker.close().await;
}

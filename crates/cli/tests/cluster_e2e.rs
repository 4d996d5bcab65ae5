//! The production profile as a whole, with real processes on loopback: a throwaway PostgreSQL
//! cluster (initdb), moto_server as S3, two `reelsmith serve --no-workers` and three
//! `reelsmith worker`, each with its own data folder and one shared configuration file, driven
//! through the REST API. Faults: a worker killed with SIGKILL in the middle of a render, the
//! database restarted in the middle of a run, and SIGTERM to a worker that is rendering. After
//! each, every job finished exactly once, nothing is left over, and nothing failed.
//!
//! Kept short: leases of 4 s, 480p renders of a sentence or a paragraph.

// Test code may use `unsafe` (denied in the workspace): it signals the processes it started (libc `kill`).
#![allow(unsafe_code)]

mod faults;
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
        WorkerProcess::start_with(config, data, n, &[])
    }

    /// A worker with extra environment (a provider's key and address).
    fn start_with(config: &Path, data: &Path, n: usize, env: &[(&str, &str)]) -> WorkerProcess {
        std::fs::create_dir_all(data).unwrap();
        let log = data.join(format!("worker-{n}-{}.log", support::free_port()));
        let child = Command::new(platform::bin())
            .arg("worker")
            .arg("--config")
            .arg(config)
            .arg("--data")
            .arg(data)
            // espeak-ng narrates: this suite is about the cluster, not the voice.
            .env("REELSMITH__SPEECH__DEFAULT_VOICE", "espeak")
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
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
        // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
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

    /// Waits until the worker says it is taking jobs.
    async fn wait_started(&self) {
        let deadline = Instant::now() + PATIENCE;
        while !self.log_text().contains("worker started") {
            assert!(Instant::now() < deadline, "{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(100)).await;
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
    let key = dir.join("operator.key");
    write_config_named(dir, "cluster", url, s3_port, bucket, &key)
}

/// A configuration file `<name>.toml` for database `url`, bucket `bucket` and key file `key`.
fn write_config_named(
    dir: &Path,
    name: &str,
    url: &str,
    s3_port: u16,
    bucket: &str,
    key: &Path,
) -> PathBuf {
    let file = dir.join(format!("{name}.toml"));
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
            key.display()
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

/// The raw (still sealed) objects of `bucket`, as an operator's S3 tools see them.
fn bucket_store(s3_port: u16, bucket: &str) -> reelsmith_store::MediaStore {
    reelsmith_store::MediaStore::s3(&reelsmith_store::S3Config {
        endpoint: Some(format!("http://127.0.0.1:{s3_port}")),
        region: "us-east-1".into(),
        bucket: bucket.to_owned(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        path_style: true,
        allow_http: true,
    })
    .unwrap()
}

/// A PostgreSQL client tool (pg_dump, pg_restore) of the newest installed version, the one the
/// test clusters run.
fn pg_tool(name: &str) -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin").join(name)))
        })
        .filter(|(_, tool)| tool.is_file())
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, tool)| tool)
        .unwrap_or_else(|| PathBuf::from(name))
}

fn run_tool(cmd: &mut Command) {
    let out = cmd.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a worker that must refuse to start; returns what it said.
fn refused(config: &Path, data: &Path) -> String {
    let mut worker = WorkerProcess::start(config, data, 99);
    let code = worker.wait();
    let said = worker.log_text();
    assert!(matches!(code, Some(c) if c != 0), "it refused: {said}");
    assert!(!said.contains("worker started"), "{said}");
    said
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
async fn two_servers_and_three_workers_survive_a_killed_worker_a_database_restart_and_sigterm_then_restore_from_backup(
) {
    let temp = tempfile::tempdir().unwrap();
    let cluster = support::postgres::Cluster::start();
    let url = cluster.addr().create_database().await;
    let moto = support::moto::Moto::start();
    let bucket = support::moto::MotoAddr { port: moto.port }.create_bucket();
    let config = write_config(temp.path(), &url, moto.port, &bucket);
    let config_flag = config.display().to_string();
    let ledger = Ledger { url: url.clone() };
    let store = bucket_store(moto.port, &bucket);

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

    // 4. Backup (pg_dump -Fc, a copy of the bucket, the key file kept apart) restored into a
    // fresh cluster and a fresh bucket: a server started on the copies alone serves every job's
    // media byte for byte, with the sessions and jobs of the dump.
    let ids: Vec<String> = [long, short]
        .into_iter()
        .chain(during)
        .chain([graceful])
        .collect();
    let paths: Vec<String> = ids
        .iter()
        .flat_map(|id| {
            ["video", "poster", "captions.vtt", "captions.srt"]
                .map(|what| format!("/api/v1/jobs/{id}/{what}"))
        })
        .collect();
    let mut served = Vec::new();
    for path in &paths {
        let reply = via_a.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        served.push(reply.body);
    }
    drop(workers);
    let dump = temp.path().join("reelsmith.dump");
    run_tool(
        Command::new(pg_tool("pg_dump"))
            .args(["-Fc", "-f"])
            .arg(&dump)
            .arg(&url),
    );
    let copy_bucket = support::moto::MotoAddr { port: moto.port }.create_bucket();
    let copy = bucket_store(moto.port, &copy_bucket);
    let objects = store.list("").await.unwrap();
    assert!(objects.len() > paths.len(), "{objects:?}");
    for object in &objects {
        let bytes = store.get_bytes(&object.key).await.unwrap();
        copy.put_bytes(&object.key, bytes).await.unwrap();
    }
    let vault = temp.path().join("vault");
    std::fs::create_dir(&vault).unwrap();
    std::fs::copy(temp.path().join("operator.key"), vault.join("operator.key")).unwrap();
    // The originals are gone: what is served next can only come from the copies.
    drop((server_a, server_b));
    drop(cluster);
    for object in &objects {
        store.delete(&object.key).await.unwrap();
    }
    std::fs::remove_file(temp.path().join("operator.key")).unwrap();

    let fresh = support::postgres::Cluster::start();
    let restored_url = fresh.addr().create_database().await;
    run_tool(
        Command::new(pg_tool("pg_restore"))
            .args(["--no-owner", "-d", &restored_url])
            .arg(&dump),
    );
    let restored_config = write_config_named(
        temp.path(),
        "restored",
        &restored_url,
        moto.port,
        &copy_bucket,
        &vault.join("operator.key"),
    );
    let restored_flag = restored_config.display().to_string();
    let server_c = Server::start(
        &temp.path().join("server-c"),
        &[],
        &["--config", &restored_flag, "--no-workers"],
    )
    .await;
    let mut via_c = server_c.client();
    via_c.cookie = via_a.cookie.clone();
    for (path, before) in paths.iter().zip(&served) {
        let reply = via_c.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert!(
            reply.body == *before,
            "{path} is byte-identical after the restore"
        );
    }
}

/// A worker whose configuration names another database, another media store, no key file or
/// another key than the servers' refuses to start, says which, and writes nothing: the job the
/// servers queued stays untouched, the other database and bucket stay empty, no key is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_another_database_media_store_or_key_refuses_to_start() {
    let temp = tempfile::tempdir().unwrap();
    let pg = support::postgres::shared();
    let moto = support::moto::shared();
    let url = pg.create_database().await;
    let bucket = moto.create_bucket();
    let key = temp.path().join("operator.key");
    let config = write_config_named(temp.path(), "servers", &url, moto.port, &bucket, &key);
    let config_flag = config.display().to_string();
    let data = temp.path().join("server");
    let server = Server::start(&data, &[], &["--config", &config_flag, "--no-workers"]).await;
    let mut api = server.client();
    api.sign_up_and_in(&data, "fingerprint@example.org", "fingerprint")
        .await;
    let job = submit(&api, SHORT).await;
    let store = bucket_store(moto.port, &bucket);
    assert!(
        store
            .head(reelsmith_store::DEPLOYMENT_MARKER_KEY)
            .await
            .unwrap()
            .is_some(),
        "the first server marked its media store"
    );

    let other_url = pg.create_database().await;
    let other = write_config_named(
        temp.path(),
        "other-db",
        &other_url,
        moto.port,
        &bucket,
        &key,
    );
    let said = refused(&other, &temp.path().join("w-db"));
    assert!(
        said.contains("another database than the servers'"),
        "{said}"
    );
    let mut c = sqlx::PgConnection::connect(&other_url).await.unwrap();
    let named: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deployment")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(named, 0, "the other database was not claimed");

    let other_bucket = moto.create_bucket();
    let other = write_config_named(
        temp.path(),
        "other-s3",
        &url,
        moto.port,
        &other_bucket,
        &key,
    );
    let said = refused(&other, &temp.path().join("w-s3"));
    assert!(
        said.contains("another media store than the servers'"),
        "{said}"
    );
    assert!(bucket_store(moto.port, &other_bucket)
        .list("")
        .await
        .unwrap()
        .is_empty());

    let missing = temp.path().join("elsewhere").join("operator.key");
    std::fs::create_dir_all(missing.parent().unwrap()).unwrap();
    let other = write_config_named(temp.path(), "no-key", &url, moto.port, &bucket, &missing);
    let said = refused(&other, &temp.path().join("w-nokey"));
    assert!(
        said.contains("operator key file") && said.contains("is missing"),
        "{said}"
    );
    assert!(!missing.exists(), "no new key was generated");

    let foreign = temp.path().join("foreign.key");
    reelsmith_store::OperatorKey::create_file(&foreign).unwrap();
    let other = write_config_named(temp.path(), "other-key", &url, moto.port, &bucket, &foreign);
    let said = refused(&other, &temp.path().join("w-key"));
    assert!(said.contains("use the servers' key file"), "{said}");

    let untouched = api.job(&job).await;
    assert_eq!(untouched["status"], "queued", "{untouched}");
    assert_eq!(
        untouched["attempts"].as_i64().unwrap_or(0),
        0,
        "{untouched}"
    );

    // The servers' own configuration starts.
    let good = WorkerProcess::start(&config, &temp.path().join("w-good"), 0);
    let deadline = Instant::now() + PATIENCE;
    while !good.log_text().contains("worker started") {
        assert!(Instant::now() < deadline, "{}", good.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The same configuration with a worker that gives up quickly: store retries for 2 s, no
/// patience for outages, one attempt.
fn impatient(config: &Path) -> PathBuf {
    let text = std::fs::read_to_string(config)
        .unwrap()
        .replace("max_attempts = 3", "max_attempts = 1")
        .replace(
            "store_retry_seconds = 30",
            "store_retry_seconds = 2\noutage_patience_minutes = 0",
        );
    let file = config.with_extension("impatient.toml");
    std::fs::write(&file, text).unwrap();
    file
}

async fn balance(api: &Api) -> i64 {
    let reply = api.get("/api/v1/me/credits").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["balance"].as_i64().unwrap()
}

/// Waits until the proxy has answered `more` further requests with an error.
async fn wait_faults(proxy: &faults::FaultProxy, more: u64) {
    let target = proxy.faults() + more;
    let deadline = Instant::now() + PATIENCE;
    while proxy.faults() < target {
        assert!(
            Instant::now() < deadline,
            "the worker never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// S3 behind a fault-injecting proxy. Answering 503 and then 500 while a job stores its
/// outputs: the upload alone is retried, the job succeeds once with one set of outputs and the
/// owner's events name nothing of the infrastructure. Slow for a while: it succeeds too. Down
/// for longer than an impatient worker waits: the job fails with a stable code, its credits come
/// back, and the same worker then runs the next job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_answering_500_503_or_slowly_for_a_while_loses_nothing_and_stores_once() {
    let temp = tempfile::tempdir().unwrap();
    let pg = support::postgres::shared();
    let moto = support::moto::shared();
    let url = pg.create_database().await;
    let bucket = moto.create_bucket();
    let proxy = faults::FaultProxy::start(moto.port).await;
    let key = temp.path().join("operator.key");
    let config = write_config_named(temp.path(), "faulty", &url, proxy.port, &bucket, &key);
    let config_flag = config.display().to_string();
    let data = temp.path().join("server");
    let server = Server::start(&data, &[], &["--config", &config_flag, "--no-workers"]).await;
    let mut worker = WorkerProcess::start(&config, &temp.path().join("worker"), 0);
    let mut api = server.client();
    api.sign_up_and_in(&data, "faults@example.org", "faults")
        .await;
    let ledger = Ledger { url: url.clone() };
    let store = bucket_store(moto.port, &bucket);

    // 503, then 500, while the finished render is being stored.
    let outage = submit(&api, SHORT).await;
    proxy.set(faults::Mode::Error503);
    wait_faults(&proxy, 2).await;
    proxy.set(faults::Mode::Error500);
    wait_faults(&proxy, 2).await;
    proxy.set(faults::Mode::Pass);
    let ended = wait_all_ended(&api, std::slice::from_ref(&outage)).await;
    assert_exactly_once(&ledger, &store, &ended).await;
    assert!(
        worker
            .log_text()
            .contains("keeping the render and trying again"),
        "the upload was retried, not the render: {}",
        worker.log_text()
    );
    let rendered = ledger.events(&outage, "started").await;
    assert_eq!(rendered.len(), 1, "rendered once: {rendered:?}");
    let events = api.follow_events(&outage).await;
    let told = format!("{events:?}");
    assert!(
        !told.contains("127.0.0.1") && !told.contains(&bucket),
        "the owner is told nothing of the infrastructure: {told}"
    );

    // Slow for a while: every new connection waits 3 s.
    proxy.set(faults::Mode::Slow(Duration::from_secs(3)));
    let slow = submit(&api, SHORT).await;
    let ended = wait_all_ended(&api, std::slice::from_ref(&slow)).await;
    proxy.set(faults::Mode::Pass);
    assert_exactly_once(&ledger, &store, &ended).await;

    // Down for longer than this worker waits: a clear failure, the credits back.
    worker.signal(libc::SIGTERM);
    assert_eq!(worker.wait(), Some(0), "{}", worker.log_text());
    let impatient = impatient(&config);
    let worker = WorkerProcess::start(&impatient, &temp.path().join("worker-2"), 1);
    // The worker reads the deployment marker from the bucket as it starts: the outage begins
    // once it is running.
    let deadline = Instant::now() + PATIENCE;
    while !worker.log_text().contains("worker started") {
        assert!(Instant::now() < deadline, "{}", worker.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = balance(&api).await;
    proxy.set(faults::Mode::Error503);
    let doomed = submit(&api, SHORT).await;
    let ended = wait_all_ended(&api, std::slice::from_ref(&doomed)).await;
    proxy.set(faults::Mode::Pass);
    assert_eq!(ended[0]["status"], "failed", "{}", ended[0]);
    let code = ended[0]["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(code, "media.backend", "a stable code: {}", ended[0]);
    assert_eq!(balance(&api).await, before, "the credits came back");
    assert!(
        store
            .list(&format!("jobs/{doomed}"))
            .await
            .unwrap()
            .is_empty(),
        "no half-written output"
    );
    // The same worker goes on with the next job.
    let next = submit(&api, SHORT).await;
    let ended = wait_all_ended(&api, std::slice::from_ref(&next)).await;
    assert_exactly_once(&ledger, &store, &ended).await;
    drop(worker);
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

/// A small tmpfs of its own (the test runs as root, as CI does), unmounted when dropped, a
/// panic included: a disk that really fills, without touching the machine's.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m")])
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .expect("mount(8) runs");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root, as CI and scripts/test run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Writes until the disk refuses another byte.
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.filler()).unwrap();
        for chunk in [1 << 20, 4096, 1] {
            let block = vec![0u8; chunk];
            loop {
                match file.write_all(&block) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                    Err(e) => panic!("filling the disk: {e}"),
                }
            }
        }
        let _ = file.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process still holding a file there cannot keep the mount alive.
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// The configuration of `impatient`, with the workers' temporary folder in `temp_dir`.
fn with_temp_dir(config: &Path, temp_dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(config).unwrap().replace(
        "[worker]\n",
        &format!("[worker]\ntemp_dir = \"{}\"\n", temp_dir.display()),
    );
    let file = config.with_extension("small-disk.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// A full disk in a worker's temporary folder (a real tmpfs, filled): the job fails with the
/// stable code `worker.disk_full` and a sentence naming no path, its credits come back, nothing
/// of it is stored or left in the folder; once there is room again the same worker runs the
/// next job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_temp_folder_fails_the_job_with_a_stable_code_refunds_it_and_the_worker_goes_on() {
    let temp = tempfile::tempdir().unwrap();
    let pg = support::postgres::shared();
    let moto = support::moto::shared();
    let url = pg.create_database().await;
    let bucket = moto.create_bucket();
    let key = temp.path().join("operator.key");
    let config = write_config_named(temp.path(), "disk", &url, moto.port, &bucket, &key);
    let config_flag = config.display().to_string();
    let data = temp.path().join("server");
    let server = Server::start(&data, &[], &["--config", &config_flag, "--no-workers"]).await;
    let disk = SmallDisk::mount(64);
    let worker_config = with_temp_dir(&impatient(&config), disk.path());
    let worker = WorkerProcess::start(&worker_config, &temp.path().join("worker"), 0);
    worker.wait_started().await;
    let mut api = server.client();
    api.sign_up_and_in(&data, "disk@example.org", "disk").await;
    let ledger = Ledger { url: url.clone() };
    let store = bucket_store(moto.port, &bucket);

    disk.fill();
    let before = balance(&api).await;
    let doomed = submit(&api, SHORT).await;
    let ended = wait_all_ended(&api, std::slice::from_ref(&doomed)).await;
    let job = &ended[0];
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "worker.disk_full", "{job}");
    let told = job["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !told.is_empty() && !told.contains(&disk.path().display().to_string()),
        "a sentence naming no path: {told}"
    );
    assert_eq!(balance(&api).await, before, "the credits came back");
    assert!(store
        .list(&format!("jobs/{doomed}"))
        .await
        .unwrap()
        .is_empty());
    let left: Vec<_> = std::fs::read_dir(disk.path().join("work"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "no work folder left behind: {left:?}");
    assert!(
        worker.log_text().contains("worker.disk_full"),
        "the operator's log names it: {}",
        worker.log_text()
    );

    disk.free();
    let next = submit(&api, SHORT).await;
    let ended = wait_all_ended(&api, std::slice::from_ref(&next)).await;
    assert_exactly_once(&ledger, &store, &ended).await;
    let ran = |events: Vec<Value>| events[0]["worker"].as_str().unwrap().to_owned();
    assert_eq!(
        ran(ledger.events(&next, "started").await),
        ran(ledger.events(&doomed, "started").await),
        "the same worker ran the next job"
    );
    drop(worker);
}

/// The worker's log without colour codes.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

async fn fake_mode(fake: &platform::ProviderFake, mode: Value) {
    let reply = reqwest::Client::new()
        .post(format!("{}/__fake/mode", fake.base))
        .json(&mode)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
}

async fn fake_count(fake: &platform::ProviderFake, what: &str) -> u64 {
    fake.stats().await[what].as_u64().unwrap()
}

async fn submit_to_fal(api: &Api) -> String {
    let spec = json!({ "script": "A red fox runs through the fresh snow at dawn.",
        "provider": "fal", "model": "fal-ai/kling-video/v2.1/master/text-to-video",
        "resolution": "720p" });
    let reply = api.submit(&spec, None).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["id"].as_str().unwrap().to_owned()
}

/// A provider job on the cluster (the fal fake). Answering 429 with `Retry-After: 2`: the
/// worker waits exactly that long, twice, and the job succeeds with one submission. A worker
/// SIGKILLed while the provider works on its request: the worker that takes over resumes the
/// recorded request id, and the provider never sees a second (paid) submission. Answering 503
/// for good: retries honouring `Retry-After`, then a failed job with a stable code and the
/// credits back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_rate_limiting_or_down_is_waited_out_or_refunded_and_a_takeover_never_pays_twice(
) {
    let fal = platform::ProviderFake::start("fal_fake.py");
    let temp = tempfile::tempdir().unwrap();
    let pg = support::postgres::shared();
    let moto = support::moto::shared();
    let url = pg.create_database().await;
    let bucket = moto.create_bucket();
    let key = temp.path().join("operator.key");
    let config = write_config_named(temp.path(), "fal", &url, moto.port, &bucket, &key);
    let config_flag = config.display().to_string();
    let env = [
        ("REELSMITH__PROVIDERS__FAL__KEY", "fal-test-key-0123456789"),
        ("REELSMITH__PROVIDERS__FAL__BASE_URL", fal.base.as_str()),
        ("REELSMITH__PROVIDERS__POLL_SECONDS", "1"),
        ("REELSMITH__CREDITS__SIGNUP_GRANT", "1000"),
    ];
    let data = temp.path().join("server");
    let server = Server::start(&data, &env, &["--config", &config_flag, "--no-workers"]).await;
    let mut first = WorkerProcess::start_with(&config, &temp.path().join("w-1"), 1, &env);
    let mut api = server.client();
    api.sign_up_and_in(&data, "fal@example.org", "fal").await;
    let consent = api
        .send(api.request(reqwest::Method::PUT, "/api/v1/me/consents/fal"))
        .await;
    assert!(consent.status < 300, "{}", consent.text());
    let ledger = Ledger { url: url.clone() };

    // 1. Two 429s with Retry-After: 2 on the submission, then accepted.
    fake_mode(
        &fal,
        json!({ "mode": "rate_limit", "count": 2, "retry_after": 2 }),
    )
    .await;
    let waited = submit_to_fal(&api).await;
    let ended = wait_all_ended(&api, std::slice::from_ref(&waited)).await;
    assert_eq!(ended[0]["status"], "succeeded", "{}", ended[0]);
    assert_eq!(fake_count(&fal, "submissions").await, 1);
    let log = plain(&first.log_text());
    let retries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("retrying provider call"))
        .collect();
    assert_eq!(retries.len(), 2, "{log}");
    assert!(
        retries.iter().all(|l| l.contains("delay_ms=2000")),
        "each retry waited the provider's Retry-After: {retries:?}"
    );

    // 2. SIGKILL while the provider works on the request; the next worker resumes it.
    fake_mode(&fal, json!({ "polls": 1_000_000 })).await;
    let polls = fake_count(&fal, "polls").await;
    let resumed = submit_to_fal(&api).await;
    // A poll comes only after the request id is recorded as the stage's output.
    let deadline = Instant::now() + PATIENCE;
    while fake_count(&fal, "polls").await <= polls {
        assert!(Instant::now() < deadline, "{}", first.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(fake_count(&fal, "submissions").await, 2);
    first.signal(libc::SIGKILL);
    assert_eq!(first.wait(), None, "killed by a signal");
    let mut second = WorkerProcess::start_with(&config, &temp.path().join("w-2"), 2, &env);
    let finish = reqwest::Client::new()
        .post(format!("{}/__fake/finish", fal.base))
        .send()
        .await
        .unwrap();
    assert_eq!(finish.status(), 200);
    let ended = wait_all_ended(&api, std::slice::from_ref(&resumed)).await;
    assert_eq!(ended[0]["status"], "succeeded", "{}", ended[0]);
    assert_eq!(
        fake_count(&fal, "submissions").await,
        2,
        "no second generation paid for"
    );
    let started = ledger.events(&resumed, "started").await;
    assert!(
        started.iter().any(|s| s["takeover"] == true),
        "taken over: {started:?}"
    );
    assert!(
        second
            .log_text()
            .contains("resuming the provider request recorded by an earlier attempt"),
        "{}",
        second.log_text()
    );
    assert!(ledger.ledger_entries(&resumed).await <= 1, "charged once");

    // 3. Down for good (503 with Retry-After: 1): bounded retries, then failed and refunded.
    second.signal(libc::SIGTERM);
    assert_eq!(second.wait(), Some(0), "{}", second.log_text());
    let impatient = impatient(&config);
    let third = WorkerProcess::start_with(&impatient, &temp.path().join("w-3"), 3, &env);
    third.wait_started().await;
    fake_mode(
        &fal,
        json!({ "mode": "unavailable", "count": 1_000, "retry_after": 1, "polls": 2 }),
    )
    .await;
    let before = balance(&api).await;
    let down = submit_to_fal(&api).await;
    let ended = wait_all_ended(&api, std::slice::from_ref(&down)).await;
    fake_mode(&fal, json!({ "mode": "ok" })).await;
    assert_eq!(ended[0]["status"], "failed", "{}", ended[0]);
    assert_eq!(
        ended[0]["error"]["code"], "provider.unavailable",
        "{}",
        ended[0]
    );
    assert_eq!(balance(&api).await, before, "the credits came back");
    assert_eq!(fake_count(&fal, "submissions").await, 2, "nothing accepted");
    let log = plain(&third.log_text());
    let retries = log
        .lines()
        .filter(|l| l.contains("retrying provider call") && l.contains("delay_ms=1000"))
        .count();
    assert!(retries >= 1, "retried after Retry-After: {log}");
}

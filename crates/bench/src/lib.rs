//! What the benchmark binaries share: a throwaway PostgreSQL cluster, a `reelsmith serve`
//! process, signing in through the API, and a keep-alive load generator with its latency
//! summary.

// A benchmark is a measuring tool, not a service: a failed step should stop it loudly, so it may
// unwrap, and it may ask libc for the effective uid (the workspace denies both elsewhere).
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_panics_doc
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The `--flag value` pairs a benchmark was started with. An unknown flag, a flag without a
/// value or a value that does not parse stops the run, naming it.
pub struct Flags {
    values: Vec<(String, String)>,
}

impl Flags {
    /// The pairs in `args`; every flag must be one of `known`.
    pub fn parse(args: impl IntoIterator<Item = String>, known: &[&str]) -> Flags {
        let mut args = args.into_iter();
        let mut values = Vec::new();
        while let Some(flag) = args.next() {
            assert!(
                known.contains(&flag.as_str()),
                "unknown argument {flag} (known: {})",
                known.join(", ")
            );
            let value = args
                .next()
                .unwrap_or_else(|| panic!("{flag} needs a value"));
            values.push((flag, value));
        }
        Flags { values }
    }

    /// The pairs after the program's name.
    pub fn from_env(known: &[&str]) -> Flags {
        Flags::parse(std::env::args().skip(1), known)
    }

    fn value(&self, flag: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .map(|(_, v)| v.as_str())
    }

    /// Replaces `target` with the flag's value when it was given.
    pub fn set<T: std::str::FromStr>(&self, flag: &str, target: &mut T) {
        if let Some(value) = self.value(flag) {
            *target = parse_value(flag, value);
        }
    }

    /// Replaces `target` with the flag's comma-separated values when it was given.
    pub fn set_list<T: std::str::FromStr>(&self, flag: &str, target: &mut Vec<T>) {
        if let Some(value) = self.value(flag) {
            *target = value
                .split(',')
                .map(|v| parse_value(flag, v.trim()))
                .collect();
        }
    }
}

fn parse_value<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| panic!("{flag}: {value:?} is not a valid value"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `REELSMITH_BIN`, or the release binary beside the benchmarks.
pub fn reelsmith_bin() -> PathBuf {
    std::env::var_os("REELSMITH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/reelsmith"))
}

pub fn run_ok(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway PostgreSQL cluster (initdb, as the tests make it) with a `bench` database and
/// `pg_stat_statements`, stopped and removed on drop.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries (scripts/setup installs them)")
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .max()
            .expect("a PostgreSQL version under /usr/lib/postgresql")
            .1;
        let dir = tempfile::Builder::new()
            .prefix("reelsmith-bench-pg-")
            .tempdir()
            .unwrap();
        if unsafe { libc::geteuid() } == 0 {
            run_ok(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path()),
            );
        }
        let pg = Postgres {
            bin,
            port: free_port(),
            dir,
        };
        let data = pg.dir.path().join("data");
        pg.run_pg("initdb", |c| {
            c.arg("-D").arg(&data);
            c.args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
        });
        let options = format!(
            "-k {} -p {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c max_connections=200 -c shared_preload_libraries=pg_stat_statements",
            pg.dir.path().display(),
            pg.port
        );
        let log = pg.dir.path().join("server.log");
        pg.run_pg("pg_ctl", |c| {
            c.arg("-D").arg(&data).arg("-l").arg(&log);
            c.args(["-w", "-t", "120", "-o", &options, "start"]);
        });
        pg.psql("postgres", "CREATE DATABASE bench");
        pg.psql("postgres", "CREATE EXTENSION pg_stat_statements");
        pg
    }

    fn as_postgres(&self, exe: PathBuf) -> Command {
        if unsafe { libc::geteuid() } == 0 {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run_pg(&self, program: &str, args: impl FnOnce(&mut Command)) {
        let mut cmd = self.as_postgres(self.bin.join(program));
        args(&mut cmd);
        run_ok(&mut cmd);
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/bench", self.port)
    }

    /// One statement through `psql` (its own connection), its output trimmed.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", database, "-Atc", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self
            .as_postgres(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// A `reelsmith serve --no-workers` process, killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts `bin serve --no-workers` on a free port with `data`, an optional configuration
    /// file and extra environment; logs warnings to the bench's stderr.
    pub fn start(bin: &Path, data: &Path, config: Option<&Path>, env: &[(&str, &str)]) -> Server {
        Server::start_logging(bin, data, config, env, None)
    }

    /// [`Server::start`] with its log written to `log` (when given) instead of the bench's
    /// stderr; `env` may set `RUST_LOG`.
    pub fn start_logging(
        bin: &Path,
        data: &Path,
        config: Option<&Path>,
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Server {
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--no-workers", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data")
            .arg(data);
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        let stderr = match log {
            Some(log) => Stdio::from(std::fs::File::create(log).unwrap()),
            None => Stdio::inherit(),
        };
        let child = cmd
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server never became ready");
}

pub async fn post(
    client: &reqwest::Client,
    url: String,
    cookie: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("the server answers")
}

pub async fn json_body(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Signs `bench@example.org` up (the code read from the server's outbox in `data`), verifies
/// and signs in; returns the session cookie (`name=value`).
pub async fn sign_in(client: &reqwest::Client, base: &str, data: &Path) -> String {
    let email = "bench@example.org";
    let password = "correct horse battery staple";
    let r = post(
        client,
        format!("{base}/api/v1/auth/signup"),
        None,
        json!({ "email": email, "password": password, "username": "bench", "age_confirmed": true }),
    )
    .await;
    assert!(r.status().is_success(), "signup: {}", r.status());
    let code = reelsmith_mail::latest_code_for(&data.join("outbox"), email)
        .expect("the outbox reads")
        .expect("a code was sent");
    let r = post(
        client,
        format!("{base}/api/v1/auth/verify"),
        None,
        json!({ "email": email, "code": code }),
    )
    .await;
    assert!(r.status().is_success(), "verify: {}", r.status());
    let r = post(
        client,
        format!("{base}/api/v1/auth/login"),
        None,
        json!({ "email": email, "password": password }),
    )
    .await;
    assert!(r.status().is_success(), "login: {}", r.status());
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().trim().to_owned()
}

/// Submits a small job through the API; returns its id.
pub async fn submit(client: &reqwest::Client, base: &str, cookie: &str, script: &str) -> String {
    let r = post(
        client,
        format!("{base}/api/v1/jobs"),
        Some(cookie),
        json!({ "script": script, "resolution": "480p" }),
    )
    .await;
    let status = r.status();
    let body = json_body(r).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// What a load run measured: each successful request's latency (µs), failures, wall time.
pub struct Measured {
    pub latencies: Vec<u32>,
    pub errors: u64,
    pub elapsed: Duration,
}

impl Measured {
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile of the latencies, in ms.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        self.latencies.sort_unstable();
        quantile(&self.latencies, q) / 1000.0
    }
}

/// The `q` quantile of sorted values (nearest rank); NaN when there are none.
pub fn quantile<T: Copy + Into<f64>>(sorted: &[T], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].into()
}

/// `connections` tasks, each sending one GET at a time to one of `urls` (round robin, with the
/// cookie when not empty) until `duration` is over.
pub async fn load(
    client: &reqwest::Client,
    urls: &Arc<Vec<String>>,
    cookie: &Arc<String>,
    connections: usize,
    duration: Duration,
) -> Measured {
    let never = Arc::new(AtomicBool::new(false));
    load_until(client, urls, cookie, connections, duration, &never).await
}

/// [`load`] that also ends once `stop` is set.
pub async fn load_until(
    client: &reqwest::Client,
    urls: &Arc<Vec<String>>,
    cookie: &Arc<String>,
    connections: usize,
    duration: Duration,
    stop: &Arc<AtomicBool>,
) -> Measured {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..connections {
        let (client, urls, cookie) = (client.clone(), Arc::clone(urls), Arc::clone(cookie));
        let stop = Arc::clone(stop);
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(64 * 1024);
            let mut errors = 0u64;
            let mut next = n;
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                let url = &urls[next % urls.len()];
                next += connections;
                let sent = Instant::now();
                let mut request = client.get(url.as_str());
                if !cookie.is_empty() {
                    request = request.header("cookie", cookie.as_str());
                }
                let ok = match request.send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        let (latencies, e) = done.unwrap();
        all.extend(latencies);
        errors += e;
    }
    Measured {
        latencies: all,
        errors,
        elapsed: started.elapsed(),
    }
}

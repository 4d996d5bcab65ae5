//! `bench-api`: requests per second and latency of an authenticated `GET /api/v1/jobs/{id}` on
//! the real binary over loopback, SQLite in a temporary data folder. The load generator runs on
//! the same machine (the target figures include it).
//!
//! Usage: `REELSMITH_BIN=target/release/reelsmith bench-api [--connections 10,32,64] [--seconds 10]`
//!
//! Each connection count in the list is measured in turn against the same server, so the
//! figures of one run are comparable. 10 connections is wrk's default.
//!
//! Then the public gallery (issue 19): `--gallery N` works (default 10,000) by 100 authors are
//! written into the database, the database's plan for both orders is printed (the order must
//! come from an index: a plan that sorts every published work fails the run), and anonymous
//! `GET /api/v1/gallery` (newest, page 1 and a deep page 200) and `?sort=most_viewed` (pages 5
//! and 200) are measured the same way.

// A benchmark is a measuring tool, not a service: a failed step should stop it loudly, so it may
// unwrap, and it may ask libc for the effective uid (the workspace denies both elsewhere).
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::undocumented_unsafe_blocks
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Options {
    connections: Vec<usize>,
    seconds: u64,
    bin: PathBuf,
    gallery: usize,
}

fn options() -> Options {
    let mut options = Options {
        connections: vec![10, 32, 64],
        seconds: 10,
        bin: std::env::var_os("REELSMITH_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/release/reelsmith")),
        gallery: 10_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--connections" => {
                options.connections = value
                    .split(',')
                    .map(|n| n.trim().parse().expect("numbers separated by commas"))
                    .collect()
            }
            "--seconds" => options.seconds = value.parse().expect("a number"),
            "--bin" => options.bin = PathBuf::from(value),
            "--gallery" => options.gallery = value.parse().expect("a number"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    options
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let options = options();
    let temp = tempfile::tempdir().expect("a temporary folder");
    let data = temp.path().join("data");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Server(
        Command::new(&options.bin)
            .args([
                "serve",
                "--no-workers",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data",
            ])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", options.bin.display())),
    );
    // The server gets the runtime's other thread; the load generator one, like wrk -t1.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(options, base, data));
}

async fn run(options: Options, base: String, data: PathBuf) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections.iter().copied().max().unwrap_or(1))
        .build()
        .unwrap();
    wait_ready(&client, &base).await;
    let cookie = sign_in(&client, &base, &data).await;
    let job_id = submit(&client, &base, &cookie).await;
    let url = Arc::new(format!("{base}/api/v1/jobs/{job_id}"));
    let cookie = Arc::new(cookie);

    for &connections in &options.connections {
        // Warm-up: open every connection and fill caches before measuring.
        load(&client, &url, &cookie, connections, Duration::from_secs(1)).await;
        let (latencies, errors, elapsed) = load(
            &client,
            &url,
            &cookie,
            connections,
            Duration::from_secs(options.seconds),
        )
        .await;
        report(
            &url_label("GET /api/v1/jobs/{id} (session cookie"),
            latencies,
            errors,
            elapsed,
            connections,
        );
    }
    if options.gallery == 0 {
        return;
    }
    seed_gallery(&data, options.gallery).await;
    let anonymous = Arc::new(String::new());
    for (label, path) in [
        (
            "GET /api/v1/gallery (anonymous, newest, page 1",
            "/api/v1/gallery",
        ),
        (
            "GET /api/v1/gallery?page=200 (anonymous, newest, a deep page",
            "/api/v1/gallery?page=200",
        ),
        (
            "GET /api/v1/gallery?sort=most_viewed&page=5 (anonymous",
            "/api/v1/gallery?sort=most_viewed&page=5",
        ),
        (
            "GET /api/v1/gallery?sort=most_viewed&page=200 (anonymous, a deep page",
            "/api/v1/gallery?sort=most_viewed&page=200",
        ),
    ] {
        let url = Arc::new(format!("{base}{path}"));
        for &connections in &options.connections {
            load(
                &client,
                &url,
                &anonymous,
                connections,
                Duration::from_secs(1),
            )
            .await;
            let (latencies, errors, elapsed) = load(
                &client,
                &url,
                &anonymous,
                connections,
                Duration::from_secs(options.seconds),
            )
            .await;
            report(&url_label(label), latencies, errors, elapsed, connections);
        }
    }
}

fn url_label(label: &str) -> String {
    label.to_owned()
}

/// Writes `works` finished, published works by 100 authors straight into the server's SQLite
/// database (the server runs without workers; the gallery reads only rows).
async fn seed_gallery(data: &Path, works: usize) {
    use reelsmith_store::{
        now_ms, Db, GallerySort, NewJob, NewUser, Role, RunLimits, ShownDetails,
    };
    let db = Db::open_sqlite(&data.join("reelsmith.db"), 2)
        .await
        .expect("the server's database");
    let started = Instant::now();
    let mut authors = Vec::new();
    for i in 0..100 {
        let user = db
            .create_user(
                &NewUser {
                    email: format!("author{i}@bench.invalid"),
                    username: format!("author{i}"),
                    password_hash: None,
                    display_name: format!("Author {i}"),
                    role: Role::User,
                    birth_year: None,
                    age_confirmed_min: None,
                },
                now_ms(),
            )
            .await
            .expect("an author");
        authors.push(user.id);
    }
    for i in 0..works {
        let owner = &authors[i % authors.len()];
        db.submit_job(
            &NewJob {
                owner_id: owner.clone(),
                params: json!({ "script": format!("Bench work number {i}. A harbour at dawn."), "seed": i }),
                idempotency_key: None,
                cost: 0,
            },
            now_ms(),
        )
        .await
        .expect("a job");
        let claimed = db
            .claim_next_job(
                "bench",
                60_000,
                RunLimits {
                    per_user: 1000,
                    global: 1000,
                },
                now_ms(),
            )
            .await
            .expect("a claim")
            .expect("a job to claim");
        let rev = claimed.lease.revision;
        let id = claimed.job.id.clone();
        let keys = [
            format!("jobs/{id}/r{rev}/video.mp4"),
            format!("jobs/{id}/r{rev}/poster.jpg"),
        ];
        db.finish_job(
            &claimed.lease,
            &keys,
            &json!({ "engine": "studio", "output_seconds": 12.0 }),
            now_ms(),
        )
        .await
        .expect("finished");
        let shown = ShownDetails {
            prompt: i % 2 == 0,
            engine: true,
            model: false,
            length: true,
        };
        db.publish_job(
            &claimed.job.owner_id,
            &id,
            rev,
            &format!("Work {i}"),
            shown,
            now_ms(),
        )
        .await
        .expect("published");
        for _ in 0..(i % 7) {
            db.count_public_view(&id).await.expect("a view");
        }
    }
    println!(
        "gallery: {works} published works by {} authors written in {:.1} s",
        authors.len(),
        started.elapsed().as_secs_f64()
    );
    for sort in [GallerySort::Newest, GallerySort::MostViewed] {
        let plan = db.gallery_plan(sort, 0).await.expect("a plan");
        println!("gallery plan ({sort:?}, SQLite):");
        for line in &plan {
            println!("  {line}");
        }
        // SQLite says "USE TEMP B-TREE FOR ORDER BY" when it sorts the rows itself.
        assert!(
            plan.iter().any(|l| l.contains("publications_"))
                && !plan.iter().any(|l| l.contains("TEMP B-TREE")),
            "the gallery ({sort:?}) is not read in index order"
        );
    }
    db.close().await;
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
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

async fn post(
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

async fn sign_in(client: &reqwest::Client, base: &str, data: &Path) -> String {
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

async fn submit(client: &reqwest::Client, base: &str, cookie: &str) -> String {
    let r = post(
        client,
        format!("{base}/api/v1/jobs"),
        Some(cookie),
        json!({ "script": "A quiet harbour at dawn.", "resolution": "480p" }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let job: Value = r.json_value().await;
    job["id"].as_str().unwrap().to_owned()
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let bytes = self.bytes().await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }
}

/// `connections` tasks, each sending one request at a time until `duration` is over.
async fn load(
    client: &reqwest::Client,
    url: &Arc<String>,
    cookie: &Arc<String>,
    connections: usize,
    duration: Duration,
) -> (Vec<u32>, u64, Duration) {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (client, url, cookie) = (client.clone(), Arc::clone(url), Arc::clone(cookie));
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(64 * 1024);
            let mut errors = 0u64;
            while Instant::now() < deadline {
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
    (all, errors, started.elapsed())
}

fn report(
    label: &str,
    mut latencies: Vec<u32>,
    errors: u64,
    elapsed: Duration,
    connections: usize,
) {
    latencies.sort_unstable();
    let pick = |q: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        f64::from(latencies[i]) / 1000.0
    };
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{label}, SQLite, {connections} connections, {:.1} s)",
        elapsed.as_secs_f64()
    );
    println!("  requests:  {} ok, {errors} failed", latencies.len());
    println!("  rate:      {rate:.0} requests/s   (target >= 5000)");
    println!("  latency:   p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms   (target p99 <= 20 ms)",
        pick(0.50), pick(0.90), pick(0.99), pick(1.0));
}

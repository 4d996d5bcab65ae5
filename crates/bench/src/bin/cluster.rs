//! `bench-cluster`: the job queue under load, PostgreSQL with four worker processes beside
//! SQLite in one process, in one run. Each side: a real `reelsmith serve --no-workers` takes
//! `--jobs` small jobs through `POST /api/v1/jobs` (one signed-in user) while `--readers`
//! keep-alive connections read those jobs (`GET /api/v1/jobs/{id}`, session cookie), and the
//! workers drain the queue through the same calls a `reelsmith worker` makes (claim with a lease,
//! a progress event, finish), woken by `NOTIFY` on PostgreSQL and polling every 500 ms, as the
//! worker does. The work itself is empty: the figures are the queue's and the API's, not the
//! engine's (scripts/bench render measures that).
//!
//! Printed: jobs submitted per second, jobs processed per second, queue latency (submission to
//! claim) p50/p99, claims per second and empty claims, whether each job ran exactly once (one
//! `started` and one `succeeded` event, status succeeded), and the API's reads meanwhile. Then
//! the authenticated job read alone at `--connections` (64) on each server.
//!
//! Usage: `REELSMITH_BIN=target/release/reelsmith bench-cluster [--jobs 1000] [--workers 4]
//! [--readers 16] [--connections 64] [--seconds 10]`. On PostgreSQL the workers are this binary
//! started again as `bench-cluster --worker <database url> <name> <stop file>`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reelsmith_bench::{
    load, load_until, quantile, sign_in, submit, wait_ready, Flags, Measured, Postgres, Server,
};
use reelsmith_store::{now_ms, Db, RunLimits};
use serde_json::json;
use tokio::sync::mpsc;

struct Options {
    jobs: usize,
    workers: usize,
    readers: usize,
    connections: usize,
    seconds: u64,
    bin: PathBuf,
}

fn options() -> Options {
    let mut options = Options {
        jobs: 1000,
        workers: 4,
        readers: 16,
        connections: 64,
        seconds: 10,
        bin: reelsmith_bench::reelsmith_bin(),
    };
    let flags = Flags::from_env(&[
        "--jobs",
        "--workers",
        "--readers",
        "--connections",
        "--seconds",
        "--bin",
    ]);
    flags.set("--jobs", &mut options.jobs);
    flags.set("--workers", &mut options.workers);
    flags.set("--readers", &mut options.readers);
    flags.set("--connections", &mut options.connections);
    flags.set("--seconds", &mut options.seconds);
    flags.set("--bin", &mut options.bin);
    options
}

/// One processed job, as a worker saw it.
struct Done {
    job_id: String,
    /// From submission to claim.
    queue_ms: i64,
    /// The claim's own round trip.
    claim_us: u64,
    /// When it was claimed (Unix ms).
    at_ms: i64,
}

/// What the workers did, per side.
#[derive(Default)]
struct WorkerCounts {
    empty_claims: u64,
}

/// The worker's loop with an empty job: claim (lease 60 s), one progress event, finish. Waits
/// for work as `reelsmith worker` does: woken by PostgreSQL's NOTIFY, or every 500 ms.
async fn work(
    db: Db,
    name: String,
    done: mpsc::UnboundedSender<Done>,
    stop: impl Fn() -> bool,
) -> u64 {
    let mut listener = db.job_queued_listener().await.ok().flatten();
    let limits = RunLimits {
        per_user: 10_000,
        global: 10_000,
    };
    let mut empty = 0;
    loop {
        let asked = Instant::now();
        let claimed = db
            .claim_next_job(&name, 60_000, limits, now_ms())
            .await
            .expect("a claim");
        let claim_us = asked.elapsed().as_micros() as u64;
        let Some(claimed) = claimed else {
            empty += 1;
            if stop() {
                return empty;
            }
            match listener.as_mut() {
                Some(l) => {
                    tokio::select! {
                        _ = l.recv() => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
                None => tokio::time::sleep(Duration::from_millis(500)).await,
            }
            continue;
        };
        let at_ms = now_ms();
        let queue_ms = at_ms - claimed.job.created_at;
        db.update_progress(&claimed.lease, "render", 0.5, now_ms())
            .await
            .expect("progress");
        db.finish_job(&claimed.lease, &[], &json!({ "engine": "bench" }), now_ms())
            .await
            .expect("finished");
        let _ = done.send(Done {
            job_id: claimed.job.id,
            queue_ms,
            claim_us,
            at_ms,
        });
    }
}

/// `bench-cluster --worker <url> <name> <stop file>`: one worker process; a line per job on
/// stdout (`done <job> <queue ms> <claim µs>`), then `empty <n>`.
fn worker_process(args: &[String]) {
    let (url, name, stop_file) = (args[0].clone(), args[1].clone(), PathBuf::from(&args[2]));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let db = Db::connect(&url, 2).await.expect("the database");
        let (tx, mut rx) = mpsc::unbounded_channel::<Done>();
        let printer = tokio::spawn(async move {
            while let Some(d) = rx.recv().await {
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "done {} {} {} {}",
                    d.job_id, d.queue_ms, d.claim_us, d.at_ms
                )
                .unwrap();
                out.flush().unwrap();
            }
        });
        let empty = work(db.clone(), name, tx, move || stop_file.exists()).await;
        printer.await.unwrap();
        println!("empty {empty}");
        db.close().await;
    });
}

/// The workers of one side: child processes (PostgreSQL) or tasks of this process (SQLite).
enum Workers {
    Processes(Vec<Child>, PathBuf),
    Tasks(Vec<tokio::task::JoinHandle<u64>>, Arc<AtomicBool>),
}

impl Workers {
    fn processes(url: &str, count: usize, dir: &Path, done: &mpsc::UnboundedSender<Done>) -> Self {
        let stop = dir.join("stop");
        let exe = std::env::current_exe().unwrap();
        let children = (0..count)
            .map(|n| {
                let mut child = Command::new(&exe)
                    .arg("--worker")
                    .arg(url)
                    .arg(format!("bench-worker-{n}.{}", std::process::id()))
                    .arg(&stop)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("a worker process");
                let stdout = child.stdout.take().unwrap();
                let done = done.clone();
                std::thread::spawn(move || {
                    for line in std::io::BufReader::new(stdout).lines() {
                        let line = line.unwrap();
                        let parts: Vec<&str> = line.split_whitespace().collect();
                        if parts.first() == Some(&"done") {
                            let _ = done.send(Done {
                                job_id: parts[1].to_owned(),
                                queue_ms: parts[2].parse().unwrap(),
                                claim_us: parts[3].parse().unwrap(),
                                at_ms: parts[4].parse().unwrap(),
                            });
                        } else if parts.first() == Some(&"empty") {
                            let _ = done.send(Done {
                                job_id: String::new(),
                                queue_ms: parts[1].parse().unwrap(),
                                claim_us: 0,
                                at_ms: 0,
                            });
                        }
                    }
                });
                child
            })
            .collect();
        Workers::Processes(children, stop)
    }

    fn tasks(db: &Db, count: usize, done: &mpsc::UnboundedSender<Done>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..count)
            .map(|n| {
                let flag = Arc::clone(&stop);
                tokio::spawn(work(
                    db.clone(),
                    format!("bench-worker-{n}.{}", std::process::id()),
                    done.clone(),
                    move || flag.load(Ordering::Relaxed),
                ))
            })
            .collect();
        Workers::Tasks(tasks, stop)
    }

    /// Stops the workers once the queue is empty; returns their empty claims when they report
    /// them here (tasks) rather than on the done channel (processes).
    async fn stop(self) -> u64 {
        match self {
            Workers::Processes(children, stop) => {
                std::fs::write(stop, b"").unwrap();
                for mut child in children {
                    let status = tokio::task::spawn_blocking(move || child.wait())
                        .await
                        .unwrap()
                        .unwrap();
                    assert!(status.success(), "a worker process failed: {status}");
                }
                0
            }
            Workers::Tasks(tasks, stop) => {
                stop.store(true, Ordering::Relaxed);
                let mut empty = 0;
                for task in tasks {
                    empty += task.await.unwrap();
                }
                empty
            }
        }
    }
}

/// One side's figures.
struct Side {
    label: String,
    submit_rate: f64,
    processed: usize,
    exactly_once: bool,
    throughput: f64,
    queue_ms: Vec<i64>,
    claim_us: Vec<u64>,
    claims_per_second: f64,
    counts: WorkerCounts,
    reads: Measured,
    alone: Measured,
}

async fn side(
    options: &Options,
    label: &str,
    data: &Path,
    config: &Path,
    db: Db,
    processes: Option<&str>,
) -> Side {
    let server = Server::start(
        &options.bin,
        data,
        Some(config),
        &[("REELSMITH__CREDITS__SIGNUP_GRANT", "100000000")],
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections.max(options.readers) + 8)
        .build()
        .unwrap();
    wait_ready(&client, &server.base).await;
    let cookie = Arc::new(sign_in(&client, &server.base, data).await);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let workers = match processes {
        Some(url) => Workers::processes(url, options.workers, data, &tx),
        None => Workers::tasks(&db, options.workers, &tx),
    };
    drop(tx);

    // The first jobs are what the readers read while the rest are submitted and processed.
    let started = Instant::now();
    let mut submitted = Vec::with_capacity(options.jobs);
    let first = options.jobs.min(64);
    for i in 0..first {
        submitted.push(
            submit(
                &client,
                &server.base,
                &cookie,
                &format!("Queue bench job {i}."),
            )
            .await,
        );
    }
    let urls = Arc::new(
        submitted
            .iter()
            .map(|id| format!("{}/api/v1/jobs/{id}", server.base))
            .collect::<Vec<_>>(),
    );
    let stop_reads = Arc::new(AtomicBool::new(false));
    let reads = {
        let (client, urls, cookie, stop) = (
            client.clone(),
            Arc::clone(&urls),
            Arc::clone(&cookie),
            Arc::clone(&stop_reads),
        );
        let readers = options.readers;
        tokio::spawn(async move {
            load_until(
                &client,
                &urls,
                &cookie,
                readers,
                Duration::from_secs(3600),
                &stop,
            )
            .await
        })
    };
    // Submitted by 8 concurrent clients, as fast as the API takes them.
    let mut submitters = tokio::task::JoinSet::new();
    let rest: Vec<usize> = (first..options.jobs).collect();
    for chunk in rest.chunks(rest.len().div_ceil(8).max(1)) {
        let (client, base, cookie, chunk) = (
            client.clone(),
            server.base.clone(),
            Arc::clone(&cookie),
            chunk.to_vec(),
        );
        submitters.spawn(async move {
            let mut ids = Vec::new();
            for i in chunk {
                ids.push(submit(&client, &base, &cookie, &format!("Queue bench job {i}.")).await);
            }
            ids
        });
    }
    while let Some(ids) = submitters.join_next().await {
        submitted.extend(ids.unwrap());
    }
    let submit_rate = options.jobs as f64 / started.elapsed().as_secs_f64();

    let mut seen = HashSet::new();
    let mut duplicates = 0;
    let mut queue_ms = Vec::new();
    let mut claim_us = Vec::new();
    let (mut first_claim, mut last_claim) = (i64::MAX, 0);
    let mut counts = WorkerCounts::default();
    let deadline = Instant::now() + Duration::from_secs(1800);
    while seen.len() < options.jobs {
        let d = tokio::time::timeout_at(deadline.into(), rx.recv())
            .await
            .expect("the workers finish within 30 minutes")
            .expect("the workers are running");
        if d.job_id.is_empty() {
            counts.empty_claims += d.queue_ms as u64;
            continue;
        }
        if !seen.insert(d.job_id) {
            duplicates += 1;
        }
        queue_ms.push(d.queue_ms);
        claim_us.push(d.claim_us);
        first_claim = first_claim.min(d.at_ms);
        last_claim = last_claim.max(d.at_ms);
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop_reads.store(true, Ordering::Relaxed);
    let reads = reads.await.unwrap();
    counts.empty_claims += workers.stop().await;
    // Every sender is gone once the workers ended: this reads their last reports.
    while let Some(d) = rx.recv().await {
        if d.job_id.is_empty() {
            counts.empty_claims += d.queue_ms as u64;
        } else {
            duplicates += 1;
        }
    }

    let exactly_once = duplicates == 0 && exactly_once(&db, &submitted).await;
    // The authenticated job read alone, on a queue at rest.
    load(
        &client,
        &urls,
        &cookie,
        options.connections,
        Duration::from_secs(1),
    )
    .await;
    let alone = load(
        &client,
        &urls,
        &cookie,
        options.connections,
        Duration::from_secs(options.seconds),
    )
    .await;
    db.close().await;
    queue_ms.sort_unstable();
    claim_us.sort_unstable();
    Side {
        label: label.to_owned(),
        submit_rate,
        processed: seen.len(),
        exactly_once,
        throughput: seen.len() as f64 / elapsed,
        claims_per_second: seen.len() as f64 / ((last_claim - first_claim).max(1) as f64 / 1000.0),
        queue_ms,
        claim_us,
        counts,
        reads,
        alone,
    }
}

/// Every job succeeded, with one `started` and one `succeeded` event.
async fn exactly_once(db: &Db, jobs: &[String]) -> bool {
    let mut ok = true;
    for id in jobs {
        let job = db.job_by_id(id).await.unwrap().expect("the job");
        let events = db.job_events_since(id, 0, 1000).await.unwrap();
        let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
        if job.status != reelsmith_store::JobStatus::Succeeded
            || count("started") != 1
            || count("succeeded") != 1
        {
            eprintln!(
                "job {id}: {:?}, {} started, {} succeeded",
                job.status,
                count("started"),
                count("succeeded")
            );
            ok = false;
        }
    }
    ok
}

fn config_file(dir: &Path, database: Option<&str>) -> PathBuf {
    let file = dir.join("bench.toml");
    let database = database
        .map(|url| format!("[database]\nurl = \"{url}\"\nmax_connections = 16\n\n"))
        .unwrap_or_default();
    std::fs::write(
        &file,
        format!(
            "{database}[rate_limits.job_submission]\ncount = 1000000\nwindow_seconds = 60\n\n\
             # One user queues every job: a plan that allows that many at once.\n\
             [billing]\ndefault_plan = \"free\"\n\n[[billing.plans]]\nid = \"free\"\n\
             name = \"Bench\"\nkind = \"free\"\ncredits = 100000000\n\n\
             [billing.plans.limits]\nconcurrent_jobs = 1000000\n"
        ),
    )
    .unwrap();
    file
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker") {
        worker_process(&args[1..]);
        return;
    }
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sides = runtime.block_on(async {
        let pg = Postgres::start();
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path().join("pg");
        std::fs::create_dir_all(&data).unwrap();
        let config = config_file(temp.path(), Some(&pg.url()));
        // The server migrates at start; the bench's own connection is opened once it is up.
        let db = LazyDb::Postgres(pg.url());
        let on_pg = side_with(&options, "PostgreSQL", &data, &config, db).await;
        drop(pg);
        let data = temp.path().join("sqlite");
        std::fs::create_dir_all(&data).unwrap();
        let config = config_file(&data, None);
        let db = LazyDb::Sqlite(data.join("reelsmith.db"));
        let on_sqlite = side_with(&options, "SQLite", &data, &config, db).await;
        [on_pg, on_sqlite]
    });
    print_sides(&options, &sides);
}

enum LazyDb {
    Postgres(String),
    Sqlite(PathBuf),
}

/// Starts the side's server first (it creates and migrates the database), then connects.
async fn side_with(options: &Options, label: &str, data: &Path, config: &Path, db: LazyDb) -> Side {
    // The server of `side` migrates; a throwaway one does it here first so the workers (and
    // this connection) find the schema.
    let server = Server::start(&options.bin, data, Some(config), &[]);
    wait_ready(&reqwest::Client::new(), &server.base).await;
    drop(server);
    match db {
        LazyDb::Postgres(url) => {
            let conn = Db::connect(&url, 4).await.unwrap();
            side(options, label, data, config, conn, Some(&url)).await
        }
        LazyDb::Sqlite(path) => {
            let conn = Db::open_sqlite(&path, 4).await.unwrap();
            side(options, label, data, config, conn, None).await
        }
    }
}

fn print_sides(options: &Options, sides: &[Side; 2]) {
    let [pg, lite] = sides;
    println!(
        "job queue, {} jobs submitted through the API by one user while {} connections read them; \
         empty jobs (claim, a progress event, finish)",
        options.jobs, options.readers
    );
    println!(
        "  {:<34} {:>30} {:>30}",
        "",
        format!("{} ({} worker processes)", pg.label, options.workers),
        format!("{} (one process, {} workers)", lite.label, options.workers)
    );
    let row = |name: &str, f: &dyn Fn(&Side) -> String| {
        println!("  {:<34} {:>30} {:>30}", name, f(pg), f(lite));
    };
    row("submitted (POST /api/v1/jobs)", &|s| {
        format!("{:.0} jobs/s", s.submit_rate)
    });
    row("processed", &|s| {
        format!(
            "{} {}",
            s.processed,
            if s.exactly_once {
                "exactly once"
            } else {
                "NOT exactly once"
            }
        )
    });
    row("throughput (submission to last)", &|s| {
        format!("{:.0} jobs/s", s.throughput)
    });
    row("claims per second (first to last)", &|s| {
        format!("{:.0}", s.claims_per_second)
    });
    row("empty claims", &|s| format!("{}", s.counts.empty_claims));
    row("claim round trip p50 / p99", &|s| {
        format!(
            "{:.2} / {:.2} ms",
            quantile(
                &s.claim_us.iter().map(|&u| u as f64).collect::<Vec<_>>(),
                0.5
            ) / 1000.0,
            quantile(
                &s.claim_us.iter().map(|&u| u as f64).collect::<Vec<_>>(),
                0.99
            ) / 1000.0
        )
    });
    row("queue latency p50 / p99", &|s| {
        format!(
            "{:.0} / {:.0} ms",
            quantile(
                &s.queue_ms.iter().map(|&m| m as f64).collect::<Vec<_>>(),
                0.5
            ),
            quantile(
                &s.queue_ms.iter().map(|&m| m as f64).collect::<Vec<_>>(),
                0.99
            )
        )
    });
    let reads = |m: &Measured| {
        let mut m = Measured {
            latencies: m.latencies.clone(),
            errors: m.errors,
            elapsed: m.elapsed,
        };
        format!(
            "{:.0}/s p50 {:.1} p99 {:.1} ms{}",
            m.rate(),
            m.quantile_ms(0.5),
            m.quantile_ms(0.99),
            if m.errors > 0 {
                format!(" {} failed", m.errors)
            } else {
                String::new()
            }
        )
    };
    row(
        &format!("API reads meanwhile ({} conn.)", options.readers),
        &|s| reads(&s.reads),
    );
    row(
        &format!("API reads alone ({} conn.)", options.connections),
        &|s| reads(&s.alone),
    );
    println!(
        "  (targets for the read alone: >= 5000 requests/s, p99 <= 20 ms; {} s each)",
        options.seconds
    );
}

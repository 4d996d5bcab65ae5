//! `bench-streams`: what open job event streams (SSE) cost the database. One real
//! `reelsmith serve --no-workers` on a throwaway PostgreSQL cluster (initdb, as the tests make
//! it), N streams open over loopback, each following a job of its own that stays quiet; the
//! figures are PostgreSQL's own counts, of statements (`pg_stat_statements`) and of
//! transactions (`pg_stat_database`), so nothing in the server is trusted to count itself.
//!
//! Measured three ways in one run, side by side: the server with no stream open, with N
//! streams woken by `LISTEN/NOTIFY` (today), and with N streams polling every 250 ms as before
//! (the server started again with `REELSMITH_BENCH_EVENT_POLL_MS=250`). Then how long an event
//! takes from its commit (written by another connection, like a worker) to a stream.
//!
//! Usage: `REELSMITH_BIN=target/release/reelsmith bench-streams [--streams 1000] [--seconds 10]
//! [--quiet-seconds 60]` (the woken streams are measured over `--quiet-seconds`, long enough to
//! include their safety reads; the other figures over `--seconds`).

// A benchmark is a measuring tool, not a service: a failed step should stop it loudly, so it may
// unwrap, and it may ask libc for the effective uid (the workspace denies both elsewhere).
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::undocumented_unsafe_blocks
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reelsmith_bench::{sign_in, wait_ready, Postgres, Server};
use reelsmith_store::{now_ms, Db, NewJob};
use serde_json::json;

struct Options {
    streams: usize,
    seconds: u64,
    /// The woken streams are measured longer, so their safety reads (every 20 to 30 s) count.
    quiet_seconds: u64,
    bin: PathBuf,
}

fn options() -> Options {
    let mut options = Options {
        streams: 1000,
        seconds: 10,
        quiet_seconds: 60,
        bin: reelsmith_bench::reelsmith_bin(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--streams" => options.streams = value.parse().expect("a number"),
            "--seconds" => options.seconds = value.parse().expect("a number"),
            "--quiet-seconds" => options.quiet_seconds = value.parse().expect("a number"),
            "--bin" => options.bin = PathBuf::from(value),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    options
}

/// Statements the `bench` database has run so far (`pg_stat_statements`), and its
/// transactions (`pg_stat_database`: a statement outside a transaction is one, and so is
/// the connection pool's check of a connection before lending it, an empty query).
/// Read from the `postgres` database, so the reading is not counted.
fn counts(pg: &Postgres) -> (i64, i64) {
    // Transaction statistics are flushed at most once a second by each backend.
    std::thread::sleep(Duration::from_millis(1200));
    let out = pg.psql(
        "postgres",
        "SELECT (SELECT COALESCE(SUM(s.calls), 0) FROM pg_stat_statements s \
         JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'bench'), \
         (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'bench')",
    );
    let (statements, transactions) = out.split_once('|').expect("two counts");
    (
        statements.parse().expect("a count"),
        transactions.parse().expect("a count"),
    )
}

fn start_server(options: &Options, config: &Path, data: &Path, poll: bool) -> Server {
    let env: &[(&str, &str)] = if poll {
        &[("REELSMITH_BENCH_EVENT_POLL_MS", "250")]
    } else {
        &[]
    };
    Server::start(&options.bin, data, Some(config), env)
}

fn main() {
    let options = options();
    let pg = Postgres::start();
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = temp.path().join("bench.toml");
    std::fs::write(
        &config,
        format!("[database]\nurl = \"{}\"\nmax_connections = 16\n", pg.url()),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&options, &pg, &config, &data));
}

async fn run(options: &Options, pg: &Postgres, config: &Path, data: &Path) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    let mut server = start_server(options, config, data, false);
    let mut base = server.base.clone();
    wait_ready(&client, &base).await;
    let cookie = sign_in(&client, &base, data).await;
    let jobs = seed_jobs(pg, options.streams).await;
    println!(
        "job event streams, PostgreSQL, one `serve --no-workers`, {} streams each on a quiet job of its own, {} s per figure",
        options.streams, options.seconds
    );
    let idle = rates(pg, options.seconds);
    println!("  no stream open:                       {idle}");

    let streams = open_streams(&client, &base, &cookie, &jobs).await;
    let woken = rates(pg, options.quiet_seconds);
    println!(
        "  {} streams, LISTEN/NOTIFY wake-ups:  {woken}   {:.3} queries per stream per second (over {} s, safety reads included)",
        streams.len(),
        (woken.statements - idle.statements).max(0.0) / streams.len() as f64,
        options.quiet_seconds
    );
    latency(pg, &jobs, streams).await;

    drop(server);
    server = start_server(options, config, data, true);
    base = server.base.clone();
    wait_ready(&client, &base).await;
    let streams = open_streams(&client, &base, &cookie, &jobs).await;
    let polled = rates(pg, options.seconds);
    println!(
        "  {} streams, polling every 250 ms:    {polled}   {:.3} queries per stream per second (before issue 23)",
        streams.len(),
        (polled.statements - idle.statements).max(0.0) / streams.len() as f64
    );
    drop(streams);
    drop(server);
}

/// Statements and transactions per second the `bench` database ran over `seconds`.
fn rates(pg: &Postgres, seconds: u64) -> Rates {
    let (statements, transactions) = counts(pg);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let (statements_after, transactions_after) = counts(pg);
    let elapsed = started.elapsed().as_secs_f64();
    Rates {
        statements: (statements_after - statements) as f64 / elapsed,
        transactions: (transactions_after - transactions) as f64 / elapsed,
    }
}

struct Rates {
    statements: f64,
    transactions: f64,
}

impl std::fmt::Display for Rates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.1} queries/s ({:>7.1} transactions/s)",
            self.statements, self.transactions
        )
    }
}

/// `count` queued jobs of the signed-in user, written straight into the database.
async fn seed_jobs(pg: &Postgres, count: usize) -> Vec<String> {
    let db = Db::connect(&pg.url(), 2).await.unwrap();
    let owner = db
        .user_by_email("bench@example.org")
        .await
        .unwrap()
        .expect("the bench user")
        .id;
    let mut jobs = Vec::with_capacity(count);
    for i in 0..count {
        let job = db
            .submit_job(
                &NewJob {
                    owner_id: owner.clone(),
                    params: json!({ "script": format!("Stream bench job {i}."), "seed": i }),
                    idempotency_key: None,
                    cost: 0,
                },
                now_ms(),
            )
            .await
            .unwrap();
        jobs.push(job.job.id);
    }
    db.close().await;
    jobs
}

struct Stream {
    response: reqwest::Response,
    buf: String,
}

impl Stream {
    /// The next event's kind (keep-alive comments skipped); `None` when the stream ended.
    async fn next_kind(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if let Some(kind) = block.lines().find_map(|l| l.strip_prefix("event: ")) {
                    return Some(kind.trim().to_owned());
                }
                continue;
            }
            let chunk = self.response.chunk().await.ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// One stream per job, each read up to its `queued` event, so every one is open and has done
/// its first read before anything is measured.
async fn open_streams(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    jobs: &[String],
) -> Vec<Stream> {
    let mut opening = tokio::task::JoinSet::new();
    for (i, job) in jobs.iter().enumerate() {
        let (client, url, cookie) = (
            client.clone(),
            format!("{base}/api/v1/jobs/{job}/events"),
            cookie.to_owned(),
        );
        opening.spawn(async move {
            let response = client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("the stream opens");
            assert_eq!(response.status(), 200);
            let mut stream = Stream {
                response,
                buf: String::new(),
            };
            assert_eq!(stream.next_kind().await.as_deref(), Some("queued"));
            (i, stream)
        });
    }
    let mut streams: Vec<(usize, Stream)> = Vec::with_capacity(jobs.len());
    while let Some(done) = opening.join_next().await {
        streams.push(done.expect("a stream"));
    }
    streams.sort_by_key(|(i, _)| *i);
    // Let the opening's session reads settle before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    streams.into_iter().map(|(_, s)| s).collect()
}

/// From an event's commit (another connection, as a worker) to the stream that follows it.
async fn latency(pg: &Postgres, jobs: &[String], mut streams: Vec<Stream>) {
    let db = Db::connect(&pg.url(), 1).await.unwrap();
    let mut took = Vec::new();
    for i in (0..streams.len()).step_by((streams.len() / 20).max(1)) {
        let sent = Instant::now();
        db.append_job_event(&jobs[i], "bench", None, None, None, now_ms())
            .await
            .unwrap();
        let kind = tokio::time::timeout(Duration::from_secs(40), streams[i].next_kind())
            .await
            .expect("the event arrives");
        assert_eq!(kind.as_deref(), Some("bench"));
        took.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    println!(
        "  commit to stream, {} events:          p50 {:.1} ms   max {:.1} ms (with {} streams open)",
        took.len(),
        took[took.len() / 2],
        took[took.len() - 1],
        streams.len()
    );
    db.close().await;
}

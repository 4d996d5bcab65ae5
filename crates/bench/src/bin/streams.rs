//! `bench-streams`: what open job event streams (SSE) cost the database. One real
//! `reelsmith serve --no-workers`, N streams open over loopback, each following a job of its own
//! that stays quiet, on PostgreSQL (a throwaway cluster, initdb, as the tests make it) and on
//! SQLite (a data folder's file), one after the other. Nothing in the server is trusted to count
//! itself: on PostgreSQL the figures are the database's own counts, of statements
//! (`pg_stat_statements`) and of transactions (`pg_stat_database`); on SQLite, which keeps no
//! such counts, they are the lines of sqlx's statement log (`RUST_LOG=sqlx::query=debug`, one
//! line per statement run), read from the server's log file.
//!
//! Measured three ways per database, side by side: the server with no stream open, with N
//! streams woken (PostgreSQL: `LISTEN/NOTIFY`; SQLite: one watcher per process reading the end
//! of the event log, D-live-3), and with N streams polling every 250 ms as before (the server
//! started again with `REELSMITH_BENCH_EVENT_POLL_MS=250`). Then how long an event takes from its
//! commit to a stream, written by another process's connection (the bench's own, like a worker).
//!
//! Usage: `REELSMITH_BIN=target/release/reelsmith bench-streams [--streams 1000] [--seconds 10]
//! [--quiet-seconds 60] [--databases postgres,sqlite]` (the woken streams are measured over
//! `--quiet-seconds`, long enough to include their safety reads; the other figures over
//! `--seconds`).

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

use reelsmith_bench::{sign_in, wait_ready, Flags, Postgres, Server};
use reelsmith_store::{now_ms, Db, NewJob};
use serde_json::json;

struct Options {
    streams: usize,
    seconds: u64,
    /// The woken streams are measured longer, so their safety reads (every 20 to 30 s) count.
    quiet_seconds: u64,
    bin: PathBuf,
    databases: Vec<String>,
}

fn options() -> Options {
    let mut options = Options {
        streams: 1000,
        seconds: 10,
        quiet_seconds: 60,
        bin: reelsmith_bench::reelsmith_bin(),
        databases: vec!["postgres".into(), "sqlite".into()],
    };
    let flags = Flags::from_env(&[
        "--streams",
        "--seconds",
        "--quiet-seconds",
        "--bin",
        "--databases",
    ]);
    flags.set("--streams", &mut options.streams);
    flags.set("--seconds", &mut options.seconds);
    flags.set("--quiet-seconds", &mut options.quiet_seconds);
    flags.set("--bin", &mut options.bin);
    flags.set_list("--databases", &mut options.databases);
    options
}

/// Where the statements a server runs are counted.
enum Meter<'a> {
    /// `pg_stat_statements` and `pg_stat_database` of the `bench` database.
    Postgres(&'a Postgres),
    /// The server's log file, with sqlx's statement log on.
    StatementLog(PathBuf),
}

impl Meter<'_> {
    /// Statements run so far, and transactions where the database counts them.
    fn counts(&self) -> (i64, Option<i64>) {
        match self {
            Meter::Postgres(pg) => {
                let (statements, transactions) = pg_counts(pg);
                (statements, Some(transactions))
            }
            Meter::StatementLog(log) => {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let statements = text.lines().filter(|l| l.contains("sqlx::query")).count();
                (statements as i64, None)
            }
        }
    }
}

/// Statements the `bench` database has run so far (`pg_stat_statements`), and its
/// transactions (`pg_stat_database`: a statement outside a transaction is one, and so is
/// the connection pool's check of a connection before lending it, an empty query).
/// Read from the `postgres` database, so the reading is not counted.
fn pg_counts(pg: &Postgres) -> (i64, i64) {
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

/// The server with the statement log on (SQLite) and, when `poll`, its streams polling.
fn start_server(
    options: &Options,
    config: Option<&Path>,
    data: &Path,
    poll: bool,
    log: Option<&Path>,
) -> Server {
    let mut env = vec![];
    if poll {
        env.push(("REELSMITH_BENCH_EVENT_POLL_MS", "250"));
    }
    if log.is_some() {
        env.push(("RUST_LOG", "warn,sqlx::query=debug"));
    }
    Server::start_logging(&options.bin, data, config, &env, log)
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for database in &options.databases {
        match database.as_str() {
            "postgres" => runtime.block_on(on_postgres(&options)),
            "sqlite" => runtime.block_on(on_sqlite(&options)),
            other => panic!("--databases: {other} is neither postgres nor sqlite"),
        }
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn on_postgres(options: &Options) {
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
    let server = start_server(options, Some(&config), &data, false, None);
    let db = Db::connect(&pg.url(), 2).await.unwrap();
    println!(
        "job event streams, PostgreSQL, one `serve --no-workers`, {} streams each on a quiet job of its own, {} s per figure",
        options.streams, options.seconds
    );
    let woken = (server, Meter::Postgres(&pg));
    let polling = || {
        let server = start_server(options, Some(&config), &data, true, None);
        (server, Meter::Postgres(&pg))
    };
    measure(
        options,
        "LISTEN/NOTIFY wake-ups: ",
        &data,
        &db,
        woken,
        polling,
    )
    .await;
    db.close().await;
}

async fn on_sqlite(options: &Options) {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let log = temp.path().join("serve.log");
    let server = start_server(options, None, &data, false, Some(&log));
    wait_ready(&http_client(), &server.base).await;
    // The bench writes as a separate worker process would: its own connections to the file.
    let db = Db::open_sqlite(&data.join("reelsmith.db"), 2)
        .await
        .unwrap();
    println!(
        "job event streams, SQLite, one `serve --no-workers`, events written by another process, {} streams each on a quiet job of its own, {} s per figure",
        options.streams, options.seconds
    );
    let woken = (server, Meter::StatementLog(log));
    let polling = || {
        let log = temp.path().join("serve-polling.log");
        let server = start_server(options, None, &data, true, Some(&log));
        (server, Meter::StatementLog(log))
    };
    measure(
        options,
        "event log watcher:      ",
        &data,
        &db,
        woken,
        polling,
    )
    .await;
    db.close().await;
}

/// The figures of one database: no stream, N woken streams and their commit-to-stream latency,
/// then N polling streams on the server `polling` starts.
async fn measure<'a>(
    options: &Options,
    how: &str,
    data: &Path,
    db: &Db,
    (server, meter): (Server, Meter<'a>),
    polling: impl FnOnce() -> (Server, Meter<'a>),
) {
    let client = http_client();
    wait_ready(&client, &server.base).await;
    let cookie = sign_in(&client, &server.base, data).await;
    let jobs = seed_jobs(db, options.streams).await;
    let idle = rates(&meter, options.seconds);
    println!("  no stream open:                       {idle}");
    let streams = open_streams(&client, &server.base, &cookie, &jobs).await;
    let woken = rates(&meter, options.quiet_seconds);
    print_woken(how, &idle, &woken, streams.len(), options);
    latency(db, &jobs, streams).await;
    drop(server);

    let (server, meter) = polling();
    wait_ready(&client, &server.base).await;
    let streams = open_streams(&client, &server.base, &cookie, &jobs).await;
    let polled = rates(&meter, options.seconds);
    print_polled(&idle, &polled, streams.len());
    drop(streams);
    drop(server);
}

fn print_woken(how: &str, idle: &Rates, woken: &Rates, streams: usize, options: &Options) {
    println!(
        "  {streams} streams, {how}{woken}   {:.3} queries per stream per second (over {} s, safety reads included)",
        (woken.statements - idle.statements).max(0.0) / streams as f64,
        options.quiet_seconds
    );
}

fn print_polled(idle: &Rates, polled: &Rates, streams: usize) {
    println!(
        "  {streams} streams, polling every 250 ms:    {polled}   {:.3} queries per stream per second (before issue 23)",
        (polled.statements - idle.statements).max(0.0) / streams as f64
    );
}

/// Statements and transactions per second the server ran over `seconds`.
fn rates(meter: &Meter, seconds: u64) -> Rates {
    let (statements, transactions) = meter.counts();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let (statements_after, transactions_after) = meter.counts();
    let elapsed = started.elapsed().as_secs_f64();
    Rates {
        statements: (statements_after - statements) as f64 / elapsed,
        transactions: transactions
            .zip(transactions_after)
            .map(|(before, after)| (after - before) as f64 / elapsed),
    }
}

struct Rates {
    statements: f64,
    transactions: Option<f64>,
}

impl std::fmt::Display for Rates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>8.1} queries/s", self.statements)?;
        match self.transactions {
            Some(t) => write!(f, " ({t:>7.1} transactions/s)"),
            None => write!(f, "                         "),
        }
    }
}

/// `count` queued jobs of the signed-in user, written straight into the database.
async fn seed_jobs(db: &Db, count: usize) -> Vec<String> {
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

/// From an event's commit (another process's connection, as a worker's) to the stream that
/// follows it.
async fn latency(db: &Db, jobs: &[String], mut streams: Vec<Stream>) {
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
}

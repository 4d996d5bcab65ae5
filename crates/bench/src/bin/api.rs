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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reelsmith_bench::{load, sign_in, submit, wait_ready, Flags, Measured, Server};
use serde_json::json;

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
        bin: reelsmith_bench::reelsmith_bin(),
        gallery: 10_000,
    };
    let flags = Flags::from_env(&["--connections", "--seconds", "--bin", "--gallery"]);
    flags.set_list("--connections", &mut options.connections);
    flags.set("--seconds", &mut options.seconds);
    flags.set("--bin", &mut options.bin);
    flags.set("--gallery", &mut options.gallery);
    options
}

fn main() {
    let options = options();
    let temp = tempfile::tempdir().expect("a temporary folder");
    let data = temp.path().join("data");
    let server = Server::start(&options.bin, &data, None, &[]);
    // The server gets the runtime's other thread; the load generator one, like wrk -t1.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(options, server.base.clone(), data));
}

async fn run(options: Options, base: String, data: PathBuf) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections.iter().copied().max().unwrap_or(1))
        .build()
        .unwrap();
    wait_ready(&client, &base).await;
    let cookie = sign_in(&client, &base, &data).await;
    let job_id = submit(&client, &base, &cookie, "A quiet harbour at dawn.").await;
    let url = Arc::new(vec![format!("{base}/api/v1/jobs/{job_id}")]);
    let cookie = Arc::new(cookie);

    for &connections in &options.connections {
        // Warm-up: open every connection and fill caches before measuring.
        load(&client, &url, &cookie, connections, Duration::from_secs(1)).await;
        let measured = load(
            &client,
            &url,
            &cookie,
            connections,
            Duration::from_secs(options.seconds),
        )
        .await;
        report(
            &url_label("GET /api/v1/jobs/{id} (session cookie"),
            measured,
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
        let url = Arc::new(vec![format!("{base}{path}")]);
        for &connections in &options.connections {
            load(
                &client,
                &url,
                &anonymous,
                connections,
                Duration::from_secs(1),
            )
            .await;
            let measured = load(
                &client,
                &url,
                &anonymous,
                connections,
                Duration::from_secs(options.seconds),
            )
            .await;
            report(&url_label(label), measured, connections);
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

fn report(label: &str, mut measured: Measured, connections: usize) {
    println!(
        "{label}, SQLite, {connections} connections, {:.1} s)",
        measured.elapsed.as_secs_f64()
    );
    println!(
        "  requests:  {} ok, {} failed",
        measured.latencies.len(),
        measured.errors
    );
    println!(
        "  rate:      {:.0} requests/s   (target >= 5000)",
        measured.rate()
    );
    println!("  latency:   p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms   (target p99 <= 20 ms)",
        measured.quantile_ms(0.50), measured.quantile_ms(0.90), measured.quantile_ms(0.99), measured.quantile_ms(1.0));
}

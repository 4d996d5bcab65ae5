//! Where data lives and where it goes, proven on the real `reelsmith` binary:
//! - P-SEC-1: on embedded defaults, accounts and jobs are rows of the SQLite database in the data
//!   folder and media are objects of the local store; configured for production, the same run puts
//!   them in PostgreSQL and an S3 bucket (moto), and nothing of either in the data folder.
//! - P-IN-2: a whole provider job, traced with `strace`, opens network connections to the
//!   configured provider and to nothing else, from the server, the worker and every program they
//!   start (ffmpeg, espeak-ng).
//! - P-SEC-6: the operator's policy, news and breach commands write `admin.*` audit entries.

// Test code may use `unsafe` (denied in the workspace): it signals the processes it started (libc `kill`).
#![allow(unsafe_code)]

mod platform;
#[path = "../../store/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use platform::{files_under, photo, Api, ProviderFake, Server};
use reelsmith_store::Db;
use serde_json::{json, Value};

const SCRIPT: &str = "A quiet harbour at dawn. The boats go out.";

/// Waits until the job has ended and returns it.
async fn finished(api: &Api, id: &str) -> Value {
    let events = api.follow_events(id).await;
    let job = api.job(id).await;
    assert_eq!(job["status"], "succeeded", "{job}\n{events:?}");
    job
}

/// Signs a user up, uploads a photo and renders one studio job with it.
async fn render_with_an_upload(api: &mut Api, data: &Path, temp: &Path) -> (String, String) {
    api.sign_up_and_in(data, "ana@example.org", "ana").await;
    let upload = api.upload("harbour.jpg", "image/jpeg", &photo(temp)).await;
    let submitted = api
        .submit(
            &json!({ "script": SCRIPT, "media": [upload], "resolution": "480p" }),
            None,
        )
        .await;
    assert_eq!(submitted.status, 201, "{}", submitted.text());
    let job = submitted.json()["id"].as_str().unwrap().to_owned();
    finished(api, &job).await;
    (upload, job)
}

/// The S3 keys in `bucket`, by an unsigned ListObjectsV2 (moto does not check signatures).
async fn bucket_keys(endpoint: &str, bucket: &str) -> Vec<String> {
    let xml = reqwest::get(format!("{endpoint}/{bucket}?list-type=2&max-keys=1000"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xml.split("<Key>")
        .skip(1)
        .filter_map(|part| part.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_sec_1_on_defaults_accounts_live_in_sqlite_and_media_in_the_local_store() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &[]).await;
    let mut ana = server.client();
    let (upload, job) = render_with_an_upload(&mut ana, &data, temp.path()).await;

    // The account and the job are rows of the embedded database in the data folder.
    let db = Db::open_sqlite(&data.join("reelsmith.db"), 1)
        .await
        .unwrap();
    let user = db.user_by_email("ana@example.org").await.unwrap();
    let user = user.expect("the account is a row of data/reelsmith.db");
    let row = db.job_for_owner(&user.id, &job).await.unwrap();
    assert!(row.is_some(), "the job is a row of data/reelsmith.db");
    db.close().await;

    // The upload and the outputs are objects of the local store, sealed.
    let objects = files_under(&data.join("media"));
    let video = ana.get(&format!("/api/v1/jobs/{job}/video")).await;
    assert_eq!(video.status, 200);
    let image = ana.get(&format!("/api/v1/uploads/{upload}/content")).await;
    assert_eq!(image.status, 200);
    assert!(
        objects.len() >= 4,
        "upload, video, poster and captions are objects: {objects:?}"
    );
    for object in &objects {
        let bytes = std::fs::read(data.join("media").join(object)).unwrap();
        assert!(
            !bytes.windows(64).any(|w| w == &image.body[200..264])
                && !bytes.windows(64).any(|w| w == &video.body[1000..1064]),
            "{object} is ciphertext, not the plaintext served through the API"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_sec_1_configured_for_production_accounts_live_in_postgresql_and_media_in_s3() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let database = support::postgres::shared().create_database().await;
    let moto = support::moto::shared();
    let bucket = moto.create_bucket();
    let endpoint = moto.endpoint();
    assert!(bucket_keys(&endpoint, &bucket).await.is_empty());
    let env = [
        ("REELSMITH__DATABASE__URL", database.as_str()),
        ("REELSMITH__STORAGE__BACKEND", "s3"),
        ("REELSMITH__STORAGE__S3__ENDPOINT", endpoint.as_str()),
        ("REELSMITH__STORAGE__S3__REGION", "us-east-1"),
        ("REELSMITH__STORAGE__S3__BUCKET", bucket.as_str()),
        ("REELSMITH__STORAGE__S3__ACCESS_KEY_ID", "testing"),
        ("REELSMITH__STORAGE__S3__SECRET_ACCESS_KEY", "testing"),
        ("REELSMITH__STORAGE__S3__PATH_STYLE", "true"),
        ("REELSMITH__STORAGE__S3__ALLOW_HTTP", "true"),
    ];
    let server = Server::start(&data, &env, &[]).await;
    let mut ana = server.client();
    let (upload, job) = render_with_an_upload(&mut ana, &data, temp.path()).await;

    let db = Db::connect(&database, 1).await.unwrap();
    let user = db.user_by_email("ana@example.org").await.unwrap();
    let user = user.expect("the account is a row of the PostgreSQL database");
    assert!(db.job_for_owner(&user.id, &job).await.unwrap().is_some());
    db.close().await;

    let keys = bucket_keys(&endpoint, &bucket).await;
    assert!(
        keys.len() >= 4,
        "upload, video, poster and captions are objects of the bucket: {keys:?}"
    );
    let image = ana.get(&format!("/api/v1/uploads/{upload}/content")).await;
    assert_eq!(image.status, 200);
    for key in &keys {
        let stored = reqwest::get(format!("{endpoint}/{bucket}/{key}"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(
            !stored.windows(64).any(|w| w == &image.body[200..264]),
            "{key} is ciphertext"
        );
    }
    // Nothing of either lives in the data folder: no database file, no media objects.
    assert!(!data.join("reelsmith.db").exists(), "no SQLite database");
    assert!(
        files_under(&data.join("media")).is_empty(),
        "no local media objects"
    );
    drop(server);
}

/// `reelsmith serve` under `strace -f`, recording every connect and every datagram sent to an
/// address, from the process, its threads and every program it starts. The server is killed
/// when this is dropped (strace 6.1 has no --kill-on-exit, so by its pid).
struct TracedServer {
    strace: Child,
    trace: PathBuf,
    base: String,
}

impl TracedServer {
    async fn start(data: &Path, env: &[(&str, &str)]) -> TracedServer {
        let port = platform::free_port();
        let trace = data.with_extension("strace");
        let strace = Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg"])
            .arg("-o")
            .arg(&trace)
            .arg(platform::bin())
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            // espeak-ng narrates, as in every harness of the suite (D-voice-6).
            .env("REELSMITH__SPEECH__DEFAULT_VOICE", "espeak")
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("strace runs (scripts/setup --test installs it)");
        let server = TracedServer {
            strace,
            trace,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while reqwest::get(format!("{}/readyz", server.base))
            .await
            .map_or(true, |r| r.status() != 200)
        {
            assert!(Instant::now() < deadline, "serve never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    fn client(&self) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            cookie: None,
        }
    }

    /// Every Internet address (ip, port) the traced processes connected or sent to so far.
    fn destinations(&self) -> Vec<(String, u16)> {
        let text = std::fs::read_to_string(&self.trace).unwrap_or_default();
        text.lines()
            .filter(|line| line.contains("sa_family=AF_INET"))
            .map(|line| {
                let port = between(line, "_port=htons(", ")")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| panic!("a port in {line}"));
                let ip = between(line, "inet_addr(\"", "\"")
                    .or_else(|| between(line, "inet_pton(AF_INET6, \"", "\""))
                    .unwrap_or_else(|| panic!("an address in {line}"));
                (ip.to_owned(), port)
            })
            .collect()
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

impl Drop for TracedServer {
    fn drop(&mut self) {
        // The traced `reelsmith` is strace's only child.
        let children = format!("/proc/{0}/task/{0}/children", self.strace.id());
        for pid in std::fs::read_to_string(children)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.strace.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_in_2_a_provider_job_connects_to_its_provider_and_to_nothing_else() {
    let fal = ProviderFake::start("fal_fake.py");
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let fal_url = format!("http://127.0.0.1:{}", fal.port);
    let env = [
        ("REELSMITH__PROVIDERS__FAL__KEY", "fal-test-key-0123456789"),
        ("REELSMITH__PROVIDERS__FAL__BASE_URL", fal_url.as_str()),
        ("REELSMITH__PROVIDERS__POLL_SECONDS", "1"),
        ("REELSMITH__CREDITS__SIGNUP_GRANT", "1000"),
    ];
    let server = TracedServer::start(&data, &env).await;
    let mut ana = server.client();
    ana.sign_up_and_in(&data, "ana@example.org", "ana").await;
    let consent = ana
        .send(ana.request(reqwest::Method::PUT, "/api/v1/me/consents/fal"))
        .await;
    assert!(consent.status < 300, "{}", consent.text());

    // A job on the provider, and one on the built-in engine with an upload.
    let upload = ana
        .upload("harbour.jpg", "image/jpeg", &photo(temp.path()))
        .await;
    let mut jobs = Vec::new();
    for spec in [
        json!({ "script": "A red fox runs through the fresh snow at dawn.", "provider": "fal",
                "model": "fal-ai/kling-video/v2.1/master/text-to-video", "resolution": "720p" }),
        json!({ "script": SCRIPT, "media": [upload], "resolution": "480p" }),
    ] {
        let submitted = ana.submit(&spec, None).await;
        assert_eq!(submitted.status, 201, "{}", submitted.text());
        jobs.push(submitted.json()["id"].as_str().unwrap().to_owned());
    }
    let provider_job = finished(&ana, &jobs[0]).await;
    assert_eq!(provider_job["usage"]["provider"], "fal", "{provider_job}");
    finished(&ana, &jobs[1]).await;

    let destinations = server.destinations();
    assert!(
        destinations
            .iter()
            .any(|(ip, port)| ip == "127.0.0.1" && *port == fal.port),
        "the trace sees the provider calls: {destinations:?}"
    );
    let elsewhere: Vec<_> = destinations
        .iter()
        .filter(|(ip, port)| !(ip == "127.0.0.1" && *port == fal.port))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "nothing but the configured provider is contacted: {elsewhere:?}"
    );
}

/// Every `admin.*` audit entry, oldest first: (kind, user agent, detail).
async fn admin_entries(data: &Path) -> Vec<(String, Option<String>, Value)> {
    use sqlx::Row;
    let url = format!("sqlite://{}", data.join("reelsmith.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows = sqlx::query(
        "SELECT kind, user_agent, detail_json FROM audit_log WHERE kind LIKE 'admin.%' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|row| {
            let detail: Option<String> = row.get("detail_json");
            (
                row.get("kind"),
                row.get("user_agent"),
                detail.map_or(Value::Null, |d| serde_json::from_str(&d).unwrap()),
            )
        })
        .collect()
}

/// Runs `reelsmith <args> --data <data>` and says whether it succeeded.
fn operator(data: &Path, args: &[&str]) -> bool {
    Command::new(platform::bin())
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
        .status
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_sec_6_the_operators_policy_news_and_breach_commands_write_admin_audit_entries() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut server = Server::start(&data, &[], &["--no-workers"]).await;
    let mut ana = server.client();
    ana.sign_up_and_in(&data, "ana@example.org", "ana").await;
    server.kill();
    assert!(admin_entries(&data).await.is_empty());

    let version = [
        "policy",
        "publish",
        "--kind",
        "privacy",
        "--version",
        "2026-12-01",
    ];
    assert!(operator(
        &data,
        &[&version[..], &["--summary", "Shorter retention."]].concat()
    ));
    // Publishing the same version again is refused and records nothing.
    assert!(!operator(
        &data,
        &[&version[..], &["--summary", "Again."]].concat()
    ));
    let news = temp.path().join("news.txt");
    std::fs::write(&news, "Music for your videos.").unwrap();
    let news = news.to_str().unwrap();
    assert!(operator(
        &data,
        &["news", "send", "--subject", "New", "--body-file", news]
    ));
    let affected = temp.path().join("affected.txt");
    std::fs::write(&affected, "ana@example.org\n").unwrap();
    let notice = temp.path().join("notice.txt");
    std::fs::write(&notice, "Dear {name}, an incident touched {product}.").unwrap();
    assert!(operator(
        &data,
        &[
            "breach",
            "notify",
            "--subject",
            "Security incident",
            "--template",
            notice.to_str().unwrap(),
            "--users",
            affected.to_str().unwrap(),
            "--discovered",
            "2026-11-20T08:00:00Z",
        ],
    ));

    let entries = admin_entries(&data).await;
    let kinds: Vec<&str> = entries.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "admin.policy_published",
            "admin.news_sent",
            "admin.breach_notice_created",
        ],
        "{entries:?}"
    );
    for (kind, agent, _) in &entries {
        assert_eq!(agent.as_deref(), Some("reelsmith-cli"), "{kind}");
    }
    assert_eq!(entries[0].2["version"], "2026-12-01");
    assert_eq!(entries[0].2["kind"], "privacy");
    assert_eq!(entries[1].2["subject"], "New");
    assert_eq!(entries[2].2["recipients"], 1);
}

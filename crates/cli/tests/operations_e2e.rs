//! What an operator of PostgreSQL + S3 meets, through the real binary: `migrate` says what it
//! did, `config check` tries each dependency and names the one that fails, and with the database
//! stopped or the S3 service frozen `/readyz` answers promptly naming what is down while API
//! routes answer 503 with `Retry-After`, then recover without a restart.

// Test code may use `unsafe` (denied in the workspace): it pauses and resumes the S3 server it started (libc `kill`).
#![allow(unsafe_code)]

mod platform;
#[path = "../../store/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use platform::Server;
use reelsmith_store::{now_ms, Db, KeyStore, Keyring, NewUser, OperatorKey, Role};

/// Far below the 30 s the pool used to wait and the minutes S3 retries took: an answer this
/// late means something still waits without a bound.
const HANG: Duration = Duration::from_secs(10);

fn run(args: &[&str], config: &Path, data: &Path) -> Output {
    Command::new(platform::bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .arg("--data")
        .arg(data)
        .output()
        .expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A configuration file for PostgreSQL at `database_url` and the S3 bucket `bucket`.
fn write_config(
    dir: &Path,
    database_url: &str,
    s3_port: u16,
    bucket: &str,
    key_file: &Path,
) -> std::path::PathBuf {
    let file = dir.join(format!("reelsmith-{bucket}-{}.toml", now_ms()));
    std::fs::write(
        &file,
        format!(
            r#"[database]
url = "{database_url}"
max_connections = 4
acquire_timeout_seconds = 1

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
timeout_seconds = 2
connect_timeout_seconds = 1
max_retries = 0

[encryption]
key_file = "{}"
"#,
            key_file.display()
        ),
    )
    .unwrap();
    file
}

#[test]
fn migrate_says_it_created_the_schema_and_then_that_nothing_was_left() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let migrate = || {
        Command::new(platform::bin())
            .args(["migrate", "--data"])
            .arg(&data)
            .output()
            .unwrap()
    };
    let first = migrate();
    assert!(first.status.success(), "{}", stderr(&first));
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(said.contains("created the database schema"), "{said}");
    assert!(!said.contains("up to date"), "{said}");
    let again = migrate();
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success());
    assert!(
        said.contains("already up to date; nothing to apply"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_tries_the_database_the_bucket_and_the_key_file() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let pg = support::postgres::shared();
    let moto = support::moto::shared();
    let url = pg.create_database().await;
    let bucket = moto.create_bucket();
    let key_file = temp.path().join("operator.key");

    // Everything reachable, a fresh database and no key yet: the key will be generated.
    let good = write_config(temp.path(), &url, moto.port, &bucket, &key_file);
    let out = run(&["config", "check"], &good, &data);
    assert!(out.status.success(), "{}", stderr(&out));
    for line in ["ok: database:", "ok: storage: bucket", "ok: operator key:"] {
        assert!(stderr(&out).contains(line), "`{line}` in {}", stderr(&out));
    }

    // A role the database does not know: the credentials are refused.
    let wrong_user = url.replace("postgres://postgres@", "postgres://intruder:nope@");
    let bad_db = write_config(temp.path(), &wrong_user, moto.port, &bucket, &key_file);
    let out = run(&["config", "check"], &bad_db, &data);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: database:"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("nope"),
        "the password is never printed"
    );

    // A bucket that does not exist.
    let no_bucket = write_config(temp.path(), &url, moto.port, "no-such-bucket", &key_file);
    let out = run(&["config", "check"], &no_bucket, &data);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: storage: bucket `no-such-bucket`"),
        "{}",
        stderr(&out)
    );

    // Data keys wrapped under a key whose file is missing: no media could be read.
    let db = Db::connect(&url, 2).await.unwrap();
    db.migrate().await.unwrap();
    let user = db
        .create_user(
            &NewUser {
                email: "ana@example.org".into(),
                username: "ana".into(),
                password_hash: None,
                display_name: "Ana".into(),
                role: Role::User,
                birth_year: None,
                age_confirmed_min: Some(18),
            },
            now_ms(),
        )
        .await
        .unwrap();
    let elsewhere = OperatorKey::create_file(&temp.path().join("elsewhere.key")).unwrap();
    KeyStore::new(db.clone(), Keyring::new(elsewhere))
        .data_key(&user.id, now_ms())
        .await
        .unwrap();
    let out = run(&["config", "check"], &good, &data);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: operator key: key file")
            && stderr(&out).contains("is missing"),
        "{}",
        stderr(&out)
    );
    // Another key file than the one the data keys are wrapped under.
    OperatorKey::create_file(&key_file).unwrap();
    let out = run(&["config", "check"], &good, &data);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not match the database"),
        "{}",
        stderr(&out)
    );
    db.close().await;
}

/// Issue 23: `config check` compares the deployment fingerprint as `serve` and `worker` do at
/// start: another deployment's database, another media store or another key file is a clear
/// `error: deployment:` line and exit 1, and the check names, marks and generates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_reports_another_deployments_database_media_store_or_key() {
    let temp = tempfile::tempdir().unwrap();
    let pg = support::postgres::shared();
    let moto = support::moto::shared();
    let url = pg.create_database().await;
    let bucket = moto.create_bucket();
    let key_file = temp.path().join("operator.key");
    let servers = write_config(temp.path(), &url, moto.port, &bucket, &key_file);

    // The first server names the deployment and marks its bucket.
    let data = temp.path().join("server");
    let flag = servers.display().to_string();
    let mut server = Server::start(&data, &[], &["--config", &flag, "--no-workers"]).await;
    server.kill();
    let out = run(&["config", "check"], &servers, &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ok: deployment: deployment "),
        "{}",
        stderr(&out)
    );

    let mismatch = |config: &Path, says: &str| {
        let out = run(&["config", "check"], config, &data);
        let said = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{said}");
        let line = said
            .lines()
            .find(|l| l.starts_with("error: deployment: "))
            .unwrap_or_else(|| panic!("an `error: deployment:` line in {said}"));
        assert!(line.contains(says), "`{says}` in {line}");
    };
    // Another (empty) database beside the servers' bucket.
    let other_url = pg.create_database().await;
    let other_db = write_config(temp.path(), &other_url, moto.port, &bucket, &key_file);
    mismatch(&other_db, "another database than the servers'");
    // Another bucket beside the servers' database.
    let other_bucket = moto.create_bucket();
    let other_store = write_config(temp.path(), &url, moto.port, &other_bucket, &key_file);
    mismatch(&other_store, "another media store than the servers'");
    // Another key file: no data key is wrapped yet, so only the fingerprint can tell.
    let foreign = temp.path().join("foreign.key");
    OperatorKey::create_file(&foreign).unwrap();
    let other_key = write_config(temp.path(), &url, moto.port, &bucket, &foreign);
    mismatch(&other_key, "use the servers' key file");

    // Nothing was claimed by the checks.
    let other = Db::connect(&other_url, 1).await.unwrap();
    assert_eq!(other.applied_migrations().await.unwrap(), 0, "not migrated");
    other.close().await;
    let marked = reelsmith_store::MediaStore::s3(&reelsmith_store::S3Config {
        endpoint: Some(format!("http://127.0.0.1:{}", moto.port)),
        region: "us-east-1".into(),
        bucket: other_bucket.clone(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        path_style: true,
        allow_http: true,
    })
    .unwrap()
    .list("")
    .await
    .unwrap();
    assert!(
        marked.is_empty(),
        "the other bucket stays empty: {marked:?}"
    );
}

async fn timed_get(api: &platform::Api, path: &str) -> (platform::Reply, Duration) {
    let started = Instant::now();
    let reply = api.get(path).await;
    (reply, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_stopped_or_s3_frozen_readyz_and_the_api_answer_promptly_and_recover() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let cluster = support::postgres::Cluster::start();
    let url = cluster.addr().create_database().await;
    let moto = support::moto::Moto::start();
    let bucket = support::moto::MotoAddr { port: moto.port }.create_bucket();
    let config = write_config(
        temp.path(),
        &url,
        moto.port,
        &bucket,
        &temp.path().join("operator.key"),
    );
    let config_flag = config.display().to_string();
    let server = Server::start(&data, &[], &["--config", &config_flag, "--no-workers"]).await;
    let mut api = server.client();
    api.sign_up_and_in(&data, "ops@example.org", "ops").await;
    assert_eq!(api.get("/api/v1/jobs").await.status, 200);

    cluster.stop();
    let (ready, took) = timed_get(&api, "/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.json()["down"], serde_json::json!(["database"]));
    assert!(took < HANG, "/readyz took {took:?}");
    let (jobs, took) = timed_get(&api, "/api/v1/jobs").await;
    assert_eq!(jobs.status, 503, "{}", jobs.text());
    assert_eq!(jobs.json()["code"], "service.unavailable");
    assert!(
        jobs.headers.get("retry-after").is_some(),
        "Retry-After is sent"
    );
    assert!(!jobs.text().contains("127.0.0.1"), "{}", jobs.text());
    assert!(took < HANG, "the API took {took:?}");

    cluster.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.get("/readyz").await.status != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready again: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        api.get("/api/v1/jobs").await.status,
        200,
        "the same session works again"
    );

    // A frozen S3 service accepts connections and never answers.
    // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
    unsafe { libc::kill(moto.pid() as i32, libc::SIGSTOP) };
    let (ready, took) = timed_get(&api, "/readyz").await;
    // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
    unsafe { libc::kill(moto.pid() as i32, libc::SIGCONT) };
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.json()["down"], serde_json::json!(["storage"]));
    assert!(took < HANG, "/readyz took {took:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.get("/readyz").await.status != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready again: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);
}

//! Privacy through the real binary on loopback: pausing processing holds a queued job until it
//! is resumed (P-RIGHTS-4), and `reelsmith retention` reports (`--dry-run`) and applies the
//! retention policy (P-RET-2).

mod platform;

use std::process::Command;
use std::time::Duration;

use platform::{files_under, photo, Server};
use serde_json::{json, Value};

async fn set_paused(api: &platform::Api, paused: bool) -> Value {
    let reply = api
        .send(
            api.request(reqwest::Method::PUT, "/api/v1/me/processing")
                .header("content-type", "application/json")
                .body(json!({ "paused": paused }).to_string()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_rights_4_a_paused_accounts_queued_job_waits_until_processing_resumes() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &[]).await;
    let mut alice = server.client();
    alice
        .sign_up_and_in(&data, "alice@example.org", "alice")
        .await;
    assert_eq!(
        alice.get("/api/v1/me").await.json()["processing_paused"],
        false
    );
    let upload = alice
        .upload("harbour.jpg", "image/jpeg", &photo(temp.path()))
        .await;

    let me = set_paused(&alice, true).await;
    assert_eq!(me["processing_paused"], true);
    assert_eq!(
        alice.get("/api/v1/me").await.json()["processing_paused"],
        true
    );
    let submitted = alice
        .submit(
            &json!({ "script": "A quiet harbour at dawn.", "media": [upload], "resolution": "480p" }),
            None,
        )
        .await;
    assert_eq!(submitted.status, 201, "{}", submitted.text());
    let job_id = submitted.json()["id"].as_str().unwrap().to_owned();

    // The workers poll every half second: many polls later the job still waits, untouched.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let job = alice.job(&job_id).await;
    assert_eq!(job["status"], "queued", "{job}");
    assert_eq!(job["attempts"].as_i64().unwrap_or(0), 0, "{job}");
    assert!(
        files_under(&data.join("media"))
            .iter()
            .all(|f| !f.starts_with("jobs")),
        "nothing was rendered"
    );

    let me = set_paused(&alice, false).await;
    assert_eq!(me["processing_paused"], false);
    let events = alice.follow_events(&job_id).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert!(kinds.contains(&"started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"succeeded"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_ret_2_cli_retention_dry_run_reports_and_deletes_nothing_then_applies() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut server = Server::start(&data, &[], &["--no-workers"]).await;
    let mut alice = server.client();
    alice.sign_up_and_in(&data, "bo@example.org", "bobo").await;
    let upload = alice
        .upload("harbour.jpg", "image/jpeg", &photo(temp.path()))
        .await;
    let submitted = alice
        .submit(
            &json!({ "script": "A quiet harbour at dawn.", "media": [upload] }),
            None,
        )
        .await;
    let job_id = submitted.json()["id"].as_str().unwrap().to_owned();
    // The job ends (cancelled: no worker runs here), so under "until the job ends" the upload
    // is due.
    let cancel = alice
        .post_json(&format!("/api/v1/jobs/{job_id}/cancel"), &json!({}))
        .await;
    assert!(cancel.status < 300, "{}", cancel.text());
    server.kill();
    let media_before = files_under(&data.join("media"));
    assert_eq!(media_before.len(), 1, "{media_before:?}");

    let run = |dry_run: bool| {
        let mut cmd = Command::new(platform::bin());
        cmd.arg("retention").arg("--data").arg(&data);
        if dry_run {
            cmd.arg("--dry-run");
        }
        cmd.env("REELSMITH__RETENTION__UPLOADS", "until_job_ends")
            .env("RUST_LOG", "warn")
            .output()
            .expect("the binary runs")
    };
    let dry = run(true);
    assert!(dry.status.success(), "{dry:?}");
    let report: Value = serde_json::from_slice(&dry.stdout).expect("the report is JSON");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["uploads"]["policy"], "until_job_ends");
    assert_eq!(report["uploads"]["deleted"], json!([upload]));
    assert_eq!(report["uploads"]["objects"].as_array().unwrap().len(), 1);
    assert_eq!(
        files_under(&data.join("media")),
        media_before,
        "nothing deleted"
    );

    let real = run(false);
    assert!(real.status.success(), "{real:?}");
    let applied: Value = serde_json::from_slice(&real.stdout).unwrap();
    assert_eq!(applied["dry_run"], false);
    assert_eq!(
        applied["uploads"], report["uploads"],
        "it did what the dry run said"
    );
    assert!(files_under(&data.join("media")).is_empty());
}

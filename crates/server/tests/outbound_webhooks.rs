//! Outbound webhooks (issue 23) end to end, on SQLite with a local folder and on PostgreSQL with
//! S3: endpoints registered per API token over the API, the event written by the store function
//! that ends the job, sent by the workers' sender to receivers this test starts, signatures
//! verified by the Standard Webhooks reference library (PyPI `standardwebhooks`), retries with
//! backoff, and endpoints that never answer, answer 500 or redirect disabled with their owner
//! told by email.

mod common;
#[path = "../../store/tests/support/mod.rs"]
mod support;
#[allow(dead_code, unused_macros)]
#[macro_use]
mod backends;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use common::*;
use reelsmith_config::Config;
use reelsmith_store::{now_ms, JobError, RunLimits};
use reelsmith_worker::webhooks::{check_url, UrlError, WebhookSender};
use reelsmith_worker::JobMail;
use serde_json::{json, Value};

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// A receiver on loopback: `/ok` answers 204, `/flaky` 500 once then 200, `/fail` always
/// 500, `/redirect` 307 to `/ok`, `/hang` never within the sender's timeout.
async fn receiver() -> (SocketAddr, Log) {
    use axum::extract::{Path, State};
    use axum::response::IntoResponse;
    let log: Log = Arc::default();
    async fn hit(
        State(log): State<Log>,
        Path(kind): Path<String>,
        headers: HeaderMap,
        body: String,
    ) -> axum::response::Response {
        let seen_before = {
            let mut log = log.lock().unwrap();
            let before = log.iter().filter(|r| r.path == kind).count();
            log.push(Received {
                path: kind.clone(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
                body,
            });
            before
        };
        match kind.as_str() {
            "ok" => StatusCode::NO_CONTENT.into_response(),
            "flaky" if seen_before == 0 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            "flaky" => StatusCode::OK.into_response(),
            "redirect" => (StatusCode::TEMPORARY_REDIRECT, [("location", "/ok")]).into_response(),
            "hang" => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                StatusCode::OK.into_response()
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
    let app = axum::Router::new()
        .route("/{kind}", axum::routing::post(hit))
        .with_state(Arc::clone(&log));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, log)
}

/// Quick retries for the test: 50 ms doubling, three attempts, 300 ms per attempt; loopback
/// receivers allowed.
fn fast(config: &mut Config) {
    config.rate_limits.job_submission.count = 1000;
    let w = &mut config.webhooks;
    w.allow_insecure = true;
    w.retry_base_ms = 50;
    w.max_delay_seconds = 1;
    w.max_attempts = 3;
    w.timeout_ms = 300;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_webhooks_are_signed_retried_and_failing_endpoints_disabled() {
    webhooks_are_signed_retried_and_failing_endpoints_disabled(app_with(fast).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_webhooks_are_signed_retried_and_failing_endpoints_disabled() {
    webhooks_are_signed_retried_and_failing_endpoints_disabled(
        backends::postgres_s3_with(fast).await,
    )
    .await;
}

#[test]
fn webhook_addresses_must_be_public_https_unless_the_operator_allows_otherwise() {
    assert!(check_url("https://hooks.example.org/in", false).is_ok());
    assert_eq!(
        check_url("http://hooks.example.org/in", false).unwrap_err(),
        UrlError::NotHttps
    );
    for private in [
        "https://127.0.0.1/in",
        "https://10.1.2.3/in",
        "https://192.168.0.9/in",
        "https://169.254.169.254/latest",
        "https://[::1]/in",
        "https://[fd00::1]/in",
        "https://localhost/in",
    ] {
        assert_eq!(
            check_url(private, false).unwrap_err(),
            UrlError::NotPublic,
            "{private}"
        );
    }
    assert_eq!(
        check_url("https://user:pw@hooks.example.org/", false).unwrap_err(),
        UrlError::Credentials
    );
    assert_eq!(
        check_url("ftp://hooks.example.org/", false).unwrap_err(),
        UrlError::Invalid
    );
    assert!(check_url("http://127.0.0.1:9/in", true).is_ok());
}

async fn create_token(t: &TestApp, auth: &Auth, name: &str) -> (String, Auth) {
    let r = t
        .json(
            Method::POST,
            "/api/v1/tokens",
            auth,
            json!({ "name": name }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let body = r.json();
    (
        body["id"].as_str().unwrap().to_owned(),
        Auth::Bearer(body["token"].as_str().unwrap().to_owned()),
    )
}

/// Registers an endpoint; its id and secret.
async fn register(
    t: &TestApp,
    auth: &Auth,
    token_id: &str,
    url: &str,
    progress: bool,
) -> (String, String) {
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/tokens/{token_id}/webhooks"),
            auth,
            json!({ "url": url, "progress_events": progress }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let body = r.json();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    (body["id"].as_str().unwrap().to_owned(), secret)
}

async fn submit(t: &TestApp, auth: &Auth) -> String {
    let up = t
        .upload(auth, "harbour.jpg", "image/jpeg", &jpeg(64, 36))
        .await;
    assert_eq!(up.status, StatusCode::CREATED);
    let media = up.json()["id"].as_str().unwrap().to_owned();
    let r = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            auth,
            json!({ "script": "A harbour at dawn.", "media": [media], "seed": 7 }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["id"].as_str().unwrap().to_owned()
}

/// The delivery log of one endpoint, over the API.
async fn log_of(t: &TestApp, auth: &Auth, token_id: &str, webhook_id: &str) -> Vec<Value> {
    let r = t
        .get(
            &format!("/api/v1/tokens/{token_id}/webhooks/{webhook_id}/deliveries"),
            auth,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    r.json().as_array().unwrap().clone()
}

/// Verifies every delivery with the reference library: the verified payloads.
fn verify_with_reference_library(secret: &str, received: &[Received]) -> Vec<Value> {
    use std::io::Write;
    let input: Vec<Value> = received
        .iter()
        .map(|r| json!({ "headers": r.headers, "body": r.body }))
        .collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fakes/webhooks/verify_standard_webhooks.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(secret)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_vec(&input).unwrap().as_slice())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "standardwebhooks refused a delivery: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn webhooks_are_signed_retried_and_failing_endpoints_disabled(t: TestApp) {
    let (addr, received) = receiver().await;
    let base = format!("http://{addr}");
    let alice = Auth::Cookie(t.signed_in_user("alice@example.org", "alice").await);
    let bob = Auth::Cookie(t.signed_in_user("bob@example.org", "bob").await);
    let (token_a, bearer_a) = create_token(&t, &alice, "pipeline").await;
    let (_, bearer_b) = create_token(&t, &alice, "other program").await;

    // Registration: the token itself (or its owner's session) registers; the secret is shown
    // once and never again.
    let (ok_id, ok_secret) = register(&t, &bearer_a, &token_a, &format!("{base}/ok"), true).await;
    let (flaky_id, flaky_secret) =
        register(&t, &alice, &token_a, &format!("{base}/flaky"), false).await;
    let (fail_id, _) = register(&t, &bearer_a, &token_a, &format!("{base}/fail"), false).await;
    let (redirect_id, _) =
        register(&t, &bearer_a, &token_a, &format!("{base}/redirect"), false).await;
    let (hang_id, _) = register(&t, &bearer_a, &token_a, &format!("{base}/hang"), false).await;
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/tokens/{token_a}/webhooks"),
            &bearer_a,
            json!({ "url": format!("{base}/sixth") }),
        )
        .await;
    r.assert_problem(StatusCode::CONFLICT, "webhook.too_many");
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/tokens/{token_a}/webhooks"),
            &bearer_a,
            json!({ "url": "not a url" }),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "webhook.invalid_url");
    // A token manages only its own endpoints; another person sees none of them.
    t.get(&format!("/api/v1/tokens/{token_a}/webhooks"), &bearer_b)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.get(&format!("/api/v1/tokens/{token_a}/webhooks"), &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.get(
        &format!("/api/v1/tokens/{token_a}/webhooks/{ok_id}/deliveries"),
        &bob,
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let listed = t
        .get(&format!("/api/v1/tokens/{token_a}/webhooks"), &alice)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let listed_text = String::from_utf8_lossy(&listed.body).to_string();
    assert_eq!(listed.json().as_array().unwrap().len(), 5);
    assert!(!listed_text.contains(&ok_secret) && !listed_text.contains("whsec_"));
    assert_eq!(
        listed.json()[0]["events"],
        json!(["job.succeeded", "job.failed", "job.progress"])
    );

    // Jobs: one that succeeds (with a progress report) and one that fails, submitted with
    // token A; one submitted with token B, whose endpoints (none) alone would hear of it.
    let job_ok = submit(&t, &bearer_a).await;
    let job_other = submit(&t, &bearer_b).await;
    let job_failed = submit(&t, &bearer_a).await;
    let db = &t.state.db;
    let limits = RunLimits {
        per_user: 10,
        global: 10,
    };
    for _ in 0..3 {
        let claimed = db
            .claim_next_job("test-worker", 60_000, limits, now_ms())
            .await
            .unwrap()
            .unwrap();
        if claimed.job.id == job_failed {
            let error = JobError {
                code: "render.failed".into(),
                message: "the render failed".into(),
            };
            db.fail_job(&claimed.lease, &error, None, now_ms())
                .await
                .unwrap();
        } else {
            db.update_progress(&claimed.lease, "render", 0.5, now_ms())
                .await
                .unwrap();
            db.finish_job(&claimed.lease, &[], &json!({}), now_ms())
                .await
                .unwrap();
        }
    }

    // The events are in the outbox, pending, before any sender ran: written by the store
    // functions that ended the jobs.
    let pending = log_of(&t, &alice, &token_a, &ok_id).await;
    let kinds: Vec<&str> = pending
        .iter()
        .map(|d| d["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(pending.len(), 3, "{pending:?}");
    assert!(kinds.contains(&"job.progress") && kinds.contains(&"job.succeeded"));
    assert!(kinds.contains(&"job.failed"));
    assert!(pending.iter().all(|d| d["status"] == "pending"));
    assert!(pending
        .iter()
        .all(|d| d["job_id"] == job_ok.as_str() || d["job_id"] == job_failed.as_str()));
    // The flaky endpoint did not ask for progress.
    assert_eq!(log_of(&t, &alice, &token_a, &flaky_id).await.len(), 2);

    // A sender that claims and then dies: its claim lapses and the next one delivers.
    let crashed = db.claim_due_webhooks(100, 200, now_ms()).await.unwrap();
    assert_eq!(
        crashed.len(),
        2 + 3 + 2 * 3,
        "every due delivery was claimed"
    );
    let config = t.state.config.webhooks.clone();
    let mail = Arc::new(JobMail {
        mailer: Arc::clone(&t.state.mailer),
        branding: reelsmith_server::state::branding(&t.state.config),
    });
    let sender = WebhookSender::new(db.clone(), t.state.media.keys().clone(), config, mail);
    assert_eq!(sender.round().await.unwrap(), 0, "claimed rows wait");
    tokio::time::sleep(Duration::from_millis(250)).await;

    // Rounds until nothing is pending (bounded: three attempts each, 300 ms at most per try).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        sender.round().await.unwrap();
        let mut pending = 0;
        for id in [&ok_id, &flaky_id, &fail_id, &redirect_id, &hang_id] {
            pending += log_of(&t, &alice, &token_a, id)
                .await
                .iter()
                .filter(|d| d["status"] == "pending")
                .count();
        }
        if pending == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries still pending"
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
    }

    let received = received.lock().unwrap().clone();
    let at = |path: &str| -> Vec<Received> {
        received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    };

    // The good receiver got each event once, each verified by the reference library with its
    // endpoint's secret, about token A's jobs only.
    let ok = at("ok");
    assert_eq!(ok.len(), 3, "the redirect was not followed: {ok:?}");
    let verified = verify_with_reference_library(&ok_secret, &ok);
    let mut types: Vec<&str> = verified
        .iter()
        .map(|v| v["type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["job.failed", "job.progress", "job.succeeded"]);
    for v in &verified {
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_ne!(v["data"]["job_id"], job_other.as_str());
        match v["type"].as_str().unwrap() {
            "job.succeeded" => {
                assert_eq!(v["data"]["job_id"], job_ok.as_str());
                assert_eq!(v["data"]["status"], "succeeded");
            }
            "job.failed" => {
                assert_eq!(v["data"]["job_id"], job_failed.as_str());
                assert_eq!(v["data"]["error"]["code"], "render.failed");
            }
            _ => assert_eq!(v["data"]["progress"], 0.5),
        }
    }
    for r in &ok {
        assert!(r.headers["webhook-id"].starts_with("msg_"));
        assert_eq!(r.headers["content-type"], "application/json");
    }
    // Another endpoint's secret does not verify these.
    let forged = std::process::Command::new("python3")
        .args([
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fakes/webhooks/verify_standard_webhooks.py"
            ),
            &flaky_secret,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            let body = json!([{ "headers": ok[0].headers, "body": ok[0].body }]);
            c.stdin
                .take()
                .unwrap()
                .write_all(body.to_string().as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(!forged.success(), "a wrong secret must not verify");

    // The flaky receiver: 500 once, then delivered on the retry with the same message id.
    let flaky = at("flaky");
    assert_eq!(flaky.len(), 3, "two events, one retried: {flaky:?}");
    verify_with_reference_library(&flaky_secret, &flaky);
    let flaky_log = log_of(&t, &alice, &token_a, &flaky_id).await;
    assert!(flaky_log.iter().all(|d| d["status"] == "delivered"));
    assert_eq!(
        flaky_log
            .iter()
            .map(|d| d["attempts"].as_i64().unwrap())
            .sum::<i64>(),
        3
    );
    let retried_id = &flaky[0].headers["webhook-id"];
    assert_eq!(
        flaky
            .iter()
            .filter(|r| &r.headers["webhook-id"] == retried_id)
            .count(),
        2
    );

    // 500, a redirect and silence: three attempts each, then failed and the endpoint disabled.
    for (id, path, status, error) in [
        (&fail_id, "fail", Some(500), "answered 500"),
        (
            &redirect_id,
            "redirect",
            Some(307),
            "answered 307: redirects are not followed",
        ),
        (&hang_id, "hang", None, "no answer in time"),
    ] {
        let log = log_of(&t, &alice, &token_a, id).await;
        assert_eq!(log.len(), 2, "{path}: {log:?}");
        let first = log
            .iter()
            .find(|d| d["attempts"].as_i64() == Some(3))
            .unwrap_or_else(|| panic!("{path}: one delivery was tried three times: {log:?}"));
        assert_eq!(first["status"], "failed");
        assert_eq!(first["last_status"].as_i64(), status.map(i64::from));
        assert_eq!(first["last_error"], error);
        assert!(log.iter().all(|d| d["status"] == "failed"), "{log:?}");
        // Each event was tried at most three times (the second may be failed with the
        // endpoint before its third).
        let tries = at(path);
        for r in &tries {
            let id = &r.headers["webhook-id"];
            let n = tries
                .iter()
                .filter(|o| &o.headers["webhook-id"] == id)
                .count();
            assert!(n <= 3, "{path}: {id} tried {n} times");
        }
        assert!(
            (3..=6).contains(&tries.len()),
            "{path}: {} tries",
            tries.len()
        );
    }
    let listed = t
        .get(&format!("/api/v1/tokens/{token_a}/webhooks"), &alice)
        .await
        .json();
    for endpoint in listed.as_array().unwrap() {
        let id = endpoint["id"].as_str().unwrap();
        let disabled = [&fail_id, &redirect_id, &hang_id].contains(&&id.to_owned());
        assert_eq!(endpoint["disabled_at"].is_string(), disabled, "{endpoint}");
    }
    // The owner was told, once per disabled endpoint.
    let told: Vec<_> = reelsmith_mail::read::list_messages(&t.outbox)
        .unwrap()
        .iter()
        .map(|p| reelsmith_mail::read::parse_eml(p).unwrap())
        .filter(|m| m.subject.contains("webhook endpoint was disabled"))
        .collect();
    assert_eq!(told.len(), 3);
    assert!(told
        .iter()
        .all(|m| m.to.iter().any(|a| a.contains("alice@example.org"))));
    assert!(told.iter().any(|m| m.text_body.contains(&fail_id)));

    // Secrets never appear in the log; deleting an endpoint removes it and its log.
    for id in [&ok_id, &flaky_id] {
        let r = t
            .get(
                &format!("/api/v1/tokens/{token_a}/webhooks/{id}/deliveries"),
                &alice,
            )
            .await;
        assert!(!String::from_utf8_lossy(&r.body).contains("whsec_"));
    }
    let r = t
        .delete(&format!("/api/v1/tokens/{token_a}/webhooks/{ok_id}"), &bob)
        .await;
    r.assert_problem(StatusCode::NOT_FOUND, "not_found");
    let r = t
        .delete(
            &format!("/api/v1/tokens/{token_a}/webhooks/{ok_id}"),
            &bearer_a,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.get(
        &format!("/api/v1/tokens/{token_a}/webhooks/{ok_id}/deliveries"),
        &alice,
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

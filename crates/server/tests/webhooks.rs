//! Provider webhooks through the API with a real worker in the same process (issue #6): a job is
//! submitted over HTTP for fal or Replicate, the provider's fake takes it, and the worker polls
//! only once an hour. A webhook with a bad signature is refused with 401 and the job keeps
//! waiting; a correctly signed one is accepted and the job finishes within seconds.

#[allow(unused_macros, dead_code)]
mod backends;
mod common;
#[path = "../../store/tests/support/mod.rs"]
mod support;

#[path = "../../providers/tests/common/mod.rs"]
#[allow(unused_macros, unused_imports)]
mod fakes;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use base64::Engine;
use common::{app_with, Auth, TestApp};
use ed25519_dalek::{Signer, SigningKey};
use fakes::Fake;
use reelsmith_config::{Config, Secret};
use reelsmith_providers::webhook::{fal as fal_hook, kie as kie_hook, replicate as replicate_hook};
use reelsmith_store::{now_ms, JobStatus};
use reelsmith_worker::{ProviderSet, Worker, WorkerSettings};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const PUBLIC_URL: &str = "https://reelsmith.example";
const SCRIPT: &str = "A red fox runs through the fresh snow at dawn.";
const REPLICATE_SECRET: &str = "whsec_YS0zMi1ieXRlLXNpZ25pbmctc2VjcmV0LWZvci10c3Q=";
const KIE_HMAC_KEY: &str = "kie-webhook-hmac-key-for-tests";
const PATIENCE: Duration = Duration::from_secs(180);

struct Setup {
    app: TestApp,
    fake: Fake,
    auth: Auth,
    shutdown: CancellationToken,
    worker: tokio::task::JoinHandle<()>,
}

impl Setup {
    async fn start(provider: &'static str, fake_script: &str) -> Setup {
        let fake = Fake::start(fake_script);
        let base = fake.base();
        let app = app_with(|c: &mut Config| {
            c.server.public_url = Some(PUBLIC_URL.into());
            c.credits.signup_grant = 1000;
            // Polls are an hour apart: only a webhook can finish the job in time.
            c.providers.poll_seconds = 3600;
            let account = match provider {
                "fal" => &mut c.providers.fal,
                "kie" => &mut c.providers.kie,
                _ => &mut c.providers.replicate,
            };
            account.key = Some(Secret::new(fakes::KEY.to_owned()));
            account.base_url = Some(base.clone());
            if provider == "fal" {
                account.webhook_jwks_url = Some(format!("{base}/.well-known/jwks.json"));
            } else if provider == "kie" {
                account.webhook_secret = Some(Secret::new(KIE_HMAC_KEY.to_owned()));
            } else {
                account.webhook_secret = Some(Secret::new(REPLICATE_SECRET.to_owned()));
            }
        })
        .await;
        let cookie = app.signed_in_user("fox@example.org", "fox").await;
        let user = app
            .state
            .db
            .user_by_email("fox@example.org")
            .await
            .unwrap()
            .unwrap();
        app.state
            .db
            .grant_consent(&user.id, provider, "test", now_ms())
            .await
            .unwrap();
        let config = app.state.config.clone();
        let mut settings = WorkerSettings::from_config(&config);
        settings.poll_interval = Duration::from_millis(100);
        settings.heartbeat = Duration::from_millis(500);
        settings.engine.encode.preset = "ultrafast".into();
        let providers = ProviderSet::from_config(&config.providers, Some(PUBLIC_URL)).unwrap();
        let worker = Worker::with_settings(
            app.state.db.clone(),
            app.state.media.clone(),
            settings,
            "w1",
        )
        .with_providers(providers);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let worker = tokio::spawn(async move { worker.run(token).await.unwrap() });
        Setup {
            app,
            fake,
            auth: Auth::Cookie(cookie),
            shutdown,
            worker,
        }
    }

    async fn submit(&self, provider: &str, model: &str) -> String {
        let r = self
            .app
            .json(
                Method::POST,
                "/api/v1/jobs",
                &self.auth,
                json!({ "script": SCRIPT, "provider": provider, "model": model,
                        "resolution": "720p" }),
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

    /// The provider's request id, once the worker has submitted and logged it.
    async fn request_id(&self, job_id: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let job = self.app.state.db.job_by_id(job_id).await.unwrap().unwrap();
            let transfers = self
                .app
                .state
                .db
                .transfers_for_job(&job.owner_id, job_id)
                .await
                .unwrap();
            if let Some(id) = transfers.first().and_then(|t| t.request_id.clone()) {
                // The worker records the pending request right after; give it a moment.
                tokio::time::sleep(Duration::from_millis(500)).await;
                return id;
            }
            assert!(tokio::time::Instant::now() < deadline, "never submitted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn finish_at_the_fake(&self) {
        let r = reqwest::Client::new()
            .post(format!("{}/__fake/finish", self.fake.base()))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    async fn post_webhook(
        &self,
        provider: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> common::Reply {
        let mut req = self
            .app
            .request(
                Method::POST,
                &format!("/api/v1/webhooks/{provider}"),
                &Auth::None,
            )
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        self.app
            .send(req.body(Body::from(body.to_vec())).unwrap())
            .await
    }

    async fn status(&self, job_id: &str) -> JobStatus {
        self.app
            .state
            .db
            .job_by_id(job_id)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    async fn wait_for_success(&self, job_id: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let status = self.status(job_id).await;
            if status == JobStatus::Succeeded {
                return;
            }
            assert!(!status.is_terminal(), "the job ended as {status:?}");
            assert!(
                tokio::time::Instant::now() < deadline,
                "the webhook did not wake the job"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.worker.await.unwrap();
    }
}

fn timestamp() -> String {
    (now_ms() / 1000).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fal_webhook_with_a_bad_signature_is_refused_and_a_good_one_wakes_the_job() {
    let setup = Setup::start("fal", "fal_fake.py").await;
    // fal's key set, published by the fake where the configuration says.
    let key = SigningKey::from_bytes(&[7; 32]);
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    std::fs::write(
        setup.fake.dir.path().join("jwks.json"),
        json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": x }] }).to_string(),
    )
    .unwrap();

    let job_id = setup
        .submit("fal", "fal-ai/kling-video/v2.1/master/text-to-video")
        .await;
    let request_id = setup.request_id(&job_id).await;
    let submitted = setup.fake.last().await;
    assert_eq!(
        submitted["webhook"],
        json!(format!("{PUBLIC_URL}/api/v1/webhooks/fal")),
        "the submit asked fal to call us back"
    );
    setup.finish_at_the_fake().await;

    let body = json!({ "request_id": request_id, "status": "OK", "payload": {} }).to_string();
    let ts = timestamp();
    let message = fal_hook::signed_message(&request_id, "user-1", &ts, body.as_bytes());
    let good = hex::encode(key.sign(&message).to_bytes());
    let forged = hex::encode(SigningKey::from_bytes(&[9; 32]).sign(&message).to_bytes());
    let headers = |sig: &str| {
        vec![
            ("x-fal-webhook-request-id", request_id.clone()),
            ("x-fal-webhook-user-id", "user-1".to_owned()),
            ("x-fal-webhook-timestamp", ts.clone()),
            ("x-fal-webhook-signature", sig.to_owned()),
        ]
    };

    let r = setup
        .post_webhook("fal", &headers(&forged), body.as_bytes())
        .await;
    r.assert_problem(StatusCode::UNAUTHORIZED, "webhook.bad_signature");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        setup.status(&job_id).await,
        JobStatus::Running,
        "a forged webhook wakes nothing"
    );

    let r = setup
        .post_webhook("fal", &headers(&good), body.as_bytes())
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    setup.wait_for_success(&job_id).await;
    assert_eq!(setup.fake.stats().await["submissions"], json!(1));
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_webhook_with_a_bad_signature_is_refused_and_a_good_one_wakes_the_job() {
    let setup = Setup::start("replicate", "replicate_fake.py").await;
    let job_id = setup.submit("replicate", "google/veo-3.1").await;
    let request_id = setup.request_id(&job_id).await;
    let submitted = setup.fake.last().await.to_string();
    assert!(
        submitted.contains(&format!("{PUBLIC_URL}/api/v1/webhooks/replicate")),
        "the prediction names our webhook: {submitted}"
    );
    setup.finish_at_the_fake().await;

    let body = json!({ "id": request_id, "status": "succeeded" }).to_string();
    let ts = timestamp();
    let secret = reelsmith_providers::Secret::new(REPLICATE_SECRET);
    let good = replicate_hook::sign(&secret, "msg_1", &ts, body.as_bytes()).unwrap();
    let headers = |sig: String| {
        vec![
            ("webhook-id", "msg_1".to_owned()),
            ("webhook-timestamp", ts.clone()),
            ("webhook-signature", format!("v1,{sig}")),
        ]
    };

    let forged = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
    let r = setup
        .post_webhook("replicate", &headers(forged), body.as_bytes())
        .await;
    r.assert_problem(StatusCode::UNAUTHORIZED, "webhook.bad_signature");
    // A replayed body with another id than the one signed fails too.
    let other = json!({ "id": "someone-else", "status": "succeeded" }).to_string();
    let r = setup
        .post_webhook("replicate", &headers(good.clone()), other.as_bytes())
        .await;
    r.assert_problem(StatusCode::UNAUTHORIZED, "webhook.bad_signature");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(setup.status(&job_id).await, JobStatus::Running);

    let r = setup
        .post_webhook("replicate", &headers(good), body.as_bytes())
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    setup.wait_for_success(&job_id).await;
    assert_eq!(setup.fake.stats().await["submissions"], json!(1));
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kie_callback_with_a_forged_signature_is_refused_and_a_signed_one_wakes_the_job() {
    let setup = Setup::start("kie", "kie_fake.py").await;
    let job_id = setup.submit("kie", "veo3_fast").await;
    let task_id = setup.request_id(&job_id).await;
    assert_eq!(
        setup.fake.last().await["callBackUrl"],
        json!(format!("{PUBLIC_URL}/api/v1/webhooks/kie")),
        "the generate request asked KieAI to call us back"
    );
    setup.finish_at_the_fake().await;

    // A callback body as KieAI documents it; its claims are never read, only its task id.
    let body = json!({ "code": 200, "msg": "Veo3.1 video generated successfully.",
        "data": { "taskId": task_id, "info": { "resultUrls": ["https://evil.example/x.mp4"] } } })
    .to_string();
    let ts = timestamp();
    let key = reelsmith_providers::Secret::new(KIE_HMAC_KEY);
    let good = kie_hook::sign(&key, &task_id, &ts).unwrap();
    let forged =
        kie_hook::sign(&reelsmith_providers::Secret::new("guessed"), &task_id, &ts).unwrap();
    let headers = |sig: &str| {
        vec![
            ("x-webhook-timestamp", ts.clone()),
            ("x-webhook-signature", sig.to_owned()),
        ]
    };
    let r = setup
        .post_webhook("kie", &headers(&forged), body.as_bytes())
        .await;
    r.assert_problem(StatusCode::UNAUTHORIZED, "webhook.bad_signature");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        setup.status(&job_id).await,
        JobStatus::Running,
        "a forged callback wakes nothing"
    );

    let r = setup
        .post_webhook("kie", &headers(&good), body.as_bytes())
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    setup.wait_for_success(&job_id).await;
    let stats = setup.fake.stats().await;
    assert_eq!(stats["submissions"], json!(1));
    assert!(
        stats["downloads"].as_i64().unwrap() >= 1,
        "the result came from KieAI, not the body"
    );
    setup.stop().await;
}

#[tokio::test]
async fn webhooks_for_providers_this_server_lacks_are_not_found() {
    let app = common::app().await;
    for provider in ["fal", "replicate"] {
        let r = app
            .json(
                Method::POST,
                &format!("/api/v1/webhooks/{provider}"),
                &Auth::None,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{provider}");
    }
}

// ---- plan drift (issue 16): the stored plan, not the registry at run time, is what runs ----

const DRIFT_MODEL: &str = "fal-ai/kling-video/v2.1/master/text-to-video";
const DRIFT_GRANT: i64 = 1000;

fn drift_config(base: String) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.rate_limits.job_submission.count = 1000;
        c.credits.signup_grant = DRIFT_GRANT;
        c.providers.poll_seconds = 1;
        c.providers.fal.key = Some(Secret::new(fakes::KEY.to_owned()));
        c.providers.fal.base_url = Some(base);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_4_plan_drift_the_job_renders_and_is_charged_what_was_quoted_sqlite_local() {
    let fake = Fake::start("fal_fake.py");
    let app = app_with(drift_config(fake.base())).await;
    plan_drift(app, fake).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_4_plan_drift_the_job_renders_and_is_charged_what_was_quoted_postgres_s3() {
    let fake = Fake::start("fal_fake.py");
    let app = backends::postgres_s3_with(drift_config(fake.base())).await;
    plan_drift(app, fake).await;
}

/// A job is quoted and submitted; then the model registry changes the model's price and the
/// shot lengths it allows (as a new release would); only then does a worker, planning with
/// that same changed registry, run the job. It sends the quoted shots and charges the quote.
async fn plan_drift(app: TestApp, fake: Fake) {
    let auth = Auth::Cookie(app.signed_in_user("fox@example.org", "fox").await);
    let user = app
        .state
        .db
        .user_by_email("fox@example.org")
        .await
        .unwrap()
        .unwrap();
    app.state
        .db
        .grant_consent(&user.id, "fal", "test", now_ms())
        .await
        .unwrap();
    let spec = json!({ "script": SCRIPT, "provider": "fal", "model": DRIFT_MODEL,
                       "resolution": "720p" });
    let quote = app
        .json(Method::POST, "/api/v1/jobs/quote", &auth, spec.clone())
        .await
        .json();
    let quoted = quote["credits"].as_i64().unwrap();
    assert_eq!(quote["scenes"][0]["shots"], json!([5]), "{quote}");
    assert_eq!(quoted, 25, "one 5 s shot at 5 credits a second");
    let r = app
        .json(Method::POST, "/api/v1/jobs", &auth, spec.clone())
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let job_id = r.json()["id"].as_str().unwrap().to_owned();

    let before = reelsmith_providers::registry::lookup(Some("fal"), Some(DRIFT_MODEL))
        .unwrap()
        .clone();
    app.state
        .models
        .replace(reelsmith_providers::registry::ModelCaps {
            price: reelsmith_providers::registry::Price::PerSecond(50),
            durations: reelsmith_providers::registry::Durations::Fixed(std::borrow::Cow::Borrowed(
                &[10],
            )),
            ..before
        });
    let requote = app
        .json(Method::POST, "/api/v1/jobs/quote", &auth, spec)
        .await
        .json();
    assert_eq!(
        (
            requote["credits"].as_i64(),
            requote["scenes"][0]["shots"].clone()
        ),
        (Some(500), json!([10])),
        "the registry change is what planning sees now"
    );

    let config = app.state.config.clone();
    let mut settings = WorkerSettings::from_config(&config);
    settings.poll_interval = Duration::from_millis(100);
    settings.heartbeat = Duration::from_millis(500);
    settings.engine.encode.preset = "ultrafast".into();
    let providers = ProviderSet::from_config(&config.providers, None)
        .unwrap()
        .with_models(app.state.models.clone());
    let worker = Worker::with_settings(
        app.state.db.clone(),
        app.state.media.clone(),
        settings,
        "w1",
    )
    .with_providers(providers);
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let worker = tokio::spawn(async move { worker.run(token).await.unwrap() });
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let job = loop {
        let job = app.state.db.job_by_id(&job_id).await.unwrap().unwrap();
        if job.status.is_terminal() {
            break job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job never ended"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    shutdown.cancel();
    worker.await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);

    let bodies = fake.bodies().await;
    let durations: Vec<&Value> = bodies.iter().map(|b| &b["body"]["duration"]).collect();
    assert_eq!(
        durations,
        [&json!("5")],
        "the quoted shot, not the registry's new one"
    );
    let usage = job.usage.clone().unwrap();
    assert_eq!(usage["credits"], json!(quoted), "{usage}");
    assert_eq!(usage["shots"], json!(1));
    let view = app
        .get(&format!("/api/v1/jobs/{job_id}"), &auth)
        .await
        .json();
    assert_eq!(
        (
            view["cost"]["charged"].as_i64(),
            view["cost"]["reserved"].as_i64()
        ),
        (Some(quoted), Some(0)),
        "{view}"
    );
    assert_eq!(
        app.state.db.credit_balance(&user.id).await.unwrap(),
        DRIFT_GRANT - quoted
    );
}

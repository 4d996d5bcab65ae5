//! Presets and batches through the API (issue 25), on SQLite with a local media folder and on
//! PostgreSQL with S3 (`moto_server`). Jobs are priced by a real provider model (fal's Kling,
//! 25 credits for a one-scene script) so that reservations are real; nothing renders and no
//! provider is called, since no worker runs. Isolation is tested with a real second user.

#[allow(unused_macros, dead_code)]
mod backends;
mod common;
#[path = "../../store/tests/support/mod.rs"]
mod support;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use common::*;
use reelsmith_config::{parse_templates, Config, Secret};
use reelsmith_store::now_ms;
use serde_json::{json, Value};

const MODEL: &str = "fal-ai/kling-video/v2.1/master/text-to-video";
/// Two one-scene jobs (25 each) fit; three do not.
const GRANT: i64 = 60;
const SCRIPT: &str = "The harbour wakes up slowly.";

fn configure(c: &mut Config) {
    c.rate_limits.job_submission.count = 1000;
    c.credits.signup_grant = GRANT;
    // Configured, never called: no worker runs in these tests.
    c.providers.fal.key = Some(Secret::new("fal-test-key".to_owned()));
    c.providers.fal.base_url = Some("http://127.0.0.1:9".into());
    c.presets = parse_templates(
        "[[presets]]\nid = \"house\"\nname = \"House style\"\n\
         settings = { style = \"mono\", aspect = \"1:1\" }\n",
    )
    .unwrap();
}

macro_rules! on_both_configured {
    ($($case:ident),* $(,)?) => {
        mod sqlite_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::common::app_with($crate::configure).await).await;
                }
            )*
        }
        mod postgres_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::backends::postgres_s3_with($crate::configure).await).await;
                }
            )*
        }
    };
}

on_both_configured!(
    presets_crud_templates_and_isolation,
    a_job_quote_and_storyboard_start_from_a_preset_with_overrides,
    batches_quote_reserve_all_or_nothing_and_isolate,
    a_batch_refuses_too_many_or_one_bad_script_creating_nothing,
    p_bill_a_batch_with_an_idempotency_key_is_created_and_charged_once,
);

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn user(t: &TestApp, email: &str, name: &str) -> (Auth, String) {
    let auth = Auth::Cookie(t.signed_in_user(email, name).await);
    let id = t.state.db.user_by_email(email).await.unwrap().unwrap().id;
    (auth, id)
}

async fn consent_to_fal(t: &TestApp, user_id: &str) {
    t.state
        .db
        .grant_consent(user_id, "fal", "test", now_ms())
        .await
        .unwrap();
}

async fn post(t: &TestApp, uri: &str, auth: &Auth, body: Value) -> Reply {
    t.json(Method::POST, uri, auth, body).await
}

async fn balance(t: &TestApp, auth: &Auth) -> i64 {
    t.get("/api/v1/me/credits", auth).await.json()["balance"]
        .as_i64()
        .unwrap()
}

async fn job_count(t: &TestApp, auth: &Auth) -> usize {
    let r = t.get("/api/v1/jobs", auth).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    r.json().as_array().unwrap().len()
}

async fn batch_count(t: &TestApp, auth: &Auth) -> usize {
    let r = t.get("/api/v1/batches", auth).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    r.json().as_array().unwrap().len()
}

async fn post_once(t: &TestApp, auth: &Auth, key: &str, body: &Value) -> Reply {
    let req = t
        .request(Method::POST, "/api/v1/batches", auth)
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", key);
    t.send(req.body(Body::from(body.to_string())).unwrap())
        .await
}

async fn p_bill_a_batch_with_an_idempotency_key_is_created_and_charged_once(t: TestApp) {
    let (ada, ada_id) = user(&t, "ada@example.org", "ada").await;
    let (bob, _) = user(&t, "bob@example.org", "bob").await;
    consent_to_fal(&t, &ada_id).await;
    let two = json!({ "settings": { "provider": "fal", "model": MODEL, "resolution": "480p" },
        "scripts": [{ "script": SCRIPT }, { "script": "The boats leave the quay." }] });

    let r = post_once(&t, &ada, "batch-1", &two).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let first = r.json();
    assert_eq!(balance(&t, &ada).await, GRANT - 50);

    // The retry (an answer lost on the way): the same batch, 200, nothing queued or held again,
    // though the balance left (10) could not pay for it a second time.
    let r = post_once(&t, &ada, "batch-1", &two).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(r.json()["id"], first["id"]);
    assert_eq!(r.json()["jobs"], first["jobs"]);
    assert_eq!(balance(&t, &ada).await, GRANT - 50);
    assert_eq!(job_count(&t, &ada).await, 2);
    assert_eq!(batch_count(&t, &ada).await, 1);

    // The key with another body is refused; a key that is not one is refused too.
    let mut other = two.clone();
    other["scripts"].as_array_mut().unwrap().pop();
    post_once(&t, &ada, "batch-1", &other)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency.mismatch");
    post_once(&t, &ada, &"k".repeat(201), &two)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "job.invalid_idempotency_key");
    assert_eq!(job_count(&t, &ada).await, 2);
    assert_eq!(balance(&t, &ada).await, GRANT - 50);

    // Keys are each owner's: Bob, a real second user, makes his own batch with Ada's key.
    let free = json!({ "preset": "template:house", "scripts": [{ "script": SCRIPT }] });
    let r = post_once(&t, &bob, "batch-1", &free).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    assert_ne!(r.json()["id"], first["id"]);

    // Two identical requests at once: one batch, both answers name it.
    let (a, b) = tokio::join!(
        post_once(&t, &bob, "batch-2", &free),
        post_once(&t, &bob, "batch-2", &free)
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CREATED],
        "{} {}",
        text(&a),
        text(&b)
    );
    assert_eq!(a.json()["id"], b.json()["id"]);
    assert_eq!(job_count(&t, &bob).await, 2);
    assert_eq!(batch_count(&t, &bob).await, 2);
}

async fn presets_crud_templates_and_isolation(t: TestApp) {
    let (ada, _) = user(&t, "ada@example.org", "ada").await;
    let (bob, bob_id) = user(&t, "bob@example.org", "bob").await;

    let settings = json!({ "aspect": "9:16", "style": "warm",
        "caption_style": { "size": 140, "position": "middle" } });
    let r = post(
        &t,
        "/api/v1/presets",
        &ada,
        json!({ "name": " Reels ", "settings": settings }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let made = r.json();
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["name"], "Reels");
    assert_eq!(made["settings"], settings);
    assert_eq!(made["read_only"], false);

    // Listed with the shipped templates and the operator's own, which are read-only.
    let list = t.get("/api/v1/presets", &ada).await.json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], id);
    for template in [
        "template:shorts-bold",
        "template:documentary",
        "template:house",
    ] {
        assert!(ids.contains(&template), "{ids:?}");
    }
    let house = t.get("/api/v1/presets/template:house", &ada).await.json();
    assert_eq!(
        house["settings"],
        json!({ "style": "mono", "aspect": "1:1" })
    );
    assert_eq!(house["read_only"], true);
    let r = t
        .json(
            Method::PUT,
            "/api/v1/presets/template:house",
            &ada,
            json!({ "name": "Mine", "settings": {} }),
        )
        .await;
    r.assert_problem(StatusCode::CONFLICT, "preset.read_only");
    t.delete("/api/v1/presets/template:documentary", &ada)
        .await
        .assert_problem(StatusCode::CONFLICT, "preset.read_only");

    // Settings are checked as a job's are; nothing is stored when refused.
    for (body, status, code) in [
        (
            json!({ "name": "S", "settings": { "script": "Hello." } }),
            422,
            "preset.invalid_settings",
        ),
        (
            json!({ "name": "S", "settings": { "media": [] } }),
            422,
            "preset.invalid_settings",
        ),
        (
            json!({ "name": "S", "settings": [1] }),
            422,
            "preset.invalid_settings",
        ),
        (
            json!({ "name": "S", "settings": { "aspect": "21:9" } }),
            422,
            "spec.invalid",
        ),
        (
            json!({ "name": "S", "settings": { "music_level": 12 } }),
            422,
            "spec.invalid_music_level",
        ),
        (
            json!({ "name": "S", "settings": { "caption_style": { "font": "No Such Font 9" } } }),
            422,
            "captions.font_missing",
        ),
        (
            json!({ "name": "S", "settings": { "provider": "fal", "model": "no/such-model" } }),
            422,
            "provider.unknown_model",
        ),
        (
            json!({ "name": "  ", "settings": {} }),
            422,
            "preset.invalid_name",
        ),
        (
            json!({ "name": "S", "settings": {}, "colour": "red" }),
            422,
            "request.invalid_fields",
        ),
    ] {
        let r = post(&t, "/api/v1/presets", &ada, body.clone()).await;
        r.assert_problem(StatusCode::from_u16(status).unwrap(), code);
    }
    let list = t.get("/api/v1/presets", &ada).await.json();
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .filter(|p| p["read_only"] == false)
            .count(),
        1
    );

    let path = format!("/api/v1/presets/{id}");
    let r = t
        .json(
            Method::PUT,
            &path,
            &ada,
            json!({ "name": "Reels 2", "settings": { "aspect": "1:1" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(r.json()["settings"], json!({ "aspect": "1:1" }));
    assert_eq!(t.get(&path, &ada).await.json()["name"], "Reels 2");

    // Bob, a real second user, sees none of it and can change none of it.
    t.get(&path, &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.json(
        Method::PUT,
        &path,
        &bob,
        json!({ "name": "Mine", "settings": {} }),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.delete(&path, &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let bobs = t.get("/api/v1/presets", &bob).await.json();
    assert!(
        bobs.as_array()
            .unwrap()
            .iter()
            .all(|p| p["read_only"] == true),
        "{bobs}"
    );
    post(
        &t,
        "/api/v1/jobs",
        &bob,
        json!({ "script": SCRIPT, "preset": id }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "preset.unknown");
    assert_eq!(t.get(&path, &ada).await.json()["name"], "Reels 2");

    // Deleted by its owner; and an account's presets go with the account.
    let r = t.delete(&path, &ada).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", text(&r));
    t.get(&path, &ada)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let r = post(
        &t,
        "/api/v1/presets",
        &bob,
        json!({ "name": "Bob's", "settings": { "style": "cool" } }),
    )
    .await;
    let bobs_id = r.json()["id"].as_str().unwrap().to_owned();
    assert!(t.state.db.purge_user(&bob_id).await.unwrap());
    assert!(t
        .state
        .db
        .preset_for_owner(&bob_id, &bobs_id)
        .await
        .unwrap()
        .is_none());
    assert!(t.state.db.presets_of(&bob_id).await.unwrap().is_empty());
}

async fn a_job_quote_and_storyboard_start_from_a_preset_with_overrides(t: TestApp) {
    let (ada, ada_id) = user(&t, "ada@example.org", "ada").await;
    consent_to_fal(&t, &ada_id).await;
    let r = post(
        &t,
        "/api/v1/presets",
        &ada,
        json!({ "name": "Kling vertical", "settings": {
        "provider": "fal", "model": MODEL, "aspect": "9:16", "resolution": "480p", "style": "warm",
        "caption_style": { "size": 140, "position": "middle" } } }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let id = r.json()["id"].as_str().unwrap().to_owned();

    // The quote prices the preset's model; the request's own fields win, objects merge.
    let body = json!({ "script": SCRIPT, "preset": id, "style": "mono",
        "caption_style": { "size": 90 } });
    let q = post(&t, "/api/v1/jobs/quote", &ada, body.clone()).await;
    assert_eq!(q.status, StatusCode::OK, "{}", text(&q));
    assert_eq!(q.json()["provider"], "fal");
    assert_eq!(q.json()["credits"], 25);

    let r = post(&t, "/api/v1/jobs", &ada, body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let params = &r.json()["params"];
    assert_eq!(params["aspect"], "9:16");
    assert_eq!(params["model"], MODEL);
    assert_eq!(params["style"], "mono");
    assert_eq!(
        params["caption_style"],
        json!({ "size": 90, "position": "middle" })
    );
    assert!(params.get("preset").is_none(), "{params}");
    assert_eq!(balance(&t, &ada).await, GRANT - 25);

    // A template, through a storyboard draft (nothing reserved).
    let r = post(
        &t,
        "/api/v1/storyboards",
        &ada,
        json!({ "script": SCRIPT, "preset": "template:documentary", "resolution": "480p" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let draft = r.json();
    let draft_params = &draft["params"];
    assert_eq!(draft_params["aspect"], "16:9", "{draft}");
    assert_eq!(draft_params["style"], "cinematic");
    assert_eq!(draft_params["resolution"], "480p");
    assert_eq!(balance(&t, &ada).await, GRANT - 25);

    post(
        &t,
        "/api/v1/jobs",
        &ada,
        json!({ "script": SCRIPT, "preset": "template:nope" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "preset.unknown");
    post(
        &t,
        "/api/v1/jobs",
        &ada,
        json!({ "script": SCRIPT, "preset": 7 }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "preset.unknown");
    assert_eq!(job_count(&t, &ada).await, 1);
}

async fn batches_quote_reserve_all_or_nothing_and_isolate(t: TestApp) {
    let (ada, ada_id) = user(&t, "ada@example.org", "ada").await;
    let (bob, _) = user(&t, "bob@example.org", "bob").await;
    consent_to_fal(&t, &ada_id).await;
    let r = post(
        &t,
        "/api/v1/presets",
        &ada,
        json!({ "name": "Kling", "settings": {
        "provider": "fal", "model": MODEL, "resolution": "480p" } }),
    )
    .await;
    let preset = r.json()["id"].as_str().unwrap().to_owned();
    let three = json!({ "preset": preset, "settings": { "aspect": "9:16" }, "scripts": [
        { "title": "One", "script": SCRIPT },
        { "script": "The boats leave the quay." },
        { "title": "Three", "script": "Gulls circle over the nets." },
    ] });

    // Quoted as a whole: three jobs at 25, more than the balance.
    let q = post(&t, "/api/v1/batches/quote", &ada, three.clone()).await;
    assert_eq!(q.status, StatusCode::OK, "{}", text(&q));
    let q = q.json();
    assert_eq!(q["credits"], 75, "{q}");
    assert_eq!(q["jobs"].as_array().unwrap().len(), 3);
    assert!(q["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["credits"] == 25));
    assert_eq!(
        (q["balance"].as_i64(), q["affordable"].as_bool()),
        (Some(GRANT), Some(false))
    );
    assert_eq!(q["consent_missing"], false);

    // All or nothing: no job, no hold, no batch.
    let r = post(&t, "/api/v1/batches", &ada, three.clone()).await;
    r.assert_problem(StatusCode::PAYMENT_REQUIRED, "credits.insufficient");
    assert_eq!(job_count(&t, &ada).await, 0);
    assert_eq!(balance(&t, &ada).await, GRANT);
    assert_eq!(t.get("/api/v1/batches", &ada).await.json(), json!([]));

    // Two fit: both queued, each reserved exactly as a single job (25), in order, titled.
    let mut two = three.clone();
    two["scripts"].as_array_mut().unwrap().pop();
    let r = post(&t, "/api/v1/batches", &ada, two).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let batch = r.json();
    let batch_id = batch["id"].as_str().unwrap().to_owned();
    assert_eq!(batch["credits"], 50);
    assert_eq!(batch["preset"], preset.as_str());
    assert_eq!(batch["counts"], json!({ "queued": 2 }));
    let jobs = batch["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["title"], "One");
    assert_eq!(jobs[0]["params"]["script"], SCRIPT);
    assert_eq!(jobs[1]["params"]["script"], "The boats leave the quay.");
    for job in jobs {
        assert_eq!(job["params"]["aspect"], "9:16");
        assert_eq!(job["params"]["model"], MODEL);
        let one = t
            .get(
                &format!("/api/v1/jobs/{}", job["id"].as_str().unwrap()),
                &ada,
            )
            .await
            .json();
        assert_eq!(one["cost"]["reserved"], 25, "{one}");
    }
    assert_eq!(balance(&t, &ada).await, GRANT - 50);
    assert_eq!(job_count(&t, &ada).await, 2);

    // Progress: the jobs' own states, read back.
    let first = jobs[0]["id"].as_str().unwrap().to_owned();
    let r = post(&t, &format!("/api/v1/jobs/{first}/cancel"), &ada, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let path = format!("/api/v1/batches/{batch_id}");
    let read = t.get(&path, &ada).await;
    assert_eq!(read.status, StatusCode::OK, "{}", text(&read));
    assert_eq!(
        read.json()["counts"],
        json!({ "cancelled": 1, "queued": 1 })
    );
    let list = t.get("/api/v1/batches", &ada).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], batch_id.as_str());

    // Bob, a real second user: Ada's batch is not found, his list is empty, her preset unknown.
    t.get(&path, &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(t.get("/api/v1/batches", &bob).await.json(), json!([]));
    post(
        &t,
        "/api/v1/batches/quote",
        &bob,
        json!({ "preset": preset, "scripts": [{ "script": SCRIPT }] }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "preset.unknown");
    // A studio batch from a template costs nothing and needs no consent.
    let r = post(
        &t,
        "/api/v1/batches",
        &bob,
        json!({ "preset": "template:house", "scripts": [{ "script": SCRIPT }] }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    assert_eq!(r.json()["jobs"][0]["params"]["style"], "mono");
    assert_eq!(r.json()["credits"], 0);
}

async fn a_batch_refuses_too_many_or_one_bad_script_creating_nothing(t: TestApp) {
    let (ada, _) = user(&t, "ada@example.org", "ada").await;
    let scripts: Vec<Value> = (0..10_000)
        .map(|_| json!({ "script": "Hi there." }))
        .collect();
    let huge = json!({ "scripts": scripts });
    for uri in ["/api/v1/batches/quote", "/api/v1/batches"] {
        post(&t, uri, &ada, huge.clone())
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "batch.too_many_scripts");
    }
    post(&t, "/api/v1/batches", &ada, json!({ "scripts": [] }))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "batch.empty");
    post(
        &t,
        "/api/v1/batches",
        &ada,
        json!({ "settings": { "script": "x" }, "scripts": [{ "script": SCRIPT }] }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "batch.invalid_settings");

    // Script 2 has nothing to speak: the batch is refused naming it, nothing is created.
    let bad = json!({ "scripts": [
        { "script": SCRIPT }, { "script": "Fine too." }, { "script": "   " }, { "script": "Last." },
    ] });
    for uri in ["/api/v1/batches/quote", "/api/v1/batches"] {
        let r = post(&t, uri, &ada, bad.clone()).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "batch.invalid_script");
        assert_eq!(r.json()["index"], 2, "{}", text(&r));
        assert_eq!(r.json()["cause"], "script.empty", "{}", text(&r));
    }
    let r = post(
        &t,
        "/api/v1/batches",
        &ada,
        json!({ "scripts": [{ "script": SCRIPT }, { "script": SCRIPT, "title": "a\u{0007}b" }] }),
    )
    .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "job.title_invalid");
    assert_eq!(job_count(&t, &ada).await, 0);
    assert_eq!(t.get("/api/v1/batches", &ada).await.json(), json!([]));

    // The body is bounded (`[batches] max_request_kib`, 4 MiB by default).
    let big = format!(
        r#"{{"scripts":[{{"script":"{}"}}]}}"#,
        "a ".repeat(2_200_000)
    );
    let request = t
        .request(Method::POST, "/api/v1/batches", &ada)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big))
        .unwrap();
    t.send(request)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "request.too_large");
    assert_eq!(job_count(&t, &ada).await, 0);
}

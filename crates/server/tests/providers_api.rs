//! AI providers, consent, credits, the quote and the transfer log through the API (issue #6,
//! P-TP-2, P-TP-4, P-TP-5, P-BILL-1, P-BILL-4), in-process.

mod common;

#[path = "../../providers/tests/common/mod.rs"]
#[allow(unused_macros, unused_imports)]
mod fakes;

use axum::http::{Method, StatusCode};
use common::*;
use reelsmith_config::{Config, Secret};
use reelsmith_providers::registry::{lookup, MODELS};
use reelsmith_store::{now_ms, NewTransfer};
use serde_json::{json, Value};

const FAL_KEY: &str = "fal-key-SECRET-7d1c";
const KLING_T2V: &str = "fal-ai/kling-video/v2.1/master/text-to-video";
/// Two scenes: about 2 s of narration (one 5 s shot) and about 7 s (one 10 s shot).
const TWO_SCENES: &str = "A short first scene here.\n\nThe second paragraph is a much longer \
    one, with many words that take the narrator well over five seconds to say out loud.";

fn with_fal(config: &mut Config) {
    config.providers.fal.key = Some(Secret::new(FAL_KEY.to_owned()));
}

fn fal_spec(script: &str) -> Value {
    json!({ "script": script, "provider": "fal", "model": KLING_T2V })
}

async fn balance(t: &TestApp, user: &Auth) -> i64 {
    let r = t.get("/api/v1/me/credits", user).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["balance"].as_i64().unwrap()
}

async fn ledger(t: &TestApp, user: &Auth) -> Vec<Value> {
    t.get("/api/v1/me/credits?limit=100", user).await.json()["ledger"]
        .as_array()
        .unwrap()
        .clone()
}

async fn grant(t: &TestApp, user: &Auth, provider: &str) -> Reply {
    t.send(
        t.request(
            Method::PUT,
            &format!("/api/v1/me/consents/{provider}"),
            user,
        )
        .body(axum::body::Body::empty())
        .unwrap(),
    )
    .await
}

#[tokio::test]
async fn issue_6_providers_lists_every_registry_model_with_what_it_allows_and_costs() {
    let t = app_with(with_fal).await;
    // Anonymous callers see the catalogue, without any consent state.
    let r = t.get("/api/v1/providers", &Auth::None).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    let providers = body["providers"].as_array().unwrap();
    assert_eq!(providers[0]["provider"], "studio", "studio first");
    assert_eq!(providers[0]["enabled"], true);
    assert_eq!(providers[0]["consent_required"], false);
    let count: usize = providers
        .iter()
        .map(|p| p["models"].as_array().unwrap().len())
        .sum();
    assert_eq!(count, MODELS.len(), "every registry model is listed");
    let by_name = |name: &str| providers.iter().find(|p| p["provider"] == name).unwrap();
    assert_eq!(by_name("fal")["enabled"], true);
    assert_eq!(by_name("replicate")["enabled"], false);
    assert!(by_name("fal").get("consent").is_none());
    let kling = by_name("fal")["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == KLING_T2V)
        .unwrap()
        .clone();
    assert_eq!(kling["kinds"], json!(["text-to-video"]));
    assert_eq!(
        kling["durations"],
        json!({ "kind": "fixed", "seconds": [5, 10] })
    );
    assert_eq!(kling["aspects"], json!(["16:9", "9:16", "1:1"]));
    assert_eq!(kling["negative_prompt"], true);
    assert_eq!(kling["max_prompt_chars"], 2500);
    assert_eq!(kling["price"], json!({ "per": "second", "credits": 5 }));
    assert_eq!(kling["sends"], json!(["prompt", "negative_prompt"]));
    let comfy = &by_name("comfyui")["models"][0];
    assert_eq!(
        comfy["durations"],
        json!({ "kind": "range", "min": 1, "max": 10 })
    );
    let flux = by_name("fal")["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "fal-ai/flux/schnell")
        .unwrap()
        .clone();
    assert_eq!(flux["price"], json!({ "per": "image", "credits": 1 }));
    assert_eq!(flux["durations"], json!({ "kind": "still" }));
    assert_eq!(by_name("studio")["models"][0]["sends"], json!([]));

    // A signed-in caller sees their consent per third-party provider.
    let user = Auth::Cookie(t.signed_in_user("p@example.org", "pat").await);
    let body = t.get("/api/v1/providers", &user).await.json();
    let fal = body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "fal")
        .unwrap()
        .clone();
    assert_eq!(fal["consent"]["state"], "none");
    assert!(
        body["providers"][0].get("consent").is_none(),
        "studio needs none"
    );
    assert_eq!(grant(&t, &user, "fal").await.status, StatusCode::OK);
    let body = t.get("/api/v1/providers", &user).await.json();
    let fal = body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "fal")
        .unwrap()
        .clone();
    assert_eq!(fal["consent"]["state"], "granted");
    assert_eq!(
        fal["consent"]["policy_version"],
        t.state.config.privacy.policy_version.as_str()
    );
}

#[tokio::test]
async fn p_tp_2_consent_grant_and_withdrawal_are_recorded_with_the_policy_version() {
    let t = app_with(|c| {
        with_fal(c);
        c.privacy.policy_version = "2026-11-22.test".into();
    })
    .await;
    let user = Auth::Cookie(t.signed_in_user("c@example.org", "cora").await);

    let list = t.get("/api/v1/me/consents", &user).await.json();
    assert_eq!(list["policy_version"], "2026-11-22.test");
    assert_eq!(
        list["providers"],
        json!([{ "provider": "fal", "label": "fal.ai", "state": "none", "policy_version": null,
                 "granted_at": null, "withdrawn_at": null }]),
        "only configured providers are listed"
    );
    assert_eq!(list["history"], json!([]));

    // Without consent a fal job is refused and nothing is queued or reserved; the quote says so.
    let before = balance(&t, &user).await;
    t.json(Method::POST, "/api/v1/jobs", &user, fal_spec(TWO_SCENES))
        .await
        .assert_problem(StatusCode::CONFLICT, "consent.required");
    let q = t
        .json(
            Method::POST,
            "/api/v1/jobs/quote",
            &user,
            fal_spec(TWO_SCENES),
        )
        .await;
    assert_eq!(
        q.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&q.body)
    );
    assert_eq!(q.json()["consent_missing"], true);
    assert_eq!(balance(&t, &user).await, before);

    // Unknown and unconfigured providers cannot be consented to.
    grant(&t, &user, "nope")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    grant(&t, &user, "replicate")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    grant(&t, &user, "studio")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    let r = grant(&t, &user, "fal").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["state"], "granted");
    assert_eq!(r.json()["policy_version"], "2026-11-22.test");
    let q = t
        .json(
            Method::POST,
            "/api/v1/jobs/quote",
            &user,
            fal_spec(TWO_SCENES),
        )
        .await;
    assert_eq!(q.json()["consent_missing"], false);
    let r = t
        .json(Method::POST, "/api/v1/jobs", &user, fal_spec(TWO_SCENES))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );

    let r = t.delete("/api/v1/me/consents/fal", &user).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["state"], "withdrawn");
    assert!(r.json()["withdrawn_at"].as_str().is_some());
    // Withdrawing again changes nothing and is not an error.
    assert_eq!(
        t.delete("/api/v1/me/consents/fal", &user).await.json()["state"],
        "withdrawn"
    );
    t.delete("/api/v1/me/consents/nope", &user)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.json(Method::POST, "/api/v1/jobs", &user, fal_spec(TWO_SCENES))
        .await
        .assert_problem(StatusCode::CONFLICT, "consent.required");

    // Given again: the history keeps both grants, newest first, each with its version.
    assert_eq!(grant(&t, &user, "fal").await.status, StatusCode::OK);
    let list = t.get("/api/v1/me/consents", &user).await.json();
    let history = list["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert!(history[0]["withdrawn_at"].is_null());
    assert!(history[1]["withdrawn_at"].as_str().is_some());
    assert!(history
        .iter()
        .all(|h| h["provider"] == "fal" && h["policy_version"] == "2026-11-22.test"));
    assert_eq!(list["providers"][0]["state"], "granted");

    let kinds = t.audit_kinds("c@example.org").await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "consent.granted").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "consent.withdrawn").count(),
        1,
        "{kinds:?}"
    );

    // Anonymous callers have no consents.
    t.get("/api/v1/me/consents", &Auth::None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
}

#[tokio::test]
async fn p_bill_4_quote_equals_registry_price_and_is_reserved_at_submission() {
    let t = app_with(with_fal).await;
    let user = Auth::Cookie(t.signed_in_user("q@example.org", "quinn").await);
    assert_eq!(grant(&t, &user, "fal").await.status, StatusCode::OK);
    let start = balance(&t, &user).await;
    assert_eq!(start, t.state.config.credits.signup_grant);

    let r = t
        .json(
            Method::POST,
            "/api/v1/jobs/quote",
            &user,
            fal_spec(TWO_SCENES),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let q = r.json();
    let caps = lookup(Some("fal"), Some(KLING_T2V)).unwrap();
    let scenes = q["scenes"].as_array().unwrap();
    assert_eq!(scenes.len(), 2);
    let shots: Vec<u32> = scenes
        .iter()
        .flat_map(|s| s["shots"].as_array().unwrap().clone())
        .map(|d| d.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(shots, vec![5, 10]);
    assert!(shots.iter().all(|&d| caps.allows_duration(d)));
    let expected: u64 = shots.iter().map(|&d| caps.credits(d)).sum();
    assert_eq!(q["credits"].as_u64().unwrap(), expected);
    assert_eq!(expected, 75);
    assert_eq!(q["provider"], "fal");
    assert_eq!(q["model"], KLING_T2V);
    assert_eq!(scenes[0]["kind"], "text-to-video");
    assert_eq!(scenes[0]["prompt"], "A short first scene here.");
    assert_eq!(q["balance"], start);
    assert_eq!(q["affordable"], true);
    assert_eq!(q["consent_missing"], false);
    assert_eq!(balance(&t, &user).await, start, "a quote reserves nothing");

    // The studio engine is free.
    let free = t
        .json(
            Method::POST,
            "/api/v1/jobs/quote",
            &user,
            json!({ "script": TWO_SCENES }),
        )
        .await
        .json();
    assert_eq!(free["provider"], "studio");
    assert_eq!(free["credits"], 0);
    assert_eq!(free["scenes"], json!([]));

    // The quote refuses what submission refuses.
    t.json(
        Method::POST,
        "/api/v1/jobs/quote",
        &user,
        json!({ "script": "Hi.", "provider": "replicate", "model": "google/veo-3.1" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "provider.not_configured");
    t.json(
        Method::POST,
        "/api/v1/jobs/quote",
        &user,
        json!({ "script": "Hi.", "provider": "fal", "model": "nope" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "provider.unknown_model");
    t.json(
        Method::POST,
        "/api/v1/jobs/quote",
        &user,
        json!({ "script": " " }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "script.empty");
    t.json(
        Method::POST,
        "/api/v1/jobs/quote",
        &Auth::None,
        fal_spec(TWO_SCENES),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");

    // Submitting reserves exactly the quote: the balance drops by it and the ledger shows it.
    let r = t
        .json(Method::POST, "/api/v1/jobs", &user, fal_spec(TWO_SCENES))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let job_id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(balance(&t, &user).await, start - 75);
    let entries = ledger(&t, &user).await;
    assert_eq!(entries[0]["kind"], "spend");
    assert_eq!(entries[0]["amount"], -75);
    assert_eq!(entries[0]["job_id"], job_id.as_str());
    assert_eq!(entries[0]["revision"], 1);
    assert_eq!(entries[1]["kind"], "grant");
    let job = t.get(&format!("/api/v1/jobs/{job_id}"), &user).await.json();
    assert_eq!(
        job["cost"],
        json!({ "reserved": 75, "charged": 0, "refunded": 0,
                "revisions": [{ "revision": 1, "amount": 75, "state": "held" }] })
    );

    // Cancelled before it ran: the hold is released and the credits come back.
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{job_id}/cancel"),
            &user,
            json!({}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(balance(&t, &user).await, start);
    let job = t.get(&format!("/api/v1/jobs/{job_id}"), &user).await.json();
    assert_eq!(job["cost"]["refunded"], 75);
    assert_eq!(job["cost"]["reserved"], 0);
    assert_eq!(ledger(&t, &user).await[0]["kind"], "refund");
}

#[tokio::test]
async fn p_bill_1_balance_is_the_ledger_sum_and_never_negative() {
    let t = app_with(|c| {
        with_fal(c);
        c.credits.signup_grant = 50;
    })
    .await;
    let user = Auth::Cookie(t.signed_in_user("b@example.org", "bea").await);
    assert_eq!(grant(&t, &user, "fal").await.status, StatusCode::OK);
    assert_eq!(balance(&t, &user).await, 50);
    let entries = ledger(&t, &user).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["kind"], "grant");
    assert_eq!(entries[0]["amount"], 50);

    // 75 credits against a balance of 50: quoted as unaffordable, refused with 402 at
    // submission, and nothing is queued or charged.
    let q = t
        .json(
            Method::POST,
            "/api/v1/jobs/quote",
            &user,
            fal_spec(TWO_SCENES),
        )
        .await
        .json();
    assert_eq!(q["credits"], 75);
    assert_eq!(q["affordable"], false);
    t.json(Method::POST, "/api/v1/jobs", &user, fal_spec(TWO_SCENES))
        .await
        .assert_problem(StatusCode::PAYMENT_REQUIRED, "credits.insufficient");
    assert_eq!(t.get("/api/v1/jobs", &user).await.json(), json!([]));
    assert_eq!(balance(&t, &user).await, 50);
    assert_eq!(ledger(&t, &user).await.len(), 1);

    // A job within the balance goes through; the balance is the sum of the ledger throughout.
    let r = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &user,
            fal_spec("A short first scene here."),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let entries = ledger(&t, &user).await;
    let sum: i64 = entries.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
    assert_eq!(balance(&t, &user).await, sum);
    assert_eq!(sum, 25);
    for _ in 0..3 {
        let r = t
            .json(
                Method::POST,
                "/api/v1/jobs",
                &user,
                fal_spec("A short first scene here."),
            )
            .await;
        if r.status != StatusCode::CREATED {
            r.assert_problem(StatusCode::PAYMENT_REQUIRED, "credits.insufficient");
        }
        assert!(balance(&t, &user).await >= 0, "never negative");
    }
    assert_eq!(balance(&t, &user).await, 0);

    // Pages of the ledger follow `before`.
    let first = t.get("/api/v1/me/credits?limit=1", &user).await.json();
    assert_eq!(first["ledger"].as_array().unwrap().len(), 1);
    let last_id = first["ledger"][0]["id"].as_str().unwrap();
    let next = t
        .get(
            &format!("/api/v1/me/credits?limit=100&before={last_id}"),
            &user,
        )
        .await
        .json();
    assert_eq!(next["ledger"].as_array().unwrap().len(), 2);
    assert_eq!(
        next["balance"], 0,
        "the balance is the whole ledger's, not the page's"
    );
    t.get("/api/v1/me/credits", &Auth::None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
}

#[tokio::test]
async fn p_tp_4_the_job_transfer_log_is_shown_to_its_owner_only() {
    let t = app_with(with_fal).await;
    let alice = Auth::Cookie(t.signed_in_user("a@example.org", "alice").await);
    let bob = Auth::Cookie(t.signed_in_user("b@example.org", "bob").await);
    assert_eq!(grant(&t, &alice, "fal").await.status, StatusCode::OK);
    let r = t
        .json(Method::POST, "/api/v1/jobs", &alice, fal_spec(TWO_SCENES))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let job_id = r.json()["id"].as_str().unwrap().to_owned();
    let uri = format!("/api/v1/jobs/{job_id}/transfers");
    assert_eq!(t.get(&uri, &alice).await.json(), json!([]));

    // What the worker logs around a provider call.
    let owner = t
        .state
        .db
        .user_by_email("a@example.org")
        .await
        .unwrap()
        .unwrap();
    let id = t
        .state
        .db
        .log_transfer(
            &NewTransfer {
                job_id: job_id.clone(),
                revision: 1,
                user_id: owner.id.clone(),
                provider: "fal".into(),
                model: KLING_T2V.into(),
                purpose: "shot".into(),
                sent: json!({ "kind": "text-to-video", "scene": 0, "prompt_chars": 25 }),
            },
            now_ms(),
        )
        .await
        .unwrap();
    t.state
        .db
        .transfer_accepted(&id, "req-123", now_ms())
        .await
        .unwrap();

    let log = t.get(&uri, &alice).await.json();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["provider"], "fal");
    assert_eq!(log[0]["model"], KLING_T2V);
    assert_eq!(log[0]["request_id"], "req-123");
    assert_eq!(log[0]["status"], "accepted");
    assert_eq!(log[0]["sent"]["prompt_chars"], 25);
    assert!(log[0]["created_at"].as_str().is_some());

    // Another user's job answers exactly like a missing one.
    t.get(&uri, &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.get("/api/v1/jobs/no-such-job/transfers", &alice)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(t
        .audit_kinds("b@example.org")
        .await
        .contains(&"access.denied".to_owned()));
}

#[tokio::test]
async fn p_tp_5_provider_keys_never_appear_in_api_or_pages() {
    let secrets = [
        "fal-key-SECRET-7d1c",
        "r8_replicate-SECRET-11",
        "AIza-veo-SECRET-22",
        "atlas-SECRET-33",
        "comfy-SECRET-44",
        "sk-openai-SECRET-55",
        "whsec_SECRET66",
        "comfy.internal.example",
        "fal.proxy.internal.example",
    ];
    let t = app_with(|c| {
        c.providers.fal.key = Some(Secret::new(secrets[0].to_owned()));
        c.providers.fal.base_url = Some(format!("https://{}/v1", secrets[8]));
        c.providers.replicate.key = Some(Secret::new(secrets[1].to_owned()));
        c.providers.replicate.webhook_secret = Some(Secret::new(secrets[6].to_owned()));
        c.providers.veo.key = Some(Secret::new(secrets[2].to_owned()));
        c.providers.atlas.key = Some(Secret::new(secrets[3].to_owned()));
        c.providers.comfyui.key = Some(Secret::new(secrets[4].to_owned()));
        c.providers.comfyui.base_url = Some(format!("http://{}:8188", secrets[7]));
        c.providers.comfyui.workflow_file = Some("/etc/reelsmith/workflow.json".into());
        c.providers.openai.key = Some(Secret::new(secrets[5].to_owned()));
    })
    .await;
    let user = Auth::Cookie(t.signed_in_user("k@example.org", "kim").await);
    for provider in ["fal", "replicate", "veo", "atlas", "comfyui"] {
        let r = grant(&t, &user, provider).await;
        assert_eq!(r.status, StatusCode::OK, "{provider}");
    }
    let job = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &user,
            fal_spec("A short first scene here."),
        )
        .await;
    assert_eq!(
        job.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&job.body)
    );
    let job_id = job.json()["id"].as_str().unwrap().to_owned();

    let mut answers = Vec::new();
    for uri in [
        "/api/v1/providers",
        "/api/v1/me/consents",
        "/api/v1/me/credits",
        "/api/v1/me",
        "/api/v1/jobs",
        &format!("/api/v1/jobs/{job_id}"),
        &format!("/api/v1/jobs/{job_id}/transfers"),
        "/api/openapi.json",
        "/",
        "/create",
        "/providers",
        "/credits",
        "/privacy",
        &format!("/creations/{job_id}"),
        "/static/app.js",
    ] {
        let r = t.get(uri, &user).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        answers.push((uri.to_owned(), r.body));
    }
    let anonymous = t.get("/api/v1/providers", &Auth::None).await;
    answers.push(("/api/v1/providers (anonymous)".into(), anonymous.body));
    let quote = t
        .json(
            Method::POST,
            "/api/v1/jobs/quote",
            &user,
            fal_spec(TWO_SCENES),
        )
        .await;
    answers.push(("quote".into(), quote.body));
    let refused = t
        .json(
            Method::POST,
            "/api/v1/jobs/quote",
            &user,
            json!({ "script": "Hi.", "provider": "fal", "model": "x" }),
        )
        .await;
    answers.push(("refused quote".into(), refused.body));
    for (uri, body) in &answers {
        for secret in secrets {
            assert!(!contains(body, secret.as_bytes()), "{uri} shows `{secret}`");
        }
    }
    // Every configured provider is offered, none by its address.
    let providers = t.get("/api/v1/providers", &user).await.json();
    let enabled: Vec<&str> = providers["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["enabled"] == true)
        .map(|p| p["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        enabled,
        ["studio", "fal", "replicate", "veo", "atlas", "comfyui"]
    );
}

#[tokio::test]
async fn issue_6_provider_and_credit_pages_need_a_session_and_link_from_the_nav() {
    let t = app_with(with_fal).await;
    for path in ["/providers", "/credits"] {
        let r = t.get(path, &Auth::None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert!(r.header("location").starts_with("/signin?next="), "{path}");
    }
    let user = Auth::Cookie(t.signed_in_user("n@example.org", "nia").await);
    for (path, heading) in [("/providers", "AI providers"), ("/credits", "Credits")] {
        let r = t.get(path, &user).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let html = String::from_utf8_lossy(&r.body);
        assert!(html.contains(&format!("<h1>{heading}</h1>")), "{path}");
        assert!(
            html.contains(&format!("href=\"{path}\" aria-current=\"page\"")),
            "{path}"
        );
    }
    let create = t.get("/create", &user).await;
    let html = String::from_utf8_lossy(&create.body);
    for id in [
        "id=\"model\"",
        "id=\"prompt\"",
        "id=\"negative-prompt\"",
        "id=\"estimate-cost\"",
        "id=\"consent-notice\"",
    ] {
        assert!(html.contains(id), "create page has {id}");
    }
}

#[tokio::test]
async fn p_tp_2_the_assistant_is_listed_and_consented_to_only_when_switched_on() {
    // A key alone switches nothing on: no use of it needs consent.
    let t = app_with(|c| {
        c.providers.openai.key = Some(reelsmith_config::Secret::new("sk-ASSIST-SECRET".into()));
    })
    .await;
    let auth = Auth::Cookie(t.signed_in_user("ida@example.org", "ida").await);
    let list = t.get("/api/v1/providers", &auth).await.json();
    assert!(!list.to_string().contains("\"openai\""), "{list}");
    let r = t
        .json(Method::PUT, "/api/v1/me/consents/openai", &auth, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // With the prompt writer and voice timing on, it is listed with what it receives, and the
    // consent the worker asks for can be given and withdrawn.
    let t = app_with(|c| {
        c.providers.openai.key = Some(reelsmith_config::Secret::new("sk-ASSIST-SECRET".into()));
        c.providers.openai.chat_model = Some("gpt-test".into());
        c.providers.openai.transcribe_voice = true;
    })
    .await;
    let auth = Auth::Cookie(t.signed_in_user("ida@example.org", "ida").await);
    let list = t.get("/api/v1/providers", &auth).await.json();
    let assistant = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "openai")
        .cloned()
        .unwrap();
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["consent"]["state"], "none");
    let sends: Vec<&str> = assistant["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sends"][0].as_str().unwrap())
        .collect();
    assert_eq!(sends, vec!["narration", "voice"]);
    assert!(!list.to_string().contains("ASSIST-SECRET"));
    let r = t
        .json(Method::PUT, "/api/v1/me/consents/openai", &auth, json!({}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let consents = t.get("/api/v1/me/consents", &auth).await.json();
    assert!(consents["providers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["provider"] == "openai" && p["state"] == "granted"));
    let r = t.delete("/api/v1/me/consents/openai", &auth).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn p_tp_2_a_script_is_written_from_a_topic_only_with_consent_and_the_transfer_is_audited() {
    let chat = fakes::Fake::start("openai_fake.py");
    let base = format!("{}/v1", chat.base());
    let t = app_with(move |c| {
        c.providers.openai.key = Some(Secret::new(fakes::KEY.into()));
        c.providers.openai.base_url = Some(base);
        c.providers.openai.chat_model = Some("gpt-test".into());
    })
    .await;
    let auth = Auth::Cookie(t.signed_in_user("jodie@example.org", "jodie").await);
    let ask = |topic: &'static str| {
        let (t, auth) = (&t, auth.clone());
        async move {
            t.json(
                Method::POST,
                "/api/v1/scripts",
                &auth,
                json!({ "topic": topic, "scenes": 2 }),
            )
            .await
        }
    };
    ask("tide pools at dusk")
        .await
        .assert_problem(StatusCode::CONFLICT, "consent.required");
    assert_eq!(chat.stats().await["requests"], json!(0), "nothing was sent");
    ask("no")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "script.topic_invalid");

    let r = t
        .json(Method::PUT, "/api/v1/me/consents/openai", &auth, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = ask("tide pools at dusk").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let script = r.json();
    assert_eq!(script["scenes"].as_array().unwrap().len(), 2);
    assert!(script["script"]
        .as_str()
        .unwrap()
        .contains("tide pools at dusk"));
    assert_eq!(script["prompts"][0], script["scenes"][0]["visual_prompt"]);
    let sent = chat.last().await.to_string();
    assert!(
        sent.contains("tide pools at dusk") && !sent.contains("jodie@example.org"),
        "{sent}"
    );
    assert!(t
        .audit_kinds("jodie@example.org")
        .await
        .contains(&"provider.transfer".to_owned()));
    assert!(!r
        .body
        .windows(fakes::KEY.len())
        .any(|w| w == fakes::KEY.as_bytes()));
}

/// A script writer at the chat fake, and a user who consented to it.
async fn script_writer_app(chat: &fakes::Fake) -> (TestApp, Auth) {
    let base = format!("{}/v1", chat.base());
    let t = app_with(move |c| {
        c.providers.openai.key = Some(Secret::new(fakes::KEY.into()));
        c.providers.openai.base_url = Some(base);
        c.providers.openai.chat_model = Some("gpt-test".into());
    })
    .await;
    let auth = Auth::Cookie(t.signed_in_user("nora@example.org", "nora").await);
    let r = t
        .json(Method::PUT, "/api/v1/me/consents/openai", &auth, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    (t, auth)
}

async fn write_script(t: &TestApp, auth: &Auth, topic: &str) -> Reply {
    t.json(
        Method::POST,
        "/api/v1/scripts",
        auth,
        json!({ "topic": topic, "scenes": 2 }),
    )
    .await
}

#[tokio::test]
async fn p_rights_4_no_script_is_written_while_processing_is_paused() {
    let chat = fakes::Fake::start("openai_fake.py");
    let (t, auth) = script_writer_app(&chat).await;
    let r = t
        .json(
            Method::PUT,
            "/api/v1/me/processing",
            &auth,
            json!({ "paused": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    write_script(&t, &auth, "lighthouses in a storm")
        .await
        .assert_problem(StatusCode::CONFLICT, "processing.paused");
    assert_eq!(chat.stats().await["requests"], json!(0), "nothing was sent");
    let log = t.get("/api/v1/me/transfers", &auth).await.json();
    assert_eq!(log, json!([]), "no transfer was logged");

    // Resumed, the same request goes through.
    t.json(
        Method::PUT,
        "/api/v1/me/processing",
        &auth,
        json!({ "paused": false }),
    )
    .await;
    let r = write_script(&t, &auth, "lighthouses in a storm").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(chat.stats().await["submissions"], json!(1));
}

#[tokio::test]
async fn p_comm_2_no_script_is_written_while_a_material_policy_change_waits() {
    let chat = fakes::Fake::start("openai_fake.py");
    let (t, auth) = script_writer_app(&chat).await;
    t.state
        .db
        .publish_policy(
            reelsmith_store::PolicyKind::Privacy,
            "2099-01-01",
            "a material change",
            "",
            true,
            now_ms(),
        )
        .await
        .unwrap();
    write_script(&t, &auth, "owls at midnight")
        .await
        .assert_problem(StatusCode::CONFLICT, "policy.acceptance_required");
    assert_eq!(chat.stats().await["requests"], json!(0), "nothing was sent");
    let r = t
        .json(
            Method::POST,
            "/api/v1/me/policies/accept",
            &auth,
            json!({ "kind": "privacy", "version": "2099-01-01" }),
        )
        .await;
    assert!(
        r.status.is_success(),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = write_script(&t, &auth, "owls at midnight").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

#[tokio::test]
async fn p_tp_4_a_written_script_is_in_the_accounts_transfer_log_and_only_there() {
    let chat = fakes::Fake::start("openai_fake.py");
    let (t, auth) = script_writer_app(&chat).await;
    let other = Auth::Cookie(t.signed_in_user("omar@example.org", "omar").await);
    let r = write_script(&t, &auth, "a quiet harbour at dawn").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );

    let log = t.get("/api/v1/me/transfers", &auth).await;
    assert_eq!(log.status, StatusCode::OK);
    let log = log.json();
    let rows = log.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{log}");
    let row = &rows[0];
    assert_eq!(row["job_id"], Value::Null, "it belongs to no job");
    assert_eq!(
        (
            row["provider"].as_str(),
            row["purpose"].as_str(),
            row["status"].as_str()
        ),
        (Some("openai"), Some("script"), Some("accepted"))
    );
    assert_eq!(
        row["sent"]["topic_chars"],
        json!("a quiet harbour at dawn".chars().count())
    );
    assert_eq!(row["sent"]["scenes"], json!(2));
    assert!(
        !row.to_string().contains("harbour"),
        "what was sent is described, never copied: {row}"
    );
    // Another user's log does not show it; without a session there is no log.
    assert_eq!(
        t.get("/api/v1/me/transfers", &other).await.json(),
        json!([])
    );
    assert_eq!(
        t.get("/api/v1/me/transfers", &Auth::None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A failed call is logged as failed, not left "sending".
    chat.set(json!({ "mode": "fail", "count": 1000 })).await;
    let r = write_script(&t, &auth, "a failing topic").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let log = t.get("/api/v1/me/transfers", &auth).await.json();
    assert_eq!(log[0]["status"], json!("failed"), "{log}");
    assert_eq!(log.as_array().unwrap().len(), 2);
}

/// Issue 17's bad input: a job naming a cloud voice is refused before any credit is reserved
/// when that voice's provider is not configured (422 `provider.not_configured`), when the user
/// has not consented to it (409 `consent.required`), or when the voice is unknown (422
/// `voice.unknown`); with consent it is queued and its quote is the voice's price per character.
#[tokio::test]
async fn p_tp_2_a_cloud_voice_without_consent_is_refused_before_any_credit_is_reserved() {
    let t = app_with(|c: &mut Config| {
        c.providers.elevenlabs.key = Some(Secret::new("el-key-SECRET-91ab".to_owned()));
    })
    .await;
    let user = Auth::Cookie(t.signed_in_user("v@example.org", "vera").await);
    let start = balance(&t, &user).await;
    let spec = |voice: &str| {
        json!({ "script": "A red fox runs through the fresh snow at dawn.",
                "tts": { "voice": voice } })
    };
    let submit = |voice: &'static str| {
        let (t, user) = (&t, &user);
        async move {
            t.json(Method::POST, "/api/v1/jobs", user, spec(voice))
                .await
        }
    };
    let r = submit("openai/tts-1/alloy").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["code"], "provider.not_configured");
    let r = submit("elevenlabs/21m00Tcm4TlvDq8ikWAM").await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["code"], "consent.required");
    let r = submit("elevenlabs/no_such_model/21m00Tcm4TlvDq8ikWAM").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["code"], "voice.unknown");
    assert_eq!(balance(&t, &user).await, start, "nothing reserved");
    let jobs = t.get("/api/v1/jobs", &user).await.json();
    assert_eq!(jobs.as_array().unwrap().len(), 0, "nothing queued: {jobs}");

    assert_eq!(grant(&t, &user, "elevenlabs").await.status, StatusCode::OK);
    let r = submit("elevenlabs/21m00Tcm4TlvDq8ikWAM").await;
    assert!(
        r.status.is_success(),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        balance(&t, &user).await,
        start - 1,
        "46 characters at 10 per 1000, rounded up"
    );
}

/// Issue 17: the voice catalogue (`GET /api/v1/voices`) lists the configured cloud voices
/// beside the local ones, each with its language, gender, engine, price per 1000 characters
/// and the caller's consent to its provider; a sample is made by the provider from the
/// catalogue's own sentence (nothing of the user's) and cached; ElevenLabs appears on the
/// providers page so consent can be given there; without consent the quote says so and
/// submission is refused, with consent the catalogue says `granted`.
#[tokio::test]
async fn p_tp_2_cloud_voices_are_listed_with_price_and_consent_and_their_sample_plays() {
    let fake = fakes::Fake::start("elevenlabs_fake.py");
    let base = fake.base();
    let t = app_with(move |c| {
        c.providers.elevenlabs.key = Some(Secret::new(fakes::KEY.into()));
        c.providers.elevenlabs.base_url = Some(base);
    })
    .await;
    let user = Auth::Cookie(t.signed_in_user("cleo@example.org", "cleo").await);
    let voices = t.get("/api/v1/voices", &user).await.json()["voices"].clone();
    let voices = voices.as_array().unwrap();
    assert!(
        voices.iter().any(|v| v["engine"] == "espeak-ng"),
        "local voices are still listed"
    );
    let rachel = voices
        .iter()
        .find(|v| v["name"] == "Rachel")
        .expect("the provider's voices are listed")
        .clone();
    assert!(rachel["id"].as_str().unwrap().starts_with("elevenlabs/"));
    assert_eq!(rachel["language"], "en");
    assert_eq!(rachel["gender"], "female");
    assert_eq!(rachel["engine"], "elevenlabs");
    assert_eq!(rachel["local"], false);
    assert_eq!(rachel["credits_per_1000_chars"], 10.0);
    assert_eq!(rachel["provider"], "elevenlabs");
    assert_eq!(rachel["consent"], "none");
    assert!(
        voices.iter().all(|v| v["engine"] != "openai"),
        "OpenAI's voices are not configured here"
    );
    assert!(
        !t.get("/api/v1/voices", &user)
            .await
            .body
            .windows(fakes::KEY.len())
            .any(|w| w == fakes::KEY.as_bytes()),
        "the key is never shown (P-TP-5)"
    );

    // The sample: MP3 from the provider, made once.
    let url = rachel["sample_url"].as_str().unwrap().to_owned();
    let first = t.get(&url, &user).await;
    assert_eq!(
        first.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.header("content-type"), "audio/mpeg");
    assert!(first.body.len() > 1000);
    let made = fake.stats().await["submissions"].as_i64().unwrap();
    assert_eq!(made, 1);
    assert_eq!(
        fake.last().await["body"]["text"],
        reelsmith_media::voices::sample_text("en"),
        "only the catalogue's sentence went out"
    );
    let again = t.get(&url, &user).await;
    assert_eq!(again.body, first.body);
    assert_eq!(
        fake.stats().await["submissions"].as_i64().unwrap(),
        made,
        "cached"
    );
    let missing = t
        .get("/api/v1/voices/elevenlabs%2FNoSuchVoice123/sample", &user)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["code"], "voice.unknown");

    // The consent step: listed on the providers page, the quote flags it, submission refuses.
    let providers = t.get("/api/v1/providers", &user).await.json();
    let el = providers["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "elevenlabs")
        .expect("ElevenLabs is on the providers page")
        .clone();
    assert_eq!(el["role"], "voices");
    assert_eq!(el["consent"]["state"], "none");
    assert_eq!(
        el["models"][0]["price"],
        json!({ "per": "1000 characters", "credits": 10 })
    );
    let spec = json!({ "script": "A red fox runs through the fresh snow at dawn.",
                       "tts": { "voice": rachel["id"] } });
    let quote = t
        .json(Method::POST, "/api/v1/jobs/quote", &user, spec.clone())
        .await;
    assert_eq!(
        quote.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&quote.body)
    );
    assert_eq!(quote.json()["consent_missing"], true);
    assert_eq!(
        quote.json()["credits"],
        1,
        "46 characters at 10 per 1000, rounded up"
    );
    let refused = t.json(Method::POST, "/api/v1/jobs", &user, spec).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.json()["code"], "consent.required");
    assert_eq!(grant(&t, &user, "elevenlabs").await.status, StatusCode::OK);
    let voices = t.get("/api/v1/voices", &user).await.json()["voices"].clone();
    let rachel = voices
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "Rachel")
        .unwrap()
        .clone();
    assert_eq!(rachel["consent"], "granted");
}

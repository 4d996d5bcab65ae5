//! The doors a hostile probe of a running server found (issue 24), each shut over HTTP: API
//! tokens outliving a password reset or change and minting more tokens, guessing spread over
//! many addresses, a reused Idempotency-Key, a JSON array as a job, public metrics, and the
//! sign-in page's `next`.

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::*;
use serde_json::{json, Value};

fn spec() -> Value {
    json!({ "script": "A harbour at dawn. Boats leave one by one.", "seed": 7 })
}

async fn new_token(t: &TestApp, session: &Auth, name: &str) -> Auth {
    let created = t
        .json(
            Method::POST,
            "/api/v1/tokens",
            session,
            json!({ "name": name }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    Auth::Bearer(created.json()["token"].as_str().unwrap().to_owned())
}

fn live_tokens(listed: &Value) -> usize {
    listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["revoked_at"].is_null())
        .count()
}

#[tokio::test]
async fn p_acc_3_password_reset_revokes_every_api_token() {
    let t = app().await;
    let session = Auth::Cookie(t.signed_in_user("rhea@example.org", "rhea").await);
    let tokens = [
        new_token(&t, &session, "laptop").await,
        new_token(&t, &session, "ci").await,
    ];
    for token in &tokens {
        assert_eq!(t.get("/api/v1/me", token).await.status, StatusCode::OK);
    }
    t.json(
        Method::POST,
        "/api/v1/auth/password/forgot",
        &Auth::None,
        json!({ "email": "rhea@example.org" }),
    )
    .await;
    let code = t.latest_code("rhea@example.org");
    let reset = t
        .json(
            Method::POST,
            "/api/v1/auth/password/reset",
            &Auth::None,
            json!({ "email": "rhea@example.org", "code": code, "new_password": "quartz-meadow-falcon-17" }),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    for token in &tokens {
        t.get("/api/v1/me", token)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    }
    // The list shows them revoked, and the audit entry says how many ended.
    let fresh = Auth::Cookie(session_from(
        &t.login("rhea@example.org", "quartz-meadow-falcon-17").await,
    ));
    let listed = t.get("/api/v1/tokens", &fresh).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(live_tokens(&listed), 0);
    let user = t
        .state
        .db
        .user_by_email("rhea@example.org")
        .await
        .unwrap()
        .unwrap();
    let entries = t.state.db.audit_for_user(&user.id, 50, None).await.unwrap();
    let reset = entries
        .iter()
        .find(|e| e.kind == "password.reset")
        .expect("the reset is audited");
    assert_eq!(reset.detail.as_ref().unwrap()["tokens_revoked"], 2);
}

#[tokio::test]
async fn p_acc_3_password_change_revokes_every_api_token() {
    let t = app().await;
    let session = Auth::Cookie(t.signed_in_user("sven@example.org", "sven").await);
    let token = new_token(&t, &session, "laptop").await;
    let changed = t
        .json(
            Method::POST,
            "/api/v1/me/password",
            &session,
            json!({ "current_password": PASSWORD, "new_password": "quartz-meadow-falcon-17" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    t.get("/api/v1/me", &token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    // The session that changed it stays.
    assert_eq!(t.get("/api/v1/me", &session).await.status, StatusCode::OK);

    // Changed through a token, the token itself ends too.
    let token = new_token(&t, &session, "script").await;
    let changed = t
        .json(
            Method::POST,
            "/api/v1/me/password",
            &token,
            json!({ "current_password": "quartz-meadow-falcon-17", "new_password": "violet-cobalt-river-33" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    t.get("/api/v1/me", &token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
}

#[tokio::test]
async fn an_api_token_cannot_mint_tokens() {
    let t = app().await;
    let session = Auth::Cookie(t.signed_in_user("tove@example.org", "tove").await);
    let token = new_token(&t, &session, "laptop").await;
    t.json(
        Method::POST,
        "/api/v1/tokens",
        &token,
        json!({ "name": "successor" }),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "token.session_required");
    let listed = t.get("/api/v1/tokens", &session).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "nothing was created");
    assert!(t
        .audit_kinds("tove@example.org")
        .await
        .contains(&"access.denied".to_owned()));
}

/// A sign-in attempt claiming to come from `ip` (the server trusts `X-Forwarded-For` here, as
/// behind a proxy).
async fn login_from(t: &TestApp, ip: &str, email: &str, password: &str) -> Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header(header::USER_AGENT, "reelsmith-tests/1")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-forwarded-for", ip)
        .body(Body::from(
            json!({ "email": email, "password": password }).to_string(),
        ))
        .unwrap();
    t.send(request).await
}

#[tokio::test]
async fn p_sec_7_sign_in_is_limited_per_account_across_addresses() {
    let t = app_with(|c| {
        c.server.trust_proxy_headers = true;
        c.rate_limits.sign_in.count = 3;
        c.rate_limits.sign_in_account.count = 6;
    })
    .await;
    // The owner's own sign-in counts too (the account's bucket is not reset by success).
    t.signed_in_user("uma@example.org", "uma").await;
    t.signed_in_user("vic@example.org", "vic").await;
    // Five guesses, each from another address: the per-address limit never trips.
    for i in 0..5 {
        login_from(
            &t,
            &format!("203.0.113.{i}"),
            "uma@example.org",
            "wrong-guess-x",
        )
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    }
    // The sixth, from a fresh address and even with the right password, meets the account's.
    let limited = login_from(&t, "203.0.113.77", "uma@example.org", PASSWORD).await;
    limited.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // One refill every 3600 / 6 = 600 s, not the rest of a fixed hour.
    let retry: u64 = limited.header("retry-after").parse().unwrap();
    assert!((599..=600).contains(&retry), "Retry-After {retry}");
    // Another account is not affected.
    assert_eq!(
        login_from(&t, "203.0.113.77", "vic@example.org", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn p_sec_7_the_per_address_limit_refills_one_attempt_at_a_time() {
    let t = app_with(|c| {
        c.server.trust_proxy_headers = true;
        c.rate_limits.sign_in.count = 3;
        c.rate_limits.sign_in.window_seconds = 900;
    })
    .await;
    t.signed_in_user("wes@example.org", "wes").await;
    for _ in 0..3 {
        login_from(&t, "203.0.113.9", "wes@example.org", "wrong-guess-x")
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    }
    let limited = login_from(&t, "203.0.113.9", "wes@example.org", PASSWORD).await;
    limited.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // A token bucket: the next attempt is 900 / 3 = 300 s away, wherever a clock boundary is.
    let retry: u64 = limited.header("retry-after").parse().unwrap();
    assert!((299..=300).contains(&retry), "Retry-After {retry}");
    // The same account from elsewhere still gets in.
    assert_eq!(
        login_from(&t, "203.0.113.10", "wes@example.org", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

async fn submit_with_key(t: &TestApp, user: &Auth, key: &str, body: &Value) -> Reply {
    let request = t
        .request(Method::POST, "/api/v1/jobs", user)
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap();
    t.send(request).await
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_refused() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("xia@example.org", "xia").await);
    let first = submit_with_key(&t, &user, "order-1", &spec()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    // A retry of the same request, keys in another order, is the same job.
    let reordered = json!({ "seed": 7, "script": "A harbour at dawn. Boats leave one by one." });
    let retry = submit_with_key(&t, &user, "order-1", &reordered).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.json()["id"], first.json()["id"]);
    let other = json!({ "script": "Something else entirely.", "seed": 7 });
    submit_with_key(&t, &user, "order-1", &other)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency.mismatch");
    let jobs = t.get("/api/v1/jobs", &user).await.json();
    assert_eq!(jobs.as_array().unwrap().len(), 1, "no second job");
    // A new key is a new job.
    assert_eq!(
        submit_with_key(&t, &user, "order-2", &other).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_job_body_that_is_not_an_object_is_refused() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("yan@example.org", "yan").await);
    for body in [
        json!(["A harbour at dawn. Boats leave one by one."]),
        json!("A harbour at dawn."),
        json!(7),
        Value::Null,
    ] {
        t.json(Method::POST, "/api/v1/jobs", &user, body.clone())
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "spec.not_an_object");
    }
    let jobs = t.get("/api/v1/jobs", &user).await.json();
    assert!(jobs.as_array().unwrap().is_empty());
}

const METRICS_TOKEN: &str = "scraper-token-8f3k2m9q";

#[tokio::test]
async fn metrics_are_served_only_with_the_configured_token() {
    let t = app().await;
    t.get("/metrics", &Auth::None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.get("/metrics", &Auth::Bearer(METRICS_TOKEN.into()))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    let t = app_with(|c| c.metrics.token = Some(METRICS_TOKEN.into())).await;
    let session = Auth::Cookie(t.signed_in_user("zoe@example.org", "zoe").await);
    for refused in [
        Auth::None,
        Auth::Bearer("scraper-token-wrong".into()),
        Auth::Bearer(format!("{METRICS_TOKEN}x")),
        session,
    ] {
        t.get("/metrics", &refused)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "metrics.unauthorized");
    }
    let metrics = t.get("/metrics", &Auth::Bearer(METRICS_TOKEN.into())).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    assert!(
        text.contains("reelsmith_jobs{status=\"queued\"} 0"),
        "{text}"
    );
}

/// What the sign-in page hands its script as the place to go afterwards.
async fn signin_next(t: &TestApp, query: &str) -> String {
    let page = t.get(&format!("/signin?{query}"), &Auth::None).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    let start = html
        .find("data-next=\"")
        .expect("the form carries data-next")
        + 11;
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

#[tokio::test]
async fn the_sign_in_page_keeps_only_a_same_origin_next() {
    let t = app().await;
    assert_eq!(signin_next(&t, "next=/creations").await, "/creations");
    assert_eq!(
        signin_next(&t, "next=%2Faccount%3Fx%3D1").await,
        "/account?x=1"
    );
    for hostile in [
        "next=/%09/evil.example/phish",
        "next=//evil.example",
        "next=/%5Cevil.example",
        "next=%2F%2Fevil.example",
        "next=/%0A/evil.example",
        "next=https://evil.example/",
        "next=javascript:alert(1)",
        "next=%09javascript:alert(1)",
    ] {
        assert_eq!(signin_next(&t, hostile).await, "", "{hostile}");
    }
    assert_eq!(signin_next(&t, "").await, "");
}

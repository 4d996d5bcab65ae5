//! Staff roles, TOTP step-up and the admin console's API (issue 20; P-SEC-4, P-SEC-5): users
//! and anonymous callers get 404 on every staff route, staff without a recent TOTP check are
//! refused, codes cannot be replayed or guessed, recovery codes work once, and every admin
//! action is carried out and audit-logged.

mod common;

use axum::http::{header, Method, StatusCode};
use common::{app_with, Auth, Reply, TestApp};
use reelsmith_auth::totp::{secret_from_base32, totp_at};
use reelsmith_server::admin::STAFF_GET_ROUTES;
use reelsmith_store::{JobError, NewJob, Role, RunLimits};
use serde_json::{json, Value};

async fn app() -> TestApp {
    // Generous TOTP tries, except where the limit itself is tested.
    app_with(|c| {
        c.server.trust_proxy_headers = true;
        c.staff.totp_attempts.count = 100;
    })
    .await
}

async fn user_id(t: &TestApp, email: &str) -> String {
    t.state.db.user_by_email(email).await.unwrap().unwrap().id
}

async fn set_role(t: &TestApp, email: &str, role: Role) {
    let id = user_id(t, email).await;
    t.state.db.set_role(&id, role, 0).await.unwrap();
}

/// The TOTP code for "now" on the app's clock.
fn code_now(t: &TestApp, secret: &[u8]) -> String {
    totp_at(secret, (t.state.clock.now() / 1000) as u64)
}

/// Moves the app's clock to the next 30-second step, so a fresh code exists.
fn next_step(t: &TestApp) {
    t.state.clock.advance(30_000);
}

async fn post(t: &TestApp, uri: &str, auth: &Auth, body: Value) -> Reply {
    t.json(Method::POST, uri, auth, body).await
}

/// Enrols and confirms TOTP for the session: the secret and the recovery codes.
async fn enrol(t: &TestApp, auth: &Auth) -> (Vec<u8>, Vec<String>) {
    let r = post(t, "/api/v1/me/totp/enrol", auth, json!({})).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let e = r.json();
    let secret = secret_from_base32(e["secret"].as_str().unwrap()).unwrap();
    assert!(e["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/Reelsmith:"));
    let svg = e["qr_svg"].as_str().unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("<path"),
        "a QR code drawn as SVG: {svg:.80}"
    );
    let r = post(
        t,
        "/api/v1/me/totp/confirm",
        auth,
        json!({ "code": code_now(t, &secret) }),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let codes: Vec<String> = r.json()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// A signed-in admin whose session has passed TOTP: cookie and secret.
async fn admin(t: &TestApp, email: &str, username: &str) -> (Auth, Vec<u8>, Vec<String>) {
    let auth = Auth::Cookie(t.signed_in_user(email, username).await);
    set_role(t, email, Role::Admin).await;
    let (secret, codes) = enrol(t, &auth).await;
    (auth, secret, codes)
}

async fn audit_kinds(t: &TestApp, email: &str) -> Vec<String> {
    t.audit_kinds(email).await
}

/// The answer to a path nothing serves, for comparison.
async fn missing(t: &TestApp, path: &str, auth: &Auth, html: bool) -> Reply {
    if html {
        t.get_with(path, auth, "accept", "text/html").await
    } else {
        t.get(path, auth).await
    }
}

#[tokio::test]
async fn p_sec_4_every_staff_route_is_404_to_users_and_anonymous() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("una@example.org", "una").await);
    let (_admin, _, _) = admin(&t, "ada@example.org", "ada").await;
    let ada = user_id(&t, "ada@example.org").await;
    let page_404 = missing(&t, "/admin-nothing-here", &user, true).await;
    let api_404 = missing(&t, "/api/v1/admin/nothing-here", &user, false).await;
    assert_eq!(page_404.status, StatusCode::NOT_FOUND);
    for auth in [&user, &Auth::None] {
        for route in STAFF_GET_ROUTES {
            let page = !route.starts_with("/api/");
            let r = missing(&t, route, auth, page).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{route}");
            if page {
                let expected = missing(&t, "/admin-nothing-here", auth, true).await;
                assert_eq!(
                    r.body, expected.body,
                    "{route}: a page like any missing one"
                );
            } else {
                r.assert_problem(StatusCode::NOT_FOUND, "not_found");
                assert_eq!(r.body, api_404.body, "{route}");
            }
        }
    }
    // Actions on a real other account: refused the same way, and nothing changes.
    let actions = [
        (
            Method::PUT,
            format!("/api/v1/admin/users/{ada}/role"),
            json!({ "role": "user" }),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{ada}/suspend"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{ada}/sessions/end"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{ada}/delete"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{ada}/credits"),
            json!({ "kind": "grant", "amount": 5, "reason": "x" }),
        ),
        (Method::GET, format!("/api/v1/admin/users/{ada}"), json!({})),
    ];
    let balance = t.state.db.credit_balance(&ada).await.unwrap();
    for (method, uri, body) in &actions {
        let r = t.json(method.clone(), uri, &user, body.clone()).await;
        r.assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    let after = t.state.db.user_by_id(&ada).await.unwrap().unwrap();
    assert_eq!(after.role, Role::Admin);
    assert!(after.deleted_at.is_none());
    assert_eq!(t.state.db.suspended_at(&ada).await.unwrap(), None);
    assert_eq!(t.state.db.credit_balance(&ada).await.unwrap(), balance);
    let denied = audit_kinds(&t, "una@example.org").await;
    assert!(
        denied.iter().filter(|k| *k == "staff.denied").count() >= STAFF_GET_ROUTES.len(),
        "{denied:?}"
    );
}

#[tokio::test]
async fn p_sec_4_moderators_get_404_on_admin_routes_and_reach_the_console_home() {
    let t = app().await;
    let moderator = Auth::Cookie(t.signed_in_user("mo@example.org", "moira").await);
    set_role(&t, "mo@example.org", Role::Moderator).await;
    enrol(&t, &moderator).await;
    let r = t.get("/api/v1/admin/me", &moderator).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["role"], "moderator");
    let r = t
        .get_with("/admin", &moderator, "accept", "text/html")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&r.body);
    assert!(html.contains("/moderation") && !html.contains("href=\"/admin/users\""));
    for route in STAFF_GET_ROUTES
        .iter()
        .filter(|r| !matches!(**r, "/admin" | "/admin/verify" | "/api/v1/admin/me"))
    {
        let r = t.get(route, &moderator).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{route}");
    }
}

#[tokio::test]
async fn p_sec_5_staff_are_refused_until_enrolled_and_stepped_up_in_this_session() {
    let t = app().await;
    let first = Auth::Cookie(t.signed_in_user("ada@example.org", "ada").await);
    set_role(&t, "ada@example.org", Role::Admin).await;
    // Not enrolled: refused with a stable code, and the page sends them to enrolment.
    t.get("/api/v1/admin/users", &first)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "staff.totp_required");
    let r = t
        .get_with("/admin/users", &first, "accept", "text/html")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/account/security?staff=1");
    let (secret, _) = enrol(&t, &first).await;
    // Confirming proved the code in this session: allowed now.
    assert_eq!(
        t.get("/api/v1/admin/users", &first).await.status,
        StatusCode::OK
    );

    // Another session of the same admin has not passed a check.
    let r = t.login("ada@example.org", common::PASSWORD).await;
    let second = Auth::Cookie(common::session_from(&r));
    t.get("/api/v1/admin/users", &second)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "staff.step_up_required");
    let r = t
        .get_with("/admin/users?q=a", &second, "accept", "text/html")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/admin/verify?next=/admin/users");
    let r = t
        .get_with(
            "/admin/verify?next=/admin/users",
            &second,
            "accept",
            "text/html",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    next_step(&t);
    let r = post(
        &t,
        "/api/v1/me/totp/verify",
        &second,
        json!({ "code": code_now(&t, &secret) }),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        t.get("/api/v1/admin/users", &second).await.status,
        StatusCode::OK
    );

    // Step-up expires after staff.step_up_minutes.
    t.state
        .clock
        .advance(i64::from(t.state.config.staff.step_up_minutes) * 60_000);
    t.get("/api/v1/admin/users", &second)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "staff.step_up_required");

    // An API token cannot carry step-up.
    let r = post(&t, "/api/v1/tokens", &first, json!({ "name": "ci" })).await;
    let token = Auth::Bearer(r.json()["token"].as_str().unwrap().to_owned());
    t.get("/api/v1/admin/users", &token)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "staff.step_up_required");
    post(
        &t,
        "/api/v1/me/totp/verify",
        &token,
        json!({ "code": "123456" }),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "totp.session_required");
    let kinds = audit_kinds(&t, "ada@example.org").await;
    for kind in [
        "staff.totp_required",
        "staff.step_up_required",
        "mfa.enabled",
        "mfa.verified",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

#[tokio::test]
async fn p_sec_5_a_used_code_is_refused_within_its_window_and_recovery_codes_work_once() {
    let t = app().await;
    let (auth, secret, codes) = admin(&t, "ada@example.org", "ada").await;
    assert_eq!(codes.len(), 10);
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10);
    // The confirming code cannot be used again, though it is still within its window.
    let used = code_now(&t, &secret);
    post(&t, "/api/v1/me/totp/verify", &auth, json!({ "code": used }))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "totp.replayed");
    // Nor can a code from an earlier step once a later one was accepted.
    next_step(&t);
    let fresh = code_now(&t, &secret);
    assert_eq!(
        post(
            &t,
            "/api/v1/me/totp/verify",
            &auth,
            json!({ "code": fresh })
        )
        .await
        .status,
        StatusCode::OK
    );
    post(
        &t,
        "/api/v1/me/totp/verify",
        &auth,
        json!({ "code": fresh }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "totp.replayed");
    post(&t, "/api/v1/me/totp/verify", &auth, json!({ "code": used }))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "totp.replayed");
    post(
        &t,
        "/api/v1/me/totp/verify",
        &auth,
        json!({ "code": "000000" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "totp.invalid_code");

    // A recovery code, typed any way, works once.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let r = post(
        &t,
        "/api/v1/me/totp/verify",
        &auth,
        json!({ "recovery_code": typed }),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["recovery_codes_left"], 9);
    post(
        &t,
        "/api/v1/me/totp/verify",
        &auth,
        json!({ "recovery_code": codes[0] }),
    )
    .await
    .assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "totp.invalid_recovery_code",
    );
    // Another account's code is not this one's.
    let other = Auth::Cookie(t.signed_in_user("bo@example.org", "bobby").await);
    let (_, other_codes) = enrol(&t, &other).await;
    post(
        &t,
        "/api/v1/me/totp/verify",
        &auth,
        json!({ "recovery_code": other_codes[0] }),
    )
    .await
    .assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "totp.invalid_recovery_code",
    );
    // A second enrolment is refused while one is on: a stolen session cannot swap the device.
    post(&t, "/api/v1/me/totp/enrol", &auth, json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT, "totp.already_enabled");
    let kinds = audit_kinds(&t, "ada@example.org").await;
    for kind in ["mfa.replay_refused", "mfa.failed", "mfa.recovery_used"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    // The secret is stored sealed, never as the base32 or raw bytes.
    let id = user_id(&t, "ada@example.org").await;
    let stored = t.state.db.totp_state(&id).await.unwrap().unwrap();
    let sealed = stored.totp_secret.unwrap();
    assert!(!common::contains(&sealed, &secret));
    // Turning it off needs a fresh code.
    next_step(&t);
    let r = t
        .json(
            Method::DELETE,
            "/api/v1/me/totp",
            &auth,
            json!({ "code": code_now(&t, &secret) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(t.state.db.recovery_codes_left(&id).await.unwrap(), 0);
    t.get("/api/v1/admin/users", &auth)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "staff.totp_required");
}

#[tokio::test]
async fn p_sec_5_guessing_codes_meets_the_rate_limit() {
    let t = app_with(|c| c.server.trust_proxy_headers = true).await;
    let auth = Auth::Cookie(t.signed_in_user("ada@example.org", "ada").await);
    set_role(&t, "ada@example.org", Role::Admin).await;
    let r = post(&t, "/api/v1/me/totp/enrol", &auth, json!({})).await;
    let secret = secret_from_base32(r.json()["secret"].as_str().unwrap()).unwrap();
    let limit = t.state.config.staff.totp_attempts.count;
    let right = code_now(&t, &secret);
    let wrong = if right == "111111" {
        "222222"
    } else {
        "111111"
    };
    for _ in 0..limit {
        post(
            &t,
            "/api/v1/me/totp/confirm",
            &auth,
            json!({ "code": wrong }),
        )
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "totp.invalid_code");
    }
    // Over the limit even the right code is refused, so guessing gains nothing.
    let r = post(
        &t,
        "/api/v1/me/totp/confirm",
        &auth,
        json!({ "code": right }),
    )
    .await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS, "totp.rate_limited");
    assert!(!r.header("retry-after").is_empty());
    let id = user_id(&t, "ada@example.org").await;
    assert!(!t.state.db.totp_state(&id).await.unwrap().unwrap().enabled());
    let kinds = audit_kinds(&t, "ada@example.org").await;
    assert!(kinds.iter().any(|k| k == "mfa.rate_limited"), "{kinds:?}");
    assert!(kinds.iter().filter(|k| *k == "mfa.failed").count() >= limit as usize);
}

#[tokio::test]
async fn p_sec_4_admin_actions_on_users_work_and_are_audit_logged() {
    let t = app().await;
    let (admin_auth, _, _) = admin(&t, "ada@example.org", "ada").await;
    let bo_auth = Auth::Cookie(t.signed_in_user("bo@example.org", "bobby").await);
    let bo = user_id(&t, "bo@example.org").await;

    let r = t.get("/api/v1/admin/users?q=BO@", &admin_auth).await;
    assert_eq!(r.status, StatusCode::OK);
    let users = r.json()["users"].as_array().unwrap().clone();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], bo.as_str());
    let r = t
        .get(&format!("/api/v1/admin/users/{bo}"), &admin_auth)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let body = String::from_utf8_lossy(&r.body).to_lowercase();
    for secret in ["argon2", "password", "token_hash", "totp_secret"] {
        assert!(!body.contains(secret), "{secret} in {body}");
    }
    let sessions = t
        .state
        .db
        .list_sessions(&bo, t.state.clock.now())
        .await
        .unwrap();
    assert_eq!(
        r.json()["sessions"].as_array().unwrap().len(),
        sessions.len()
    );
    assert!(!sessions.is_empty());
    let page = t
        .get_with(
            &format!("/admin/users/{bo}"),
            &admin_auth,
            "accept",
            "text/html",
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!String::from_utf8_lossy(&page.body).contains("$argon2"));

    // Role.
    let r = t
        .json(
            Method::PUT,
            &format!("/api/v1/admin/users/{bo}/role"),
            &admin_auth,
            json!({ "role": "moderator" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        t.state.db.user_by_id(&bo).await.unwrap().unwrap().role,
        Role::Moderator
    );
    t.json(
        Method::PUT,
        &format!("/api/v1/admin/users/{bo}/role"),
        &admin_auth,
        json!({ "role": "root" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "admin.invalid_role");
    let ada = user_id(&t, "ada@example.org").await;
    t.json(
        Method::PUT,
        &format!("/api/v1/admin/users/{ada}/role"),
        &admin_auth,
        json!({ "role": "user" }),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "admin.self_action");

    // Suspension ends the sessions and stops sign-in until restored.
    let r = post(
        &t,
        &format!("/api/v1/admin/users/{bo}/suspend"),
        &admin_auth,
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        t.get("/api/v1/me", &bo_auth).await.status,
        StatusCode::UNAUTHORIZED
    );
    t.login("bo@example.org", common::PASSWORD)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "auth.suspended");
    let r = post(
        &t,
        &format!("/api/v1/admin/users/{bo}/restore"),
        &admin_auth,
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t.login("bo@example.org", common::PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    let bo_auth = Auth::Cookie(common::session_from(&r));

    // Ending sessions.
    let r = post(
        &t,
        &format!("/api/v1/admin/users/{bo}/sessions/end"),
        &admin_auth,
        json!({}),
    )
    .await;
    assert_eq!(r.json()["sessions_ended"], 1);
    assert_eq!(
        t.get("/api/v1/me", &bo_auth).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Credits by hand need a reason; a refused change writes nothing.
    let before = t.state.db.credit_balance(&bo).await.unwrap();
    post(
        &t,
        &format!("/api/v1/admin/users/{bo}/credits"),
        &admin_auth,
        json!({ "kind": "grant", "amount": 50, "reason": " " }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "admin.reason_required");
    post(
        &t,
        &format!("/api/v1/admin/users/{bo}/credits"),
        &admin_auth,
        json!({ "kind": "grant", "amount": -5, "reason": "x" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "admin.invalid_amount");
    assert_eq!(t.state.db.credit_balance(&bo).await.unwrap(), before);
    let r = post(
        &t,
        &format!("/api/v1/admin/users/{bo}/credits"),
        &admin_auth,
        json!({ "kind": "refund", "amount": 50, "reason": "render failed twice" }),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(t.state.db.credit_balance(&bo).await.unwrap(), before + 50);
    let ledger = t.state.db.credit_ledger(&bo, 10, None).await.unwrap();
    assert_eq!(ledger[0].note, "render failed twice");

    // Deletion.
    let r = post(
        &t,
        &format!("/api/v1/admin/users/{bo}/delete"),
        &admin_auth,
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(t
        .state
        .db
        .user_by_id(&bo)
        .await
        .unwrap()
        .unwrap()
        .deleted_at
        .is_some());
    t.login("bo@example.org", common::PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    // Unknown accounts: 404.
    post(
        &t,
        "/api/v1/admin/users/nobody/suspend",
        &admin_auth,
        json!({}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // Each action is in the audit log with who, what, when and from where.
    let r = t.get("/api/v1/admin/audit?kind=admin.", &admin_auth).await;
    let entries = r.json()["entries"].as_array().unwrap().clone();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "admin.role_changed",
        "admin.user_suspended",
        "admin.user_restored",
        "admin.sessions_ended",
        "admin.credits_added",
        "admin.user_deleted",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    for e in &entries {
        assert_eq!(e["user_id"], ada.as_str());
        assert_eq!(e["ip"], common::CLIENT_IP);
        assert_eq!(e["user_agent"], "reelsmith-tests/1");
        assert!(e["at"].as_str().unwrap().ends_with('Z'));
        let detail: Value = serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
        assert_eq!(detail["actor"], ada.as_str());
        assert_eq!(detail["subject"], bo.as_str());
    }

    // The CSV export has the same rows, and is itself recorded.
    let r = t
        .get("/api/v1/admin/audit.csv?kind=admin.user", &admin_auth)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header(header::CONTENT_TYPE.as_str()),
        "text/csv; charset=utf-8"
    );
    let csv = String::from_utf8_lossy(&r.body).to_string();
    assert!(csv.starts_with("id,at,kind,user_id,ip,user_agent,detail\r\n"));
    assert_eq!(csv.matches("admin.user_").count(), 3, "{csv}");
    let kinds = audit_kinds(&t, "ada@example.org").await;
    assert!(kinds.iter().any(|k| k == "admin.audit_exported"));
    t.get("/api/v1/admin/audit?since=yesterday", &admin_auth)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "request.invalid_query");
}

#[tokio::test]
async fn p_sec_4_admins_retry_and_cancel_jobs_and_see_providers_and_privacy_tools() {
    let t = app().await;
    let (admin_auth, _, _) = admin(&t, "ada@example.org", "ada").await;
    t.signed_in_user("bo@example.org", "bobby").await;
    let bo = user_id(&t, "bo@example.org").await;
    let db = &t.state.db;
    db.add_credits(&bo, reelsmith_store::CreditKind::Grant, 100, "test", 1)
        .await
        .unwrap();
    let now = t.state.clock.now();
    let new = |cost| NewJob {
        owner_id: bo.clone(),
        params: json!({ "script": "Hello.", "provider": "fal" }),
        idempotency_key: None,
        cost,
    };
    let failing = db.submit_job(&new(30), now).await.unwrap().job;
    let queued = db.submit_job(&new(0), now).await.unwrap().job;
    let claimed = db
        .claim_next_job("worker-7", 60_000, RunLimits::default(), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.job.id, failing.id);
    let error = JobError {
        code: "provider.failed".into(),
        message: "upstream 500".into(),
    };
    db.fail_job(&claimed.lease, &error, None, now)
        .await
        .unwrap();
    let balance_after_refund = db.credit_balance(&bo).await.unwrap();

    let r = t.get("/api/v1/admin/jobs?status=failed", &admin_auth).await;
    let jobs = r.json()["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["error_code"], "provider.failed");
    assert_eq!(jobs[0]["provider"], "fal");

    // Retry re-reserves the cost and queues the job again; a job that has not failed cannot be.
    let r = post(
        &t,
        &format!("/api/v1/admin/jobs/{}/retry", failing.id),
        &admin_auth,
        json!({}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let job = db.job_by_id(&failing.id).await.unwrap().unwrap();
    assert_eq!(job.status.as_str(), "queued");
    assert!(job.error.is_none());
    assert_eq!(
        db.credit_balance(&bo).await.unwrap(),
        balance_after_refund - 30
    );
    post(
        &t,
        &format!("/api/v1/admin/jobs/{}/retry", queued.id),
        &admin_auth,
        json!({}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "admin.job_not_failed");

    // Leases by worker.
    let claimed = db
        .claim_next_job("worker-7", 60_000, RunLimits::default(), now)
        .await
        .unwrap()
        .unwrap();
    let r = t.get("/api/v1/admin/jobs", &admin_auth).await;
    let leases = r.json()["leases"].as_array().unwrap().clone();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0]["worker"], "worker-7");
    assert_eq!(leases[0]["jobs"], 1);

    // Cancel gives the reservation back.
    let r = post(
        &t,
        &format!("/api/v1/admin/jobs/{}/cancel", claimed.job.id),
        &admin_auth,
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        db.job_by_id(&claimed.job.id)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "cancelled"
    );
    post(
        &t,
        &format!("/api/v1/admin/jobs/{}/cancel", claimed.job.id),
        &admin_auth,
        json!({}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "admin.job_finished");
    let kinds: Vec<String> = db
        .audit_for_user(&user_id(&t, "ada@example.org").await, 50, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "admin.job_retried"));
    assert!(kinds.iter().any(|k| k == "admin.job_cancelled"));

    let r = t.get("/api/v1/admin/providers", &admin_auth).await;
    assert_eq!(r.status, StatusCode::OK);
    let o = r.json();
    let fal = o["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "fal")
        .unwrap()
        .clone();
    assert_eq!(fal["configured"], false);
    assert_eq!(
        fal["failures_7d"], 0,
        "the failed job was retried and cancelled since"
    );
    let r = t.get("/api/v1/admin/privacy", &admin_auth).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["purge_days"], t.state.config.retention.purge_days);
    for page in [
        "/admin",
        "/admin/jobs?status=failed",
        "/admin/providers",
        "/admin/privacy",
        "/admin/audit?kind=admin.",
        "/admin/users",
    ] {
        let r = t.get_with(page, &admin_auth, "accept", "text/html").await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        assert!(
            r.header("content-security-policy")
                .contains("script-src 'self'"),
            "{page}"
        );
        assert_eq!(r.header("x-frame-options"), "DENY");
    }
}

#[tokio::test]
async fn p_sec_4_a_cross_site_admin_action_is_refused() {
    let t = app().await;
    let (admin_auth, _, _) = admin(&t, "ada@example.org", "ada").await;
    t.signed_in_user("bo@example.org", "bobby").await;
    let bo = user_id(&t, "bo@example.org").await;
    let request = t
        .request(
            Method::POST,
            &format!("/api/v1/admin/users/{bo}/suspend"),
            &admin_auth,
        )
        .header("sec-fetch-site", "cross-site")
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    t.send(request)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "csrf.cross_origin");
    assert_eq!(t.state.db.suspended_at(&bo).await.unwrap(), None);
}

/// The moderation queue is a staff tool like the console (issue 20): a moderator cannot look at
/// it or act on it before enrolling TOTP, nor from a session without a recent check; a user and
/// an anonymous caller get 404 and the attempt is logged as `staff.denied`.
#[tokio::test]
async fn p_sec_5_moderation_needs_totp_and_step_up_too() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("una@example.org", "una").await);
    let first = Auth::Cookie(t.signed_in_user("mod@example.org", "modo").await);
    set_role(&t, "mod@example.org", Role::Moderator).await;
    let routes = [
        (Method::GET, "/api/v1/moderation/queue"),
        (Method::GET, "/api/v1/moderation/legal"),
        (Method::POST, "/api/v1/moderation/jobs/no-such-job/approve"),
        (Method::POST, "/api/v1/moderation/jobs/no-such-job/refuse"),
    ];
    for (method, route) in &routes {
        for (who, code) in [
            (&first, "staff.totp_required"),
            (&user, "not_found"),
            (&Auth::None, "not_found"),
        ] {
            let r = t.json(method.clone(), route, who, json!({})).await;
            let status = if code == "not_found" {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(
                r.status,
                status,
                "{method} {route}: {}",
                String::from_utf8_lossy(&r.body)
            );
            if code != "not_found" {
                r.assert_problem(status, code);
            }
        }
    }
    let r = t
        .get_with("/moderation", &first, "accept", "text/html")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/account/security?staff=1");
    let r = t
        .get_with("/moderation", &user, "accept", "text/html")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let (secret, _) = enrol(&t, &first).await;
    assert_eq!(
        t.get("/api/v1/moderation/queue", &first).await.status,
        StatusCode::OK
    );
    let r = t
        .get_with("/moderation", &first, "accept", "text/html")
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // Another session: the check first, then the queue.
    let r = t.login("mod@example.org", common::PASSWORD).await;
    let second = Auth::Cookie(common::session_from(&r));
    t.get("/api/v1/moderation/queue", &second)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "staff.step_up_required");
    let r = t
        .get_with("/moderation", &second, "accept", "text/html")
        .await;
    assert_eq!(r.header("location"), "/admin/verify?next=/moderation");
    next_step(&t);
    let r = post(
        &t,
        "/api/v1/me/totp/verify",
        &second,
        json!({ "code": code_now(&t, &secret) }),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        t.get("/api/v1/moderation/queue", &second).await.status,
        StatusCode::OK
    );

    let kinds = audit_kinds(&t, "mod@example.org").await;
    for kind in ["staff.totp_required", "staff.step_up_required"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let kinds = audit_kinds(&t, "una@example.org").await;
    assert!(kinds.iter().any(|k| k == "staff.denied"), "{kinds:?}");
}

//! Erasure and restriction over the API: `DELETE /api/v1/me` (P-RET-4, P-RIGHTS-3) and
//! `PUT /api/v1/me/processing` (P-RIGHTS-4); the security events of an account's life in the audit
//! log (P-SEC-6).

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::json;

async fn create_token(t: &TestApp, auth: &Auth) -> String {
    let r = t
        .json(
            Method::POST,
            "/api/v1/tokens",
            auth,
            json!({ "name": "script" }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn p_ret_4_delete_me_with_a_wrong_password_is_refused_and_nothing_changes() {
    let t = app().await;
    let cookie = Auth::Cookie(t.signed_in_user("rhea@example.org", "rhea").await);
    let bearer = Auth::Bearer(create_token(&t, &cookie).await);
    t.json(
        Method::DELETE,
        "/api/v1/me",
        &cookie,
        json!({ "password": "not-the-password-at-all" }),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    // Nothing changed: both credentials work, sign-in works, no confirmation was sent.
    assert_eq!(t.get("/api/v1/me", &cookie).await.status, StatusCode::OK);
    assert_eq!(t.get("/api/v1/me", &bearer).await.status, StatusCode::OK);
    assert_eq!(
        t.login("rhea@example.org", PASSWORD).await.status,
        StatusCode::OK
    );
    let user = t
        .state
        .db
        .user_by_email("rhea@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(!user.is_deleted());
    assert!(
        reelsmith_mail::latest_message_to(&t.outbox, "rhea@example.org")
            .unwrap()
            .is_none_or(|m| !m.subject.contains("account was deleted"))
    );
    let audit = t.audit_kinds("rhea@example.org").await;
    assert!(audit.iter().any(|k| k == "password.check_failed"));
    assert!(!audit.iter().any(|k| k == "account.deleted"));
}

#[tokio::test]
async fn p_ret_4_delete_me_ends_sessions_and_tokens_at_once_and_emails_a_confirmation() {
    let t = app_with(|c| c.retention.purge_days = 14).await;
    let cookie = Auth::Cookie(t.signed_in_user("sol@example.org", "sol").await);
    let other = Auth::Cookie(session_from(&t.login("sol@example.org", PASSWORD).await));
    let bearer = Auth::Bearer(create_token(&t, &cookie).await);

    let r = t
        .json(
            Method::DELETE,
            "/api/v1/me",
            &cookie,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let body = r.json();
    assert_eq!(body["status"], "deleted");
    // The purge date is the deletion plus `retention.purge_days`.
    let deleted_at = body["deleted_at"].as_str().unwrap();
    let purge_by = body["purge_by"].as_str().unwrap();
    assert!(purge_by > deleted_at, "{body}");
    assert!(
        r.header("set-cookie").contains("Max-Age=0"),
        "the cookie is cleared"
    );

    // At once: the session cookie (this one and the other), the API token, and sign-in.
    for auth in [&cookie, &other, &bearer] {
        t.get("/api/v1/me", auth)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    }
    t.login("sol@example.org", PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    // A password reset cannot bring it back: no code is sent.
    let before = reelsmith_mail::latest_message_to(&t.outbox, "sol@example.org").unwrap();
    t.json(
        Method::POST,
        "/api/v1/auth/password/forgot",
        &Auth::None,
        json!({ "email": "sol@example.org" }),
    )
    .await;
    let after = reelsmith_mail::latest_message_to(&t.outbox, "sol@example.org").unwrap();
    assert_eq!(before, after, "no reset code for a deleted account");

    // The confirmation is in the outbox, with the purge date.
    let mail = after.expect("a confirmation email");
    assert!(mail.subject.contains("account was deleted"), "{mail:?}");
    assert!(mail.text_body.contains(purge_by), "{mail:?}");

    let user = t
        .state
        .db
        .user_by_email("sol@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(user.is_deleted());
    let deleted = user.deleted_at.unwrap();
    let days = |ms: i64| ms / 86_400_000;
    assert_eq!(
        days(deleted + 14 * 86_400_000) - days(deleted),
        14,
        "purge_by is 14 days on"
    );
    assert!(t
        .audit_kinds("sol@example.org")
        .await
        .iter()
        .any(|k| k == "account.deleted"));
}

#[tokio::test]
async fn p_rights_4_processing_pause_is_shown_on_me_and_audited() {
    let t = app().await;
    let cookie = Auth::Cookie(t.signed_in_user("tam@example.org", "tam").await);
    assert_eq!(
        t.get("/api/v1/me", &cookie).await.json()["processing_paused"],
        false
    );
    let r = t
        .json(
            Method::PUT,
            "/api/v1/me/processing",
            &cookie,
            json!({ "paused": true }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["processing_paused"], true);
    assert_eq!(
        t.get("/api/v1/me", &cookie).await.json()["processing_paused"],
        true
    );
    let user = t
        .state
        .db
        .user_by_email("tam@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(user.processing_paused, "the queue reads this flag");
    let r = t
        .json(
            Method::PUT,
            "/api/v1/me/processing",
            &cookie,
            json!({ "paused": false }),
        )
        .await;
    assert_eq!(r.json()["processing_paused"], false);
    let audit = t.audit_kinds("tam@example.org").await;
    assert!(audit.iter().any(|k| k == "processing.paused"));
    assert!(audit.iter().any(|k| k == "processing.resumed"));
    // A malformed body is refused with a stable code, and changes nothing.
    let r = t
        .json(
            Method::PUT,
            "/api/v1/me/processing",
            &cookie,
            json!({ "paused": "yes" }),
        )
        .await;
    assert!(r.status.is_client_error());
    assert_eq!(
        t.get("/api/v1/me", &cookie).await.json()["processing_paused"],
        false
    );
    // Without a session: 401.
    t.json(
        Method::PUT,
        "/api/v1/me/processing",
        &Auth::None,
        json!({ "paused": true }),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
}

#[tokio::test]
async fn p_ret_5_a_deleted_upload_is_gone_from_storage_not_only_hidden() {
    let t = app().await;
    let cookie = Auth::Cookie(t.signed_in_user("uma@example.org", "uma").await);
    let r = t
        .upload(&cookie, "photo.jpg", "image/jpeg", &jpeg(64, 40))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let user = t
        .state
        .db
        .user_by_email("uma@example.org")
        .await
        .unwrap()
        .unwrap();
    let upload = t
        .state
        .db
        .upload_for_owner(&user.id, &id)
        .await
        .unwrap()
        .unwrap();
    let on_disk = t.dir.path().join("media").join(&upload.object_key);
    assert!(on_disk.is_file());
    assert_eq!(
        t.delete(&format!("/api/v1/uploads/{id}"), &cookie)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(!on_disk.exists(), "the object itself is deleted");
    assert!(t
        .state
        .db
        .upload_for_owner(&user.id, &id)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn p_ret_the_privacy_page_states_the_live_retention_settings() {
    let t = app_with(|c| {
        c.retention.video_days = Some(45);
        c.retention.uploads = reelsmith_config::UploadRetention::UntilJobEnds;
        c.retention.logs_months = 6;
        c.retention.purge_days = 14;
    })
    .await;
    let page = t.get("/privacy", &Auth::None).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains("deleted 45 days after they were made"),
        "{html}"
    );
    // P-RET-2: what the worker does at the job's end, and the sweep's interval for the rest.
    assert!(html.contains("deleted the moment the creation that uses them ends"));
    assert!(html.contains("retention sweep, which runs every 60 minutes"));
    assert!(!html.contains("as soon as"), "no unconditional promise");
    // P-RET-3: audit, transfers and usage all follow the log period.
    assert!(html.contains("anonymised after 6 months"));
    assert!(html.contains(
        "transfer log and the usage details of your creations are deleted after the same period"
    ));
    assert!(html.contains("erased within 14 days"));
    // P-SEC-2: no unconditional backup claim; what a database backup still holds is stated.
    assert!(html.contains("A backup of the database taken before the purge still holds your key"));
    assert!(!html.contains("copies in backups can no longer be read."));

    let defaults = app().await;
    let html =
        String::from_utf8_lossy(&defaults.get("/privacy", &Auth::None).await.body).into_owned();
    assert!(html.contains("kept until you delete them"), "{html}");
    assert!(html.contains("kept as long as the videos made from them"));
    assert!(html.contains("erased within 30 days"));
}

#[tokio::test]
async fn p_sec_6_security_events_are_audited_with_ip_and_user_agent() {
    let t = app_with(|c| c.server.trust_proxy_headers = true).await;
    let cookie = Auth::Cookie(t.signed_in_user("ivy@example.org", "ivy").await);
    t.login("ivy@example.org", "a wrong password entirely")
        .await;
    let bearer = Auth::Bearer(create_token(&t, &cookie).await);
    assert_eq!(t.get("/api/v1/me", &bearer).await.status, StatusCode::OK);
    // A second use within the touch interval is not another entry.
    assert_eq!(t.get("/api/v1/me", &bearer).await.status, StatusCode::OK);
    t.json(
        Method::POST,
        "/api/v1/me/password",
        &cookie,
        json!({ "current_password": PASSWORD, "new_password": "another long passphrase" }),
    )
    .await;
    t.json(
        Method::POST,
        "/api/v1/me/email",
        &cookie,
        json!({ "new_email": "ivy.new@example.org", "password": "another long passphrase" }),
    )
    .await;
    // Someone else's job (a real second user's): denied like a missing one, and recorded.
    let jade = Auth::Cookie(t.signed_in_user("jade@example.org", "jade").await);
    let r = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &jade,
            json!({ "script": "Jade's own little film." }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let jades_job = r.json()["id"].as_str().unwrap().to_owned();
    let denied = t.get(&format!("/api/v1/jobs/{jades_job}"), &cookie).await;
    assert_eq!(denied.status, StatusCode::NOT_FOUND);
    assert!(!String::from_utf8_lossy(&denied.body).contains("Jade's own"));
    assert_eq!(
        t.get(&format!("/api/v1/jobs/{jades_job}"), &jade)
            .await
            .status,
        StatusCode::OK,
        "the job exists: the 404 is the access control"
    );
    let user = t
        .state
        .db
        .user_by_email("ivy@example.org")
        .await
        .unwrap()
        .unwrap();
    t.json(
        Method::DELETE,
        "/api/v1/me",
        &cookie,
        json!({ "password": "another long passphrase" }),
    )
    .await;

    let entries = t
        .state
        .db
        .audit_for_user(&user.id, 100, None)
        .await
        .unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "account.created",
        "email.verified",
        "sign_in.succeeded",
        "sign_in.failed",
        "token.created",
        "api_token.used",
        "password.changed",
        "email.change_requested",
        "access.denied",
        "account.deleted",
    ] {
        assert!(kinds.contains(&kind), "{kind} is audited: {kinds:?}");
    }
    let denial = entries.iter().find(|e| e.kind == "access.denied").unwrap();
    assert_eq!(
        denial.detail.as_ref().unwrap()["job_id"],
        json!(jades_job),
        "the denied job is the other user's"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "api_token.used").count(),
        1,
        "token use is recorded once per touch interval"
    );
    for entry in &entries {
        assert_eq!(entry.ip.as_deref(), Some(CLIENT_IP), "{entry:?}");
        assert_eq!(
            entry.user_agent.as_deref(),
            Some("reelsmith-tests/1"),
            "{entry:?}"
        );
    }
}

#[tokio::test]
async fn p_vis_1_nothing_a_user_makes_answers_to_another_user_or_to_nobody() {
    let t = app().await;
    let owner = Auth::Cookie(t.signed_in_user("kim@example.org", "kim").await);
    let other = Auth::Cookie(t.signed_in_user("lou@example.org", "lou").await);
    let upload = t
        .upload(&owner, "photo.jpg", "image/jpeg", &jpeg(64, 40))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &owner,
            json!({ "script": "Kim's private film.", "media": [upload] }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let job = r.json()["id"].as_str().unwrap().to_owned();
    let paths = [
        format!("/api/v1/jobs/{job}"),
        format!("/api/v1/jobs/{job}/revisions"),
        format!("/api/v1/jobs/{job}/transfers"),
        format!("/api/v1/jobs/{job}/video"),
        format!("/api/v1/jobs/{job}/poster"),
        format!("/api/v1/jobs/{job}/captions.vtt"),
        format!("/api/v1/uploads/{upload}"),
        format!("/api/v1/uploads/{upload}/content"),
    ];
    for path in &paths {
        let theirs = t.get(path, &other).await;
        assert_eq!(
            theirs.status,
            StatusCode::NOT_FOUND,
            "{path} for another user"
        );
        assert!(
            !String::from_utf8_lossy(&theirs.body).contains("Kim's"),
            "{path}"
        );
        assert_eq!(
            t.get(path, &Auth::None).await.status,
            StatusCode::UNAUTHORIZED,
            "{path} without a session"
        );
    }
    // The owner sees them (the refusals above are access control, not missing things).
    assert_eq!(t.get(&paths[0], &owner).await.status, StatusCode::OK);
    assert_eq!(t.get(&paths[7], &owner).await.status, StatusCode::OK);
    // Lists show only one's own.
    assert_eq!(t.get("/api/v1/jobs", &other).await.json(), json!([]));
    assert_eq!(
        t.get("/api/v1/uploads", &other)
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}

#[tokio::test]
async fn p_rights_3_a_job_and_then_the_whole_account_can_be_erased() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("max@example.org", "max").await);
    let r = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &user,
            json!({ "script": "Something to erase." }),
        )
        .await;
    let job = r.json()["id"].as_str().unwrap().to_owned();
    let deleted = t.delete(&format!("/api/v1/jobs/{job}"), &user).await;
    assert!(
        deleted.status.is_success(),
        "{}",
        String::from_utf8_lossy(&deleted.body)
    );
    assert_eq!(
        t.get(&format!("/api/v1/jobs/{job}"), &user).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        t.state.db.job_by_id(&job).await.unwrap().is_none(),
        "gone, not hidden"
    );
    let r = t
        .json(
            Method::DELETE,
            "/api/v1/me",
            &user,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        t.get("/api/v1/me", &user).await.status,
        StatusCode::UNAUTHORIZED
    );
    t.login("max@example.org", PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
}

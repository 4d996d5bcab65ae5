//! The API end to end, in-process: accounts, tokens, uploads, jobs, ranges, errors.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use reelsmith_server::{output_key, Output};
use reelsmith_store::{now_ms, RunLimits};
use serde_json::{json, Value};

fn spec_with(media: &[&str]) -> Value {
    json!({ "script": "A harbour at dawn. Boats leave one by one.", "media": media, "seed": 7 })
}

#[tokio::test]
async fn p_sec_4_full_flow_and_another_users_job_upload_and_video_are_404() {
    let t = app().await;
    let alice = Auth::Cookie(t.signed_in_user("alice@example.org", "alice").await);

    let me = t.get("/api/v1/me", &alice).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["username"], "alice");
    assert_eq!(me.json()["email_verified"], true);

    // An API token authenticates like the cookie.
    let created = t
        .json(
            Method::POST,
            "/api/v1/tokens",
            &alice,
            json!({ "name": "laptop" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let token = created.json()["token"].as_str().unwrap().to_owned();
    let bearer = Auth::Bearer(token.clone());
    let listed = t.get("/api/v1/tokens", &bearer).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(&token),
        "the list must not show the secret"
    );

    let up = t
        .upload(&bearer, "harbour.jpg", "image/jpeg", &jpeg(64, 40))
        .await;
    assert_eq!(
        up.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&up.body)
    );
    let upload = up.json();
    assert_eq!(upload["kind"], "image");
    assert_eq!(upload["width"], 64);
    let upload_id = upload["id"].as_str().unwrap().to_owned();

    let job = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &bearer,
            spec_with(&[&upload_id]),
        )
        .await;
    assert_eq!(
        job.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&job.body)
    );
    let job = job.json();
    assert_eq!(job["status"], "queued");
    assert_eq!(job["params"]["media"][0], upload_id.as_str());
    assert!(job["error"].is_null());
    let job_id = job["id"].as_str().unwrap().to_owned();
    let got = t.get(&format!("/api/v1/jobs/{job_id}"), &alice).await;
    assert_eq!(got.status, StatusCode::OK);
    for field in [
        "id",
        "status",
        "stage",
        "progress",
        "created_at",
        "updated_at",
        "params",
        "error",
        "usage",
    ] {
        assert!(got.json().get(field).is_some(), "missing {field}");
    }
    assert_eq!(
        t.get("/api/v1/jobs", &alice)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Bob sees none of it, and cannot tell it exists.
    let bob = Auth::Cookie(t.signed_in_user("bob@example.org", "bob").await);
    for uri in [
        format!("/api/v1/jobs/{job_id}"),
        format!("/api/v1/jobs/{job_id}/video"),
        format!("/api/v1/jobs/{job_id}/events"),
        format!("/api/v1/jobs/{job_id}/revisions"),
        format!("/api/v1/jobs/{job_id}/poster"),
        format!("/api/v1/jobs/{job_id}/captions.vtt"),
        format!("/api/v1/jobs/{job_id}/captions.srt"),
        format!("/api/v1/jobs/{job_id}/transfers"),
        format!("/api/v1/uploads/{upload_id}"),
        format!("/api/v1/uploads/{upload_id}/content"),
    ] {
        t.get(&uri, &bob)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
        // Nor can anyone without a session (P-VIS-1: private by default).
        t.get(&uri, &Auth::None)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    }
    t.get("/api/v1/jobs/no-such-job", &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.delete(&format!("/api/v1/jobs/{job_id}"), &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.delete(&format!("/api/v1/uploads/{upload_id}"), &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(t
        .get("/api/v1/jobs", &bob)
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
    // Bob cannot use Alice's upload in his own job either: it is "unknown", as a missing one is.
    t.json(Method::POST, "/api/v1/jobs", &bob, spec_with(&[&upload_id]))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "job.unknown_upload");
    // The denials are audit-logged (P-SEC-6).
    let bob_id = t.get("/api/v1/me", &bob).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let entries = t.state.db.audit_for_user(&bob_id, 100, None).await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.kind == "access.denied"
                && e.user_agent.as_deref() == Some("reelsmith-tests/1"))
    );

    // Revoking the token ends its access.
    let token_id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        t.delete(&format!("/api/v1/tokens/{token_id}"), &alice)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    t.get("/api/v1/me", &bearer)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
}

#[tokio::test]
async fn p_acc_6_login_sets_one_httponly_samesite_cookie_and_logout_ends_it() {
    let t = app().await;
    let r = t.signup("carol@example.org", "carol").await;
    assert_eq!(r.status, StatusCode::CREATED);
    // Unverified accounts cannot sign in, with a code that says why.
    t.login("carol@example.org", PASSWORD)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "auth.email_unverified");
    let code = t.latest_code("carol@example.org");
    t.json(
        Method::POST,
        "/api/v1/auth/verify",
        &Auth::None,
        json!({ "email": "carol@example.org", "code": code }),
    )
    .await;
    let r = t.login("CAROL@example.org", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    let cookies: Vec<_> = r.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 1);
    let cookie = cookies[0].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http public URL: no Secure flag"
    );
    let session = Auth::Cookie(session_from(&r));
    let sessions = t.get("/api/v1/sessions", &session).await.json();
    assert_eq!(sessions[0]["current"], true);
    let out = t
        .send(
            t.request(Method::POST, "/api/v1/auth/logout", &session)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    t.get("/api/v1/me", &session)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    // A wrong password is one code, whether or not the account exists.
    t.login("carol@example.org", "wrong password here")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    t.login("nobody@example.org", PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
}

#[tokio::test]
async fn p_sec_3_cookie_is_secure_when_the_public_url_is_https() {
    let t = app_with(|c| c.server.public_url = Some("https://video.example.org".into())).await;
    t.signed_in_user("dora@example.org", "dora").await;
    let r = t.login("dora@example.org", PASSWORD).await;
    assert!(r.header("set-cookie").contains("; Secure"));
}

#[tokio::test]
async fn p_acc_7_signup_refuses_the_underage_and_a_missing_age_statement() {
    let t = app().await;
    let year = reelsmith_auth::current_utc_year();
    let body = |extra: Value| {
        let mut b = json!({ "email": "kid@example.org", "password": PASSWORD, "username": "kid" });
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    t.json(
        Method::POST,
        "/api/v1/auth/signup",
        &Auth::None,
        body(json!({ "birth_year": year - 10 })),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "auth.too_young");
    t.json(
        Method::POST,
        "/api/v1/auth/signup",
        &Auth::None,
        body(json!({ "age_confirmed": false })),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "auth.too_young");
    t.json(
        Method::POST,
        "/api/v1/auth/signup",
        &Auth::None,
        body(json!({})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "auth.age_required");
    let r = t
        .json(
            Method::POST,
            "/api/v1/auth/signup",
            &Auth::None,
            body(json!({ "birth_year": year - 30 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    t.signup("kid@example.org", "kid2")
        .await
        .assert_problem(StatusCode::CONFLICT, "account.email_taken");
}

#[tokio::test]
async fn p_acc_1_password_is_stored_only_as_an_argon2id_hash() {
    let t = app().await;
    t.signup("erin@example.org", "erin").await;
    let user = t
        .state
        .db
        .user_by_email("erin@example.org")
        .await
        .unwrap()
        .unwrap();
    let hash = user.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn p_acc_2_wrong_codes_are_counted_and_a_used_code_does_not_work_twice() {
    let t = app().await;
    t.signup("finn@example.org", "finn").await;
    let code = t.latest_code("finn@example.org");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let verify = |c: &str| {
        t.json(
            Method::POST,
            "/api/v1/auth/verify",
            &Auth::None,
            json!({ "email": "finn@example.org", "code": c }),
        )
    };
    verify(wrong)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "auth.code_invalid");
    assert_eq!(verify(&code).await.status, StatusCode::OK);
    verify(&code)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "auth.code_invalid");
}

#[tokio::test]
async fn p_acc_2_every_wrong_guess_counts_until_the_right_code_is_refused_too() {
    // The per-address rate limit is raised out of the way: this is the code's own count.
    let t = app_with(|c| c.rate_limits.codes.count = 100).await;
    let max = usize::try_from(reelsmith_store::MAX_CODE_ATTEMPTS).unwrap();
    let verify = |email: &'static str, c: String| {
        let t = &t;
        async move {
            t.json(
                Method::POST,
                "/api/v1/auth/verify",
                &Auth::None,
                json!({ "email": email, "code": c }),
            )
            .await
        }
    };
    let wrong_for = |code: &str| if code == "000000" { "111111" } else { "000000" }.to_owned();
    // One guess short of the limit: the right code still works.
    t.signup("gus@example.org", "gus").await;
    let code = t.latest_code("gus@example.org");
    for _ in 1..max {
        verify("gus@example.org", wrong_for(&code))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "auth.code_invalid");
    }
    assert_eq!(verify("gus@example.org", code).await.status, StatusCode::OK);
    // At the limit: the right code is refused, so the wrong ones were counted.
    t.signup("hal@example.org", "hal").await;
    let code = t.latest_code("hal@example.org");
    for _ in 0..max {
        verify("hal@example.org", wrong_for(&code))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "auth.code_invalid");
    }
    verify("hal@example.org", code)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "auth.code_attempts_exhausted");
    let me = t
        .state
        .db
        .user_by_email("hal@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(me.email_verified_at.is_none(), "still unverified");
}

#[tokio::test]
async fn p_sec_7_code_guesses_and_sign_ups_are_rate_limited_over_http() {
    let t = app_with(|c| {
        c.rate_limits.codes.count = 3;
        c.rate_limits.sign_up.count = 2;
    })
    .await;
    assert_eq!(
        t.signup("ida@example.org", "ida").await.status,
        StatusCode::CREATED
    );
    let code = t.latest_code("ida@example.org");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let verify = |c: &str| {
        t.json(
            Method::POST,
            "/api/v1/auth/verify",
            &Auth::None,
            json!({ "email": "ida@example.org", "code": c }),
        )
    };
    for _ in 0..3 {
        verify(wrong)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "auth.code_invalid");
    }
    // The fourth try in the window is refused before the code is even looked at.
    let limited = verify(&code).await;
    limited.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(limited.header("retry-after").parse::<u64>().unwrap() >= 1);
    // Reset codes share the limit per address; forgot answers the same either way.
    let r = t
        .json(
            Method::POST,
            "/api/v1/auth/password/reset",
            &Auth::None,
            json!({ "email": "ida@example.org", "code": code, "new_password": "quartz-meadow-falcon-17" }),
        )
        .await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    // Sign-ups: two from this address, the third refused and nothing created.
    assert_eq!(
        t.signup("jon@example.org", "jon").await.status,
        StatusCode::CREATED
    );
    t.signup("kai@example.org", "kai")
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(t
        .state
        .db
        .user_by_email("kai@example.org")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn p_acc_3_password_reset_ends_every_session_and_sends_a_notice() {
    let t = app().await;
    let first = Auth::Cookie(t.signed_in_user("gail@example.org", "gail").await);
    let second = Auth::Cookie(session_from(&t.login("gail@example.org", PASSWORD).await));
    assert_eq!(
        t.get("/api/v1/sessions", &first)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        // Verifying the address signs in too, so sign-up, verification and the login make three.
        3
    );

    let r = t
        .json(
            Method::POST,
            "/api/v1/auth/password/forgot",
            &Auth::None,
            json!({ "email": "gail@example.org" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // Unknown addresses get the same answer (no account enumeration).
    let unknown = t
        .json(
            Method::POST,
            "/api/v1/auth/password/forgot",
            &Auth::None,
            json!({ "email": "nobody@example.org" }),
        )
        .await;
    assert_eq!((unknown.status, unknown.json()), (r.status, r.json()));

    let code = t.latest_code("gail@example.org");
    let new_password = "quartz-meadow-falcon-17";
    let r = t
        .json(
            Method::POST,
            "/api/v1/auth/password/reset",
            &Auth::None,
            json!({ "email": "gail@example.org", "code": code, "new_password": new_password }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    for session in [&first, &second] {
        t.get("/api/v1/me", session)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    }
    t.login("gail@example.org", PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    assert_eq!(
        t.login("gail@example.org", new_password).await.status,
        StatusCode::OK
    );
    let notice = reelsmith_mail::latest_message_to(&t.outbox, "gail@example.org")
        .unwrap()
        .unwrap();
    assert!(
        notice.subject.contains("password was changed"),
        "the newest mail is the security notice: {}",
        notice.subject
    );
    assert!(
        notice.text_body.contains("Your password was changed")
            && notice.text_body.contains("When")
            && notice.text_body.contains("From address"),
        "the notice says what happened, when and from where: {}",
        notice.text_body
    );
    assert!(
        !notice.text_body.contains(&code) && !notice.text_body.contains(new_password),
        "{}",
        notice.text_body
    );
    let audit = t.audit_kinds("gail@example.org").await;
    assert!(audit.iter().any(|kind| kind == "password.reset"));
    assert!(audit.iter().any(|kind| kind == "sign_in.succeeded"));
}

#[tokio::test]
async fn idempotency_key_gives_one_job() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("hana@example.org", "hana").await);
    let submit = || async {
        let request = t
            .request(Method::POST, "/api/v1/jobs", &user)
            .header("content-type", "application/json")
            .header("idempotency-key", "render-2024-05-01-a")
            .body(axum::body::Body::from(spec_with(&[]).to_string()))
            .unwrap();
        t.send(request).await
    };
    let first = submit().await;
    let second = submit().await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(first.json()["id"], second.json()["id"]);
    assert_eq!(
        t.get("/api/v1/jobs", &user)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn p_sec_7_sign_in_and_job_submission_are_rate_limited() {
    let t = app_with(|c| {
        c.rate_limits.sign_in.count = 3;
        c.rate_limits.job_submission.count = 2;
    })
    .await;
    let user = Auth::Cookie(t.signed_in_user("ivan@example.org", "ivan").await);
    for _ in 0..3 {
        t.login("ivan@example.org", "not the password at all")
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    }
    let limited = t.login("ivan@example.org", PASSWORD).await;
    limited.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(limited.header("retry-after").parse::<u64>().unwrap() >= 1);

    for _ in 0..2 {
        assert_eq!(
            t.json(Method::POST, "/api/v1/jobs", &user, spec_with(&[]))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    t.json(Method::POST, "/api/v1/jobs", &user, spec_with(&[]))
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

/// Plays the worker: claims the job and records a finished revision whose video is `video`.
async fn finish_with_video(t: &TestApp, job_id: &str, video: &[u8]) -> String {
    let claimed = t
        .state
        .db
        .claim_next_job("test-worker", 60_000, RunLimits::default(), now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.job.id, job_id);
    let key = output_key(job_id, claimed.lease.revision, Output::Video);
    let owner = t
        .state
        .media
        .for_owner(&claimed.job.owner_id)
        .await
        .unwrap();
    owner
        .put_bytes(&key, bytes::Bytes::copy_from_slice(video))
        .await
        .unwrap();
    let vtt = output_key(job_id, claimed.lease.revision, Output::CaptionsVtt);
    owner
        .put_bytes(
            &vtt,
            bytes::Bytes::from_static(b"WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n"),
        )
        .await
        .unwrap();
    let usage = json!({ "engine": "studio", "output_seconds": 1.0 });
    t.state
        .db
        .finish_job(&claimed.lease, &[key.clone(), vtt], &usage, now_ms())
        .await
        .unwrap();
    key
}

#[tokio::test]
async fn job_video_serves_ranges_first_middle_suffix_and_416() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("jade@example.org", "jade").await);
    let job = t
        .json(Method::POST, "/api/v1/jobs", &user, spec_with(&[]))
        .await
        .json();
    let id = job["id"].as_str().unwrap();
    let uri = format!("/api/v1/jobs/{id}/video");
    t.get(&uri, &user)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "job.output_not_ready");

    let video: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    finish_with_video(&t, id, &video).await;

    let whole = t.get(&uri, &user).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.header("accept-ranges"), "bytes");
    assert_eq!(whole.header("content-type"), "video/mp4");
    assert_eq!(&whole.body[..], &video[..]);

    let first = t.get_with(&uri, &user, "range", "bytes=0-99").await;
    assert_eq!(first.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(first.header("content-range"), "bytes 0-99/10000");
    assert_eq!(first.header("content-length"), "100");
    assert_eq!(&first.body[..], &video[..100]);

    let middle = t.get_with(&uri, &user, "range", "bytes=4000-4999").await;
    assert_eq!(middle.header("content-range"), "bytes 4000-4999/10000");
    assert_eq!(&middle.body[..], &video[4000..5000]);

    let open = t.get_with(&uri, &user, "range", "bytes=9990-").await;
    assert_eq!(&open.body[..], &video[9990..]);

    let suffix = t.get_with(&uri, &user, "range", "bytes=-500").await;
    assert_eq!(suffix.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(suffix.header("content-range"), "bytes 9500-9999/10000");
    assert_eq!(&suffix.body[..], &video[9500..]);

    let beyond = t.get_with(&uri, &user, "range", "bytes=10000-20000").await;
    beyond.assert_problem(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "media.range_not_satisfiable",
    );
    assert_eq!(beyond.header("content-range"), "bytes */10000");

    let vtt = t
        .get(&format!("/api/v1/jobs/{id}/captions.vtt"), &user)
        .await;
    assert_eq!(vtt.status, StatusCode::OK);
    assert!(vtt.body.starts_with(b"WEBVTT"));
    t.get(&format!("/api/v1/jobs/{id}/poster"), &user)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "job.output_not_ready");

    // The finished job reads as succeeded with its usage (P-IN-6), and its events end there.
    let done = t.get(&format!("/api/v1/jobs/{id}"), &user).await.json();
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["usage"]["engine"], "studio");
    let events = t.get(&format!("/api/v1/jobs/{id}/events"), &user).await;
    assert_eq!(events.header("content-type"), "text/event-stream");
    let text = String::from_utf8_lossy(&events.body);
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(kinds, ["queued", "started", "succeeded"], "{text}");
}

#[tokio::test]
async fn p_vis_4_revisions_keep_earlier_versions_viewable_and_delete_removes_outputs() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("kai@example.org", "kai").await);
    let job = t
        .json(Method::POST, "/api/v1/jobs", &user, spec_with(&[]))
        .await
        .json();
    let id = job["id"].as_str().unwrap().to_owned();
    let first_video = b"first revision video".to_vec();
    let first_key = finish_with_video(&t, &id, &first_video).await;

    let revised = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{id}/revisions"),
            &user,
            json!({ "script": "A new script." }),
        )
        .await;
    assert_eq!(
        revised.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&revised.body)
    );
    assert_eq!(revised.json()["revision"], 2);
    assert_eq!(revised.json()["status"], "queued");
    let revisions = t
        .get(&format!("/api/v1/jobs/{id}/revisions"), &user)
        .await
        .json();
    assert_eq!(revisions.as_array().unwrap().len(), 2);
    assert_eq!(revisions[0]["status"], "succeeded");
    assert_eq!(revisions[1]["params"]["script"], "A new script.");
    let old = t
        .get(&format!("/api/v1/jobs/{id}/video?revision=1"), &user)
        .await;
    assert_eq!(&old.body[..], &first_video[..]);

    assert_eq!(
        t.delete(&format!("/api/v1/jobs/{id}"), &user).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(
        t.state.media.head(&first_key).await.unwrap().is_none(),
        "outputs are deleted with the job"
    );
    t.get(&format!("/api/v1/jobs/{id}"), &user)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn p_in_3_uploaded_gps_jpeg_is_stored_without_metadata() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("lena@example.org", "lena").await);
    let tagged = jpeg_with_gps(80, 60);
    assert!(contains(&tagged, b"Exif") && contains(&tagged, b"GPSLatitude"));
    let up = t.upload(&user, "holiday.jpg", "image/jpeg", &tagged).await;
    assert_eq!(
        up.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&up.body)
    );
    let id = up.json()["id"].as_str().unwrap().to_owned();
    let stored = t.get(&format!("/api/v1/uploads/{id}/content"), &user).await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(stored.header("content-type"), "image/jpeg");
    let markers = reelsmith_media::upload::jpeg_segment_markers(&stored.body);
    assert!(markers.contains(&0xDA));
    assert!(
        !markers.contains(&0xE1),
        "an APP1 (EXIF/XMP) segment survived: {markers:x?}"
    );
    for needle in [&b"Exif"[..], b"GPSLatitude", b"xmpmeta", b"S99"] {
        assert!(!contains(&stored.body, needle));
    }
    let decoded = image::load_from_memory(&stored.body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (80, 60));
    // The object in storage is the clean one, too (what workers and providers would read).
    let upload = t
        .state
        .db
        .upload_for_owner(
            t.get("/api/v1/me", &user).await.json()["id"]
                .as_str()
                .unwrap(),
            &id,
        )
        .await
        .unwrap()
        .unwrap();
    let raw = t
        .state
        .media
        .for_owner(&upload.owner_id)
        .await
        .unwrap()
        .get_bytes(&upload.object_key)
        .await
        .unwrap();
    assert!(!contains(&raw, b"Exif"));
    assert_eq!(upload.size as usize, raw.len());
}

#[tokio::test]
async fn a_text_file_named_jpg_is_refused() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("milo@example.org", "milo").await);
    let text = b"This is a plain text file pretending to be a photo.\nLine two.\n".repeat(20);
    t.upload(&user, "photo.jpg", "image/jpeg", &text)
        .await
        .assert_problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "upload.unsupported_type",
        );
    // A JPEG header with garbage behind it is refused by the decoder instead.
    let mut fake = vec![0xFF, 0xD8, 0xFF, 0xE0];
    fake.extend_from_slice(&text);
    let r = t.upload(&user, "photo.jpg", "image/jpeg", &fake).await;
    assert!(r.status.is_client_error(), "{:?}", r.status);
    assert!(r.json()["code"].as_str().unwrap().starts_with("image."));
    assert!(t
        .get("/api/v1/uploads", &user)
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn p_sec_7_uploads_over_the_size_limit_are_refused() {
    let t = app_with(|c| c.limits.max_file_bytes = 2_000).await;
    let user = Auth::Cookie(t.signed_in_user("nina@example.org", "nina").await);
    t.upload(&user, "big.jpg", "image/jpeg", &jpeg(400, 300))
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "upload.too_large");
}

#[tokio::test]
async fn audio_uploads_are_probed_and_deleted_on_request() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("omar@example.org", "omar").await);
    // One second of 8 kHz mono 16-bit silence as a WAV file.
    let samples = 8000u32;
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples * 2).to_le_bytes());
    wav.extend(std::iter::repeat_n(0u8, (samples * 2) as usize));
    let up = t
        .upload(&user, "voice.bin", "application/octet-stream", &wav)
        .await;
    assert_eq!(
        up.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&up.body)
    );
    let view = up.json();
    assert_eq!(view["kind"], "audio");
    assert_eq!(view["mime"], "audio/wav");
    assert!((view["duration"].as_f64().unwrap() - 1.0).abs() < 0.01);
    let id = view["id"].as_str().unwrap();
    // An audio upload is no picture.
    t.json(Method::POST, "/api/v1/jobs", &user, spec_with(&[id]))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "job.media_not_visual");
    assert_eq!(
        t.delete(&format!("/api/v1/uploads/{id}"), &user)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    t.get(&format!("/api/v1/uploads/{id}"), &user)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn errors_are_problem_json_with_stable_codes() {
    let t = app().await;
    t.get("/api/v1/me", &Auth::None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    t.get("/api/v1/me", &Auth::Bearer("garbage".into()))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    t.get("/no/such/route", &Auth::None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let broken = t
        .send(
            t.request(Method::POST, "/api/v1/auth/login", &Auth::None)
                .header("content-type", "application/json")
                .body(axum::body::Body::from("{not json"))
                .unwrap(),
        )
        .await;
    broken.assert_problem(StatusCode::BAD_REQUEST, "request.invalid_json");
    t.json(
        Method::POST,
        "/api/v1/auth/login",
        &Auth::None,
        json!({ "email": 5 }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "request.invalid_fields");
    let huge = "x".repeat(400 * 1024);
    t.json(
        Method::POST,
        "/api/v1/auth/login",
        &Auth::None,
        json!({ "email": huge, "password": "p" }),
    )
    .await
    .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "request.too_large");
    t.json(Method::POST, "/api/v1/auth/signup", &Auth::None, json!({ "email": "not-an-email", "password": PASSWORD, "username": "x1y2z3", "age_confirmed": true }))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "auth.invalid_email");
    let user = Auth::Cookie(t.signed_in_user("pia@example.org", "pia").await);
    t.json(Method::POST, "/api/v1/jobs", &user, json!({ "script": "" }))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "script.empty");
    t.json(
        Method::POST,
        "/api/v1/jobs",
        &user,
        json!({ "script": "Hi.", "fps": 7 }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "spec.invalid_fps");
    t.json(
        Method::POST,
        "/api/v1/jobs",
        &user,
        json!({ "script": "Hi.", "colour": "red" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "spec.invalid");
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let t = app_with(|c| c.metrics.token = Some("scraper-token-8f3k2m9q".into())).await;
    assert_eq!(t.get("/healthz", &Auth::None).await.status, StatusCode::OK);
    let ready = t.get("/readyz", &Auth::None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["database"], "ok");
    let user = Auth::Cookie(t.signed_in_user("quin@example.org", "quin").await);
    t.json(Method::POST, "/api/v1/jobs", &user, spec_with(&[]))
        .await;
    let id_header = t.get("/healthz", &Auth::None).await;
    assert!(
        !id_header.header("x-request-id").is_empty(),
        "every answer carries its request id"
    );
    let scraper = Auth::Bearer("scraper-token-8f3k2m9q".into());
    let metrics = String::from_utf8(t.get("/metrics", &scraper).await.body.to_vec()).unwrap();
    assert!(
        metrics.contains("reelsmith_http_requests_total{route=\"/api/v1/jobs\",status=\"201\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reelsmith_jobs{status=\"queued\"} 1"),
        "{metrics}"
    );
    let doc = t.get("/api/openapi.json", &Auth::None).await.json();
    for path in [
        "/api/v1/auth/signup",
        "/api/v1/jobs/{id}/video",
        "/api/v1/uploads",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let page = t.get("/api/docs", &Auth::None).await;
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("/api/openapi.json"));
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "the docs page loads nothing from outside"
    );
}

#[tokio::test]
async fn p_vis_4_an_earlier_revision_is_deleted_with_its_objects_and_the_current_one_is_refused() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("lia@example.org", "lia").await);
    let stranger = Auth::Cookie(t.signed_in_user("moe@example.org", "moe").await);
    let job = t
        .json(Method::POST, "/api/v1/jobs", &user, spec_with(&[]))
        .await
        .json();
    let id = job["id"].as_str().unwrap().to_owned();
    let first_key = finish_with_video(&t, &id, b"first").await;
    let vtt = output_key(&id, 1, Output::CaptionsVtt);
    // An object the worker left under the revision's folder without recording it.
    let stray = format!("jobs/{id}/r1/scratch.bin");
    let owner_id = t.state.db.job_by_id(&id).await.unwrap().unwrap().owner_id;
    t.state
        .media
        .for_owner(&owner_id)
        .await
        .unwrap()
        .put_bytes(&stray, bytes::Bytes::from_static(b"x"))
        .await
        .unwrap();
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{id}/revisions"),
            &user,
            json!({ "script": "Second take." }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let second_key = finish_with_video(&t, &id, b"second").await;

    t.delete(&format!("/api/v1/jobs/{id}/revisions/2"), &user)
        .await
        .assert_problem(StatusCode::CONFLICT, "job.revision_is_current");
    // Another user's job and an unknown revision are both 404 not_found (P-SEC-4).
    t.delete(&format!("/api/v1/jobs/{id}/revisions/1"), &stranger)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.delete(&format!("/api/v1/jobs/{id}/revisions/9"), &user)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(t.state.media.head(&first_key).await.unwrap().is_some());

    let r = t
        .delete(&format!("/api/v1/jobs/{id}/revisions/1"), &user)
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    for key in [&first_key, &vtt, &stray] {
        assert!(
            t.state.media.head(key).await.unwrap().is_none(),
            "{key} is deleted with its revision"
        );
    }
    assert!(t.state.media.head(&second_key).await.unwrap().is_some());
    let revisions = t
        .get(&format!("/api/v1/jobs/{id}/revisions"), &user)
        .await
        .json();
    assert_eq!(revisions.as_array().unwrap().len(), 1);
    assert_eq!(revisions[0]["revision"], 2);
    t.get(&format!("/api/v1/jobs/{id}/video?revision=1"), &user)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        t.get(&format!("/api/v1/jobs/{id}/video"), &user).await.body[..],
        b"second"[..]
    );
    t.delete(&format!("/api/v1/jobs/{id}/revisions/1"), &user)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(t
        .audit_kinds("lia@example.org")
        .await
        .iter()
        .any(|kind| kind == "job.revision_deleted"));
}

#[tokio::test]
async fn p_acc_5_display_name_is_trimmed_and_checked() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("nia@example.org", "nia").await);
    let r = t
        .json(
            Method::PATCH,
            "/api/v1/me",
            &user,
            json!({ "display_name": "  Nia Okafor  " }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["display_name"], "Nia Okafor");
    assert_eq!(
        t.get("/api/v1/me", &user).await.json()["display_name"],
        "Nia Okafor"
    );
    for bad in ["   ", &"x".repeat(81)] {
        t.json(
            Method::PATCH,
            "/api/v1/me",
            &user,
            json!({ "display_name": bad }),
        )
        .await
        .assert_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "account.invalid_display_name",
        );
    }
    assert_eq!(
        t.json(
            Method::PATCH,
            "/api/v1/me",
            &user,
            json!({ "display_name": "é".repeat(80) }),
        )
        .await
        .status,
        StatusCode::OK
    );
    t.json(
        Method::PATCH,
        "/api/v1/me",
        &Auth::None,
        json!({ "display_name": "Nobody" }),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    assert!(t
        .audit_kinds("nia@example.org")
        .await
        .iter()
        .any(|kind| kind == "profile.updated"));
}

#[tokio::test]
async fn p_acc_3_password_change_checks_the_current_one_and_ends_other_sessions() {
    let t = app().await;
    let mine = Auth::Cookie(t.signed_in_user("ode@example.org", "ode").await);
    let other = Auth::Cookie(session_from(&t.login("ode@example.org", PASSWORD).await));
    let new_password = "quartz-meadow-falcon-17";
    t.json(
        Method::POST,
        "/api/v1/me/password",
        &mine,
        json!({ "current_password": "not-my-password-at-all", "new_password": new_password }),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    t.json(
        Method::POST,
        "/api/v1/me/password",
        &mine,
        json!({ "current_password": PASSWORD, "new_password": "short" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "auth.weak_password");
    // Nothing changed so far: both sessions live, the old password works.
    assert_eq!(t.get("/api/v1/me", &other).await.status, StatusCode::OK);

    let r = t
        .json(
            Method::POST,
            "/api/v1/me/password",
            &mine,
            json!({ "current_password": PASSWORD, "new_password": new_password }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(t.get("/api/v1/me", &mine).await.status, StatusCode::OK);
    t.get("/api/v1/me", &other)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    t.login("ode@example.org", PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    assert_eq!(
        t.login("ode@example.org", new_password).await.status,
        StatusCode::OK
    );
    let audit = t.audit_kinds("ode@example.org").await;
    assert!(audit.iter().any(|kind| kind == "password.changed"));
    assert!(audit.iter().any(|kind| kind == "password.check_failed"));
}

#[tokio::test]
async fn p_sec_7_password_guesses_through_a_session_are_rate_limited() {
    let t = app_with(|c| c.rate_limits.sign_in.count = 2).await;
    let mine = Auth::Cookie(t.signed_in_user("pam@example.org", "pam").await);
    let guess = json!({ "current_password": "wrong-guess-number-one", "new_password": "quartz-meadow-falcon-17" });
    for _ in 0..2 {
        t.json(Method::POST, "/api/v1/me/password", &mine, guess.clone())
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    }
    t.json(Method::POST, "/api/v1/me/password", &mine, guess)
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[tokio::test]
async fn p_acc_5_email_change_takes_effect_only_with_the_code_sent_to_the_new_address() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("quin@example.org", "quin").await);
    let other = Auth::Cookie(t.signed_in_user("rae@example.org", "rae").await);
    let change = |email: &str, password: &str| json!({ "new_email": email, "password": password });

    t.json(
        Method::POST,
        "/api/v1/me/email",
        &user,
        change("quinn@example.org", "not-my-password-at-all"),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    t.json(
        Method::POST,
        "/api/v1/me/email",
        &user,
        change("RAE@example.org", PASSWORD),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "account.email_taken");

    let r = t
        .json(
            Method::POST,
            "/api/v1/me/email",
            &user,
            change("quinn@example.org", PASSWORD),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let code = t.latest_code("quinn@example.org");
    let notice = reelsmith_mail::latest_message_to(&t.outbox, "quin@example.org")
        .unwrap()
        .unwrap();
    assert!(
        notice.text_body.contains("quinn@example.org") && !notice.text_body.contains(&code),
        "the old address is told, without the code: {}",
        notice.text_body
    );
    // Until verified, nothing changes.
    assert_eq!(
        t.get("/api/v1/me", &user).await.json()["email"],
        "quin@example.org"
    );

    let wrong = if code == "000000" { "111111" } else { "000000" };
    t.json(
        Method::POST,
        "/api/v1/me/email/verify",
        &user,
        json!({ "code": wrong }),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "auth.code_invalid");
    // Another account cannot use the code.
    t.json(
        Method::POST,
        "/api/v1/me/email/verify",
        &other,
        json!({ "code": code }),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "auth.code_invalid");

    let r = t
        .json(
            Method::POST,
            "/api/v1/me/email/verify",
            &user,
            json!({ "code": code }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["email"], "quinn@example.org");
    assert_eq!(r.json()["email_verified"], true);
    assert_eq!(
        t.login("quinn@example.org", PASSWORD).await.status,
        StatusCode::OK
    );
    t.login("quin@example.org", PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.invalid_credentials");
    t.json(
        Method::POST,
        "/api/v1/me/email/verify",
        &user,
        json!({ "code": code }),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "auth.code_invalid");

    // Taken meanwhile: the code is right but the address went to someone else.
    let r = t
        .json(
            Method::POST,
            "/api/v1/me/email",
            &user,
            change("sam@example.org", PASSWORD),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let code = t.latest_code("sam@example.org");
    t.signup("sam@example.org", "sam").await;
    t.json(
        Method::POST,
        "/api/v1/me/email/verify",
        &user,
        json!({ "code": code }),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "account.email_taken");
    assert_eq!(
        t.get("/api/v1/me", &user).await.json()["email"],
        "quinn@example.org"
    );

    let audit = t.audit_kinds("quinn@example.org").await;
    assert!(audit.iter().any(|kind| kind == "email.change_requested"));
    assert!(audit.iter().any(|kind| kind == "email.changed"));
    assert!(audit.iter().any(|kind| kind == "email.change_conflict"));
}

/// P-SEC-2: a sealed job video is served through the real API with exactly the right bytes at
/// the 64 KiB segment boundaries and across them.
#[tokio::test]
async fn p_sec_2_job_video_ranges_are_exact_at_and_across_segment_boundaries() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("sam@example.org", "sam").await);
    let job = t
        .json(Method::POST, "/api/v1/jobs", &user, spec_with(&[]))
        .await
        .json();
    let id = job["id"].as_str().unwrap();
    let seg = 64 * 1024usize;
    let len = 3 * seg + 1000;
    let video: Vec<u8> = (0..len as u32).map(|i| (i * 7 % 251) as u8).collect();
    let key = finish_with_video(&t, id, &video).await;
    let uri = format!("/api/v1/jobs/{id}/video");

    let whole = t.get(&uri, &user).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.header("content-length"), len.to_string());
    assert_eq!(&whole.body[..], &video[..]);

    let s = seg;
    for (a, b) in [
        (0, s - 1),
        (s - 1, s),
        (s, s),
        (s, 2 * s - 1),
        (s - 10, 2 * s + 10),
        (2 * s - 1, 3 * s),
        (3 * s, len - 1),
        (1, len - 2),
    ] {
        let r = t
            .get_with(&uri, &user, "range", &format!("bytes={a}-{b}"))
            .await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{a}-{b}");
        assert_eq!(r.header("content-range"), format!("bytes {a}-{b}/{len}"));
        assert_eq!(r.header("content-length"), (b - a + 1).to_string());
        assert_eq!(&r.body[..], &video[a..=b], "bytes {a}-{b}");
    }
    let suffix = t.get_with(&uri, &user, "range", "bytes=-1").await;
    assert_eq!(&suffix.body[..], &video[len - 1..]);
    let beyond = t
        .get_with(&uri, &user, "range", &format!("bytes={len}-"))
        .await;
    assert_eq!(beyond.header("content-range"), format!("bytes */{len}"));

    // What lies in the media folder is ciphertext.
    let on_disk = std::fs::read(t.dir.path().join("media").join(&key)).unwrap();
    assert_ne!(on_disk.len(), len);
    assert!(!contains(&on_disk, &video[1000..1064]));
}

/// P-SEC-2: an uploaded JPEG is stored encrypted (the file in the media folder is not a JPEG and
/// holds none of its bytes) and the API serves the plaintext back, whole and in ranges.
#[tokio::test]
async fn p_sec_2_uploaded_jpeg_is_ciphertext_on_disk_and_plaintext_through_the_api() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("uma@example.org", "uma").await);
    let photo = noisy_jpeg(400, 300);
    let up = t.upload(&user, "noise.jpg", "image/jpeg", &photo).await;
    assert_eq!(
        up.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&up.body)
    );
    let id = up.json()["id"].as_str().unwrap().to_owned();
    let uri = format!("/api/v1/uploads/{id}/content");
    let served = t.get(&uri, &user).await;
    assert_eq!(served.status, StatusCode::OK);
    assert!(
        served.body.starts_with(&[0xFF, 0xD8, 0xFF]),
        "a JPEG comes back"
    );
    let len = served.body.len();
    assert!(
        len > 2 * 64 * 1024,
        "the test image spans segments ({len} bytes)"
    );
    assert_eq!(image::load_from_memory(&served.body).unwrap().width(), 400);

    let me = t.get("/api/v1/me", &user).await.json();
    let upload = t
        .state
        .db
        .upload_for_owner(me["id"].as_str().unwrap(), &id)
        .await
        .unwrap()
        .unwrap();
    let on_disk = std::fs::read(t.dir.path().join("media").join(&upload.object_key)).unwrap();
    assert!(!on_disk.starts_with(&[0xFF, 0xD8]), "no JPEG magic on disk");
    assert!(on_disk.starts_with(b"RSEM"));
    for at in [0, 1000, 70_000, len - 64] {
        assert!(
            !contains(&on_disk, &served.body[at..at + 64]),
            "plaintext at {at} is visible on disk"
        );
    }

    let seg = 64 * 1024;
    for (a, b) in [(seg - 3, seg + 3), (0, seg), (2 * seg - 1, len - 1)] {
        let r = t
            .get_with(&uri, &user, "range", &format!("bytes={a}-{b}"))
            .await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.header("content-range"), format!("bytes {a}-{b}/{len}"));
        assert_eq!(&r.body[..], &served.body[a..=b]);
    }
}

#[tokio::test]
async fn p_rights_2_username_can_be_changed_unique_validated_and_audited() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("rosa@example.org", "rosa").await);
    let _other = t.signed_in_user("sami@example.org", "sami").await;
    let put = |name: &'static str| {
        let (t, user) = (&t, user.clone());
        async move {
            t.json(
                Method::PUT,
                "/api/v1/me/username",
                &user,
                json!({ "username": name }),
            )
            .await
        }
    };
    let r = put("  Rosa_Lind  ").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["username"], "rosa_lind", "trimmed and lower-cased");
    assert_eq!(
        t.get("/api/v1/me", &user).await.json()["username"],
        "rosa_lind"
    );
    // Another account's name, in any case, is taken; the old name is free again.
    put("SAMI")
        .await
        .assert_problem(StatusCode::CONFLICT, "account.username_taken");
    put("no spaces here")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "auth.invalid_username");
    put("admin")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "auth.reserved_username");
    assert_eq!(
        t.get("/api/v1/me", &user).await.json()["username"],
        "rosa_lind",
        "refused changes change nothing"
    );
    assert_eq!(
        t.signup("rosa2@example.org", "rosa").await.status,
        StatusCode::CREATED
    );

    let db_user = t
        .state
        .db
        .user_by_email("rosa@example.org")
        .await
        .unwrap()
        .unwrap();
    let entries = t
        .state
        .db
        .audit_for_user(&db_user.id, 100, None)
        .await
        .unwrap();
    let changed: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == "profile.username_changed")
        .collect();
    assert_eq!(changed.len(), 1, "only the change that happened is audited");
    assert_eq!(
        changed[0].detail,
        Some(json!({ "from": "rosa", "to": "rosa_lind" }))
    );
    assert_eq!(
        t.json(
            Method::PUT,
            "/api/v1/me/username",
            &Auth::None,
            json!({ "username": "ghost" })
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn p_in_6_the_last_used_settings_are_recorded_and_returned_without_the_content() {
    let t = app().await;
    let user = Auth::Cookie(t.signed_in_user("tove@example.org", "tove").await);
    let other = Auth::Cookie(t.signed_in_user("umar@example.org", "umar").await);
    let r = t.get("/api/v1/me/preferences", &user).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["settings"],
        Value::Null,
        "nothing before a first job"
    );

    let spec = json!({
        "script": "A secret little script about the sea.",
        "aspect": "9:16",
        "resolution": "480p",
        "style": "cinematic",
        "seed": 7,
    });
    let r = t.json(Method::POST, "/api/v1/jobs", &user, spec).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let prefs = t.get("/api/v1/me/preferences", &user).await.json();
    let settings = &prefs["settings"];
    assert_eq!(settings["aspect"], "9:16", "{prefs}");
    assert_eq!(settings["resolution"], "480p");
    assert_eq!(settings["style"], "cinematic");
    for content in ["script", "media", "voice", "prompt", "prompts", "seed"] {
        assert!(
            settings.get(content).is_none(),
            "{content} is not a setting: {prefs}"
        );
    }
    assert!(!prefs.to_string().contains("secret little script"));
    assert!(prefs["updated_at"].is_string());
    // Only the owner's own.
    assert_eq!(
        t.get("/api/v1/me/preferences", &other).await.json()["settings"],
        Value::Null
    );
}

/// Issue 25: the studio's live caption preview is one frame drawn by the engine's own code,
/// byte for byte; a bad look is refused with its code, and a job naming a caption font the
/// server does not have is refused before anything is reserved.
#[tokio::test]
async fn a_preview_frame_is_the_engines_own_and_bad_looks_are_refused() {
    // Six frames a window: the six tries below pass, the seventh is refused.
    let t = app_with(|c| c.rate_limits.preview.count = 6).await;
    let alice = Auth::Cookie(t.signed_in_user("preview@example.org", "previewer").await);
    let spec = json!({ "script": "Red words on a moving background", "resolution": "480p",
        "caption_style": { "colour": "#ff0000", "position": "middle" } });
    let uri = "/api/v1/preview/frame";
    let r = t
        .json(
            Method::POST,
            uri,
            &alice,
            json!({ "spec": spec, "time": 1.2 }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.headers["content-type"], "image/png");
    let engine = reelsmith_media::preview::preview_image(
        &serde_json::from_value(spec.clone()).unwrap(),
        1.2,
        reelsmith_media::preview::PreviewFormat::Png,
        &reelsmith_core::Limits::default(),
    )
    .unwrap();
    assert!(
        r.body[..] == engine[..],
        "the route draws what the engine draws"
    );
    let jpeg = t
        .json(
            Method::POST,
            uri,
            &alice,
            json!({ "spec": spec, "format": "jpeg" }),
        )
        .await;
    assert_eq!(jpeg.headers["content-type"], "image/jpeg");
    assert_eq!(&jpeg.body[..3], &[0xFF, 0xD8, 0xFF]);

    let anonymous = t
        .json(Method::POST, uri, &Auth::None, json!({ "spec": spec }))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let code = |r: &Reply| r.json()["code"].as_str().unwrap_or_default().to_owned();
    let late = t
        .json(
            Method::POST,
            uri,
            &alice,
            json!({ "spec": spec, "time": 99 }),
        )
        .await;
    assert_eq!(late.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&late), "preview.invalid_time");
    let no_font =
        json!({ "script": "Hello there, a video.", "caption_style": { "font": "Nope Sans" } });
    let r = t
        .json(Method::POST, uri, &alice, json!({ "spec": no_font }))
        .await;
    assert_eq!(code(&r), "captions.font_missing");
    let job = t.json(Method::POST, "/api/v1/jobs", &alice, no_font).await;
    assert_eq!(job.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&job), "captions.font_missing");
    let jobs = t.get("/api/v1/jobs", &alice).await.json();
    assert_eq!(
        jobs.as_array().map(Vec::len),
        Some(0),
        "nothing was queued: {jobs}"
    );

    // The studio's font list is what a caption style may name: a listed font previews.
    let fonts = t.get("/api/v1/fonts", &alice).await.json();
    let fonts: Vec<String> = serde_json::from_value(fonts["fonts"].clone()).unwrap();
    let serif = fonts
        .iter()
        .find(|f| f.eq_ignore_ascii_case("DejaVuSerif-Bold"))
        .unwrap_or_else(|| panic!("DejaVu Serif Bold is installed by scripts/setup: {fonts:?}"));
    let styled =
        json!({ "spec": { "script": "Hello there.", "caption_style": { "font": serif } } });
    for _ in 0..2 {
        let r = t.json(Method::POST, uri, &alice, styled.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // Each frame is a core's tens of milliseconds: `rate_limits.preview` bounds them.
    let r = t.json(Method::POST, uri, &alice, styled).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code(&r), "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
}

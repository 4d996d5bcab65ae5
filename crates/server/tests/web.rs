//! The web studio's security layer and pages, in-process: cross-site request refusal (the rules
//! of Go's `CrossOriginProtection`), security headers, sign-in redirects and embedded assets.

mod common;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use common::*;
use serde_json::json;

/// POST /api/v1/tokens with the given browser headers.
async fn create_token(t: &TestApp, auth: &Auth, headers: &[(&str, &str)]) -> Reply {
    let mut request = t
        .request(Method::POST, "/api/v1/tokens", auth)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::HOST, "studio.example:8080");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    t.send(
        request
            .body(Body::from(json!({"name": "t"}).to_string()))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn cross_site_unsafe_requests_with_a_cookie_are_refused() {
    let t = app().await;
    let cookie = Auth::Cookie(t.signed_in_user("a@example.org", "alice").await);
    for headers in [
        &[("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "same-site")][..],
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://studio.example:8080"),
        ][..],
        &[("origin", "https://evil.example")][..],
        &[("origin", "http://studio.example:9999")][..],
        &[("origin", "null")][..],
    ] {
        let r = create_token(&t, &cookie, headers).await;
        r.assert_problem(StatusCode::FORBIDDEN, "csrf.cross_origin");
        assert_eq!(r.header("x-frame-options"), "DENY", "{headers:?}");
    }
    // A cross-site DELETE is refused as well, and the token is still there afterwards.
    let made = create_token(&t, &cookie, &[]).await;
    assert_eq!(made.status, StatusCode::CREATED);
    let id = made.json()["id"].as_str().unwrap().to_owned();
    let r = t
        .send(
            t.request(Method::DELETE, &format!("/api/v1/tokens/{id}"), &cookie)
                .header("sec-fetch-site", "cross-site")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.assert_problem(StatusCode::FORBIDDEN, "csrf.cross_origin");
    let list = t.get("/api/v1/tokens", &cookie).await.json();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["revoked_at"].is_null()));
}

#[tokio::test]
async fn a_cross_site_form_post_to_sign_in_is_refused() {
    let t = app().await;
    let r = t
        .send(
            t.request(Method::POST, "/api/v1/auth/login", &Auth::None)
                .header(header::CONTENT_TYPE, "text/plain")
                .header("sec-fetch-site", "cross-site")
                .header(header::ORIGIN, "https://evil.example")
                .body(Body::from(r#"{"email":"a@example.org","password":"x"}"#))
                .unwrap(),
        )
        .await;
    r.assert_problem(StatusCode::FORBIDDEN, "csrf.cross_origin");
}

#[tokio::test]
async fn same_origin_and_header_less_clients_keep_working() {
    let t = app().await;
    let session = t.signed_in_user("a@example.org", "alice").await;
    let cookie = Auth::Cookie(session);
    for headers in [
        &[("sec-fetch-site", "same-origin")][..],
        &[("sec-fetch-site", "none")][..],
        &[("origin", "http://studio.example:8080")][..],
        &[
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://studio.example:8080"),
        ][..],
        // Neither header: curl, the CLI, scripts.
        &[][..],
    ] {
        let r = create_token(&t, &cookie, headers).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{headers:?}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // A bearer token is never sent by a browser on its own: it passes even with browser headers,
    // up to the handler (which leaves minting tokens to sessions).
    let token = create_token(&t, &cookie, &[]).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = Auth::Bearer(token);
    for headers in [&[][..], &[("sec-fetch-site", "cross-site")][..]] {
        let r = create_token(&t, &bearer, headers).await;
        r.assert_problem(StatusCode::FORBIDDEN, "token.session_required");
    }
    // Safe methods are never refused.
    let r = t
        .get_with("/api/v1/tokens", &cookie, "sec-fetch-site", "cross-site")
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn pages_carry_a_strict_csp_and_anti_framing_headers() {
    let t = app().await;
    for path in [
        "/",
        "/signup",
        "/signin",
        "/verify",
        "/forgot",
        "/reset",
        "/privacy",
        "/healthz",
        "/api/v1/me",
    ] {
        let r = t.get(path, &Auth::None).await;
        let csp = r.header("content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(r.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(r.header("referrer-policy"), "same-origin", "{path}");
    }
    let r = t.get("/", &Auth::None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/html"));
    let html = String::from_utf8_lossy(&r.body);
    // No inline script or style, nothing from another origin.
    assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains("style="));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(html.contains(r#"<script src="/static/app.js" defer></script>"#));
}

#[tokio::test]
async fn private_pages_send_strangers_to_sign_in_and_show_the_signed_in() {
    let t = app().await;
    for path in ["/create", "/creations", "/account", "/creations/abc123"] {
        let r = t.get(path, &Auth::None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.header("location"), format!("/signin?next={path}"));
    }
    let cookie = Auth::Cookie(t.signed_in_user("a@example.org", "alice").await);
    for path in ["/create", "/creations", "/uploads", "/account"] {
        let r = t.get(path, &cookie).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let html = String::from_utf8_lossy(&r.body);
        assert!(html.contains("Sign out"), "{path}");
        assert_eq!(r.header("cache-control"), "no-store");
    }
    // A creation that is not theirs (or no creation at all) is a page that says so.
    for path in ["/creations/abc123", "/creations/..%2Fetc"] {
        let r = t.get(path, &cookie).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(r.header("content-type").starts_with("text/html"), "{path}");
        assert!(String::from_utf8_lossy(&r.body).contains("This creation does not exist"));
    }
    // The signup page states the configured minimum age.
    let r = t.get("/signup", &Auth::None).await;
    let minimum = t.state.config.accounts.minimum_age;
    assert!(
        String::from_utf8_lossy(&r.body).contains(&format!("I am at least {minimum} years old"))
    );
}

#[tokio::test]
async fn static_files_are_embedded_with_their_types() {
    let t = app().await;
    for (path, mime) in [
        ("/static/app.js", "text/javascript"),
        ("/static/app.css", "text/css"),
        ("/static/icon.svg", "image/svg+xml"),
    ] {
        let r = t.get(path, &Auth::None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.header("content-type").starts_with(mime), "{path}");
        assert!(!r.body.is_empty());
    }
    t.get("/static/../Cargo.toml", &Auth::None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    t.get("/static/nope.js", &Auth::None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_privacy_page_is_generated_from_the_live_settings() {
    // No providers: the page says nothing leaves the machine.
    let t = app().await;
    let page = String::from_utf8(t.get("/privacy", &Auth::None).await.body.to_vec()).unwrap();
    assert!(
        page.contains("nothing you upload or write leaves it"),
        "{page}"
    );
    assert!(page.contains("a folder on this server"));
    assert!(page.contains("a SQLite database file"));
    assert!(page.contains("reelsmith_session"));

    // With providers and S3, it names them, what each receives, and the policy version; never a
    // key or a secret (P-TP-5).
    let t = app_with(|c| {
        c.providers.fal.key = Some(reelsmith_config::Secret::new("fal-key-SECRET-1".into()));
        c.providers.openai.key = Some(reelsmith_config::Secret::new("sk-SECRET-2".into()));
        c.providers.openai.chat_model = Some("gpt-test".into());
        c.stock.pexels_key = Some(reelsmith_config::Secret::new("pexels-SECRET-4".into()));
        c.privacy.policy_version = "2027-01-15".into();
        c.storage.backend = reelsmith_config::StorageBackend::S3;
        c.storage.s3.endpoint = Some("https://objects.example.net".into());
        c.storage.s3.bucket = Some("media".into());
        c.storage.s3.secret_access_key = Some(reelsmith_config::Secret::new("S3-SECRET-3".into()));
    })
    .await;
    let page = String::from_utf8(t.get("/privacy", &Auth::None).await.body.to_vec()).unwrap();
    for expected in [
        "fal.ai",
        "OpenAI",
        "image-to-video",
        "narration, to write visual prompts and to choose the words a storyboard",
        "Pexels",
        "a few search words for a storyboard scene&#39;s pictures (never the scene&#39;s text",
        "2027-01-15",
        "S3-compatible object storage run by the operator",
    ] {
        assert!(page.contains(expected), "{expected} missing:\n{page}");
    }
    assert!(
        !page.contains("Replicate") && !page.contains("Atlas") && !page.contains("Pixabay"),
        "only configured ones"
    );
    for secret in ["SECRET-1", "SECRET-2", "SECRET-3", "SECRET-4"] {
        assert!(!page.contains(secret), "{secret} leaked");
    }
}

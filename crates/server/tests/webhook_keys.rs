//! fal webhooks cost nothing to forge: a post is checked for its headers, timestamp window and
//! signature form before any key-set fetch, and the key set is fetched at most once per refetch
//! floor, however many forged or unknown-key posts arrive. The key server is a real HTTP server
//! the test starts, counting what it serves.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use base64::Engine;
use common::{app_with, Auth, TestApp};
use ed25519_dalek::{Signer, SigningKey};
use reelsmith_config::{Config, Secret};
use reelsmith_providers::webhook::fal as fal_hook;
use reelsmith_server::webhooks::REFETCH_FLOOR;

/// A JWKS server publishing `key`'s public half and counting its fetches.
async fn jwks_server(key: &SigningKey) -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let doc = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": x}]})
        .to_string();
    let counter = Arc::clone(&fetches);
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let (counter, doc) = (Arc::clone(&counter), doc.clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                ([("content-type", "application/json")], doc)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/.well-known/jwks.json"), fetches)
}

fn signed_headers(key: &SigningKey, request_id: &str, body: &[u8]) -> Vec<(String, String)> {
    let ts = (reelsmith_store::now_ms() / 1000).to_string();
    let sig = key.sign(&fal_hook::signed_message(request_id, "user-1", &ts, body));
    vec![
        ("x-fal-webhook-request-id".into(), request_id.into()),
        ("x-fal-webhook-user-id".into(), "user-1".into()),
        ("x-fal-webhook-timestamp".into(), ts),
        (
            "x-fal-webhook-signature".into(),
            hex::encode(sig.to_bytes()),
        ),
    ]
}

async fn post(t: &TestApp, headers: &[(String, String)], body: &[u8]) -> common::Reply {
    let mut request = t.request(Method::POST, "/api/v1/webhooks/fal", &Auth::None);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    t.send(request.body(Body::from(body.to_vec())).unwrap())
        .await
}

#[tokio::test]
async fn unsigned_posts_fetch_nothing_and_forged_ones_fetch_once_per_floor() {
    let fal_key = SigningKey::from_bytes(&[7; 32]);
    let forger = SigningKey::from_bytes(&[9; 32]);
    let (jwks_url, fetches) = jwks_server(&fal_key).await;
    let t = app_with(|c: &mut Config| {
        c.providers.fal.key = Some(Secret::new("fal-key".to_owned()));
        c.providers.fal.webhook_jwks_url = Some(jwks_url.clone());
    })
    .await;
    let body = br#"{"request_id":"req-1","status":"OK","payload":{}}"#;

    // 100 posts without the headers, with a stale timestamp or a malformed signature.
    for i in 0..100 {
        let mut headers = signed_headers(&forger, "req-1", body);
        match i % 4 {
            0 => headers.clear(),
            1 => headers.retain(|(n, _)| n != "x-fal-webhook-signature"),
            2 => headers[2].1 = "1000000000".into(),
            _ => headers[3].1 = "not-hex".into(),
        }
        let reply = post(&t, &headers, body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "post {i}");
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        0,
        "unsigned posts fetched the key set"
    );

    // Well-formed posts signed by a key fal never published: one fetch, then the cache.
    for _ in 0..50 {
        post(&t, &signed_headers(&forger, "req-1", body), body)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "webhook.bad_signature");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // One floor period later, a burst of concurrent forgeries shares one refetch.
    t.state.clock.advance(REFETCH_FLOOR.as_millis() as i64);
    let burst: Vec<_> = (0..20)
        .map(|_| {
            let headers = signed_headers(&forger, "req-1", body);
            let app = t.app.clone();
            tokio::spawn(async move {
                let mut request = axum::http::Request::builder()
                    .method(Method::POST)
                    .uri("/api/v1/webhooks/fal");
                for (name, value) in &headers {
                    request = request.header(name.as_str(), value.as_str());
                }
                let request = request.body(Body::from(body.to_vec())).unwrap();
                tower::ServiceExt::oneshot(app, request)
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for handle in burst {
        assert_eq!(handle.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 2);

    // fal's own signature still verifies, from the cached set.
    let reply = post(&t, &signed_headers(&fal_key, "req-1", body), body).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

//! The fal.ai adapter against tests/fakes/providers/fal_fake.py, and the fake against fal-client.

mod common;

use common::suite::Subject;
use reelsmith_providers::fal::Fal;
use reelsmith_providers::{ShotProvider, ShotRequest};

const SUBJECT: Subject = Subject {
    script: "fal_fake.py",
    path: "",
    make: |ep| Box::new(Fal::new(ep).unwrap()) as Box<dyn ShotProvider>,
    request: || {
        ShotRequest::text_to_video("a red fox in snow", 5, "16:9")
            .with_model("fal-ai/kling-video/v2.1/master/text-to-video")
    },
    cancels: true,
    foreign_urls: true,
};

shot_suite!(SUBJECT);

#[tokio::test]
async fn the_submission_carries_the_model_input() {
    let fake = common::Fake::start("fal_fake.py");
    let fal = Fal::new(fake.endpoint("")).unwrap();
    let mut req = (SUBJECT.request)();
    req.negative_prompt = Some("blur".into());
    fal.submit(&req).await.unwrap();
    let last = fake.last().await;
    assert_eq!(
        last["path"],
        "/fal-ai/kling-video/v2.1/master/text-to-video"
    );
    assert_eq!(last["body"]["duration"], "5");
    assert_eq!(last["body"]["negative_prompt"], "blur");
}

#[tokio::test]
async fn unsupported_requests_never_reach_the_provider() {
    let fake = common::Fake::start("fal_fake.py");
    let fal = Fal::new(fake.endpoint("")).unwrap();
    let bad = ShotRequest::text_to_video("x", 7, "16:9")
        .with_model("fal-ai/kling-video/v2.1/master/text-to-video");
    let err = fal.submit(&bad).await.unwrap_err();
    assert_eq!(
        reelsmith_core::ErrorCode::code(&err),
        "provider.unsupported"
    );
    assert_eq!(fake.stats().await["requests"], 0);
}

#[test]
fn the_fake_speaks_fal_client() {
    common::run_check("check_fal.py");
}

#[tokio::test]
async fn cancelling_a_finished_request_is_not_an_error() {
    let fake = common::Fake::start("fal_fake.py");
    let fal = Fal::new(fake.endpoint("")).unwrap();
    let pending = fal.submit(&(SUBJECT.request)()).await.unwrap();
    fal.wait(&pending, &mut Vec::new(), 10 << 20).await.unwrap();
    // fal answers 400 ALREADY_COMPLETED: the job is over either way.
    fal.cancel(&pending).await.unwrap();
    assert_eq!(fake.stats().await["cancels"], 1);
}

#[tokio::test]
async fn a_pending_shot_saved_without_urls_is_rebuilt_from_the_owner_and_app() {
    let fake = common::Fake::start("fal_fake.py");
    let fal = Fal::new(fake.endpoint("")).unwrap();
    let mut pending = fal.submit(&(SUBJECT.request)()).await.unwrap();
    pending.status_url = None;
    pending.result_url = None;
    pending.cancel_url = None;
    let mut sink = Vec::new();
    fal.wait(&pending, &mut sink, 10 << 20).await.unwrap();
    assert_eq!(sink, fake.clip());
}

#[tokio::test]
async fn status_urls_on_another_host_are_refused_at_submit() {
    // A submit answer pointing its URLs elsewhere: the fake's answer names 127.0.0.1, so an
    // adapter whose base URL says "localhost" sees another host.
    let fake = common::Fake::start("fal_fake.py");
    let ep = reelsmith_providers::http::Endpoint::new(
        &format!("http://localhost:{}", fake.port),
        reelsmith_providers::Secret::new(common::KEY),
    )
    .unwrap()
    .with_policy(common::fast_policy());
    let fal = Fal::new(ep).unwrap();
    let err = fal.submit(&(SUBJECT.request)()).await.unwrap_err();
    assert_eq!(
        reelsmith_core::ErrorCode::code(&err),
        "provider.forbidden_host"
    );
}

#[tokio::test]
async fn a_503_retry_after_is_honoured_or_refused_past_the_limit() {
    use serde_json::json;
    use std::time::{Duration, Instant};
    let fake = common::Fake::start("fal_fake.py");
    let fal = Fal::new(fake.endpoint("")).unwrap();
    fake.set(json!({"mode": "unavailable", "count": 1, "retry_after": 1}))
        .await;
    let started = Instant::now();
    fal.submit(&(SUBJECT.request)()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    fake.set(json!({"mode": "unavailable", "count": 1, "retry_after": 3600}))
        .await;
    let started = Instant::now();
    let err = fal.submit(&(SUBJECT.request)()).await.unwrap_err();
    assert_eq!(
        reelsmith_core::ErrorCode::code(&err),
        "provider.unavailable"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "an hour's Retry-After is not waited for"
    );
    assert_eq!(fake.stats().await["requests"], 3);
}

#[tokio::test]
async fn webhook_keys_are_fetched_from_the_configured_url_and_verify() {
    use base64::Engine;
    use ed25519_dalek::{Signer, SigningKey};
    use reelsmith_providers::webhook::fal::{signed_message, verify, FalKeySet};
    let fake = common::Fake::start("fal_fake.py");
    let key = SigningKey::from_bytes(&[7; 32]);
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": x}]});
    std::fs::write(fake.dir.path().join("jwks.json"), jwks.to_string()).unwrap();
    let url = format!("{}/.well-known/jwks.json", fake.base());
    let keys = FalKeySet::fetch(&reqwest::Client::new(), &url)
        .await
        .unwrap();
    let body = br#"{"request_id":"r1","status":"OK","payload":{"video":{"url":"x"}}}"#;
    let now = 1_900_000_000i64;
    let sig = hex::encode(
        key.sign(&signed_message("r1", "u1", &now.to_string(), body))
            .to_bytes(),
    );
    let ts = now.to_string();
    let headers = [
        ("x-fal-webhook-request-id", "r1"),
        ("x-fal-webhook-user-id", "u1"),
        ("x-fal-webhook-timestamp", ts.as_str()),
        ("x-fal-webhook-signature", sig.as_str()),
    ];
    assert_eq!(verify(&keys, &headers, body, now).unwrap(), "r1");
    assert!(verify(&keys, &headers, b"{}", now).is_err());
    // A key set URL that answers 404 is an error, not an empty set that verifies nothing.
    let err = FalKeySet::fetch(
        &reqwest::Client::new(),
        &format!("{}/.well-known/none.json", fake.base()),
    )
    .await;
    assert!(err.is_err());
}

#[tokio::test]
async fn image_to_video_sends_the_image_inline_and_text_to_image_reads_images() {
    use reelsmith_providers::{InputImage, ShotKind};
    let fake = common::Fake::start("fal_fake.py");
    let fal = Fal::new(fake.endpoint("")).unwrap();
    let mut i2v = ShotRequest::text_to_video("the fox turns", 10, "9:16")
        .with_model("fal-ai/kling-video/v2.1/standard/image-to-video");
    i2v.kind = ShotKind::ImageToVideo;
    i2v.image = Some(InputImage {
        bytes: b"\x89PNG".to_vec(),
        mime: "image/png".into(),
    });
    let pending = fal.submit(&i2v).await.unwrap();
    assert_eq!(
        fake.last().await["body"]["image_url"],
        "data:image/png;base64,iVBORw=="
    );
    let mut sink = Vec::new();
    fal.wait(&pending, &mut sink, 10 << 20).await.unwrap();
    assert_eq!(sink, fake.clip());
    let mut t2i = ShotRequest::text_to_video("a fox", 0, "1:1").with_model("fal-ai/flux/schnell");
    t2i.kind = ShotKind::TextToImage;
    let pending = fal.submit(&t2i).await.unwrap();
    assert_eq!(fake.last().await["body"]["image_size"], "square_hd");
    let mut sink = Vec::new();
    fal.wait(&pending, &mut sink, 10 << 20).await.unwrap();
    assert_eq!(
        &sink[..3],
        [0xFF, 0xD8, 0xFF],
        "the JPEG named by images[0].url"
    );
}

//! The Veo (Gemini API) adapter against tests/fakes/providers/veo_fake.py, and the fake against google-genai.

mod common;

use common::suite::Subject;
use reelsmith_providers::veo::Veo;
use reelsmith_providers::{ShotProvider, ShotRequest};

const SUBJECT: Subject = Subject {
    script: "veo_fake.py",
    path: "/v1beta",
    make: |ep| Box::new(Veo::new(ep).unwrap()) as Box<dyn ShotProvider>,
    request: || {
        ShotRequest::text_to_video("a red fox in snow", 8, "16:9")
            .with_model("veo-3.1-generate-preview")
    },
    cancels: true,
    foreign_urls: true,
};

shot_suite!(SUBJECT);

#[tokio::test]
async fn the_submission_carries_the_model_input() {
    let fake = common::Fake::start("veo_fake.py");
    let veo = Veo::new(fake.endpoint("/v1beta")).unwrap();
    let mut req = (SUBJECT.request)();
    req.negative_prompt = Some("blur".into());
    veo.submit(&req).await.unwrap();
    let last = fake.last().await;
    assert_eq!(last["model"], "veo-3.1-generate-preview");
    assert_eq!(last["body"]["parameters"]["durationSeconds"], 8);
    assert_eq!(last["body"]["parameters"]["negativePrompt"], "blur");
}

#[tokio::test]
async fn unsupported_requests_never_reach_the_provider() {
    let fake = common::Fake::start("veo_fake.py");
    let veo = Veo::new(fake.endpoint("/v1beta")).unwrap();
    let bad = ShotRequest::text_to_video("x", 7, "16:9").with_model("veo-3.1-generate-preview");
    let err = veo.submit(&bad).await.unwrap_err();
    assert_eq!(
        reelsmith_core::ErrorCode::code(&err),
        "provider.unsupported"
    );
    assert_eq!(fake.stats().await["requests"], 0);
}

#[test]
fn the_fake_speaks_google_genai() {
    common::run_check("check_veo.py");
}

#[tokio::test]
async fn redirects_are_checked_and_never_carry_the_key_to_another_host() {
    use serde_json::json;
    let fake = common::Fake::start("veo_fake.py");
    fake.set(json!({"redirect_host": "localhost"})).await;
    let veo = Veo::new(fake.endpoint("/v1beta")).unwrap();
    let pending = veo.submit(&(SUBJECT.request)()).await.unwrap();
    // The file URI is on the API host; it redirects to "localhost", which is not allowlisted.
    let err = veo
        .wait(&pending, &mut Vec::new(), 10 << 20)
        .await
        .unwrap_err();
    assert_eq!(
        reelsmith_core::ErrorCode::code(&err),
        "provider.forbidden_host"
    );
    assert_eq!(fake.stats().await["downloads"], 0);
    // Allowlisted: the redirect is followed, without the key.
    let veo = Veo::new(fake.endpoint("/v1beta").with_download_hosts(&["localhost"])).unwrap();
    let mut sink = Vec::new();
    let out = veo.wait(&pending, &mut sink, 10 << 20).await.unwrap();
    assert_eq!(sink, fake.clip());
    assert!(
        out.source_url.starts_with("http://localhost:"),
        "{}",
        out.source_url
    );
    let stats = fake.stats().await;
    assert_eq!(stats["downloads"], 1);
    assert_eq!(
        stats["keyed_file_downloads"], 0,
        "the key stays on the API host"
    );
}

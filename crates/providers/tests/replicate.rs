//! The Replicate adapter against tests/fakes/providers/replicate_fake.py, and the fake against the replicate client.

mod common;

use common::suite::Subject;
use reelsmith_providers::replicate::Replicate;
use reelsmith_providers::{ShotProvider, ShotRequest};

const SUBJECT: Subject = Subject {
    script: "replicate_fake.py",
    path: "",
    make: |ep| Box::new(Replicate::new(ep).unwrap()) as Box<dyn ShotProvider>,
    request: || {
        ShotRequest::text_to_video("a red fox in snow", 8, "16:9").with_model("google/veo-3.1")
    },
    cancels: true,
    foreign_urls: true,
};

shot_suite!(SUBJECT);

#[tokio::test]
async fn the_submission_carries_the_model_input() {
    let fake = common::Fake::start("replicate_fake.py");
    let rep = Replicate::new(fake.endpoint("")).unwrap();
    let mut req = (SUBJECT.request)();
    req.negative_prompt = Some("blur".into());
    rep.submit(&req).await.unwrap();
    let last = fake.last().await;
    assert_eq!(
        last["model"], "google/veo-3.1",
        "official models are created by name"
    );
    assert_eq!(last["body"]["input"]["duration"], 8);
    assert_eq!(last["body"]["input"]["negative_prompt"], "blur");
    assert_eq!(last["prefer"], serde_json::Value::Null);
}

#[tokio::test]
async fn unsupported_requests_never_reach_the_provider() {
    let fake = common::Fake::start("replicate_fake.py");
    let rep = Replicate::new(fake.endpoint("")).unwrap();
    let bad = ShotRequest::text_to_video("x", 7, "16:9").with_model("google/veo-3.1");
    let err = rep.submit(&bad).await.unwrap_err();
    assert_eq!(
        reelsmith_core::ErrorCode::code(&err),
        "provider.unsupported"
    );
    assert_eq!(fake.stats().await["requests"], 0);
}

#[test]
fn the_fake_speaks_the_replicate_client() {
    common::run_check("check_replicate.py");
}

#[tokio::test]
async fn prefer_wait_and_webhook_are_sent_when_configured() {
    let fake = common::Fake::start("replicate_fake.py");
    let mut rep = Replicate::new(fake.endpoint("")).unwrap();
    rep.prefer_wait_s = Some(90);
    rep.webhook_url = Some("https://reelsmith.example/hooks/replicate".into());
    let pending = rep.submit(&(SUBJECT.request)()).await.unwrap();
    let last = fake.last().await;
    assert_eq!(
        last["prefer"], "wait=60",
        "clamped to Replicate's 60 s maximum"
    );
    assert_eq!(
        last["body"]["webhook"],
        "https://reelsmith.example/hooks/replicate"
    );
    assert_eq!(
        last["body"]["webhook_events_filter"],
        serde_json::json!(["completed"])
    );
    // The held create answered a finished prediction: one poll confirms it, then the download.
    let mut sink = Vec::new();
    rep.wait(&pending, &mut sink, 10 << 20).await.unwrap();
    assert_eq!(sink, fake.clip());
    assert_eq!(fake.stats().await["polls"], 1);
}

#[tokio::test]
async fn versions_are_created_through_v1_predictions() {
    let fake = common::Fake::start("replicate_fake.py");
    let rep = Replicate::new(fake.endpoint("")).unwrap();
    let req = (SUBJECT.request)().with_model(
        "google/veo-3.1:5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
    );
    rep.submit(&req).await.unwrap();
    let last = fake.last().await;
    assert_eq!(
        last["model"],
        serde_json::Value::Null,
        "POST /v1/predictions, not the model route"
    );
    assert_eq!(
        last["body"]["version"],
        "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
    );
}

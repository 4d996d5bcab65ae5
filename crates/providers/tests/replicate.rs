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

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
            .with_model("fal-ai/kling-video/v2.1/standard/text-to-video")
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
        "/fal-ai/kling-video/v2.1/standard/text-to-video"
    );
    assert_eq!(last["body"]["duration"], "5");
    assert_eq!(last["body"]["negative_prompt"], "blur");
}

#[tokio::test]
async fn unsupported_requests_never_reach_the_provider() {
    let fake = common::Fake::start("fal_fake.py");
    let fal = Fal::new(fake.endpoint("")).unwrap();
    let bad = ShotRequest::text_to_video("x", 7, "16:9")
        .with_model("fal-ai/kling-video/v2.1/standard/text-to-video");
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

//! The Atlas Cloud adapter against tests/fakes/providers/atlas_fake.py. Atlas has no official
//! client library on PyPI, so this fake is written from its documentation alone.

mod common;

use common::suite::Subject;
use reelsmith_providers::atlas::Atlas;
use reelsmith_providers::{ShotProvider, ShotRequest};

const SUBJECT: Subject = Subject {
    script: "atlas_fake.py",
    path: "",
    make: |ep| Box::new(Atlas::new(ep).unwrap()) as Box<dyn ShotProvider>,
    request: || {
        ShotRequest::text_to_video("a red fox in snow", 8, "16:9")
            .with_model("google/veo3.1/text-to-video")
    },
    cancels: false,
    foreign_urls: true,
};

shot_suite!(SUBJECT);

#[tokio::test]
async fn the_submission_carries_the_model_and_its_parameters() {
    let fake = common::Fake::start("atlas_fake.py");
    let atlas = Atlas::new(fake.endpoint("")).unwrap();
    let mut req = (SUBJECT.request)();
    req.negative_prompt = Some("blur".into());
    atlas.submit(&req).await.unwrap();
    let last = fake.last().await;
    assert_eq!(last["model"], "google/veo3.1/text-to-video");
    assert_eq!(last["duration"], 8);
    assert_eq!(last["negative_prompt"], "blur");
}

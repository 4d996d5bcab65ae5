//! The ComfyUI adapter against tests/fakes/providers/comfyui_fake.py (ComfyUI has no official
//! client library on PyPI; the fake follows its server routes and websocket messages).

mod common;

use common::suite::Subject;
use reelsmith_providers::comfyui::{ComfyUi, Progress};
use reelsmith_providers::http::Endpoint;
use reelsmith_providers::{ShotProvider, ShotRequest};
use serde_json::json;
use std::sync::Mutex;

fn workflow() -> serde_json::Value {
    json!({
        "3": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "steps": 20}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}"}},
        "8": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": "{{width}}", "height": "{{height}}", "length": "{{frames}}"}},
        "9": {"class_type": "SaveAnimatedWEBP", "inputs": {"filename_prefix": "reelsmith"}},
    })
}

fn make(ep: Endpoint) -> ComfyUi {
    ComfyUi::new(ep, workflow()).unwrap()
}

const SUBJECT: Subject = Subject {
    script: "comfyui_fake.py",
    path: "",
    make: |ep| Box::new(make(ep)) as Box<dyn ShotProvider>,
    request: || ShotRequest::text_to_video("a red fox in snow", 5, "16:9").with_model("workflow"),
    cancels: true,
    foreign_urls: false,
};

shot_suite!(SUBJECT);

#[tokio::test]
async fn the_filled_workflow_is_submitted_with_our_client_id() {
    let fake = common::Fake::start("comfyui_fake.py");
    let comfy = make(fake.endpoint(""));
    let mut req = (SUBJECT.request)();
    req.seed = Some(7);
    comfy.submit(&req).await.unwrap();
    let last = fake.last().await;
    assert_eq!(last["prompt"]["3"]["inputs"]["seed"], 7);
    assert_eq!(last["prompt"]["6"]["inputs"]["text"], "a red fox in snow");
    assert_eq!(last["prompt"]["8"]["inputs"]["length"], 120);
    assert!(last["client_id"]
        .as_str()
        .unwrap()
        .starts_with("reelsmith-"));
}

#[tokio::test]
async fn progress_comes_from_the_websocket() {
    let fake = common::Fake::start("comfyui_fake.py");
    fake.set(json!({"polls": 4})).await;
    // Slow polls, so completion is seen through the websocket rather than by polling.
    let mut ep = fake.endpoint("");
    ep.policy.poll_every = std::time::Duration::from_secs(5);
    let comfy = make(ep);
    let pending = comfy.submit(&(SUBJECT.request)()).await.unwrap();
    let seen = Mutex::new(Vec::new());
    let mut sink = Vec::new();
    let started = std::time::Instant::now();
    comfy
        .wait_with_progress(&pending, &mut sink, 10 << 20, &|p: Progress| {
            seen.lock().unwrap().push((p.value, p.max))
        })
        .await
        .unwrap();
    assert_eq!(sink, fake.clip());
    assert_eq!(*seen.lock().unwrap(), vec![(1, 4), (2, 4), (3, 4), (4, 4)]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "woken by the websocket, not the 5 s poll"
    );
}

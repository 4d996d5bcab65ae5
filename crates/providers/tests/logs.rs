//! P-TP-5: a provider key never appears in a log line, at any level. Every adapter runs a full
//! flow against its fake (submit, poll, download; a failure that echoes the Authorization
//! header; the chat and transcription calls) with a subscriber recording everything at TRACE,
//! including the `log` records of the HTTP stack, and the recording is searched for the key.
//! One test in its own binary: the subscriber is process-wide.

mod common;

use common::{Fake, Recording, KEY};
use reelsmith_providers::http::Endpoint;
use reelsmith_providers::openai::{OpenAiChat, OpenAiTranscriber};
use reelsmith_providers::{
    atlas, comfyui, fal, replicate, veo, ScriptWriter, ShotProvider, ShotRequest, Transcriber,
};
use serde_json::json;
use tracing_subscriber::util::SubscriberInitExt;

struct Case {
    fake: &'static str,
    path: &'static str,
    model: &'static str,
    seconds: u32,
    make: fn(Endpoint) -> Box<dyn ShotProvider>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            fake: "fal_fake.py",
            path: "",
            model: "fal-ai/kling-video/v2.1/master/text-to-video",
            seconds: 5,
            make: |ep| Box::new(fal::Fal::new(ep).unwrap()),
        },
        Case {
            fake: "replicate_fake.py",
            path: "",
            model: "google/veo-3.1",
            seconds: 8,
            make: |ep| Box::new(replicate::Replicate::new(ep).unwrap()),
        },
        Case {
            fake: "veo_fake.py",
            path: "/v1beta",
            model: "veo-3.1-generate-preview",
            seconds: 8,
            make: |ep| Box::new(veo::Veo::new(ep).unwrap()),
        },
        Case {
            fake: "atlas_fake.py",
            path: "",
            model: "google/veo3.1/text-to-video",
            seconds: 8,
            make: |ep| Box::new(atlas::Atlas::new(ep).unwrap()),
        },
        Case {
            fake: "comfyui_fake.py",
            path: "",
            model: "workflow",
            seconds: 5,
            make: |ep| {
                let workflow = json!({
                    "3": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "steps": 20}},
                    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}"}},
                    "8": {"class_type": "EmptyHunyuanLatentVideo",
                          "inputs": {"width": "{{width}}", "height": "{{height}}", "length": "{{frames}}"}},
                    "9": {"class_type": "SaveAnimatedWEBP", "inputs": {"filename_prefix": "reelsmith"}},
                });
                Box::new(comfyui::ComfyUi::new(ep, workflow).unwrap())
            },
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_tp_5_no_provider_key_appears_in_any_log_line_at_trace_level() {
    let recording = Recording::default();
    let writer = recording.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .try_init()
        .expect("this binary's only subscriber");

    let mut ports = Vec::new();
    for case in cases() {
        let fake = Fake::start(case.fake);
        ports.push(fake.port);
        let provider = (case.make)(fake.endpoint(case.path));
        let req = ShotRequest::text_to_video("a red fox in snow", case.seconds, "16:9")
            .with_model(case.model);
        let pending = provider.submit(&req).await.unwrap();
        let mut sink = Vec::new();
        provider
            .wait(&pending, &mut sink, 10 << 20)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.fake));
        assert!(!sink.is_empty());
        // A provider that repeats the request's Authorization header in its error body.
        fake.set(json!({ "mode": "echo_auth", "count": 1000 }))
            .await;
        assert!(provider.submit(&req).await.is_err());
    }

    let fake = Fake::start("openai_fake.py");
    ports.push(fake.port);
    let chat = OpenAiChat::new(fake.endpoint("/v1"), "gpt-test").unwrap();
    chat.write_script("octopuses", 2).await.unwrap();
    let whisper = OpenAiTranscriber::new(fake.endpoint("/v1")).unwrap();
    whisper
        .transcribe(b"RIFF fake wav".to_vec(), "voice.wav")
        .await
        .unwrap();
    fake.set(json!({ "mode": "echo_auth", "count": 1000 }))
        .await;
    assert!(chat.write_script("octopuses", 2).await.is_err());
    assert!(whisper.transcribe(b"a".to_vec(), "a.wav").await.is_err());

    let logs = recording.text();
    // The recording holds the flows' own lines (the HTTP stack's, naming the fakes' ports), so
    // an empty or unrelated capture cannot pass.
    assert!(logs.contains("TRACE"), "trace level was recorded");
    for port in ports {
        assert!(
            logs.contains(&port.to_string()),
            "the flow against port {port} was recorded"
        );
    }
    let tail = &KEY[KEY.len() - 10..];
    assert!(
        !logs.contains(KEY) && !logs.contains(tail),
        "a key in the logs:\n{}",
        logs.lines()
            .filter(|l| l.contains(tail))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

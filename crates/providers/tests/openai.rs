//! The OpenAI transcription and chat adapters against tests/fakes/providers/openai_fake.py,
//! and the fake against the official openai client.

mod common;

use common::{Fake, KEY};
use reelsmith_core::ErrorCode;
use reelsmith_providers::openai::{OpenAiChat, OpenAiTranscriber};
use reelsmith_providers::{ScriptWriter, Transcriber};
use serde_json::json;
use std::time::{Duration, Instant};

fn start() -> (Fake, OpenAiTranscriber, OpenAiChat) {
    let fake = Fake::start("openai_fake.py");
    let t = OpenAiTranscriber::new(fake.endpoint("/v1")).unwrap();
    let c = OpenAiChat::new(fake.endpoint("/v1"), "gpt-4o-mini").unwrap();
    (fake, t, c)
}

#[tokio::test]
async fn whisper_returns_words_with_timings() {
    let (fake, t, _) = start();
    let tr = t
        .transcribe(b"RIFF fake wav".to_vec(), "voice.wav")
        .await
        .unwrap();
    assert_eq!(tr.text, "Hello from the fake whisper.");
    assert_eq!(
        tr.words.iter().map(|w| w.word.as_str()).collect::<Vec<_>>(),
        ["hello", "from", "the", "fake", "whisper"]
    );
    assert!(tr.words.windows(2).all(|w| w[0].end <= w[1].start));
    assert_eq!(tr.language.as_deref(), Some("english"));
    assert!(
        tr.request_id.as_deref().unwrap().starts_with("req_"),
        "the x-request-id is recorded"
    );
    let last = fake.last().await;
    assert_eq!(last["model"], "whisper-1");
    assert_eq!(last["response_format"], "verbose_json");
    assert_eq!(last["granularities"], json!(["word"]));
    assert_eq!(last["file_len"], 13);
}

#[tokio::test]
async fn whisper_retries_failures_and_rate_limits() {
    let (fake, t, _) = start();
    fake.set(json!({"mode": "fail", "count": 1})).await;
    t.transcribe(b"a".to_vec(), "a.wav").await.unwrap();
    fake.set(json!({"mode": "rate_limit", "count": 1, "retry_after": 1}))
        .await;
    let started = Instant::now();
    t.transcribe(b"a".to_vec(), "a.wav").await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    // The multipart body is rebuilt for each try: every try carried the file.
    assert_eq!(fake.stats().await["submissions"], 2);
    assert_eq!(fake.stats().await["requests"], 4);
    fake.set(json!({"mode": "fail", "count": 100})).await;
    assert_eq!(
        t.transcribe(b"a".to_vec(), "a.wav")
            .await
            .unwrap_err()
            .code(),
        "provider.unavailable"
    );
}

#[tokio::test]
async fn whisper_timeouts_and_malformed_answers() {
    let (fake, t, _) = start();
    // Transcribing is idempotent, so a timed-out try is retried.
    fake.set(json!({"mode": "slow", "delay": 3, "count": 1}))
        .await;
    t.transcribe(b"a".to_vec(), "a.wav").await.unwrap();
    fake.set(json!({"mode": "slow", "delay": 3, "count": 100}))
        .await;
    let started = Instant::now();
    assert_eq!(
        t.transcribe(b"a".to_vec(), "a.wav")
            .await
            .unwrap_err()
            .code(),
        "provider.timeout"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    fake.set(json!({"mode": "malformed", "count": 1})).await;
    assert_eq!(
        t.transcribe(b"a".to_vec(), "a.wav")
            .await
            .unwrap_err()
            .code(),
        "provider.malformed"
    );
}

#[tokio::test]
async fn chat_writes_a_script_and_visual_prompts() {
    let (fake, _, c) = start();
    let script = c.write_script("octopuses", 2).await.unwrap();
    assert_eq!(script.title, "About octopuses");
    assert_eq!(script.scenes.len(), 2);
    assert!(script.scenes[0].visual_prompt.contains("octopuses"));
    let last = fake.last().await;
    assert_eq!(last["model"], "gpt-4o-mini");
    assert_eq!(last["response_format"]["type"], "json_object");
    let prompts = c
        .visual_prompts(&[
            "Octopuses have three hearts.".into(),
            "They taste with their arms.".into(),
        ])
        .await
        .unwrap();
    assert_eq!(prompts.len(), 2);
    // A count mismatch between narrations and prompts is a malformed answer, not silently used.
    let err = c.visual_prompts(&["only one".into()]).await.unwrap_err();
    assert_eq!(err.code(), "provider.malformed");
}

#[tokio::test]
async fn chat_failures_are_typed_and_keys_never_leak() {
    let (fake, _, c) = start();
    fake.set(json!({"mode": "malformed", "count": 1})).await;
    assert_eq!(
        c.write_script("x", 2).await.unwrap_err().code(),
        "provider.malformed"
    );
    fake.set(json!({"mode": "echo_auth", "count": 1})).await;
    let err = c.write_script("x", 2).await.unwrap_err();
    assert_eq!(err.code(), "provider.rejected");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("***") && !shown.contains(KEY), "{shown}");
    let bad = OpenAiChat::new(
        reelsmith_providers::http::Endpoint::new(
            &format!("{}/v1", fake.base()),
            reelsmith_providers::Secret::new(""),
        )
        .unwrap(),
        "m",
    )
    .unwrap();
    assert_eq!(
        bad.write_script("x", 2).await.unwrap_err().code(),
        "provider.unauthorized"
    );
}

#[test]
fn the_fake_speaks_the_openai_client() {
    common::run_check("check_openai.py");
}

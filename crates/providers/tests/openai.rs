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
async fn p_tp_3_chat_search_terms_send_only_the_scene_text_and_keep_at_most_max() {
    let (fake, _, c) = start();
    let text = "The lighthouse keeper\n climbs the spiral stairs at dusk.";
    let terms = c.search_terms(text, 4).await.unwrap();
    assert_eq!(terms, ["cinematic", "lighthouse", "keeper", "climbs"]);
    let last = fake.last().await;
    assert_eq!(last["response_format"]["type"], "json_schema");
    assert_eq!(
        last["response_format"]["json_schema"]["name"],
        "search_terms"
    );
    let messages = last["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "a system and one user message: {last}");
    assert_eq!(
        messages[1]["content"],
        "The lighthouse keeper climbs the spiral stairs at dusk.\nAt most 4 search words."
    );
    // A scene with no long word still gets the fake's one word; a broken answer is typed.
    assert_eq!(c.search_terms("a cat", 6).await.unwrap(), ["cinematic"]);
    fake.set(json!({"mode": "malformed", "count": 1})).await;
    assert_eq!(
        c.search_terms("the sea", 6).await.unwrap_err().code(),
        "provider.malformed"
    );
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

// ---- Cloud voices (issue 17): OpenAI speech and ElevenLabs ----

use reelsmith_providers::elevenlabs::ElevenLabs;
use reelsmith_providers::openai_speech::OpenAiSpeech;
use reelsmith_providers::speech::{cloud_voices, SpeechProvider, SpeechRequest};
use std::sync::Arc;

fn say(voice: &str, model: Option<&str>, text: &str) -> SpeechRequest {
    SpeechRequest {
        voice: voice.into(),
        model: model.map(str::to_owned),
        text: text.into(),
        instructions: None,
    }
}

fn is_mp3(bytes: &[u8]) -> bool {
    bytes.starts_with(b"ID3") || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
}

#[tokio::test]
async fn p_tp_3_openai_speech_sends_only_the_documented_fields_and_gets_audio() {
    let fake = Fake::start("openai_fake.py");
    let s = OpenAiSpeech::new(fake.endpoint("/v1")).unwrap();
    let mut req = say(
        "coral",
        Some("gpt-4o-mini-tts"),
        "A red fox runs through the snow.",
    );
    req.instructions = Some("Calmly.".into());
    let out = s.synthesize(&req).await.unwrap();
    assert!(is_mp3(&out.audio), "real MP3 audio");
    assert!(
        out.words.is_none(),
        "OpenAI gives no timings: the engine aligns"
    );
    assert!(out.request_id.unwrap().starts_with("req_"));
    let body = fake.last().await;
    let mut fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["input", "instructions", "model", "response_format", "voice"]
    );
    // Refused before anything leaves: instructions to tts-1, an unknown voice, nothing to say.
    let before = fake.stats().await["requests"].clone();
    let mut bad = say("alloy", Some("tts-1"), "x");
    bad.instructions = Some("no".into());
    for req in [
        bad,
        say("ballad", Some("tts-1"), "x"),
        say("alloy", Some("tts-1"), "  "),
    ] {
        assert_eq!(
            s.synthesize(&req).await.unwrap_err().code(),
            "provider.unsupported"
        );
    }
    assert_eq!(fake.stats().await["requests"], before);
}

#[tokio::test]
async fn openai_speech_longer_than_one_request_is_sent_in_pieces_and_joined() {
    let fake = Fake::start("openai_fake.py");
    // Reading 4000 characters aloud takes the fake's espeak-ng a while on a busy machine.
    let mut policy = common::fast_policy();
    policy.timeout = Duration::from_secs(120);
    let s = OpenAiSpeech::new(fake.endpoint("/v1").with_policy(policy)).unwrap();
    let sentence = "The fox trots across the frozen field and stops to listen. ";
    let long = sentence.repeat(4200 / sentence.len() + 1);
    assert!(long.chars().count() > reelsmith_providers::openai_speech::MAX_INPUT_CHARS);
    let out = s.synthesize(&say("alloy", None, &long)).await.unwrap();
    assert_eq!(
        fake.stats().await["submissions"],
        2,
        "two pieces under 4096 characters"
    );
    let bodies = fake.bodies().await;
    assert!(bodies
        .iter()
        .all(|b| b["input"].as_str().unwrap().chars().count() <= 4096));
    assert!(is_mp3(&out.audio));
}

#[tokio::test]
async fn p_tp_5_speech_errors_are_typed_and_keys_never_leak() {
    let fake = Fake::start("openai_fake.py");
    let s = OpenAiSpeech::new(fake.endpoint("/v1")).unwrap();
    fake.set(json!({"mode": "echo_auth", "count": 1})).await;
    let err = s
        .synthesize(&say("alloy", None, "hello"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider.rejected");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("***") && !shown.contains(KEY), "{shown}");
    fake.set(json!({"mode": "rate_limit", "count": 1, "retry_after": 0}))
        .await;
    assert!(
        s.synthesize(&say("alloy", None, "hello")).await.is_ok(),
        "a 429 is retried"
    );

    let el = Fake::start("elevenlabs_fake.py");
    let e = ElevenLabs::new(el.endpoint(""), None).unwrap();
    el.set(json!({"mode": "echo_auth", "count": 1})).await;
    let err = e
        .synthesize(&say("21m00Tcm4TlvDq8ikWAM", None, "hello"))
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?} {:?}", e.voices().await);
    assert!(!shown.contains(KEY), "{shown}");
    let err = e
        .synthesize(&say("NoSuchVoice123", None, "hello"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider.rejected", "{err}");
    assert!(err.to_string().contains("voice_not_found"), "{err}");
}

#[tokio::test]
async fn elevenlabs_times_every_word_from_its_character_alignment() {
    let fake = Fake::start("elevenlabs_fake.py");
    let e = ElevenLabs::new(fake.endpoint(""), None).unwrap();
    let text = "A red fox, quick and quiet, runs.";
    let out = e
        .synthesize(&say("21m00Tcm4TlvDq8ikWAM", None, text))
        .await
        .unwrap();
    assert!(is_mp3(&out.audio));
    let words = out.words.unwrap();
    let said: Vec<&str> = words.iter().map(|w| w.word.as_str()).collect();
    assert_eq!(said, ["A", "red", "fox", "quick", "and", "quiet", "runs"]);
    assert!(words
        .windows(2)
        .all(|w| w[1].start >= w[0].end && w[0].end > w[0].start));
    let body = fake.last().await;
    assert_eq!(body["output_format"], "mp3_44100_128");
    let mut fields: Vec<&str> = body["body"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["model_id", "text"],
        "only the documented fields we need"
    );
}

#[tokio::test]
async fn the_configured_cloud_voices_are_listed_with_language_gender_engine_and_price() {
    let fake = Fake::start("elevenlabs_fake.py");
    let providers: Vec<Arc<dyn SpeechProvider>> = vec![
        Arc::new(ElevenLabs::new(fake.endpoint(""), Some("eleven_flash_v2_5")).unwrap()),
        Arc::new(OpenAiSpeech::new(fake.endpoint("/v1")).unwrap()),
    ];
    let voices = cloud_voices(&providers).await;
    let rachel = voices.iter().find(|v| v.name == "Rachel").unwrap();
    assert_eq!(
        rachel.id,
        "elevenlabs/eleven_flash_v2_5/21m00Tcm4TlvDq8ikWAM"
    );
    assert_eq!(
        (rachel.language.as_str(), rachel.gender.as_deref()),
        ("en", Some("female"))
    );
    assert_eq!(
        (rachel.engine, rachel.price_per_1000_chars),
        ("elevenlabs", 5.0)
    );
    let openai: Vec<_> = voices.iter().filter(|v| v.engine == "openai").collect();
    assert_eq!(
        openai.len(),
        9 + 9 + 11,
        "tts-1, tts-1-hd and gpt-4o-mini-tts voices"
    );
    assert!(openai
        .iter()
        .any(|v| v.id == "openai/gpt-4o-mini-tts/verse"));
    assert!(openai
        .iter()
        .all(|v| reelsmith_providers::speech::CloudVoiceId::parse(&v.id).is_some()));
    // An unreachable provider is left out, not an error.
    drop(fake);
    assert_eq!(cloud_voices(&providers[..1]).await, Vec::new());
}

#[test]
fn the_fake_speaks_the_elevenlabs_client() {
    common::run_check("check_elevenlabs.py");
}

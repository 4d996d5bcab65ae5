//! AI providers for Reelsmith (issue #6): the traits a job's `provider`/`model` select, the
//! capability registry, shot planning, the shared call policy and one adapter per provider.
//!
//! The shot API is split in two so a worker can survive a restart without paying twice:
//! [`ShotProvider::submit`] returns a [`PendingShot`] (the provider's request id and URLs) as
//! soon as the provider accepted the job; the caller persists it, then calls
//! [`ShotProvider::wait`], which polls and streams the result into a sink. After a crash the
//! caller loads the saved `PendingShot` and calls `wait` again: nothing is submitted twice.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod atlas;
pub mod comfyui;
pub mod elevenlabs;
pub mod error;
pub mod fal;
pub mod http;
pub mod kie;
pub mod openai;
pub mod openai_speech;
pub mod plan;
pub mod registry;
pub mod replicate;
pub mod secret;
pub mod speech;
pub mod veo;
pub mod webhook;

pub use error::ProviderError;
pub use secret::Secret;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShotKind {
    TextToVideo,
    ImageToVideo,
    TextToImage,
}

/// An input image for image-to-video, as bytes: adapters send it the way their provider wants
/// (base64 in the body for Veo, a data URI for fal and Replicate), never as a URL of ours.
#[derive(Clone, PartialEq, Eq)]
pub struct InputImage {
    pub bytes: Vec<u8>,
    pub mime: String,
}

impl std::fmt::Debug for InputImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InputImage({}, {} bytes)", self.mime, self.bytes.len())
    }
}

impl InputImage {
    pub fn data_uri(&self) -> String {
        use base64::Engine;
        format!(
            "data:{};base64,{}",
            self.mime,
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }
}

/// One shot to generate. `model` is the registry's model id for the adapter's provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ShotRequest {
    pub kind: ShotKind,
    pub model: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub image: Option<InputImage>,
    /// Whole seconds, one the model allows (see [`plan`]); ignored for stills.
    pub duration_s: u32,
    /// "16:9", "9:16" or "1:1".
    pub aspect: String,
    pub resolution: Option<String>,
    /// Ask for native audio where the model has it.
    pub audio: bool,
    pub seed: Option<u64>,
}

impl ShotRequest {
    pub fn text_to_video(
        prompt: impl Into<String>,
        duration_s: u32,
        aspect: impl Into<String>,
    ) -> Self {
        ShotRequest {
            kind: ShotKind::TextToVideo,
            model: String::new(),
            prompt: prompt.into(),
            negative_prompt: None,
            image: None,
            duration_s,
            aspect: aspect.into(),
            resolution: None,
            audio: false,
            seed: None,
        }
    }

    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }
}

/// A job the provider accepted: everything needed to wait for it, cancel it or resume waiting
/// after a restart. Serializable so the worker can store it with the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingShot {
    pub provider: String,
    pub model: String,
    pub kind: ShotKind,
    /// The provider's own id for the request (fal `request_id`, Replicate prediction id, the
    /// Gemini operation name, the ComfyUI `prompt_id`).
    pub request_id: String,
    /// URLs the submit answer gave, where the wire format gives them (fal, Replicate). They are
    /// checked against the base URL before use, like every other URL.
    pub status_url: Option<String>,
    pub result_url: Option<String>,
    pub cancel_url: Option<String>,
}

impl PendingShot {
    /// A request the provider accepted under `request_id`, with no URLs of its own to wait,
    /// fetch or cancel at (the adapter builds those from the id); and it is logged, since the id
    /// is what a restarted worker resumes with.
    pub fn accepted(provider: &str, req: &ShotRequest, request_id: impl Into<String>) -> Self {
        let request_id = request_id.into();
        tracing::info!(provider, model = %req.model, request_id = %request_id, "submitted");
        PendingShot {
            provider: provider.into(),
            model: req.model.clone(),
            kind: req.kind,
            request_id,
            status_url: None,
            result_url: None,
            cancel_url: None,
        }
    }
}

/// What `wait` wrote into the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShotOutput {
    pub request_id: String,
    pub bytes: u64,
    pub content_type: Option<String>,
    /// Where the bytes came from (already checked against the allowlist).
    pub source_url: String,
}

/// What [`ShotProvider::wait`] answers.
pub type ShotResult = Result<ShotOutput, ProviderError>;

/// A sink for results: a file, or a `Vec<u8>` in tests.
pub type Sink<'a> = dyn AsyncWrite + Unpin + Send + 'a;

/// Text-to-video, image-to-video and text-to-image providers.
#[async_trait]
pub trait ShotProvider: Send + Sync {
    /// The registry's provider name ("fal", "replicate", ...).
    fn name(&self) -> &'static str;

    /// Checks the request against the model's capabilities, sends it once, and returns as soon
    /// as the provider has accepted it.
    async fn submit(&self, req: &ShotRequest) -> Result<PendingShot, ProviderError>;

    /// Polls until the job ends, then streams the result into `sink`, refusing more than
    /// `max_bytes`. Safe to call again with the same `PendingShot` after a restart.
    async fn wait(&self, pending: &PendingShot, sink: &mut Sink<'_>, max_bytes: u64) -> ShotResult;

    /// Asks the provider to stop the job. A job that already finished is not an error.
    async fn cancel(&self, pending: &PendingShot) -> Result<(), ProviderError>;
}

/// One word with its timing, in seconds from the start of the audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub word: String,
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    pub language: Option<String>,
    pub duration_s: Option<f64>,
    pub words: Vec<Word>,
    pub request_id: Option<String>,
}

/// Speech-to-text with word timestamps (for karaoke captions of an uploaded voice-over).
#[async_trait]
pub trait Transcriber: Send + Sync {
    async fn transcribe(
        &self,
        audio: Vec<u8>,
        file_name: &str,
    ) -> Result<Transcript, ProviderError>;
}

/// A script written from a topic: a title and, per scene, narration and a visual prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Script {
    pub title: String,
    pub scenes: Vec<ScriptScene>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptScene {
    pub narration: String,
    pub visual_prompt: String,
}

/// A chat model that writes scripts and per-scene visual prompts.
#[async_trait]
pub trait ScriptWriter: Send + Sync {
    async fn write_script(&self, topic: &str, scenes: usize) -> Result<Script, ProviderError>;
    /// One visual prompt per narration, in order.
    async fn visual_prompts(&self, narrations: &[String]) -> Result<Vec<String>, ProviderError>;
    /// At most `max` search words or short phrases for pictures of one scene's narration,
    /// most important first (issue 25's stock search).
    async fn search_terms(&self, text: &str, max: usize) -> Result<Vec<String>, ProviderError>;
}

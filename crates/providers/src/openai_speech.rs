//! OpenAI speech (<https://platform.openai.com/docs/api-reference/audio/createSpeech>):
//! `POST {base}/audio/speech` with `model` (`tts-1`, `tts-1-hd`, `gpt-4o-mini-tts`), `input` (at
//! most 4096 characters: longer narration is sent in pieces and the MP3s joined), `voice`,
//! `response_format: "mp3"` and, for `gpt-4o-mini-tts` only, `instructions`. The answer is the
//! audio itself; OpenAI gives no timings, so the engine aligns it to the script.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::json;

use crate::http::{Endpoint, Http, Idempotent};
use crate::speech::{
    price_per_1000_chars, split_text, CloudVoice, Speech, SpeechProvider, SpeechRequest, OPENAI,
};
use crate::{ProviderError, Secret};

pub const MODELS: [&str; 3] = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts"];
/// The voices of `tts-1` and `tts-1-hd`; `gpt-4o-mini-tts` adds `ballad` and `verse`.
pub const VOICES: [&str; 9] = [
    "alloy", "ash", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
];
const MINI_ONLY: [&str; 2] = ["ballad", "verse"];
/// The documented limit of `input`.
pub const MAX_INPUT_CHARS: usize = 4096;

pub struct OpenAiSpeech {
    http: Http,
    /// The models offered to users (all three by default).
    pub models: Vec<String>,
}

impl OpenAiSpeech {
    pub fn new(endpoint: Endpoint) -> Result<Self, ProviderError> {
        Ok(OpenAiSpeech {
            http: Http::new(OPENAI, endpoint)?,
            models: MODELS.iter().map(|m| m.to_string()).collect(),
        })
    }

    pub fn with_key(key: Secret) -> Result<Self, ProviderError> {
        Self::new(Endpoint::new(crate::openai::DEFAULT_BASE_URL, key)?)
    }

    fn voices_of(model: &str) -> impl Iterator<Item = &'static str> {
        let extra: &[&'static str] = if model == "gpt-4o-mini-tts" {
            &MINI_ONLY
        } else {
            &[]
        };
        VOICES.iter().copied().chain(extra.iter().copied())
    }

    fn unsupported(model: &str, reason: impl Into<String>) -> ProviderError {
        ProviderError::Unsupported {
            model: format!("openai/{model}"),
            reason: reason.into(),
        }
    }
}

#[async_trait]
impl SpeechProvider for OpenAiSpeech {
    fn name(&self) -> &'static str {
        OPENAI
    }

    fn default_model(&self) -> &str {
        "tts-1"
    }

    async fn voices(&self) -> Result<Vec<CloudVoice>, ProviderError> {
        let mut out = Vec::new();
        for model in &self.models {
            let Some(price) = price_per_1000_chars(OPENAI, model) else {
                continue;
            };
            for voice in Self::voices_of(model) {
                let mut name = voice.to_owned();
                name[..1].make_ascii_uppercase();
                out.push(CloudVoice {
                    id: format!("openai/{model}/{voice}"),
                    name: format!("{name} ({model})"),
                    // OpenAI's voices read the script's language; they are tuned for English.
                    language: "multilingual".into(),
                    gender: None,
                    engine: OPENAI,
                    model: model.clone(),
                    price_per_1000_chars: price,
                });
            }
        }
        Ok(out)
    }

    async fn synthesize(&self, req: &SpeechRequest) -> Result<Speech, ProviderError> {
        let model = req
            .model
            .as_deref()
            .unwrap_or(self.default_model())
            .to_owned();
        if !self.models.contains(&model) {
            return Err(Self::unsupported(
                &model,
                "this speech model is not offered here",
            ));
        }
        if !Self::voices_of(&model).any(|v| v == req.voice) {
            return Err(Self::unsupported(
                &model,
                format!("no voice `{}`", req.voice),
            ));
        }
        if req.instructions.is_some() && model != "gpt-4o-mini-tts" {
            return Err(Self::unsupported(
                &model,
                "only gpt-4o-mini-tts takes instructions on how to speak",
            ));
        }
        if req.text.trim().is_empty() {
            return Err(Self::unsupported(&model, "there is nothing to say"));
        }
        let url = self.http.url("audio/speech")?;
        let mut audio = Vec::new();
        let mut request_id = None;
        for piece in split_text(&req.text, MAX_INPUT_CHARS) {
            let mut body = json!({
                "model": model, "input": piece, "voice": req.voice, "response_format": "mp3",
            });
            if let Some(i) = &req.instructions {
                body["instructions"] = json!(i);
            }
            // Not resent after a timeout: each accepted request is billed.
            let resp = self
                .http
                .send("speech", Idempotent::No, &|c| {
                    c.request(Method::POST, url.clone())
                        .bearer_auth(self.http.ep.key.expose())
                        .json(&body)
                })
                .await?;
            if request_id.is_none() {
                request_id = resp
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
            }
            let bytes = resp.bytes().await.map_err(|e| ProviderError::Network {
                provider: OPENAI,
                detail: e.to_string(),
            })?;
            if bytes.is_empty() {
                return Err(self.http.malformed("speech answer without audio"));
            }
            // MP3 is a sequence of frames: pieces join end to end.
            audio.extend_from_slice(&bytes);
        }
        Ok(Speech {
            audio,
            model,
            words: None,
            request_id,
        })
    }
}

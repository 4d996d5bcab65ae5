//! ElevenLabs text to speech (<https://elevenlabs.io/docs/api-reference>), `xi-api-key` header:
//! - `POST {base}/v1/text-to-speech/{voice_id}/with-timestamps?output_format=mp3_44100_128`
//!   with `text` and `model_id` answers `audio_base64` and `alignment` (`characters`,
//!   `character_start_times_seconds`, `character_end_times_seconds`), from which the words are
//!   timed directly: no alignment is needed.
//! - `GET {base}/v1/voices` lists the account's voices (`voice_id`, `name`, `labels.gender`,
//!   `verified_languages[].language`).
//!
//! Text longer than the model's limit is sent in pieces; each piece's times are shifted by the
//! previous pieces' spoken length (their last character's end).

use async_trait::async_trait;
use base64::Engine;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::http::{Endpoint, Http, Idempotent};
use crate::speech::{
    price_per_1000_chars, split_text, words_from_characters, CloudVoice, Speech, SpeechProvider,
    SpeechRequest, ELEVENLABS,
};
use crate::{ProviderError, Secret, Word};

pub const DEFAULT_BASE_URL: &str = "https://api.elevenlabs.io";
pub const DEFAULT_MODEL: &str = "eleven_multilingual_v2";
/// Characters per request: eleven_multilingual_v2's documented limit (10,000), the smallest of
/// the models offered.
pub const MAX_TEXT_CHARS: usize = 10_000;

pub struct ElevenLabs {
    http: Http,
    pub model: String,
}

impl ElevenLabs {
    pub fn new(endpoint: Endpoint, model: Option<&str>) -> Result<Self, ProviderError> {
        let model = model.unwrap_or(DEFAULT_MODEL).to_owned();
        if price_per_1000_chars(ELEVENLABS, &model).is_none() {
            return Err(ProviderError::Config(format!(
                "elevenlabs: unknown speech model `{model}`"
            )));
        }
        Ok(ElevenLabs {
            http: Http::new(ELEVENLABS, endpoint)?,
            model,
        })
    }

    pub fn with_key(key: Secret) -> Result<Self, ProviderError> {
        Self::new(Endpoint::new(DEFAULT_BASE_URL, key)?, None)
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.header("xi-api-key", self.http.ep.key.expose())
    }
}

#[derive(Deserialize)]
struct VoiceList {
    voices: Vec<VoiceEntry>,
}

#[derive(Deserialize)]
struct VoiceEntry {
    voice_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: Option<std::collections::HashMap<String, String>>,
    #[serde(default)]
    verified_languages: Option<Vec<Language>>,
}

#[derive(Deserialize)]
struct Language {
    language: String,
}

#[derive(Deserialize)]
struct Timed {
    audio_base64: String,
    alignment: Option<Alignment>,
}

#[derive(Deserialize)]
struct Alignment {
    characters: Vec<String>,
    character_start_times_seconds: Vec<f64>,
    character_end_times_seconds: Vec<f64>,
}

#[async_trait]
impl SpeechProvider for ElevenLabs {
    fn name(&self) -> &'static str {
        ELEVENLABS
    }

    fn default_model(&self) -> &str {
        &self.model
    }

    async fn voices(&self) -> Result<Vec<CloudVoice>, ProviderError> {
        let url = self.http.url("v1/voices")?;
        let (list, _): (VoiceList, _) = self
            .http
            .send_json("voices", Idempotent::Yes, &|c| {
                self.auth(c.request(Method::GET, url.clone()))
            })
            .await?;
        let price = price_per_1000_chars(ELEVENLABS, &self.model).unwrap_or_default();
        Ok(list
            .voices
            .into_iter()
            .filter(|v| {
                crate::speech::CloudVoiceId::parse(&format!("elevenlabs/{}", v.voice_id)).is_some()
            })
            .map(|v| {
                let label = |k: &str| v.labels.as_ref().and_then(|l| l.get(k)).cloned();
                CloudVoice {
                    id: format!("elevenlabs/{}/{}", self.model, v.voice_id),
                    name: v.name.clone().unwrap_or_else(|| v.voice_id.clone()),
                    language: v
                        .verified_languages
                        .as_ref()
                        .and_then(|l| l.first())
                        .map(|l| l.language.clone())
                        .or_else(|| label("language"))
                        .unwrap_or_else(|| "multilingual".into()),
                    gender: label("gender"),
                    engine: ELEVENLABS,
                    model: self.model.clone(),
                    price_per_1000_chars: price,
                }
            })
            .collect())
    }

    async fn synthesize(&self, req: &SpeechRequest) -> Result<Speech, ProviderError> {
        let model = req.model.clone().unwrap_or_else(|| self.model.clone());
        let unsupported = |reason: &str| ProviderError::Unsupported {
            model: format!("elevenlabs/{model}"),
            reason: reason.into(),
        };
        if crate::speech::CloudVoiceId::parse(&format!("elevenlabs/{}", req.voice)).is_none() {
            return Err(unsupported("not an ElevenLabs voice id"));
        }
        if req.instructions.is_some() {
            return Err(unsupported(
                "ElevenLabs takes no instructions on how to speak",
            ));
        }
        if req.text.trim().is_empty() {
            return Err(unsupported("there is nothing to say"));
        }
        let mut url = self
            .http
            .url(&format!("v1/text-to-speech/{}/with-timestamps", req.voice))?;
        url.query_pairs_mut()
            .append_pair("output_format", "mp3_44100_128");
        let mut audio = Vec::new();
        let mut words: Vec<Word> = Vec::new();
        let mut offset = 0.0;
        let mut request_id = None;
        for piece in split_text(&req.text, MAX_TEXT_CHARS) {
            let body = json!({ "text": piece, "model_id": model });
            let (timed, headers): (Timed, _) = self
                .http
                .send_json("speech", Idempotent::No, &|c| {
                    self.auth(c.request(Method::POST, url.clone())).json(&body)
                })
                .await?;
            if request_id.is_none() {
                request_id = headers
                    .get("request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(timed.audio_base64.as_bytes())
                .map_err(|e| self.http.malformed(format!("audio_base64: {e}")))?;
            if bytes.is_empty() {
                return Err(self.http.malformed("an answer without audio"));
            }
            let a = timed
                .alignment
                .ok_or_else(|| self.http.malformed("an answer without alignment"))?;
            let n = a.characters.len();
            if a.character_start_times_seconds.len() != n
                || a.character_end_times_seconds.len() != n
                || a.character_start_times_seconds
                    .iter()
                    .zip(&a.character_end_times_seconds)
                    .any(|(s, e)| !(s.is_finite() && e >= s))
            {
                return Err(self
                    .http
                    .malformed("the alignment's times do not match its characters"));
            }
            for mut w in words_from_characters(
                &a.characters,
                &a.character_start_times_seconds,
                &a.character_end_times_seconds,
            ) {
                w.start += offset;
                w.end += offset;
                words.push(w);
            }
            offset += a.character_end_times_seconds.last().copied().unwrap_or(0.0);
            audio.extend_from_slice(&bytes);
        }
        Ok(Speech {
            audio,
            model,
            words: Some(words),
            request_id,
        })
    }
}

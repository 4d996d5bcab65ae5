//! Cloud voices (issue 17): narration synthesized by OpenAI's speech API or ElevenLabs, behind
//! the same call policy, consent, transfer log, credit prices and key handling as the video
//! providers.
//!
//! A job names a cloud voice in its `tts.voice` as `openai/<model>/<voice>` (`openai/tts-1/alloy`)
//! or `elevenlabs/<voice_id>`; [`CloudVoiceId::parse`] reads it, and every other name stays a
//! local engine's voice. [`SpeechProvider::synthesize`] returns the audio and, where the provider
//! times what it said (ElevenLabs' character alignment), the word timings; without them the
//! engine aligns the audio to the script as it does a user's recording.
//!
//! Prices are credits (0.01 USD) per 1000 characters of narration, from the providers' list
//! prices when written (see docs/providers.md): estimates for quoting, the provider's bill is the
//! truth.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::{ProviderError, Word};

/// A cloud voice as the voice catalogue lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudVoice {
    /// What a job's `tts.voice` names: `openai/tts-1/alloy`,
    /// `elevenlabs/eleven_multilingual_v2/21m00Tcm4TlvDq8ikWAM`.
    pub id: String,
    pub name: String,
    /// A BCP 47 language the provider says the voice speaks, or `multilingual`.
    pub language: String,
    /// As the provider labels it; `None` where it does not say.
    pub gender: Option<String>,
    /// The provider (`openai`, `elevenlabs`): the name consent and the transfer log use.
    pub engine: &'static str,
    pub model: String,
    pub price_per_1000_chars: f64,
}

/// A cloud voice named by a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudVoiceId {
    /// `openai` or `elevenlabs`.
    pub provider: &'static str,
    /// The provider's model; ElevenLabs' default (`eleven_multilingual_v2`) when `None`.
    pub model: Option<String>,
    /// The provider's voice id.
    pub voice: String,
}

impl CloudVoiceId {
    /// The model this voice is synthesized (and priced) with.
    pub fn model_or_default(&self) -> &str {
        match (&self.model, self.provider) {
            (Some(m), _) => m,
            (None, ELEVENLABS) => crate::elevenlabs::DEFAULT_MODEL,
            (None, _) => "tts-1",
        }
    }

    /// Credits per 1000 characters, `None` for a model we do not know (refused at submission).
    pub fn price_per_1000_chars(&self) -> Option<f64> {
        price_per_1000_chars(self.provider, self.model_or_default())
    }

    /// `Some` for a name in a cloud provider's form; `None` for a local engine's voice.
    pub fn parse(name: &str) -> Option<CloudVoiceId> {
        let plain = |s: &str| {
            // A voice id goes into a URL path: no dots, so never `..`.
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if let Some(rest) = name.strip_prefix("openai/") {
            // openai/<model>/<voice>
            let (model, voice) = rest.split_once('/')?;
            return (plain(model) && plain(voice)).then(|| CloudVoiceId {
                provider: OPENAI,
                model: Some(model.to_owned()),
                voice: voice.to_owned(),
            });
        }
        if let Some(rest) = name.strip_prefix("elevenlabs/") {
            let (model, voice) = match rest.split_once('/') {
                Some((m, v)) => (Some(m), v),
                None => (None, rest),
            };
            return (plain(voice) && model.is_none_or(plain)).then(|| CloudVoiceId {
                provider: ELEVENLABS,
                model: model.map(str::to_owned),
                voice: voice.to_owned(),
            });
        }
        None
    }

    /// Whether `name` is meant as a cloud voice (even a malformed one): such a name is never
    /// handed to a local engine.
    pub fn looks_cloud(name: &str) -> bool {
        name.starts_with("openai/") || name.starts_with("elevenlabs/")
    }
}

pub const OPENAI: &str = "openai";
pub const ELEVENLABS: &str = "elevenlabs";

/// Credits per 1000 characters for a provider's speech model, `None` for a model we do not know.
pub fn price_per_1000_chars(provider: &str, model: &str) -> Option<f64> {
    Some(match (provider, model) {
        // $15 and $30 per million characters.
        (OPENAI, "tts-1") => 1.5,
        (OPENAI, "tts-1-hd") => 3.0,
        // Billed by tokens; OpenAI estimates about $0.015 a minute, about 1000 characters.
        (OPENAI, "gpt-4o-mini-tts") => 1.5,
        (ELEVENLABS, "eleven_multilingual_v2" | "eleven_v3") => 10.0,
        (ELEVENLABS, "eleven_flash_v2_5" | "eleven_turbo_v2_5") => 5.0,
        _ => return None,
    })
}

/// The credits a narration of `chars` characters costs, rounded up to a whole credit.
pub fn credits_for(price_per_1000: f64, chars: usize) -> u64 {
    (price_per_1000 * chars as f64 / 1000.0).ceil() as u64
}

/// One narration to synthesize.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechRequest {
    /// The provider's voice id.
    pub voice: String,
    /// The provider's model; the adapter's default when `None`.
    pub model: Option<String>,
    pub text: String,
    /// How to speak (`gpt-4o-mini-tts` only).
    pub instructions: Option<String>,
}

/// Synthesized narration.
#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    /// MP3 audio.
    pub audio: Vec<u8>,
    pub model: String,
    /// When and what was said, per word, if the provider timed it.
    pub words: Option<Vec<Word>>,
    pub request_id: Option<String>,
}

#[async_trait]
pub trait SpeechProvider: Send + Sync {
    /// The registry name: `openai` or `elevenlabs`.
    fn name(&self) -> &'static str;
    /// The model a request without one uses.
    fn default_model(&self) -> &str;
    /// The voices this account offers.
    async fn voices(&self) -> Result<Vec<CloudVoice>, ProviderError>;
    async fn synthesize(&self, req: &SpeechRequest) -> Result<Speech, ProviderError>;
}

/// Every configured cloud voice, for the voice catalogue. A provider that cannot list its voices
/// right now (ElevenLabs unreachable) is left out, not an error: local voices still work.
pub async fn cloud_voices(providers: &[Arc<dyn SpeechProvider>]) -> Vec<CloudVoice> {
    let mut all = Vec::new();
    for p in providers {
        match p.voices().await {
            Ok(v) => all.extend(v),
            Err(e) => tracing::warn!(provider = p.name(), error = %e, "cannot list cloud voices"),
        }
    }
    all
}

/// Splits `text` into pieces of at most `max` characters, at sentence ends where possible,
/// else at spaces: providers cap one request's text.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > max {
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let head = &rest[..limit];
        let cut = head
            .rfind(['.', '!', '?', '\n'])
            .map(|i| i + 1)
            .filter(|&i| i > limit / 3)
            .or_else(|| head.rfind(' ').filter(|&i| i > 0))
            .unwrap_or(limit);
        pieces.push(rest[..cut].trim().to_owned());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces.retain(|p| !p.is_empty());
    pieces
}

/// Words from a character alignment (ElevenLabs' `alignment`): runs of non-space characters,
/// each from its first character's start to its last one's end, trimmed of the punctuation
/// around it as a transcription would give it.
pub fn words_from_characters(chars: &[String], starts: &[f64], ends: &[f64]) -> Vec<Word> {
    let mut words = Vec::new();
    let mut current: Option<(String, f64, f64)> = None;
    for ((c, &s), &e) in chars.iter().zip(starts).zip(ends) {
        if c.trim().is_empty() {
            if let Some(w) = current.take() {
                words.push(w);
            }
            continue;
        }
        match &mut current {
            Some((text, _, end)) => {
                text.push_str(c);
                *end = e;
            }
            None => current = Some((c.clone(), s, e)),
        }
    }
    words.extend(current);
    words
        .into_iter()
        .filter_map(|(text, start, end)| {
            let t = text.trim_matches(|c: char| !c.is_alphanumeric());
            (!t.is_empty()).then(|| Word {
                word: t.to_owned(),
                start,
                end: end.max(start),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_voice_names_parse_and_local_ones_do_not() {
        let v = CloudVoiceId::parse("openai/gpt-4o-mini-tts/coral").unwrap();
        assert_eq!(
            (v.provider, v.model.as_deref(), v.voice.as_str()),
            (OPENAI, Some("gpt-4o-mini-tts"), "coral")
        );
        let v = CloudVoiceId::parse("elevenlabs/21m00Tcm4TlvDq8ikWAM").unwrap();
        assert_eq!(
            (v.provider, v.model, v.voice.as_str()),
            (ELEVENLABS, None, "21m00Tcm4TlvDq8ikWAM")
        );
        let v = CloudVoiceId::parse("elevenlabs/eleven_flash_v2_5/pNInz6obpgDQGcFmaJgB").unwrap();
        assert_eq!(v.model.as_deref(), Some("eleven_flash_v2_5"));
        assert_eq!(CloudVoiceId::parse("en-us"), None);
        assert_eq!(CloudVoiceId::parse("openai/alloy"), None);
        assert_eq!(CloudVoiceId::parse("elevenlabs/../x"), None);
        assert!(CloudVoiceId::looks_cloud("elevenlabs/../x"));
    }

    #[test]
    fn prices_round_up_to_whole_credits() {
        assert_eq!(
            credits_for(price_per_1000_chars(OPENAI, "tts-1").unwrap(), 1000),
            2
        );
        assert_eq!(credits_for(10.0, 1), 1);
        assert_eq!(credits_for(10.0, 2500), 25);
        assert_eq!(price_per_1000_chars(OPENAI, "whisper-1"), None);
    }

    #[test]
    fn long_text_splits_at_sentences_within_the_limit() {
        let text = "One two three. Four five six seven. Eight nine.";
        let parts = split_text(text, 20);
        assert!(parts.iter().all(|p| p.chars().count() <= 20), "{parts:?}");
        assert_eq!(parts.join(" "), text);
        assert_eq!(split_text("short", 4096), vec!["short"]);
        let no_stops = "aaaa bbbb cccc dddd";
        assert!(split_text(no_stops, 10).iter().all(|p| p.len() <= 10));
    }

    #[test]
    fn character_alignment_becomes_words() {
        let chars: Vec<String> = "Hi, fox!".chars().map(String::from).collect();
        let starts: Vec<f64> = (0..chars.len()).map(|i| i as f64 * 0.1).collect();
        let ends: Vec<f64> = starts.iter().map(|s| s + 0.1).collect();
        let words = words_from_characters(&chars, &starts, &ends);
        assert_eq!(words.len(), 2);
        assert_eq!(words[0].word, "Hi");
        assert_eq!(words[1].word, "fox");
        assert!((words[1].start - 0.4).abs() < 1e-9 && (words[1].end - 0.8).abs() < 1e-9);
    }
}

//! The voice catalogue: every voice a job may name in `tts.voice`, with what the studio's
//! picker shows about it (language, gender where known, engine, price) and a short sample.
//!
//! This is the one list the API, the studio and job validation read. Today it holds the
//! espeak-ng voices of this machine; other engines add theirs in [`local_voices`] (local
//! engines) or beside it (cloud voices, which have a price and need consent).

use std::path::Path;
use std::sync::OnceLock;

use reelsmith_core::{Code, ErrorCode, TtsSettings};
use serde::Serialize;

use crate::audio::write_wav;
use crate::speech::voices::SpeechConfig;
use crate::speech::{list_voices, SpeechError};

/// One voice of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoiceEntry {
    /// What `tts.voice` takes.
    pub id: String,
    pub name: String,
    /// A BCP 47-like language tag (`en-us`, `fr`, `cmn`).
    pub language: String,
    /// `female` or `male` when the engine says; espeak-ng's language voices do not.
    pub gender: Option<String>,
    /// `espeak-ng` (formant synthesis, local).
    pub engine: String,
    /// True when the voice runs on this server and sends nothing anywhere.
    pub local: bool,
    /// Credits per job on top of the render's own price (0 for local voices).
    pub price_credits: u64,
    /// Whether `tts.rate` (speed) and `tts.pitch` change this voice.
    pub speed: bool,
    pub pitch: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error("no voice `{0}` on this server")]
    Unknown(String),
    #[error(transparent)]
    Speech(#[from] SpeechError),
    #[error("writing the sample: {0}")]
    Io(#[from] std::io::Error),
}

impl ErrorCode for VoiceError {
    fn code(&self) -> Code {
        match self {
            VoiceError::Unknown(_) => Code::VoiceUnknown,
            VoiceError::Speech(e) => e.code(),
            VoiceError::Io(_) => Code::VoiceSampleIo,
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(self, VoiceError::Unknown(_))
    }
}

const ESPEAK: &str = "espeak-ng";

/// The voices of the local engines under the operator's speech settings (`[speech]`, through
/// `reelsmith_jobs::speech::speech_config`): the usable Piper voices of the configured folder,
/// then espeak-ng's languages. espeak-ng's list is read once (installed voices do not change
/// while the server runs); the Piper folder is read each time, so a voice an operator adds is
/// listed without a restart (a model's checksum is computed once per file version).
pub fn local_voices(speech: &SpeechConfig) -> Vec<VoiceEntry> {
    static ESPEAK_VOICES: OnceLock<Vec<VoiceEntry>> = OnceLock::new();
    let espeak = ESPEAK_VOICES.get_or_init(|| match list_voices() {
        Ok(names) => names.into_iter().map(espeak_entry).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "espeak-ng lists no voices");
            Vec::new()
        }
    });
    let mut voices = piper_entries(speech);
    voices.extend(espeak.iter().cloned());
    voices
}

/// The natural voices of the configured folder that load: a voice with a problem (a corrupt
/// model) is left out, so no job can name it ([`piper_problem`] says why).
fn piper_entries(speech: &SpeechConfig) -> Vec<VoiceEntry> {
    crate::speech::voices::piper_voices(speech)
        .into_iter()
        .filter(|v| v.problem.is_none())
        .map(|v| VoiceEntry {
            id: v.id,
            name: format!("{} (Piper, natural)", v.label),
            language: v.language,
            gender: v.gender,
            engine: "piper".into(),
            local: true,
            price_credits: 0,
            speed: false,
            pitch: false,
        })
        .collect()
}

/// Why the Piper voice `id` (`piper:<name>`) of the configured folder cannot be used, when it
/// is there but broken (a corrupt model, an unreadable config). None when it is fine or absent.
pub fn piper_problem(id: &str, speech: &SpeechConfig) -> Option<String> {
    id.strip_prefix("piper:")?;
    crate::speech::voices::piper_voices(speech)
        .into_iter()
        .find(|v| v.id == id)
        .and_then(|v| v.problem)
}

fn espeak_entry(language: String) -> VoiceEntry {
    VoiceEntry {
        id: language.clone(),
        name: format!("{} ({ESPEAK})", language_name(&language)),
        language,
        gender: None,
        engine: ESPEAK.into(),
        local: true,
        price_credits: 0,
        speed: true,
        pitch: true,
    }
}

/// The catalogue entry of `id` under `speech`. `espeak:<language>` is espeak-ng's entry for
/// that language spoken by espeak-ng whatever the default voice is (a bare language may be
/// Piper's, D-voice-6).
pub fn find_voice(id: &str, speech: &SpeechConfig) -> Option<VoiceEntry> {
    let voices = local_voices(speech);
    if let Some(language) = id.strip_prefix("espeak:") {
        return voices
            .into_iter()
            .find(|v| v.id == language && v.engine == ESPEAK);
    }
    voices.into_iter().find(|v| v.id == id)
}

/// Names of the languages the studio is most often asked for; others show their tag.
fn language_name(tag: &str) -> String {
    let base = tag.split(['-', '_']).next().unwrap_or(tag);
    let name = match base {
        "en" => "English",
        "es" => "Spanish",
        "fr" => "French",
        "de" => "German",
        "pt" => "Portuguese",
        "ru" => "Russian",
        "hi" => "Hindi",
        "ar" => "Arabic",
        "ja" => "Japanese",
        "cmn" | "zh" => "Chinese (Mandarin)",
        "yue" => "Chinese (Cantonese)",
        "it" => "Italian",
        "nl" => "Dutch",
        "pl" => "Polish",
        "tr" => "Turkish",
        "uk" => "Ukrainian",
        "sv" => "Swedish",
        "ko" => "Korean",
        _ => return tag.to_owned(),
    };
    if base == tag {
        name.to_owned()
    } else {
        format!("{name} ({tag})")
    }
}

/// A sentence to hear a voice by, in its own language where we have one.
pub fn sample_text(language: &str) -> &'static str {
    match language.split(['-', '_']).next().unwrap_or(language) {
        "es" => "Hola, así suena mi voz en tus vídeos.",
        "fr" => "Bonjour, voici ma voix pour vos vidéos.",
        "de" => "Hallo, so klingt meine Stimme in deinen Videos.",
        "pt" => "Olá, assim soa a minha voz nos seus vídeos.",
        "ru" => "Привет, так звучит мой голос в ваших видео.",
        "it" => "Ciao, questa è la mia voce per i tuoi video.",
        "nl" => "Hallo, zo klinkt mijn stem in jouw video's.",
        "hi" => "नमस्ते, आपके वीडियो में मेरी आवाज़ ऐसी सुनाई देती है।",
        "ar" => "مرحبا، هكذا يبدو صوتي في مقاطعك.",
        "ja" => "こんにちは、これがあなたの動画での私の声です。",
        "cmn" | "zh" | "yue" => "你好，这是我在你的视频里的声音。",
        _ => "Hello, this is how I sound in your videos.",
    }
}

/// Writes a short sample of `id` (at its default speed and pitch) to `out` as a WAV file,
/// spoken as a job with that voice would be under `config` (a bare language follows the
/// operator's default voice).
pub fn write_sample(id: &str, out: &Path, config: &SpeechConfig) -> Result<(), VoiceError> {
    let voice = find_voice(id, config).ok_or_else(|| VoiceError::Unknown(id.to_owned()))?;
    let tts = TtsSettings {
        voice: id.to_owned(),
        ..TtsSettings::default()
    };
    let spoken = crate::speech::speak(sample_text(&voice.language), &tts, config)?;
    write_wav(out, &spoken.narration.audio)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names_and_samples() {
        assert_eq!(language_name("en-us"), "English (en-us)");
        assert_eq!(language_name("fr"), "French");
        assert_eq!(language_name("qya"), "qya");
        assert!(sample_text("fr-fr").starts_with("Bonjour"));
        assert!(sample_text("xx").starts_with("Hello"));
    }
}

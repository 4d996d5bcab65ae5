//! Narration with espeak-ng, timed by the engine itself.
//!
//! espeak-ng reports a WORD event at the exact sample where it starts speaking each word, with
//! the word's character position in the input. Those events, not an estimate from text length,
//! give every word its start; its end is where its voiced audio stops (trailing silence trimmed
//! with a small energy threshold) before the next word, or the clause end, begins. Each word is
//! reported as the whitespace-separated token of the input it belongs to, punctuation kept,
//! with that token's character span, so captions show the script as written.

mod espeak;
mod piper;
mod sentences;
pub mod voices;
mod words;

use reelsmith_core::{Code, ErrorCode, SpecError, TtsSettings};
use serde::{Deserialize, Serialize};

use crate::audio::AudioBuffer;

/// One spoken word of the input and when it is heard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeechWord {
    /// The input's whitespace-separated token, punctuation kept (`"world."`).
    pub text: String,
    /// Characters (not bytes) from the start of the input to the token.
    pub char_offset: usize,
    /// The token's length in characters.
    pub char_len: usize,
    /// Seconds from the start of the audio.
    pub start: f64,
    pub end: f64,
}

impl SpeechWord {
    /// The word as the caption renderer's currency.
    pub fn timing(&self) -> crate::timing::WordTiming {
        crate::timing::WordTiming::new(self.text.clone(), self.start, self.end)
    }
}

/// Synthetic speech and the engine's own timing of every word in it.
#[derive(Debug, Clone)]
pub struct Narration {
    pub audio: AudioBuffer,
    pub words: Vec<SpeechWord>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error(
        "the speech engine espeak-ng is not available: install the Debian package `libespeak-ng1` \
         (it comes with `espeak-ng`; scripts/setup installs it) ({0})"
    )]
    EngineMissing(String),
    #[error("the speech engine failed: {0}")]
    Engine(String),
    #[error("espeak-ng has no voice `{0}`")]
    UnknownVoice(String),
    #[error("invalid speech settings: {0}")]
    InvalidSettings(String),
    #[error("the text has no words that can be spoken")]
    NothingToSay,
    #[error(
        "no installed voice speaks this script's writing ({script}); the voice `{voice}` speaks \
         `{language}`: choose a voice of the script's language"
    )]
    LanguageUnsupported {
        script: &'static str,
        voice: String,
        language: String,
    },
}

impl ErrorCode for SpeechError {
    fn code(&self) -> Code {
        match self {
            SpeechError::EngineMissing(_) => Code::SpeechEngineMissing,
            SpeechError::Engine(_) => Code::SpeechEngineFailed,
            SpeechError::UnknownVoice(_) => Code::SpeechUnknownVoice,
            SpeechError::InvalidSettings(_) => Code::SpeechInvalidSettings,
            SpeechError::NothingToSay => Code::SpeechNothingToSay,
            SpeechError::LanguageUnsupported { .. } => Code::SpeechLanguageUnsupported,
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(
            self,
            SpeechError::UnknownVoice(_)
                | SpeechError::InvalidSettings(_)
                | SpeechError::NothingToSay
                | SpeechError::LanguageUnsupported { .. }
        )
    }
}

/// Speaks `text` with the voice, rate and pitch of `tts`, returning mono audio at the engine's
/// sample rate (22 050 Hz) and one [`SpeechWord`] per spoken input token, in order.
pub fn synthesize(text: &str, tts: &TtsSettings) -> Result<Narration, SpeechError> {
    check_settings(tts)?;
    if text.trim().is_empty() {
        return Err(SpeechError::NothingToSay);
    }
    let raw = espeak::speak(text, &tts.voice, tts.rate, tts.pitch)?;
    let audio = AudioBuffer {
        samples: raw
            .samples
            .iter()
            .map(|&s| f32::from(s) / 32_768.0)
            .collect(),
        sample_rate: raw.sample_rate,
    };
    let words = words::timed_words(text, &raw.events, &audio);
    if words.is_empty() {
        return Err(SpeechError::NothingToSay);
    }
    Ok(Narration { audio, words })
}

/// The voice names `TtsSettings::voice` accepts: espeak-ng's language names (`en-us`, `fr-fr`,
/// `de`, `ru`, ...), sorted. A voice's file identifier works too but is not listed.
pub fn list_voices() -> Result<Vec<String>, SpeechError> {
    espeak::voice_languages()
}

pub(crate) fn check_settings(tts: &TtsSettings) -> Result<(), SpeechError> {
    tts.validate().map_err(|e| match e {
        SpecError::InvalidVoice(name) => SpeechError::UnknownVoice(name),
        other => SpeechError::InvalidSettings(other.to_string()),
    })
}

/// Whether the local voice `voice` can read `script`: the script's letters are ones its language
/// is written in (an Arabic script for an `en-us` voice is refused, `speech.language_unsupported`).
/// Cheap and synthesizes nothing, so the server checks it when a job is submitted, before any
/// credit is reserved. Cloud voices are the providers' question and are not checked here.
pub fn check_voice_for_script(
    script: &str,
    voice: &str,
    config: &voices::SpeechConfig,
) -> Result<(), SpeechError> {
    let language = voices::reference_language(voice, config)?;
    sentences::check_script(script, &language, voice)
}

/// Narration and how it was made: which engine spoke, and what the caller should report.
#[derive(Debug, Clone)]
pub struct Spoken {
    pub narration: Narration,
    pub engine: voices::SpeechEngine,
    /// The voice that spoke, as a voice id (`piper:en_US-joe-medium`, `espeak:en-us`).
    pub voice: String,
    /// Fallbacks taken (a corrupt Piper model, a missing runtime) and sentences whose words
    /// the aligner could not place and that were timed evenly instead.
    pub notes: Vec<String>,
}

/// Speaks `text` with the voice `tts.voice` names, resolved by [`voices`] against `config`:
/// Piper where chosen and usable, espeak-ng otherwise. Word timings are exact for espeak-ng (its
/// own events) and forced-aligned for Piper.
pub fn speak(
    text: &str,
    tts: &TtsSettings,
    config: &voices::SpeechConfig,
) -> Result<Spoken, SpeechError> {
    let mut all = speak_each(&[text], tts, config)?;
    Ok(Spoken {
        narration: all.narrations.remove(0),
        engine: all.engine,
        voice: all.voice,
        notes: all.notes,
    })
}

/// Several texts (a video's scenes) spoken by one voice; a Piper model loads once for all.
#[derive(Debug, Clone)]
pub struct SpokenEach {
    pub narrations: Vec<Narration>,
    pub engine: voices::SpeechEngine,
    pub voice: String,
    pub notes: Vec<String>,
}

/// [`speak`] for several texts at once, in order.
pub fn speak_each(
    texts: &[&str],
    tts: &TtsSettings,
    config: &voices::SpeechConfig,
) -> Result<SpokenEach, SpeechError> {
    check_settings(tts)?;
    if texts.is_empty() || texts.iter().any(|t| t.trim().is_empty()) {
        return Err(SpeechError::NothingToSay);
    }
    let mut notes = Vec::new();
    let resolved = voices::resolve(&tts.voice, config, &mut notes)?;
    let language = match &resolved {
        voices::Resolved::Espeak { language } => language.clone(),
        voices::Resolved::Piper { voice } => voice.espeak_voice.clone(),
    };
    for text in texts {
        sentences::check_script(text, &language, &tts.voice)?;
    }
    let (narrations, engine, voice) = match resolved {
        voices::Resolved::Espeak { language } => {
            let espeak_tts = TtsSettings {
                voice: language.clone(),
                ..tts.clone()
            };
            let narrations = texts
                .iter()
                .map(|t| synthesize(t, &espeak_tts))
                .collect::<Result<Vec<_>, _>>()?;
            (
                narrations,
                voices::SpeechEngine::Espeak,
                format!("espeak:{language}"),
            )
        }
        voices::Resolved::Piper { voice } => {
            let narrations = sentences::speak_with_piper(texts, tts, &voice, config, &mut notes)?;
            (
                narrations,
                voices::SpeechEngine::Piper,
                format!("piper:{}", voice.name),
            )
        }
    };
    for note in &notes {
        tracing::warn!("{note}");
    }
    Ok(SpokenEach {
        narrations,
        engine,
        voice,
        notes,
    })
}

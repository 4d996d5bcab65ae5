//! Narration with espeak-ng, timed by the engine itself.
//!
//! espeak-ng reports a WORD event at the exact sample where it starts speaking each word, with
//! the word's character position in the input. Those events, not an estimate from text length,
//! give every word its start; its end is where its voiced audio stops (trailing silence trimmed
//! with a small energy threshold) before the next word, or the clause end, begins. Each word is
//! reported as the whitespace-separated token of the input it belongs to, punctuation kept,
//! with that token's character span, so captions show the script as written.

mod espeak;
mod words;

use reelsmith_core::{ErrorCode, SpecError, TtsSettings};
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
}

impl ErrorCode for SpeechError {
    fn code(&self) -> &'static str {
        match self {
            SpeechError::EngineMissing(_) => "speech.engine_missing",
            SpeechError::Engine(_) => "speech.engine_failed",
            SpeechError::UnknownVoice(_) => "speech.unknown_voice",
            SpeechError::InvalidSettings(_) => "speech.invalid_settings",
            SpeechError::NothingToSay => "speech.nothing_to_say",
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(
            self,
            SpeechError::UnknownVoice(_)
                | SpeechError::InvalidSettings(_)
                | SpeechError::NothingToSay
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

fn check_settings(tts: &TtsSettings) -> Result<(), SpeechError> {
    tts.validate().map_err(|e| match e {
        SpecError::InvalidVoice(name) => SpeechError::UnknownVoice(name),
        other => SpeechError::InvalidSettings(other.to_string()),
    })
}

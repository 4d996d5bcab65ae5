//! The voice a job that names none is narrated by (`[speech]`, D-voice-6), shared by the API
//! (which checks a script against it at submission) and the worker (which speaks it).

use reelsmith_config::Config;
use reelsmith_media::speech::voices::{DefaultVoiceStatus, SpeechConfig};

/// The engine's speech settings from `[speech]`: the one place every reader of Piper voices
/// gets them (the catalogue `GET /api/v1/voices` and its samples, the API's voice checks at
/// quote and submission, the worker, `reelsmith render`), so a voice in the operator's
/// `piper_voices` (or `<piper_home>/voices`) is listed and accepted by id wherever it is
/// named. Under `auto` a bare language goes to the installed Piper voice for it. A
/// `default_voice` the validation refuses never gets here from a started server; were it to,
/// espeak-ng speaks bare languages rather than a job failing, the folders still honoured.
pub fn speech_config(config: &Config) -> SpeechConfig {
    let s = &config.speech;
    let folders = |default_voice: &str| {
        SpeechConfig::from_settings(
            default_voice,
            s.piper_home.as_deref(),
            s.piper_voices.as_deref(),
        )
    };
    folders(&s.default_voice)
        .or_else(|_| folders("espeak"))
        .unwrap_or_default()
}

/// What narrates an English script given no voice, as one line for the start-up log and
/// `reelsmith config check`: `Ok` names the voice, `Err` says it fell back and why.
pub fn default_voice_line(config: &Config) -> Result<String, String> {
    let speech = speech_config(config);
    let language = reelsmith_core::TtsSettings::default().voice;
    let DefaultVoiceStatus { voice, fallback } = speech.default_voice_status(&language);
    let asked = &config.speech.default_voice;
    match fallback {
        None => Ok(format!(
            "`{language}` scripts are narrated by {voice} (default_voice = \"{asked}\")"
        )),
        Some(why) => Err(format!(
            "`{language}` scripts are narrated by {voice}, not the natural voice \
             (default_voice = \"{asked}\"): {why}"
        )),
    }
}

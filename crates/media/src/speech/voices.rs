//! Which speech engine and voice speak a script: the voice ids a spec may name, the operator's
//! speech settings, and the catalogue of voices installed on this machine.
//!
//! A voice id is `engine:name` or a bare espeak-ng language name:
//! - `piper:en_US-joe-medium`: the Piper voice whose model is `en_US-joe-medium.onnx` in the
//!   configured voice folder;
//! - `espeak:fr`: espeak-ng's French, always espeak-ng;
//! - `fr`, `en-us`, ...: the language, spoken by the natural (Piper) voice for it when one is
//!   installed and the operator prefers natural voices, otherwise by espeak-ng. This is what every
//!   existing spec says, so old specs keep working and get the better voice where there is one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{piper, SpeechError};

/// The local speech engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeechEngine {
    /// espeak-ng formant synthesis: every language, robotic, exact word events.
    Espeak,
    /// Piper (VITS neural voices, ONNX): natural, one model per voice, timed by forced alignment.
    Piper,
}

impl SpeechEngine {
    pub fn as_str(self) -> &'static str {
        match self {
            SpeechEngine::Espeak => "espeak",
            SpeechEngine::Piper => "piper",
        }
    }
}

/// A voice as a spec names it (see the module documentation for the forms).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VoiceId {
    /// A bare language name: the best installed voice for it.
    Language(String),
    Espeak(String),
    Piper(String),
}

impl VoiceId {
    /// Parses `tts.voice`. Only the form is checked here; whether the voice exists is the
    /// resolver's question.
    pub fn parse(voice: &str) -> Result<VoiceId, SpeechError> {
        let (engine, name) = match voice.split_once(':') {
            Some((e, n)) => (Some(e), n),
            None => (None, voice),
        };
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'.'))
            && !name.starts_with('.');
        if !name_ok {
            return Err(SpeechError::UnknownVoice(voice.to_string()));
        }
        match engine {
            None => Ok(VoiceId::Language(name.to_string())),
            Some("espeak") => Ok(VoiceId::Espeak(name.to_string())),
            Some("piper") => Ok(VoiceId::Piper(name.to_string())),
            Some(_) => Err(SpeechError::UnknownVoice(voice.to_string())),
        }
    }
}

impl std::fmt::Display for VoiceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VoiceId::Language(l) => write!(f, "{l}"),
            VoiceId::Espeak(l) => write!(f, "espeak:{l}"),
            VoiceId::Piper(n) => write!(f, "piper:{n}"),
        }
    }
}

/// The operator's speech settings (`[engine.speech]` of the engine configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpeechConfig {
    /// A folder of Piper voices, each a `NAME.onnx` with its `NAME.onnx.json` (and optionally
    /// `NAME.onnx.md5`). None: no Piper voices.
    pub piper_voices: Option<PathBuf>,
    /// The Python interpreter that has the Piper runtime (PyPI `piper-tts`) installed.
    pub piper_python: PathBuf,
    /// Bare language names (`en-us`) go to an installed Piper voice for that language.
    pub prefer_natural: bool,
    /// With `prefer_natural`: this Piper voice (a model name) speaks its language rather than
    /// another installed voice of it; when it is missing or corrupt, espeak-ng speaks, with a note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_piper: Option<String>,
}

/// Where `scripts/setup` installs the Piper runtime and the default voice.
pub const SETUP_PIPER_HOME: &str = "/opt/reelsmith/piper";

impl Default for SpeechConfig {
    /// espeak-ng only: an engine built without settings speaks exactly as it always has.
    /// The command line, the API and the worker build theirs from `[speech]`
    /// (`reelsmith_jobs::speech::speech_config`), starting from [`SpeechConfig::installed`].
    fn default() -> Self {
        SpeechConfig {
            piper_voices: None,
            piper_python: Path::new(SETUP_PIPER_HOME).join("bin/python"),
            prefer_natural: false,
            preferred_piper: None,
        }
    }
}

impl SpeechConfig {
    /// The setup's installation when it is there (`REELSMITH_PIPER_HOME` overrides the
    /// folder): its voices, natural voices preferred.
    pub fn installed() -> SpeechConfig {
        let home = std::env::var_os("REELSMITH_PIPER_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(SETUP_PIPER_HOME));
        let voices = home.join("voices");
        SpeechConfig {
            piper_voices: voices.is_dir().then_some(voices),
            piper_python: home.join("bin/python"),
            prefer_natural: true,
            preferred_piper: None,
        }
    }

    /// The operator's `[speech]` settings as the engine takes them. `default_voice` is `auto`
    /// (the installed Piper voice of a script's language, else espeak-ng), `espeak` (espeak-ng
    /// always, the engine's old behaviour) or `piper:<name>` (that voice for its language).
    /// `piper_home` is the runtime's folder (None: the setup's, or `REELSMITH_PIPER_HOME`);
    /// `piper_voices` a voice folder other than `<piper_home>/voices`.
    pub fn from_settings(
        default_voice: &str,
        piper_home: Option<&Path>,
        piper_voices: Option<&Path>,
    ) -> Result<SpeechConfig, String> {
        let mut config = SpeechConfig::installed();
        if let Some(home) = piper_home {
            let voices = home.join("voices");
            config.piper_voices = voices.is_dir().then_some(voices);
            config.piper_python = home.join("bin/python");
        }
        if let Some(dir) = piper_voices {
            config.piper_voices = Some(dir.to_path_buf());
        }
        match parse_default_voice(default_voice)? {
            DefaultVoice::Auto => {}
            DefaultVoice::Espeak => config.prefer_natural = false,
            DefaultVoice::Piper(name) => config.preferred_piper = Some(name),
        }
        Ok(config)
    }

    /// What speaks a script in `language` given no voice, and why when it is not the natural
    /// voice the settings ask for: for the worker's start-up log and `reelsmith config check`.
    pub fn default_voice_status(&self, language: &str) -> DefaultVoiceStatus {
        let mut notes = Vec::new();
        let voice = match resolve(language, self, &mut notes) {
            Ok(Resolved::Piper { voice }) => format!("piper:{}", voice.name),
            Ok(Resolved::Espeak { language }) => format!("espeak:{language}"),
            Err(e) => {
                notes.push(e.to_string());
                format!("espeak:{language}")
            }
        };
        DefaultVoiceStatus {
            voice,
            fallback: (!notes.is_empty()).then(|| notes.join("; ")),
        }
    }
}

/// The operator's choice of default voice (`[speech] default_voice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultVoice {
    Auto,
    Espeak,
    Piper(String),
}

/// Reads `[speech] default_voice`: `auto`, `espeak` or `piper:<name>`.
pub fn parse_default_voice(value: &str) -> Result<DefaultVoice, String> {
    match value {
        "auto" => Ok(DefaultVoice::Auto),
        "espeak" => Ok(DefaultVoice::Espeak),
        other => match VoiceId::parse(other) {
            Ok(VoiceId::Piper(name)) => Ok(DefaultVoice::Piper(name)),
            _ => Err(format!(
                "`{other}` is not a default voice: write `auto`, `espeak` or `piper:<voice name>`"
            )),
        },
    }
}

/// [`SpeechConfig::default_voice_status`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultVoiceStatus {
    /// The voice that speaks, as a voice id (`piper:en_US-joe-medium`, `espeak:en-us`).
    pub voice: String,
    /// Why the natural voice the settings ask for does not speak, if so.
    pub fallback: Option<String>,
}

/// One voice of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceInfo {
    /// What `tts.voice` takes to choose exactly this voice (`piper:en_US-joe-medium`, `espeak:fr`).
    pub id: String,
    pub engine: SpeechEngine,
    /// A language tag (`en-us`, `fr`, `pt-br`), lower case as espeak-ng writes it.
    pub language: String,
    /// `male`, `female`, or None where the voice does not say.
    pub gender: Option<String>,
    /// A short human name (`Joe (English, United States)`).
    pub label: String,
    /// Natural voices are preferred for their language.
    pub natural: bool,
    /// Why an installed voice cannot be used (a corrupt model, a missing config), if so.
    pub problem: Option<String>,
}

/// Every voice installed here: Piper voices of the configured folder (the broken ones with their
/// problem), then espeak-ng's languages. An empty espeak-ng list when it is not installed.
pub fn installed_voices(config: &SpeechConfig) -> Vec<VoiceInfo> {
    let mut out = piper_voices(config);
    let mut espeak = super::espeak::voice_entries().unwrap_or_default();
    espeak.sort();
    espeak.dedup_by(|a, b| a.0 == b.0);
    out.extend(espeak.into_iter().map(|(language, gender)| VoiceInfo {
        id: format!("espeak:{language}"),
        engine: SpeechEngine::Espeak,
        label: format!("espeak-ng {language}"),
        language,
        gender,
        natural: false,
        problem: None,
    }));
    out
}

/// The Piper voices of the configured folder (`piper_voices`), sorted by id, the broken ones
/// with their problem (each model's checksum checked, once per file version).
pub fn piper_voices(config: &SpeechConfig) -> Vec<VoiceInfo> {
    let mut out: Vec<VoiceInfo> = piper::catalogue(config)
        .into_iter()
        .map(|v| v.info())
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The voice that will actually speak, after choosing and falling back.
#[derive(Debug, Clone)]
pub(crate) enum Resolved {
    Espeak { language: String },
    Piper { voice: piper::PiperVoice },
}

/// Chooses the engine and voice for `voice`. A named Piper voice that is corrupt or whose
/// runtime is missing falls back to espeak-ng in its language, with the reason in `notes`; one
/// that does not exist is an error.
pub(crate) fn resolve(
    voice: &str,
    config: &SpeechConfig,
    notes: &mut Vec<String>,
) -> Result<Resolved, SpeechError> {
    match VoiceId::parse(voice)? {
        VoiceId::Espeak(language) => Ok(Resolved::Espeak { language }),
        VoiceId::Language(language) => {
            if config.prefer_natural {
                let all = piper::catalogue(config);
                if let Some(name) = &config.preferred_piper {
                    match all.iter().find(|v| &v.name == name) {
                        // Another language's script: the preferred voice does not apply.
                        Some(v) if !same_language(&v.espeak_voice, &language) => {}
                        Some(v) if v.problem.is_some() => {
                            notes.push(fallback_note(v));
                            return Ok(Resolved::Espeak { language });
                        }
                        Some(v) => {
                            if let Err(why) = piper::runtime_ready(config) {
                                notes.push(why);
                                return Ok(Resolved::Espeak { language });
                            }
                            return Ok(Resolved::Piper { voice: v.clone() });
                        }
                        None => {
                            notes.push(format!(
                                "the default voice `piper:{name}` is not installed: espeak-ng \
                                 speaks instead"
                            ));
                            return Ok(Resolved::Espeak { language });
                        }
                    }
                }
                let candidates: Vec<piper::PiperVoice> = all
                    .into_iter()
                    .filter(|v| same_language(&v.espeak_voice, &language))
                    .collect();
                if let Some(v) = candidates.iter().find(|v| v.problem.is_none()) {
                    if let Err(why) = piper::runtime_ready(config) {
                        notes.push(why);
                    } else {
                        return Ok(Resolved::Piper { voice: v.clone() });
                    }
                } else if let Some(broken) = candidates.first() {
                    notes.push(fallback_note(broken));
                } else if language.to_ascii_lowercase().starts_with("en") {
                    // English is the language scripts/setup installs a natural voice for, so
                    // its absence is worth saying: the operator likely skipped that step.
                    notes.push(format!(
                        "no natural (Piper) voice is installed for `{language}`: espeak-ng speaks \
                         instead (scripts/setup installs Piper and the en_US-joe-medium voice)"
                    ));
                }
            }
            Ok(Resolved::Espeak { language })
        }
        VoiceId::Piper(name) => {
            let found = piper::catalogue(config)
                .into_iter()
                .find(|v| v.name == name)
                .ok_or_else(|| SpeechError::UnknownVoice(format!("piper:{name}")))?;
            if found.problem.is_some() {
                notes.push(fallback_note(&found));
                return Ok(Resolved::Espeak {
                    language: found.espeak_voice,
                });
            }
            if let Err(why) = piper::runtime_ready(config) {
                notes.push(why);
                return Ok(Resolved::Espeak {
                    language: found.espeak_voice,
                });
            }
            Ok(Resolved::Piper { voice: found })
        }
    }
}

/// The espeak-ng language that speaks the forced aligner's reference reading for `voice`: a
/// recording read in a Piper voice's language is aligned against espeak-ng in that language.
pub fn reference_language(voice: &str, config: &SpeechConfig) -> Result<String, SpeechError> {
    match VoiceId::parse(voice)? {
        VoiceId::Language(l) | VoiceId::Espeak(l) => Ok(l),
        VoiceId::Piper(name) => piper::catalogue(config)
            .into_iter()
            .find(|v| v.name == name)
            .map(|v| v.espeak_voice)
            .ok_or_else(|| SpeechError::UnknownVoice(format!("piper:{name}"))),
    }
}

fn fallback_note(v: &piper::PiperVoice) -> String {
    format!(
        "the Piper voice `{}` cannot be used ({}); espeak-ng `{}` speaks instead",
        v.name,
        v.problem.as_deref().unwrap_or("unknown problem"),
        v.espeak_voice
    )
}

/// `en-us` matches `en-us` and `en`; `en` matches every English voice's espeak name `en-*`
/// only when it is the same (espeak-ng's `en` is British, so a US voice is not it).
fn same_language(piper_espeak: &str, wanted: &str) -> bool {
    piper_espeak.eq_ignore_ascii_case(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_ids_parse_in_all_three_forms() {
        assert_eq!(
            VoiceId::parse("en-us").unwrap(),
            VoiceId::Language("en-us".into())
        );
        assert_eq!(
            VoiceId::parse("espeak:fr").unwrap(),
            VoiceId::Espeak("fr".into())
        );
        assert_eq!(
            VoiceId::parse("piper:en_US-joe-medium").unwrap(),
            VoiceId::Piper("en_US-joe-medium".into())
        );
        for bad in ["", "piper:", "coqui:x", "piper:../x", "piper:a/b", "a b"] {
            assert!(VoiceId::parse(bad).is_err(), "{bad}");
        }
    }
}

//! `[speech]`: which voice narrates a job that names none, and where the natural voices live.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpeechSettings {
    /// `auto`: the installed Piper voice of the script's language (scripts/setup installs
    /// `en_US-joe-medium` for English), espeak-ng where there is none or it is broken;
    /// `espeak`: espeak-ng always; `piper:<name>`: that Piper voice for its language.
    pub default_voice: String,
    /// The Piper runtime's folder (a venv with PyPI `piper-tts`; its voices in `voices/`).
    /// Unset: `REELSMITH_PIPER_HOME`, else `/opt/reelsmith/piper` where scripts/setup puts it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub piper_home: Option<PathBuf>,
    /// A folder of Piper voices (`NAME.onnx` + `NAME.onnx.json`, optionally `NAME.onnx.md5`)
    /// instead of `<piper_home>/voices`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub piper_voices: Option<PathBuf>,
}

impl Default for SpeechSettings {
    fn default() -> Self {
        SpeechSettings {
            default_voice: "auto".into(),
            piper_home: None,
            piper_voices: None,
        }
    }
}

impl SpeechSettings {
    /// `Err` with what to write instead when `default_voice` is not one of its three forms.
    pub fn check_default_voice(&self) -> Result<(), String> {
        let v = self.default_voice.as_str();
        let piper_name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 64
                && !n.starts_with('.')
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'.'))
        };
        match v.strip_prefix("piper:") {
            _ if v == "auto" || v == "espeak" => Ok(()),
            Some(name) if piper_name_ok(name) => Ok(()),
            _ => Err(format!(
                "`{v}` is not a default voice: write `auto`, `espeak` or `piper:<voice name>`"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_voices_take_three_forms() {
        for ok in ["auto", "espeak", "piper:en_US-joe-medium"] {
            let s = SpeechSettings {
                default_voice: ok.into(),
                ..SpeechSettings::default()
            };
            assert!(s.check_default_voice().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Auto",
            "espeak:fr",
            "piper:",
            "piper:../x",
            "coqui:x",
            "en-us",
        ] {
            let s = SpeechSettings {
                default_voice: bad.into(),
                ..SpeechSettings::default()
            };
            assert!(s.check_default_voice().is_err(), "{bad}");
        }
    }
}

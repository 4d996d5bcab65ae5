//! Presets (issue 25): a render spec's settings without the parts that belong to one video (its
//! script, pictures, recording, per-scene prompts and seed). A preset is checked as a whole spec
//! is, with [`PRESET_CHECK_SCRIPT`] standing in for the script, so a preset that is stored (or
//! an operator's template that is loaded) is one every job can start from.

/// The spec's keys a preset may hold: voice, look, captions, music, format and model.
pub const PRESET_SETTINGS: &[&str] = &[
    "aspect",
    "resolution",
    "fps",
    "motion",
    "style",
    "captions",
    "caption_style",
    "transition",
    "title_background",
    "tts",
    "voice_instructions",
    "music",
    "music_level",
    "provider",
    "model",
    "prompt",
    "negative_prompt",
];

/// The script a preset's settings are checked with.
pub const PRESET_CHECK_SCRIPT: &str = "A preset is checked as the settings of this sentence.";

/// Whether a preset may hold `key`.
pub fn is_preset_setting(key: &str) -> bool {
    PRESET_SETTINGS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RenderSpec;

    #[test]
    fn every_preset_setting_is_a_spec_field_and_none_belongs_to_one_video() {
        for key in PRESET_SETTINGS {
            let probe = serde_json::json!({ "script": "x", *key: null });
            if let Err(e) = serde_json::from_value::<RenderSpec>(probe) {
                assert!(!e.to_string().contains("unknown field"), "{key}: {e}");
            }
        }
        for key in ["script", "media", "voice", "prompts", "seed"] {
            assert!(!is_preset_setting(key), "{key} belongs to one video");
        }
    }
}

//! `[[presets]]` and `[batches]` (issue 25). The operator's preset templates: a few ship with
//! Reelsmith ([`SHIPPED_TEMPLATES`]); a `[[presets]]` entry with a shipped id replaces that one
//! (`enabled = false` hides it), any other id adds one. Each template's settings are checked as
//! a job's spec is (`reelsmith_core::RenderSpec`), so `reelsmith config check` names a template
//! no job could start from. `[batches]` bounds one batch request.

use reelsmith_core::preset::{is_preset_setting, PRESET_CHECK_SCRIPT};
use reelsmith_core::{Limits, RenderSpec};
use serde::{Deserialize, Serialize};

use crate::sections::Config;

/// An operator's preset template: read-only for users, listed beside their own presets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetTemplate {
    /// Lower-case letters, digits and `-`; the API names it `template:<id>`.
    pub id: String,
    /// What the studio's picker shows.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The render spec's settings (`aspect`, `caption_style`, `tts`, ...), as in a job's JSON.
    #[serde(default)]
    pub settings: toml::Table,
    /// `false` hides a shipped template of the same id.
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// Limits of one batch request (`POST /api/v1/batches`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchesConfig {
    /// Most scripts in one batch; more is refused with `batch.too_many_scripts` before any
    /// job is made.
    pub max_scripts: usize,
    /// Largest batch request body, in KiB (`request.too_large` beyond).
    pub max_request_kib: usize,
}

impl Default for BatchesConfig {
    fn default() -> Self {
        BatchesConfig {
            max_scripts: 100,
            max_request_kib: 4096,
        }
    }
}

/// The templates every install starts with.
pub const SHIPPED_TEMPLATES: &str = r##"
[[presets]]
id = "shorts-bold"
name = "Shorts 9:16 bold captions"
description = "Vertical 1080p for Shorts, Reels and TikTok: big karaoke captions in the middle, quick cuts."
settings = { aspect = "9:16", resolution = "1080p", captions = "karaoke", transition = "cut", motion = "auto", title_background = "particles", caption_style = { size = 140, position = "middle", words_per_line = 3, highlight_colour = "#FFD400" } }

[[presets]]
id = "documentary"
name = "Documentary 16:9"
description = "Landscape 1080p: slow zoom, crossfades, cinematic colour, subtitles at the bottom."
settings = { aspect = "16:9", resolution = "1080p", captions = "subtitle", transition = "crossfade", motion = "zoom-in", style = "cinematic", title_background = "gradient" }

[[presets]]
id = "square-quiet"
name = "Square 1:1, no captions"
description = "Square 720p for feeds, no burned-in captions, fades through black."
settings = { aspect = "1:1", resolution = "720p", captions = "off", transition = "fade-black", style = "warm", title_background = "light-leaks" }
"##;

#[derive(Deserialize)]
struct Shipped {
    presets: Vec<PresetTemplate>,
}

/// Templates from TOML text of `[[presets]]` tables, as a configuration file holds them.
pub fn parse_templates(text: &str) -> Result<Vec<PresetTemplate>, String> {
    toml::from_str::<Shipped>(text)
        .map(|s| s.presets)
        .map_err(|e| e.to_string())
}

/// The shipped templates, parsed.
pub fn shipped_templates() -> Vec<PresetTemplate> {
    // The text is a constant that `shipped_templates_are_valid` parses and checks.
    parse_templates(SHIPPED_TEMPLATES).unwrap_or_default()
}

impl Config {
    /// The templates users see: the shipped ones, replaced or hidden by the operator's of the
    /// same id, then the operator's others in their order.
    pub fn preset_templates(&self) -> Vec<PresetTemplate> {
        let mut all = shipped_templates();
        for own in &self.presets {
            match all.iter_mut().find(|t| t.id == own.id) {
                Some(shipped) => *shipped = own.clone(),
                None => all.push(own.clone()),
            }
        }
        all.retain(|t| t.enabled);
        all
    }

    /// The template with this id (without `template:`), if shown.
    pub fn preset_template(&self, id: &str) -> Option<PresetTemplate> {
        self.preset_templates().into_iter().find(|t| t.id == id)
    }

    /// Every problem with `[[presets]]` and `[batches]`, as (key, message).
    pub fn preset_problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, t) in self.presets.iter().enumerate() {
            if self.presets[..i].iter().any(|o| o.id == t.id) {
                out.push((format!("presets.{}", t.id), "the id is used twice".into()));
            }
        }
        for t in self.preset_templates() {
            let key = format!("presets.{}", t.id);
            if let Err(why) = check_template(&t, &self.limits) {
                out.push((key, why));
            }
        }
        if !(1..=10_000).contains(&self.batches.max_scripts) {
            out.push((
                "batches.max_scripts".into(),
                "must be between 1 and 10000".into(),
            ));
        }
        if !(64..=65_536).contains(&self.batches.max_request_kib) {
            out.push((
                "batches.max_request_kib".into(),
                "must be between 64 and 65536".into(),
            ));
        }
        out
    }
}

/// Why a template cannot be offered, naming the setting.
fn check_template(t: &PresetTemplate, limits: &Limits) -> Result<(), String> {
    let id_ok = !t.id.is_empty()
        && t.id.len() <= 64
        && t.id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err("the id must be 1 to 64 lower-case letters, digits and `-`".into());
    }
    let name = t.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err("name: 1 to 100 characters without control characters".into());
    }
    if let Some(key) = t.settings.keys().find(|k| !is_preset_setting(k)) {
        return Err(format!(
            "settings.{key}: not a preset setting (a preset holds the look, voice, captions, \
             music, format and model, never a script, pictures or a recording)"
        ));
    }
    if let Some(music) = t.settings.get("music") {
        if !music.as_str().is_some_and(|m| m.starts_with("library:")) {
            return Err(
                "settings.music: a template's music is a track of the music library \
                 (`library:<id>`); uploads belong to one user"
                    .into(),
            );
        }
    }
    let mut spec = t.settings.clone();
    spec.insert("script".into(), PRESET_CHECK_SCRIPT.into());
    let spec: RenderSpec = toml::Value::Table(spec)
        .try_into()
        .map_err(|e: toml::de::Error| format!("settings: {}", e.message()))?;
    spec.validated(limits)
        .map(|_| ())
        .map_err(|e| format!("settings: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_templates_are_valid() {
        let shipped: Shipped = toml::from_str(SHIPPED_TEMPLATES).unwrap();
        assert!(shipped.presets.len() >= 2);
        let config = Config::default();
        assert_eq!(config.preset_templates(), shipped.presets);
        assert!(
            config.preset_problems().is_empty(),
            "{:?}",
            config.preset_problems()
        );
    }

    fn with(toml_text: &str) -> Config {
        Config {
            presets: parse_templates(toml_text).unwrap(),
            ..Config::default()
        }
    }

    #[test]
    fn an_operator_template_replaces_hides_or_adds() {
        let config = with(
            r#"
            [[presets]]
            id = "documentary"
            name = "Our documentary"
            settings = { aspect = "16:9" }
            [[presets]]
            id = "square-quiet"
            name = "gone"
            enabled = false
            [[presets]]
            id = "ours"
            name = "House style"
            settings = { style = "mono", music = "library:calm" }
            "#,
        );
        let ids: Vec<String> = config
            .preset_templates()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, ["shorts-bold", "documentary", "ours"]);
        assert_eq!(
            config.preset_template("documentary").unwrap().name,
            "Our documentary"
        );
        assert!(config.preset_problems().is_empty());
    }

    #[test]
    fn a_bad_template_is_named() {
        let config = with(
            r#"
            [[presets]]
            id = "wide"
            name = "Wide"
            settings = { aspect = "21:9" }
            [[presets]]
            id = "scripted"
            name = "Scripted"
            settings = { script = "Hello." }
            [[presets]]
            id = "loud"
            name = "Loud"
            settings = { music_level = 12 }
            "#,
        );
        let problems = config.preset_problems();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["presets.wide", "presets.scripted", "presets.loud"],
            "{problems:?}"
        );
        assert!(problems[0].1.contains("21:9"), "{problems:?}");
        assert!(problems[1].1.contains("settings.script"), "{problems:?}");
        let unknown = parse_templates("[[presets]]\nid = \"x\"\nname = \"X\"\ncolour = \"red\"\n");
        assert!(unknown.unwrap_err().contains("colour"));
    }
}

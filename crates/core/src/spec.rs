//! The parameters of one requested video. The same JSON is read by `reelsmith render --spec`
//! (with local paths as media references) and by `POST /api/v1/jobs` (with upload ids).

use serde::{Deserialize, Serialize};

use crate::{Code, ErrorCode, Limits};

/// A requested video. `media` and `voice` hold references whose meaning depends on the caller:
/// file paths for the CLI, upload ids for the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderSpec {
    pub script: String,
    #[serde(default)]
    pub media: Vec<String>,
    /// A recording of the user reading the script, used instead of synthetic speech.
    #[serde(default)]
    pub voice: Option<String>,
    #[serde(default)]
    pub aspect: Aspect,
    #[serde(default)]
    pub resolution: Resolution,
    #[serde(default = "default_fps")]
    pub fps: u32,
    #[serde(default)]
    pub motion: Motion,
    #[serde(default)]
    pub style: Style,
    #[serde(default)]
    pub captions: CaptionMode,
    #[serde(default)]
    pub tts: TtsSettings,
    #[serde(default)]
    pub seed: u64,
    /// The AI provider that makes the shots (`fal`, `replicate`, `veo`, `atlas`, `comfyui`);
    /// absent (or `studio`) means Reelsmith's own studio engine, which sends nothing anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The provider's model, as its capability registry names it; absent means its first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A visual style added to every scene's prompt ("watercolour, soft light").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    /// One visual prompt per scene, in order (cycled when shorter). Without them a scene's
    /// prompt is its own narration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<String>,
    /// How a cloud voice that takes directions (OpenAI `gpt-4o-mini-tts`) should speak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_instructions: Option<String>,
    /// Background music: an upload id (the API), a file path (the CLI), or `library:<id>` for a
    /// track of the operator's music folder. Looped or trimmed to the video and ducked under
    /// the narration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub music: Option<String>,
    /// The music's loudness where nobody speaks, in dB relative to the narration's loudness
    /// ([`MUSIC_LEVEL_RANGE`], default [`DEFAULT_MUSIC_LEVEL`]); under the words it drops further.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub music_level: Option<i32>,
}

/// The music level a spec may ask for, in dB relative to the narration.
pub const MUSIC_LEVEL_RANGE: std::ops::RangeInclusive<i32> = -40..=0;
/// The music level when a spec names music but no level: clearly audible in the pauses, well
/// under the voice.
pub const DEFAULT_MUSIC_LEVEL: i32 = -10;
/// The longest music reference (an upload id, a path, `library:<id>`), in bytes.
pub const MAX_MUSIC_REF_BYTES: usize = 1_000;

/// Longest prompt or negative prompt accepted, in characters; models' own limits are checked
/// against their registry entry.
pub const MAX_PROMPT_CHARS: usize = 20_000;
/// Most per-scene prompts a spec may carry.
pub const MAX_PROMPTS: usize = 500;

fn default_fps() -> u32 {
    30
}

pub const ALLOWED_FPS: [u32; 3] = [24, 25, 30];

impl RenderSpec {
    /// A spec with every setting at its default.
    pub fn new(script: impl Into<String>) -> Self {
        RenderSpec {
            script: script.into(),
            media: Vec::new(),
            voice: None,
            aspect: Aspect::default(),
            resolution: Resolution::default(),
            fps: default_fps(),
            motion: Motion::default(),
            style: Style::default(),
            captions: CaptionMode::default(),
            tts: TtsSettings::default(),
            seed: 0,
            provider: None,
            model: None,
            prompt: None,
            negative_prompt: None,
            prompts: Vec::new(),
            voice_instructions: None,
            music: None,
            music_level: None,
        }
    }

    /// The music level to mix at, in dB relative to the narration.
    pub fn effective_music_level(&self) -> i32 {
        self.music_level.unwrap_or(DEFAULT_MUSIC_LEVEL)
    }

    /// The output frame size in pixels.
    pub fn frame_size(&self) -> FrameSize {
        self.resolution.frame_size(self.aspect)
    }

    /// Checks everything that can be checked without touching files: lengths, ranges, names.
    /// Whether the script has anything speakable is the planner's call, since that needs cleaning.
    pub fn validate(&self, limits: &Limits) -> Result<(), SpecError> {
        if self.script.trim().is_empty() {
            return Err(SpecError::EmptyScript);
        }
        if self.script.len() > limits.max_script_bytes {
            return Err(SpecError::ScriptTooLong {
                limit_words: limits.max_script_words,
            });
        }
        let words = self.script.split_whitespace().count();
        if words > limits.max_script_words {
            return Err(SpecError::ScriptTooLong {
                limit_words: limits.max_script_words,
            });
        }
        if self.media.len() > limits.max_media_files {
            return Err(SpecError::TooManyMedia {
                limit: limits.max_media_files,
            });
        }
        if !ALLOWED_FPS.contains(&self.fps) {
            return Err(SpecError::InvalidFps(self.fps));
        }
        if self.prompts.len() > MAX_PROMPTS {
            return Err(SpecError::TooManyPrompts { limit: MAX_PROMPTS });
        }
        let prompts = self
            .prompts
            .iter()
            .chain(&self.prompt)
            .chain(&self.negative_prompt)
            .chain(&self.voice_instructions);
        for p in prompts {
            if p.chars().count() > MAX_PROMPT_CHARS {
                return Err(SpecError::PromptTooLong {
                    limit: MAX_PROMPT_CHARS,
                });
            }
        }
        for name in self.provider.iter().chain(&self.model) {
            let ok = !name.is_empty()
                && name.len() <= 200
                && name.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':')
                });
            if !ok {
                return Err(SpecError::InvalidModelName(name.clone()));
            }
        }
        if let Some(level) = self.music_level {
            if !MUSIC_LEVEL_RANGE.contains(&level) {
                return Err(SpecError::InvalidMusicLevel(level));
            }
        }
        if let Some(music) = &self.music {
            if music.is_empty()
                || music.len() > MAX_MUSIC_REF_BYTES
                || music.chars().any(char::is_control)
            {
                return Err(SpecError::InvalidMusic);
            }
        }
        self.tts.validate()
    }

    /// True when the shots come from a third-party provider rather than the studio engine.
    pub fn uses_provider(&self) -> bool {
        self.provider.as_deref().is_some_and(|p| p != "studio")
    }
}

/// Synthetic narration settings (espeak-ng voice names such as `en-us`, `fr`, `de`, `ru`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TtsSettings {
    pub voice: String,
    /// Words per minute.
    pub rate: u32,
    /// 0 to 99, 50 is the voice's normal pitch.
    pub pitch: u32,
}

impl Default for TtsSettings {
    fn default() -> Self {
        TtsSettings {
            voice: "en-us".into(),
            rate: 175,
            pitch: 50,
        }
    }
}

pub const TTS_RATE_RANGE: std::ops::RangeInclusive<u32> = 80..=450;

impl TtsSettings {
    pub fn validate(&self) -> Result<(), SpecError> {
        let name_ok = !self.voice.is_empty()
            && self.voice.len() <= 80
            && !self.voice.contains("..")
            && self.voice.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b':' | b'.')
            });
        if !name_ok {
            return Err(SpecError::InvalidVoice(self.voice.clone()));
        }
        if !TTS_RATE_RANGE.contains(&self.rate) {
            return Err(SpecError::InvalidRate(self.rate));
        }
        if self.pitch > 99 {
            return Err(SpecError::InvalidPitch(self.pitch));
        }
        Ok(())
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum Aspect {
    #[default]
    #[serde(rename = "16:9")]
    Landscape,
    #[serde(rename = "9:16")]
    Portrait,
    #[serde(rename = "1:1")]
    Square,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum Resolution {
    #[serde(rename = "480p")]
    P480,
    #[default]
    #[serde(rename = "720p")]
    P720,
    #[serde(rename = "1080p")]
    P1080,
}

impl Resolution {
    /// The length of the frame's shorter side.
    pub fn short_side(self) -> u32 {
        match self {
            Resolution::P480 => 480,
            Resolution::P720 => 720,
            Resolution::P1080 => 1080,
        }
    }

    pub fn frame_size(self, aspect: Aspect) -> FrameSize {
        let short = self.short_side();
        // The long side of 16:9, rounded to an even number as yuv420p requires (480p → 854).
        let long = (short * 16).div_ceil(9).next_multiple_of(2);
        match aspect {
            Aspect::Landscape => FrameSize::new(long, short),
            Aspect::Portrait => FrameSize::new(short, long),
            Aspect::Square => FrameSize::new(short, short),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameSize {
    pub width: u32,
    pub height: u32,
}

impl FrameSize {
    pub const fn new(width: u32, height: u32) -> Self {
        FrameSize { width, height }
    }

    pub fn pixels(self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Bytes in one yuv420p frame.
    pub fn yuv420p_len(self) -> usize {
        self.pixels() * 3 / 2
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Motion {
    /// A different motion per scene, chosen from the seed.
    #[default]
    Auto,
    Static,
    ZoomIn,
    ZoomOut,
    PanLeft,
    PanRight,
    PanUp,
    PanDown,
}

/// How one scene gives way to the next. A job picks one for all its scenes; a storyboard may
/// pick another per scene (issue 25). The compositor draws each with the camera's sub-pixel
/// accuracy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Transition {
    /// The next scene starts on the next frame.
    Cut,
    /// The two scenes blend into each other.
    #[default]
    Crossfade,
    /// The picture fades to black, then the next scene fades in.
    FadeBlack,
    /// The next scene slides in from the right, pushing the last one out.
    Slide,
    /// A straight edge sweeps across, uncovering the next scene.
    Wipe,
    /// The last scene zooms in and dissolves into the next.
    Zoom,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Style {
    #[default]
    None,
    Cinematic,
    Warm,
    Cool,
    Mono,
    Vintage,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum CaptionMode {
    Off,
    Subtitle,
    #[default]
    Karaoke,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("the script is empty")]
    EmptyScript,
    #[error("the script is longer than the limit of {limit_words} words")]
    ScriptTooLong { limit_words: usize },
    #[error("too many media files: the limit is {limit}")]
    TooManyMedia { limit: usize },
    #[error("fps must be 24, 25 or 30, not {0}")]
    InvalidFps(u32),
    #[error("`{0}` is not a valid voice name")]
    InvalidVoice(String),
    #[error("speech rate must be between 80 and 450 words per minute, not {0}")]
    InvalidRate(u32),
    #[error("pitch must be between 0 and 99, not {0}")]
    InvalidPitch(u32),
    #[error("too many scene prompts: the limit is {limit}")]
    TooManyPrompts { limit: usize },
    #[error("a prompt is longer than {limit} characters")]
    PromptTooLong { limit: usize },
    #[error("`{0}` is not a valid provider or model name")]
    InvalidModelName(String),
    #[error("music level must be between -40 and 0 dB, not {0}")]
    InvalidMusicLevel(i32),
    #[error("`music` must name an upload or a library track (`library:<id>`)")]
    InvalidMusic,
}

impl ErrorCode for SpecError {
    fn code(&self) -> Code {
        match self {
            SpecError::EmptyScript => Code::ScriptEmpty,
            SpecError::ScriptTooLong { .. } => Code::ScriptTooLong,
            SpecError::TooManyMedia { .. } => Code::SpecTooManyMedia,
            SpecError::InvalidFps(_) => Code::SpecInvalidFps,
            SpecError::InvalidVoice(_) => Code::SpecInvalidVoice,
            SpecError::InvalidRate(_) => Code::SpecInvalidRate,
            SpecError::InvalidPitch(_) => Code::SpecInvalidPitch,
            SpecError::TooManyPrompts { .. } => Code::SpecTooManyPrompts,
            SpecError::PromptTooLong { .. } => Code::SpecPromptTooLong,
            SpecError::InvalidModelName(_) => Code::SpecInvalidModel,
            SpecError::InvalidMusicLevel(_) => Code::SpecInvalidMusicLevel,
            SpecError::InvalidMusic => Code::SpecInvalidMusic,
        }
    }

    fn is_client_error(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_parses_with_its_values() {
        let json = r#"{ "script": "Hello.", "media": ["a.jpg", "b.mp4"], "voice": "narration.wav",
          "aspect": "9:16", "resolution": "1080p", "fps": 25, "motion": "zoom-in", "style": "warm",
          "captions": "subtitle", "tts": { "voice": "en-us", "rate": 160 }, "seed": 42 }"#;
        let spec: RenderSpec = serde_json::from_str(json).unwrap();
        assert_eq!(spec.media, ["a.jpg", "b.mp4"]);
        assert_eq!(spec.aspect, Aspect::Portrait);
        assert_eq!(spec.motion, Motion::ZoomIn);
        assert_eq!(spec.captions, CaptionMode::Subtitle);
        assert_eq!(spec.tts.rate, 160);
        assert_eq!(spec.tts.pitch, 50, "unset fields take their defaults");
        assert_eq!(spec.frame_size(), FrameSize::new(1080, 1920));
        spec.validate(&Limits::default()).unwrap();
    }

    #[test]
    fn defaults_are_16_9_720p_30fps_karaoke() {
        let spec: RenderSpec = serde_json::from_str(r#"{"script":"Hi."}"#).unwrap();
        assert_eq!(spec, RenderSpec::new("Hi."));
        assert_eq!(spec.frame_size(), FrameSize::new(1280, 720));
        assert_eq!(spec.fps, 30);
        assert_eq!(spec.captions, CaptionMode::Karaoke);
    }

    #[test]
    fn frame_sizes_are_even() {
        for r in [Resolution::P480, Resolution::P720, Resolution::P1080] {
            for a in [Aspect::Landscape, Aspect::Portrait, Aspect::Square] {
                let s = r.frame_size(a);
                assert!(s.width % 2 == 0 && s.height % 2 == 0, "{r:?} {a:?} {s:?}");
            }
        }
        assert_eq!(
            Resolution::P480.frame_size(Aspect::Landscape),
            FrameSize::new(854, 480)
        );
    }

    #[test]
    fn unknown_fields_and_values_are_refused() {
        assert!(serde_json::from_str::<RenderSpec>(r#"{"script":"a","colour":"red"}"#).is_err());
        assert!(serde_json::from_str::<RenderSpec>(r#"{"script":"a","aspect":"4:3"}"#).is_err());
    }

    #[test]
    fn validation_gives_stable_codes() {
        let limits = Limits::default();
        let code = |spec: RenderSpec| spec.validate(&limits).unwrap_err().code();
        assert_eq!(code(RenderSpec::new("  \n ")), "script.empty");
        assert_eq!(
            code(RenderSpec::new("word ".repeat(100_000))),
            "script.too_long"
        );
        let mut s = RenderSpec::new("ok");
        s.fps = 60;
        assert_eq!(code(s), "spec.invalid_fps");
        let mut s = RenderSpec::new("ok");
        s.tts.voice = "en; rm -rf /".into();
        assert_eq!(code(s), "spec.invalid_voice");
        let mut s = RenderSpec::new("ok");
        s.tts.rate = 10;
        assert_eq!(code(s), "spec.invalid_rate");
    }
}

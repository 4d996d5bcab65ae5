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
    /// How each scene gives way to the next (a storyboard may choose another per scene); the
    /// length of every transition is the operator's `crossfade` setting.
    #[serde(default, skip_serializing_if = "is_default")]
    pub transition: Transition,
    /// How burned-in captions look; every field unset is today's look.
    #[serde(default, skip_serializing_if = "is_default")]
    pub caption_style: CaptionStyle,
    /// The moving background of scenes that have no picture.
    #[serde(default, skip_serializing_if = "is_default")]
    pub title_background: TitleBackground,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
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
            transition: Transition::default(),
            caption_style: CaptionStyle::default(),
            title_background: TitleBackground::default(),
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
        self.caption_style.validate()?;
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

/// The moving background of a scene without a picture (issue 25), drawn by the compositor from
/// the scene's seed: the same seed draws the same frames.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum TitleBackground {
    /// A slowly turning, drifting two-colour gradient with a glow.
    #[default]
    Gradient,
    /// The gradient with soft, out-of-focus particles floating up.
    Particles,
    /// The gradient with warm light leaks sweeping across.
    LightLeaks,
}

/// Where captions sit: inside the title-safe area, and on 9:16 frames clear of the bands the
/// short-video apps cover with their own buttons and text.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum CaptionPosition {
    Top,
    Middle,
    #[default]
    Bottom,
}

/// How burned-in captions look. Every field is optional; unset is the default look (DejaVu Sans
/// Bold at the layout's size, white with a black outline and shadow, the spoken word in yellow,
/// at the bottom, no box).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CaptionStyle {
    /// An installed font, by family name or file name (`DejaVu Serif Bold`,
    /// `NotoSansMono-Bold`); unset is the embedded DejaVu Sans Bold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub font: Option<String>,
    /// Type size as a percentage of the default size ([`CAPTION_SIZE_RANGE`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// Text colour, `#rrggbb`.
    #[serde(skip_serializing_if = "Option::is_none", alias = "color")]
    pub colour: Option<String>,
    /// Outline colour, `#rrggbb` (the drop shadow stays black).
    #[serde(skip_serializing_if = "Option::is_none", alias = "outline_color")]
    pub outline_colour: Option<String>,
    /// Outline thickness as a percentage of the default ([`CAPTION_OUTLINE_RANGE`]; 0 is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outline_width: Option<u32>,
    /// A translucent dark box behind the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<CaptionPosition>,
    /// Most words on one line ([`CAPTION_WORDS_RANGE`]); unset fits as many as the width allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words_per_line: Option<u32>,
    /// The spoken word's colour in karaoke, `#rrggbb`.
    #[serde(skip_serializing_if = "Option::is_none", alias = "highlight_color")]
    pub highlight_colour: Option<String>,
}

pub const CAPTION_SIZE_RANGE: std::ops::RangeInclusive<u32> = 50..=200;
pub const CAPTION_OUTLINE_RANGE: std::ops::RangeInclusive<u32> = 0..=300;
pub const CAPTION_WORDS_RANGE: std::ops::RangeInclusive<u32> = 1..=12;
/// The longest font name accepted.
pub const MAX_FONT_NAME_BYTES: usize = 100;

impl CaptionStyle {
    pub const DEFAULT_COLOUR: [u8; 3] = [255, 255, 255];
    pub const DEFAULT_OUTLINE_COLOUR: [u8; 3] = [0, 0, 0];
    pub const DEFAULT_HIGHLIGHT_COLOUR: [u8; 3] = [255, 214, 0];

    pub fn validate(&self) -> Result<(), SpecError> {
        if let Some(font) = &self.font {
            let ok = !font.trim().is_empty()
                && font.len() <= MAX_FONT_NAME_BYTES
                && font
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
                && !font.contains("..");
            if !ok {
                return Err(SpecError::InvalidCaptionFont(font.clone()));
            }
        }
        if let Some(size) = self.size {
            if !CAPTION_SIZE_RANGE.contains(&size) {
                return Err(SpecError::InvalidCaptionSize(size));
            }
        }
        if let Some(width) = self.outline_width {
            if !CAPTION_OUTLINE_RANGE.contains(&width) {
                return Err(SpecError::InvalidCaptionOutline(width));
            }
        }
        if let Some(words) = self.words_per_line {
            if !CAPTION_WORDS_RANGE.contains(&words) {
                return Err(SpecError::InvalidCaptionWords(words));
            }
        }
        for colour in [&self.colour, &self.outline_colour, &self.highlight_colour]
            .into_iter()
            .flatten()
        {
            if parse_hex_colour(colour).is_none() {
                return Err(SpecError::InvalidCaptionColour(colour.clone()));
            }
        }
        Ok(())
    }

    /// The text colour (valid after [`CaptionStyle::validate`]; the default otherwise).
    pub fn text_rgb(&self) -> [u8; 3] {
        colour_or(&self.colour, Self::DEFAULT_COLOUR)
    }

    pub fn outline_rgb(&self) -> [u8; 3] {
        colour_or(&self.outline_colour, Self::DEFAULT_OUTLINE_COLOUR)
    }

    pub fn highlight_rgb(&self) -> [u8; 3] {
        colour_or(&self.highlight_colour, Self::DEFAULT_HIGHLIGHT_COLOUR)
    }
}

fn colour_or(colour: &Option<String>, default: [u8; 3]) -> [u8; 3] {
    colour
        .as_deref()
        .and_then(parse_hex_colour)
        .unwrap_or(default)
}

/// `#rrggbb` (either case) as RGB bytes.
pub fn parse_hex_colour(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
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
    #[error("caption font `{0}` is not a valid font name")]
    InvalidCaptionFont(String),
    #[error("caption size must be between 50 and 200 (% of the default), not {0}")]
    InvalidCaptionSize(u32),
    #[error("caption outline width must be between 0 and 300 (% of the default), not {0}")]
    InvalidCaptionOutline(u32),
    #[error("caption words per line must be between 1 and 12, not {0}")]
    InvalidCaptionWords(u32),
    #[error("caption colour `{0}` is not a `#rrggbb` colour")]
    InvalidCaptionColour(String),
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
            SpecError::InvalidCaptionFont(_) => Code::SpecInvalidCaptionFont,
            SpecError::InvalidCaptionSize(_) => Code::SpecInvalidCaptionSize,
            SpecError::InvalidCaptionOutline(_) => Code::SpecInvalidCaptionOutline,
            SpecError::InvalidCaptionWords(_) => Code::SpecInvalidCaptionWords,
            SpecError::InvalidCaptionColour(_) => Code::SpecInvalidCaptionColour,
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

    #[test]
    fn caption_styles_parse_and_are_validated_with_stable_codes() {
        let json = r##"{ "script": "Hi.", "transition": "fade-black", "title_background": "light-leaks",
          "caption_style": { "font": "DejaVu Serif Bold", "size": 120, "color": "#FF0000",
          "outline_colour": "#00ff00", "outline_width": 0, "background": true, "position": "top",
          "words_per_line": 3, "highlight_colour": "#0000ff" } }"##;
        let spec: RenderSpec = serde_json::from_str(json).unwrap();
        spec.validate(&Limits::default()).unwrap();
        assert_eq!(spec.transition, Transition::FadeBlack);
        assert_eq!(spec.caption_style.text_rgb(), [255, 0, 0]);
        assert_eq!(spec.caption_style.outline_rgb(), [0, 255, 0]);
        assert_eq!(spec.caption_style.highlight_rgb(), [0, 0, 255]);
        assert_eq!(spec.caption_style.position, Some(CaptionPosition::Top));
        // Defaults are not written back, so a stored spec without them reads the same.
        let plain = serde_json::to_value(RenderSpec::new("Hi.")).unwrap();
        assert!(plain.get("caption_style").is_none() && plain.get("transition").is_none());
        let limits = Limits::default();
        let code = |style: CaptionStyle| {
            let mut s = RenderSpec::new("ok");
            s.caption_style = style;
            s.validate(&limits).unwrap_err().code()
        };
        let colour = |c: &str| CaptionStyle {
            highlight_colour: Some(c.into()),
            ..CaptionStyle::default()
        };
        assert_eq!(code(colour("red")), "spec.invalid_caption_colour");
        assert_eq!(code(colour("#12345")), "spec.invalid_caption_colour");
        assert_eq!(code(colour("#12345g")), "spec.invalid_caption_colour");
        let font = |f: &str| CaptionStyle {
            font: Some(f.into()),
            ..CaptionStyle::default()
        };
        assert_eq!(code(font("../../etc/passwd")), "spec.invalid_caption_font");
        assert_eq!(code(font(" ")), "spec.invalid_caption_font");
        let size = CaptionStyle {
            size: Some(20),
            ..CaptionStyle::default()
        };
        assert_eq!(code(size), "spec.invalid_caption_size");
        let outline = CaptionStyle {
            outline_width: Some(301),
            ..CaptionStyle::default()
        };
        assert_eq!(code(outline), "spec.invalid_caption_outline");
        let words = CaptionStyle {
            words_per_line: Some(0),
            ..CaptionStyle::default()
        };
        assert_eq!(code(words), "spec.invalid_caption_words");
        assert!(serde_json::from_str::<RenderSpec>(
            r#"{"script":"a","caption_style":{"shadow":"big"}}"#
        )
        .is_err());
    }
}

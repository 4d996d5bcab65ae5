//! The settings form's drop-downs (`settings.html`), built from the core's choice lists so the
//! studio offers exactly what the API accepts.

use reelsmith_core::spec::ALLOWED_FPS;
use reelsmith_core::{
    Aspect, CaptionMode, CaptionPosition, Choice, Motion, RenderSpec, Resolution, Style,
    TitleBackground, Transition,
};

/// One `<option>`.
pub struct Pick {
    pub value: String,
    pub label: String,
    pub default: bool,
    /// For a resolution: its frame size per aspect (`16:9=854x480 …`), which the studio's
    /// estimate reads instead of repeating the engine's rounding.
    pub frames: String,
}

/// Every list of the settings form.
pub struct SettingsChoices {
    pub aspects: Vec<Pick>,
    pub resolutions: Vec<Pick>,
    pub fps: Vec<Pick>,
    pub motions: Vec<Pick>,
    pub styles: Vec<Pick>,
    pub captions: Vec<Pick>,
    pub transitions: Vec<Pick>,
    pub title_backgrounds: Vec<Pick>,
    pub caption_positions: Vec<Pick>,
}

fn picks<T: Choice>() -> Vec<Pick> {
    T::ALL
        .iter()
        .map(|c| Pick {
            value: c.name().to_owned(),
            label: c.label().to_owned(),
            default: *c == T::default(),
            frames: String::new(),
        })
        .collect()
}

fn frames(resolution: Resolution) -> String {
    Aspect::ALL
        .iter()
        .map(|a| {
            let size = resolution.frame_size(*a);
            format!("{}={}x{}", a.name(), size.width, size.height)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl SettingsChoices {
    pub fn new() -> SettingsChoices {
        let default_fps = RenderSpec::new("").fps;
        SettingsChoices {
            aspects: picks::<Aspect>(),
            resolutions: picks::<Resolution>()
                .into_iter()
                .zip(Resolution::ALL)
                .map(|(pick, r)| Pick {
                    frames: frames(*r),
                    ..pick
                })
                .collect(),
            fps: ALLOWED_FPS
                .iter()
                .map(|f| Pick {
                    value: f.to_string(),
                    label: f.to_string(),
                    default: *f == default_fps,
                    frames: String::new(),
                })
                .collect(),
            motions: picks::<Motion>(),
            styles: picks::<Style>(),
            captions: picks::<CaptionMode>(),
            transitions: picks::<Transition>(),
            title_backgrounds: picks::<TitleBackground>(),
            caption_positions: picks::<CaptionPosition>(),
        }
    }
}

impl Default for SettingsChoices {
    fn default() -> Self {
        SettingsChoices::new()
    }
}

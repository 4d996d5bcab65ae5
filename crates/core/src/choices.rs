//! The settings a person picks from a list (aspect, resolution, motion, transition, style,
//! captions), each with its wire name and a label for people, in one place. The studio's
//! drop-downs, the CLI's `--motion`-style arguments and the API's JSON all read these lists, so
//! adding a motion is one line here and one arm where the compositor draws it, never a third copy
//! in a page or a script.

use crate::spec::{
    Aspect, CaptionMode, CaptionPosition, Motion, Resolution, Style, TitleBackground, Transition,
};

/// A setting chosen from a fixed list.
pub trait Choice: Sized + Copy + PartialEq + Default + 'static {
    /// Every value, in the order the studio lists them.
    const ALL: &'static [Self];

    /// The name used on the wire (JSON, the CLI, form values): the same as its serde name.
    fn name(self) -> &'static str;

    /// What the studio shows.
    fn label(self) -> &'static str;

    /// The value with this wire name.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }
}

// `name` and `label` are exhaustive matches, so a variant added to an enum but not to its list
// here does not compile: the lists cannot fall behind the types.
macro_rules! choices {
    ($ty:ty { $($variant:ident = $name:literal, $label:literal;)* }) => {
        impl Choice for $ty {
            const ALL: &'static [Self] = &[$(<$ty>::$variant,)*];

            fn name(self) -> &'static str {
                match self { $(<$ty>::$variant => $name,)* }
            }

            fn label(self) -> &'static str {
                match self { $(<$ty>::$variant => $label,)* }
            }
        }
    };
}

choices!(Aspect {
    Landscape = "16:9", "16:9 landscape";
    Portrait = "9:16", "9:16 portrait";
    Square = "1:1", "1:1 square";
});

choices!(Transition {
    Cut = "cut", "Cut";
    Crossfade = "crossfade", "Crossfade";
    FadeBlack = "fade-black", "Fade through black";
    Slide = "slide", "Slide";
    Wipe = "wipe", "Wipe";
    Zoom = "zoom", "Zoom";
});

choices!(TitleBackground {
    Gradient = "gradient", "Moving gradient";
    Particles = "particles", "Soft particles";
    LightLeaks = "light-leaks", "Light leaks";
});

choices!(CaptionPosition {
    Bottom = "bottom", "Bottom";
    Middle = "middle", "Middle";
    Top = "top", "Top";
});

choices!(Resolution {
    P480 = "480p", "480p";
    P720 = "720p", "720p";
    P1080 = "1080p", "1080p";
});

choices!(Motion {
    Auto = "auto", "Auto (varied)";
    Static = "static", "Static";
    ZoomIn = "zoom-in", "Zoom in";
    ZoomOut = "zoom-out", "Zoom out";
    PanLeft = "pan-left", "Pan left";
    PanRight = "pan-right", "Pan right";
    PanUp = "pan-up", "Pan up";
    PanDown = "pan-down", "Pan down";
});

choices!(Style {
    None = "none", "None";
    Cinematic = "cinematic", "Cinematic";
    Warm = "warm", "Warm";
    Cool = "cool", "Cool";
    Mono = "mono", "Black and white";
    Vintage = "vintage", "Vintage";
});

choices!(CaptionMode {
    Karaoke = "karaoke", "Karaoke (word by word)";
    Subtitle = "subtitle", "Subtitles";
    Off = "off", "Off";
});

/// One entry of a drop-down: its wire name, its label, and whether it is the default.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChoiceOption {
    pub value: &'static str,
    pub label: &'static str,
    pub default: bool,
}

/// The drop-down entries of a choice, the default marked.
pub fn options<T: Choice>() -> Vec<ChoiceOption> {
    T::ALL
        .iter()
        .map(|c| ChoiceOption {
            value: c.name(),
            label: c.label(),
            default: *c == T::default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire names are the serde names, so the JSON API, the CLI and the forms agree.
    fn names_match_serde<
        T: Choice + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    >() {
        assert!(!T::ALL.is_empty());
        for c in T::ALL {
            let json = serde_json::to_value(c).unwrap();
            assert_eq!(json, serde_json::Value::from(c.name()), "{c:?}");
            let back: T = serde_json::from_value(json).unwrap();
            assert_eq!(back, *c);
            assert_eq!(T::from_name(c.name()), Some(*c));
            assert!(!c.label().is_empty());
        }
        assert_eq!(T::from_name("no-such-choice"), None);
        assert_eq!(options::<T>().iter().filter(|o| o.default).count(), 1);
    }

    #[test]
    fn every_list_names_its_values_as_serde_does_and_has_one_default() {
        names_match_serde::<Aspect>();
        names_match_serde::<Resolution>();
        names_match_serde::<Motion>();
        names_match_serde::<Style>();
        names_match_serde::<CaptionMode>();
        names_match_serde::<Transition>();
        names_match_serde::<TitleBackground>();
        names_match_serde::<CaptionPosition>();
    }
}

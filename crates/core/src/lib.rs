//! Reelsmith's domain: the parameters of a requested video, the limits that bound them, and the
//! error-code convention every crate follows. This crate does no I/O, so its rules can be used
//! (and tested) anywhere: the CLI, the API and the workers all validate through it.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod calendar;
pub mod choices;
pub mod codes;
pub mod encoding;
pub mod error;
pub mod limits;
pub mod preset;
pub mod spec;
pub mod valid;

pub use choices::{Choice, ChoiceOption};
pub use codes::Code;
pub use encoding::X264_PRESETS;
pub use error::ErrorCode;
pub use limits::Limits;
pub use spec::{
    Aspect, CaptionMode, CaptionPosition, CaptionStyle, FrameSize, Motion, RenderSpec, Resolution,
    SpecError, Style, TitleBackground, Transition, TtsSettings,
};
pub use valid::ValidSpec;

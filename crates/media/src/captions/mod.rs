//! Captions from word timings: grouping words into on-screen cues, burning them into frames as
//! subtitles or karaoke, and writing the same cues as WebVTT and SRT files.
//!
//! The cues are the single source of truth: the burned-in overlay and both sidecar files are
//! produced from the same `Vec<Cue>`, so they can never disagree about what is shown when.

pub mod cues;
pub mod files;
pub mod layout;
pub mod overlay;

pub use cues::{build_cues, Cue};
pub use files::{write_srt, write_vtt};
pub use layout::CaptionLayout;
pub use overlay::{CaptionRenderer, CaptionStyle};

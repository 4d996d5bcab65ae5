//! The studio engine: turns a script and reference media into a narrated, captioned MP4 with no
//! network and no GPU. It knows nothing of HTTP or databases; the CLI and the workers call
//! `render::render` with local files.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod align;
pub mod audio;
pub mod captions;
pub mod compose;
pub mod encode;
pub mod frame;
pub mod image_input;
pub mod join;
pub mod mix;
pub mod music;
pub mod plan;
pub mod preview;
pub mod probe;
pub mod process;
pub mod render;
pub mod speech;
pub mod text;
pub mod timing;
pub mod upload;
pub mod voices;
pub mod workdir;

//! The studio engine: turns a script and reference media into a narrated, captioned MP4 with no
//! network and no GPU. It knows nothing of HTTP or databases; the CLI and the workers call
//! [`render::render`] with local files.

pub mod compose;
pub mod frame;
pub mod image_input;
pub mod process;
pub mod timing;
pub mod workdir;

//! `[music]`: the operator's music library.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MusicConfig {
    /// A folder of audio files (`mp3`, `ogg`, `opus`, `flac`, `wav`, `m4a`) offered to every
    /// user as background music; a file's name without its extension is its track id. Unset:
    /// no library, only uploaded music.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<PathBuf>,
}

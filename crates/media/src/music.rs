//! The operator's music library: a folder of audio files that every user may lay under a video.
//!
//! A track's id is its file name without the extension, and only names of lowercase letters,
//! digits, `-` and `_` are tracks. A spec names one as `library:<id>`, and the id is looked up
//! among the folder's listing, never joined onto the folder's path, so no id can reach a file
//! outside the folder.

use std::path::{Path, PathBuf};

use reelsmith_core::{Code, ErrorCode, Limits};
use serde::Serialize;

use crate::audio::check_audio;

/// How a spec names a library track: `library:<id>`.
pub const LIBRARY_PREFIX: &str = "library:";
/// Extensions looked at in the folder (anything else there is ignored).
const EXTENSIONS: &[&str] = &["mp3", "ogg", "oga", "opus", "flac", "wav", "m4a", "aac"];
const MAX_ID_LEN: usize = 80;

/// One track of the library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Track {
    pub id: String,
    /// The id made readable: `calm-piano_2` → `Calm piano 2`.
    pub title: String,
    pub duration_seconds: f64,
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("no music track `{0}` in this server's library")]
    UnknownTrack(String),
    #[error("this server has no music library")]
    NoLibrary,
}

impl ErrorCode for LibraryError {
    fn code(&self) -> Code {
        match self {
            LibraryError::UnknownTrack(_) => Code::MusicUnknownTrack,
            LibraryError::NoLibrary => Code::MusicNoLibrary,
        }
    }

    fn is_client_error(&self) -> bool {
        true
    }
}

/// The library track a spec's `music` names, if it names one (`library:<id>`).
pub fn library_id(reference: &str) -> Option<&str> {
    reference.strip_prefix(LIBRARY_PREFIX)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn title_of(id: &str) -> String {
    let words = id.replace(['-', '_'], " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The candidate files of `dir`, sorted by id, without probing them.
fn candidates(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let path = e.path();
            let ext = path.extension()?.to_str()?.to_ascii_lowercase();
            if !EXTENSIONS.contains(&ext.as_str()) {
                return None;
            }
            let id = path.file_stem()?.to_str()?.to_owned();
            valid_id(&id).then_some((id, path))
        })
        .collect();
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    found
}

/// Every playable track of `dir`: files that are not audio, or are longer than the limits
/// allow, are left out (and logged), so the studio never offers a track a render would refuse.
pub fn list_tracks(dir: &Path, limits: &Limits) -> Vec<Track> {
    candidates(dir)
        .into_iter()
        .filter_map(|(id, path)| match check_audio(&path, limits) {
            Ok(duration) => Some(Track {
                title: title_of(&id),
                duration_seconds: duration.unwrap_or(0.0),
                id,
                path,
            }),
            Err(e) => {
                tracing::warn!(track = %path.display(), error = %e, "music library: skipping a file");
                None
            }
        })
        .collect()
}

/// The file of library track `id`.
pub fn find_track(dir: Option<&Path>, id: &str) -> Result<PathBuf, LibraryError> {
    let dir = dir.ok_or(LibraryError::NoLibrary)?;
    if !valid_id(id) {
        return Err(LibraryError::UnknownTrack(id.to_owned()));
    }
    candidates(dir)
        .into_iter()
        .find(|(candidate, _)| candidate == id)
        .map(|(_, path)| path)
        .ok_or_else(|| LibraryError::UnknownTrack(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_looked_up_never_joined() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("calm-piano.mp3"), b"x").unwrap();
        std::fs::write(dir.path().join("Not An Id.mp3"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        assert_eq!(
            find_track(Some(dir.path()), "calm-piano").unwrap(),
            dir.path().join("calm-piano.mp3")
        );
        for bad in ["../calm-piano", "notes", "Not An Id", "", "calm-piano.mp3"] {
            assert_eq!(
                find_track(Some(dir.path()), bad).unwrap_err().code(),
                "music.unknown_track",
                "{bad}"
            );
        }
        assert_eq!(
            find_track(None, "calm-piano").unwrap_err().code(),
            "music.no_library"
        );
        assert_eq!(title_of("calm-piano_2"), "Calm piano 2");
        assert_eq!(library_id("library:calm"), Some("calm"));
    }
}

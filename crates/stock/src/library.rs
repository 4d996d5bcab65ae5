//! The operator's media library: a folder of licensed pictures and clips, described in one
//! sidecar file, `library.toml`, at the folder's root (D-stock-3):
//!
//! ```toml
//! [[item]]
//! file = "coast/sunset.jpg"          # inside the folder; required
//! title = "Sunset over the bay"
//! tags = ["sunset", "sea", "beach"]  # tags, title or description: at least one
//! description = "Orange sky over a calm bay, boats in the distance."
//! author = "Jane Doe"                # required
//! licence = "CC-BY-4.0"              # required
//! source = "https://example.org/sunset"  # http(s), optional
//! ```
//!
//! The index is built once, at start: each entry's file is opened and measured (images by their
//! header, clips by ffprobe), and an entry that cannot be used is rejected with the reason, while
//! the good ones stay searchable. Files in the folder that no entry describes are listed as
//! unlisted and never offered: without an entry there is no licence to show. Searching is
//! offline, with the ranking every source shares ([`crate::rank`]).

use crate::error::StockError;
use crate::keywords::Term;
use crate::rank::{rank, Attribution, Candidate, MediaKind, Ranked, Source, Want};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// The sidecar's name at the library folder's root.
pub const SIDECAR: &str = "library.toml";

const PHOTO_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp"];
const VIDEO_EXTENSIONS: &[&str] = &["mp4", "m4v", "mov", "webm", "mkv"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    #[serde(default)]
    item: Vec<Entry>,
}

/// One `[[item]]` of `library.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub file: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub author: String,
    pub licence: String,
    #[serde(default)]
    pub source: Option<String>,
}

/// An entry that was left out of the index, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The entry's `file` as written, or `item N` when it has none usable.
    pub file: String,
    pub reason: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.reason)
    }
}

#[derive(Debug, Clone)]
pub struct Library {
    root: PathBuf,
    pub items: Vec<Candidate>,
    pub rejected: Vec<Rejected>,
    /// Media files in the folder that no entry describes (not offered).
    pub unlisted: Vec<String>,
}

impl Library {
    /// Reads `root/library.toml` and measures every entry's file. A missing folder, a missing or
    /// unreadable sidecar, or one that is not valid TOML of this shape fails the whole library
    /// (`stock.library_invalid`); a bad entry is only left out, in [`Library::rejected`].
    pub fn index(root: &Path) -> Result<Library, StockError> {
        let root = root.canonicalize().map_err(|e| {
            StockError::Library(format!(
                "the folder {} cannot be opened: {e}",
                root.display()
            ))
        })?;
        if !root.is_dir() {
            return Err(StockError::Library(format!(
                "{} is not a folder",
                root.display()
            )));
        }
        let sidecar_path = root.join(SIDECAR);
        let text = std::fs::read_to_string(&sidecar_path).map_err(|e| {
            StockError::Library(format!("{} cannot be read: {e}", sidecar_path.display()))
        })?;
        let sidecar: Sidecar = toml::from_str(&text)
            .map_err(|e| StockError::Library(format!("{SIDECAR}: {}", e.message())))?;
        let mut library = Library {
            root,
            items: Vec::new(),
            rejected: Vec::new(),
            unlisted: Vec::new(),
        };
        let mut listed = BTreeSet::new();
        for (n, entry) in sidecar.item.into_iter().enumerate() {
            let label = if entry.file.trim().is_empty() {
                format!("item {}", n + 1)
            } else {
                entry.file.clone()
            };
            if !listed.insert(entry.file.clone()) {
                library.reject(label, "the file is described twice".into());
                continue;
            }
            match library.measure(&entry) {
                Ok(c) => library.items.push(c),
                Err(reason) => library.reject(label, reason),
            }
        }
        let mut found = Vec::new();
        walk(&library.root, &library.root, &mut found, 0);
        library.unlisted = found.into_iter().filter(|f| !listed.contains(f)).collect();
        Ok(library)
    }

    fn reject(&mut self, file: String, reason: String) {
        tracing::warn!(file = %file, reason = %reason, "media library entry rejected");
        self.rejected.push(Rejected { file, reason });
    }

    /// The library folder (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a library candidate, inside the folder.
    pub fn path_of(&self, c: &Candidate) -> Option<PathBuf> {
        (c.source == Source::Library).then(|| self.root.join(&c.location))
    }

    /// The entries matching at least one term, best first.
    pub fn search(&self, terms: &[Term], want: &Want) -> Vec<Ranked> {
        rank(self.items.clone(), terms, want, true)
    }

    /// Checks an entry and measures its file; `Err` is the reason it is rejected.
    fn measure(&self, e: &Entry) -> Result<Candidate, String> {
        let rel = Path::new(e.file.trim());
        if e.file.trim().is_empty() {
            return Err("`file` is empty".into());
        }
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(
                "`file` must be a path inside the library folder (no `..`, not absolute)".into(),
            );
        }
        let path = self.root.join(rel);
        let real = path
            .canonicalize()
            .map_err(|_| "the file does not exist".to_string())?;
        if !real.starts_with(&self.root) {
            return Err("the file is a link that leads out of the library folder".into());
        }
        if !real.is_file() {
            return Err("not a regular file".into());
        }
        if e.author.trim().is_empty() {
            return Err("`author` is empty".into());
        }
        if e.licence.trim().is_empty() {
            return Err("`licence` is empty".into());
        }
        if let Some(src) = &e.source {
            let ok = url::Url::parse(src).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(format!("`source` is not an http(s) link: {src}"));
            }
        }
        let mut words: Vec<String> = Vec::new();
        words.extend(e.title.iter().cloned());
        words.extend(e.tags.iter().cloned());
        words.extend(e.description.iter().cloned());
        let words = words.join(", ");
        if words.trim().is_empty() {
            return Err("no `tags`, `title` or `description` to search by".into());
        }
        let ext = rel
            .extension()
            .and_then(|x| x.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let (kind, width, height, duration_s) = if PHOTO_EXTENSIONS.contains(&ext.as_str()) {
            let (w, h) = image::ImageReader::open(&real)
                .and_then(|r| r.with_guessed_format())
                .map_err(|e| format!("cannot be opened: {e}"))?
                .into_dimensions()
                .map_err(|e| format!("not a readable image: {e}"))?;
            (MediaKind::Photo, w, h, None)
        } else if VIDEO_EXTENSIONS.contains(&ext.as_str()) {
            let info = reelsmith_media::probe::probe(&real)
                .map_err(|e| format!("not a readable video: {e}"))?;
            let v = info.video().ok_or("the file has no video stream")?;
            let (Some(w), Some(h)) = (v.width, v.height) else {
                return Err("the video stream has no frame size".into());
            };
            let d = info
                .best_duration()
                .filter(|d| *d > 0.0)
                .ok_or("the clip's duration is unknown")?;
            (MediaKind::Video, w, h, Some(d))
        } else {
            return Err(format!(
                "`.{ext}` is not a picture or clip type the library takes ({})",
                PHOTO_EXTENSIONS
                    .iter()
                    .chain(VIDEO_EXTENSIONS)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let author = e.author.trim().to_string();
        let text = match &e.title {
            Some(t) if !t.trim().is_empty() => {
                format!("\"{}\" by {author}, {}", t.trim(), e.licence.trim())
            }
            _ => format!("By {author}, {}", e.licence.trim()),
        };
        Ok(Candidate {
            source: Source::Library,
            id: e.file.trim().to_string(),
            kind,
            width,
            height,
            duration_s,
            words,
            location: e.file.trim().to_string(),
            size_bytes: std::fs::metadata(&real).ok().map(|m| m.len()),
            preview_url: None,
            attribution: Attribution {
                text,
                author,
                author_url: None,
                source_url: e.source.clone(),
                provider: "Media library".into(),
                licence: e.licence.trim().to_string(),
            },
        })
    }
}

/// Media files under `dir`, as paths relative to `root` with `/` separators. Hidden entries and
/// symbolic links are skipped; depth is bounded so a link loop cannot hang the start.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>, depth: u32) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(ft) = entry.file_type() else { continue };
        let path = entry.path();
        if ft.is_dir() && depth < 8 {
            walk(root, &path, out, depth + 1);
        } else if ft.is_file() {
            let ext = path
                .extension()
                .and_then(|x| x.to_str())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            if PHOTO_EXTENSIONS.contains(&ext.as_str()) || VIDEO_EXTENSIONS.contains(&ext.as_str())
            {
                if let Ok(rel) = path.strip_prefix(root) {
                    let parts: Vec<String> = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    out.push(parts.join("/"));
                }
            }
        }
    }
}

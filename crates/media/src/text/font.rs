//! The one font every caption and title is set in: DejaVu Sans Bold, embedded in the binary with
//! `include_bytes!` so rendering never depends on what fonts a host happens to have installed
//! (containers often have none). DejaVu covers Latin with its accents, Greek and Cyrillic, which is
//! what the speech engine can narrate; characters it lacks (emoji, CJK) are dropped from the text
//! before layout instead of being drawn as empty "tofu" boxes.
//!
//! Arabic, Devanagari and Chinese/Japanese captions are set in a system font for their script
//! (Debian packages that `scripts/setup` installs, found at run time: a missing one is a clear
//! error naming its package, never boxes), laid out by an OpenType shaper (rustybuzz) in
//! bidirectional runs, see [`super::layout`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ab_glyph::{Font as _, FontRef, GlyphId};
use reelsmith_core::{Code, ErrorCode};
use unicode_normalization::UnicodeNormalization;

static DEJAVU_SANS_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

use super::scripts::{dominant_writing, Writing};

/// A parsed font. Cheap to share: it borrows the font's bytes.
#[derive(Clone)]
pub struct Font {
    face: FontRef<'static>,
    /// Set for the fonts of scripts that need shaping: lines are laid out by rustybuzz.
    shaper: Option<rustybuzz::Face<'static>>,
    name: String,
}

impl std::fmt::Debug for Font {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Font").field("name", &self.name).finish()
    }
}

impl PartialEq for Font {
    fn eq(&self, other: &Font) -> bool {
        self.name == other.name
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error("the font data could not be parsed: {0}")]
    Invalid(String),
    #[error(
        "captions in {script} need a font that is not installed: install the Debian package \
         `{package}` (scripts/setup installs it; looked for {files} in {dirs})"
    )]
    Missing {
        script: &'static str,
        package: &'static str,
        files: String,
        dirs: String,
    },
    #[error(
        "the caption font `{name}` is not installed on this server (looked for a .ttf or .otf \
         file of that name in {dirs})"
    )]
    NotInstalled { name: String, dirs: String },
}

impl ErrorCode for FontError {
    fn code(&self) -> Code {
        match self {
            FontError::Invalid(_) => Code::TextFontInvalid,
            FontError::Missing { .. } => Code::TextFontMissing,
            FontError::NotInstalled { .. } => Code::CaptionsFontMissing,
        }
    }

    fn is_client_error(&self) -> bool {
        // A font the user named is theirs to fix; a script's font is the operator's.
        matches!(self, FontError::NotInstalled { .. })
    }
}

impl Font {
    /// Parses a TrueType/OpenType font that lives for the whole program.
    pub fn from_static_bytes(bytes: &'static [u8]) -> Result<Font, FontError> {
        let face = FontRef::try_from_slice(bytes).map_err(|e| FontError::Invalid(e.to_string()))?;
        Ok(Font {
            face,
            shaper: None,
            name: "DejaVu Sans Bold".to_string(),
        })
    }

    /// Parses a font whose lines are laid out by the OpenType shaper (complex scripts).
    pub fn shaped_from_static_bytes(bytes: &'static [u8], name: &str) -> Result<Font, FontError> {
        let face = FontRef::try_from_slice(bytes).map_err(|e| FontError::Invalid(e.to_string()))?;
        let shaper = rustybuzz::Face::from_slice(bytes, 0)
            .ok_or_else(|| FontError::Invalid(format!("{name}: the shaper cannot read it")))?;
        Ok(Font {
            face,
            shaper: Some(shaper),
            name: name.to_string(),
        })
    }

    /// The font's name (its file name for system fonts).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The font captions of `text` are set in: the embedded one, or the system font of the
    /// script most of its letters are in.
    pub fn for_text(text: &str) -> Result<&'static Font, FontError> {
        Font::for_writing(dominant_writing(text))
    }

    /// The font for one writing system, loaded once per process from [`font_dirs`].
    pub fn for_writing(writing: Writing) -> Result<&'static Font, FontError> {
        if writing == Writing::Default {
            return Ok(Font::caption());
        }
        static LOADED: OnceLock<Mutex<HashMap<Writing, &'static Font>>> = OnceLock::new();
        let loaded = LOADED.get_or_init(|| Mutex::new(HashMap::new()));
        let mut loaded = loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(font) = loaded.get(&writing) {
            return Ok(font);
        }
        let (path, _) = find_system_font(writing, &font_dirs())?;
        let bytes = std::fs::read(&path)
            .map_err(|e| FontError::Invalid(format!("{}: {e}", path.display())))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // One font per script per process, kept for the process's life like the embedded one.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        let font: &'static Font =
            Box::leak(Box::new(Font::shaped_from_static_bytes(bytes, &name)?));
        loaded.insert(writing, font);
        Ok(font)
    }

    /// The captions' font for `text` when a caption style names `name`: the installed font of
    /// that family or file name (see [`find_named_font`]), laid out by the shaper when the
    /// text's script needs one. The embedded font answers to its own name with no lookup.
    pub fn named_for_text(name: &str, text: &str) -> Result<&'static Font, FontError> {
        let writing = dominant_writing(text);
        if font_key(name) == font_key(Font::caption().name()) && writing == Writing::Default {
            return Ok(Font::caption());
        }
        static LOADED: OnceLock<Mutex<HashMap<(PathBuf, bool), &'static Font>>> = OnceLock::new();
        let path = find_named_font(name, &font_dirs())?;
        let shaped = writing != Writing::Default;
        let loaded = LOADED.get_or_init(|| Mutex::new(HashMap::new()));
        let mut loaded = loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(font) = loaded.get(&(path.clone(), shaped)) {
            return Ok(font);
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| FontError::Invalid(format!("{}: {e}", path.display())))?;
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Kept for the process's life like the script fonts: a handful of named fonts at most.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        let mut font = if shaped {
            Font::shaped_from_static_bytes(bytes, &file)?
        } else {
            Font::from_static_bytes(bytes)?
        };
        font.name = file;
        let font: &'static Font = Box::leak(Box::new(font));
        loaded.insert((path, shaped), font);
        Ok(font)
    }

    pub(crate) fn shaper(&self) -> Option<&rustybuzz::Face<'static>> {
        self.shaper.as_ref()
    }

    /// The embedded caption font, parsed once per process.
    #[expect(
        clippy::expect_used,
        reason = "the font is part of the build and a unit test parses it"
    )]
    pub fn caption() -> &'static Font {
        static FONT: OnceLock<Font> = OnceLock::new();
        FONT.get_or_init(|| {
            // The bytes are part of this build and a test parses them, so failing here means a
            // broken build, never bad user input.
            Font::from_static_bytes(DEJAVU_SANS_BOLD).expect("the embedded DejaVu font parses")
        })
    }

    pub(crate) fn face(&self) -> &FontRef<'static> {
        &self.face
    }

    /// The glyph that draws `c`, or `None` when the font would fall back to `.notdef` (id 0).
    pub fn glyph_for(&self, c: char) -> Option<GlyphId> {
        let id = self.face.glyph_id(c);
        (id.0 != 0).then_some(id)
    }

    pub fn has_glyph(&self, c: char) -> bool {
        self.glyph_for(c).is_some()
    }

    /// `text` as it can be drawn: composed to NFC (the font has precomposed accented letters, and
    /// without a shaper a separate combining accent would land beside its letter instead of on
    /// it), whitespace runs collapsed to single spaces, and every character without a glyph
    /// dropped, as are bidirectional controls, which would reorder the caption.
    pub fn drawable_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut pending_space = false;
        for c in text.nfc() {
            if c.is_whitespace() {
                pending_space = true;
            } else if self.has_glyph(c) && !c.is_control() && !super::is_bidi_control(c) {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push(c);
            }
        }
        out
    }
}

/// The fonts each script may be set in, best first, as paths under a font folder, and the
/// Debian package that has the first. Bold where the family has it, like the embedded font.
const SYSTEM_FONTS: &[(Writing, &[&str], &str)] = &[
    (
        Writing::Arabic,
        &[
            "truetype/noto/NotoSansArabicUI-Bold.ttf",
            "truetype/noto/NotoSansArabic-Bold.ttf",
            "truetype/noto/NotoNaskhArabicUI-Bold.ttf",
        ],
        "fonts-noto-ui-core",
    ),
    (
        Writing::Devanagari,
        &[
            "truetype/noto/NotoSansDevanagariUI-Bold.ttf",
            "truetype/noto/NotoSansDevanagari-Bold.ttf",
        ],
        "fonts-noto-ui-core",
    ),
    (
        Writing::Cjk,
        &[
            "truetype/droid/DroidSansFallbackFull.ttf",
            "truetype/wqy/wqy-microhei.ttc",
        ],
        "fonts-droid-fallback",
    ),
];

/// Where system fonts are looked for: `REELSMITH_FONT_DIR` first (a folder laid out like
/// `/usr/share/fonts`, or holding the font files directly), then `/usr/share/fonts`.
pub fn font_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("REELSMITH_FONT_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from("/usr/share/fonts"));
    dirs
}

/// A font name compared without case, spaces or punctuation: `DejaVu Serif Bold`,
/// `dejavuserif-bold` and `DejaVuSerif-Bold.ttf`'s stem are one name.
fn font_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `path` names a `.ttf` or `.otf` file.
fn is_font_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("ttf") || e.eq_ignore_ascii_case("otf"))
        && path.is_file()
}

/// Every `.ttf` or `.otf` file under `dir`, a few folders deep, in name order (so an answer
/// never depends on the file system's listing order), until `visit` returns `Some`.
fn walk_fonts<T>(
    dir: &Path,
    depth: usize,
    visit: &mut impl FnMut(&Path) -> Option<T>,
) -> Option<T> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    if let Some(found) = entries
        .iter()
        .filter(|p| is_font_file(p))
        .find_map(|p| visit(p))
    {
        return Some(found);
    }
    if depth == 0 {
        return None;
    }
    entries
        .iter()
        .filter(|p| p.is_dir())
        .find_map(|p| walk_fonts(p, depth - 1, visit))
}

/// How deep under a font folder files are looked for (`/usr/share/fonts/truetype/dejavu/…`).
const FONT_DEPTH: usize = 4;

/// The installed `.ttf` or `.otf` file under `dirs` whose file name is `name`, compared by
/// [`font_key`].
pub fn find_named_font(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, FontError> {
    let wanted = font_key(name);
    let not_installed = || FontError::NotInstalled {
        name: name.to_string(),
        dirs: dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    if wanted.is_empty() {
        return Err(not_installed());
    }
    let mut matches = |path: &Path| {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        (font_key(stem) == wanted).then(|| path.to_path_buf())
    };
    dirs.iter()
        .find_map(|dir| walk_fonts(dir, FONT_DEPTH, &mut matches))
        .ok_or_else(not_installed)
}

/// The names of the fonts installed under `dirs` (their file names without extension), sorted,
/// each once: what a caption style's `font` may name. The studio's font list reads it.
pub fn installed_fonts(dirs: &[PathBuf]) -> Vec<String> {
    let mut names = std::collections::BTreeMap::new();
    let mut collect = |path: &Path| -> Option<()> {
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            // One entry per name as `find_named_font` compares them: the first spelling wins.
            names
                .entry(font_key(stem))
                .or_insert_with(|| stem.to_owned());
        }
        None
    };
    for dir in dirs {
        walk_fonts(dir, FONT_DEPTH, &mut collect);
    }
    let mut list: Vec<String> = names.into_values().collect();
    list.sort_by_key(|n| n.to_lowercase());
    list
}

/// The first installed font for `writing` under `dirs`, with the package that provides it.
pub fn find_system_font(
    writing: Writing,
    dirs: &[PathBuf],
) -> Result<(PathBuf, &'static str), FontError> {
    let Some(&(_, files, package)) = SYSTEM_FONTS.iter().find(|(w, _, _)| *w == writing) else {
        return Err(FontError::Invalid(format!(
            "no font is known for {writing:?}"
        )));
    };
    for dir in dirs {
        for file in files {
            let nested = dir.join(file);
            let flat = Path::new(file).file_name().map(|n| dir.join(n));
            for candidate in std::iter::once(nested).chain(flat) {
                if candidate.is_file() {
                    return Ok((candidate, package));
                }
            }
        }
    }
    Err(FontError::Missing {
        script: writing.as_str(),
        package,
        files: files.join(", "),
        dirs: dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_parses_and_has_basic_glyphs() {
        let font = Font::caption();
        assert!(font.has_glyph('A'));
        assert!(font.has_glyph(' '));
        assert!(
            !font.has_glyph('\u{1F980}'),
            "DejaVu predates the crab emoji"
        );
    }

    #[test]
    fn drawable_text_drops_missing_glyphs_and_collapses_spaces() {
        let font = Font::caption();
        assert_eq!(font.drawable_text("Hi \u{1F980} there\t\n!"), "Hi there !");
        assert_eq!(font.drawable_text("\u{1F980}"), "");
        // "e" followed by a combining acute accent becomes the precomposed "é".
        assert_eq!(font.drawable_text("caf\u{0065}\u{0301}"), "café");
    }

    #[test]
    fn a_non_font_is_refused_with_a_code() {
        let err = Font::from_static_bytes(b"not a font").unwrap_err();
        assert_eq!(err.code(), "text.font_invalid");
        assert!(!err.is_client_error());
    }
}

//! The one font every caption and title is set in: DejaVu Sans Bold, embedded in the binary with
//! `include_bytes!` so rendering never depends on what fonts a host happens to have installed
//! (containers often have none). DejaVu covers Latin with its accents, Greek and Cyrillic, which is
//! what the speech engine can narrate; characters it lacks (emoji, CJK) are dropped from the text
//! before layout instead of being drawn as empty "tofu" boxes.

use std::sync::OnceLock;

use ab_glyph::{Font as _, FontRef, GlyphId};
use reelsmith_core::ErrorCode;
use unicode_normalization::UnicodeNormalization;

static DEJAVU_SANS_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// A parsed font. Cheap to share: it borrows the font's bytes.
#[derive(Debug, Clone)]
pub struct Font {
    face: FontRef<'static>,
}

#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error("the font data could not be parsed: {0}")]
    Invalid(String),
}

impl ErrorCode for FontError {
    fn code(&self) -> &'static str {
        match self {
            FontError::Invalid(_) => "text.font_invalid",
        }
    }

    fn is_client_error(&self) -> bool {
        false
    }
}

impl Font {
    /// Parses a TrueType/OpenType font that lives for the whole program.
    pub fn from_static_bytes(bytes: &'static [u8]) -> Result<Font, FontError> {
        let face = FontRef::try_from_slice(bytes).map_err(|e| FontError::Invalid(e.to_string()))?;
        Ok(Font { face })
    }

    /// The embedded caption font, parsed once per process.
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

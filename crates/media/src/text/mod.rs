//! Text for the picture: the embedded font, measured line layout and wrapping, glyph
//! rasterization with outline and shadow, and title-card overlays.
//!
//! Everything is pure Rust (ab_glyph for outlines), so captions render the same on every host
//! with no system font lookup and no external program. Layout measures real advance widths and
//! kerning; rasterization caches each glyph per size so per-frame work is only blending.

pub mod font;
pub mod kinetic;
pub mod layout;
pub mod raster;
pub mod scripts;
pub mod title;

pub use font::{Font, FontError};
pub use kinetic::KineticTitle;
pub use layout::{LineMetrics, PlacedGlyph, ShapedLine};
pub use raster::{GlyphBitmap, GlyphCache, LineToPaint, PaintedBlock, TextStyle};
pub use scripts::Writing;
pub use title::title_overlay;

/// The Unicode bidirectional embedding, override and isolate controls (U+202A–U+202E,
/// U+2066–U+2069). Inside a caption or a script they reorder what follows, so a viewer can be
/// shown text that reads differently from what was written (the "Trojan Source" trick, or a
/// file name that hides its real extension); nothing we show needs them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` without its bidirectional controls (see [`is_bidi_control`]).
pub fn strip_bidi_controls(text: &str) -> String {
    text.chars().filter(|c| !is_bidi_control(*c)).collect()
}

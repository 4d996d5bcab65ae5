//! Text for the picture: the embedded font, measured line layout and wrapping, glyph
//! rasterization with outline and shadow, and title-card overlays.
//!
//! Everything is pure Rust (ab_glyph for outlines), so captions render the same on every host
//! with no system font lookup and no external program. Layout measures real advance widths and
//! kerning; rasterization caches each glyph per size so per-frame work is only blending.

pub mod font;
pub mod layout;
pub mod raster;
pub mod title;

pub use font::{Font, FontError};
pub use layout::{LineMetrics, PlacedGlyph};
pub use raster::{GlyphBitmap, GlyphCache, LineToPaint, PaintedBlock, TextStyle};
pub use title::title_overlay;

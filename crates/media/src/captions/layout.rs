//! Where captions go and how big they are, for one output frame size.
//!
//! Sizes follow the frame's geometry rather than fixed pixels: the type is 5.8 % of the height on
//! wide frames, but on tall (9:16) frames the width is what limits it, so the type is set relative
//! to the width (6.8 %), which makes it relatively larger on a phone screen and the lines shorter.
//! Lines stay inside the 90 % title-safe width, outline and shadow included, and the block sits
//! with its bottom 8 % of the height above the frame's bottom edge.

use reelsmith_core::{CaptionPosition, CaptionStyle, FrameSize};

use crate::text::{Font, TextStyle};

/// Caption geometry for one frame size. All distances in pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionLayout {
    pub frame: FrameSize,
    /// The font the captions are set in (the embedded one, or the script's: [`Font::for_text`]).
    pub font: &'static Font,
    /// Type size (ab_glyph pixel scale: ascent to descent).
    pub font_px: f32,
    /// Widest a line's glyph advances may be.
    pub max_line_width: f32,
    pub max_lines: usize,
    /// Readability cap on characters per line, on top of the width limit (a single word is exempt).
    pub max_chars: usize,
    /// Where the last line's descent sits (for captions at the bottom).
    pub text_bottom: f32,
    /// Where the block sits: at `text_bottom`, centred, or from the top's safe margin.
    pub position: CaptionPosition,
    /// Most words (or pieces of a broken word) on one line, when the style limits them.
    pub max_words: Option<usize>,
    /// The outline's thickness as a percentage of the size's default.
    pub outline_percent: u32,
    /// Longest a cue may stay on screen, and shortest it should, in seconds.
    pub max_cue_seconds: f64,
    pub min_cue_seconds: f64,
}

const SAFE_WIDTH: f32 = 0.9;
const BOTTOM_MARGIN: f32 = 0.08;
/// Where top captions start: the title-safe 5 % on wide frames; on tall (9:16) frames below the
/// band the short-video apps cover with the account name and search bar (about the top 12 %).
const TOP_MARGIN: f32 = 0.05;
const TOP_MARGIN_PORTRAIT: f32 = 0.14;
/// Subtitle style guides (broadcast and streaming) cap lines at about 42 characters.
const MAX_CHARS: usize = 42;
const MIN_CHARS: usize = 12;

impl CaptionLayout {
    pub fn for_frame(size: FrameSize) -> CaptionLayout {
        CaptionLayout::for_frame_and_font(size, Font::caption())
    }

    /// The layout for captions set in `font`.
    pub fn for_frame_and_font(size: FrameSize, font: &'static Font) -> CaptionLayout {
        let (w, h) = (size.width as f32, size.height as f32);
        let font_px = (h * 0.058).min(w * 0.068).max(10.0);
        let style = TextStyle::for_size(font_px);
        let safe_width = w * SAFE_WIDTH;
        let max_line_width = (safe_width - 2.0 * style.margin() as f32).max(font_px);
        // Average advance of a bold lowercase letter is about half the pixel scale.
        // The embedded font's Latin average: script fonts may have no Latin letters, and the
        // character cap is a readability rule for spaced scripts, where the width rules anyway.
        let average_char = Font::caption().measure("etaoin shrdlu", font_px) / 13.0;
        let max_chars = ((max_line_width / average_char) as usize).clamp(MIN_CHARS, MAX_CHARS);
        CaptionLayout {
            frame: size,
            font,
            font_px,
            max_line_width,
            max_lines: 2,
            max_chars,
            text_bottom: h * (1.0 - BOTTOM_MARGIN),
            position: CaptionPosition::Bottom,
            max_words: None,
            outline_percent: 100,
            max_cue_seconds: 6.0,
            min_cue_seconds: 0.7,
        }
    }

    /// The layout for captions set in `font` with a spec's caption style: its size (a
    /// percentage of the default), position and words per line. Unset fields keep
    /// [`CaptionLayout::for_frame_and_font`]'s values exactly.
    pub fn for_style(size: FrameSize, font: &'static Font, style: &CaptionStyle) -> CaptionLayout {
        let mut layout = CaptionLayout::for_frame_and_font(size, font);
        if let Some(percent) = style.size.filter(|&p| p != 100) {
            let (w, h) = (size.width as f32, size.height as f32);
            layout.font_px = (layout.font_px * percent as f32 / 100.0).max(8.0);
            let text_style = TextStyle::for_size(layout.font_px);
            layout.max_line_width =
                (w * SAFE_WIDTH - 2.0 * text_style.margin() as f32).max(layout.font_px);
            // Bigger type fits fewer characters in the same width.
            let average_char = Font::caption().measure("etaoin shrdlu", layout.font_px) / 13.0;
            layout.max_chars = ((layout.max_line_width / average_char) as usize)
                .clamp(MIN_CHARS.min(6), MAX_CHARS);
            layout.text_bottom = h * (1.0 - BOTTOM_MARGIN);
        }
        layout.position = style.position.unwrap_or_default();
        layout.max_words = style.words_per_line.map(|n| n as usize);
        layout.outline_percent = style.outline_width.unwrap_or(100);
        layout
    }

    /// Where the top of the text block goes, for a block `text_height` tall.
    pub fn text_top(&self, text_height: f32) -> f32 {
        let h = self.frame.height as f32;
        match self.position {
            CaptionPosition::Bottom => self.text_bottom - text_height,
            CaptionPosition::Middle => (h - text_height) / 2.0,
            CaptionPosition::Top => {
                let portrait = self.frame.height > self.frame.width;
                h * if portrait {
                    TOP_MARGIN_PORTRAIT
                } else {
                    TOP_MARGIN
                }
            }
        }
    }

    /// The outline and shadow the caption text is drawn with.
    pub fn text_style(&self) -> TextStyle {
        let mut style = TextStyle::for_size(self.font_px);
        if self.outline_percent != 100 {
            style.outline =
                (style.outline as f32 * self.outline_percent as f32 / 100.0).round() as u32;
        }
        style
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelsmith_core::{Aspect, Resolution};

    #[test]
    fn portrait_type_is_relatively_larger_and_lines_shorter() {
        let wide = CaptionLayout::for_frame(Resolution::P1080.frame_size(Aspect::Landscape));
        let tall = CaptionLayout::for_frame(Resolution::P1080.frame_size(Aspect::Portrait));
        let relative = |l: &CaptionLayout| l.font_px / l.frame.width as f32;
        assert!(relative(&tall) > 1.5 * relative(&wide));
        assert!(tall.max_chars < wide.max_chars);
        assert_eq!(wide.max_chars, MAX_CHARS);
    }
}

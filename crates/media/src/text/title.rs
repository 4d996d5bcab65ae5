//! Title cards: a scene's words set large and centred, for scenes that have no picture of their
//! own. The type starts big (a tenth of the frame's short side) and shrinks until the wrapped text
//! fits the title-safe area in at most five lines; text that still does not fit at the smallest
//! readable size is cut at the fifth line with an ellipsis rather than overflowing the frame.

use reelsmith_core::FrameSize;

use super::font::Font;
use super::raster::{text_block_height, GlyphCache, LineToPaint, PaintedBlock, TextStyle};
use crate::frame::Overlay;

const MAX_LINES: usize = 5;
/// Title-safe area as a fraction of the frame: the outer 5 % each side may be cropped by players.
const SAFE_WIDTH: f32 = 0.9;
const SAFE_HEIGHT: f32 = 0.8;
const START_SIZE: f32 = 0.10;
const MIN_SIZE: f32 = 0.035;
const SHRINK_STEP: f32 = 0.92;

/// The overlay for a title card showing `text`, positioned on a frame of `size`.
pub fn title_overlay(text: &str, size: FrameSize) -> Overlay {
    // A script without its font installed keeps the embedded one: the render has already
    // refused such a script before getting here (see `render`), so this only affects callers
    // that draw titles directly.
    let font = Font::for_text(text).unwrap_or_else(|_| Font::caption());
    let text = font.drawable_text(text);
    if text.is_empty() {
        return Overlay::from_rgba(0, 0, 0, 0, &[]);
    }
    let (lines, style) = fit_title(font, &text, size);
    let painted: Vec<LineToPaint> = lines
        .iter()
        .map(|l| LineToPaint::plain(font, l, style.px))
        .collect();
    let mut cache = GlyphCache::new(font);
    let block = PaintedBlock::paint(&mut cache, &painted, &style);
    let rgba = block.to_rgba(|_| [255, 255, 255]);
    let left = (size.width as i32 - block.width as i32) / 2;
    let top = (size.height as i32 - block.height as i32) / 2;
    Overlay::from_rgba(left, top, block.width, block.height, &rgba)
}

/// The wrapped lines and the style they are painted in, shrinking the type until they fit.
pub(crate) fn fit_title(font: &Font, text: &str, size: FrameSize) -> (Vec<String>, TextStyle) {
    let short_side = size.width.min(size.height) as f32;
    let min_px = (short_side * MIN_SIZE).max(8.0);
    let mut px = short_side * START_SIZE;
    loop {
        let style = TextStyle::for_size(px);
        let (max_width, max_height) = text_area(size, &style);
        let lines = font.wrap(text, px, max_width);
        let height = text_block_height(lines.len(), px, font);
        if lines.len() <= MAX_LINES && height <= max_height {
            return (lines, style);
        }
        if px <= min_px {
            let fitting = max_lines_in(max_height, px, font);
            return (
                truncate_with_ellipsis(font, lines, fitting, px, max_width),
                style,
            );
        }
        px = (px * SHRINK_STEP).max(min_px);
    }
}

/// The room left for glyphs once the outline and shadow margins are inside the safe area.
fn text_area(size: FrameSize, style: &TextStyle) -> (f32, f32) {
    let margin = 2.0 * style.margin() as f32;
    (
        size.width as f32 * SAFE_WIDTH - margin,
        size.height as f32 * SAFE_HEIGHT - margin,
    )
}

fn max_lines_in(max_height: f32, px: f32, font: &Font) -> usize {
    (1..=MAX_LINES)
        .rev()
        .find(|&n| text_block_height(n, px, font) <= max_height)
        .unwrap_or(1)
}

/// Keeps the first `keep` lines and ends the last with "…", dropping its trailing characters until
/// the ellipsis fits.
fn truncate_with_ellipsis(
    font: &Font,
    mut lines: Vec<String>,
    keep: usize,
    px: f32,
    max_width: f32,
) -> Vec<String> {
    if lines.len() <= keep {
        return lines;
    }
    lines.truncate(keep);
    if let Some(last) = lines.last_mut() {
        let mut base = last.trim_end_matches('-').to_string();
        loop {
            let candidate = format!("{}…", base.trim_end());
            if font.measure(&candidate, px) <= max_width || base.is_empty() {
                *last = candidate;
                break;
            }
            base.pop();
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_title_is_cut_with_an_ellipsis() {
        let font = Font::caption();
        let text = "word ".repeat(2000);
        let (lines, style) = fit_title(font, &text, FrameSize::new(854, 480));
        assert!(lines.len() <= MAX_LINES);
        assert!(lines.last().unwrap().ends_with('…'));
        let (max_width, _) = text_area(FrameSize::new(854, 480), &style);
        for l in &lines {
            assert!(font.measure(l, style.px) <= max_width, "{l}");
        }
    }

    #[test]
    fn a_short_title_keeps_the_starting_size() {
        let (lines, style) = fit_title(Font::caption(), "Chapter one", FrameSize::new(1280, 720));
        assert_eq!(lines, ["Chapter one"]);
        assert_eq!(style.px, 72.0);
    }
}

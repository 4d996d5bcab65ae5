//! Burned-in captions: the overlay to blend onto each frame.
//!
//! Work is done at the coarsest level that changes: glyphs are rasterized once per size (in the
//! glyph cache), each cue's text, outline and shadow are painted once when the cue first shows,
//! and each highlight state of a cue (one per spoken word in karaoke, a single one for subtitles)
//! is converted to a YUV overlay once; a karaoke state is a copy of the plain cue's overlay with
//! only the spoken word's box converted again (converting the whole cue for every word took
//! about 8 ms at 720p, on the same thread as the warp). Every frame after that only looks up the cached overlay and
//! blends it, which is what makes captions nearly free at 30 fps.

use std::collections::HashMap;

use crate::frame::Overlay;
use crate::text::{Font, GlyphCache, LineToPaint, PaintedBlock, TextStyle};

use super::cues::Cue;
use super::layout::CaptionLayout;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaptionStyle {
    /// The whole cue in white.
    Subtitle,
    /// The cue in white with the word being spoken in yellow.
    Karaoke,
}

const TEXT_COLOUR: [u8; 3] = reelsmith_core::CaptionStyle::DEFAULT_COLOUR;
const HIGHLIGHT_COLOUR: [u8; 3] = reelsmith_core::CaptionStyle::DEFAULT_HIGHLIGHT_COLOUR;

/// The colours a cue is painted in: the text, and the spoken word in karaoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Colours {
    text: [u8; 3],
    highlight: [u8; 3],
}

pub struct CaptionRenderer {
    cues: Vec<Cue>,
    layout: CaptionLayout,
    style: CaptionStyle,
    text_style: TextStyle,
    glyphs: GlyphCache,
    colours: Colours,
    shown: Option<ShownCue>,
    overlays_built: usize,
}

/// The cue currently on screen, painted, with the overlays built for it so far.
struct ShownCue {
    index: usize,
    block: PaintedBlock,
    left: i32,
    top: i32,
    overlays: HashMap<Option<usize>, Overlay>,
    /// The cue with no word highlighted: each karaoke state starts from a copy of it and
    /// recolours only the highlighted word's box, instead of converting the whole cue again.
    plain: Option<Overlay>,
    colours: Colours,
}

impl CaptionRenderer {
    pub fn new(cues: Vec<Cue>, layout: CaptionLayout, style: CaptionStyle) -> CaptionRenderer {
        let text_style = layout.text_style();
        let font = layout.font;
        CaptionRenderer {
            cues,
            layout,
            style,
            text_style,
            glyphs: GlyphCache::new(font),
            colours: Colours {
                text: TEXT_COLOUR,
                highlight: HIGHLIGHT_COLOUR,
            },
            shown: None,
            overlays_built: 0,
        }
    }

    /// Applies a spec's caption style: the text, highlight and outline colours and the box
    /// (the size, position and words per line are the layout's: [`CaptionLayout::for_style`]).
    pub fn styled(mut self, style: &reelsmith_core::CaptionStyle) -> CaptionRenderer {
        self.colours = Colours {
            text: style.text_rgb(),
            highlight: style.highlight_rgb(),
        };
        self.text_style.outline_rgb = style.outline_rgb();
        self.shown = None;
        self.with_background_box(style.background.unwrap_or(false))
    }

    /// Adds a soft translucent box behind the text, for busy backgrounds.
    pub fn with_background_box(mut self, on: bool) -> CaptionRenderer {
        self.text_style.box_padding = on.then(|| (self.layout.font_px * 0.25).round() as u32);
        self.shown = None;
        self
    }

    pub fn cues(&self) -> &[Cue] {
        &self.cues
    }

    /// Glyph bitmaps rasterized so far.
    pub fn glyphs_rasterized(&self) -> usize {
        self.glyphs.rasterized()
    }

    /// Overlays converted so far (one per cue and highlighted word shown).
    pub fn overlays_built(&self) -> usize {
        self.overlays_built
    }

    /// The overlay to blend at time `t` (seconds), or `None` between cues. Cached: the same cue
    /// and highlighted word returns the same rasterized overlay without re-rasterizing.
    pub fn overlay_at(&mut self, t: f64) -> Option<&Overlay> {
        let index = self.cue_at(t)?;
        let highlight = match self.style {
            CaptionStyle::Subtitle => None,
            CaptionStyle::Karaoke => Some(spoken_word(&self.cues[index], t)),
        };
        if self.shown.as_ref().is_none_or(|s| s.index != index) {
            self.shown = Some(self.show(index));
        }
        let shown = self.shown.as_mut()?;
        if !shown.overlays.contains_key(&highlight) {
            let overlay = build_overlay(shown, highlight);
            shown.overlays.insert(highlight, overlay);
            self.overlays_built += 1;
        }
        shown.overlays.get(&highlight)
    }

    /// The cue on screen at `t`: cues are sorted and do not overlap, so a binary search finds it.
    fn cue_at(&self, t: f64) -> Option<usize> {
        let after = self.cues.partition_point(|c| c.start <= t);
        let index = after.checked_sub(1)?;
        (t < self.cues[index].end).then_some(index)
    }

    fn show(&mut self, index: usize) -> ShownCue {
        let cue = &self.cues[index];
        let font = self.glyphs.font();
        let lines: Vec<LineToPaint> = cue
            .lines
            .iter()
            .map(|line| line_with_word_groups(font, cue, line, self.text_style.px))
            .collect();
        let block = PaintedBlock::paint(&mut self.glyphs, &lines, &self.text_style);
        let text_height =
            crate::text::raster::text_block_height(lines.len(), self.text_style.px, font);
        let left = (self.layout.frame.width as i32 - block.width as i32) / 2;
        let top = self.layout.text_top(text_height).round() as i32 - block.margin as i32;
        ShownCue {
            index,
            block,
            left,
            top,
            overlays: HashMap::new(),
            plain: None,
            colours: self.colours,
        }
    }
}

/// The word being spoken at `t`: from its start until the next word starts (the last word holds
/// until the cue ends).
fn spoken_word(cue: &Cue, t: f64) -> usize {
    cue.words
        .partition_point(|w| w.start <= t)
        .saturating_sub(1)
}

/// A line's glyphs, each tagged with the index (in the cue) of the word it belongs to. The
/// shaper may reorder (right to left), merge or split characters, so a glyph's word is found
/// from the byte offset of the character it draws.
fn line_with_word_groups(font: &Font, cue: &Cue, line: &[usize], px: f32) -> LineToPaint {
    let mut text = String::new();
    let mut byte_groups: Vec<u16> = Vec::new();
    for (n, &word) in line.iter().enumerate() {
        let word_text = &cue.words[word].text;
        if n > 0 && !crate::text::scripts::joins_tight(&text, word_text) {
            text.push(' ');
            byte_groups.push(u16::MAX);
        }
        text.push_str(word_text);
        let group = u16::try_from(word).unwrap_or(u16::MAX - 1);
        byte_groups.extend(std::iter::repeat_n(group, word_text.len()));
    }
    let shaped = font.shape_line(&text, px);
    let groups = shaped
        .clusters
        .iter()
        .map(|&at| byte_groups.get(at).copied().unwrap_or(u16::MAX))
        .collect();
    LineToPaint {
        glyphs: shaped.glyphs,
        groups,
        width: shaped.width,
    }
}

fn colour_for(colours: Colours, highlight: Option<usize>) -> impl Fn(u16) -> [u8; 3] {
    move |group| {
        if highlight.is_some_and(|h| usize::from(group) == h) {
            colours.highlight
        } else {
            colours.text
        }
    }
}

/// The overlay of the shown cue with `highlight` in yellow. A highlighted state is the plain
/// cue with the word's box repainted: the same pixels as painting it all (the captions tests
/// compare both), for a fraction of the work.
fn build_overlay(shown: &mut ShownCue, highlight: Option<usize>) -> Overlay {
    let block = &shown.block;
    let colours = shown.colours;
    let plain = shown.plain.get_or_insert_with(|| {
        Overlay::from_rgba(
            shown.left,
            shown.top,
            block.width,
            block.height,
            &block.to_rgba(colour_for(colours, None)),
        )
    });
    let mut overlay = plain.clone();
    let group = highlight.and_then(|h| u16::try_from(h).ok());
    if let Some((left, top, right, bottom)) = group.and_then(|g| block.group_bounds(g)) {
        overlay.repaint(left, top, right, bottom, |x, y| {
            block.rgba_pixel(x, y, colour_for(colours, highlight))
        });
    }
    overlay
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timing::WordTiming;
    use reelsmith_core::FrameSize;

    /// Repainting only the highlighted word's box gives exactly the overlay that converting the
    /// whole recoloured cue gives, for every word of a two-line cue with accents and kerning.
    #[test]
    fn repainted_highlights_equal_full_conversions() {
        let text = "Très AVA wavy Tokyo, jäger fjord — Ёлка: quick brown fox jumps";
        let words: Vec<WordTiming> = text
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| WordTiming::new(w.to_string(), i as f64 * 0.3, i as f64 * 0.3 + 0.25))
            .collect();
        let layout = CaptionLayout::for_frame(FrameSize::new(640, 360));
        let cues = super::super::build_cues(&words, &layout);
        let mut renderer = CaptionRenderer::new(cues, layout, CaptionStyle::Karaoke);
        let mut checked = 0;
        for (index, cue) in renderer.cues.clone().iter().enumerate() {
            let mut shown = renderer.show(index);
            for h in 0..cue.words.len() {
                let repainted = build_overlay(&mut shown, Some(h));
                let full = Overlay::from_rgba(
                    shown.left,
                    shown.top,
                    shown.block.width,
                    shown.block.height,
                    &shown.block.to_rgba(colour_for(shown.colours, Some(h))),
                );
                assert!(repainted == full, "cue {index}, word {h}");
                assert!(repainted != *shown.plain.as_ref().unwrap());
                checked += 1;
            }
        }
        assert_eq!(checked, words.len());
    }
}

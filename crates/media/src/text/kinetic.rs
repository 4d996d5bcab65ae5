//! Kinetic typography for designed title scenes (issue 25): the scene's sentence set large as a
//! title card sets it, but each word appears when the narration says it, fading in as it rises
//! into place over a quarter of a second, with the sentence's key words in an accent colour.
//!
//! Each word is painted once (glyphs, outline and shadow) into an overlay at its place in the
//! wrapped title; a frame blends the words already spoken, a faded copy of the few still
//! arriving. On 9:16 frames the text keeps out of the bands the short-video apps cover: below
//! the top 14 % and above the bottom 22 %.

use reelsmith_core::FrameSize;

use super::font::Font;
use super::raster::{text_block_height, GlyphCache, LineToPaint, PaintedBlock};
use super::title::{fit_title, title_overlay};
use crate::frame::{Overlay, Yuv420Frame};
use crate::timing::WordTiming;

/// How long a word takes to arrive.
pub const REVEAL_SECONDS: f64 = 0.25;
/// How far below its place a word starts, as a fraction of the type size.
const RISE: f64 = 0.3;
/// Where the text's centre sits on 9:16 frames, and the height it may fill there.
const PORTRAIT_CENTRE: f32 = 0.46;
const PORTRAIT_HEIGHT: f32 = 0.64;

/// Short words that carry the grammar rather than the meaning: never accented.
const STOP_WORDS: &[&str] = &[
    "the", "and", "that", "this", "with", "from", "have", "they", "them", "their", "there", "were",
    "what", "when", "which", "while", "your", "into", "than", "then", "been", "will", "would",
    "could", "should", "about", "some", "more", "most", "very", "just", "also", "only", "over",
    "such", "each", "other", "these", "those", "because", "where", "every",
];

struct Word {
    start: f64,
    overlay: Overlay,
}

/// A title whose words arrive with the narration.
pub struct KineticTitle {
    words: Vec<Word>,
    rise_px: f64,
}

impl KineticTitle {
    /// The title of a scene whose narration is `words` (film time), on frames of `size`, key
    /// words in `accent`. Text the word-by-word layout cannot follow (a script set by the
    /// shaper, a word broken across lines, a title cut short) is shown whole from the start,
    /// as a title card.
    pub fn new(words: &[WordTiming], size: FrameSize, accent: [u8; 3]) -> KineticTitle {
        let joined = words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let font = Font::for_text(&joined).unwrap_or_else(|_| Font::caption());
        let drawable: Vec<(String, f64)> = words
            .iter()
            .map(|w| (font.drawable_text(&w.text), w.start))
            .filter(|(t, _)| !t.is_empty() && !t.contains(' '))
            .collect();
        let whole = |size| KineticTitle {
            words: vec![Word {
                start: f64::NEG_INFINITY,
                overlay: title_overlay(&joined, size),
            }],
            rise_px: 0.0,
        };
        if font.shaper().is_some() || drawable.is_empty() {
            return whole(size);
        }
        let portrait = size.height > size.width;
        // On 9:16 the words fit a shorter area, centred above the apps' bottom band.
        let area = if portrait {
            FrameSize::new(
                size.width,
                (size.height as f32 * PORTRAIT_HEIGHT / 0.8).round() as u32,
            )
        } else {
            size
        };
        let text = drawable
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let (lines, style) = fit_title(font, &text, area);
        let split: Vec<Vec<&str>> = lines.iter().map(|l| l.split(' ').collect()).collect();
        let laid_out: Vec<&str> = split.iter().flatten().copied().collect();
        let same_words = laid_out.len() == drawable.len()
            && laid_out.iter().zip(&drawable).all(|(a, (b, _))| *a == b);
        if !same_words {
            return whole(size);
        }
        let px = style.px;
        let metrics = font.line_metrics(px);
        let text_height = text_block_height(lines.len(), px, font);
        let centre_y = if portrait {
            size.height as f32 * PORTRAIT_CENTRE
        } else {
            size.height as f32 / 2.0
        };
        let lines_top = centre_y - text_height / 2.0;
        let mut cache = GlyphCache::new(font);
        let mut out = Vec::with_capacity(drawable.len());
        let mut index = 0;
        for (i, line) in split.iter().enumerate() {
            let line_text = line.join(" ");
            let line_left = (size.width as f32 - font.measure(&line_text, px)) / 2.0;
            for (k, word) in line.iter().enumerate() {
                let before = if k == 0 {
                    0.0
                } else {
                    font.measure(&format!("{} ", line[..k].join(" ")), px)
                };
                let painted = LineToPaint::plain(font, word, px);
                let block = PaintedBlock::paint(&mut cache, &[painted], &style);
                let colour = if is_key_word(word) {
                    accent
                } else {
                    [255, 255, 255]
                };
                let rgba = block.to_rgba(|_| colour);
                let left = (line_left + before).round() as i32 - block.margin as i32;
                let top = (lines_top + i as f32 * metrics.line_height).round() as i32
                    - block.margin as i32;
                out.push(Word {
                    start: drawable[index].1,
                    overlay: Overlay::from_rgba(left, top, block.width, block.height, &rgba),
                });
                index += 1;
            }
        }
        KineticTitle {
            words: out,
            rise_px: RISE * px as f64,
        }
    }

    /// Blends the words that have started by `t` (film time, seconds) onto `frame`.
    pub fn draw(&self, frame: &mut Yuv420Frame, t: f64) {
        for word in &self.words {
            if t < word.start {
                continue;
            }
            let p = ((t - word.start) / REVEAL_SECONDS).min(1.0);
            if p >= 1.0 {
                frame.blend(&word.overlay);
                continue;
            }
            // Ease out: fast at first, settling into place.
            let e = 1.0 - (1.0 - p) * (1.0 - p);
            let mut arriving = word.overlay.clone();
            let opacity = (e * 255.0).round() as u32;
            for a in arriving
                .alpha
                .iter_mut()
                .chain(arriving.chroma_alpha.iter_mut())
            {
                *a = ((*a as u32 * opacity + 127) / 255) as u8;
            }
            // Overlays sit on even rows so their chroma lines up.
            let rise = ((1.0 - e) * self.rise_px / 2.0).round() as i32 * 2;
            arriving.top += rise;
            frame.blend(&arriving);
        }
    }

    /// Where each word's overlay sits once it has arrived, with its start: (start, left, top,
    /// right, bottom).
    pub fn word_boxes(&self) -> Vec<(f64, i32, i32, i32, i32)> {
        self.words
            .iter()
            .map(|w| {
                let o = &w.overlay;
                (
                    w.start,
                    o.left,
                    o.top,
                    o.left + o.width as i32,
                    o.top + o.height as i32,
                )
            })
            .collect()
    }
}

/// A word that carries the sentence: four letters or more and not a grammar word.
pub fn is_key_word(word: &str) -> bool {
    let letters: String = word
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    letters.chars().count() >= 4 && !STOP_WORDS.contains(&letters.as_str())
}

/// The accent colour of key words on a card of `glow`: the glow lifted halfway to white, so it
/// stays readable on the card's dark palette.
pub fn accent_for(glow: [u8; 3]) -> [u8; 3] {
    glow.map(|c| ((c as u16 + 255) / 2) as u8)
}

//! Horizontal layout: where each glyph of a line goes, and how wide a line is, from the font's own
//! advance widths and kerning pairs. Line breaking everywhere is decided with these measurements
//! rather than character counts, because in a proportional bold font "WWW" is more than twice as
//! wide as "iii" and a count-based limit either wastes the line or overflows it.
//!
//! The embedded font (Latin, Greek, Cyrillic) needs no complex shaping: those scripts read
//! correctly with precomposed characters, advances and kerning, and that path is unchanged. A
//! font loaded for Arabic, Devanagari or CJK is laid out by rustybuzz instead: the line is cut
//! into bidirectional runs (UAX #9), each run shaped in its direction (joining forms, conjuncts,
//! mark positions), and the runs placed left to right in visual order.

use ab_glyph::{Font as _, GlyphId, PxScale, ScaleFont as _};
use unicode_segmentation::UnicodeSegmentation;

use super::font::Font;

/// One glyph of a laid-out line: its pen position on the baseline, relative to the line's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacedGlyph {
    pub id: GlyphId,
    pub x: f32,
    /// How far above the baseline the shaper raised the glyph (marks); 0 without shaping.
    pub y: f32,
}

/// A laid-out line with, for each glyph, the byte offset in the text of the character (cluster)
/// it draws, so callers can tell which word a glyph belongs to after reordering and ligatures.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapedLine {
    pub glyphs: Vec<PlacedGlyph>,
    pub clusters: Vec<usize>,
    pub width: f32,
}

/// Vertical metrics at one size, in pixels. `descent` is negative (below the baseline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineMetrics {
    pub ascent: f32,
    pub descent: f32,
    /// Baseline-to-baseline distance.
    pub line_height: f32,
}

impl Font {
    /// Vertical metrics for text set at `px` (ab_glyph's pixel scale: ascent minus descent).
    pub fn line_metrics(&self, px: f32) -> LineMetrics {
        let scaled = self.face().as_scaled(PxScale::from(px));
        LineMetrics {
            ascent: scaled.ascent(),
            descent: scaled.descent(),
            line_height: scaled.ascent() - scaled.descent() + scaled.line_gap(),
        }
    }

    /// Glyph positions for one line of already drawable text, and the line's advance width.
    /// Characters without a glyph are skipped, so callers may pass raw text too.
    pub fn place_line(&self, text: &str, px: f32) -> (Vec<PlacedGlyph>, f32) {
        let line = self.shape_line(text, px);
        (line.glyphs, line.width)
    }

    /// [`Font::place_line`] with each glyph's source character.
    pub fn shape_line(&self, text: &str, px: f32) -> ShapedLine {
        if let Some(shaper) = self.shaper() {
            return self.shape_with(shaper, text, px);
        }
        let scaled = self.face().as_scaled(PxScale::from(px));
        let mut glyphs = Vec::with_capacity(text.len());
        let mut clusters = Vec::with_capacity(text.len());
        let mut pen = 0.0f32;
        let mut previous: Option<GlyphId> = None;
        for (at, id) in text
            .char_indices()
            .filter_map(|(at, c)| self.glyph_for(c).map(|id| (at, id)))
        {
            if let Some(prev) = previous {
                pen += scaled.kern(prev, id);
            }
            glyphs.push(PlacedGlyph { id, x: pen, y: 0.0 });
            clusters.push(at);
            pen += scaled.h_advance(id);
            previous = Some(id);
        }
        ShapedLine {
            glyphs,
            clusters,
            width: pen,
        }
    }

    fn shape_with(&self, shaper: &rustybuzz::Face<'static>, text: &str, px: f32) -> ShapedLine {
        // ab_glyph's pixel scale is ascent-to-descent, so font units scale by the same factor
        // the rasterizer uses.
        let factor = px / self.face().height_unscaled();
        let mut line = ShapedLine {
            glyphs: Vec::new(),
            clusters: Vec::new(),
            width: 0.0,
        };
        let bidi = unicode_bidi::BidiInfo::new(text, None);
        for paragraph in &bidi.paragraphs {
            let (levels, runs) = bidi.visual_runs(paragraph, paragraph.range.clone());
            for run in runs {
                let mut buffer = rustybuzz::UnicodeBuffer::new();
                buffer.push_str(&text[run.clone()]);
                buffer.set_direction(if levels[run.start].is_rtl() {
                    rustybuzz::Direction::RightToLeft
                } else {
                    rustybuzz::Direction::LeftToRight
                });
                buffer.guess_segment_properties();
                let shaped = rustybuzz::shape(shaper, &[], buffer);
                // Output is in visual order for either direction.
                for (info, pos) in shaped.glyph_infos().iter().zip(shaped.glyph_positions()) {
                    if info.glyph_id != 0 {
                        line.glyphs.push(PlacedGlyph {
                            id: GlyphId(info.glyph_id as u16),
                            x: line.width + pos.x_offset as f32 * factor,
                            y: pos.y_offset as f32 * factor,
                        });
                        line.clusters.push(run.start + info.cluster as usize);
                    }
                    line.width += pos.x_advance as f32 * factor;
                }
            }
        }
        line
    }

    /// The advance width of one line of text at `px`.
    pub fn measure(&self, text: &str, px: f32) -> f32 {
        self.place_line(text, px).1
    }

    /// The width a space adds between two words, kerning on both sides included, so that a line's
    /// width is exactly the sum of its words and the gaps between them.
    pub fn gap_between(&self, left: &str, right: &str, px: f32) -> f32 {
        let scaled = self.face().as_scaled(PxScale::from(px));
        let Some(space) = self.glyph_for(' ') else {
            return 0.0;
        };
        let last = left.chars().rev().find_map(|c| self.glyph_for(c));
        let first = right.chars().find_map(|c| self.glyph_for(c));
        let before = last.map_or(0.0, |l| scaled.kern(l, space));
        let after = first.map_or(0.0, |r| scaled.kern(space, r));
        before + scaled.h_advance(space) + after
    }

    /// Splits a word too wide for `max_width` into pieces that each fit, every piece but the last
    /// ending in a hyphen. Breaks fall between grapheme clusters and the pieces are balanced (a
    /// 1.3-line word becomes two similar halves, not a full line and a stub). A word that fits is
    /// returned whole.
    pub fn break_word(&self, word: &str, px: f32, max_width: f32) -> Vec<String> {
        if self.measure(word, px) <= max_width {
            return vec![word.to_string()];
        }
        let segments = super::scripts::unspaced_segments(word);
        if segments.len() > 1 {
            return self.pack_segments(&segments, px, max_width);
        }
        let graphemes: Vec<&str> = word.graphemes(true).collect();
        let total = self.measure(word, px);
        let hyphen = self.measure("-", px);
        let average = total / graphemes.len() as f32;
        // Try the fewest pieces first, each allowed a little over an equal share (greedy breaking
        // needs some slack); more pieces only if that share cannot hold the word.
        let fewest = (total / (max_width - hyphen).max(1.0)).ceil() as usize;
        for pieces_wanted in fewest.max(2)..fewest.max(2) + 4 {
            let limit = (total / pieces_wanted as f32 + hyphen + average).min(max_width);
            let pieces = self.split_graphemes(&graphemes, px, limit);
            if pieces.len() <= pieces_wanted {
                return pieces;
            }
        }
        self.split_graphemes(&graphemes, px, max_width)
    }

    /// Chinese or Japanese too wide for a line: as many whole segments (where UAX #14 allows a
    /// break) per piece as fit, with no hyphen, as those scripts are broken.
    fn pack_segments(&self, segments: &[&str], px: f32, max_width: f32) -> Vec<String> {
        let mut pieces: Vec<String> = Vec::new();
        let mut current = String::new();
        for segment in segments {
            let candidate = format!("{current}{segment}");
            if !current.is_empty() && self.measure(&candidate, px) > max_width {
                pieces.push(std::mem::replace(&mut current, segment.to_string()));
            } else {
                current = candidate;
            }
        }
        if !current.is_empty() {
            pieces.push(current);
        }
        pieces
    }

    /// Greedy split: each piece, hyphen included, as long as it can be without exceeding `limit`.
    /// A single grapheme wider than the limit (only at absurd sizes) still goes out alone, as it
    /// is the narrowest unit there is. Widths are accumulated glyph by glyph, so even a
    /// pathological 64 KiB "word" splits in linear time.
    fn split_graphemes(&self, graphemes: &[&str], px: f32, limit: f32) -> Vec<String> {
        let scaled = self.face().as_scaled(PxScale::from(px));
        let hyphen = self.glyph_for('-');
        let mut pieces = Vec::new();
        let mut current = String::new();
        let mut width = 0.0f32;
        let mut last: Option<GlyphId> = None;
        let advance = |from: Option<GlyphId>, text: &str| {
            let mut w = 0.0f32;
            let mut prev = from;
            for id in text.chars().filter_map(|c| self.glyph_for(c)) {
                if let Some(p) = prev {
                    w += scaled.kern(p, id);
                }
                w += scaled.h_advance(id);
                prev = Some(id);
            }
            (w, prev)
        };
        for (i, g) in graphemes.iter().enumerate() {
            let (grown, grown_last) = advance(last, g);
            let mut needed = width + grown;
            if i + 1 < graphemes.len() {
                if let (Some(h), Some(l)) = (hyphen, grown_last) {
                    needed += scaled.kern(l, h) + scaled.h_advance(h);
                }
            }
            if needed > limit && !current.is_empty() {
                current.push('-');
                pieces.push(std::mem::take(&mut current));
                (width, last) = advance(None, g);
            } else {
                width += grown;
                last = grown_last;
            }
            current.push_str(g);
        }
        pieces.push(current);
        pieces
    }

    /// Greedy word wrap of `words` into lines no wider than `max_width`; words wider than a line
    /// are broken first. Returns the lines as text.
    pub fn wrap(&self, text: &str, px: f32, max_width: f32) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut current = String::new();
        for word in text.split_whitespace() {
            for (i, piece) in self.break_word(word, px, max_width).into_iter().enumerate() {
                if current.is_empty() {
                    current = piece;
                    continue;
                }
                // A later piece of a broken word continues it, so it always starts a new line.
                let candidate = format!("{current} {piece}");
                if i == 0 && self.measure(&candidate, px) <= max_width {
                    current = candidate;
                } else {
                    lines.push(std::mem::replace(&mut current, piece));
                }
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kerning_narrows_known_pairs() {
        let font = Font::caption();
        let px = 100.0;
        let av = font.measure("AV", px);
        let separate = font.measure("A", px) + font.measure("V", px);
        assert!(av < separate, "AV {av} should kern tighter than {separate}");
    }

    #[test]
    fn line_width_is_the_sum_of_words_and_gaps() {
        let font = Font::caption();
        let px = 48.0;
        let whole = font.measure("Tout va bien.", px);
        let parts = font.measure("Tout", px)
            + font.gap_between("Tout", "va", px)
            + font.measure("va", px)
            + font.gap_between("va", "bien.", px)
            + font.measure("bien.", px);
        assert!((whole - parts).abs() < 0.01, "{whole} vs {parts}");
    }

    #[test]
    fn a_huge_word_breaks_in_reasonable_time() {
        let font = Font::caption();
        let pieces = font.break_word(&"ы".repeat(60_000), 30.0, 400.0);
        assert!(pieces.len() > 1000);
        assert!(pieces.iter().all(|p| font.measure(p, 30.0) <= 400.0));
    }

    #[test]
    fn a_long_word_breaks_into_balanced_pieces() {
        let font = Font::caption();
        let word = "Donaudampfschifffahrtsgesellschaftskapitänsmütze";
        let pieces = font.break_word(word, 48.96, 630.0);
        let widths: Vec<f32> = pieces.iter().map(|p| font.measure(p, 48.96)).collect();
        let (min, max) = widths
            .iter()
            .fold((f32::MAX, 0.0f32), |(a, b), &w| (a.min(w), b.max(w)));
        assert!(max - min < 120.0, "{pieces:?} {widths:?}");
    }

    #[test]
    fn a_long_word_breaks_into_fitting_hyphenated_pieces() {
        let font = Font::caption();
        let word = "Donaudampfschifffahrtsgesellschaftskapitänsmütze";
        let pieces = font.break_word(word, 40.0, 300.0);
        assert!(pieces.len() >= 2);
        for p in &pieces {
            assert!(font.measure(p, 40.0) <= 300.0, "{p}");
        }
        let rejoined: String = pieces.iter().map(|p| p.trim_end_matches('-')).collect();
        assert_eq!(rejoined, word);
    }

    #[test]
    fn wrap_keeps_every_line_inside_the_width() {
        let font = Font::caption();
        let text = "Съешь же ещё этих мягких французских булок, да выпей чаю. \
            Übergrößenträgerinnenvereinigung!";
        let lines = font.wrap(text, 36.0, 250.0);
        assert!(lines.len() > 2);
        for l in &lines {
            assert!(font.measure(l, 36.0) <= 250.0, "{l}");
        }
    }
}

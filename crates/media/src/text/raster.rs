//! Rasterization: glyph outlines to coverage bitmaps (once per glyph and size, in [`GlyphCache`]),
//! and lines of placed glyphs to a [`PaintedBlock`], the text's masks plus its dark surround
//! (outline, drop shadow, optional translucent box) that keeps white text readable on any picture.
//!
//! A block is painted once and can then be coloured many times ([`PaintedBlock::to_rgba`]): the
//! fill mask remembers which word ("group") each pixel belongs to, so karaoke highlighting
//! recolours one word without touching the font rasterizer or recomputing the outline.

use std::collections::HashMap;
use std::rc::Rc;

use ab_glyph::{point, Font as _, GlyphId, PxScale};

use super::font::Font;
use super::layout::PlacedGlyph;

/// Anti-aliased coverage of one glyph, positioned relative to its pen point on the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlyphBitmap {
    pub left: i32,
    pub top: i32,
    pub width: u32,
    pub height: u32,
    pub coverage: Vec<u8>,
}

/// Rasterizes each (glyph, size) once. Pen positions are rounded to whole pixels so a cached bitmap
/// can be reused anywhere; at caption sizes the half-pixel difference is invisible.
pub struct GlyphCache {
    font: &'static Font,
    glyphs: HashMap<(u16, u32), Rc<GlyphBitmap>>,
    rasterized: usize,
}

impl GlyphCache {
    pub fn new(font: &'static Font) -> GlyphCache {
        GlyphCache {
            font,
            glyphs: HashMap::new(),
            rasterized: 0,
        }
    }

    pub fn font(&self) -> &'static Font {
        self.font
    }

    /// How many glyph bitmaps have been rasterized so far (a cache miss each).
    pub fn rasterized(&self) -> usize {
        self.rasterized
    }

    pub fn glyph(&mut self, id: GlyphId, px: f32) -> Rc<GlyphBitmap> {
        let font = self.font;
        let rasterized = &mut self.rasterized;
        self.glyphs
            .entry((id.0, px.to_bits()))
            .or_insert_with(|| {
                *rasterized += 1;
                Rc::new(rasterize(font, id, px))
            })
            .clone()
    }
}

fn rasterize(font: &Font, id: GlyphId, px: f32) -> GlyphBitmap {
    let glyph = id.with_scale_and_position(PxScale::from(px), point(0.0, 0.0));
    let Some(outlined) = font.face().outline_glyph(glyph) else {
        // Spaces and other blank glyphs have no outline.
        return GlyphBitmap {
            left: 0,
            top: 0,
            width: 0,
            height: 0,
            coverage: Vec::new(),
        };
    };
    let bounds = outlined.px_bounds();
    let width = bounds.width().max(0.0) as u32;
    let height = bounds.height().max(0.0) as u32;
    let mut coverage = vec![0u8; width as usize * height as usize];
    outlined.draw(|x, y, c| {
        if x < width && y < height {
            coverage[(y * width + x) as usize] = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    });
    GlyphBitmap {
        left: bounds.min.x as i32,
        top: bounds.min.y as i32,
        width,
        height,
        coverage,
    }
}

/// One line to paint: its glyphs (positions relative to the line start), the group of each glyph,
/// and the line's advance width.
#[derive(Debug, Clone, PartialEq)]
pub struct LineToPaint {
    pub glyphs: Vec<PlacedGlyph>,
    pub groups: Vec<u16>,
    pub width: f32,
}

impl LineToPaint {
    /// A line whose glyphs all belong to group 0.
    pub fn plain(font: &Font, text: &str, px: f32) -> LineToPaint {
        let (glyphs, width) = font.place_line(text, px);
        let groups = vec![0; glyphs.len()];
        LineToPaint {
            glyphs,
            groups,
            width,
        }
    }
}

/// How text is dressed so it reads on any background.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextStyle {
    pub px: f32,
    /// Radius of the dark outline around each glyph, in pixels.
    pub outline: u32,
    /// How far down and right the soft shadow falls.
    pub shadow_offset: u32,
    pub shadow_blur: u32,
    /// Opacity of the shadow, 0–255.
    pub shadow_alpha: u8,
    /// Padding of a translucent dark box behind the whole block, if any.
    pub box_padding: Option<u32>,
    /// The outline's colour (the shadow and the box stay black).
    pub outline_rgb: [u8; 3],
}

impl TextStyle {
    /// Outline and shadow proportional to the type size, so every resolution looks the same.
    pub fn for_size(px: f32) -> TextStyle {
        TextStyle {
            px,
            outline: ((px / 16.0).round() as u32).max(1),
            shadow_offset: ((px / 18.0).round() as u32).max(1),
            shadow_blur: ((px / 20.0).round() as u32).max(1),
            shadow_alpha: 170,
            box_padding: None,
            outline_rgb: [0, 0, 0],
        }
    }

    /// Space kept around the glyphs for the outline, shadow and box.
    pub fn margin(&self) -> u32 {
        let effects = self.outline + self.shadow_offset + self.shadow_blur + 1;
        effects.max(self.box_padding.unwrap_or(0) + 1)
    }
}

/// Painted text: coverage of the glyphs, which group owns each pixel, and the combined opacity of
/// everything dark behind them. The text's line boxes start at (`margin`, `margin`).
#[derive(Debug, Clone, PartialEq)]
pub struct PaintedBlock {
    pub width: u32,
    pub height: u32,
    pub margin: u32,
    fill: Vec<u8>,
    group: Vec<u16>,
    dark: Vec<u8>,
    /// The outline's own opacity, kept apart from `dark` only when it is coloured.
    outline: Vec<u8>,
    outline_rgb: [u8; 3],
}

/// Group value for pixels no glyph covers.
const NO_GROUP: u16 = u16::MAX;

impl PaintedBlock {
    /// Paints `lines`, each centred on the widest, one line height apart.
    pub fn paint(cache: &mut GlyphCache, lines: &[LineToPaint], style: &TextStyle) -> PaintedBlock {
        let metrics = cache.font().line_metrics(style.px);
        let margin = style.margin();
        let text_width = lines.iter().map(|l| l.width).fold(0.0f32, f32::max);
        let text_height = text_block_height(lines.len(), style.px, cache.font());
        let width = text_width.ceil() as u32 + 2 * margin;
        let height = text_height.ceil() as u32 + 2 * margin;
        let mut block = PaintedBlock {
            width,
            height,
            margin,
            fill: vec![0; (width * height) as usize],
            group: vec![NO_GROUP; (width * height) as usize],
            dark: Vec::new(),
            outline: Vec::new(),
            outline_rgb: style.outline_rgb,
        };
        for (i, line) in lines.iter().enumerate() {
            let left = margin as f32 + (text_width - line.width) / 2.0;
            let baseline = margin as f32 + metrics.ascent + i as f32 * metrics.line_height;
            for (g, &group) in line.glyphs.iter().zip(&line.groups) {
                let bitmap = cache.glyph(g.id, style.px);
                let pen_x = (left + g.x).round() as i32;
                let pen_y = (baseline - g.y).round() as i32;
                block.stamp(&bitmap, pen_x, pen_y, group);
            }
        }
        let (dark, outline) = block.dark_surround(style, text_width, text_height);
        block.dark = dark;
        if style.outline_rgb != [0, 0, 0] {
            block.outline = outline;
        }
        block
    }

    fn stamp(&mut self, bitmap: &GlyphBitmap, pen_x: i32, baseline: i32, group: u16) {
        for row in 0..bitmap.height as i32 {
            let y = baseline + bitmap.top + row;
            if y < 0 || y >= self.height as i32 {
                continue;
            }
            for col in 0..bitmap.width as i32 {
                let x = pen_x + bitmap.left + col;
                if x < 0 || x >= self.width as i32 {
                    continue;
                }
                let c = bitmap.coverage[(row * bitmap.width as i32 + col) as usize];
                let i = (y as u32 * self.width + x as u32) as usize;
                // Neighbouring glyphs may overlap by a pixel; the stronger coverage owns it.
                if c > self.fill[i] {
                    self.fill[i] = c;
                    self.group[i] = group;
                }
            }
        }
    }

    /// Outline, shadow and box opacity combined into one layer (their colour is black, or the
    /// outline's, mixed in by [`PaintedBlock::to_rgba`]), and the outline's opacity alone.
    fn dark_surround(
        &self,
        style: &TextStyle,
        text_width: f32,
        text_height: f32,
    ) -> (Vec<u8>, Vec<u8>) {
        let (w, h) = (self.width as usize, self.height as usize);
        let dilated = dilate_disc(&self.fill, w, h, style.outline as usize);
        // No outline at all: the shadow still falls from the glyphs themselves.
        let outline = if style.outline == 0 {
            vec![0; w * h]
        } else {
            dilated.clone()
        };
        let shifted = shift(&dilated, w, h, style.shadow_offset as usize);
        let shadow = box_blur(&shifted, w, h, style.shadow_blur as usize);
        let boxed = style.box_padding.map(|pad| {
            let m = self.margin as f32;
            rounded_box(
                w,
                h,
                (m - pad as f32, m - pad as f32),
                (m + text_width + pad as f32, m + text_height + pad as f32),
                pad as f32,
            )
        });
        let dark = (0..w * h)
            .map(|i| {
                let clear = |a: u8| 1.0 - a as f32 / 255.0;
                let mut transparent = clear(outline[i]);
                transparent *=
                    1.0 - (shadow[i] as f32 / 255.0) * (style.shadow_alpha as f32 / 255.0);
                if let Some(b) = &boxed {
                    transparent *= clear(b[i]);
                }
                ((1.0 - transparent) * 255.0).round() as u8
            })
            .collect();
        (dark, outline)
    }

    /// Straight-alpha RGBA: each glyph pixel in the colour of its group, over the dark surround.
    pub fn to_rgba(&self, colour_of_group: impl Fn(u16) -> [u8; 3]) -> Vec<u8> {
        let mut rgba = vec![0u8; self.fill.len() * 4];
        for (i, px) in rgba.chunks_exact_mut(4).enumerate() {
            px.copy_from_slice(&self.rgba_at(i, &colour_of_group));
        }
        rgba
    }

    /// The pixel at (`x`, `y`) as [`PaintedBlock::to_rgba`] gives it: transparent outside the
    /// block.
    pub fn rgba_pixel(&self, x: u32, y: u32, colour_of_group: impl Fn(u16) -> [u8; 3]) -> [u8; 4] {
        if x >= self.width || y >= self.height {
            return [0; 4];
        }
        self.rgba_at((y * self.width + x) as usize, &colour_of_group)
    }

    #[inline]
    fn rgba_at(&self, i: usize, colour_of_group: &impl Fn(u16) -> [u8; 3]) -> [u8; 4] {
        // Integer "over" compositing in 0–255 units: this runs for every pixel of every
        // highlight state, so it avoids floating point.
        let fill = self.fill[i] as u32;
        let dark = self.dark[i] as u32;
        let alpha = fill + (dark * (255 - fill) + 127) / 255;
        let mut px = [0u8; 4];
        if alpha == 0 {
            return px;
        }
        if let Some(&outline) = self.outline.get(i) {
            // A coloured outline shows where the fill does not cover it; the shadow and box
            // under it are black and add no colour.
            let colour = if fill > 0 {
                colour_of_group(self.group[i])
            } else {
                [0; 3]
            };
            let under = (255 - fill) * outline as u32;
            let den = alpha * 255;
            for c in 0..3 {
                let num = colour[c] as u32 * fill * 255 + self.outline_rgb[c] as u32 * under;
                px[c] = ((num + den / 2) / den).min(255) as u8;
            }
        } else if fill > 0 {
            // The dark layer is black, so only the fill contributes colour.
            let colour = colour_of_group(self.group[i]);
            for c in 0..3 {
                px[c] = ((colour[c] as u32 * fill + alpha / 2) / alpha) as u8;
            }
        }
        px[3] = alpha as u8;
        px
    }

    /// The smallest rectangle `(left, top, right, bottom)` (right and bottom exclusive) holding
    /// every pixel that `group` owns, or `None` when it owns none: the only pixels whose colour
    /// changes when that group is highlighted.
    pub fn group_bounds(&self, group: u16) -> Option<(u32, u32, u32, u32)> {
        let w = self.width as usize;
        let mut bounds: Option<(u32, u32, u32, u32)> = None;
        for (y, row) in self.group.chunks_exact(w).enumerate() {
            let (Some(first), Some(last)) = (
                row.iter().position(|&g| g == group),
                row.iter().rposition(|&g| g == group),
            ) else {
                continue;
            };
            let (y, first, last) = (y as u32, first as u32, last as u32);
            bounds = Some(match bounds {
                None => (first, y, last + 1, y + 1),
                Some((l, t, r, _)) => (l.min(first), t, r.max(last + 1), y + 1),
            });
        }
        bounds
    }
}

/// Height from the first line's ascent to the last line's descent.
pub fn text_block_height(lines: usize, px: f32, font: &Font) -> f32 {
    if lines == 0 {
        return 0.0;
    }
    let m = font.line_metrics(px);
    m.ascent - m.descent + (lines - 1) as f32 * m.line_height
}

/// Grey-level dilation by a disc: each output pixel is the strongest coverage within `radius`.
/// The disc is a stack of horizontal chords; the running maximum over every chord half-width is
/// built incrementally (a window of half-width h+1 is the maximum of two windows of half-width h
/// one pixel apart), so the whole dilation costs O(radius) passes over the mask, not O(radius²).
fn dilate_disc(src: &[u8], w: usize, h: usize, radius: usize) -> Vec<u8> {
    if radius == 0 {
        return src.to_vec();
    }
    let r = radius as i64;
    let half_of = |dy: i64| (((r * r - dy * dy) as f64).sqrt().round()) as usize;
    // by_half[k]: horizontal running maximum with half-width k.
    let mut by_half: Vec<Vec<u8>> = vec![src.to_vec()];
    for k in 1..=radius {
        let next = widen(&by_half[k - 1], w, h, k == 1);
        by_half.push(next);
    }
    let mut out = vec![0u8; w * h];
    for dy in -r..=r {
        let rows = &by_half[half_of(dy)];
        for y in 0..h as i64 {
            let sy = y + dy;
            if sy < 0 || sy >= h as i64 {
                continue;
            }
            let (dst, from) = (y as usize * w, sy as usize * w);
            for (o, &v) in out[dst..dst + w].iter_mut().zip(&rows[from..from + w]) {
                *o = (*o).max(v);
            }
        }
    }
    out
}

/// Widens a horizontal running maximum by one pixel each side. From half-width 0 the centre must
/// be kept too; from half-width 1 onwards the two shifted windows already overlap it.
fn widen(prev: &[u8], w: usize, h: usize, keep_centre: bool) -> Vec<u8> {
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        let row = &prev[y * w..(y + 1) * w];
        for x in 0..w {
            let left = if x > 0 { row[x - 1] } else { 0 };
            let right = if x + 1 < w { row[x + 1] } else { 0 };
            let centre = if keep_centre { row[x] } else { 0 };
            out[y * w + x] = left.max(right).max(centre);
        }
    }
    out
}

/// Moves a mask `by` pixels down and right.
fn shift(src: &[u8], w: usize, h: usize, by: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h];
    for y in by..h {
        for x in by..w {
            out[y * w + x] = src[(y - by) * w + x - by];
        }
    }
    out
}

/// Separable box blur with running sums: constant cost per pixel whatever the radius.
fn box_blur(src: &[u8], w: usize, h: usize, radius: usize) -> Vec<u8> {
    if radius == 0 {
        return src.to_vec();
    }
    let pass = |input: &[u8], len: usize, lines: usize, index: &dyn Fn(usize, usize) -> usize| {
        let mut out = vec![0u8; w * h];
        let window = (2 * radius + 1) as u32;
        for line in 0..lines {
            let mut sum: u32 = 0;
            // Prime the window with the samples to the right of position 0.
            for i in 0..radius.min(len) {
                sum += input[index(line, i)] as u32;
            }
            for i in 0..len {
                if i + radius < len {
                    sum += input[index(line, i + radius)] as u32;
                }
                if i > radius {
                    sum -= input[index(line, i - radius - 1)] as u32;
                }
                out[index(line, i)] = (sum / window) as u8;
            }
        }
        out
    };
    let across = pass(src, w, h, &|line, i| line * w + i);
    pass(&across, h, w, &|line, i| i * w + line)
}

/// Opacity of a translucent box with rounded corners, anti-aliased at its edge.
fn rounded_box(w: usize, h: usize, min: (f32, f32), max: (f32, f32), radius: f32) -> Vec<u8> {
    const OPACITY: f32 = 0.55;
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            // Distance outside the rectangle shrunk by the corner radius, minus the radius: a
            // signed distance to the rounded box's edge.
            let dx = (min.0 + radius - px).max(px - (max.0 - radius)).max(0.0);
            let dy = (min.1 + radius - py).max(py - (max.1 - radius)).max(0.0);
            let distance = (dx * dx + dy * dy).sqrt() - radius;
            let inside = (0.5 - distance).clamp(0.0, 1.0);
            out[y * w + x] = (inside * OPACITY * 255.0).round() as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_are_rasterized_once_per_size() {
        let mut cache = GlyphCache::new(Font::caption());
        let a = cache.font().glyph_for('a').unwrap();
        let first = cache.glyph(a, 40.0);
        let again = cache.glyph(a, 40.0);
        assert!(Rc::ptr_eq(&first, &again));
        assert_eq!(cache.rasterized(), 1);
        cache.glyph(a, 41.0);
        assert_eq!(cache.rasterized(), 2);
        assert!(first.coverage.contains(&255), "a solid stem");
    }

    #[test]
    fn painted_text_has_white_fill_inside_a_dark_outline() {
        let mut cache = GlyphCache::new(Font::caption());
        let style = TextStyle::for_size(40.0);
        let line = LineToPaint::plain(Font::caption(), "Hello", 40.0);
        let block = PaintedBlock::paint(&mut cache, &[line], &style);
        let rgba = block.to_rgba(|_| [255, 255, 255]);
        let white = rgba
            .chunks_exact(4)
            .filter(|p| p == &[255, 255, 255, 255])
            .count();
        let dark = rgba
            .chunks_exact(4)
            .filter(|p| p[3] > 200 && p[0] < 40)
            .count();
        assert!(white > 100, "{white} white pixels");
        assert!(dark > 100, "{dark} outline pixels");
        // The margin keeps the outline off the block's edge.
        let edge_alpha: u32 = (0..block.width as usize)
            .map(|x| rgba[x * 4 + 3] as u32)
            .sum();
        assert_eq!(edge_alpha, 0);
    }

    #[test]
    fn dilation_grows_a_dot_into_a_disc() {
        let mut src = vec![0u8; 11 * 11];
        src[5 * 11 + 5] = 255;
        let out = dilate_disc(&src, 11, 11, 3);
        assert_eq!(out[5 * 11 + 8], 255);
        assert_eq!(out[2 * 11 + 5], 255);
        assert_eq!(out[2 * 11 + 2], 0, "corners of the square stay clear");
        assert_eq!(out[5 * 11 + 9], 0);
    }

    #[test]
    fn incremental_dilation_matches_a_direct_disc_search() {
        let (w, h) = (23, 19);
        let src: Vec<u8> = (0..w * h).map(|i| ((i * 7919) % 251) as u8 / 3).collect();
        for radius in 1..6i64 {
            let fast = dilate_disc(&src, w, h, radius as usize);
            for y in 0..h as i64 {
                for x in 0..w as i64 {
                    let mut best = 0u8;
                    for dy in -radius..=radius {
                        let half = (((radius * radius - dy * dy) as f64).sqrt().round()) as i64;
                        for dx in -half..=half {
                            let (sx, sy) = (x + dx, y + dy);
                            if sx >= 0 && sy >= 0 && sx < w as i64 && sy < h as i64 {
                                best = best.max(src[sy as usize * w + sx as usize]);
                            }
                        }
                    }
                    assert_eq!(
                        fast[y as usize * w + x as usize],
                        best,
                        "r={radius} {x},{y}"
                    );
                }
            }
        }
    }

    #[test]
    fn box_blur_keeps_the_mass_of_an_interior_patch() {
        let (w, h) = (20, 20);
        let mut src = vec![0u8; w * h];
        for y in 8..12 {
            for x in 8..12 {
                src[y * w + x] = 200;
            }
        }
        let out = box_blur(&src, w, h, 2);
        let before: u32 = src.iter().map(|&v| v as u32).sum();
        let after: u32 = out.iter().map(|&v| v as u32).sum();
        assert!((before as i64 - after as i64).abs() < before as i64 / 10);
        assert!(out[10 * w + 13] > 0 && out[10 * w + 10] < 200);
    }
}

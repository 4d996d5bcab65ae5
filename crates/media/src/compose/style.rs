//! Colour styles ("looks") as transforms of BT.709 Y′CbCr, precomputed into lookup tables.
//!
//! Each look is a small grade: an S-shaped contrast curve and a lift/gain on luma, a saturation
//! factor on chroma, and a tint that depends on brightness (shadows, midtones and highlights
//! blended with quadratic Bernstein weights), which is how a teal-shadow/orange-highlight look is
//! made. Working in Y′CbCr rather than RGB lets the very same tables serve both cases:
//! - stills and title cards: applied once to the prepared canvas of the scene, never per frame;
//! - video clips: applied to every decoded frame, which costs one table lookup per sample.
//!
//! Luma goes through a 256-entry table. Chroma goes through a table indexed by the brightness of
//! its 2×2 luma block (in 32 steps, finer than any tint gradient needs) and the chroma value.
//! `Style::None` is the identity and is skipped entirely.

use reelsmith_core::Style;

/// Chroma offsets in 8-bit code values (Cb, Cr).
type Tint = (f64, f64);

struct Grade {
    /// 0 = linear, 1 = a full smoothstep S-curve; negative flattens.
    contrast: f64,
    /// Output level of black and of white, as fractions of the luma range.
    lift: f64,
    gain: f64,
    saturation: f64,
    shadows: Tint,
    midtones: Tint,
    highlights: Tint,
}

fn grade(style: Style) -> Option<Grade> {
    let neutral = Grade {
        contrast: 0.0,
        lift: 0.0,
        gain: 1.0,
        saturation: 1.0,
        shadows: (0.0, 0.0),
        midtones: (0.0, 0.0),
        highlights: (0.0, 0.0),
    };
    match style {
        Style::None => None,
        // Teal shadows (Cb up, Cr down), orange highlights (Cb down, Cr up), a firmer curve.
        Style::Cinematic => Some(Grade {
            contrast: 0.25,
            saturation: 1.05,
            shadows: (9.0, -7.0),
            highlights: (-9.0, 8.0),
            ..neutral
        }),
        Style::Warm => Some(Grade {
            contrast: 0.05,
            saturation: 1.05,
            shadows: (-5.0, 6.0),
            midtones: (-7.0, 8.0),
            highlights: (-6.0, 6.0),
            ..neutral
        }),
        Style::Cool => Some(Grade {
            contrast: 0.05,
            shadows: (8.0, -5.0),
            midtones: (7.0, -5.0),
            highlights: (5.0, -4.0),
            ..neutral
        }),
        Style::Mono => Some(Grade {
            contrast: 0.12,
            saturation: 0.0,
            ..neutral
        }),
        // Faded film: lifted blacks, dimmed whites, muted colour, a yellow-warm cast.
        Style::Vintage => Some(Grade {
            contrast: -0.1,
            lift: 0.08,
            gain: 0.92,
            saturation: 0.7,
            shadows: (-3.0, 5.0),
            midtones: (-8.0, 5.0),
            highlights: (-10.0, 3.0),
        }),
    }
}

const LUMA_BUCKETS: usize = 32;

/// A style compiled into lookup tables.
pub struct StyleLut {
    luma: [u8; 256],
    /// `[bucket][value]`, bucket = block luma / 8.
    cb: Vec<u8>,
    cr: Vec<u8>,
}

impl StyleLut {
    /// `None` for `Style::None`, which leaves pictures untouched.
    pub fn new(style: Style) -> Option<StyleLut> {
        let g = grade(style)?;
        let mut luma = [0u8; 256];
        for (v, out) in luma.iter_mut().enumerate() {
            let l = tone(&g, luma_fraction(v as f64));
            *out = to_code(16.0 + 219.0 * l, 16.0, 235.0);
        }
        let mut cb = vec![0u8; LUMA_BUCKETS * 256];
        let mut cr = vec![0u8; LUMA_BUCKETS * 256];
        for bucket in 0..LUMA_BUCKETS {
            let l = luma_fraction((bucket * 8) as f64 + 3.5);
            let (tb, tr) = tint(&g, l);
            for v in 0..256 {
                let c = v as f64 - 128.0;
                cb[bucket * 256 + v] = to_code(128.0 + c * g.saturation + tb, 16.0, 240.0);
                cr[bucket * 256 + v] = to_code(128.0 + c * g.saturation + tr, 16.0, 240.0);
            }
        }
        Some(StyleLut { luma, cb, cr })
    }

    /// Applies the look in place to yuv420p planes of `width × height` (both even).
    pub fn apply(&self, y: &mut [u8], cb: &mut [u8], cr: &mut [u8], width: usize) {
        let cw = width / 2;
        // Chroma first: it is indexed by the brightness of the original luma.
        for (row, (cb_row, cr_row)) in cb
            .chunks_exact_mut(cw)
            .zip(cr.chunks_exact_mut(cw))
            .enumerate()
        {
            let top = &y[2 * row * width..][..width];
            let bottom = &y[(2 * row + 1) * width..][..width];
            for (col, (b, r)) in cb_row.iter_mut().zip(cr_row.iter_mut()).enumerate() {
                let sum = top[2 * col] as usize
                    + top[2 * col + 1] as usize
                    + bottom[2 * col] as usize
                    + bottom[2 * col + 1] as usize;
                let bucket = (sum / 4) >> 3;
                *b = self.cb[bucket * 256 + *b as usize];
                *r = self.cr[bucket * 256 + *r as usize];
            }
        }
        for v in y.iter_mut() {
            *v = self.luma[*v as usize];
        }
    }
}

fn luma_fraction(code: f64) -> f64 {
    ((code - 16.0) / 219.0).clamp(0.0, 1.0)
}

fn tone(g: &Grade, l: f64) -> f64 {
    let s_curve = l * l * (3.0 - 2.0 * l);
    let shaped = l + g.contrast * (s_curve - l);
    g.lift + (g.gain - g.lift) * shaped
}

fn tint(g: &Grade, l: f64) -> Tint {
    let (ws, wm, wh) = ((1.0 - l) * (1.0 - l), 2.0 * l * (1.0 - l), l * l);
    (
        g.shadows.0 * ws + g.midtones.0 * wm + g.highlights.0 * wh,
        g.shadows.1 * ws + g.midtones.1 * wm + g.highlights.1 * wh,
    )
}

fn to_code(v: f64, lo: f64, hi: f64) -> u8 {
    v.round().clamp(lo, hi) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_is_the_identity_and_others_keep_black_below_white() {
        assert!(StyleLut::new(Style::None).is_none());
        for s in [
            Style::Cinematic,
            Style::Warm,
            Style::Cool,
            Style::Mono,
            Style::Vintage,
        ] {
            let lut = StyleLut::new(s).unwrap();
            assert!(
                lut.luma[16] < lut.luma[128] && lut.luma[128] < lut.luma[235],
                "{s:?}"
            );
            assert!(
                lut.luma.windows(2).all(|w| w[0] <= w[1]),
                "{s:?} is monotonic"
            );
        }
        let vintage = StyleLut::new(Style::Vintage).unwrap();
        assert!(vintage.luma[16] > 25, "vintage lifts its blacks");
    }
}

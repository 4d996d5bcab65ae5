//! Title-card backgrounds: a calm gradient for text to sit on. The words themselves are an overlay
//! drawn by the captions module; this only makes the ground they stand on.
//!
//! A card is a diagonal two-colour gradient from a curated palette, a soft glow of a third colour
//! and a gentle vignette. The seed picks the palette, the gradient's angle and the glow's place, so
//! a film's cards vary yet re-render identically. All palettes are dark to mid-tone (white text
//! stays readable, the luma stays below about 60 %), and a tiny seeded dither keeps the smooth
//! gradient from banding once it is quantised to 8 bits and encoded. The card is rendered into the
//! same kind of canvas as a photo, so the camera moves over it with the same gentle motion.

use super::motion::splitmix64;

type Rgb = [f32; 3];

/// (start, end, glow) colours.
const PALETTES: [(Rgb, Rgb, Rgb); 8] = [
    ([18.0, 32.0, 74.0], [74.0, 28.0, 96.0], [220.0, 90.0, 140.0]), // midnight to plum
    ([8.0, 48.0, 60.0], [16.0, 92.0, 88.0], [120.0, 220.0, 200.0]), // deep teal
    (
        [48.0, 20.0, 30.0],
        [140.0, 60.0, 40.0],
        [255.0, 170.0, 90.0],
    ), // ember
    (
        [20.0, 26.0, 36.0],
        [52.0, 64.0, 84.0],
        [150.0, 180.0, 230.0],
    ), // slate
    (
        [30.0, 50.0, 24.0],
        [20.0, 86.0, 64.0],
        [200.0, 230.0, 120.0],
    ), // forest
    ([60.0, 16.0, 60.0], [24.0, 24.0, 90.0], [90.0, 160.0, 255.0]), // violet night
    (
        [70.0, 36.0, 14.0],
        [120.0, 30.0, 50.0],
        [255.0, 200.0, 120.0],
    ), // sunset
    (
        [12.0, 20.0, 48.0],
        [10.0, 70.0, 120.0],
        [90.0, 200.0, 255.0],
    ), // ocean
];

/// Renders the card's RGB canvas (`width × height × 3` bytes).
pub fn card_rgb(seed: u64, width: usize, height: usize) -> Vec<u8> {
    let mut state = seed ^ 0x6361_7264; // "card"
    let mut unit = || (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
    let (start, end, glow) = pick_palette(unit());
    let angle = unit() * std::f64::consts::TAU;
    let (glow_x, glow_y) = (0.2 + 0.6 * unit(), 0.2 + 0.6 * unit());
    let dither_seed = splitmix64(&mut state);

    let (dx, dy) = (angle.cos() as f32, angle.sin() as f32);
    let aspect = width as f32 / height as f32;
    let mut rgb = vec![0u8; width * height * 3];
    for (y, row) in rgb.chunks_exact_mut(width * 3).enumerate() {
        let v = (y as f32 + 0.5) / height as f32;
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let u = (x as f32 + 0.5) / width as f32;
            // Gradient position along the angle, centred so every angle spans the whole card.
            let along = ((u - 0.5) * aspect * dx + (v - 0.5) * dy) / (aspect.abs() + 1.0) + 0.5;
            let t = smoothstep(along.clamp(0.0, 1.0));
            let gx = (u - glow_x as f32) * aspect;
            let gy = v - glow_y as f32;
            let glow_weight = 0.22 * (-(gx * gx + gy * gy) / 0.18).exp();
            let r2 = ((u - 0.5) * aspect).powi(2) + (v - 0.5).powi(2);
            let vignette = 1.0 - 0.3 * (r2 / (0.25 * aspect * aspect + 0.25)).min(1.0);
            let noise = dither(dither_seed, x, y);
            for c in 0..3 {
                let base = start[c] + (end[c] - start[c]) * t;
                let lit = base + (glow[c] - base) * glow_weight;
                px[c] = (lit * vignette + noise).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    rgb
}

fn pick_palette(unit: f64) -> (Rgb, Rgb, Rgb) {
    PALETTES[(unit * PALETTES.len() as f64) as usize % PALETTES.len()]
}

/// The card's colours for `seed` (start, end, glow), as [`card_rgb`] picks them.
pub fn palette(seed: u64) -> ([u8; 3], [u8; 3], [u8; 3]) {
    let mut state = seed ^ 0x6361_7264;
    let unit = (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
    let bytes = |c: Rgb| c.map(|v| v as u8);
    let (start, end, glow) = pick_palette(unit);
    (bytes(start), bytes(end), bytes(glow))
}

fn smoothstep(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Triangular-distributed noise in about ±1 code value, a pure function of the position.
fn dither(seed: u64, x: usize, y: usize) -> f32 {
    let mut s = seed ^ ((y as u64) << 32 | x as u64);
    let bits = splitmix64(&mut s);
    let a = (bits & 0xFFFF) as f32 / 65535.0;
    let b = ((bits >> 16) & 0xFFFF) as f32 / 65535.0;
    a + b - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::rgb_to_yuv;

    #[test]
    fn cards_are_seeded_and_dark_enough_for_white_text() {
        let a = card_rgb(1, 64, 36);
        assert_eq!(a, card_rgb(1, 64, 36));
        let distinct = (0..20)
            .map(|s| card_rgb(s, 64, 36))
            .collect::<std::collections::BTreeSet<_>>();
        assert!(distinct.len() > 10);
        for seed in 0..50 {
            let rgb = card_rgb(seed, 64, 36);
            let max_luma = rgb
                .chunks_exact(3)
                .map(|p| rgb_to_yuv(p[0], p[1], p[2]).0)
                .max()
                .unwrap();
            assert!(
                (max_luma as u32) < 16 + 219 * 6 / 10,
                "seed {seed}: luma {max_luma}"
            );
        }
    }
}

//! The moving background of a designed title scene (issue 25): the title card's gradient, moved
//! by the camera like a photo, with soft light drawn over it on every frame: a drifting glow
//! (`gradient`), out-of-focus particles floating up (`particles`), or warm light leaks sweeping
//! in from the edges (`light-leaks`).
//!
//! Every light is a Gaussian, which is separable: per frame, one table of weights per column and
//! one per row, then each pixel in the light's box is one multiply and one blend towards the
//! light's colour, in fixed point. Positions are floating point, so lights glide by fractions
//! of a pixel. Everything comes from the seed and the time, so the same scene draws the same
//! frames.

use reelsmith_core::TitleBackground;

use crate::frame::{rgb_to_yuv, Yuv420Frame};

use super::card::palette;
use super::motion::splitmix64;

/// One soft light: centre and spread in frame-normalised units (x of the width, y of the
/// height), its colour and its strength (the largest blend weight, 0 to 1).
#[derive(Debug, Clone, Copy)]
struct Light {
    x: f64,
    y: f64,
    spread_x: f64,
    spread_y: f64,
    rgb: [u8; 3],
    strength: f64,
}

/// A particle: where it starts, how it moves and how it twinkles.
#[derive(Debug, Clone, Copy)]
struct Particle {
    x: f64,
    y: f64,
    /// Frame heights per second, upward.
    rise: f64,
    sway: f64,
    phase: f64,
    /// Of the frame's shorter side.
    size: f64,
    strength: f64,
}

/// The lights of one designed scene.
#[derive(Debug, Clone)]
pub struct Lights {
    kind: TitleBackground,
    glow: [u8; 3],
    /// Phases of the glow's slow path.
    phase: [f64; 2],
    particles: Vec<Particle>,
    /// Scratch tables, reused frame to frame.
    columns: Vec<u16>,
    rows: Vec<u16>,
}

const PARTICLES: usize = 28;
const LEAK_COLOURS: [[u8; 3]; 2] = [[255, 150, 70], [255, 96, 120]];

impl Lights {
    pub fn new(kind: TitleBackground, seed: u64) -> Lights {
        let mut state = seed ^ 0x6c69_6768_7473; // "lights"
        let mut unit = || (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
        let phase = [
            unit() * std::f64::consts::TAU,
            unit() * std::f64::consts::TAU,
        ];
        let particles = if kind == TitleBackground::Particles {
            (0..PARTICLES)
                .map(|_| Particle {
                    x: unit(),
                    y: unit(),
                    rise: 0.02 + 0.05 * unit(),
                    sway: 0.01 + 0.02 * unit(),
                    phase: unit() * std::f64::consts::TAU,
                    size: 0.006 + 0.016 * unit(),
                    strength: 0.25 + 0.4 * unit(),
                })
                .collect()
        } else {
            Vec::new()
        };
        Lights {
            kind,
            glow: palette(seed).2,
            phase,
            particles,
            columns: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Draws the lights at `seconds` into the scene onto `frame`.
    pub fn draw(&mut self, frame: &mut Yuv420Frame, seconds: f64) {
        let tau = std::f64::consts::TAU;
        let [p0, p1] = self.phase;
        let mut lights: Vec<Light> = Vec::with_capacity(self.particles.len() + 2);
        match self.kind {
            TitleBackground::Gradient | TitleBackground::Particles => lights.push(Light {
                x: 0.5 + 0.3 * (tau * seconds / 11.0 + p0).sin(),
                y: 0.5 + 0.25 * (tau * seconds / 7.0 + p1).sin(),
                spread_x: 0.22,
                spread_y: 0.35,
                rgb: self.glow,
                strength: 0.22,
            }),
            TitleBackground::LightLeaks => {
                for (k, rgb) in LEAK_COLOURS.into_iter().enumerate() {
                    let side = if k == 0 { 0.0 } else { 1.0 };
                    let sweep = (tau * seconds / (9.0 + 4.0 * k as f64) + self.phase[k]).sin();
                    lights.push(Light {
                        x: side + (0.5 - side) * 0.35 * (1.0 + sweep),
                        y: 0.3 + 0.4 * k as f64 + 0.1 * (tau * seconds / 5.0 + p1).sin(),
                        spread_x: 0.2,
                        spread_y: 0.45,
                        rgb,
                        strength: 0.32 + 0.12 * (tau * seconds / 3.0 + self.phase[k]).sin(),
                    });
                }
            }
        }
        let aspect = frame.size().width as f64 / frame.size().height as f64;
        let short_x = 1.0 / aspect.max(1.0);
        let short_y = aspect.min(1.0);
        for p in &self.particles {
            let y = (p.y - p.rise * seconds).rem_euclid(1.2) - 0.1;
            let twinkle = 0.75 + 0.25 * (tau * seconds / 2.5 + p.phase).sin();
            lights.push(Light {
                x: p.x + p.sway * (tau * seconds / 6.0 + p.phase).sin(),
                y,
                spread_x: p.size * short_x,
                spread_y: p.size * short_y,
                rgb: [255, 244, 214],
                strength: p.strength * twinkle,
            });
        }
        for light in lights {
            self.add(frame, light);
        }
    }

    fn add(&mut self, frame: &mut Yuv420Frame, light: Light) {
        let size = frame.size();
        let (w, h) = (size.width as usize, size.height as usize);
        let (cy, cb, cr) = rgb_to_yuv(light.rgb[0], light.rgb[1], light.rgb[2]);
        let strength = light.strength.clamp(0.0, 1.0);
        let (y_plane, u_plane, v_plane) = frame.planes_mut();
        // Luma at full size, chroma at half: the same light measured in each plane's pixels.
        for (planes, pw, ph) in [
            (vec![(y_plane, cy)], w, h),
            (vec![(u_plane, cb), (v_plane, cr)], w / 2, h / 2),
        ] {
            let (cx, sx) = (light.x * pw as f64, light.spread_x * pw as f64);
            let (cyy, sy) = (light.y * ph as f64, light.spread_y * ph as f64);
            let Some((x0, x1)) = gaussian(&mut self.columns, cx, sx, pw, 255.0 * strength) else {
                continue;
            };
            let Some((y0, y1)) = gaussian(&mut self.rows, cyy, sy, ph, 256.0) else {
                continue;
            };
            for (plane, level) in planes {
                for (r, &gy) in (y0..y1).zip(&self.rows) {
                    let row = &mut plane[r * pw + x0..r * pw + x1];
                    for (p, &gx) in row.iter_mut().zip(&self.columns) {
                        let a = (gx as u32 * gy as u32) >> 8;
                        *p = ((*p as u32 * (256 - a) + level as u32 * a + 128) >> 8) as u8;
                    }
                }
            }
        }
    }
}

/// Fills `table` with `peak × exp(−½ ((i + ½ − centre) / spread)²)` over the samples within
/// three spreads of the centre, clipped to `0..len`, and returns that range (`None` when it is
/// empty).
fn gaussian(
    table: &mut Vec<u16>,
    centre: f64,
    spread: f64,
    len: usize,
    peak: f64,
) -> Option<(usize, usize)> {
    let spread = spread.max(0.5);
    let from = (centre - 3.0 * spread).floor().max(0.0) as usize;
    let to = ((centre + 3.0 * spread).ceil().max(0.0) as usize).min(len);
    if from >= to {
        return None;
    }
    table.clear();
    table.extend((from..to).map(|i| {
        let d = (i as f64 + 0.5 - centre) / spread;
        (peak * (-0.5 * d * d).exp()).round() as u16
    }));
    Some((from, to))
}

//! Measuring how smooth camera motion looks: the jitter of a rendered frame sequence, in pixels.
//!
//! For each pair of consecutive frames we estimate how far the content moved, by phase
//! correlation of a few luma patches. Patches sit away from the centre, at the four points halfway
//! to the corners: under a zoom the content there moves by a roughly uniform local translation,
//! while the very centre hardly moves at all. Each patch is Hann-windowed (so its borders do not
//! dominate the spectrum), the normalised cross-power spectrum is transformed back, and the peak
//! is located to a fraction of a pixel from the ratio of the peak to its larger neighbour, which
//! is exact for the sinc-shaped peak of a pure sub-pixel translation (Foroosh, Zerubia and
//! Berthod, 2002).
//!
//! Smooth motion gives displacements that change slowly from frame to frame. So per patch and axis
//! we fit a local quadratic (a Savitzky–Golay smoother over 15 frames) and report how far the
//! measured displacements stray from it: the RMS and the maximum, in pixels. A camera whose crop
//! window snaps to whole pixels (ffmpeg's `zoompan`) moves 0 or 1 pixel per frame where it should
//! move 0.4, and shows up here as a deviation of several tenths of a pixel; a sub-pixel camera
//! gives almost zero. Pairs whose correlation peak is weak (a cut, a flat patch) are left out.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use crate::frame::Yuv420Frame;

/// Jitter of a frame sequence.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JitterReport {
    /// Root mean square distance between measured per-frame displacements and the smooth path.
    pub rms_px: f64,
    /// Largest such distance.
    pub max_px: f64,
    /// Mean measured speed, pixels per frame (to tell a still sequence from a smooth one).
    pub mean_speed_px: f64,
    /// How many (patch, frame pair) displacements were measured reliably.
    pub samples: usize,
}

/// A displacement that explains less of the spectrum than this (of a perfect 1.0) is not trusted.
const MIN_COHERENCE: f64 = 0.5;
/// Frequencies up to this (in cycles per patch) are dominated by the window itself, which does not
/// move with the content, and would bias the fit toward zero.
const LOWEST_FREQUENCY: isize = 2;
/// Half-width, in frames, of the local fit that defines the smooth path.
const SMOOTH_HALF_WIDTH: usize = 7;

pub fn measure_jitter(frames: &[Yuv420Frame]) -> JitterReport {
    let Some(first) = frames.first() else {
        return JitterReport::default();
    };
    let (w, h) = (first.size().width as usize, first.size().height as usize);
    let patch = patch_size(w, h);
    if frames.len() < 3 || patch < 16 || frames.iter().any(|f| f.size() != first.size()) {
        return JitterReport::default();
    }
    let mut correlator = Correlator::new(patch);
    let mut deviations = Vec::new();
    let mut speeds = Vec::new();
    for (cx, cy) in patch_centres(w, h) {
        let (left, top) = (cx - patch / 2, cy - patch / 2);
        let spectra: Vec<Vec<Complex32>> = frames
            .iter()
            .map(|f| correlator.spectrum(f.planes().0, w, left, top))
            .collect();
        let shifts: Vec<Option<(f64, f64)>> = spectra
            .windows(2)
            .map(|pair| correlator.shift(&pair[0], &pair[1]))
            .collect();
        speeds.extend(shifts.iter().flatten().map(|&(x, y)| x.hypot(y)));
        let xs: Vec<Option<f64>> = shifts.iter().map(|s| s.map(|s| s.0)).collect();
        let ys: Vec<Option<f64>> = shifts.iter().map(|s| s.map(|s| s.1)).collect();
        let (fx, fy) = (smooth(&xs), smooth(&ys));
        for k in 0..shifts.len() {
            if let (Some(x), Some(y), Some(sx), Some(sy)) = (xs[k], ys[k], fx[k], fy[k]) {
                deviations.push((x - sx).hypot(y - sy));
            }
        }
    }
    if deviations.is_empty() {
        return JitterReport::default();
    }
    let n = deviations.len() as f64;
    JitterReport {
        rms_px: (deviations.iter().map(|d| d * d).sum::<f64>() / n).sqrt(),
        max_px: deviations.iter().cloned().fold(0.0, f64::max),
        mean_speed_px: speeds.iter().sum::<f64>() / speeds.len().max(1) as f64,
        samples: deviations.len(),
    }
}

/// The largest power of two up to a quarter of the shorter side, at most 128.
fn patch_size(w: usize, h: usize) -> usize {
    let limit = (w.min(h) / 4).min(128);
    if limit < 1 {
        return 0;
    }
    1 << (usize::BITS - 1 - limit.leading_zeros())
}

fn patch_centres(w: usize, h: usize) -> [(usize, usize); 4] {
    let (x0, x1, y0, y1) = (w / 4, w - w / 4, h / 4, h - h / 4);
    [(x0, y0), (x1, y0), (x0, y1), (x1, y1)]
}

struct Correlator {
    size: usize,
    window: Vec<f32>,
    forward: Arc<dyn Fft<f32>>,
    inverse: Arc<dyn Fft<f32>>,
    work: Vec<Complex32>,
    cross: Vec<Complex32>,
    transposed: Vec<Complex32>,
}

impl Correlator {
    fn new(size: usize) -> Correlator {
        let mut planner = FftPlanner::new();
        let hann: Vec<f32> = (0..size)
            .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * (i as f32 + 0.5) / size as f32).cos())
            .collect();
        let window = (0..size * size)
            .map(|i| hann[i / size] * hann[i % size])
            .collect();
        Correlator {
            size,
            window,
            forward: planner.plan_fft_forward(size),
            inverse: planner.plan_fft_inverse(size),
            work: vec![Complex32::default(); size * size],
            cross: vec![Complex32::default(); size * size],
            transposed: vec![Complex32::default(); size * size],
        }
    }

    /// The 2-D spectrum of the windowed, mean-removed patch at (left, top).
    fn spectrum(&mut self, luma: &[u8], stride: usize, left: usize, top: usize) -> Vec<Complex32> {
        let n = self.size;
        let mut mean = 0.0f32;
        for r in 0..n {
            for &v in &luma[(top + r) * stride + left..][..n] {
                mean += v as f32;
            }
        }
        mean /= (n * n) as f32;
        for r in 0..n {
            let row = &luma[(top + r) * stride + left..][..n];
            for (c, &v) in row.iter().enumerate() {
                self.work[r * n + c] =
                    Complex32::new((v as f32 - mean) * self.window[r * n + c], 0.0);
            }
        }
        let forward = Arc::clone(&self.forward);
        self.fft2(&*forward);
        self.work.clone()
    }

    /// Displacement of the content from `before` to `after`, or `None` if the peak is weak.
    fn shift(&mut self, before: &[Complex32], after: &[Complex32]) -> Option<(f64, f64)> {
        let mut strongest = 0.0f32;
        for ((c, a), b) in self.cross.iter_mut().zip(after).zip(before) {
            *c = a * b.conj();
            strongest = strongest.max(c.norm());
        }
        if strongest <= 0.0 {
            return None;
        }
        // Whitening, damped for bins with next to no content, whose phase is only noise.
        let floor = strongest * 1e-3;
        for (w, c) in self.work.iter_mut().zip(&self.cross) {
            *w = c / (c.norm() + floor);
        }
        let inverse = Arc::clone(&self.inverse);
        self.fft2(&*inverse);
        let n = self.size;
        let (mut best, mut best_x, mut best_y) = (f32::MIN, 0, 0);
        for (i, v) in self.work.iter().enumerate() {
            if v.re > best {
                (best, best_x, best_y) = (v.re, i % n, i / n);
            }
        }
        let unwrap = |i: usize| {
            if i >= n / 2 {
                i as f64 - n as f64
            } else {
                i as f64
            }
        };
        let (whole_x, whole_y) = (unwrap(best_x), unwrap(best_y));
        let (fx, fy) = self.phase_plane(whole_x, whole_y)?;
        let (x, y) = (whole_x + fx, whole_y + fy);
        (self.coherence(x, y) >= MIN_COHERENCE).then_some((x, y))
    }

    /// The sub-pixel remainder of the shift, once the whole-pixel part is known: the cross-power
    /// spectrum of a shift `d` is `|X|² e^(-i ω·d)`, so after removing the whole-pixel part its
    /// phase is a plane through the origin whose slope is the remainder. A least-squares fit of
    /// that plane, weighted by the spectrum's magnitude (so frequencies with no content, whose
    /// phase is noise, count for nothing), over the lower half of the frequencies (where the
    /// phase cannot wrap and the window's leakage is small).
    fn phase_plane(&self, whole_x: f64, whole_y: f64) -> Option<(f64, f64)> {
        let n = self.size;
        let band = (n / 4) as isize;
        let signed = |k: usize| {
            if k >= n / 2 {
                k as isize - n as isize
            } else {
                k as isize
            }
        };
        let (mut sxx, mut sxy, mut syy, mut bx, mut by) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
        for (i, c) in self.cross.iter().enumerate() {
            let (kx, ky) = (signed(i % n), signed(i / n));
            if kx.abs() > band || ky.abs() > band || kx.abs().max(ky.abs()) <= LOWEST_FREQUENCY {
                continue;
            }
            let wx = std::f64::consts::TAU * kx as f64 / n as f64;
            let wy = std::f64::consts::TAU * ky as f64 / n as f64;
            // Undo the whole-pixel shift: multiply by e^(+i ω·whole).
            let turn = wx * whole_x + wy * whole_y;
            let (re, im) = (c.re as f64, c.im as f64);
            let (re, im) = (
                re * turn.cos() - im * turn.sin(),
                re * turn.sin() + im * turn.cos(),
            );
            let weight = re.hypot(im);
            let phase = im.atan2(re);
            sxx += weight * wx * wx;
            sxy += weight * wx * wy;
            syy += weight * wy * wy;
            bx -= weight * phase * wx;
            by -= weight * phase * wy;
        }
        let det = sxx * syy - sxy * sxy;
        if det.abs() < 1e-12 {
            return None;
        }
        let fx = (bx * syy - by * sxy) / det;
        let fy = (by * sxx - bx * sxy) / det;
        (fx.abs() <= 1.0 && fy.abs() <= 1.0).then_some((fx, fy))
    }

    /// How well a pure translation by (x, y) explains the cross-power spectrum, from 0 (not at
    /// all: a cut, or no texture) to 1 (perfectly), weighting each frequency by its content.
    fn coherence(&self, x: f64, y: f64) -> f64 {
        let n = self.size;
        let band = (n / 4) as isize;
        let signed = |k: usize| {
            if k >= n / 2 {
                k as isize - n as isize
            } else {
                k as isize
            }
        };
        let (mut re_sum, mut im_sum, mut total) = (0.0f64, 0.0f64, 0.0f64);
        for (i, c) in self.cross.iter().enumerate() {
            let (kx, ky) = (signed(i % n), signed(i / n));
            if kx.abs() > band || ky.abs() > band {
                continue;
            }
            let turn = std::f64::consts::TAU * (kx as f64 * x + ky as f64 * y) / n as f64;
            let (re, im) = (c.re as f64, c.im as f64);
            re_sum += re * turn.cos() - im * turn.sin();
            im_sum += re * turn.sin() + im * turn.cos();
            total += re.hypot(im);
        }
        if total <= 0.0 {
            return 0.0;
        }
        re_sum.hypot(im_sum) / total
    }

    /// In-place 2-D transform of `work`: rows, then columns (through a transpose).
    fn fft2(&mut self, fft: &dyn Fft<f32>) {
        let n = self.size;
        fft.process(&mut self.work);
        for r in 0..n {
            for c in 0..n {
                self.transposed[c * n + r] = self.work[r * n + c];
            }
        }
        fft.process(&mut self.transposed);
        for r in 0..n {
            for c in 0..n {
                self.work[c * n + r] = self.transposed[r * n + c];
            }
        }
    }
}

/// A local quadratic least-squares fit around each point, over the reliable points within
/// [`SMOOTH_HALF_WIDTH`] frames; `None` where too few points support a fit.
fn smooth(series: &[Option<f64>]) -> Vec<Option<f64>> {
    (0..series.len())
        .map(|k| {
            let lo = k.saturating_sub(SMOOTH_HALF_WIDTH);
            let hi = (k + SMOOTH_HALF_WIDTH + 1).min(series.len());
            let points: Vec<(f64, f64)> = (lo..hi)
                .filter_map(|j| series[j].map(|v| (j as f64 - k as f64, v)))
                .collect();
            if points.len() < 5 {
                return None;
            }
            quadratic_at_zero(&points)
        })
        .collect()
}

/// Fits `a + b·t + c·t²` and returns `a`, solving the 3×3 normal equations.
fn quadratic_at_zero(points: &[(f64, f64)]) -> Option<f64> {
    let mut m = [[0.0f64; 4]; 3];
    for &(t, v) in points {
        let basis = [1.0, t, t * t];
        for r in 0..3 {
            for c in 0..3 {
                m[r][c] += basis[r] * basis[c];
            }
            m[r][3] += basis[r] * v;
        }
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..3 {
        let pivot = (col..3).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        m.swap(col, pivot);
        if m[col][col].abs() < 1e-9 {
            return None;
        }
        let pivot_row = m[col];
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (value, p) in row.iter_mut().zip(pivot_row).skip(col) {
                    *value -= f * p;
                }
            }
        }
    }
    Some(m[0][3] / m[0][0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_fit_reproduces_a_quadratic() {
        let series: Vec<Option<f64>> = (0..30)
            .map(|k| Some(0.5 + 0.1 * k as f64 - 0.003 * (k * k) as f64))
            .collect();
        let fit = smooth(&series);
        for (s, f) in series.iter().zip(&fit) {
            assert!((s.unwrap() - f.unwrap()).abs() < 1e-9);
        }
    }

    #[test]
    fn patch_sizes_are_powers_of_two() {
        assert_eq!(patch_size(1280, 720), 128);
        assert_eq!(patch_size(320, 180), 32);
        assert_eq!(patch_size(8, 8), 2);
    }
}

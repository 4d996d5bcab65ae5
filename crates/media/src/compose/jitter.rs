//! Measuring how smooth camera motion looks: the jitter of a rendered frame sequence, in pixels.
//!
//! For each pair of consecutive frames we estimate how far the content moved, by phase
//! correlation of a grid of luma patches covering the picture. Each patch is Hann-windowed (so its
//! borders do not dominate the spectrum). The whole-pixel shift is the peak of the (damped)
//! whitened cross-power spectrum transformed back; the sub-pixel remainder comes from the
//! spectrum's phase, which for a translation is a plane whose slope is the shift, fitted by
//! weighted least squares. That is peak interpolation done in the frequency domain, and it
//! matters: interpolating the peak's samples (parabola, or the sinc-ratio rule) has a bias that
//! depends on the fractional part of the shift, so a perfectly smooth sub-pixel pan would itself
//! measure as jittery (we tried: 0.5 px of false jitter on the synthetic pan in
//! `tests/compose_jitter.rs`; the plane fit reads 0.003 px). A patch's shift is trusted only when
//! one translation explains most of its spectrum's energy (a cut or a flat patch does not).
//! Speeds read a few per cent low, because the window does not move with the content; that bias
//! is smooth and does not show as jitter.
//!
//! A camera moves the whole picture: a pan translates it, a zoom scales it about a point. So from
//! the patches' shifts we fit the picture's motion for each frame pair, a translation plus a
//! uniform scale (`d(p) = t + s·(p − centre)`), by least squares, after which a patch that
//! disagrees grossly (a wrong peak) is dropped and the fit repeated. Fitting three numbers to
//! dozens of patches is what separates the picture's displacement from what is local to one
//! patch: a codec re-rendering fine grain differently in each frame moves single patches by a few
//! hundredths of a pixel in unrelated directions, which is not the camera shaking.
//!
//! Smooth motion gives parameters that change slowly from frame to frame. So per parameter we fit
//! a local quadratic (a Savitzky–Golay smoother over 15 frames) and report how far the picture's
//! displacement strays from the smooth path, evaluated at every patch position: the RMS and the
//! maximum, in pixels. A camera whose crop window snaps to whole pixels (ffmpeg's `zoompan`) moves
//! 0 or 1 pixel per frame where it should move 0.4, and shows up here as a deviation of several
//! tenths of a pixel; a sub-pixel camera gives almost zero. The same figure computed on each
//! patch alone, without the fit (how this meter worked first), is reported beside it as
//! [`JitterReport::patch_rms_px`].

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use crate::frame::Yuv420Frame;

/// Jitter of a frame sequence.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JitterReport {
    /// Root mean square distance between the picture's fitted per-frame displacement (at each
    /// patch position) and its smooth path.
    pub rms_px: f64,
    /// Largest such distance.
    pub max_px: f64,
    /// The same RMS for each patch's own measured shift against that patch's smooth path, with no
    /// picture-motion fit: includes whatever moves single patches alone (codec noise on fine
    /// grain), so it is never below the picture's figure by much.
    pub patch_rms_px: f64,
    /// Mean measured speed, pixels per frame (to tell a still sequence from a smooth one).
    pub mean_speed_px: f64,
    /// How many (patch position, frame pair) deviations went into `rms_px`.
    pub samples: usize,
}

/// A displacement that explains less of the spectrum than this (of a perfect 1.0) is not trusted.
const MIN_COHERENCE: f64 = 0.5;
/// Frequencies up to this (in cycles per patch) are dominated by the window itself, which does not
/// move with the content, and would bias the fit toward zero.
const LOWEST_FREQUENCY: isize = 2;
/// Half-width, in frames, of the local fit that defines the smooth path.
const SMOOTH_HALF_WIDTH: usize = 7;
/// A patch whose shift is this far from the picture's fitted motion is a wrong peak, not jitter.
const OUTLIER_PX: f64 = 1.0;
/// The picture's motion is fitted only from at least this many trusted patches.
const MIN_PATCHES: usize = 4;

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
    let centres = patch_centres(w, h, patch);
    // shifts[patch][pair]
    let mut shifts: Vec<Vec<Option<(f64, f64)>>> = Vec::with_capacity(centres.len());
    for &(cx, cy) in &centres {
        let (left, top) = (cx - patch / 2, cy - patch / 2);
        let mut previous = correlator.spectrum(frames[0].planes().0, w, left, top);
        let mut series = Vec::with_capacity(frames.len() - 1);
        for frame in &frames[1..] {
            let current = correlator.spectrum(frame.planes().0, w, left, top);
            series.push(correlator.shift(&previous, &current));
            previous = current;
        }
        shifts.push(series);
    }
    let speeds: Vec<f64> = shifts
        .iter()
        .flatten()
        .flatten()
        .map(|&(x, y)| x.hypot(y))
        .collect();
    let positions: Vec<(f64, f64)> = centres
        .iter()
        .map(|&(cx, cy)| (cx as f64 - w as f64 / 2.0, cy as f64 - h as f64 / 2.0))
        .collect();

    let pairs = frames.len() - 1;
    let motions: Vec<Option<PictureMotion>> = (0..pairs)
        .map(|k| {
            let observed: Vec<Observation> = positions
                .iter()
                .zip(&shifts)
                .filter_map(|(&p, series)| series[k].map(|d| (p, d)))
                .collect();
            PictureMotion::fit(&observed)
        })
        .collect();
    let smoothed: [Vec<Option<f64>>; 3] = [
        smooth(&motions.iter().map(|m| m.map(|m| m.tx)).collect::<Vec<_>>()),
        smooth(&motions.iter().map(|m| m.map(|m| m.ty)).collect::<Vec<_>>()),
        smooth(
            &motions
                .iter()
                .map(|m| m.map(|m| m.scale))
                .collect::<Vec<_>>(),
        ),
    ];
    let mut deviations = Vec::new();
    for (k, motion) in motions.iter().enumerate() {
        let (Some(m), Some(ftx), Some(fty), Some(fs)) =
            (motion, smoothed[0][k], smoothed[1][k], smoothed[2][k])
        else {
            continue;
        };
        let error = PictureMotion {
            tx: m.tx - ftx,
            ty: m.ty - fty,
            scale: m.scale - fs,
        };
        for (&p, series) in positions.iter().zip(&shifts) {
            if series[k].is_some() {
                let (dx, dy) = error.at(p);
                deviations.push(dx.hypot(dy));
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
        patch_rms_px: patch_rms(&shifts),
        mean_speed_px: speeds.iter().sum::<f64>() / speeds.len().max(1) as f64,
        samples: deviations.len(),
    }
}

/// Each patch's shifts against that patch's own smooth path, pooled: the meter without the
/// picture-motion fit.
fn patch_rms(shifts: &[Vec<Option<(f64, f64)>>]) -> f64 {
    let (mut sum, mut count) = (0.0f64, 0usize);
    for series in shifts {
        let xs: Vec<Option<f64>> = series.iter().map(|s| s.map(|s| s.0)).collect();
        let ys: Vec<Option<f64>> = series.iter().map(|s| s.map(|s| s.1)).collect();
        let (fx, fy) = (smooth(&xs), smooth(&ys));
        for k in 0..series.len() {
            if let (Some(x), Some(y), Some(sx), Some(sy)) = (xs[k], ys[k], fx[k], fy[k]) {
                sum += (x - sx).powi(2) + (y - sy).powi(2);
                count += 1;
            }
        }
    }
    (sum / count.max(1) as f64).sqrt()
}

/// A patch's position (relative to the frame's centre) and the shift measured there, in pixels.
type Observation = ((f64, f64), (f64, f64));

/// How the whole picture moved between two frames: a translation and a uniform scale about the
/// frame's centre, so a point `p` (relative to the centre) moves by `t + scale·p`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PictureMotion {
    tx: f64,
    ty: f64,
    scale: f64,
}

impl PictureMotion {
    fn at(&self, (x, y): (f64, f64)) -> (f64, f64) {
        (self.tx + self.scale * x, self.ty + self.scale * y)
    }

    /// Least-squares fit to (position, shift) observations, refitted once without the patches
    /// that disagree by more than [`OUTLIER_PX`].
    fn fit(observed: &[Observation]) -> Option<PictureMotion> {
        let first = PictureMotion::least_squares(observed)?;
        let kept: Vec<Observation> = observed
            .iter()
            .copied()
            .filter(|&(p, (dx, dy))| {
                let (mx, my) = first.at(p);
                (dx - mx).hypot(dy - my) <= OUTLIER_PX
            })
            .collect();
        if kept.len() == observed.len() {
            return Some(first);
        }
        PictureMotion::least_squares(&kept)
    }

    fn least_squares(observed: &[Observation]) -> Option<PictureMotion> {
        if observed.len() < MIN_PATCHES {
            return None;
        }
        // Unknowns (tx, ty, scale); each observation gives dx = tx + scale·x, dy = ty + scale·y.
        let mut m = [[0.0f64; 4]; 3];
        for &((x, y), (dx, dy)) in observed {
            for (basis, d) in [([1.0, 0.0, x], dx), ([0.0, 1.0, y], dy)] {
                for r in 0..3 {
                    for c in 0..3 {
                        m[r][c] += basis[r] * basis[c];
                    }
                    m[r][3] += basis[r] * d;
                }
            }
        }
        let [tx, ty, scale] = solve3(m)?;
        Some(PictureMotion { tx, ty, scale })
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

/// A grid of non-overlapping patches over the picture, centred, kept an eighth of a patch away
/// from the edges (where content enters and leaves the frame).
fn patch_centres(w: usize, h: usize, patch: usize) -> Vec<(usize, usize)> {
    let margin = patch / 8;
    let columns = (w.saturating_sub(2 * margin) / patch).max(1);
    let rows = (h.saturating_sub(2 * margin) / patch).max(1);
    let (left, top) = ((w - columns * patch) / 2, (h - rows * patch) / 2);
    let mut centres = Vec::with_capacity(columns * rows);
    for r in 0..rows {
        for c in 0..columns {
            centres.push((left + c * patch + patch / 2, top + r * patch + patch / 2));
        }
    }
    centres
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
    solve3(m).map(|[a, _, _]| a)
}

/// Solves three linear equations given as an augmented 3×4 matrix, by Gaussian elimination with
/// partial pivoting; `None` when they are (nearly) singular.
fn solve3(mut m: [[f64; 4]; 3]) -> Option<[f64; 3]> {
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
    Some([m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]])
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
    fn the_picture_motion_fit_recovers_a_zoom_and_pan_and_drops_a_wrong_peak() {
        let truth = PictureMotion {
            tx: 0.7,
            ty: -0.2,
            scale: 0.002,
        };
        let mut observed: Vec<Observation> = patch_centres(1280, 432, 128)
            .into_iter()
            .map(|(x, y)| {
                let p = (x as f64 - 640.0, y as f64 - 216.0);
                (p, truth.at(p))
            })
            .collect();
        observed[3].1 .0 += 7.0;
        let fit = PictureMotion::fit(&observed).unwrap();
        assert!((fit.tx - truth.tx).abs() < 1e-9, "{fit:?}");
        assert!((fit.ty - truth.ty).abs() < 1e-9, "{fit:?}");
        assert!((fit.scale - truth.scale).abs() < 1e-12, "{fit:?}");
        assert!(PictureMotion::fit(&observed[..3]).is_none());
    }

    #[test]
    fn the_patch_grid_covers_the_picture_inside_its_margins() {
        let centres = patch_centres(1280, 432, 128);
        assert_eq!(centres.len(), 9 * 3);
        for &(x, y) in &centres {
            assert!(x >= 64 + 16 && x + 64 + 16 <= 1280, "{x}");
            assert!(y >= 64 + 16 && y + 64 + 16 <= 432, "{y}");
        }
        assert_eq!(patch_centres(320, 180, 32).len(), 9 * 5);
    }

    #[test]
    fn patch_sizes_are_powers_of_two() {
        assert_eq!(patch_size(1280, 720), 128);
        assert_eq!(patch_size(320, 180), 32);
        assert_eq!(patch_size(8, 8), 2);
    }
}

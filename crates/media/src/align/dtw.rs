//! Dynamic time warping with bounded memory.
//!
//! A full DTW of two 10-minute signals at 100 frames per second would need a 60 000 × 60 000
//! cost matrix (14 GB). Instead the sequences are halved repeatedly (averaging neighbouring
//! frames) until a full matrix is small, the path is found there, and each finer level searches
//! only a corridor around the coarser path projected down and widened by a radius (the
//! multi-resolution scheme of FastDTW). Memory and time grow linearly with the signals' length.
//!
//! Steps are the classic (1,0), (0,1), (1,1); the local cost is the Euclidean distance between
//! feature vectors.

use super::mfcc::{Features, DIM};

/// Above this many cells the problem is solved at a coarser resolution first.
const FULL_MATRIX_CELLS: usize = 1_000_000;
/// How many frames the corridor extends beyond the projected coarse path on each side.
const RADIUS: usize = 24;

/// A warping path: pairs (frame of `a`, frame of `b`) from (0, 0) to the last frames, each
/// step advancing one or both indices by one.
pub type Path = Vec<(usize, usize)>;

/// The minimum-cost warping path between `a` and `b`. Both must be non-empty.
pub fn warp(a: &Features, b: &Features) -> Path {
    warp_counting(a, b).0
}

/// [`warp`], also returning the number of cost cells evaluated at the finest level (what the
/// memory bound is about).
pub fn warp_counting(a: &Features, b: &Features) -> (Path, usize) {
    let (n, m) = (a.len(), b.len());
    assert!(n > 0 && m > 0, "warping needs two non-empty sequences");
    let corridor = if n.saturating_mul(m) <= FULL_MATRIX_CELLS || n < 4 || m < 4 {
        Corridor::full(n, m)
    } else {
        let coarse = warp(&halve(a), &halve(b));
        Corridor::around(&coarse, n, m, RADIUS)
    };
    let cells = corridor.cells();
    (corridor.solve(a, b), cells)
}

/// Averages neighbouring frames, halving the length (rounding up).
fn halve(features: &Features) -> Features {
    let n = features.len();
    let mut values = Vec::with_capacity(n.div_ceil(2) * DIM);
    for i in (0..n).step_by(2) {
        let first = features.frame(i);
        let second = features.frame((i + 1).min(n - 1));
        values.extend(first.iter().zip(second).map(|(x, y)| (x + y) / 2.0));
    }
    Features {
        values,
        hop_seconds: features.hop_seconds * 2.0,
    }
}

fn distance(x: &[f32], y: &[f32]) -> f32 {
    x.iter()
        .zip(y)
        .map(|(p, q)| (p - q) * (p - q))
        .sum::<f32>()
        .sqrt()
}

/// For each row `i` of `a`, the inclusive column range of `b` searched, with each row's
/// cumulative costs stored at `offsets[i]..`.
struct Corridor {
    ranges: Vec<(usize, usize)>,
    offsets: Vec<usize>,
}

impl Corridor {
    fn full(n: usize, m: usize) -> Corridor {
        Corridor::from_ranges(vec![(0, m - 1); n])
    }

    /// The cells of the fine grid under `coarse`, widened by `radius` in both directions.
    fn around(coarse: &Path, n: usize, m: usize, radius: usize) -> Corridor {
        let mut ranges = vec![(usize::MAX, 0usize); n];
        for &(ci, cj) in coarse {
            let rows = (2 * ci).min(n)..(2 * ci + 2).min(n);
            for (lo, hi) in &mut ranges[rows] {
                *lo = (*lo).min((2 * cj).min(m - 1));
                *hi = (*hi).max((2 * cj + 1).min(m - 1));
            }
        }
        // Widen along rows: every row gets the union of its neighbours' ranges.
        let mut widened = Vec::with_capacity(n);
        for i in 0..n {
            let near = &ranges[i.saturating_sub(radius)..(i + radius + 1).min(n)];
            let lo = near.iter().map(|r| r.0).min().unwrap_or(0);
            let hi = near.iter().map(|r| r.1).max().unwrap_or(m - 1);
            widened.push((lo.saturating_sub(radius), (hi + radius).min(m - 1)));
        }
        widened[0].0 = 0;
        widened[n - 1].1 = m - 1;
        Corridor::from_ranges(widened)
    }

    fn from_ranges(ranges: Vec<(usize, usize)>) -> Corridor {
        let mut offsets = Vec::with_capacity(ranges.len() + 1);
        let mut total = 0;
        for &(lo, hi) in &ranges {
            offsets.push(total);
            total += hi + 1 - lo;
        }
        offsets.push(total);
        Corridor { ranges, offsets }
    }

    fn cells(&self) -> usize {
        *self.offsets.last().unwrap_or(&0)
    }

    /// The cumulative cost at (i, j), infinite outside the corridor.
    fn cost(&self, costs: &[f32], i: usize, j: usize) -> f32 {
        let (lo, hi) = self.ranges[i];
        if j < lo || j > hi {
            f32::INFINITY
        } else {
            costs[self.offsets[i] + j - lo]
        }
    }

    fn solve(&self, a: &Features, b: &Features) -> Path {
        let mut costs = vec![f32::INFINITY; self.cells()];
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            let row = a.frame(i);
            for j in lo..=hi {
                let best_before = if i == 0 && j == 0 {
                    0.0
                } else {
                    let up = if i > 0 {
                        self.cost(&costs, i - 1, j)
                    } else {
                        f32::INFINITY
                    };
                    let left = if j > lo {
                        costs[self.offsets[i] + j - 1 - lo]
                    } else {
                        f32::INFINITY
                    };
                    let diagonal = if i > 0 && j > 0 {
                        self.cost(&costs, i - 1, j - 1)
                    } else {
                        f32::INFINITY
                    };
                    up.min(left).min(diagonal)
                };
                costs[self.offsets[i] + j - lo] = best_before + distance(row, b.frame(j));
            }
        }
        self.backtrack(&costs)
    }

    fn backtrack(&self, costs: &[f32]) -> Path {
        let mut i = self.ranges.len() - 1;
        let mut j = self.ranges[i].1;
        let mut path = vec![(i, j)];
        while i > 0 || j > 0 {
            let candidates = [
                (i.checked_sub(1), j.checked_sub(1)),
                (i.checked_sub(1), Some(j)),
                (Some(i), j.checked_sub(1)),
            ];
            // Every cell but the origin has a predecessor, so the walk ends only at (0, 0).
            let Some((next_i, next_j)) = candidates
                .iter()
                .filter_map(|&(pi, pj)| Some((pi?, pj?)))
                .min_by(|&(pi, pj), &(qi, qj)| {
                    self.cost(costs, pi, pj)
                        .total_cmp(&self.cost(costs, qi, qj))
                })
            else {
                break;
            };
            i = next_i;
            j = next_j;
            path.push((i, j));
        }
        path.reverse();
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sequence whose frame `i` encodes the position `f(i)` smoothly, so warping one such
    /// sequence onto another recovers the time map between them.
    fn ramp(len: usize, f: impl Fn(usize) -> f32) -> Features {
        let mut values = Vec::with_capacity(len * DIM);
        for i in 0..len {
            let x = f(i);
            values.extend((0..DIM).map(|k| (x * 0.0005 * 1.45f32.powi(k as i32)).sin()));
        }
        Features {
            values,
            hop_seconds: 0.01,
        }
    }

    fn check_path(path: &Path, n: usize, m: usize) {
        assert_eq!(path.first(), Some(&(0, 0)));
        assert_eq!(path.last(), Some(&(n - 1, m - 1)));
        for w in path.windows(2) {
            let (di, dj) = (w[1].0 - w[0].0, w[1].1 - w[0].1);
            assert!(di <= 1 && dj <= 1 && di + dj >= 1, "bad step {w:?}");
        }
    }

    #[test]
    fn a_small_problem_is_solved_exactly() {
        let a = ramp(100, |i| i as f32);
        let b = ramp(150, |j| j as f32 / 1.5);
        let (path, cells) = warp_counting(&a, &b);
        check_path(&path, 100, 150);
        assert_eq!(cells, 100 * 150);
        for &(i, j) in &path {
            assert!((j as f32 / 1.5 - i as f32).abs() <= 2.0, "({i}, {j})");
        }
    }

    #[test]
    fn ten_minute_sequences_stay_within_a_linear_corridor() {
        // 10 minutes at 100 frames/s, the second one spoken 20% slower and unevenly.
        let n = 60_000;
        let m = 72_000;
        let warp_of = |j: usize| {
            let t = j as f32 / m as f32;
            (t + 0.05 * (t * 12.0).sin() * t * (1.0 - t)) * n as f32
        };
        let a = ramp(n, |i| i as f32);
        let b = ramp(m, warp_of);
        let (path, cells) = warp_counting(&a, &b);
        check_path(&path, n, m);
        println!("cells evaluated: {cells} ({} per row)", cells / n);
        assert!(cells < 40 * n * 4, "{cells} cells is not linear");
        let worst = path
            .iter()
            .map(|&(i, j)| (warp_of(j) - i as f32).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 5.0, "path strays {worst} frames from the truth");
    }
}

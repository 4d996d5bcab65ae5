//! Where each scene sits in frame numbers, and how crossfades overlap them.
//!
//! Scene boundaries are rounded once from the cumulative durations (`round(t × fps)`), so the film
//! is exactly `round(Σ durations × fps)` frames long and rounding never accumulates. A crossfade
//! of `h` frames on each side is centred on every boundary: the outgoing scene keeps playing `h`
//! frames past its end and the incoming one starts `h` frames early, so crossfades do not change
//! the length. `h` is capped at half the shortest scene, so at most two scenes ever overlap.

use std::ops::Range;

#[derive(Debug, Clone)]
pub struct Timeline {
    /// Frame at which each scene starts, plus the total frame count at the end.
    boundaries: Vec<u64>,
    /// Frames of overlap on each side of a boundary.
    half_fade: u64,
}

impl Timeline {
    /// `durations` must be positive and finite, and each must round to at least one frame.
    pub fn new(durations: &[f64], fps: u32, crossfade: f64) -> Timeline {
        let mut boundaries = Vec::with_capacity(durations.len() + 1);
        let mut elapsed = 0.0;
        boundaries.push(0);
        for d in durations {
            elapsed += d;
            boundaries.push((elapsed * fps as f64).round() as u64);
        }
        let shortest = boundaries
            .windows(2)
            .map(|w| w[1] - w[0])
            .min()
            .unwrap_or(0);
        let wanted = (crossfade.max(0.0) * fps as f64 / 2.0).round() as u64;
        let half_fade = if durations.len() > 1 {
            wanted.min(shortest / 2)
        } else {
            0
        };
        Timeline {
            boundaries,
            half_fade,
        }
    }

    pub fn frame_count(&self) -> u64 {
        // The list always holds the start (0); an empty one would be no frames at all.
        self.boundaries.last().copied().unwrap_or(0)
    }

    pub fn scene_count(&self) -> usize {
        self.boundaries.len() - 1
    }

    /// Frames scene `i` owns outright (without its crossfade extensions).
    pub fn own_frames(&self, i: usize) -> Range<u64> {
        self.boundaries[i]..self.boundaries[i + 1]
    }

    /// Frames on which scene `i` is visible, crossfades included.
    pub fn span(&self, i: usize) -> Range<u64> {
        let own = self.own_frames(i);
        let start = if i > 0 {
            own.start - self.half_fade
        } else {
            own.start
        };
        let end = if i + 1 < self.scene_count() {
            own.end + self.half_fade
        } else {
            own.end
        };
        start..end
    }

    /// The scene that owns `frame` (the later one from the middle of a crossfade on).
    pub fn scene_at(&self, frame: u64) -> usize {
        let after = self.boundaries.partition_point(|&b| b <= frame);
        after.saturating_sub(1).min(self.scene_count() - 1)
    }

    /// How much of scene `i` (which must be visible at `frame` and not the first scene) shows
    /// through during its incoming crossfade, in 1/256ths; 256 outside the crossfade.
    pub fn fade_in_weight(&self, i: usize, frame: u64) -> u16 {
        let h = self.half_fade;
        let fade_start = self.boundaries[i] - h;
        if h == 0 || frame >= self.boundaries[i] + h {
            return 256;
        }
        let t = ((frame - fade_start) as f64 + 0.5) / (2 * h) as f64;
        (t * 256.0).round().clamp(0.0, 256.0) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_the_rounded_sum_and_fades_are_centred() {
        let t = Timeline::new(&[1.0, 1.5, 0.7], 30, 0.5);
        assert_eq!(t.frame_count(), 96);
        assert_eq!(t.span(0), 0..38);
        assert_eq!(t.span(1), 22..83);
        assert_eq!(t.span(2), 67..96);
        assert_eq!(t.scene_at(29), 0);
        assert_eq!(t.scene_at(30), 1);
        assert_eq!(t.scene_at(95), 2);
        // Symmetric around the boundary: the frames either side weigh 50 % ± half a step.
        let (a, b) = (t.fade_in_weight(1, 29), t.fade_in_weight(1, 30));
        assert_eq!(a + b, 256);
        assert!(t.fade_in_weight(1, 22) < 10 && t.fade_in_weight(1, 37) > 246);
    }

    #[test]
    fn fades_never_overlap_three_scenes() {
        let t = Timeline::new(&[0.2, 0.2, 0.2], 30, 2.0);
        assert!(t.span(0).end <= t.span(2).start);
        let cut = Timeline::new(&[1.0, 1.0], 30, 0.0);
        assert_eq!(cut.span(0), 0..30);
        assert_eq!(cut.span(1), 30..60);
    }
}

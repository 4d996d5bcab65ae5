//! Where each scene sits in frame numbers, and how crossfades overlap them.
//!
//! Scene boundaries are rounded once from the cumulative durations (`round(t × fps)`), so the film
//! is exactly `round(Σ durations × fps)` frames long and rounding never accumulates. A crossfade
//! of `h` frames on each side is centred on every boundary: the outgoing scene keeps playing `h`
//! frames past its end and the incoming one starts `h` frames early, so crossfades do not change
//! the length. `h` is capped at half the shortest scene, so at most two scenes ever overlap.
//! A boundary that is a cut (issue 25: a transition chosen per job or per scene) has no overlap.

use std::ops::Range;

#[derive(Debug, Clone)]
pub struct Timeline {
    /// Frame at which each scene starts, plus the total frame count at the end.
    boundaries: Vec<u64>,
    /// Frames of overlap on each side of each boundary (`half[i]`: the boundary where scene `i`
    /// starts; the first and the end have none).
    half: Vec<u64>,
}

impl Timeline {
    /// `durations` must be positive and finite, and each must round to at least one frame.
    pub fn new(durations: &[f64], fps: u32, crossfade: f64) -> Timeline {
        Timeline::with_cuts(durations, fps, crossfade, &[])
    }

    /// As [`Timeline::new`], with no overlap at the boundary where scene `i` starts when
    /// `cut[i - 1]` is true (missing entries overlap).
    pub fn with_cuts(durations: &[f64], fps: u32, crossfade: f64, cut: &[bool]) -> Timeline {
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
        let half = (0..boundaries.len())
            .map(|i| {
                let inner = i > 0 && i + 1 < boundaries.len();
                let is_cut = i > 0 && cut.get(i - 1).copied().unwrap_or(false);
                if inner && !is_cut {
                    half_fade
                } else {
                    0
                }
            })
            .collect();
        Timeline { boundaries, half }
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
        own.start - self.half[i]..own.end + self.half[i + 1]
    }

    /// The scene that owns `frame` (the later one from the middle of a crossfade on).
    pub fn scene_at(&self, frame: u64) -> usize {
        let after = self.boundaries.partition_point(|&b| b <= frame);
        after.saturating_sub(1).min(self.scene_count() - 1)
    }

    /// How much of scene `i` (which must be visible at `frame` and not the first scene) shows
    /// through during its incoming crossfade, in 1/256ths; 256 outside the crossfade.
    pub fn fade_in_weight(&self, i: usize, frame: u64) -> u16 {
        let t = self.transition_progress(i, frame);
        (t * 256.0).round().clamp(0.0, 256.0) as u16
    }

    /// How far the transition into scene `i` is at `frame`, from 0 to 1, measured at the
    /// frame's centre (so the frames either side of the boundary sit symmetrically around ½);
    /// 1 outside the transition.
    pub fn transition_progress(&self, i: usize, frame: u64) -> f64 {
        let h = self.half[i];
        if h == 0 || frame >= self.boundaries[i] + h || frame + h < self.boundaries[i] {
            return 1.0;
        }
        let fade_start = self.boundaries[i] - h;
        ((frame - fade_start) as f64 + 0.5) / (2 * h) as f64
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

    #[test]
    fn a_cut_boundary_has_no_overlap_and_the_others_keep_theirs() {
        let t = Timeline::with_cuts(&[1.0, 1.0, 1.0], 30, 0.4, &[true, false]);
        assert_eq!(t.span(0), 0..30);
        assert_eq!(t.span(1), 30..66);
        assert_eq!(t.span(2), 54..90);
        assert_eq!(t.transition_progress(1, 30), 1.0);
        assert!((t.transition_progress(2, 54) - 0.5 / 12.0).abs() < 1e-12);
    }
}

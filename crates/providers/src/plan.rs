//! Shot planning from capabilities: every scene gets shots whose lengths the model allows.
//!
//! Generated shots are trimmed to the scene, never stretched or frozen, so a scene is always
//! covered by at least its own length: the planner picks the allowed lengths whose sum is the
//! smallest total not shorter than the scene (fewest shots on a tie). Kling (5 or 10 s) gets a
//! 7 s scene as one 10 s shot, a 12 s scene as 10 + 5; Veo (4, 6, 8 s) gets 9 s as 4 + 6.
//! Pure functions, no I/O.

use crate::registry::{Durations, ModelCaps};

/// The shots for one scene: lengths in whole seconds, and how much the editor trims off the end.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenePlan {
    pub scene: usize,
    pub shots: Vec<u32>,
    pub trim_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShotPlan {
    pub scenes: Vec<ScenePlan>,
    /// The estimated price of every shot, from the registry.
    pub credits: u64,
}

/// The one allowed length closest above `wanted` seconds (the longest allowed when none is long
/// enough). Stills have no length: 0.
pub fn snap_duration(durations: &Durations, wanted: f64) -> u32 {
    let wanted = wanted.max(0.0);
    match durations {
        Durations::Still => 0,
        Durations::Fixed(list) => {
            let need = wanted.ceil() as u32;
            list.iter()
                .copied()
                .find(|&d| d >= need)
                .unwrap_or_else(|| *list.last().unwrap_or(&0))
        }
        Durations::Range { min, max } => (wanted.ceil() as u32).clamp(*min, *max),
    }
}

/// The shot lengths covering one scene of `scene_s` seconds.
pub fn shots_for_scene(durations: &Durations, scene_s: f64) -> Vec<u32> {
    let need = scene_s.max(0.0).ceil() as u32;
    match durations {
        Durations::Still => vec![0],
        &Durations::Range { min, max } => {
            if max == 0 {
                return vec![0];
            }
            // Evenly split into as few shots as the maximum allows; each is at least `min`.
            let n = need.div_ceil(max).max(1);
            let base = need / n;
            let extra = need % n;
            (0..n)
                .map(|i| (base + u32::from(i < extra)).clamp(min, max))
                .collect()
        }
        Durations::Fixed(list) => fixed_cover(list, need.max(1)),
    }
}

/// Smallest total >= need from unlimited copies of `list`, fewest shots on a tie (an unbounded
/// knapsack over whole seconds; scenes are minutes at most, so the table stays small).
fn fixed_cover(list: &[u32], need: u32) -> Vec<u32> {
    let Some(&max) = list.iter().max() else {
        return Vec::new();
    };
    let limit = (need + max) as usize;
    // best[t] = fewest shots summing to exactly t, with the last shot used to get there.
    let mut best: Vec<Option<(u32, u32)>> = vec![None; limit + 1];
    best[0] = Some((0, 0));
    for t in 1..=limit {
        for &d in list {
            let d_us = d as usize;
            if d == 0 || d_us > t {
                continue;
            }
            if let Some((count, _)) = best[t - d_us] {
                if best[t].is_none_or(|(c, _)| count + 1 < c) {
                    best[t] = Some((count + 1, d));
                }
            }
        }
    }
    // Only a list of zero-second lengths reaches nothing: such a model makes stills.
    let Some(total) = (need as usize..=limit).find(|&t| best[t].is_some()) else {
        return vec![0];
    };
    let mut shots = Vec::new();
    let mut t = total;
    while let (true, Some((_, d))) = (t > 0, best[t]) {
        shots.push(d);
        t -= d as usize;
    }
    shots.sort_unstable_by(|a, b| b.cmp(a)); // longest first: fewer cuts early in the scene
    shots
}

/// Plans every scene (lengths in seconds, in order) for one model.
pub fn plan_shots(caps: &ModelCaps, scenes_s: &[f64]) -> ShotPlan {
    let scenes: Vec<ScenePlan> = scenes_s
        .iter()
        .enumerate()
        .map(|(scene, &len)| {
            let shots = shots_for_scene(&caps.durations, len);
            let total: u32 = shots.iter().sum();
            let trim_s = if caps.durations == Durations::Still {
                0.0
            } else {
                (total as f64 - len).max(0.0)
            };
            ScenePlan {
                scene,
                shots,
                trim_s,
            }
        })
        .collect();
    let credits = scenes
        .iter()
        .flat_map(|s| s.shots.iter())
        .map(|&d| caps.credits(d))
        .sum();
    ShotPlan { scenes, credits }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::lookup;
    use std::borrow::Cow;

    const KLING: &Durations = &Durations::Fixed(Cow::Borrowed(&[5, 10]));
    const VEO: &Durations = &Durations::Fixed(Cow::Borrowed(&[4, 6, 8]));

    #[test]
    fn snap_picks_the_shortest_length_that_covers() {
        assert_eq!(snap_duration(KLING, 3.0), 5);
        assert_eq!(snap_duration(KLING, 5.0), 5);
        assert_eq!(snap_duration(KLING, 5.1), 10);
        assert_eq!(snap_duration(KLING, 14.0), 10, "longest when none covers");
        assert_eq!(snap_duration(VEO, 4.5), 6);
        assert_eq!(snap_duration(VEO, 0.0), 4);
        assert_eq!(snap_duration(VEO, -3.0), 4);
        assert_eq!(snap_duration(&Durations::Range { min: 2, max: 10 }, 0.5), 2);
        assert_eq!(snap_duration(&Durations::Range { min: 2, max: 10 }, 7.2), 8);
        assert_eq!(snap_duration(&Durations::Still, 7.2), 0);
    }

    #[test]
    fn a_list_of_zero_second_lengths_makes_a_still_instead_of_panicking() {
        assert_eq!(
            shots_for_scene(&Durations::Fixed(Cow::Borrowed(&[0])), 7.0),
            vec![0]
        );
    }

    #[test]
    fn long_scenes_get_several_shots_with_least_waste() {
        assert_eq!(shots_for_scene(KLING, 7.0), vec![10]);
        assert_eq!(shots_for_scene(KLING, 12.0), vec![10, 5]);
        assert_eq!(shots_for_scene(KLING, 20.0), vec![10, 10]);
        assert_eq!(
            shots_for_scene(VEO, 9.0),
            vec![6, 4],
            "10 s beats 8 + 4 = 12 s"
        );
        assert_eq!(shots_for_scene(VEO, 8.0), vec![8]);
        assert_eq!(shots_for_scene(VEO, 16.5), vec![8, 6, 4]);
        assert_eq!(
            shots_for_scene(VEO, 0.0),
            vec![4],
            "an empty scene still gets one shot"
        );
    }

    #[test]
    fn ranges_split_evenly() {
        let r = Durations::Range { min: 1, max: 10 };
        assert_eq!(shots_for_scene(&r, 7.3), vec![8]);
        assert_eq!(shots_for_scene(&r, 25.0), vec![9, 8, 8]);
    }

    #[test]
    fn every_fixed_plan_covers_and_wastes_less_than_the_shortest_shot() {
        for caps in crate::registry::MODELS {
            let Durations::Fixed(list) = &caps.durations else {
                continue;
            };
            for tenths in 0..400 {
                let len = tenths as f64 / 10.0;
                let shots = shots_for_scene(&caps.durations, len);
                let total: u32 = shots.iter().sum();
                assert!(
                    shots.iter().all(|d| list.contains(d)),
                    "{}: {shots:?}",
                    caps.model
                );
                assert!(
                    total as f64 >= len,
                    "{}: {len} not covered by {shots:?}",
                    caps.model
                );
                assert!(
                    (total as f64) < len.ceil().max(1.0) + list[0] as f64,
                    "{}: {len} -> {shots:?}",
                    caps.model
                );
            }
        }
    }

    #[test]
    fn plan_adds_up_trim_and_credits() {
        let kling = lookup(
            Some("fal"),
            Some("fal-ai/kling-video/v2.1/master/text-to-video"),
        )
        .unwrap();
        let plan = plan_shots(kling, &[3.5, 12.0]);
        assert_eq!(
            plan.scenes[0],
            ScenePlan {
                scene: 0,
                shots: vec![5],
                trim_s: 1.5
            }
        );
        assert_eq!(plan.scenes[1].shots, vec![10, 5]);
        assert_eq!(plan.credits, 5 * (5 + 15));
    }
}

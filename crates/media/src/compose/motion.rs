//! The camera path of a scene (the "Ken Burns" effect), in floating point, per frame.
//!
//! Every scene is first rendered once into a *canvas*: the whole picture at the frame's aspect
//! ratio, at `frame size × max_zoom` pixels (so the most zoomed-in view samples it 1:1 and the
//! widest view minifies by at most `max_zoom`, 1.15, with no shimmer). A [`Camera`] says which part
//! of the canvas the frame shows: its zoom (1 = the whole canvas) and the centre of the view in
//! canvas-normalised coordinates (0..1 on both axes). Nothing here is rounded to whole pixels:
//! the sampler reads the canvas at the exact fractional position, which is what makes the motion
//! smooth where ffmpeg's `zoompan` (whole-pixel crop windows) shakes.
//!
//! Conventions (the tests in `tests/compose_motion.rs` check them on rendered frames):
//! - `ZoomIn`: the centre of the picture grows over the scene (zoom 1 → 1.15);
//! - `ZoomOut`: the reverse (1.15 → 1);
//! - `PanRight`: the *content* moves toward the right edge of the frame (the camera travels
//!   left); `PanLeft`, `PanUp` and `PanDown` likewise name the direction the content moves.
//!   Pans hold the zoom at 1.15 so there is picture beyond the frame's edges to travel over;
//! - `Static`: the whole canvas, unmoving (its canvas is exactly the frame size, so it is a copy).
//!
//! Zoom is interpolated geometrically (equal ratios in equal times, which the eye reads as a
//! steady zoom), and progress is eased with a half-cosine so motion starts and ends gently.

use reelsmith_core::Motion;

/// A camera path the compositor draws: the request's [`Motion`] with `Auto` resolved for the
/// scene by [`resolve_motion`]. The compositor takes only this type, so an unresolved `Auto`
/// cannot reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CameraMotion {
    Static,
    ZoomIn,
    ZoomOut,
    PanLeft,
    PanRight,
    PanUp,
    PanDown,
}

impl CameraMotion {
    /// The concrete motion a request names, or `None` for `Auto`, which depends on the scene.
    pub fn of(requested: Motion) -> Option<CameraMotion> {
        Some(match requested {
            Motion::Auto => return None,
            Motion::Static => CameraMotion::Static,
            Motion::ZoomIn => CameraMotion::ZoomIn,
            Motion::ZoomOut => CameraMotion::ZoomOut,
            Motion::PanLeft => CameraMotion::PanLeft,
            Motion::PanRight => CameraMotion::PanRight,
            Motion::PanUp => CameraMotion::PanUp,
            Motion::PanDown => CameraMotion::PanDown,
        })
    }
}

/// The largest zoom any motion uses.
pub const MAX_ZOOM: f64 = 1.15;

/// Which part of the canvas one frame shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// 1 shows the whole canvas; 2 would show half its width and height.
    pub zoom: f64,
    /// Centre of the view, canvas-normalised (0..1).
    pub centre_x: f64,
    pub centre_y: f64,
}

/// The zoom the canvas must be prepared for.
pub fn max_zoom(motion: CameraMotion) -> f64 {
    match motion {
        CameraMotion::Static => 1.0,
        _ => MAX_ZOOM,
    }
}

/// Ease-in-out along a half cosine: zero speed at both ends, steady in the middle.
pub fn ease(progress: f64) -> f64 {
    let p = progress.clamp(0.0, 1.0);
    0.5 - 0.5 * (std::f64::consts::PI * p).cos()
}

/// The camera at `progress` (0 at the start of the scene's visible span, 1 at its end).
pub fn camera(motion: CameraMotion, progress: f64) -> Camera {
    let e = ease(progress);
    let z = MAX_ZOOM;
    // At zoom z the view is 1/z of the canvas wide, so its centre can travel between these.
    let near = 0.5 / z;
    let far = 1.0 - near;
    let lerp = |a: f64, b: f64| a + (b - a) * e;
    let (zoom, centre_x, centre_y) = match motion {
        CameraMotion::Static => (1.0, 0.5, 0.5),
        CameraMotion::ZoomIn => (z.powf(e), 0.5, 0.5),
        CameraMotion::ZoomOut => (z.powf(1.0 - e), 0.5, 0.5),
        // The content moves right when the view moves left over the canvas.
        CameraMotion::PanRight => (z, lerp(far, near), 0.5),
        CameraMotion::PanLeft => (z, lerp(near, far), 0.5),
        CameraMotion::PanDown => (z, 0.5, lerp(far, near)),
        CameraMotion::PanUp => (z, 0.5, lerp(near, far)),
    };
    Camera {
        zoom,
        centre_x,
        centre_y,
    }
}

const AUTO_CHOICES: [CameraMotion; 6] = [
    CameraMotion::ZoomIn,
    CameraMotion::PanRight,
    CameraMotion::ZoomOut,
    CameraMotion::PanLeft,
    CameraMotion::PanUp,
    CameraMotion::PanDown,
];

/// Resolves `Auto` into a concrete motion: a seeded shuffle of the six moving motions, cycled
/// through scene by scene, so neighbouring scenes always differ and the same seed always gives
/// the same film. Any other request is returned as it is.
pub fn resolve_motion(requested: Motion, scene_index: usize, seed: u64) -> CameraMotion {
    if let Some(motion) = CameraMotion::of(requested) {
        return motion;
    }
    let mut order = AUTO_CHOICES;
    let mut state = seed ^ 0x6d6f_7469_6f6e_u64; // "motion": keeps seed 0 from being degenerate
    for i in (1..order.len()).rev() {
        let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    // Cycling the same permutation would repeat every six scenes; shift by one extra step per
    // lap so long films do not loop visibly, while neighbours still differ.
    let lap = scene_index / order.len();
    order[(scene_index + lap) % order.len()]
}

/// A small, well-mixed deterministic generator (Steele, Lea and Flood's SplitMix64).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_never_gives_static_and_neighbours_differ() {
        for seed in 0..50 {
            let mut previous = None;
            for i in 0..40 {
                let m = resolve_motion(Motion::Auto, i, seed);
                assert_ne!(m, CameraMotion::Static);
                assert_ne!(Some(m), previous, "seed {seed} scene {i}");
                previous = Some(m);
            }
        }
        assert_eq!(resolve_motion(Motion::PanUp, 3, 9), CameraMotion::PanUp);
    }

    #[test]
    fn seeds_vary_the_choice() {
        let firsts: std::collections::BTreeSet<_> = (0..40)
            .map(|s| format!("{:?}", resolve_motion(Motion::Auto, 0, s)))
            .collect();
        assert!(firsts.len() >= 4, "{firsts:?}");
    }

    #[test]
    fn views_stay_inside_the_canvas() {
        for m in AUTO_CHOICES.into_iter().chain([CameraMotion::Static]) {
            for k in 0..=100 {
                let c = camera(m, k as f64 / 100.0);
                let half = 0.5 / c.zoom;
                assert!(c.zoom >= 1.0 && c.zoom <= max_zoom(m) + 1e-12);
                assert!(c.centre_x - half >= -1e-12 && c.centre_x + half <= 1.0 + 1e-12);
                assert!(c.centre_y - half >= -1e-12 && c.centre_y + half <= 1.0 + 1e-12);
            }
        }
    }
}

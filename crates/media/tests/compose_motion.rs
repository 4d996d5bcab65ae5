//! The compositor measured on its own rendered frames: camera motion goes the way it is named,
//! renders are byte-identical for the same inputs, crossfades sit between their scenes and keep
//! the length, styles change colour as named, and mismatched shapes get a blurred fill.

use reelsmith_core::{ErrorCode, FrameSize, Limits, Style};
use reelsmith_media::compose::{
    measure_jitter, resolve_motion, CameraMotion, Compositor, SceneSpec, SceneVisual,
};
use reelsmith_media::frame::Yuv420Frame;
use reelsmith_media::image_input::StillImage;

const SIZE: FrameSize = FrameSize::new(320, 180);
const FPS: u32 = 30;

fn still(width: u32, height: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> StillImage {
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            rgb.extend(f(x, y));
        }
    }
    StillImage { width, height, rgb }
}

/// A dim, textured background (so the picture is not flat) with a bright marker.
fn textured(x: u32, y: u32) -> [u8; 3] {
    let v = 40.0 + 20.0 * ((x as f32 * 0.21).sin() * (y as f32 * 0.17).cos());
    [v as u8, (v * 0.9) as u8, (v * 1.1) as u8]
}

/// A bright filled square in the centre, a sixth of the picture's height across.
fn centred_square(width: u32, height: u32) -> StillImage {
    let half = height / 12;
    still(width, height, |x, y| {
        let inside = x.abs_diff(width / 2) <= half && y.abs_diff(height / 2) <= half;
        if inside {
            [250, 250, 250]
        } else {
            textured(x, y)
        }
    })
}

/// A bright disc centred at (cx, cy), in picture-normalised coordinates.
fn disc(width: u32, height: u32, cx: f32, cy: f32) -> StillImage {
    let r = height as f32 / 10.0;
    still(width, height, |x, y| {
        let (dx, dy) = (x as f32 - cx * width as f32, y as f32 - cy * height as f32);
        if dx * dx + dy * dy <= r * r {
            [250, 250, 250]
        } else {
            textured(x, y)
        }
    })
}

fn render_all(compositor: &mut Compositor) -> Vec<Yuv420Frame> {
    let mut frames = Vec::new();
    for _ in 0..compositor.frame_count() {
        let mut frame = Yuv420Frame::black(SIZE);
        compositor.render_next(&mut frame).unwrap();
        frames.push(frame);
    }
    let mut extra = Yuv420Frame::black(SIZE);
    assert_eq!(
        compositor.render_next(&mut extra).unwrap_err().code(),
        "compose.finished"
    );
    frames
}

fn render_scene(image: StillImage, motion: CameraMotion, seconds: f64) -> Vec<Yuv420Frame> {
    let scenes = vec![SceneSpec {
        visual: SceneVisual::Still(image.into()),
        motion,
        duration: seconds,
        transition: None,
    }];
    let mut c = Compositor::new(SIZE, FPS, Style::None, scenes, 0.0, &Limits::default()).unwrap();
    render_all(&mut c)
}

/// Area (in pixels) and centroid of the bright marker in a frame's luma.
fn marker(frame: &Yuv420Frame) -> (f64, f64, f64) {
    let (y, _, _) = frame.planes();
    let w = SIZE.width as usize;
    let (mut area, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (i, &v) in y.iter().enumerate() {
        if v > 180 {
            // Weight by how bright, so edge pixels count fractionally (sub-pixel accuracy).
            let weight = (v as f64 - 180.0) / (235.0 - 180.0);
            area += weight;
            sx += weight * (i % w) as f64;
            sy += weight * (i / w) as f64;
        }
    }
    (area, sx / area, sy / area)
}

#[test]
fn zoom_in_enlarges_the_centre_and_zoom_out_shrinks_it() {
    let frames = render_scene(centred_square(960, 540), CameraMotion::ZoomIn, 2.0);
    let (first, last) = (marker(&frames[0]).0, marker(frames.last().unwrap()).0);
    let ratio = last / first;
    // Zoom 1 → 1.15 scales areas by 1.15² ≈ 1.32.
    assert!((1.25..1.40).contains(&ratio), "zoom-in area ratio {ratio}");
    let areas: Vec<f64> = frames.iter().map(|f| marker(f).0).collect();
    assert!(
        areas.windows(2).all(|w| w[1] >= w[0] - 2.0),
        "grows steadily: {areas:?}"
    );

    let frames = render_scene(centred_square(960, 540), CameraMotion::ZoomOut, 2.0);
    let ratio = marker(frames.last().unwrap()).0 / marker(&frames[0]).0;
    assert!(
        (1.0 / 1.40..1.0 / 1.25).contains(&ratio),
        "zoom-out area ratio {ratio}"
    );
    // The centre stays put while zooming.
    let (_, cx, cy) = marker(&frames[30]);
    assert!(
        (cx - 159.5).abs() < 1.0 && (cy - 89.5).abs() < 1.0,
        "{cx} {cy}"
    );
}

#[test]
fn each_pan_moves_the_content_its_way() {
    // (motion, expected sign of x movement, of y movement)
    let cases = [
        (CameraMotion::PanRight, 1.0, 0.0),
        (CameraMotion::PanLeft, -1.0, 0.0),
        (CameraMotion::PanDown, 0.0, 1.0),
        (CameraMotion::PanUp, 0.0, -1.0),
    ];
    for (motion, sx, sy) in cases {
        let frames = render_scene(disc(960, 540, 0.5, 0.5), motion, 2.0);
        let (_, x0, y0) = marker(&frames[0]);
        let (_, x1, y1) = marker(frames.last().unwrap());
        let (dx, dy) = (x1 - x0, y1 - y0);
        // The view travels 0.15 of the frame: 48 px across, 27 px down at 320×180.
        let expected = (sx * 0.15 * 320.0, sy * 0.15 * 180.0);
        assert!(
            (dx - expected.0).abs() < 4.0 && (dy - expected.1).abs() < 4.0,
            "{motion:?}: moved ({dx:.2}, {dy:.2}), expected about {expected:?}"
        );
        // Monotonic: the marker never steps back.
        let along: Vec<f64> = frames
            .iter()
            .map(|f| {
                let (_, x, y) = marker(f);
                x * sx + y * sy
            })
            .collect();
        assert!(
            along.windows(2).all(|w| w[1] >= w[0] - 0.05),
            "{motion:?}: {along:?}"
        );
    }
}

#[test]
fn static_scenes_do_not_move_and_rendered_pans_are_smooth() {
    let frames = render_scene(disc(960, 540, 0.5, 0.5), CameraMotion::Static, 1.0);
    assert!(frames.windows(2).all(|w| w[0] == w[1]));

    let frames = render_scene(
        // Broadband texture, like a photo's, from a hash of the position.
        still(960, 540, |x, y| {
            let mut h = (x as u64) << 32 | y as u64;
            h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h = (h ^ (h >> 32)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let v = 60 + (h >> 56) as u8 / 2;
            [v, v, v]
        }),
        CameraMotion::PanRight,
        3.0,
    );
    let report = measure_jitter(&frames);
    assert!(report.samples > 200, "{report:?}");
    // 48 px in 90 frames.
    assert!((0.4..0.65).contains(&report.mean_speed_px), "{report:?}");
    assert!(
        report.rms_px < 0.05,
        "the compositor's pan is smooth: {report:?}"
    );
}

fn film(seed: u64) -> Vec<SceneSpec> {
    let motions: Vec<CameraMotion> = (0..3)
        .map(|i| resolve_motion(reelsmith_core::Motion::Auto, i, seed))
        .collect();
    vec![
        SceneSpec {
            visual: SceneVisual::Card { seed },
            motion: motions[0],
            duration: 0.8,
            transition: None,
        },
        SceneSpec {
            visual: SceneVisual::Still(disc(600, 400, 0.4, 0.6).into()),
            motion: motions[1],
            duration: 1.1,
            transition: None,
        },
        SceneSpec {
            // Portrait: fitted with a blurred fill.
            visual: SceneVisual::Still(centred_square(300, 500).into()),
            motion: motions[2],
            duration: 0.9,
            transition: None,
        },
    ]
}

fn hashes(frames: &[Yuv420Frame]) -> Vec<u64> {
    frames
        .iter()
        .map(|f| {
            // FNV-1a: simple and stable across runs and platforms.
            f.as_bytes().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
            })
        })
        .collect()
}

#[test]
fn the_same_inputs_give_identical_frames() {
    let render = |seed: u64| {
        let mut c = Compositor::new(
            SIZE,
            FPS,
            Style::Cinematic,
            film(seed),
            0.5,
            &Limits::default(),
        )
        .unwrap();
        hashes(&render_all(&mut c))
    };
    let a = render(7);
    assert_eq!(a.len(), 84); // round(2.8 × 30)
    assert_eq!(a, render(7));
    assert_ne!(a, render(8), "another seed gives another film");
}

fn solid(r: u8, g: u8, b: u8) -> StillImage {
    still(64, 36, move |_, _| [r, g, b])
}

#[test]
fn crossfades_sit_between_their_scenes_and_keep_the_length() {
    let scenes = vec![
        SceneSpec {
            visual: SceneVisual::Still(solid(40, 40, 40).into()),
            motion: CameraMotion::Static,
            duration: 1.01,
            transition: None,
        },
        SceneSpec {
            visual: SceneVisual::Still(solid(220, 220, 220).into()),
            motion: CameraMotion::Static,
            duration: 0.77,
            transition: None,
        },
    ];
    let mut c = Compositor::new(SIZE, FPS, Style::None, scenes, 0.5, &Limits::default()).unwrap();
    assert_eq!(c.frame_count(), 53); // round(1.78 × 30) = round(53.4)
    assert_eq!(c.scene_at(29), 0);
    assert_eq!(c.scene_at(30), 1);
    let frames = render_all(&mut c);
    assert_eq!(frames.len(), 53);
    let luma: Vec<u8> = frames.iter().map(|f| f.planes().0[1000]).collect();
    let (dark, light) = (luma[0], luma[52]);
    assert!(dark < 60 && light > 180, "{luma:?}");
    // The fade spans 8 frames on each side of the boundary at frame 30.
    assert!(luma[..22].iter().all(|&v| v == dark), "{luma:?}");
    assert!(luma[38..].iter().all(|&v| v == light), "{luma:?}");
    let fade = &luma[22..38];
    assert!(fade.iter().all(|&v| v > dark && v < light), "{fade:?}");
    assert!(fade.windows(2).all(|w| w[1] > w[0]), "{fade:?}");
    // Centred: the two frames either side of the boundary straddle the midpoint.
    let mid = (dark as f64 + light as f64) / 2.0;
    assert!(luma[29] as f64 <= mid && luma[30] as f64 >= mid, "{luma:?}");

    // Without crossfade: a cut.
    let scenes = vec![
        SceneSpec {
            visual: SceneVisual::Still(solid(40, 40, 40).into()),
            motion: CameraMotion::Static,
            duration: 1.0,
            transition: None,
        },
        SceneSpec {
            visual: SceneVisual::Still(solid(220, 220, 220).into()),
            motion: CameraMotion::Static,
            duration: 1.0,
            transition: None,
        },
    ];
    let mut c = Compositor::new(SIZE, FPS, Style::None, scenes, 0.0, &Limits::default()).unwrap();
    let luma: Vec<u8> = render_all(&mut c).iter().map(|f| f.planes().0[0]).collect();
    assert!(luma[..30].iter().all(|&v| v == dark) && luma[30..].iter().all(|&v| v == light));
}

fn mean_chroma(style: Style) -> (f64, f64, f64) {
    let colourful = still(320, 180, |x, y| {
        [(x * 255 / 320) as u8, (y * 255 / 180) as u8, 128]
    });
    let scenes = vec![SceneSpec {
        visual: SceneVisual::Still(colourful.into()),
        motion: CameraMotion::Static,
        duration: 1.0 / 30.0,
        transition: None,
    }];
    let mut c = Compositor::new(SIZE, FPS, style, scenes, 0.0, &Limits::default()).unwrap();
    let frame = &render_all(&mut c)[0];
    let (_, u, v) = frame.planes();
    let mean = |p: &[u8]| p.iter().map(|&x| x as f64).sum::<f64>() / p.len() as f64;
    let spread = u
        .iter()
        .chain(v)
        .map(|&c| (c as f64 - 128.0).abs())
        .fold(0.0, f64::max);
    (mean(u), mean(v), spread)
}

#[test]
fn styles_change_colour_as_named() {
    let (none_cb, none_cr, none_spread) = mean_chroma(Style::None);
    assert!(none_spread > 40.0, "the test picture is colourful");
    let (_, _, mono_spread) = mean_chroma(Style::Mono);
    assert!(mono_spread <= 1.0, "mono has no colour: {mono_spread}");
    let (warm_cb, warm_cr, _) = mean_chroma(Style::Warm);
    assert!(
        warm_cr > none_cr + 3.0,
        "warm raises Cr: {warm_cr} vs {none_cr}"
    );
    assert!(warm_cb < none_cb, "and lowers Cb: {warm_cb} vs {none_cb}");
    let (cool_cb, cool_cr, _) = mean_chroma(Style::Cool);
    assert!(cool_cb > none_cb + 3.0 && cool_cr < none_cr);
    let (_, _, vintage_spread) = mean_chroma(Style::Vintage);
    assert!(vintage_spread < none_spread, "vintage is faded");
    let (c_cb, c_cr, _) = mean_chroma(Style::Cinematic);
    assert!((c_cb, c_cr) != (none_cb, none_cr));
}

#[test]
fn a_portrait_picture_is_fitted_over_a_blurred_dimmed_copy() {
    let white = still(300, 600, |_, _| [255, 255, 255]);
    let frames = render_scene(white, CameraMotion::Static, 1.0 / 30.0);
    let (y, _, _) = frames[0].planes();
    let w = SIZE.width as usize;
    let centre = y[90 * w + 160];
    let side = y[90 * w + 10];
    assert_eq!(centre, 235, "the picture itself is untouched");
    assert!((100..170).contains(&side), "the fill is dimmed: {side}");
    // A landscape picture close to 16:9 is cropped to fill the frame: no fill at the edges.
    let frames = render_scene(
        still(400, 240, |_, _| [255, 255, 255]),
        CameraMotion::Static,
        1.0 / 30.0,
    );
    assert!(frames[0].planes().0.iter().all(|&v| v == 235));
}

#[test]
fn bad_settings_are_refused_with_codes() {
    let one = || {
        vec![SceneSpec {
            visual: SceneVisual::Card { seed: 1 },
            motion: CameraMotion::ZoomIn,
            duration: 1.0,
            transition: None,
        }]
    };
    let code = |size, fps, scenes: Vec<SceneSpec>, limits: &Limits| {
        Compositor::new(size, fps, Style::None, scenes, 0.5, limits)
            .err()
            .map(|e| e.code().as_str())
    };
    let limits = Limits::default();
    assert_eq!(code(SIZE, FPS, vec![], &limits), Some("compose.no_scenes"));
    assert_eq!(
        code(FrameSize::new(321, 180), FPS, one(), &limits),
        Some("compose.invalid_settings")
    );
    assert_eq!(
        code(SIZE, 0, one(), &limits),
        Some("compose.invalid_settings")
    );
    let mut nan = one();
    nan[0].duration = f64::NAN;
    assert_eq!(
        code(SIZE, FPS, nan, &limits),
        Some("compose.invalid_settings")
    );
    let short = Limits {
        max_output_seconds: 0.5,
        ..Limits::default()
    };
    assert_eq!(code(SIZE, FPS, one(), &short), Some("compose.too_long"));
    assert_eq!(code(SIZE, FPS, one(), &limits), None);
}

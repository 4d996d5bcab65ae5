//! Transitions (issue 25), checked on the pixels of rendered frames: two flat-colour scenes of
//! one second at 30 fps with a 0.4 s transition, so the overlap is frames 24..36 around the
//! boundary at frame 30, and the transition's progress at frame `n` is `(n − 24 + ½) / 12`.

use reelsmith_core::{FrameSize, Limits, Style, Transition};
use reelsmith_media::compose::motion::ease;
use reelsmith_media::compose::{CameraMotion, Compositor, SceneSpec, SceneVisual};
use reelsmith_media::frame::Yuv420Frame;
use reelsmith_media::image_input::StillImage;

const SIZE: FrameSize = FrameSize::new(320, 180);
const W: usize = 320;
const FPS: u32 = 30;
const SECONDS: f64 = 0.4;
const FIRST: u64 = 24;
const BOUNDARY: u64 = 30;
const LAST: u64 = 36;

const BRIGHT: [u8; 3] = [240, 220, 60];
const DARK: [u8; 3] = [20, 30, 120];

fn flat(rgb: [u8; 3]) -> StillImage {
    still(|_, _| rgb)
}

fn still(f: impl Fn(u32, u32) -> [u8; 3]) -> StillImage {
    let (width, height) = (SIZE.width, SIZE.height);
    let mut data = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            data.extend(f(x, y));
        }
    }
    StillImage {
        width,
        height,
        rgb: data,
    }
}

fn scene(image: StillImage, transition: Option<Transition>) -> SceneSpec {
    SceneSpec {
        visual: SceneVisual::Still(image.into()),
        motion: CameraMotion::Static,
        duration: 1.0,
        transition,
    }
}

fn render(scenes: Vec<SceneSpec>, transition: Transition) -> Vec<Yuv420Frame> {
    let mut c = Compositor::with_transition(
        SIZE,
        FPS,
        Style::None,
        scenes,
        transition,
        SECONDS,
        &Limits::default(),
    )
    .unwrap();
    (0..c.frame_count())
        .map(|_| {
            let mut frame = Yuv420Frame::black(SIZE);
            c.render_next(&mut frame).unwrap();
            frame
        })
        .collect()
}

fn two_flat(transition: Transition) -> Vec<Yuv420Frame> {
    render(
        vec![scene(flat(BRIGHT), None), scene(flat(DARK), None)],
        transition,
    )
}

/// The transition's progress at frame `n` (from the timeline's definition).
fn t(n: u64) -> f64 {
    ((n - FIRST) as f64 + 0.5) / (LAST - FIRST) as f64
}

fn luma(frame: &Yuv420Frame, x: usize, y: usize) -> u8 {
    frame.planes().0[y * W + x]
}

fn row(frame: &Yuv420Frame, y: usize) -> &[u8] {
    &frame.planes().0[y * W..(y + 1) * W]
}

#[test]
fn a_cut_has_no_blended_frame() {
    let frames = two_flat(Transition::Cut);
    assert_eq!(frames.len(), 60);
    let (a, b) = (&frames[0], &frames[59]);
    assert_ne!(a, b);
    for (n, f) in frames.iter().enumerate() {
        let expected = if (n as u64) < BOUNDARY { a } else { b };
        assert!(f == expected, "frame {n} is not one of the two scenes");
    }
}

#[test]
fn a_crossfade_still_blends_across_the_boundary() {
    let frames = two_flat(Transition::Crossfade);
    let (ya, yb) = (luma(&frames[0], 5, 5), luma(&frames[59], 5, 5));
    assert!(ya > yb + 100, "{ya} {yb}");
    let mut last = ya;
    for n in FIRST..LAST {
        let y = luma(&frames[n as usize], 160, 90);
        assert!(y < last && y > yb, "frame {n}: {y}");
        let expected = ya as f64 + (yb as f64 - ya as f64) * t(n);
        assert!(
            (y as f64 - expected).abs() <= 1.5,
            "frame {n}: {y} vs {expected}"
        );
        last = y;
    }
    assert_eq!(luma(&frames[FIRST as usize - 1], 160, 90), ya);
    assert_eq!(luma(&frames[LAST as usize], 160, 90), yb);
}

#[test]
fn fade_black_goes_through_black_at_the_middle() {
    let frames = two_flat(Transition::FadeBlack);
    let (a, b) = (frames[0].clone(), frames[59].clone());
    let (ya, yb) = (luma(&a, 9, 9), luma(&b, 9, 9));
    // The two frames either side of the boundary are in the held black.
    for n in [BOUNDARY - 1, BOUNDARY] {
        let (y, u, v) = frames[n as usize].planes();
        assert!(y.iter().all(|&p| p == 16), "frame {n} is not black");
        assert!(u.iter().chain(v).all(|&p| p == 128), "frame {n} has colour");
    }
    // Down from the first scene, then up to the second, never a blend of both: before the
    // middle the chroma is the first scene's scaled towards neutral, after it the second's.
    let chroma = |f: &Yuv420Frame| f.planes().1[0] as i32 - 128;
    let (ca, cb) = (chroma(&a), chroma(&b));
    assert!(
        ca.signum() != cb.signum() && ca != 0 && cb != 0,
        "{ca} {cb}"
    );
    let mut previous = ya;
    for n in FIRST..BOUNDARY - 1 {
        let f = &frames[n as usize];
        let y = luma(f, 9, 9);
        assert!(y < previous && y > 16, "frame {n}: {y}");
        assert!(chroma(f).signum() == ca.signum() || chroma(f) == 0);
        previous = y;
    }
    let mut previous = 16;
    for n in BOUNDARY + 1..LAST {
        let f = &frames[n as usize];
        let y = luma(f, 9, 9);
        assert!(y > previous && y < yb, "frame {n}: {y}");
        assert!(chroma(f).signum() == cb.signum() || chroma(f) == 0);
        previous = y;
    }
    assert!(frames[LAST as usize] == b);
}

#[test]
fn a_wipe_edge_is_at_its_column_with_the_crossed_column_blended() {
    let frames = two_flat(Transition::Wipe);
    let (ya, yb) = (
        luma(&frames[0], 0, 0) as f64,
        luma(&frames[59], 0, 0) as f64,
    );
    for n in FIRST..LAST {
        let f = &frames[n as usize];
        let edge = ease(t(n)) * W as f64;
        for y in [0, 77, 179] {
            let r = row(f, y);
            // Left of the edge the incoming scene, right of it the outgoing one.
            let incoming = r.iter().take_while(|&&p| p as f64 == yb).count();
            assert!(
                (incoming as f64 - edge).abs() <= 1.0,
                "frame {n}, row {y}: edge at {incoming}, expected {edge:.2}"
            );
            let beyond = (edge.ceil() as usize + 1).min(W);
            assert!(
                r[beyond..].iter().all(|&p| p as f64 == ya),
                "frame {n}, row {y}: the outgoing scene is changed right of the edge"
            );
            // The column the edge crosses is covered in proportion.
            let col = edge.floor() as usize;
            if col < W {
                let cover = edge - col as f64;
                let expected = ya + (yb - ya) * cover;
                assert!(
                    (r[col] as f64 - expected).abs() <= 1.5,
                    "frame {n}: column {col} is {}, expected {expected:.1}",
                    r[col]
                );
            }
        }
    }
}

/// Where the outgoing scene ends on a row, to a fraction of a pixel: the sum of each column's
/// share of the outgoing colour (a column the seam crosses counts in proportion).
fn outgoing_width(r: &[u8], ya: f64, yb: f64) -> f64 {
    r.iter().map(|&p| (p as f64 - yb) / (ya - yb)).sum()
}

#[test]
fn a_slide_moves_its_seam_by_fractions_of_a_pixel() {
    let frames = two_flat(Transition::Slide);
    let (ya, yb) = (
        luma(&frames[0], 0, 0) as f64,
        luma(&frames[59], 0, 0) as f64,
    );
    let mut seams = Vec::new();
    for n in FIRST..LAST {
        let expected = W as f64 * (1.0 - ease(t(n)));
        for y in [0, 90, 179] {
            let measured = outgoing_width(row(&frames[n as usize], y), ya, yb);
            assert!(
                (measured - expected).abs() < 0.05,
                "frame {n}, row {y}: seam at {measured:.3}, expected {expected:.3}"
            );
        }
        seams.push(outgoing_width(row(&frames[n as usize], 90), ya, yb));
    }
    // Frame to frame, the seam moves by the eased amount, fractions included: not whole pixels.
    let fractional = seams
        .windows(2)
        .filter(|p| {
            let step = p[0] - p[1];
            (step - step.round()).abs() > 0.1
        })
        .count();
    assert!(fractional >= 6, "{seams:?}");
    for (k, p) in seams.windows(2).enumerate() {
        let n = FIRST + k as u64;
        let expected = W as f64 * (ease(t(n + 1)) - ease(t(n)));
        assert!(((p[0] - p[1]) - expected).abs() < 0.08, "frame {n}");
    }
}

/// A bright square in the middle of a dark picture, and the same dark picture without it: the
/// zoom transition pushes in on the square while it dissolves.
#[test]
fn a_zoom_pushes_in_while_it_dissolves() {
    let half = 30;
    let square = still(|x, y| {
        let inside = x.abs_diff(SIZE.width / 2) < half && y.abs_diff(SIZE.height / 2) < half;
        if inside {
            [250, 250, 250]
        } else {
            [20, 20, 20]
        }
    });
    let frames = render(
        vec![scene(square, None), scene(flat([20, 20, 20]), None)],
        Transition::Zoom,
    );
    let background = luma(&frames[0], 5, 5) as i32;
    let bright = luma(&frames[0], 160, 90) as i32;
    let width = |f: &Yuv420Frame| {
        row(f, 90)
            .iter()
            .filter(|&&p| (p as i32 - background) * 2 > (bright - background) / 4)
            .count() as f64
    };
    let before = width(&frames[FIRST as usize - 1]);
    assert!((before - 2.0 * half as f64).abs() <= 2.0, "{before}");
    let mut last = before;
    for n in FIRST..BOUNDARY + 2 {
        let f = &frames[n as usize];
        let e = ease(t(n));
        let w = width(f);
        let expected = before * (1.0 + 0.3 * e);
        // Growing by about half a pixel a frame at first, measured to a pixel.
        assert!(
            w + 1.0 >= last,
            "frame {n}: the square shrank ({w} < {last})"
        );
        assert!(
            (w - expected).abs() <= 2.5,
            "frame {n}: {w} vs {expected:.1}"
        );
        let centre = luma(f, 160, 90) as f64;
        let faded = background as f64 + (bright - background) as f64 * (1.0 - e);
        assert!(
            (centre - faded).abs() <= 2.0,
            "frame {n}: {centre} vs {faded:.1}"
        );
        last = w;
    }
    assert!(last > before + 8.0, "{before} → {last}");
}

/// The film's transition applies where a scene names none; a scene's own choice wins.
#[test]
fn a_scene_can_choose_its_own_transition() {
    let frames = render(
        vec![
            scene(flat(BRIGHT), Some(Transition::Wipe)),
            scene(flat(DARK), None),
            scene(flat(BRIGHT), None),
        ],
        Transition::Cut,
    );
    assert_eq!(frames.len(), 90);
    let (a, b) = (&frames[0], &frames[45]);
    // Into the second scene: a wipe, so the boundary's frames are part one, part the other.
    let mid = &frames[BOUNDARY as usize];
    let left = luma(mid, 10, 90);
    let right = luma(mid, 310, 90);
    assert_eq!(left, luma(b, 10, 90));
    assert_eq!(right, luma(a, 310, 90));
    // Into the third: the film's cut.
    for (n, frame) in frames.iter().enumerate().take(66).skip(54) {
        let expected = if n < 60 { b } else { a };
        assert!(frame == expected, "frame {n}");
    }
}

/// A storyboard's scenes carry their own transitions into the engine (`render_scenes`): a scene
/// that cuts gives a video with no blended frame even though the film's transition is a
/// crossfade, and the same storyboard with a crossfade has blended frames. Read from the
/// encoded MP4's pixels, so the choice is proven to reach the video, not only the compositor.
#[test]
fn a_storyboard_scenes_transition_is_the_one_rendered() {
    use reelsmith_core::{CaptionMode, Motion, RenderSpec, Resolution};
    use reelsmith_media::plan::GivenScene;
    use reelsmith_media::render::{render_scenes, EngineConfig, RenderJob};

    let dir = tempfile::tempdir().unwrap();
    let picture = |name: &str, rgb: [u8; 3]| {
        let path = dir.path().join(name);
        image::RgbImage::from_pixel(320, 180, image::Rgb(rgb))
            .save(&path)
            .unwrap();
        path
    };
    let media = vec![
        picture("red.png", [230, 20, 20]),
        picture("blue.png", [20, 20, 230]),
    ];
    // Centre pixel of every frame whose red and blue are both well up: a blend of the two.
    let blended_frames = |first: Transition| -> usize {
        let mut spec = RenderSpec::new("Red harbour at dawn. Blue sea at night.");
        spec.resolution = Resolution::P480;
        spec.fps = 24;
        spec.captions = CaptionMode::Off;
        spec.transition = Transition::Crossfade;
        spec.tts.voice = "espeak:en-us".into();
        let valid = spec.validated(&Limits::default()).unwrap();
        let out = dir.path().join(format!("{}.mp4", first.name()));
        let scene = |text: &str, media: usize, transition: Transition| GivenScene {
            text: text.into(),
            media: Some(media),
            motion: Motion::Static,
            transition,
        };
        let scenes = [
            scene("Red harbour at dawn.", 0, first),
            scene("Blue sea at night.", 1, Transition::Crossfade),
        ];
        let job = RenderJob {
            spec: &valid,
            media: media.clone(),
            voice: None,
            heard_words: None,
            music: None,
            out: out.clone(),
            hash_frames: false,
            cancel: None,
        };
        render_scenes(&job, Some(&scenes), &EngineConfig::default(), &mut |_| {}).unwrap();
        let decoded = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&out)
            .args([
                "-vf",
                "crop=4:4:(iw-4)/2:(ih-4)/2,scale=1:1",
                "-f",
                "rawvideo",
            ])
            .args(["-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap();
        assert!(decoded.status.success());
        let pixels: Vec<&[u8]> = decoded.stdout.chunks(3).collect();
        assert!(pixels.len() > 24, "{} frames", pixels.len());
        pixels.iter().filter(|p| p[0] > 70 && p[2] > 70).count()
    };
    use reelsmith_core::Choice;
    assert_eq!(blended_frames(Transition::Cut), 0, "the scene's cut wins");
    assert!(
        blended_frames(Transition::Crossfade) >= 3,
        "a crossfade blends"
    );
}

// ---------------------------------------------------------------------------------------------
// Caption styles: a cue rendered onto a flat grey frame and read back.

mod captions_look {
    use reelsmith_core::{CaptionPosition, CaptionStyle as Look, ErrorCode, FrameSize};
    use reelsmith_media::captions::{build_cues, CaptionLayout, CaptionRenderer, CaptionStyle};
    use reelsmith_media::frame::{rgb_to_yuv, Yuv420Frame};
    use reelsmith_media::text::Font;
    use reelsmith_media::timing::WordTiming;

    // Big enough for strokes a few pixels wide, so whole chroma blocks show the text's colour.
    const SIZE: FrameSize = FrameSize::new(640, 360);

    fn words() -> Vec<WordTiming> {
        ["Hello", "brave", "new", "world"]
            .iter()
            .enumerate()
            .map(|(i, w)| WordTiming::new(*w, 0.5 + i as f64 * 0.4, 0.85 + i as f64 * 0.4))
            .collect()
    }

    fn grey(size: FrameSize) -> Yuv420Frame {
        let mut f = Yuv420Frame::black(size);
        f.planes_mut().0.fill(126);
        f
    }

    /// The frame at `t` with the captions of `look` burned in (karaoke).
    fn burned(size: FrameSize, look: &Look, t: f64) -> Yuv420Frame {
        let font = match &look.font {
            Some(name) => Font::named_for_text(name, "Hello").unwrap(),
            None => Font::caption(),
        };
        let layout = CaptionLayout::for_style(size, font, look);
        let cues = build_cues(&words(), &layout);
        let mut r = CaptionRenderer::new(cues, layout, CaptionStyle::Karaoke).styled(look);
        let mut frame = grey(size);
        frame.blend(r.overlay_at(t).expect("a cue is on screen"));
        frame
    }

    /// Chroma samples near `rgb`'s chroma where the frame's luma is near its luma.
    fn count_colour(frame: &Yuv420Frame, rgb: [u8; 3]) -> usize {
        let (ty, tu, tv) = rgb_to_yuv(rgb[0], rgb[1], rgb[2]);
        let w = frame.size().width as usize;
        let (y, u, v) = frame.planes();
        (0..u.len())
            .filter(|&c| {
                let (cx, cy) = (c % (w / 2), c / (w / 2));
                let luma = y[cy * 2 * w + cx * 2];
                luma.abs_diff(ty) < 24 && u[c].abs_diff(tu) < 16 && v[c].abs_diff(tv) < 16
            })
            .count()
    }

    /// Rows where the frame differs from the grey it started as.
    fn text_rows(frame: &Yuv420Frame) -> (usize, usize) {
        let w = frame.size().width as usize;
        let y = frame.planes().0;
        let rows: Vec<usize> = (0..frame.size().height as usize)
            .filter(|&r| y[r * w..(r + 1) * w].iter().any(|&p| p.abs_diff(126) > 40))
            .collect();
        (*rows.first().unwrap(), *rows.last().unwrap())
    }

    #[test]
    fn the_default_style_is_todays_look() {
        let layout = CaptionLayout::for_frame(SIZE);
        let mut plain =
            CaptionRenderer::new(build_cues(&words(), &layout), layout, CaptionStyle::Karaoke);
        let mut frame = grey(SIZE);
        frame.blend(plain.overlay_at(1.0).unwrap());
        assert!(frame == burned(SIZE, &Look::default(), 1.0));
        assert!(count_colour(&frame, [255, 255, 255]) > 20);
        assert!(
            count_colour(&frame, [255, 214, 0]) > 5,
            "the spoken word is yellow"
        );
    }

    #[test]
    fn text_and_highlight_colours_are_the_styles() {
        let look = Look {
            colour: Some("#ff2020".into()),
            highlight_colour: Some("#2040ff".into()),
            ..Look::default()
        };
        // "brave" is spoken at 1.0 s: the rest of the cue red, it blue, nothing white or yellow.
        let frame = burned(SIZE, &look, 1.0);
        assert!(count_colour(&frame, [255, 32, 32]) > 20);
        assert!(count_colour(&frame, [32, 64, 255]) > 5);
        assert_eq!(count_colour(&frame, [255, 255, 255]), 0);
        assert_eq!(count_colour(&frame, [255, 214, 0]), 0);
    }

    #[test]
    fn the_outline_takes_its_colour_and_width() {
        let green = Look {
            outline_colour: Some("#00c000".into()),
            outline_width: Some(300),
            ..Look::default()
        };
        let frame = burned(SIZE, &green, 1.0);
        assert!(count_colour(&frame, [0, 192, 0]) > 20, "a green outline");
        let none = Look {
            outline_width: Some(0),
            ..Look::default()
        };
        let dark = |f: &Yuv420Frame| f.planes().0.iter().filter(|&&p| p < 60).count();
        let thin = dark(&burned(SIZE, &none, 1.0));
        let normal = dark(&burned(SIZE, &Look::default(), 1.0));
        assert!(
            thin * 2 < normal,
            "no outline: {thin} dark pixels, default {normal}"
        );
    }

    #[test]
    fn the_box_darkens_a_rectangle_behind_the_text() {
        let boxed = Look {
            background: Some(true),
            ..Look::default()
        };
        let darker = |f: &Yuv420Frame| f.planes().0.iter().filter(|&&p| p < 110).count();
        let with_box = darker(&burned(SIZE, &boxed, 1.0));
        let without = darker(&burned(SIZE, &Look::default(), 1.0));
        assert!(with_box > without + 500, "{with_box} vs {without}");
    }

    #[test]
    fn positions_sizes_and_words_per_line_place_the_text() {
        let at = |position, size: FrameSize| {
            let look = Look {
                position: Some(position),
                ..Look::default()
            };
            text_rows(&burned(size, &look, 1.0))
        };
        let h = SIZE.height as usize;
        let (top, _) = at(CaptionPosition::Top, SIZE);
        let (mid_a, mid_b) = at(CaptionPosition::Middle, SIZE);
        let (_, bottom) = at(CaptionPosition::Bottom, SIZE);
        assert!(top >= h / 25 && top < h / 6, "top at row {top}");
        assert!(((mid_a + mid_b) as f64 / 2.0 - h as f64 / 2.0).abs() < h as f64 * 0.06);
        assert!(
            bottom > h * 4 / 5 && bottom < h * 96 / 100,
            "bottom at row {bottom}"
        );
        // On 9:16, the top position clears the apps' top band.
        let tall = FrameSize::new(360, 640);
        let (tall_top, _) = at(CaptionPosition::Top, tall);
        assert!(tall_top >= 640 * 12 / 100, "9:16 top at row {tall_top}");

        let big = Look {
            size: Some(150),
            ..Look::default()
        };
        let height = |(a, b): (usize, usize)| (b - a) as f64;
        let plain = height(text_rows(&burned(SIZE, &Look::default(), 0.6)));
        let larger = height(text_rows(&burned(SIZE, &big, 0.6)));
        assert!(larger > plain * 1.3, "{larger} vs {plain}");

        let two = Look {
            words_per_line: Some(2),
            ..Look::default()
        };
        let layout = CaptionLayout::for_style(SIZE, Font::caption(), &two);
        for cue in build_cues(&words(), &layout) {
            assert!(cue.lines.iter().all(|l| l.len() <= 2), "{cue:?}");
        }
    }

    #[test]
    fn an_installed_font_is_used_and_a_missing_one_is_refused() {
        let serif = Look {
            font: Some("DejaVu Serif Bold".into()),
            ..Look::default()
        };
        let font = Font::named_for_text("DejaVu Serif Bold", "Hello").unwrap();
        assert_eq!(font.name(), "DejaVuSerif-Bold.ttf");
        assert!(burned(SIZE, &serif, 1.0) != burned(SIZE, &Look::default(), 1.0));
        let err = Font::named_for_text("No Such Font Bold", "Hello").unwrap_err();
        assert_eq!(err.code(), "captions.font_missing");
        assert!(err.is_client_error());
    }
}

// ---------------------------------------------------------------------------------------------
// Designed title scenes: a moving background drawn from the seed, and words that arrive with
// the narration.

mod titles_look {
    use reelsmith_core::{FrameSize, Limits, Style, TitleBackground};
    use reelsmith_media::compose::{CameraMotion, Compositor, SceneSpec, SceneVisual};
    use reelsmith_media::frame::Yuv420Frame;
    use reelsmith_media::text::kinetic::REVEAL_SECONDS;
    use reelsmith_media::text::KineticTitle;
    use reelsmith_media::timing::WordTiming;

    const SIZE: FrameSize = FrameSize::new(320, 180);

    fn frames(seed: u64, background: TitleBackground) -> Vec<Yuv420Frame> {
        let scene = SceneSpec {
            visual: SceneVisual::Designed { seed, background },
            // A still camera: any movement is the background's own.
            motion: CameraMotion::Static,
            duration: 1.5,
            transition: None,
        };
        let mut c =
            Compositor::new(SIZE, 30, Style::None, vec![scene], 0.0, &Limits::default()).unwrap();
        (0..c.frame_count())
            .map(|_| {
                let mut f = Yuv420Frame::black(SIZE);
                c.render_next(&mut f).unwrap();
                f
            })
            .collect()
    }

    fn mean_difference(a: &Yuv420Frame, b: &Yuv420Frame) -> f64 {
        let (x, y) = (a.as_bytes(), b.as_bytes());
        x.iter()
            .zip(y)
            .map(|(p, q)| p.abs_diff(*q) as f64)
            .sum::<f64>()
            / x.len() as f64
    }

    #[test]
    fn backgrounds_are_deterministic_by_seed_and_move() {
        for background in [
            TitleBackground::Gradient,
            TitleBackground::Particles,
            TitleBackground::LightLeaks,
        ] {
            let a = frames(7, background);
            assert!(
                a == frames(7, background),
                "{background:?}: same seed, same frames"
            );
            assert!(
                a != frames(8, background),
                "{background:?}: the seed matters"
            );
            // It moves: every half second differs from the last, though the camera is still.
            for k in [15, 30, 44] {
                let d = mean_difference(&a[k - 15], &a[k]);
                assert!(d > 0.05, "{background:?}: frame {k} barely moved ({d:.3})");
            }
            // Slowly: neighbouring frames stay close.
            let step = mean_difference(&a[20], &a[21]);
            assert!(step < 2.0, "{background:?}: jumps {step:.2} between frames");
        }
        // The styles draw differently.
        let g = frames(7, TitleBackground::Gradient);
        let p = frames(7, TitleBackground::Particles);
        let l = frames(7, TitleBackground::LightLeaks);
        assert!(g[10] != p[10] && g[10] != l[10] && p[10] != l[10]);
    }

    fn sentence() -> Vec<WordTiming> {
        ["Mountains", "rise", "above", "the", "quiet", "valley"]
            .iter()
            .enumerate()
            .map(|(i, w)| WordTiming::new(*w, 1.0 + i as f64 * 0.5, 1.4 + i as f64 * 0.5))
            .collect()
    }

    fn drawn(title: &KineticTitle, size: FrameSize, t: f64) -> Yuv420Frame {
        let mut f = Yuv420Frame::black(size);
        f.planes_mut().0.fill(60);
        title.draw(&mut f, t);
        f
    }

    /// The luma pixels where two frames differ, as (x, y).
    fn changed(a: &Yuv420Frame, b: &Yuv420Frame) -> Vec<(i32, i32)> {
        let w = a.size().width as usize;
        let (ya, yb) = (a.planes().0, b.planes().0);
        (0..ya.len())
            .filter(|&i| ya[i] != yb[i])
            .map(|i| ((i % w) as i32, (i / w) as i32))
            .collect()
    }

    #[test]
    fn words_appear_no_earlier_than_their_narration() {
        let words = sentence();
        let title = KineticTitle::new(&words, SIZE, [255, 200, 120]);
        let boxes = title.word_boxes();
        assert_eq!(boxes.len(), words.len());
        let empty = drawn(&title, SIZE, 0.0);
        assert!(changed(&empty, &drawn(&title, SIZE, 0.999)).is_empty());
        for (k, w) in words.iter().enumerate() {
            assert_eq!(boxes[k].0, w.start);
            let before = drawn(&title, SIZE, w.start - 0.001);
            let arrived = drawn(&title, SIZE, w.start + REVEAL_SECONDS + 0.001);
            let diff = changed(&before, &arrived);
            assert!(diff.len() > 30, "word {k} did not appear");
            let (_, l, t, r, b) = boxes[k];
            assert!(
                diff.iter()
                    .all(|&(x, y)| x >= l && x < r && y >= t && y < b),
                "word {k}: pixels outside its own box changed"
            );
            // Arriving: partly there, fading in.
            let half = drawn(&title, SIZE, w.start + REVEAL_SECONDS / 2.0);
            assert!(half != before && half != arrived);
        }
    }

    #[test]
    fn portrait_titles_keep_out_of_the_apps_bands() {
        let size = FrameSize::new(180, 320);
        let long: Vec<WordTiming> = "Every morning the fishermen of the northern coast push \
                                     their boats into the cold grey sea"
            .split(' ')
            .enumerate()
            .map(|(i, w)| WordTiming::new(w, i as f64 * 0.3, i as f64 * 0.3 + 0.25))
            .collect();
        let title = KineticTitle::new(&long, size, [255, 200, 120]);
        let boxes = title.word_boxes();
        assert_eq!(boxes.len(), long.len());
        let all = drawn(&title, size, 60.0);
        let base = drawn(&title, size, -1.0);
        let rows: Vec<i32> = changed(&base, &all).iter().map(|p| p.1).collect();
        let (first, last) = (*rows.iter().min().unwrap(), *rows.iter().max().unwrap());
        assert!(first >= 320 * 12 / 100, "text starts at row {first}");
        assert!(last <= 320 * 80 / 100, "text ends at row {last}");
    }
}

// ---------------------------------------------------------------------------------------------
// The still-frame preview: the render's own drawing, one frame, as an image.

mod preview_look {
    use reelsmith_core::{CaptionStyle, ErrorCode, Limits, RenderSpec, Resolution};
    use reelsmith_media::frame::rgb_to_yuv;
    use reelsmith_media::preview::{preview_frame, preview_image, PreviewFormat};

    fn spec() -> RenderSpec {
        let mut s = RenderSpec::new("Small preview with big red words");
        s.resolution = Resolution::P480;
        s.caption_style = CaptionStyle {
            colour: Some("#ff0000".into()),
            ..CaptionStyle::default()
        };
        s
    }

    #[test]
    fn a_preview_is_the_styled_frame_as_png_or_jpeg() {
        let limits = Limits::default();
        let png = preview_image(&spec(), 1.0, PreviewFormat::Png, &limits).unwrap();
        let image = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (854, 480));
        // The red caption text is in the bottom third of the picture.
        let red = image
            .enumerate_pixels()
            .filter(|(_, _, p)| p[0] > 200 && p[1] < 60 && p[2] < 60)
            .map(|(_, y, _)| y)
            .collect::<Vec<_>>();
        assert!(red.len() > 100, "{} red pixels", red.len());
        assert!(red.iter().all(|&y| y > 480 * 2 / 3));
        let jpeg = preview_image(&spec(), 1.0, PreviewFormat::Jpeg, &limits).unwrap();
        assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF]);
        // The same spec and time, the same frame; the frame is what the image shows.
        let frame = preview_frame(&spec(), 1.0, &limits).unwrap();
        assert!(frame == preview_frame(&spec(), 1.0, &limits).unwrap());
        let (y, _, _) = frame.planes();
        let p = image.get_pixel(10, 10);
        let (yy, _, _) = rgb_to_yuv(p[0], p[1], p[2]);
        assert!(yy.abs_diff(y[10 * 854 + 10]) <= 2);
    }

    #[test]
    fn bad_preview_requests_have_stable_codes() {
        let limits = Limits::default();
        let code = |s: &RenderSpec, t: f64| preview_frame(s, t, &limits).unwrap_err().code();
        assert_eq!(code(&spec(), -1.0), "preview.invalid_time");
        assert_eq!(code(&spec(), 61.0), "preview.invalid_time");
        let mut long = spec();
        long.script = "word ".repeat(200);
        assert_eq!(code(&long, 1.0), "preview.text_too_long");
        let mut font = spec();
        font.caption_style.font = Some("Nonexistent Sans".into());
        assert_eq!(code(&font, 1.0), "captions.font_missing");
        let mut colour = spec();
        colour.caption_style.colour = Some("red".into());
        assert_eq!(code(&colour, 1.0), "spec.invalid_caption_colour");
    }
}

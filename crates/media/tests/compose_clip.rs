//! Video clips in scenes, with real ffmpeg: a clip shorter than, as long as and longer than its
//! scene fills it exactly and keeps moving; files that are not usable clips are refused with codes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reelsmith_core::{ErrorCode, FrameSize, Limits, Style};
use reelsmith_media::compose::{open_clip, CameraMotion, Compositor, SceneSpec, SceneVisual};
use reelsmith_media::frame::Yuv420Frame;
use reelsmith_media::process::{run_capture, FFMPEG};

const SIZE: FrameSize = FrameSize::new(320, 180);
const FPS: u32 = 30;

fn ffmpeg(args: &[&str]) {
    run_capture(FFMPEG, args, Duration::from_secs(120), 1 << 20).unwrap();
}

/// A moving test pattern (`testsrc2` has a running counter and moving parts) at 25 fps.
fn make_clip(dir: &Path, name: &str, seconds: f64, size: &str) -> PathBuf {
    let path = dir.join(name);
    let source = format!("testsrc2=size={size}:rate=25:duration={seconds}");
    ffmpeg(&[
        "-y",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        &source,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        path.to_str().unwrap(),
    ]);
    path
}

fn render_clip_scene(
    clip: &Path,
    motion: CameraMotion,
    style: Style,
    seconds: f64,
) -> Vec<Yuv420Frame> {
    let source = open_clip(clip, &Limits::default()).unwrap();
    let scenes = vec![SceneSpec {
        visual: SceneVisual::Clip(source),
        motion,
        duration: seconds,
        transition: None,
    }];
    let mut c = Compositor::new(SIZE, FPS, style, scenes, 0.0, &Limits::default()).unwrap();
    let mut frames = Vec::new();
    for _ in 0..c.frame_count() {
        let mut frame = Yuv420Frame::black(SIZE);
        c.render_next(&mut frame).unwrap();
        frames.push(frame);
    }
    assert_eq!(
        c.render_next(&mut Yuv420Frame::black(SIZE))
            .unwrap_err()
            .code(),
        "compose.finished"
    );
    frames
}

fn distinct(frames: &[Yuv420Frame]) -> usize {
    frames.windows(2).filter(|w| w[0] != w[1]).count() + 1
}

#[test]
fn clips_shorter_equal_and_longer_fill_their_scene_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // Scene: 2 s at 30 fps = 60 frames. Clip sources run at 25 fps.
    let cases = [
        ("loop.mp4", 0.6, 10),  // under 60 % of the scene: looped
        ("slow.mp4", 1.5, 30),  // 75 %: slowed down
        ("equal.mp4", 2.0, 40), // as long: plays once
        ("trim.mp4", 4.0, 40),  // longer: trimmed
    ];
    for (name, seconds, min_distinct) in cases {
        let clip = make_clip(dir.path(), name, seconds, "320x180");
        let frames = render_clip_scene(&clip, CameraMotion::Static, Style::None, 2.0);
        assert_eq!(frames.len(), 60, "{name}");
        let moving = distinct(&frames);
        assert!(
            moving >= min_distinct,
            "{name}: only {moving} distinct frames"
        );
        // Still moving at the end: the clip was not cut short and padded with a frozen frame.
        assert!(distinct(&frames[50..]) >= 3, "{name} freezes at the end");
        // Picture, not black: testsrc2 is bright and colourful.
        let (y, _, _) = frames[30].planes();
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
        assert!(mean > 50.0, "{name}: mean luma {mean}");
    }
}

#[test]
fn a_looped_clip_repeats_and_a_trimmed_clip_starts_at_its_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let short = make_clip(dir.path(), "short.mp4", 0.4, "320x180");
    let frames = render_clip_scene(&short, CameraMotion::Static, Style::None, 2.0);
    // 0.4 s of source is 12 output frames; the loop shows the first frame again later.
    let again = frames[1..].iter().filter(|f| **f == frames[0]).count();
    assert!(again >= 2, "the loop comes round: {again}");

    let long = make_clip(dir.path(), "long.mp4", 3.0, "320x180");
    let trimmed = render_clip_scene(&long, CameraMotion::Static, Style::None, 1.0);
    let full = render_clip_scene(&long, CameraMotion::Static, Style::None, 2.0);
    assert_eq!(trimmed.len(), 30);
    assert_eq!(trimmed[..], full[..30], "trimming keeps the start");
}

#[test]
fn clips_take_motion_and_style_and_portrait_clips_get_a_fill() {
    let dir = tempfile::tempdir().unwrap();
    let portrait = make_clip(dir.path(), "portrait.mp4", 1.0, "180x320");
    let frames = render_clip_scene(&portrait, CameraMotion::ZoomIn, Style::Mono, 1.0);
    assert_eq!(frames.len(), 30);
    let (_, u, v) = frames[10].planes();
    assert!(
        u.iter().chain(v).all(|&c| c.abs_diff(128) <= 1),
        "mono styles clips too"
    );
    // Fitted in the middle, dimmed fill at the sides: the sides are darker than the centre band.
    let (y, _, _) = frames[0].planes();
    let w = SIZE.width as usize;
    let column_mean = |x: usize| (0..180).map(|r| y[r * w + x] as f64).sum::<f64>() / 180.0;
    assert!(
        column_mean(8) < column_mean(160),
        "{} {}",
        column_mean(8),
        column_mean(160)
    );
}

#[test]
fn unusable_files_are_refused_with_codes() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("voice.m4a");
    ffmpeg(&[
        "-y",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1",
        "-c:a",
        "aac",
        audio.to_str().unwrap(),
    ]);
    let err = open_clip(&audio, &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "clip.no_video_stream");
    assert!(err.is_client_error());

    let text = dir.path().join("clip.mp4");
    std::fs::write(&text, "not a video at all").unwrap();
    assert_eq!(
        open_clip(&text, &Limits::default()).unwrap_err().code(),
        "clip.unreadable"
    );
    assert_eq!(
        open_clip(&dir.path().join("missing.mp4"), &Limits::default())
            .unwrap_err()
            .code(),
        "clip.unreadable"
    );

    let clip = make_clip(dir.path(), "three.mp4", 3.0, "64x36");
    let ok = open_clip(&clip, &Limits::default()).unwrap();
    assert!((ok.duration - 3.0).abs() < 0.1 && ok.frames == 75, "{ok:?}");
    let short_limit = Limits {
        max_media_seconds: 2.0,
        ..Limits::default()
    };
    assert_eq!(
        open_clip(&clip, &short_limit).unwrap_err().code(),
        "clip.too_long"
    );
    let few_frames = Limits {
        max_clip_frames: 50,
        ..Limits::default()
    };
    assert_eq!(
        open_clip(&clip, &few_frames).unwrap_err().code(),
        "clip.too_many_frames"
    );
    let small_files = Limits {
        max_file_bytes: 10,
        ..Limits::default()
    };
    assert_eq!(
        open_clip(&clip, &small_files).unwrap_err().code(),
        "clip.too_large"
    );
}

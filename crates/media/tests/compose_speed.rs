//! Measurements, not tests: ignored by default, they print figures and assert nothing about time.
//! Run with `cargo test --release -p reelsmith-media --test compose_speed -- --ignored --nocapture`.
//!
//! - compositor cost per frame at 1280×720 (stills with motion and crossfades);
//! - wall time of compositor → x264 (veryfast) through a pipe, against x264 encoding the same raw
//!   frames read from a file;
//! - jitter of our zoom against ffmpeg's `zoompan` over the same picture.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reelsmith_core::{FrameSize, Limits, Motion, Style};
use reelsmith_media::compose::{
    measure_jitter, resolve_motion, Compositor, SceneSpec, SceneVisual,
};
use reelsmith_media::frame::Yuv420Frame;
use reelsmith_media::image_input::StillImage;
use reelsmith_media::process::{Output, Process, FFMPEG};

const SIZE: FrameSize = FrameSize::new(1280, 720);
const FPS: u32 = 30;

fn photo(width: u32, height: u32, seed: u64) -> StillImage {
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let mut h = seed ^ (((x as u64 / 3) << 32) | (y as u64 / 3));
            h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h = (h ^ (h >> 32)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let n = (h >> 58) as f32;
            let r = 128.0 + 90.0 * (x as f32 * 0.004).sin() + n;
            let g = 128.0 + 90.0 * (y as f32 * 0.006).cos() + n;
            let b = 128.0 + 60.0 * ((x + y) as f32 * 0.003).sin() + n;
            rgb.extend([r as u8, g as u8, b as u8]);
        }
    }
    StillImage { width, height, rgb }
}

fn film(seconds: f64) -> Compositor {
    let count = (seconds / 6.0).ceil() as usize;
    let scenes = (0..count)
        .map(|i| SceneSpec {
            visual: if i % 5 == 4 {
                SceneVisual::Card { seed: i as u64 }
            } else if i % 3 == 2 {
                SceneVisual::Still(photo(2000, 3000, i as u64)) // portrait: blurred fill
            } else {
                SceneVisual::Still(photo(4000, 2250, i as u64))
            },
            motion: resolve_motion(Motion::Auto, i, 3),
            duration: seconds / count as f64,
        })
        .collect();
    Compositor::new(SIZE, FPS, Style::Cinematic, scenes, 0.5, &Limits::default()).unwrap()
}

fn x264_args(input: &str) -> Vec<String> {
    let size = format!("{}x{}", SIZE.width, SIZE.height);
    [
        "-y",
        "-v",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        &size,
        "-r",
        "30",
        "-i",
        input,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-f",
        "mp4",
        "/dev/null",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
#[ignore = "measurement; run explicitly in release mode"]
fn compositor_and_encoder_timings() {
    let seconds: f64 = std::env::var("SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60.0);
    let mut frame = Yuv420Frame::black(SIZE);

    let mut c = film(seconds);
    let n = c.frame_count();
    let start = Instant::now();
    for _ in 0..n {
        c.render_next(&mut frame).unwrap();
    }
    let alone = start.elapsed();
    println!(
        "compositor alone: {n} frames in {alone:.2?} ({:.2} ms/frame, scene preparation included)",
        alone.as_secs_f64() * 1000.0 / n as f64
    );

    let mut c = film(seconds);
    let start = Instant::now();
    let mut encoder = Process::spawn(
        FFMPEG,
        x264_args("pipe:0"),
        true,
        Output::Null,
        Duration::from_secs(3600),
    )
    .unwrap();
    let mut stdin = encoder.take_stdin().unwrap();
    for _ in 0..n {
        c.render_next(&mut frame).unwrap();
        stdin.write_all(frame.as_bytes()).unwrap();
    }
    drop(stdin);
    encoder.wait().unwrap();
    let piped = start.elapsed();
    println!("compositor → x264 veryfast: {piped:.2?}");

    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("frames.yuv");
    let mut c = film(seconds);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&raw).unwrap());
    for _ in 0..n {
        c.render_next(&mut frame).unwrap();
        file.write_all(frame.as_bytes()).unwrap();
    }
    file.into_inner().unwrap().sync_all().unwrap();
    // Read it once so the encoder's run finds it in the page cache, as it would a pipe.
    let mut sink = Vec::new();
    std::fs::File::open(&raw)
        .unwrap()
        .read_to_end(&mut sink)
        .unwrap();
    drop(sink);
    let start = Instant::now();
    let encoder = Process::spawn(
        FFMPEG,
        x264_args(raw.to_str().unwrap()),
        false,
        Output::Null,
        Duration::from_secs(3600),
    )
    .unwrap();
    encoder.wait().unwrap();
    let raw_only = start.elapsed();
    println!("x264 veryfast on raw frames from a file: {raw_only:.2?}");
    println!(
        "ratio (compositor+encode / encode alone): {:.3}",
        piped.as_secs_f64() / raw_only.as_secs_f64()
    );
}

#[test]
#[ignore = "measurement; run explicitly in release mode"]
fn jitter_against_zoompan() {
    let dir = tempfile::tempdir().unwrap();
    let picture = photo(1920, 1080, 11);
    let png = dir.path().join("p.png");
    image::save_buffer(
        &png,
        &picture.rgb,
        1920,
        1080,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    let frames = 150;

    let scenes = vec![SceneSpec {
        visual: SceneVisual::Still(picture),
        motion: Motion::ZoomIn,
        duration: frames as f64 / FPS as f64,
    }];
    let mut c = Compositor::new(SIZE, FPS, Style::None, scenes, 0.0, &Limits::default()).unwrap();
    let ours: Vec<Yuv420Frame> = (0..frames)
        .map(|_| {
            let mut f = Yuv420Frame::black(SIZE);
            c.render_next(&mut f).unwrap();
            f
        })
        .collect();

    let zoom = format!(
        "zoompan=z='min(zoom+0.001,1.15)':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d={frames}:s=1280x720:fps=30"
    );
    let args = [
        "-v",
        "error",
        "-i",
        png.to_str().unwrap(),
        "-vf",
        &zoom,
        "-frames:v",
        &frames.to_string(),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "pipe:1",
    ];
    let mut p =
        Process::spawn(FFMPEG, args, false, Output::Piped, Duration::from_secs(600)).unwrap();
    let mut out = p.take_stdout().unwrap();
    let mut theirs = Vec::new();
    let mut buf = vec![0u8; SIZE.yuv420p_len()];
    while out.read_exact(&mut buf).is_ok() {
        let mut f = Yuv420Frame::black(SIZE);
        let (y, u, v) = f.planes_mut();
        let (by, rest) = buf.split_at(y.len());
        let (bu, bv) = rest.split_at(u.len());
        y.copy_from_slice(by);
        u.copy_from_slice(bu);
        v.copy_from_slice(bv);
        theirs.push(f);
    }
    p.wait().unwrap();
    println!("ours (zoom-in):     {:?}", measure_jitter(&ours));
    println!("ffmpeg zoompan:     {:?}", measure_jitter(&theirs));
}

#[test]
#[ignore = "measurement; run explicitly in release mode"]
fn per_frame_costs() {
    for (motion, style) in [
        (Motion::ZoomIn, Style::None),
        (Motion::PanLeft, Style::None),
        (Motion::Static, Style::None),
    ] {
        let build = || {
            let scenes = vec![SceneSpec {
                visual: SceneVisual::Still(photo(4000, 2250, 1)),
                motion,
                duration: 10.0,
            }];
            Compositor::new(SIZE, FPS, style, scenes, 0.0, &Limits::default()).unwrap()
        };
        let mut c = build();
        let mut frame = Yuv420Frame::black(SIZE);
        let start = Instant::now();
        c.render_next(&mut frame).unwrap();
        let first = start.elapsed();
        let start = Instant::now();
        for _ in 1..c.frame_count() {
            c.render_next(&mut frame).unwrap();
        }
        let rest = start.elapsed().as_secs_f64() * 1000.0 / (c.frame_count() - 1) as f64;
        println!("{motion:?}: preparing a 4000×2250 still {first:.2?}, then {rest:.3} ms/frame");
    }
    let mut a = Yuv420Frame::black(SIZE);
    let b = Yuv420Frame::black(SIZE);
    let start = Instant::now();
    for i in 0..300u16 {
        reelsmith_media::compose::sample::blend_frames(&mut a, &b, i % 256);
    }
    println!(
        "crossfade blend: {:.3} ms/frame",
        start.elapsed().as_secs_f64() * 1000.0 / 300.0
    );
}

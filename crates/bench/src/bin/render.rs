//! `scripts/bench render`: how fast and how smooth the studio engine is, against the two things it
//! must be compared with, measured side by side in one run:
//!
//! 1. Reelsmith: 60 s of 1280×720 at 30 fps from one photo, one continuous zoom-in, karaoke
//!    captions timed by real narration, streamed into x264.
//! 2. The floor: ffmpeg alone encoding the same number of raw frames (Reelsmith's own output,
//!    decoded to a raw file in memory beforehand) with the same preset and the same audio.
//! 3. The peers' way: ffmpeg's `zoompan` filter making the same zoom from the same photo.
//!
//! Then the jitter of both outputs (frame-to-frame deviation of the picture's displacement from a
//! smooth path, measured on the decoded video by phase correlation), and the peak memory of a
//! 1080p render through the real CLI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reelsmith_core::{FrameSize, Limits, Motion, Style, TtsSettings};
use reelsmith_media::audio::write_wav;
use reelsmith_media::captions::{build_cues, CaptionLayout, CaptionRenderer, CaptionStyle};
use reelsmith_media::compose::jitter::measure_jitter;
use reelsmith_media::compose::{Compositor, SceneSpec, SceneVisual};
use reelsmith_media::encode::{EncodeSettings, Encoder};
use reelsmith_media::frame::Yuv420Frame;
use reelsmith_media::image_input::load_image;
use reelsmith_media::speech::synthesize;
use reelsmith_media::timing::WordTiming;

const SIZE: FrameSize = FrameSize::new(1280, 720);
const FPS: u32 = 30;
const SECONDS: f64 = 60.0;
/// The zoom both engines make over the minute.
const ZOOM_END: f64 = 1.15;

const SCRIPT: &str = "The river begins high in the mountains, where snow melts into thin cold \
streams. They gather in the valleys, join one another, and grow into a current strong enough to \
move stones. Farmers have lived along its banks for thousands of years, planting in the rich soil \
the floods leave behind. Cities grew where the water was calm enough for boats, and bridges \
followed the roads. Today the river carries ships, feeds power stations, and waters fields that \
feed millions of people. Yet it is also fragile. Dams hold back the silt that once renewed the \
land, and warm summers leave the water low and slow. Scientists measure its flow every hour, and \
engineers try to share it fairly between towns, farms and the fish that still swim upstream each \
spring. What happens to the river in the next fifty years will shape the lives of everyone who \
lives beside it, and many who never see it at all.";

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "render".into());
    if which != "render" {
        eprintln!("usage: bench-render [render]");
        std::process::exit(2);
    }
    let dir = scratch_dir();
    let photo = make_photo(dir.path());
    let settings = EncodeSettings::default();
    println!(
        "# Reelsmith render benchmark ({}x{} at {FPS} fps, {SECONDS} s, x264 preset {})",
        SIZE.width, SIZE.height, settings.preset
    );

    let (words, wav) = narration(dir.path());
    let frames = (SECONDS * FPS as f64).round() as u64;

    let ours = dir.path().join("reelsmith.mp4");
    let reelsmith = time(|| render_reelsmith(&photo, &words, &wav, &ours, &settings));
    let raw = dir.path().join("frames.yuv");
    decode_to_raw(&ours, &raw);
    let floor_out = dir.path().join("floor.mp4");
    let floor = time(|| encode_raw(&raw, &wav, &floor_out, &settings));
    std::fs::remove_file(&raw).ok();
    let zoompan_out = dir.path().join("zoompan.mp4");
    let zoompan = time(|| render_zoompan(&photo, &wav, &zoompan_out, frames, &settings));

    println!();
    println!("| run | wall time | frames/s |");
    println!("| --- | --- | --- |");
    for (name, t) in [
        ("Reelsmith (compose + captions + encode)", reelsmith),
        ("floor: ffmpeg encoding the raw frames", floor),
        ("ffmpeg zoompan (the peers' way)", zoompan),
    ] {
        println!(
            "| {name} | {:.2} s | {:.1} |",
            t.as_secs_f64(),
            frames as f64 / t.as_secs_f64()
        );
    }
    println!();
    println!(
        "Reelsmith / floor: {:.2} (target <= 1.3)",
        reelsmith.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "Reelsmith speed against zoompan: {:.2}x",
        zoompan.as_secs_f64() / reelsmith.as_secs_f64()
    );

    // Jitter over ten seconds in the middle, on the upper part of the picture (away from captions).
    let window = (frames as usize * 2 / 5, 300usize);
    let ours_jitter = measure_jitter(&decode_window(&ours, window));
    let zoompan_jitter = measure_jitter(&decode_window(&zoompan_out, window));
    println!();
    println!("| output | jitter RMS (px) | jitter max (px) |");
    println!("| --- | --- | --- |");
    println!(
        "| Reelsmith | {:.4} | {:.4} |",
        ours_jitter.rms_px, ours_jitter.max_px
    );
    println!(
        "| zoompan | {:.4} | {:.4} |",
        zoompan_jitter.rms_px, zoompan_jitter.max_px
    );
    println!(
        "Reelsmith jitter / zoompan jitter: {:.3} (target <= 0.1)",
        ours_jitter.rms_px / zoompan_jitter.rms_px
    );

    match std::env::var_os("REELSMITH_BIN") {
        Some(bin) => peak_memory_1080p(Path::new(&bin), dir.path(), &photo),
        None => {
            println!("\n(set REELSMITH_BIN to the release binary to measure 1080p peak memory)")
        }
    }
}

/// Scratch space in memory when the machine has it, so disk speed does not enter the figures.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new()
            .prefix("reelsmith-bench-")
            .tempdir_in(shm)
        {
            return dir;
        }
    }
    tempfile::tempdir().expect("a temporary folder")
}

fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// A detailed 3000×2000 photo-like test picture: fine texture everywhere, so every displacement
/// shows in phase correlation, and more pixels than the frame so the engine must filter down.
fn make_photo(dir: &Path) -> PathBuf {
    let path = dir.join("photo.jpg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=size=3000x2000:end_pts=1:maxiter=200",
        "-f",
        "lavfi",
        "-i",
        "nullsrc=size=3000x2000,geq=random(1)*255:128:128",
        "-filter_complex",
        "[1]format=yuv420p[n];[0]format=yuv420p[m];[m][n]blend=all_mode=overlay:all_opacity=0.35",
        "-frames:v",
        "1",
        "-q:v",
        "2",
        path.to_str().unwrap(),
    ]);
    path
}

/// Narrates the script once (the narration's timing drives the captions) and pads or cuts the
/// audio to exactly the benchmark's length.
fn narration(dir: &Path) -> (Vec<WordTiming>, PathBuf) {
    let spoken = synthesize(SCRIPT, &TtsSettings::default()).expect("espeak-ng works");
    let mut audio = spoken.audio;
    audio
        .samples
        .resize((SECONDS * audio.sample_rate as f64) as usize, 0.0);
    let words: Vec<WordTiming> = spoken
        .words
        .iter()
        .filter(|w| w.end <= SECONDS)
        .map(|w| WordTiming::new(w.text.clone(), w.start, w.end))
        .collect();
    let wav = dir.join("narration.wav");
    write_wav(&wav, &audio).expect("wav written");
    (words, wav)
}

fn render_reelsmith(
    photo: &Path,
    words: &[WordTiming],
    wav: &Path,
    out: &Path,
    settings: &EncodeSettings,
) {
    let limits = Limits::default();
    let image = load_image(photo, &limits).expect("photo loads");
    let scene = SceneSpec {
        visual: SceneVisual::Still(image.into()),
        motion: Motion::ZoomIn,
        duration: SECONDS,
    };
    let mut compositor =
        Compositor::new(SIZE, FPS, Style::None, vec![scene], 0.0, &limits).expect("compositor");
    let layout = CaptionLayout::for_frame(SIZE);
    let mut captions =
        CaptionRenderer::new(build_cues(words, &layout), layout, CaptionStyle::Karaoke);
    let mut encoder = Encoder::start(
        out,
        SIZE,
        FPS,
        Some(wav),
        settings,
        Duration::from_secs(3600),
    )
    .expect("encoder");
    let mut frame = Yuv420Frame::black(SIZE);
    for i in 0..compositor.frame_count() {
        compositor.render_next(&mut frame).expect("frame");
        if let Some(overlay) = captions.overlay_at(i as f64 / FPS as f64) {
            frame.blend(overlay);
        }
        encoder.write_frame(&frame).expect("frame written");
    }
    encoder.finish().expect("encode finished");
}

fn decode_to_raw(video: &Path, raw: &Path) {
    ffmpeg(&[
        "-i",
        video.to_str().unwrap(),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        raw.to_str().unwrap(),
    ]);
}

fn encode_raw(raw: &Path, wav: &Path, out: &Path, settings: &EncodeSettings) {
    let size = format!("{}x{}", SIZE.width, SIZE.height);
    ffmpeg(&[
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        &size,
        "-r",
        &FPS.to_string(),
        "-i",
        raw.to_str().unwrap(),
        "-i",
        wav.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-preset",
        &settings.preset,
        "-crf",
        &settings.crf.to_string(),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "160k",
        "-ar",
        "48000",
        "-movflags",
        "+faststart",
        out.to_str().unwrap(),
    ]);
}

/// The zoom as the peers write it: zoompan on the looped photo, zooming linearly to the same end.
fn render_zoompan(photo: &Path, wav: &Path, out: &Path, frames: u64, settings: &EncodeSettings) {
    let filter = format!(
        "zoompan=z='1+{:.4}*on/{frames}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d={frames}:s={}x{}:fps={FPS},format=yuv420p",
        ZOOM_END - 1.0, SIZE.width, SIZE.height
    );
    ffmpeg(&[
        "-i",
        photo.to_str().unwrap(),
        "-i",
        wav.to_str().unwrap(),
        "-vf",
        &filter,
        "-frames:v",
        &frames.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        &settings.preset,
        "-crf",
        &settings.crf.to_string(),
        "-c:a",
        "aac",
        "-b:a",
        "160k",
        "-ar",
        "48000",
        "-shortest",
        "-movflags",
        "+faststart",
        out.to_str().unwrap(),
    ]);
}

/// Decodes `count` frames from `start`, keeping the top 60 % of each (captions live lower down).
fn decode_window(video: &Path, (start, count): (usize, usize)) -> Vec<Yuv420Frame> {
    let crop_h = (SIZE.height * 3 / 5) & !1;
    let filter = format!(
        "select='between(n\\,{start}\\,{})',crop={}:{crop_h}:0:0",
        start + count - 1,
        SIZE.width
    );
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(video)
        .args([
            "-vf", &filter, "-vsync", "0", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-",
        ])
        .output()
        .expect("ffmpeg decodes");
    assert!(out.status.success());
    let size = FrameSize::new(SIZE.width, crop_h);
    out.stdout
        .chunks_exact(size.yuv420p_len())
        .map(|bytes| Yuv420Frame::from_bytes(size, bytes.to_vec()))
        .collect()
}

/// Runs the real CLI at 1080p and samples the peak resident memory of it and of its encoder.
fn peak_memory_1080p(bin: &Path, dir: &Path, photo: &Path) {
    let script = dir.join("script.txt");
    std::fs::write(&script, &SCRIPT[..SCRIPT.len() / 3]).unwrap();
    let out = dir.join("memory-1080p.mp4");
    let mut child = Command::new(bin)
        .args(["render", "--quiet", "--resolution", "1080p", "--script"])
        .arg(&script)
        .arg("--image")
        .arg(photo)
        .arg("--out")
        .arg(&out)
        .spawn()
        .expect("the reelsmith binary runs");
    let (mut ours, mut encoder) = (0u64, 0u64);
    while child.try_wait().expect("wait").is_none() {
        ours = ours.max(peak_rss_kib(child.id()));
        for grandchild in children(child.id()) {
            encoder = encoder.max(peak_rss_kib(grandchild));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!();
    println!("1080p render peak RSS: reelsmith {:.0} MB, its ffmpeg encoder {:.0} MB, together {:.0} MB (target <= 400 MB)",
        ours as f64 / 1024.0, encoder as f64 / 1024.0, (ours + encoder) as f64 / 1024.0);
}

/// VmHWM: the process's peak resident set so far, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
                out.extend(
                    list.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
    }
    out
}

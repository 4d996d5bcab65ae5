//! `bench-render render`: Reelsmith's speed against the encoder it feeds, side by side in one run,
//! on two pictures and two frame sizes.
//!
//! For each picture (the grainy photo, on which x264 itself is slow, and a smooth fractal, on
//! which x264 is fast and the compositor's cost shows) and each size (720p, 1080p):
//! 1. Reelsmith: the engine's render loop (compose, karaoke captions, pipelined hand-off to x264);
//! 2. the floor: ffmpeg encoding Reelsmith's own frames (decoded beforehand to a raw file in
//!    memory) with exactly the same x264 options and audio;
//! 3. the peers' way: ffmpeg `zoompan` making the same moves, with the same captions burned in by
//!    its `subtitles` filter (libass), same x264 options;
//! 4. the compositor alone, captions included, without encoding, on one thread: frames per second
//!    per core of CPU time;
//! 5. the cost per frame of each part of the compositor, each timed on its own.
//!
//! The CPU time of each side (this process, and the ffmpeg children) is printed beside the wall
//! time, so it is visible whether a run was CPU-bound on the shared machine.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reelsmith_core::{FrameSize, Limits, Style};
use reelsmith_media::captions::{
    build_cues, write_srt, CaptionLayout, CaptionRenderer, CaptionStyle,
};
use reelsmith_media::compose::motion::{camera, MAX_ZOOM};
use reelsmith_media::compose::sample::{blend_frames, Sampler};
use reelsmith_media::compose::style::StyleLut;
use reelsmith_media::compose::{designed, fill, transition, Compositor, SceneSpec, SceneVisual};
use reelsmith_media::encode::EncodeSettings;
use reelsmith_media::frame::Yuv420Frame;
use reelsmith_media::image_input::load_image;
use reelsmith_media::render::EngineConfig;
use reelsmith_media::timing::WordTiming;

use super::{
    children, decode_to_raw, encode_raw, ffmpeg, make_photo, narration, peak_rss_kib,
    render_reelsmith, render_zoompan, scene_plan, Setup, FPS, SCRIPT,
};

/// Length of each scene: two or three narrated sentences.
const SCENE_SECONDS: f64 = 4.0;

pub struct Options {
    seconds: f64,
    rounds: usize,
    pictures: Vec<Picture>,
    heights: Vec<u32>,
    memory: bool,
}

impl Options {
    pub fn parse(mut args: impl Iterator<Item = String>) -> Options {
        let mut o = Options {
            seconds: 12.0,
            rounds: 1,
            pictures: vec![Picture::Grainy, Picture::Smooth],
            heights: vec![720, 1080],
            memory: true,
        };
        while let Some(arg) = args.next() {
            let mut value = || args.next().unwrap_or_else(|| usage(&arg));
            match arg.as_str() {
                "--seconds" => o.seconds = value().parse().unwrap_or_else(|_| usage("--seconds")),
                "--rounds" => o.rounds = value().parse().unwrap_or_else(|_| usage("--rounds")),
                "--pictures" => {
                    o.pictures = value()
                        .split(',')
                        .map(|p| match p {
                            "grainy" => Picture::Grainy,
                            "smooth" => Picture::Smooth,
                            _ => usage("--pictures"),
                        })
                        .collect()
                }
                "--sizes" => {
                    o.heights = value()
                        .split(',')
                        .map(|h| match h {
                            "720" => 720,
                            "1080" => 1080,
                            _ => usage("--sizes"),
                        })
                        .collect()
                }
                "--no-memory" => o.memory = false,
                other => usage(other),
            }
        }
        o.rounds = o.rounds.max(1);
        o
    }
}

fn usage(what: &str) -> ! {
    eprintln!("bench-render render: bad or missing value for {what}");
    std::process::exit(2)
}

#[derive(Clone, Copy, PartialEq)]
enum Picture {
    /// The 3200×1800 fractal with per-pixel grain: slow for x264, as a noisy photo is.
    Grainy,
    /// The same fractal without grain: smooth areas and sharp edges, as a graphic, a screenshot
    /// or a clean photo; fast for x264, so the compositor's own cost shows.
    Smooth,
}

impl Picture {
    fn name(self) -> &'static str {
        match self {
            Picture::Grainy => "grainy photo",
            Picture::Smooth => "smooth fractal",
        }
    }

    fn make(self, dir: &Path) -> PathBuf {
        match self {
            Picture::Grainy => make_photo(dir),
            Picture::Smooth => {
                let path = dir.join("smooth.png");
                ffmpeg(&[
                    "-f",
                    "lavfi",
                    "-i",
                    "mandelbrot=size=3200x1800:end_pts=1:maxiter=200",
                    "-frames:v",
                    "1",
                    path.to_str().unwrap(),
                ]);
                path
            }
        }
    }
}

/// Wall time and CPU time of one run: this process's (all its threads) and its reaped
/// children's (the ffmpeg processes).
#[derive(Clone, Copy)]
struct Usage {
    wall: Duration,
    own_cpu: Duration,
    child_cpu: Duration,
}

impl Usage {
    fn cpu_percent(&self, cpu: Duration) -> f64 {
        100.0 * cpu.as_secs_f64() / self.wall.as_secs_f64()
    }

    fn min(self, other: Usage) -> Usage {
        if other.wall < self.wall {
            other
        } else {
            self
        }
    }
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut r) };
    let t = |v: libc::timeval| Duration::new(v.tv_sec as u64, v.tv_usec as u32 * 1000);
    t(r.ru_utime) + t(r.ru_stime)
}

/// CPU time of the calling thread: the parts are timed by it, so that other programs on a
/// shared machine, which take the processor away, do not count as the part's cost.
fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime only writes the struct it is given.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

struct CpuClock(Duration);

impl CpuClock {
    fn start() -> CpuClock {
        CpuClock(thread_cpu())
    }

    fn elapsed(&self) -> Duration {
        thread_cpu() - self.0
    }
}

fn measure(f: impl FnOnce()) -> Usage {
    let (own, kids) = (rusage(libc::RUSAGE_SELF), rusage(libc::RUSAGE_CHILDREN));
    let started = Instant::now();
    f();
    Usage {
        wall: started.elapsed(),
        own_cpu: rusage(libc::RUSAGE_SELF) - own,
        child_cpu: rusage(libc::RUSAGE_CHILDREN) - kids,
    }
}

struct CaseResult {
    picture: Picture,
    size: FrameSize,
    frames: u64,
    reelsmith: Usage,
    floor: Usage,
    zoompan: Usage,
    compositor_fps_per_core: f64,
}

pub fn run(dir: &Path, options: Options) {
    let settings = EncodeSettings::default();
    let scenes = ((options.seconds / SCENE_SECONDS).round() as usize).max(1);
    println!(
        "# Reelsmith render speed: {} s at {FPS} fps, {scenes} scenes of {:.1} s, karaoke captions",
        options.seconds,
        options.seconds / scenes as f64
    );
    println!(
        "commit: {}",
        std::env::var("REELSMITH_COMMIT").unwrap_or("(unknown)".into())
    );
    println!("load average at the start: {}", load_average());
    println!("encoder for all runs: {}", settings.x264_args().join(" "));
    println!(
        "Reelsmith warp threads: {}; rounds of Reelsmith and the floor (fastest counts): {}",
        EngineConfig::default().effective_warp_threads(),
        options.rounds
    );
    let motions = scene_plan(scenes);
    println!(
        "camera moves: {}",
        motions
            .iter()
            .map(|m| format!("{m:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (words, wav) = narration(dir, options.seconds);
    let mut results = Vec::new();
    for &picture in &options.pictures {
        let photo = picture.make(dir);
        for &height in &options.heights {
            let size = FrameSize::new(height * 16 / 9, height);
            let setup = Setup {
                size,
                seconds: options.seconds,
                motions: motions.clone(),
            };
            results.push(case(
                dir, picture, &photo, &setup, &words, &wav, &settings, &options,
            ));
        }
    }
    println!();
    println!("## Summary (load average now: {})", load_average());
    println!();
    println!("| picture | size | floor frames/s | Reelsmith ÷ floor | zoompan + subtitles ÷ floor | Reelsmith against zoompan | compositor alone, frames/s per core |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for r in &results {
        let floor = r.floor.wall.as_secs_f64();
        println!(
            "| {} | {}p | {:.0} | **{:.2}** | {:.2} | {:.2}× faster | **{:.0}** |",
            r.picture.name(),
            r.size.height,
            r.frames as f64 / floor,
            r.reelsmith.wall.as_secs_f64() / floor,
            r.zoompan.wall.as_secs_f64() / floor,
            r.zoompan.wall.as_secs_f64() / r.reelsmith.wall.as_secs_f64(),
            r.compositor_fps_per_core
        );
    }
    println!("Targets: Reelsmith ÷ floor <= 1.3 everywhere; compositor alone >= 400 frames/s per core at 720p on the smooth picture.");
    if options.memory {
        let photo = Picture::Grainy.make(dir);
        peak_memory_1080p(dir, &photo);
    }
}

#[allow(clippy::too_many_arguments)]
fn case(
    dir: &Path,
    picture: Picture,
    photo: &Path,
    setup: &Setup,
    words: &[WordTiming],
    wav: &Path,
    settings: &EncodeSettings,
    options: &Options,
) -> CaseResult {
    let size = setup.size;
    let frames = setup.frames();
    println!();
    println!(
        "## {} at {}x{} ({frames} frames)",
        picture.name(),
        size.width,
        size.height
    );
    let ours = dir.join("reelsmith.mp4");
    let raw = dir.join("frames.yuv");
    let floor_out = dir.join("floor.mp4");
    let (mut reelsmith, mut floor) = (None::<Usage>, None::<Usage>);
    for round in 0..options.rounds {
        let r = measure(|| render_reelsmith(photo, setup, words, wav, &ours, settings, |_| {}));
        if round == 0 {
            decode_to_raw(&ours, &raw);
        }
        let f = measure(|| encode_raw(&raw, wav, &floor_out, settings, size));
        println!(
            "round {}: Reelsmith {:.2} s, floor {:.2} s",
            round + 1,
            r.wall.as_secs_f64(),
            f.wall.as_secs_f64()
        );
        reelsmith = Some(reelsmith.map_or(r, |b| b.min(r)));
        floor = Some(floor.map_or(f, |b| b.min(f)));
    }
    std::fs::remove_file(&raw).ok();
    let (reelsmith, floor) = (reelsmith.unwrap(), floor.unwrap());
    let layout = CaptionLayout::for_frame(size);
    let srt = dir.join("captions.srt");
    std::fs::write(&srt, write_srt(&build_cues(words, &layout))).expect("srt written");
    let zoompan_out = dir.join("zoompan.mp4");
    let zoompan = measure(|| render_zoompan(photo, setup, wav, &zoompan_out, settings, Some(&srt)));
    let alone = compositor_alone(photo, setup, words);

    println!();
    println!("| run | wall time | frames/s | × floor | CPU: this process | CPU: ffmpeg |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, u) in [
        ("Reelsmith (compose + karaoke + encode)", reelsmith),
        ("floor: x264 alone on Reelsmith's frames", floor),
        ("ffmpeg zoompan + subtitles", zoompan),
    ] {
        println!(
            "| {name} | {:.2} s | {:.1} | {:.2} | {:.0} % | {:.0} % |",
            u.wall.as_secs_f64(),
            frames as f64 / u.wall.as_secs_f64(),
            u.wall.as_secs_f64() / floor.wall.as_secs_f64(),
            u.cpu_percent(u.own_cpu),
            u.cpu_percent(u.child_cpu)
        );
    }
    let per_core = frames as f64 / alone.own_cpu.as_secs_f64();
    println!(
        "| compositor alone (1 thread, captions, no encoding) | {:.2} s | {:.1} | | {:.0} % | |",
        alone.wall.as_secs_f64(),
        frames as f64 / alone.wall.as_secs_f64(),
        alone.cpu_percent(alone.own_cpu)
    );
    println!("compositor alone: {per_core:.0} frames/s per core of CPU time");
    part_costs(photo, setup, words);
    CaseResult {
        picture,
        size,
        frames,
        reelsmith,
        floor,
        zoompan,
        compositor_fps_per_core: per_core,
    }
}

fn still_scenes(photo: &Path, setup: &Setup) -> Vec<SceneSpec> {
    let image = std::sync::Arc::new(load_image(photo, &Limits::default()).expect("photo loads"));
    setup
        .motions
        .iter()
        .map(|&motion| SceneSpec {
            visual: SceneVisual::Still(image.clone()),
            motion,
            duration: setup.scene_seconds(),
            transition: None,
        })
        .collect()
}

/// The render loop without the encoder, on one thread: compose and blend the captions.
fn compositor_alone(photo: &Path, setup: &Setup, words: &[WordTiming]) -> Usage {
    let scenes = still_scenes(photo, setup);
    let limits = Limits::default();
    let engine = EngineConfig::default();
    let layout = CaptionLayout::for_frame(setup.size);
    measure(|| {
        let mut compositor = Compositor::new(
            setup.size,
            FPS,
            Style::None,
            scenes,
            engine.crossfade,
            &limits,
        )
        .expect("compositor")
        .with_warp_threads(1);
        let mut captions =
            CaptionRenderer::new(build_cues(words, &layout), layout, CaptionStyle::Karaoke);
        let mut frame = Yuv420Frame::black(setup.size);
        for i in 0..compositor.frame_count() {
            compositor.render_next(&mut frame).expect("frame");
            if let Some(overlay) = captions.overlay_at(i as f64 / FPS as f64) {
                frame.blend(overlay);
            }
        }
        std::hint::black_box(&frame);
    })
}

/// Each part of the compositor timed on its own, on one thread, in milliseconds of CPU time per
/// frame of the film (parts that run on some frames only are spread over all of them, and their
/// cost where they run is shown beside).
fn part_costs(photo: &Path, setup: &Setup, words: &[WordTiming]) {
    let size = setup.size;
    let frames = setup.frames();
    let bounds = setup.bounds();
    let ms = |d: Duration, n: u64| d.as_secs_f64() * 1000.0 / n.max(1) as f64;
    let mut rows: Vec<(String, f64, String)> = Vec::new();

    // Scene preparation: fitting and resizing the photo to the canvas, to yuv420p.
    let image = load_image(photo, &Limits::default()).expect("photo loads");
    let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(2);
    let (cw, ch) = (
        even(size.width as f64 * MAX_ZOOM),
        even(size.height as f64 * MAX_ZOOM),
    );
    let started = CpuClock::start();
    let rgb = fill::still_canvas_rgb(&image, cw, ch).expect("canvas");
    let canvas = fill::rgb_to_canvas(&rgb, cw as usize, ch as usize);
    let prepare = started.elapsed();
    // Every scene shows the same photo here, and the engine prepares it once for consecutive
    // scenes; a film of different pictures pays this once per scene.
    rows.push((
        "scene preparation (fit, Lanczos resize, to yuv420p)".into(),
        ms(prepare, frames),
        format!(
            "{:.1} ms per preparation: once per photo here, once per scene for different pictures",
            ms(prepare, 1)
        ),
    ));

    // The warp, along every scene's camera path.
    let mut sampler = Sampler::with_bands(1);
    let mut frame = Yuv420Frame::black(size);
    let started = CpuClock::start();
    for (i, &motion) in setup.motions.iter().enumerate() {
        let (start, end) = (bounds[i], bounds[i + 1]);
        for n in start..end {
            let progress = ((n - start) as f64 + 0.5) / (end - start) as f64;
            sampler.render(&canvas, camera(motion, progress), &mut frame);
        }
    }
    let warp = ms(started.elapsed(), frames);
    rows.push(("warp (sub-pixel camera)".into(), warp, String::new()));

    // Crossfades: on those frames a second warp and a blend of the two.
    let half = (EngineConfig::default().crossfade * FPS as f64 / 2.0).round() as u64;
    let fade_frames = (setup.motions.len() as u64 - 1) * 2 * half;
    let other = frame.clone();
    let started = CpuClock::start();
    let reps = 100;
    for k in 0..reps {
        blend_frames(&mut frame, &other, (k * 2 + 1) as u16);
    }
    let blend = ms(started.elapsed(), reps);
    rows.push((
        "transitions (crossfade: second warp + blend)".into(),
        (warp + blend) * fade_frames as f64 / frames as f64,
        format!(
            "{:.3} ms on each of {fade_frames} crossfade frames",
            warp + blend
        ),
    ));

    // The other transitions (issue 25): the same second warp, then their own pass instead of
    // the blend (the zoom's warps are zooms: the gather path, timed here on its own).
    let mut strip = Vec::new();
    for &kind in <reelsmith_core::Transition as reelsmith_core::Choice>::ALL {
        use reelsmith_core::{Choice, Transition};
        if matches!(kind, Transition::Cut | Transition::Crossfade) {
            continue;
        }
        let started = CpuClock::start();
        for k in 0..reps {
            let progress = (k as f64 + 0.5) / reps as f64;
            transition::draw(kind, &mut frame, &other, progress, 128, &mut strip);
        }
        let pass = ms(started.elapsed(), reps);
        let second_warp = if kind == Transition::Zoom {
            let started = CpuClock::start();
            for k in 0..reps {
                let mut view = camera(setup.motions[0], 0.5);
                view.zoom *= transition::zoom_factors(kind, (k as f64 + 0.5) / reps as f64).0;
                sampler.render(&canvas, view, &mut frame);
            }
            ms(started.elapsed(), reps)
        } else {
            warp
        };
        rows.push((
            format!("transitions ({}: second warp + its pass)", kind.name()),
            (second_warp + pass) * fade_frames as f64 / frames as f64,
            format!(
                "{:.3} ms on each of {fade_frames} transition frames (crossfade {:.3})",
                second_warp + pass,
                warp + blend
            ),
        ));
    }

    // Designed title scenes (issue 25): the moving light drawn over the warped card per frame.
    for &background in <reelsmith_core::TitleBackground as reelsmith_core::Choice>::ALL {
        use reelsmith_core::Choice;
        let mut lights = designed::Lights::new(background, 42);
        let started = CpuClock::start();
        for k in 0..reps {
            lights.draw(&mut frame, k as f64 / FPS as f64);
        }
        rows.push((
            format!(
                "designed title background ({}), per title frame",
                background.name()
            ),
            0.0,
            format!(
                "{:.3} ms per frame of a scene without a picture, on top of its warp",
                ms(started.elapsed(), reps)
            ),
        ));
    }

    // Karaoke captions: the cached overlay of the cue and spoken word, blended.
    let layout = CaptionLayout::for_frame(size);
    let mut captions =
        CaptionRenderer::new(build_cues(words, &layout), layout, CaptionStyle::Karaoke);
    let started = CpuClock::start();
    for i in 0..frames {
        if let Some(overlay) = captions.overlay_at(i as f64 / FPS as f64) {
            frame.blend(overlay);
        }
    }
    rows.push((
        "karaoke captions (overlay per cue and word, blend)".into(),
        ms(started.elapsed(), frames),
        String::new(),
    ));

    // Style grading: per frame only for video clips (stills are graded once, on their canvas).
    let lut = StyleLut::new(Style::Cinematic).expect("a look");
    let started = CpuClock::start();
    for _ in 0..reps {
        let (y, u, v) = frame.planes_mut();
        lut.apply(y, u, v, size.width as usize);
    }
    rows.push((
        "style grading (per frame for clips only; 0 for stills)".into(),
        0.0,
        format!("{:.3} ms per clip frame", ms(started.elapsed(), reps)),
    ));

    // Hand-off: writing the frame into a pipe, as the encoder's writer thread does.
    let mut sink = Command::new("sh")
        .args(["-c", "cat > /dev/null"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("a pipe reader");
    let mut pipe = sink.stdin.take().expect("piped");
    let started = CpuClock::start();
    for _ in 0..reps {
        pipe.write_all(frame.as_bytes()).expect("written");
    }
    let handoff = ms(started.elapsed(), reps);
    drop(pipe);
    sink.wait().ok();
    rows.push((
        "hand-off (writing the frame into the encoder's pipe, writer thread)".into(),
        handoff,
        String::new(),
    ));

    println!();
    println!("| part | ms per frame | note |");
    println!("| --- | --- | --- |");
    for (name, cost, note) in rows {
        println!("| {name} | {cost:.3} | {note} |");
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Peak resident memory of a real 1080p render (karaoke captions) and of its ffmpeg encoder:
/// through the CLI when `REELSMITH_BIN` names it, otherwise through this benchmark run as a
/// child that calls the engine's `render::render` as the CLI does.
pub fn peak_memory_1080p(dir: &Path, photo: &Path) {
    let script = dir.join("script.txt");
    std::fs::write(&script, &SCRIPT[..SCRIPT.len() / 3]).unwrap();
    let out = dir.join("memory-1080p.mp4");
    let (mut command, what) = match std::env::var_os("REELSMITH_BIN") {
        Some(bin) => {
            let mut c = Command::new(bin);
            c.args(["render", "--quiet", "--resolution", "1080p", "--script"])
                .arg(&script)
                .arg("--image")
                .arg(photo)
                .arg("--out")
                .arg(&out);
            (c, "reelsmith CLI")
        }
        None => {
            let mut c = Command::new(std::env::current_exe().expect("own path"));
            c.arg("engine").arg(photo).arg(&script).arg(&out);
            (c, "engine (render::render)")
        }
    };
    let mut child = command.spawn().expect("the render runs");
    let (mut ours, mut encoder) = (0u64, 0u64);
    while child.try_wait().expect("wait").is_none() {
        ours = ours.max(peak_rss_kib(child.id()));
        for grandchild in children(child.id()) {
            encoder = encoder.max(peak_rss_kib(grandchild));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!();
    println!("1080p render peak RSS ({what}): reelsmith {:.0} MB, its ffmpeg encoder {:.0} MB, together {:.0} MB (target <= 400 MB)",
        ours as f64 / 1024.0, encoder as f64 / 1024.0, (ours + encoder) as f64 / 1024.0);
}

/// `bench-render engine PHOTO SCRIPT OUT`: one 1080p render through `render::render`.
pub fn engine_child(args: Vec<String>) {
    use reelsmith_media::render::{render, RenderJob};
    let [photo, script, out] = &args[..] else {
        eprintln!("usage: bench-render engine PHOTO SCRIPT OUT");
        std::process::exit(2);
    };
    let script = std::fs::read_to_string(script).expect("script");
    let spec = serde_json::from_value::<reelsmith_core::RenderSpec>(serde_json::json!({
        "script": script,
        "resolution": "1080p",
        "captions": "karaoke",
    }))
    .expect("spec")
    .validated(&reelsmith_core::Limits::default())
    .expect("a spec within the default limits");
    let job = RenderJob {
        spec: &spec,
        media: vec![PathBuf::from(photo)],
        voice: None,
        heard_words: None,
        music: None,
        out: PathBuf::from(out),
        hash_frames: false,
        cancel: None,
    };
    render(&job, &EngineConfig::default(), &mut |_| {}).expect("render");
}

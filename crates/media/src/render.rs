//! One render, start to finish: plan the scenes, narrate them (or align the user's recording),
//! time the captions, compose every frame and stream it into the encoder, then write the poster
//! and the caption files. Everything is written inside a private work folder and under temporary
//! names; the outputs appear beside `out` only when all of them are complete.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reelsmith_core::{
    CaptionMode, Code, ErrorCode, FrameSize, Limits, RenderSpec, SpecError, ValidSpec,
};
use serde::{Deserialize, Serialize};

use crate::align::transcript::{time_script, HeardWord};
use crate::align::{align, AlignError};
use crate::audio::{check_audio, decode_audio, write_wav, AudioBuffer, AudioError};
use crate::captions::{
    build_cues, write_srt, write_vtt, CaptionLayout, CaptionRenderer, CaptionStyle,
};
use crate::compose::{open_clip, resolve_motion, ComposeError, Compositor, SceneSpec, SceneVisual};
use crate::encode::{write_poster, EncodeError, EncodeSettings, Encoder, PipelinedEncoder};
use crate::image_input::{load_image, ImageError};
use crate::mix::{final_mix, LoudnessReport, MixError, MixInput, MusicBed};
use crate::plan::{plan, PlanError, PlannedScene, ScenePlan};
use crate::process;
use crate::speech::voices::{reference_language, SpeechConfig};
use crate::speech::{speak_each, SpeechError, SpeechWord};
use crate::text::KineticTitle;
use crate::timing::WordTiming;
use crate::workdir::{PendingFile, WorkDir};

/// Narration audio is synthesized and mixed at this rate; the encoder resamples to 48 kHz AAC.
const NARRATION_RATE: u32 = 22_050;
/// Silence before the first word and after the last, so speech never starts on the first frame.
const LEAD_IN: f64 = 0.3;
const TAIL: f64 = 0.5;
/// Pause between scenes, on top of the speech engine's own sentence pause.
const SCENE_GAP: f64 = 0.25;
/// Composed frames waiting for the encoder's writer thread. Two is enough to keep both sides
/// busy; more would only hold more frames in memory (6 MB each at 1080p).
const PIPELINE_DEPTH: usize = 2;

/// Engine settings that are the operator's, not the user's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    pub limits: Limits,
    pub encode: EncodeSettings,
    /// Where per-render work folders are made (the system temporary folder when unset).
    pub temp_dir: Option<PathBuf>,
    /// Crossfade between scenes, in seconds (0 for cuts).
    pub crossfade: f64,
    /// Threads the warp of each frame is split across; 0 picks half the cores (at most 4), the
    /// other half being x264's. The frames are the same for any number.
    pub warp_threads: usize,
    /// Which speech engines and voices narrate (Piper voices, the natural-voice preference).
    pub speech: crate::speech::voices::SpeechConfig,
    /// The operator's music library (`library:<id>` music resolves there).
    pub music_library: Option<PathBuf>,
}

impl EngineConfig {
    pub fn effective_warp_threads(&self) -> usize {
        if self.warp_threads > 0 {
            return self.warp_threads;
        }
        std::thread::available_parallelism()
            .map_or(1, |n| n.get() / 2)
            .clamp(1, 4)
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            limits: Limits::default(),
            encode: EncodeSettings::default(),
            temp_dir: None,
            crossfade: 0.5,
            warp_threads: 0,
            speech: crate::speech::voices::SpeechConfig::default(),
            music_library: None,
        }
    }
}

/// What a render was asked for: the spec, with its media references resolved to local files.
#[derive(Debug, Clone)]
pub struct RenderJob<'a> {
    /// Checked at the edge (the API or the CLI): the engine does not check it again.
    pub spec: &'a ValidSpec,
    pub media: Vec<PathBuf>,
    pub voice: Option<PathBuf>,
    /// Word timestamps a transcription service heard in `voice`: captions are timed from them
    /// instead of by local forced alignment.
    pub heard_words: Option<Vec<HeardWord>>,
    /// A music track to lay under the narration (see [`crate::mix`]).
    pub music: Option<PathBuf>,
    /// The MP4 to write; sidecars go beside it (`.vtt`, `.srt`, `.jpg`).
    pub out: PathBuf,
    /// Hash every raw frame before encoding (for reproducibility checks).
    pub hash_frames: bool,
    /// Set from another thread to stop the render at the next frame (a cancelled job, a lost
    /// lease, a shutdown). Nothing is written when it stops.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Plan,
    Narrate,
    Align,
    Mix,
    /// Frames drawn and handed to the encoder, which encodes them meanwhile (pipelined).
    Compose,
    /// The encoder's tail once the last frame is drawn: the frames still queued, x264's
    /// lookahead flushed, the audio muxed and the MP4 written.
    Encode,
    Finish,
}

impl Stage {
    /// The stage's name, as serialised (the job's usage) and as a metrics label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Plan => "plan",
            Stage::Narrate => "narrate",
            Stage::Align => "align",
            Stage::Mix => "mix",
            Stage::Compose => "compose",
            Stage::Encode => "encode",
            Stage::Finish => "finish",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Progress {
    Stage(Stage),
    Frames { done: u64, total: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderOutput {
    pub video: PathBuf,
    pub vtt: PathBuf,
    pub srt: PathBuf,
    pub poster: PathBuf,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub frames: u64,
    pub duration_seconds: f64,
    pub scenes: usize,
    /// How long each scene lasts as narrated (the real narration, not the estimate), in order.
    #[serde(default)]
    pub scene_seconds: Vec<f64>,
    pub words: Vec<WordTiming>,
    /// FNV-1a over every raw frame, when asked for.
    pub frame_hash: Option<u64>,
    /// Wall time per stage, in milliseconds.
    pub stage_ms: Vec<(Stage, u64)>,
    /// The voice that narrated (`piper:en_US-joe-medium`, `espeak:en-us`); None for a recording.
    #[serde(default)]
    pub voice: Option<String>,
    /// Fallbacks the narration took (a corrupt voice, sentences timed evenly), for the report.
    #[serde(default)]
    pub speech_notes: Vec<String>,
    /// The final mix's loudness (normalised to −14 LUFS).
    pub loudness: LoudnessReport,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Speech(#[from] SpeechError),
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Align(#[from] AlignError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Mix(#[from] MixError),
    #[error(transparent)]
    Font(#[from] crate::text::FontError),
    #[error("the music: {0}")]
    Music(AudioError),
    #[error("{path}: not an image or video this engine can read")]
    UnsupportedMedia { path: PathBuf },
    #[error("{path}: {source}")]
    Input {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the file is larger than the limit of {limit} bytes")]
    FileTooLarge { path: PathBuf, limit: u64 },
    #[error("the video would be {seconds:.0} s long, over the limit of {limit:.0} s")]
    TooLong { seconds: f64, limit: f64 },
    #[error("writing the output: {0}")]
    Output(std::io::Error),
    #[error("the render was stopped before it finished")]
    Cancelled,
}

impl ErrorCode for RenderError {
    fn code(&self) -> Code {
        match self {
            RenderError::Spec(e) => e.code(),
            RenderError::Plan(e) => e.code(),
            RenderError::Speech(e) => e.code(),
            RenderError::Audio(e) => e.code(),
            RenderError::Align(e) => e.code(),
            RenderError::Image(e) => e.code(),
            RenderError::Compose(e) => e.code(),
            RenderError::Encode(e) => e.code(),
            RenderError::Mix(e) => e.code(),
            RenderError::Font(e) => e.code(),
            RenderError::Music(e) => music_code(e),
            RenderError::UnsupportedMedia { .. } => Code::MediaUnsupportedFormat,
            RenderError::Input { .. } => Code::MediaUnreadable,
            RenderError::FileTooLarge { .. } => Code::MediaTooLarge,
            RenderError::TooLong { .. } => Code::RenderTooLong,
            RenderError::Output(_) => Code::RenderOutputIo,
            RenderError::Cancelled => Code::RenderCancelled,
        }
    }

    fn is_client_error(&self) -> bool {
        match self {
            RenderError::Spec(e) => e.is_client_error(),
            RenderError::Plan(e) => e.is_client_error(),
            RenderError::Speech(e) => e.is_client_error(),
            RenderError::Audio(e) => e.is_client_error(),
            RenderError::Align(e) => e.is_client_error(),
            RenderError::Image(e) => e.is_client_error(),
            RenderError::Compose(e) => e.is_client_error(),
            RenderError::Encode(e) => e.is_client_error(),
            RenderError::Mix(e) => e.is_client_error(),
            RenderError::Font(e) => e.is_client_error(),
            RenderError::Music(e) => e.is_client_error(),
            RenderError::UnsupportedMedia { .. }
            | RenderError::Input { .. }
            | RenderError::FileTooLarge { .. }
            | RenderError::TooLong { .. } => true,
            RenderError::Output(_) | RenderError::Cancelled => false,
        }
    }
}

/// A music file's problem, in the music's own terms.
fn music_code(e: &AudioError) -> Code {
    match e {
        AudioError::TooLong { .. } => Code::MusicTooLong,
        AudioError::TooLarge { .. } => Code::MusicTooLarge,
        AudioError::Process(p) => p.code(),
        _ => Code::MusicNotAudio,
    }
}

/// Paths of the sidecar files that accompany `out`.
pub fn sidecars(out: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        out.with_extension("vtt"),
        out.with_extension("srt"),
        out.with_extension("jpg"),
    )
}

/// Renders one video. `progress` hears each stage and every frame.
pub fn render(
    job: &RenderJob<'_>,
    config: &EngineConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<RenderOutput, RenderError> {
    render_scenes(job, None, config, progress)
}

/// [`render`] of the scenes a storyboard decided (`Some`): scene *i* of the video is
/// `scenes[i]`, with its text, media and motion, instead of the script's own plan.
pub fn render_scenes(
    job: &RenderJob<'_>,
    scenes: Option<&[crate::plan::GivenScene]>,
    config: &EngineConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<RenderOutput, RenderError> {
    let spec = job.spec;
    let limits = &config.limits;
    process::set_concurrency(limits.max_concurrent_processes);
    let timeout = Duration::from_secs(limits.process_timeout_seconds);
    let mut clock = StageClock::new();

    progress(Progress::Stage(Stage::Plan));
    config.encode.validate()?;
    let plan = match scenes {
        Some(given) => crate::plan::plan_given(given, job.media.len())?,
        None => plan(&spec.script, job.media.len())?,
    };
    for path in job.media.iter().chain(job.voice.iter()) {
        check_file_size(path, limits.max_file_bytes)?;
    }
    let visuals = load_visuals(&job.media, limits)?;
    // The captions' font, before any narration: a script whose font is not installed fails
    // here, cheaply, instead of burning boxes into the video.
    let caption_font = match &spec.caption_style.font {
        Some(name) => crate::text::Font::named_for_text(name, &spec.script)?,
        None => crate::text::Font::for_text(&spec.script)?,
    };
    if let Some(music) = &job.music {
        // Before any narration: a bad track fails the render while it is still cheap.
        check_audio(music, limits).map_err(RenderError::Music)?;
    }
    clock.lap(Stage::Plan);

    let work = WorkDir::new(config.temp_dir.as_deref()).map_err(RenderError::Output)?;
    let mut narration = match &job.voice {
        None => {
            progress(Progress::Stage(Stage::Narrate));
            let n = narrate(&plan, spec, &config.speech)?;
            clock.lap(Stage::Narrate);
            n
        }
        Some(voice) => {
            progress(Progress::Stage(Stage::Align));
            let n = align_recording(
                &plan,
                spec,
                voice,
                job.heard_words.as_deref(),
                limits,
                &config.speech,
            )?;
            clock.lap(Stage::Align);
            n
        }
    };
    narration
        .notes
        .extend(unspaced_timing_note(&narration.words, &spec.tts.voice));
    if narration.duration > limits.max_output_seconds {
        return Err(RenderError::TooLong {
            seconds: narration.duration,
            limit: limits.max_output_seconds,
        });
    }
    let audio_path = match &narration.audio {
        NarrationAudio::Synthesized(buffer) => {
            let path = work.file("narration.wav");
            write_wav(&path, buffer).map_err(RenderError::Output)?;
            path
        }
        NarrationAudio::Recording(path) => path.clone(),
    };
    progress(Progress::Stage(Stage::Mix));
    let mixed = work.file("final-mix.wav");
    let loudness = final_mix(
        &MixInput {
            narration: &audio_path,
            duration: narration.duration,
            words: &narration.words,
            music: job.music.as_deref().map(|path| MusicBed {
                path,
                level_db: spec.effective_music_level() as f64,
            }),
            work_dir: work.path(),
            timeout,
        },
        &mixed,
    )?;
    clock.lap(Stage::Mix);

    progress(Progress::Stage(Stage::Compose));
    let size = spec.frame_size();
    let scene_specs = plan
        .scenes
        .iter()
        .zip(&narration.scene_durations)
        .enumerate()
        .map(|(i, (scene, &duration))| {
            Ok(SceneSpec {
                visual: match scene.media {
                    Some(m) => visuals[m].scene_visual(limits)?,
                    None => SceneVisual::Designed {
                        seed: spec.seed.wrapping_add(i as u64),
                        background: spec.title_background,
                    },
                },
                motion: resolve_motion(
                    scenes
                        .and_then(|g| g.get(i))
                        .map_or(spec.motion, |g| g.motion),
                    i,
                    spec.seed,
                ),
                duration,
                // A storyboard's scene names its own; a plain script takes the film's.
                transition: scenes.and_then(|g| g.get(i)).map(|g| g.transition),
            })
        })
        .collect::<Result<Vec<_>, RenderError>>()?;
    let mut compositor = Compositor::with_transition(
        size,
        spec.fps,
        spec.style,
        scene_specs,
        spec.transition,
        config.crossfade,
        limits,
    )?
    .with_warp_threads(config.effective_warp_threads());
    let caption_layout = CaptionLayout::for_style(size, caption_font, &spec.caption_style);
    let cues = build_cues(&narration.words, &caption_layout);
    let mut captions = match spec.captions {
        CaptionMode::Off => None,
        CaptionMode::Subtitle => Some(CaptionStyle::Subtitle),
        CaptionMode::Karaoke => Some(CaptionStyle::Karaoke),
    }
    .map(|style| {
        CaptionRenderer::new(cues.clone(), caption_layout.clone(), style)
            .styled(&spec.caption_style)
    });
    let titles = kinetic_titles(&plan, &narration.words, spec.seed, size);

    let video = PendingFile::new(&job.out);
    let encoder = Encoder::start(
        video.temp_path(),
        size,
        spec.fps,
        Some(&mixed),
        &config.encode,
        timeout,
    )?;
    let mut encoder = PipelinedEncoder::new(encoder, size, PIPELINE_DEPTH);
    let total = compositor.frame_count();
    let mut hash = job.hash_frames.then_some(Fnv1a::new());
    for index in 0..total {
        if job
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(RenderError::Cancelled);
        }
        let mut frame = encoder.buffer();
        compositor.render_next(&mut frame)?;
        let scene = compositor.scene_at(index);
        let t = index as f64 / spec.fps as f64;
        if let Some(title) = &titles[scene] {
            title.draw(&mut frame, t);
        } else if let Some(overlay) = captions.as_mut().and_then(|c| c.overlay_at(t)) {
            // Title cards already show their words large; captions would only repeat them.
            frame.blend(overlay);
        }
        if let Some(h) = hash.as_mut() {
            h.write(frame.as_bytes());
        }
        encoder.submit(frame)?;
        progress(Progress::Frames {
            done: index + 1,
            total,
        });
    }
    clock.lap(Stage::Compose);
    progress(Progress::Stage(Stage::Encode));
    encoder.finish()?;
    clock.lap(Stage::Encode);

    progress(Progress::Stage(Stage::Finish));
    let (vtt_path, srt_path, poster_path) = sidecars(&job.out);
    let vtt = PendingFile::new(&vtt_path);
    std::fs::write(vtt.temp_path(), write_vtt(&cues)).map_err(RenderError::Output)?;
    let srt = PendingFile::new(&srt_path);
    std::fs::write(srt.temp_path(), write_srt(&cues)).map_err(RenderError::Output)?;
    let poster = PendingFile::new(&poster_path);
    write_poster(
        video.temp_path(),
        poster_time(&narration.scene_durations),
        poster.temp_path(),
    )?;
    // The video last: its presence means every sidecar is already in place.
    for pending in [vtt, srt, poster, video] {
        pending.commit().map_err(RenderError::Output)?;
    }
    clock.lap(Stage::Finish);
    drop(work);

    Ok(RenderOutput {
        video: job.out.clone(),
        vtt: vtt_path,
        srt: srt_path,
        poster: poster_path,
        width: size.width,
        height: size.height,
        fps: spec.fps,
        frames: total,
        duration_seconds: total as f64 / spec.fps as f64,
        scenes: plan.scenes.len(),
        scene_seconds: narration.scene_durations.clone(),
        words: narration.words,
        frame_hash: hash.map(|h| h.finish()),
        stage_ms: clock.laps,
        voice: narration.voice,
        speech_notes: narration.notes,
        loudness,
    })
}

/// Chinese and Japanese are written without spaces, so the speech engine and the aligner time a
/// whole phrase as one word; the captions share that time among its characters. Said, so the
/// job's report shows the karaoke inside such a phrase is even, not measured.
fn unspaced_timing_note(words: &[WordTiming], voice: &str) -> Option<String> {
    let phrases = words
        .iter()
        .filter(|w| w.text.chars().any(crate::text::scripts::is_unspaced))
        .count();
    (phrases > 0).then(|| {
        format!(
            "captions: {phrases} phrase(s) written without spaces (voice `{voice}`) are timed as \
             a whole; within each, the time is shared evenly among its characters"
        )
    })
}

/// A poster from the middle of the first scene: past any fade-in, and usually the video's subject.
fn poster_time(scene_durations: &[f64]) -> f64 {
    scene_durations.first().map_or(0.0, |d| d / 2.0)
}

fn check_file_size(path: &Path, limit: u64) -> Result<(), RenderError> {
    let meta = std::fs::metadata(path).map_err(|source| RenderError::Input {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() > limit {
        return Err(RenderError::FileTooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(())
}

/// A media input, loaded once however many scenes show it.
enum Visual {
    Still(std::sync::Arc<crate::image_input::StillImage>),
    Clip(PathBuf),
}

impl Visual {
    fn scene_visual(&self, limits: &Limits) -> Result<SceneVisual, RenderError> {
        Ok(match self {
            Visual::Still(image) => SceneVisual::Still(image.clone()),
            Visual::Clip(path) => SceneVisual::Clip(open_clip(path, limits)?),
        })
    }
}

fn load_visuals(paths: &[PathBuf], limits: &Limits) -> Result<Vec<Visual>, RenderError> {
    paths
        .iter()
        .map(|path| {
            let head = read_head(path)?;
            if looks_like_image(&head) {
                Ok(Visual::Still(std::sync::Arc::new(load_image(
                    path, limits,
                )?)))
            } else {
                // Probe now so a bad clip fails before any narration is made.
                open_clip(path, limits).map_err(|e| match e.code() {
                    Code::ClipUnreadable => RenderError::UnsupportedMedia { path: path.clone() },
                    _ => RenderError::Compose(e),
                })?;
                Ok(Visual::Clip(path.clone()))
            }
        })
        .collect()
}

fn read_head(path: &Path) -> Result<Vec<u8>, RenderError> {
    use std::io::Read;
    let mut head = Vec::with_capacity(16);
    std::fs::File::open(path)
        .and_then(|f| f.take(16).read_to_end(&mut head))
        .map_err(|source| RenderError::Input {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(head)
}

/// The signatures of the still formats we decode; everything else is offered to ffprobe as video.
fn looks_like_image(head: &[u8]) -> bool {
    head.starts_with(&[0xFF, 0xD8, 0xFF])
        || head.starts_with(b"\x89PNG\r\n\x1a\n")
        || head.starts_with(b"GIF8")
        || head.starts_with(b"BM")
        || (head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP")
}

enum NarrationAudio {
    Synthesized(AudioBuffer),
    Recording(PathBuf),
}

struct Narration {
    audio: NarrationAudio,
    duration: f64,
    scene_durations: Vec<f64>,
    words: Vec<WordTiming>,
    voice: Option<String>,
    notes: Vec<String>,
}

/// Speaks each scene, lays the scenes end to end with a short pause, and maps the speech engine's
/// word events back onto the caption words.
fn narrate(
    plan: &ScenePlan,
    spec: &RenderSpec,
    speech: &SpeechConfig,
) -> Result<Narration, RenderError> {
    let rate = NARRATION_RATE as f64;
    let mut samples: Vec<f32> = vec![0.0; (LEAD_IN * rate) as usize];
    let mut words = Vec::with_capacity(plan.word_count());
    let mut scene_durations = Vec::with_capacity(plan.scenes.len());
    let mut scene_start = 0.0;
    let texts: Vec<&str> = plan.scenes.iter().map(|s| s.speech_text.as_str()).collect();
    let spoken_all = speak_each(&texts, &spec.tts, speech)?;
    for (i, (scene, spoken)) in plan.scenes.iter().zip(spoken_all.narrations).enumerate() {
        let audio = resample_if_needed(spoken.audio);
        let offset = samples.len() as f64 / rate;
        words.extend(caption_words(scene, &spoken.words, offset));
        samples.extend_from_slice(&audio.samples);
        let pause = if i + 1 == plan.scenes.len() {
            TAIL
        } else {
            SCENE_GAP
        };
        samples.resize(samples.len() + (pause * rate) as usize, 0.0);
        let scene_end = samples.len() as f64 / rate;
        scene_durations.push(scene_end - scene_start);
        scene_start = scene_end;
    }
    let duration = samples.len() as f64 / rate;
    Ok(Narration {
        audio: NarrationAudio::Synthesized(AudioBuffer {
            samples,
            sample_rate: NARRATION_RATE,
        }),
        duration,
        scene_durations,
        words,
        voice: Some(spoken_all.voice),
        notes: spoken_all.notes,
    })
}

/// The speech engine runs at its own rate; narration is mixed at one rate.
fn resample_if_needed(audio: AudioBuffer) -> AudioBuffer {
    if audio.sample_rate == NARRATION_RATE {
        return audio;
    }
    let ratio = audio.sample_rate as f64 / NARRATION_RATE as f64;
    let n = (audio.samples.len() as f64 / ratio) as usize;
    let samples = (0..n)
        .map(|i| {
            let x = i as f64 * ratio;
            let j = x as usize;
            let f = (x - j as f64) as f32;
            let a = audio.samples[j];
            let b = *audio.samples.get(j + 1).unwrap_or(&a);
            a + (b - a) * f
        })
        .collect();
    AudioBuffer {
        samples,
        sample_rate: NARRATION_RATE,
    }
}

/// Caption words timed from the speech engine's word events. An event is matched to the caption
/// word whose characters it starts in; a caption word the engine split into several events spans
/// them all, and one it never announced (rare) borrows the gap between its neighbours.
fn caption_words(scene: &PlannedScene, spoken: &[SpeechWord], offset: f64) -> Vec<WordTiming> {
    let mut spans: Vec<Option<(f64, f64)>> = vec![None; scene.words.len()];
    for event in spoken {
        if let Some(i) = scene.word_at_char(event.char_offset) {
            let span = spans[i].get_or_insert((event.start, event.end));
            span.0 = span.0.min(event.start);
            span.1 = span.1.max(event.end);
        }
    }
    fill_gaps(&mut spans);
    scene
        .words
        .iter()
        .zip(spans)
        .map(|(w, span)| {
            let (start, end) = span.unwrap_or((0.0, 0.0));
            WordTiming::new(w.display.clone(), start + offset, end + offset)
        })
        .collect()
}

/// Words without a timing take the time between their timed neighbours, shared equally.
fn fill_gaps(spans: &mut [Option<(f64, f64)>]) {
    let mut i = 0;
    while i < spans.len() {
        if spans[i].is_some() {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < spans.len() && spans[i].is_none() {
            i += 1;
        }
        let from = run_start
            .checked_sub(1)
            .and_then(|p| spans[p])
            .map_or(0.0, |s| s.1);
        let to = spans.get(i).copied().flatten().map_or(from, |s| s.0);
        let step = (to - from).max(0.0) / (i - run_start) as f64;
        for (k, span) in spans[run_start..i].iter_mut().enumerate() {
            let start = from + step * k as f64;
            *span = Some((start, start + step));
        }
    }
    // Events are monotonic, but merged spans of neighbours must not overlap either.
    for k in 1..spans.len() {
        if let (Some(prev), Some(cur)) = (spans[k - 1], spans[k]) {
            if prev.1 > cur.0 {
                spans[k - 1] = Some((prev.0, cur.0.max(prev.0)));
            }
        }
    }
}

/// Times the captions of a user's own recording by aligning the whole script to it; a scene runs
/// from its first word to the next scene's first word.
fn align_recording(
    plan: &ScenePlan,
    spec: &RenderSpec,
    voice: &Path,
    heard: Option<&[HeardWord]>,
    limits: &Limits,
    speech: &SpeechConfig,
) -> Result<Narration, RenderError> {
    let recording = decode_audio(voice, 16_000, limits)?;
    let duration = recording.duration();
    let mut text = String::new();
    let mut scene_char_starts = Vec::with_capacity(plan.scenes.len());
    for scene in &plan.scenes {
        if !text.is_empty() {
            text.push(' ');
        }
        scene_char_starts.push(text.chars().count());
        text.push_str(&scene.speech_text);
    }
    let aligned = match heard {
        Some(heard) => time_script(&text, heard, duration),
        None => {
            let reference = reelsmith_core::TtsSettings {
                voice: reference_language(&spec.tts.voice, speech)?,
                ..spec.tts.clone()
            };
            align(&text, &recording, &reference)?
        }
    };
    let mut words = Vec::with_capacity(plan.word_count());
    let mut scene_starts = Vec::with_capacity(plan.scenes.len());
    for (i, scene) in plan.scenes.iter().enumerate() {
        let from = scene_char_starts[i];
        let to = scene_char_starts.get(i + 1).copied().unwrap_or(usize::MAX);
        let local: Vec<SpeechWord> = aligned
            .iter()
            .filter(|w| (from..to).contains(&w.char_offset))
            .map(|w| SpeechWord {
                char_offset: w.char_offset - from,
                ..w.clone()
            })
            .collect();
        let scene_words = caption_words(scene, &local, 0.0);
        scene_starts.push(scene_words.first().map_or(0.0, |w| w.start));
        words.extend(scene_words);
    }
    scene_starts[0] = 0.0;
    let scene_durations = scene_starts
        .iter()
        .enumerate()
        .map(|(i, start)| scene_starts.get(i + 1).copied().unwrap_or(duration) - start)
        .collect();
    Ok(Narration {
        audio: NarrationAudio::Recording(voice.to_path_buf()),
        duration,
        scene_durations,
        words,
        voice: None,
        notes: Vec::new(),
    })
}

/// The kinetic title of every scene without a picture, its words timed by the narration's
/// (the narration's words are the scenes' words, scene after scene).
fn kinetic_titles(
    plan: &ScenePlan,
    words: &[WordTiming],
    seed: u64,
    size: FrameSize,
) -> Vec<Option<KineticTitle>> {
    let mut first = 0;
    plan.scenes
        .iter()
        .enumerate()
        .map(|(i, scene)| {
            let end = (first + scene.words.len()).min(words.len());
            let own = &words[first.min(end)..end];
            first = end;
            scene.media.is_none().then(|| {
                let glow = crate::compose::card::palette(seed.wrapping_add(i as u64)).2;
                KineticTitle::new(own, size, crate::text::kinetic::accent_for(glow))
            })
        })
        .collect()
}

struct StageClock {
    last: Instant,
    laps: Vec<(Stage, u64)>,
}

impl StageClock {
    fn new() -> Self {
        StageClock {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, stage: Stage) {
        let now = Instant::now();
        self.laps
            .push((stage, (now - self.last).as_millis() as u64));
        self.last = now;
    }
}

/// 64-bit FNV-1a: tiny, dependency-free, and plenty to tell two frame streams apart.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(self) -> u64 {
        self.0
    }
}

//! `reelsmith render`: the studio engine from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reelsmith_core::{
    Aspect, CaptionMode, Choice, ErrorCode, Motion, RenderSpec, Resolution, Style,
};
use reelsmith_media::render::{render, EngineConfig, Progress, RenderJob, Stage};

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The script to narrate (UTF-8 text or Markdown).
    #[arg(long, required_unless_present = "spec", conflicts_with = "spec")]
    script: Option<PathBuf>,
    /// A job as JSON (the API's job body, with file paths relative to the JSON file). Flags given
    /// alongside override its settings.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// A picture for the scenes (repeatable; shown in order, cycling).
    #[arg(long = "image")]
    images: Vec<PathBuf>,
    /// A video clip for the scenes (repeatable; after the images).
    #[arg(long = "clip")]
    clips: Vec<PathBuf>,
    /// A recording of the script read aloud, used instead of synthetic speech.
    #[arg(long)]
    voice: Option<PathBuf>,
    /// A music track under the narration: looped or trimmed, faded, ducked under the words.
    #[arg(long)]
    music: Option<PathBuf>,
    /// The music's level in the pauses, in dB relative to the narration (-40 to 0, default -10).
    #[arg(long, allow_hyphen_values = true)]
    music_level: Option<i32>,
    #[arg(long, value_parser = choice::<Aspect>())]
    aspect: Option<Aspect>,
    #[arg(long, value_parser = choice::<Resolution>())]
    resolution: Option<Resolution>,
    #[arg(long, value_parser = parse_fps)]
    fps: Option<u32>,
    #[arg(long, value_parser = choice::<Motion>())]
    motion: Option<Motion>,
    #[arg(long, value_parser = choice::<Style>())]
    style: Option<Style>,
    #[arg(long, value_parser = choice::<CaptionMode>())]
    captions: Option<CaptionMode>,
    /// Voice: a language (en-us, fr, de, es, ru, hi, ar, ja, cmn; the natural Piper voice for it
    /// when installed, else espeak-ng), or exactly one voice: piper:en_US-joe-medium, espeak:en-us.
    #[arg(long)]
    tts_voice: Option<String>,
    /// Speech rate in words per minute.
    #[arg(long)]
    rate: Option<u32>,
    /// Speech pitch, 0 to 99.
    #[arg(long)]
    pitch: Option<u32>,
    /// Seed for every choice the engine makes (motion per scene, title-card colours).
    #[arg(long)]
    seed: Option<u64>,
    /// x264 preset (ultrafast … veryslow).
    #[arg(long)]
    preset: Option<String>,
    /// The MP4 to write; `.vtt`, `.srt` and `.jpg` sidecars are written beside it.
    #[arg(long)]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Only `[speech]` is read from the configuration (the default voice and the Piper
    /// folders), with the same file and `REELSMITH__…` layering as `serve`.
    #[command(flatten)]
    config: crate::platform::ConfigArgs,
}

/// A `--motion`-style argument: one of the core's choice names, which `--help` lists.
fn choice<T: Choice + Send + Sync>() -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(T::ALL.iter().map(|c| c.name()))
        .try_map(|name| T::from_name(&name).ok_or("not one of the listed values"))
}

/// A problem with the command line itself, before the engine runs.
#[derive(Debug)]
struct UsageError {
    code: &'static str,
    message: String,
}

pub fn run(args: RenderArgs) -> ExitCode {
    let (spec, media, voice) = match build_job(&args) {
        Ok(parts) => parts,
        Err(e) => {
            eprintln!("error[{}]: {}", e.code, e.message);
            return ExitCode::from(2);
        }
    };
    let speech = match speech_settings(&args.config) {
        Ok(speech) => speech,
        Err(e) => {
            eprintln!("error[{}]: {}", e.code, e.message);
            return ExitCode::from(2);
        }
    };
    let mut config = EngineConfig {
        speech,
        ..EngineConfig::default()
    };
    if let Some(preset) = &args.preset {
        config.encode.preset = preset.clone();
    }
    // The command line is this path's edge: the spec is checked here, once.
    let spec = match spec.validated(&config.limits) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("error[{}]: {}", e.code(), e);
            return ExitCode::from(2);
        }
    };
    let job = RenderJob {
        spec: &spec,
        media,
        voice,
        heard_words: None,
        // build_job resolved it to a path.
        music: spec.music.as_ref().map(PathBuf::from),
        out: args.out.clone(),
        hash_frames: false,
        cancel: None,
    };
    let bar = progress_bar(args.quiet);
    let result = render(&job, &config, &mut |p| match p {
        Progress::Stage(stage) => bar.set_message(stage_label(stage)),
        Progress::Frames { done, total } => {
            bar.set_length(total);
            bar.set_position(done);
        }
    });
    bar.finish_and_clear();
    match result {
        Ok(out) => {
            println!(
                "{}: {}x{} at {} fps, {:.2} s, {} scenes, {} words",
                out.video.display(),
                out.width,
                out.height,
                out.fps,
                out.duration_seconds,
                out.scenes,
                out.words.len()
            );
            println!(
                "captions: {}, {}; poster: {}",
                out.vtt.display(),
                out.srt.display(),
                out.poster.display()
            );
            let times: Vec<String> = out
                .stage_ms
                .iter()
                .map(|(stage, ms)| format!("{} {:.2} s", stage_label(*stage), *ms as f64 / 1000.0))
                .collect();
            println!("time: {}", times.join(", "));
            if let Some(voice) = &out.voice {
                println!("voice: {voice}");
            }
            for note in &out.speech_notes {
                println!("note: {note}");
            }
            println!(
                "loudness: {:.1} LUFS integrated, true peak {:.1} dBTP",
                out.loudness.integrated_lufs, out.loudness.true_peak_dbtp
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error[{}]: {}", e.code(), e);
            ExitCode::from(if e.is_client_error() { 2 } else { 1 })
        }
    }
}

/// The engine's speech settings from `[speech]`, exactly as the worker reads them: the
/// natural voice when scripts/setup installed it, `default_voice` and the operator's Piper
/// folders honoured. Only `[speech]` is checked: a render needs no database or server settings.
fn speech_settings(
    args: &crate::platform::ConfigArgs,
) -> Result<reelsmith_media::speech::voices::SpeechConfig, UsageError> {
    let config = reelsmith_config::Config::load(&args.sources()).map_err(|e| UsageError {
        code: e.code().as_str(),
        message: e.to_string(),
    })?;
    config
        .speech
        .check_default_voice()
        .map_err(|message| UsageError {
            code: "config.invalid",
            message: format!("speech.default_voice: {message}"),
        })?;
    Ok(reelsmith_worker::speech_settings::speech_config(&config))
}

fn stage_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Plan => "planning",
        Stage::Narrate => "narrating",
        Stage::Align => "aligning",
        Stage::Mix => "mixing",
        Stage::Compose => "rendering",
        Stage::Encode => "encoding",
        Stage::Finish => "finishing",
    }
}

/// `--fps`: one of the frame rates the engine renders.
fn parse_fps(value: &str) -> Result<u32, String> {
    let allowed = reelsmith_core::spec::ALLOWED_FPS;
    value
        .parse()
        .ok()
        .filter(|fps| allowed.contains(fps))
        .ok_or_else(|| format!("`{value}` is not a frame rate: use one of {allowed:?}"))
}

#[expect(
    clippy::expect_used,
    reason = "the template is a constant that a render test draws"
)]
fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} frames, {eta} left")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar
}

/// Builds the spec from `--spec` or `--script`, then lays the flags over it.
fn build_job(args: &RenderArgs) -> Result<(RenderSpec, Vec<PathBuf>, Option<PathBuf>), UsageError> {
    let (mut spec, base) = match (&args.spec, &args.script) {
        (Some(path), _) => {
            let text = read(path)?;
            let spec: RenderSpec = serde_json::from_str(&text).map_err(|e| UsageError {
                code: "spec.invalid_json",
                message: format!("{}: {e}", path.display()),
            })?;
            (
                spec,
                path.parent().map(Path::to_path_buf).unwrap_or_default(),
            )
        }
        (None, Some(script)) => (RenderSpec::new(read(script)?), PathBuf::new()),
        (None, None) => unreachable!("clap requires --script or --spec"),
    };
    let mut media: Vec<PathBuf> = spec.media.iter().map(|m| base.join(m)).collect();
    media.extend(args.images.iter().cloned());
    media.extend(args.clips.iter().cloned());
    spec.media = media.iter().map(|p| p.display().to_string()).collect();
    let voice = args
        .voice
        .clone()
        .or_else(|| spec.voice.as_ref().map(|v| base.join(v)));
    spec.voice = voice.as_ref().map(|p| p.display().to_string());
    let music = args
        .music
        .clone()
        .or_else(|| spec.music.as_ref().map(|m| base.join(m)));
    spec.music = music.as_ref().map(|p| p.display().to_string());
    if let Some(v) = args.music_level {
        spec.music_level = Some(v);
    }
    if let Some(v) = args.aspect {
        spec.aspect = v;
    }
    if let Some(v) = args.resolution {
        spec.resolution = v;
    }
    if let Some(v) = args.fps {
        spec.fps = v;
    }
    if let Some(v) = args.motion {
        spec.motion = v;
    }
    if let Some(v) = args.style {
        spec.style = v;
    }
    if let Some(v) = args.captions {
        spec.captions = v;
    }
    if let Some(v) = &args.tts_voice {
        spec.tts.voice = v.clone();
    }
    if let Some(v) = args.rate {
        spec.tts.rate = v;
    }
    if let Some(v) = args.pitch {
        spec.tts.pitch = v;
    }
    if let Some(v) = args.seed {
        spec.seed = v;
    }
    Ok((spec, media, voice))
}

fn read(path: &Path) -> Result<String, UsageError> {
    let bytes = std::fs::read(path).map_err(|e| UsageError {
        code: "input.unreadable",
        message: format!("{}: {e}", path.display()),
    })?;
    String::from_utf8(bytes).map_err(|_| UsageError {
        code: "script.not_utf8",
        message: format!("{}: the script is not UTF-8 text", path.display()),
    })
}

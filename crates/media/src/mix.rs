//! The final mix: the narration, with an optional music bed under it, normalised to the loudness
//! streaming platforms use.
//!
//! Music is looped or trimmed to the video, faded in and out, set to a level relative to the
//! narration's own measured loudness, and ducked under the words by a gain envelope built from
//! the narration's word timings (the same timings the captions use, whether they come from the
//! speech engine or from aligning a recording). An envelope, rather than a compressor keyed by
//! the voice, ducks by an exact, known depth, starts to duck just before a word instead of after
//! its attack, and never pumps on a breath or a click in a recording.
//!
//! The mix is then normalised to −14 LUFS integrated (EBU R128) with true peaks at or under
//! −1 dBTP: its loudness is measured with ffmpeg's `ebur128`, one gain brings it to the
//! target, and a lookahead limiter on the signal upsampled four times holds the true peaks
//! under the ceiling. The same pass measures its own output; when the limiter cost more than
//! a few tenths of a LU, the gain is corrected by the miss and the pass runs again. A job
//! reports that last measurement. (ffmpeg's `loudnorm` was tried first: its dynamic mode,
//! which speech's peaks force, landed 1.6 LU under the target on a ten-second narration.)
//!
//! Every program runs through [`crate::process`]; everything is streamed by ffmpeg, so a long
//! video's mix holds no audio in memory but the envelope (1000 samples a second).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reelsmith_core::{Code, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::audio::{write_wav, AudioBuffer};
use crate::process::{Output, Process, ProcessError, FFMPEG};
use crate::timing::WordTiming;

/// Integrated loudness every mix is normalised to (LUFS).
pub const TARGET_LUFS: f64 = -14.0;
/// The highest true peak a mix may have (dBTP).
pub const MAX_TRUE_PEAK_DBTP: f64 = -1.0;
/// How far the music drops under the words, in dB, below its level in the pauses.
pub const DUCK_DB: f64 = 14.0;
/// Gaps between words shorter than this stay ducked: the music should not pump between words.
const SPEECH_MERGE_GAP: f64 = 0.45;
/// The music starts to drop this long before a word, so the word's attack is never masked.
const ATTACK: f64 = 0.15;
/// And comes back over this long after the last word of a phrase.
const RELEASE: f64 = 0.4;
const FADE_IN: f64 = 1.0;
const FADE_OUT: f64 = 2.0;
/// The envelope's sample rate: ramps of a tenth of a second need no more.
const ENVELOPE_RATE: u32 = 1_000;
const MIX_RATE: u32 = 48_000;
/// Below EBU R128's absolute gate a track counts as silence.
const SILENCE_LUFS: f64 = -70.0;
/// The loudness assumed for narration that measures as silence (a silent recording), so the
/// music still has a level to sit at.
const SILENT_NARRATION_LUFS: f64 = -23.0;

/// A music track to lay under the narration.
#[derive(Debug, Clone)]
pub struct MusicBed<'a> {
    pub path: &'a Path,
    /// Its loudness in the pauses, in dB relative to the narration's loudness.
    pub level_db: f64,
}

/// What the final mix is made of.
#[derive(Debug, Clone)]
pub struct MixInput<'a> {
    /// The narration: a WAV file, or the user's recording (any container ffmpeg reads).
    pub narration: &'a Path,
    /// The video's length in seconds: the mix is exactly this long.
    pub duration: f64,
    /// When the narration speaks (the music ducks there).
    pub words: &'a [WordTiming],
    pub music: Option<MusicBed<'a>>,
    /// A folder for intermediate files.
    pub work_dir: &'a Path,
    pub timeout: Duration,
}

/// How the loudness target was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// One gain for the whole mix; no peak came near the ceiling.
    Gain,
    /// One gain, and the limiter held the peaks under the ceiling.
    GainAndLimiter,
    /// The mix is silent: nothing to normalise.
    None,
}

/// The final mix's loudness, as `ebur128` measured the normalising pass's own output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoudnessReport {
    pub target_lufs: f64,
    pub integrated_lufs: f64,
    pub true_peak_dbtp: f64,
    pub loudness_range_lu: f64,
    pub normalization: Normalization,
    /// The gain given to the music (dB) to sit at its level under this narration, when there
    /// is music.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub music_gain_db: Option<f64>,
    /// How far the music drops under the words (dB), when there is music.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ducking_db: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MixError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("the loudness measurement could not be read: {0}")]
    Report(String),
    #[error("writing the mix: {0}")]
    Io(#[from] std::io::Error),
}

impl ErrorCode for MixError {
    fn code(&self) -> Code {
        match self {
            MixError::Process(e) => e.code(),
            MixError::Report(_) => Code::MixReport,
            MixError::Io(_) => Code::MixIo,
        }
    }

    fn is_client_error(&self) -> bool {
        false
    }
}

/// Writes the final mix of `input` to `out` (a WAV file at 48 kHz) and reports its loudness.
pub fn final_mix(input: &MixInput<'_>, out: &Path) -> Result<LoudnessReport, MixError> {
    let mut music_gain_db = None;
    let source: PathBuf = match &input.music {
        None => input.narration.to_path_buf(),
        Some(music) => {
            let voice = measure_integrated(input.narration, input.timeout)?;
            let voice = if voice > SILENCE_LUFS {
                voice
            } else {
                SILENT_NARRATION_LUFS
            };
            let bed = measure_integrated(music.path, input.timeout)?;
            let mixed = input.work_dir.join("music-mix.wav");
            if bed > SILENCE_LUFS {
                let gain = voice + music.level_db - bed;
                music_gain_db = Some(round2(gain));
                mix_music(input, music.path, gain, &mixed)?;
                mixed
            } else {
                // A silent track adds nothing; the mix is the narration alone.
                input.narration.to_path_buf()
            }
        }
    };
    let mut report = normalize(&source, input.duration, out, input.timeout)?;
    report.music_gain_db = music_gain_db;
    report.ducking_db = music_gain_db.map(|_| DUCK_DB);
    Ok(report)
}

/// Merged spans of speech: words closer than [`SPEECH_MERGE_GAP`] are one span.
fn speech_spans(words: &[WordTiming]) -> Vec<(f64, f64)> {
    let mut timed: Vec<(f64, f64)> = words
        .iter()
        .filter(|w| w.end > w.start && w.start.is_finite() && w.end.is_finite())
        .map(|w| (w.start, w.end))
        .collect();
    timed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for (start, end) in timed {
        match spans.last_mut() {
            Some(last) if start - last.1 < SPEECH_MERGE_GAP => last.1 = last.1.max(end),
            _ => spans.push((start, end)),
        }
    }
    spans
}

/// The music's gain over time (linear, 1 in the pauses, −[`DUCK_DB`] under the words, with
/// ramps linear in dB), sampled at `rate` for `duration` seconds.
pub fn duck_envelope(words: &[WordTiming], duration: f64, rate: u32) -> Vec<f32> {
    let rate_f = rate as f64;
    let n = (duration.max(0.0) * rate_f).ceil() as usize + 1;
    let mut depth = vec![0.0f64; n];
    for (start, end) in speech_spans(words) {
        let from = ((start - ATTACK).max(0.0) * rate_f).floor() as usize;
        let to = (((end + RELEASE) * rate_f).ceil() as usize).min(n);
        for (i, slot) in depth.iter_mut().enumerate().take(to).skip(from) {
            let t = i as f64 / rate_f;
            let d = if t < start {
                1.0 - (start - t) / ATTACK
            } else if t > end {
                1.0 - (t - end) / RELEASE
            } else {
                1.0
            };
            *slot = slot.max(d.clamp(0.0, 1.0));
        }
    }
    depth
        .into_iter()
        .map(|d| 10f64.powf(-DUCK_DB * d / 20.0) as f32)
        .collect()
}

fn file_arg(path: &Path) -> OsString {
    let mut name = OsString::from("file:");
    name.push(path.as_os_str());
    name
}

fn args(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

/// The final mix's format. Naming the layouts lets ffmpeg settle the output's channel layout
/// for a WAV without a channel mask, which a bare `aresample` cannot.
const FINAL_FORMAT: &str = "aresample=48000,aformat=sample_rates=48000:channel_layouts=mono|stereo";

const STEREO: &str = "aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo";

/// Mixes the narration with the music (looped, trimmed, faded, set to `gain_db`, multiplied by
/// the ducking envelope) into a float WAV, which may exceed full scale until normalised.
fn mix_music(input: &MixInput<'_>, music: &Path, gain_db: f64, out: &Path) -> Result<(), MixError> {
    let duration = input.duration.max(0.1);
    let envelope_path = input.work_dir.join("duck-envelope.wav");
    // A tenth of a second longer than the video, so the envelope never ends the mix early.
    let samples = duck_envelope(input.words, duration + 0.1, ENVELOPE_RATE);
    write_wav(
        &envelope_path,
        &AudioBuffer {
            samples,
            sample_rate: ENVELOPE_RATE,
        },
    )?;
    let fade_in = FADE_IN.min(duration / 4.0);
    let fade_out = FADE_OUT.min(duration / 4.0);
    let graph = format!(
        "[1:a:0]aresample={MIX_RATE},{STEREO},atrim=duration={d:.3},asetpts=N/SR/TB,\
         volume={gain_db:.2}dB,afade=t=in:d={fade_in:.3},\
         afade=t=out:st={fade_start:.3}:d={fade_out:.3}[music];\
         [2:a:0]aresample={MIX_RATE},pan=stereo|c0=c0|c1=c0,{STEREO}[envelope];\
         [music][envelope]amultiply[ducked];\
         [0:a:0]aresample={MIX_RATE},{STEREO},apad[voice];\
         [voice][ducked]amix=inputs=2:duration=shortest:normalize=0[mix]",
        d = duration,
        fade_start = (duration - fade_out).max(0.0),
    );
    let mut a = args(&["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"]);
    a.push(file_arg(input.narration));
    a.extend(args(&["-stream_loop", "-1", "-i"]));
    a.push(file_arg(music));
    a.push("-i".into());
    a.push(file_arg(&envelope_path));
    a.extend(args(&[
        "-filter_complex",
        &graph,
        "-map",
        "[mix]",
        "-t",
        &format!("{duration:.3}"),
        "-c:a",
        "pcm_f32le",
        "-f",
        "wav",
    ]));
    a.push(file_arg(out));
    Process::spawn(FFMPEG, &a, false, Output::Null, input.timeout)?.wait()?;
    Ok(())
}

/// A limit a little under the true-peak ceiling: the limiter reads sample peaks at four times
/// the rate, which sit within a few tenths of a dB of the true peak, and the final resampling
/// can add a little.
const LIMIT_DBFS: f64 = MAX_TRUE_PEAK_DBTP - 0.5;
/// A normalised mix closer than this to the target is done; otherwise the gain is corrected by
/// the miss and the pass runs again (the limiter's loss of loudness is what it corrects).
const TOLERANCE_LU: f64 = 0.3;
const MAX_PASSES: usize = 3;

/// Sets the integrated loudness of `source` to the target: one gain from its measured
/// loudness, then a true-peak limiter (a lookahead limiter on the signal upsampled four
/// times), measured by `ebur128` in the same pass; a miss beyond the tolerance corrects the
/// gain and runs the pass again.
fn normalize(
    source: &Path,
    duration: f64,
    out: &Path,
    timeout: Duration,
) -> Result<LoudnessReport, MixError> {
    let input = measure_ebur128(source, None, timeout)?;
    if input.integrated_lufs <= SILENCE_LUFS {
        copy_silence(source, duration, out, timeout)?;
        return Ok(LoudnessReport {
            target_lufs: TARGET_LUFS,
            integrated_lufs: input.integrated_lufs,
            true_peak_dbtp: input.true_peak_dbtp,
            loudness_range_lu: input.loudness_range_lu,
            normalization: Normalization::None,
            music_gain_db: None,
            ducking_db: None,
        });
    }
    let mut gain = TARGET_LUFS - input.integrated_lufs;
    let mut measured = input;
    for _ in 0..MAX_PASSES {
        measured = gain_and_limit(source, gain, duration, out, timeout)?;
        let miss = TARGET_LUFS - measured.integrated_lufs;
        if miss.abs() <= TOLERANCE_LU {
            break;
        }
        gain += miss;
    }
    Ok(LoudnessReport {
        target_lufs: TARGET_LUFS,
        integrated_lufs: measured.integrated_lufs,
        true_peak_dbtp: measured.true_peak_dbtp,
        loudness_range_lu: measured.loudness_range_lu,
        normalization: if input.true_peak_dbtp + gain > LIMIT_DBFS {
            Normalization::GainAndLimiter
        } else {
            Normalization::Gain
        },
        music_gain_db: None,
        ducking_db: None,
    })
}

/// One normalising pass: writes `out` and returns `ebur128`'s measurement of it.
fn gain_and_limit(
    source: &Path,
    gain_db: f64,
    duration: f64,
    out: &Path,
    timeout: Duration,
) -> Result<Ebur128, MixError> {
    let limit = 10f64.powf(LIMIT_DBFS / 20.0);
    let filter = format!(
        "volume={gain_db:.2}dB,aresample=192000,\
         alimiter=limit={limit:.4}:attack=1:release=60:level=false:latency=true,\
         {FINAL_FORMAT},ebur128=peak=true:framelog=verbose"
    );
    let mut a = args(&[
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "info",
        "-y",
        "-i",
    ]);
    a.push(file_arg(source));
    a.extend(args(&[
        "-map",
        "0:a:0",
        "-af",
        &filter,
        "-t",
        &format!("{:.3}", duration.max(0.1)),
        "-c:a",
        "pcm_s16le",
        "-f",
        "wav",
    ]));
    a.push(file_arg(out));
    let log = Process::spawn(FFMPEG, &a, false, Output::Null, timeout)?.wait_with_stderr()?;
    Ok(Ebur128 {
        integrated_lufs: summary_value(&log, "I:")?,
        loudness_range_lu: summary_value(&log, "LRA:")?,
        true_peak_dbtp: summary_value(&log, "Peak:")?,
    })
}

/// A silent mix is written as it is, only resampled, at the video's length.
fn copy_silence(
    source: &Path,
    duration: f64,
    out: &Path,
    timeout: Duration,
) -> Result<(), MixError> {
    let mut a = args(&["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"]);
    a.push(file_arg(source));
    a.extend(args(&[
        "-map",
        "0:a:0",
        "-af",
        FINAL_FORMAT,
        "-t",
        &format!("{:.3}", duration.max(0.1)),
        "-c:a",
        "pcm_s16le",
        "-f",
        "wav",
    ]));
    a.push(file_arg(out));
    Process::spawn(FFMPEG, &a, false, Output::Null, timeout)?.wait()?;
    Ok(())
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A loudness measurement by ffmpeg's `ebur128` scanner.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ebur128 {
    pub integrated_lufs: f64,
    pub loudness_range_lu: f64,
    pub true_peak_dbtp: f64,
}

/// Measures the first audio stream of `path` (or the part from `start` for `length` seconds)
/// with `ebur128`.
pub fn measure_ebur128(
    path: &Path,
    window: Option<(f64, f64)>,
    timeout: Duration,
) -> Result<Ebur128, MixError> {
    let log = run_ebur128(path, window, true, timeout)?;
    Ok(Ebur128 {
        integrated_lufs: summary_value(&log, "I:")?,
        loudness_range_lu: summary_value(&log, "LRA:")?,
        true_peak_dbtp: summary_value(&log, "Peak:")?,
    })
}

/// Integrated loudness (LUFS) of the first audio stream of `path`; silence comes back as −70.
fn measure_integrated(path: &Path, timeout: Duration) -> Result<f64, MixError> {
    summary_value(&run_ebur128(path, None, false, timeout)?, "I:")
}

fn run_ebur128(
    path: &Path,
    window: Option<(f64, f64)>,
    peak: bool,
    timeout: Duration,
) -> Result<String, MixError> {
    let mut a = args(&["-nostdin", "-hide_banner", "-nostats", "-loglevel", "info"]);
    if let Some((start, _)) = window {
        a.extend(args(&["-ss", &format!("{start:.3}")]));
    }
    a.push("-i".into());
    a.push(file_arg(path));
    if let Some((_, length)) = window {
        a.extend(args(&["-t", &format!("{length:.3}")]));
    }
    // Frame logs go to the verbose level, so the info level holds only the summary.
    let filter = if peak {
        "ebur128=peak=true:framelog=verbose"
    } else {
        "ebur128=framelog=verbose"
    };
    a.extend(args(&["-map", "0:a:0", "-af", filter, "-f", "null", "-"]));
    Ok(Process::spawn(FFMPEG, &a, false, Output::Null, timeout)?.wait_with_stderr()?)
}

/// A value from the last ebur128 summary in `log` (`I:`, `LRA:`, `Peak:`).
fn summary_value(log: &str, label: &str) -> Result<f64, MixError> {
    let summary = log
        .rfind("Summary:")
        .map(|at| &log[at..])
        .ok_or_else(|| MixError::Report("no ebur128 summary in ffmpeg's output".into()))?;
    summary
        .lines()
        .find_map(|line| {
            let rest = line.trim().strip_prefix(label)?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .ok_or_else(|| MixError::Report(format!("`{label}` missing from the ebur128 summary")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_ducks_under_words_and_returns_in_pauses() {
        let words = [
            WordTiming::new("one", 1.0, 1.3),
            WordTiming::new("two", 1.4, 1.8),
            WordTiming::new("three", 4.0, 4.5),
        ];
        let env = duck_envelope(&words, 6.0, 1000);
        let db = |t: f64| 20.0 * (env[(t * 1000.0) as usize] as f64).log10();
        assert!(db(0.5).abs() < 0.01, "before speech: {}", db(0.5));
        assert!(
            (db(1.2) + DUCK_DB).abs() < 0.01,
            "under a word: {}",
            db(1.2)
        );
        assert!(
            (db(1.35) + DUCK_DB).abs() < 0.01,
            "a short gap stays ducked: {}",
            db(1.35)
        );
        assert!(db(3.0).abs() < 0.01, "a long pause comes back: {}", db(3.0));
        assert!(
            db(1.0 - ATTACK / 2.0) < -DUCK_DB / 3.0,
            "ducks ahead of a word"
        );
        assert!(db(5.5).abs() < 0.01);
    }

    #[test]
    fn summaries_and_reports_are_parsed() {
        let log = "[Parsed_ebur128_0 @ 0x5] Summary:\n\n  Integrated loudness:\n    I:         -14.2 LUFS\n    Threshold: -24.6 LUFS\n\n  Loudness range:\n    LRA:         3.1 LU\n    Threshold:   -34.5 LUFS\n\n  True peak:\n    Peak:        -1.4 dBFS\n";
        let m = ["I:", "LRA:", "Peak:"].map(|label| summary_value(log, label).unwrap());
        assert_eq!(m, [-14.2, 3.1, -1.4]);
        assert_eq!(
            summary_value(log, "Absent:").unwrap_err().code(),
            "mix.report"
        );
    }
}

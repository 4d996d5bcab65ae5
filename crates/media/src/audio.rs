//! Audio in and out: decoding any common format to mono samples, writing WAV, and telling speech
//! from silence, noise and tones.
//!
//! Decoding probes the file with ffprobe first, so files without audio, unreadable files and
//! files over the size and length limits are refused before any decoding work; ffmpeg then
//! decodes the first audio stream to 32-bit float mono at the requested rate through a pipe,
//! with the output capped at the length limit (a file can lie about its duration).
//!
//! Speech detection ([`speech_ratio`]) works on 20 ms frames. A frame looks voiced when it is
//! (1) clearly louder than the recording's own noise floor, so a steady hum or hiss never
//! counts however loud it is, (2) not noise-like (low spectral flatness in the 100-4000 Hz
//! band, which rejects hiss and fricatives), and (3) not a single pure tone (its energy is not
//! concentrated in one spectral peak, which rejects beeps and test tones). Voiced speech meets
//! all three: it rises and falls with syllables and has several harmonics shaped by formants.

use std::ffi::OsString;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use realfft::{RealFftPlanner, RealToComplex};
use reelsmith_core::{Code, ErrorCode, Limits};

use crate::process::{Output, Process, ProcessError, FFMPEG};

/// Mono audio with samples in -1..1.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AudioBuffer {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

impl AudioBuffer {
    /// Length in seconds.
    pub fn duration(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / self.sample_rate as f64
    }

    /// The part of the audio from sample `start` to sample `end` (clamped to the buffer).
    pub fn slice(&self, start: usize, end: usize) -> AudioBuffer {
        let end = end.min(self.samples.len());
        let start = start.min(end);
        AudioBuffer {
            samples: self.samples[start..end].to_vec(),
            sample_rate: self.sample_rate,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("the audio file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the audio is {seconds:.0} s long, over the limit of {limit:.0} s")]
    TooLong { seconds: f64, limit: f64 },
    #[error("the file could not be read as audio: {0}")]
    Unreadable(String),
    #[error("the file has no audio stream")]
    NoAudioStream,
    #[error("the file's format ({0}) is not an accepted audio format")]
    UnsupportedFormat(String),
    #[error("the requested sample rate {0} Hz is outside 8000-192000 Hz")]
    InvalidSampleRate(u32),
    #[error(transparent)]
    Process(#[from] ProcessError),
}

impl ErrorCode for AudioError {
    fn code(&self) -> Code {
        match self {
            AudioError::TooLarge { .. } => Code::AudioTooLarge,
            AudioError::TooLong { .. } => Code::AudioTooLong,
            AudioError::Unreadable(_) => Code::AudioUnreadable,
            AudioError::NoAudioStream => Code::AudioNoAudioStream,
            AudioError::UnsupportedFormat(_) => Code::AudioUnsupportedFormat,
            AudioError::InvalidSampleRate(_) => Code::AudioInvalidSampleRate,
            AudioError::Process(e) => e.code(),
        }
    }

    fn is_client_error(&self) -> bool {
        !matches!(
            self,
            AudioError::Process(_) | AudioError::InvalidSampleRate(_)
        )
    }
}

/// Containers and raw formats we decode (ffprobe's `format_name`, which lists a demuxer's
/// aliases separated by commas). Playlists and other formats that make ffmpeg open further
/// files or URLs (hls, concat, ...) are deliberately absent.
const ACCEPTED_FORMATS: &[&str] = &[
    "wav", "w64", "mp3", "ogg", "flac", "mov", "mp4", "m4a", "3gp", "matroska", "webm", "aac",
    "aiff", "au", "caf", "amr", "wv",
];

/// Decodes the first audio stream of `path` to mono at `sample_rate`, after checking it against
/// `limits` (file size, duration).
pub fn decode_audio(
    path: &Path,
    sample_rate: u32,
    limits: &Limits,
) -> Result<AudioBuffer, AudioError> {
    if !(8_000..=192_000).contains(&sample_rate) {
        return Err(AudioError::InvalidSampleRate(sample_rate));
    }
    check_file(path, limits)?;
    let probe = probe(path, limits)?;
    if let Some(seconds) = probe.duration {
        if seconds > limits.max_media_seconds {
            return Err(AudioError::TooLong {
                seconds,
                limit: limits.max_media_seconds,
            });
        }
    }
    let samples = decode_samples(path, sample_rate, limits)?;
    Ok(AudioBuffer {
        samples,
        sample_rate,
    })
}

/// Checks that `path` holds audio within `limits` (file size, an accepted container with an
/// audio stream, duration) without decoding it; returns its duration when the container tells.
pub fn check_audio(path: &Path, limits: &Limits) -> Result<Option<f64>, AudioError> {
    check_file(path, limits)?;
    let probe = probe(path, limits)?;
    if let Some(seconds) = probe.duration {
        if seconds > limits.max_media_seconds {
            return Err(AudioError::TooLong {
                seconds,
                limit: limits.max_media_seconds,
            });
        }
    }
    Ok(probe.duration)
}

fn check_file(path: &Path, limits: &Limits) -> Result<(), AudioError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| AudioError::Unreadable(format!("{}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(AudioError::Unreadable(format!(
            "{} is not a file",
            path.display()
        )));
    }
    if meta.len() > limits.max_file_bytes {
        return Err(AudioError::TooLarge {
            limit: limits.max_file_bytes,
        });
    }
    Ok(())
}

/// ffmpeg's name for a local file: the `file:` prefix stops a name like `http://x` or
/// `concat:a|b` (or one starting with `-`) from meaning anything but a file.
fn input_name(path: &Path) -> OsString {
    let mut name = OsString::from("file:");
    name.push(path.as_os_str());
    name
}

/// What we need from ffprobe's report.
struct Probe {
    duration: Option<f64>,
}

fn probe(path: &Path, limits: &Limits) -> Result<Probe, AudioError> {
    let json = match crate::probe::report(path, None, limits) {
        Ok(json) => json,
        Err(ProcessError::Failed { stderr, .. }) => return Err(AudioError::Unreadable(stderr)),
        Err(e) => return Err(e.into()),
    };
    parse_probe(&json)
}

fn parse_probe(json: &[u8]) -> Result<Probe, AudioError> {
    let report: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| AudioError::Unreadable(format!("ffprobe's report: {e}")))?;
    let format_name = report["format"]["format_name"].as_str().unwrap_or("");
    if !format_name
        .split(',')
        .any(|name| ACCEPTED_FORMATS.contains(&name))
    {
        return Err(AudioError::UnsupportedFormat(format_name.to_string()));
    }
    let streams = report["streams"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let audio: Vec<&serde_json::Value> = streams
        .iter()
        .filter(|s| s["codec_type"] == "audio")
        .collect();
    if audio.is_empty() {
        return Err(AudioError::NoAudioStream);
    }
    let seconds =
        |v: &serde_json::Value| v["duration"].as_str().and_then(|d| d.parse::<f64>().ok());
    let duration = seconds(&report["format"])
        .into_iter()
        .chain(audio.iter().filter_map(|s| seconds(s)))
        .filter(|d| d.is_finite())
        .reduce(f64::max);
    Ok(Probe { duration })
}

fn decode_samples(path: &Path, sample_rate: u32, limits: &Limits) -> Result<Vec<f32>, AudioError> {
    let rate = sample_rate.to_string();
    let args: Vec<OsString> = [
        "-nostdin",
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-i",
    ]
    .iter()
    .map(OsString::from)
    .chain([input_name(path)])
    .chain(
        [
            "-map", "0:a:0", "-vn", "-sn", "-dn", "-f", "f32le", "-ac", "1", "-ar", &rate, "-",
        ]
        .iter()
        .map(OsString::from),
    )
    .collect();
    let timeout = Duration::from_secs(limits.process_timeout_seconds.max(1));
    let mut process = Process::spawn(FFMPEG, args, false, Output::Piped, timeout)?;
    let stdout = process
        .take_stdout()
        .ok_or_else(|| AudioError::Unreadable("ffmpeg's output is not piped".into()))?;
    // Half a second of slack over the limit: the container's duration may be rounded.
    let max_samples = ((limits.max_media_seconds + 0.5) * sample_rate as f64) as u64;
    let max_bytes = max_samples * 4;
    let mut bytes = Vec::new();
    let read = stdout.take(max_bytes + 4).read_to_end(&mut bytes);
    if bytes.len() as u64 > max_bytes {
        return Err(AudioError::TooLong {
            seconds: bytes.len() as f64 / 4.0 / sample_rate as f64,
            limit: limits.max_media_seconds,
        });
    }
    match process.wait() {
        Ok(()) => {}
        Err(ProcessError::Failed { stderr, .. }) => return Err(AudioError::Unreadable(stderr)),
        Err(e) => return Err(e.into()),
    }
    read.map_err(|source| ProcessError::Io {
        program: FFMPEG.program,
        source,
    })?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| sanitize(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect())
}

/// Float formats can carry NaN or values past full scale; the rest of the engine assumes -1..1.
fn sanitize(sample: f32) -> f32 {
    if sample.is_finite() {
        sample.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Writes `audio` as a 16-bit PCM mono WAV file.
pub fn write_wav(path: &Path, audio: &AudioBuffer) -> std::io::Result<()> {
    let data_len = u32::try_from(audio.samples.len() * 2)
        .ok()
        .filter(|&n| n <= u32::MAX - 36)
        .ok_or_else(|| std::io::Error::other("audio too long for a WAV file"))?;
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    out.write_all(b"RIFF")?;
    out.write_all(&(36 + data_len).to_le_bytes())?;
    out.write_all(b"WAVEfmt ")?;
    out.write_all(&16u32.to_le_bytes())?; // fmt chunk size
    out.write_all(&1u16.to_le_bytes())?; // PCM
    out.write_all(&1u16.to_le_bytes())?; // mono
    out.write_all(&audio.sample_rate.to_le_bytes())?;
    out.write_all(&(audio.sample_rate * 2).to_le_bytes())?; // bytes per second
    out.write_all(&2u16.to_le_bytes())?; // block align
    out.write_all(&16u16.to_le_bytes())?; // bits per sample
    out.write_all(b"data")?;
    out.write_all(&data_len.to_le_bytes())?;
    for &sample in &audio.samples {
        let value = (sanitize(sample) * 32_767.0).round() as i16;
        out.write_all(&value.to_le_bytes())?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// Length of one analysis frame for speech detection.
const VOICE_FRAME_SECONDS: f64 = 0.020;
/// Frames below this RMS (about −50 dBFS) are silence whatever the floor.
const ABSOLUTE_FLOOR: f32 = 0.003;
/// A voiced frame is at least this many times louder (RMS) than the recording's noise floor.
const ABOVE_FLOOR: f32 = 2.5;
/// The quantile of frame loudness taken as the noise floor: speech always has pauses.
const FLOOR_QUANTILE: f64 = 0.10;
/// Spectral flatness above this is noise-like (white noise is about 0.56, vowels below 0.2).
const MAX_FLATNESS: f32 = 0.35;
/// Share of band energy in one spectral peak above which a frame is a pure tone.
const MAX_PEAK_SHARE: f32 = 0.85;
/// The band speech's voiced energy lives in.
const BAND_HZ: (f64, f64) = (100.0, 4_000.0);

/// The share (0..1) of 20 ms frames that look like voiced speech; see the module doc.
pub fn speech_ratio(audio: &AudioBuffer) -> f64 {
    let voiced = voiced_frames(audio);
    if voiced.is_empty() {
        return 0.0;
    }
    voiced.iter().filter(|&&v| v).count() as f64 / voiced.len() as f64
}

/// Seconds of voiced speech in `audio`.
pub fn voiced_seconds(audio: &AudioBuffer) -> f64 {
    voiced_frames(audio).iter().filter(|&&v| v).count() as f64 * VOICE_FRAME_SECONDS
}

/// For each 20 ms frame, whether it looks like voiced speech.
pub fn voiced_frames(audio: &AudioBuffer) -> Vec<bool> {
    let frame = (audio.sample_rate as f64 * VOICE_FRAME_SECONDS) as usize;
    if frame < 16 || audio.samples.len() < frame {
        return Vec::new();
    }
    let frames: Vec<&[f32]> = audio.samples.chunks_exact(frame).collect();
    let loudness: Vec<f32> = frames.iter().map(|f| rms(f)).collect();
    let floor = quantile(&loudness, FLOOR_QUANTILE);
    let gate = ABSOLUTE_FLOOR.max(floor * ABOVE_FLOOR);
    let mut analyser = SpectrumAnalyser::new(frame, audio.sample_rate);
    frames
        .iter()
        .zip(&loudness)
        .map(|(samples, &level)| level > gate && analyser.looks_voiced(samples))
        .collect()
}

fn rms(frame: &[f32]) -> f32 {
    if frame.is_empty() {
        return 0.0;
    }
    (frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32).sqrt()
}

fn quantile(values: &[f32], q: f64) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Per-frame spectral shape tests, reusing one FFT plan and its buffers.
struct SpectrumAnalyser {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    input: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    band: std::ops::Range<usize>,
}

impl SpectrumAnalyser {
    fn new(frame: usize, sample_rate: u32) -> Self {
        let size = frame.next_power_of_two();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(size);
        let bin_hz = sample_rate as f64 / size as f64;
        let nyquist_bin = size / 2;
        let low = ((BAND_HZ.0 / bin_hz).ceil() as usize).min(nyquist_bin);
        let high = ((BAND_HZ.1 / bin_hz).floor() as usize).min(nyquist_bin);
        SpectrumAnalyser {
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            window: hann(frame),
            fft,
            band: low..high.max(low + 1).min(nyquist_bin + 1),
        }
    }

    fn looks_voiced(&mut self, frame: &[f32]) -> bool {
        self.input.fill(0.0);
        for ((slot, &s), &w) in self.input.iter_mut().zip(frame).zip(&self.window) {
            *slot = s * w;
        }
        if self
            .fft
            .process(&mut self.input, &mut self.spectrum)
            .is_err()
        {
            return false;
        }
        let power: Vec<f32> = self.spectrum[self.band.clone()]
            .iter()
            .map(|c| c.norm_sqr() + 1e-12)
            .collect();
        flatness(&power) < MAX_FLATNESS && peak_share(&power) < MAX_PEAK_SHARE
    }
}

pub(crate) fn hann(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let phase = 2.0 * std::f64::consts::PI * i as f64 / len.max(2) as f64;
            (0.5 - 0.5 * phase.cos()) as f32
        })
        .collect()
}

/// Geometric over arithmetic mean of the power spectrum: near 1 for noise, near 0 for peaks.
fn flatness(power: &[f32]) -> f32 {
    let n = power.len() as f64;
    let log_mean = power.iter().map(|&p| (p as f64).ln()).sum::<f64>() / n;
    let mean = power.iter().map(|&p| p as f64).sum::<f64>() / n;
    (log_mean.exp() / mean) as f32
}

/// The share of the band's energy within two bins of its strongest bin (a Hann window spreads
/// a pure tone over at most that).
fn peak_share(power: &[f32]) -> f32 {
    let total: f32 = power.iter().sum();
    let Some((peak, _)) = power.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
        return 0.0;
    };
    let around = &power[peak.saturating_sub(2)..(peak + 3).min(power.len())];
    around.iter().sum::<f32>() / total
}

/// The sample range `[start, end)` that holds sound, with leading and trailing silence removed
/// (a frame is silent below 3% of the loudest 10 ms frame's RMS, or the noise floor). Returns
/// an empty range at 0 for a silent buffer.
pub fn sound_bounds(audio: &AudioBuffer) -> (usize, usize) {
    let frame = ((audio.sample_rate as f64 * 0.010) as usize).max(1);
    let loudness: Vec<f32> = audio.samples.chunks(frame).map(rms).collect();
    let loudest = loudness.iter().copied().fold(0.0f32, f32::max);
    let floor = quantile(&loudness, 0.05);
    let threshold = (loudest * 0.03).max(floor * ABOVE_FLOOR).max(1e-4);
    let first = loudness.iter().position(|&l| l > threshold);
    let last = loudness.iter().rposition(|&l| l > threshold);
    match (first, last) {
        (Some(first), Some(last)) => (first * frame, ((last + 1) * frame).min(audio.samples.len())),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, seconds: f32, rate: u32, amplitude: f32) -> AudioBuffer {
        let n = (seconds * rate as f32) as usize;
        AudioBuffer {
            samples: (0..n)
                .map(|i| {
                    amplitude * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin()
                })
                .collect(),
            sample_rate: rate,
        }
    }

    #[test]
    fn a_tone_is_not_speech_even_when_it_beeps() {
        let mut beeps = tone(440.0, 1.0, 16_000, 0.5);
        beeps.samples.extend(vec![0.0; 16_000]);
        beeps.samples.extend(tone(1000.0, 1.0, 16_000, 0.5).samples);
        assert!(speech_ratio(&beeps) < 0.02, "{}", speech_ratio(&beeps));
    }

    #[test]
    fn flatness_separates_peaks_from_flat_spectra() {
        assert!(flatness(&[1.0; 64]) > 0.99);
        let mut peaky = vec![1e-6f32; 64];
        peaky[10] = 1.0;
        peaky[20] = 1.0;
        assert!(flatness(&peaky) < 0.01);
    }

    #[test]
    fn sound_bounds_trim_silence() {
        let mut audio = AudioBuffer {
            samples: vec![0.0; 8_000],
            sample_rate: 16_000,
        };
        audio.samples.extend(tone(300.0, 1.0, 16_000, 0.3).samples);
        audio.samples.extend(vec![0.0; 4_000]);
        let (start, end) = sound_bounds(&audio);
        assert_eq!(start, 8_000);
        assert_eq!(end, 24_000);
    }

    #[test]
    fn probe_reports_are_checked() {
        let no_audio = br#"{"streams":[{"codec_type":"video"}],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"3.0"}}"#;
        assert_eq!(
            parse_probe(no_audio).err().unwrap().code(),
            "audio.no_audio_stream"
        );
        let playlist = br#"{"streams":[{"codec_type":"audio"}],"format":{"format_name":"hls"}}"#;
        assert_eq!(
            parse_probe(playlist).err().unwrap().code(),
            "audio.unsupported_format"
        );
        let ok = br#"{"streams":[{"codec_type":"audio","duration":"2.5"}],"format":{"format_name":"ogg","duration":"2.4"}}"#;
        assert_eq!(parse_probe(ok).unwrap().duration, Some(2.5));
    }
}

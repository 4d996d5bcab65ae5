//! Encoding: composed frames stream into ffmpeg through a pipe (no frame files on disk) and come
//! out as H.264 (yuv420p, BT.709) with AAC audio in an MP4 whose index sits at the front
//! (`+faststart`), so players and HTTP range requests can start before the whole file arrives.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ChildStdin;
use std::time::Duration;

use reelsmith_core::{ErrorCode, FrameSize};
use serde::{Deserialize, Serialize};

use crate::frame::Yuv420Frame;
use crate::process::{Output, Process, ProcessError, FFMPEG};

pub use reelsmith_core::X264_PRESETS;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncodeSettings {
    /// x264 preset: speed against compression. `veryfast` keeps a CPU-only machine quick.
    pub preset: String,
    /// x264 constant rate factor: lower is better quality and larger files.
    pub crf: u8,
    pub audio_bitrate_kbps: u32,
}

impl Default for EncodeSettings {
    fn default() -> Self {
        EncodeSettings {
            preset: "veryfast".into(),
            crf: 21,
            audio_bitrate_kbps: 160,
        }
    }
}

impl EncodeSettings {
    pub fn validate(&self) -> Result<(), EncodeError> {
        if !X264_PRESETS.contains(&self.preset.as_str()) {
            return Err(EncodeError::UnknownPreset(self.preset.clone()));
        }
        if self.crf > 51 {
            return Err(EncodeError::BadCrf(self.crf));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("`{0}` is not an x264 preset")]
    UnknownPreset(String),
    #[error("crf must be 0 to 51, not {0}")]
    BadCrf(u8),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("the encoder stopped taking frames: {0}")]
    Pipe(std::io::Error),
}

impl ErrorCode for EncodeError {
    fn code(&self) -> &'static str {
        match self {
            EncodeError::UnknownPreset(_) => "encode.unknown_preset",
            EncodeError::BadCrf(_) => "encode.bad_crf",
            EncodeError::Process(e) => e.code(),
            EncodeError::Pipe(_) => "encode.pipe",
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(self, EncodeError::UnknownPreset(_) | EncodeError::BadCrf(_))
    }
}

/// A running encode. Frames go in with [`Encoder::write_frame`]; [`Encoder::finish`] closes the
/// pipe and waits. Dropping an unfinished encoder kills ffmpeg.
pub struct Encoder {
    process: Option<Process>,
    stdin: Option<ChildStdin>,
    frame_len: usize,
    frames: u64,
}

impl Encoder {
    /// Starts ffmpeg writing `out` (which should be a temporary path; see `workdir::PendingFile`).
    /// `audio` is a WAV file as long as the video.
    pub fn start(
        out: &Path,
        size: FrameSize,
        fps: u32,
        audio: Option<&Path>,
        settings: &EncodeSettings,
        timeout: Duration,
    ) -> Result<Encoder, EncodeError> {
        settings.validate()?;
        let args = encoder_args(out, size, fps, audio, settings);
        let mut process = Process::spawn(FFMPEG, &args, true, Output::Null, timeout)?;
        let stdin = process.take_stdin().expect("stdin is piped");
        Ok(Encoder {
            process: Some(process),
            stdin: Some(stdin),
            frame_len: size.yuv420p_len(),
            frames: 0,
        })
    }

    pub fn write_frame(&mut self, frame: &Yuv420Frame) -> Result<(), EncodeError> {
        debug_assert_eq!(frame.as_bytes().len(), self.frame_len);
        let stdin = self.stdin.as_mut().ok_or_else(|| {
            EncodeError::Pipe(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        })?;
        if let Err(pipe_error) = stdin.write_all(frame.as_bytes()) {
            // A broken pipe means ffmpeg died: its own message says why, so prefer it.
            self.stdin = None;
            return Err(match self.process.take().map(Process::wait) {
                Some(Err(process_error)) => EncodeError::Process(process_error),
                _ => EncodeError::Pipe(pipe_error),
            });
        }
        self.frames += 1;
        Ok(())
    }

    pub fn frames_written(&self) -> u64 {
        self.frames
    }

    /// Closes the pipe and waits for ffmpeg to write the file.
    pub fn finish(mut self) -> Result<(), EncodeError> {
        drop(self.stdin.take());
        match self.process.take() {
            Some(process) => Ok(process.wait()?),
            None => Err(EncodeError::Pipe(std::io::ErrorKind::BrokenPipe.into())),
        }
    }
}

fn encoder_args(
    out: &Path,
    size: FrameSize,
    fps: u32,
    audio: Option<&Path>,
    settings: &EncodeSettings,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-hide_banner", "-loglevel", "error", "-y"]);
    push(&["-f", "rawvideo", "-pix_fmt", "yuv420p"]);
    push(&["-s", &format!("{}x{}", size.width, size.height)]);
    push(&["-r", &fps.to_string(), "-i", "pipe:0"]);
    if let Some(audio) = audio {
        args.push("-i".into());
        let mut file = OsString::from("file:");
        file.push(audio);
        args.push(file);
    }
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-map", "0:v:0"]);
    if audio.is_some() {
        push(&["-map", "1:a:0"]);
    }
    push(&[
        "-c:v",
        "libx264",
        "-preset",
        &settings.preset,
        "-crf",
        &settings.crf.to_string(),
        "-pix_fmt",
        "yuv420p",
        "-colorspace",
        "bt709",
        "-color_primaries",
        "bt709",
        "-color_trc",
        "bt709",
        "-color_range",
        "tv",
    ]);
    if audio.is_some() {
        push(&[
            "-c:a",
            "aac",
            "-b:a",
            &format!("{}k", settings.audio_bitrate_kbps),
            "-ar",
            "48000",
        ]);
    }
    push(&["-movflags", "+faststart", "-f", "mp4"]);
    let mut target = OsString::from("file:");
    target.push(out);
    args.push(target);
    args
}

/// Writes a JPEG poster of the video at `at_seconds`.
pub fn write_poster(video: &Path, at_seconds: f64, poster: &Path) -> Result<(), EncodeError> {
    let mut input = OsString::from("file:");
    input.push(video);
    let mut output = OsString::from("file:");
    output.push(poster);
    let args: Vec<OsString> = vec![
        "-hide_banner".into(),
        "-loglevel".into(),
        "error".into(),
        "-y".into(),
        "-ss".into(),
        format!("{:.3}", at_seconds.max(0.0)).into(),
        "-i".into(),
        input,
        "-frames:v".into(),
        "1".into(),
        "-q:v".into(),
        "3".into(),
        "-update".into(),
        "1".into(),
        "-f".into(),
        "image2".into(),
        output,
    ];
    Process::spawn(FFMPEG, &args, false, Output::Null, Duration::from_secs(60))?.wait()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::probe;

    #[test]
    fn encodes_frames_to_h264_at_the_requested_size_and_rate() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.mp4");
        let size = FrameSize::new(320, 180);
        let mut encoder = Encoder::start(
            &out,
            size,
            25,
            None,
            &EncodeSettings::default(),
            Duration::from_secs(60),
        )
        .unwrap();
        let mut frame = Yuv420Frame::black(size);
        for i in 0..50u8 {
            frame.planes_mut().0.fill(16 + i * 4);
            encoder.write_frame(&frame).unwrap();
        }
        encoder.finish().unwrap();
        let info = probe(&out).unwrap();
        let video = info.video().unwrap();
        assert_eq!(video.codec, "h264");
        assert_eq!((video.width, video.height), (Some(320), Some(180)));
        assert_eq!(video.frame_rate, Some(25.0));
        assert!((info.best_duration().unwrap() - 2.0).abs() < 0.05);

        let poster = dir.path().join("poster.jpg");
        write_poster(&out, 1.0, &poster).unwrap();
        assert_eq!(&std::fs::read(&poster).unwrap()[..2], &[0xFF, 0xD8]);
    }

    #[test]
    fn unknown_presets_are_refused_before_starting() {
        let settings = EncodeSettings {
            preset: "warp-speed".into(),
            ..EncodeSettings::default()
        };
        let err = Encoder::start(
            Path::new("/nonexistent/x.mp4"),
            FrameSize::new(64, 64),
            30,
            None,
            &settings,
            Duration::from_secs(5),
        )
        .err()
        .unwrap();
        assert_eq!(err.code(), "encode.unknown_preset");
    }
}

//! Encoding: composed frames stream into ffmpeg through a pipe (no frame files on disk) and come
//! out as H.264 (yuv420p, BT.709) with AAC audio in an MP4 whose index sits at the front
//! (`+faststart`), so players and HTTP range requests can start before the whole file arrives.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ChildStdin;
use std::time::Duration;

use reelsmith_core::{Code, ErrorCode, FrameSize};
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
    /// x264 frame threads; 0 means one per core, at most [`MAX_AUTO_THREADS`]. Each frame thread
    /// holds frames of its own, so at 1080p every thread costs memory as well as giving speed.
    pub threads: u32,
    /// Frames x264 looks ahead for rate control and frame types (`rc-lookahead`). Every frame of
    /// lookahead is a full frame plus its analysis planes held in memory (about 12 MB at 1080p);
    /// `veryfast` uses 10 on its own, slower presets up to 60, which at 1080p would hold
    /// hundreds of megabytes.
    pub lookahead: u32,
}

/// The most x264 frame threads chosen automatically: beyond this, more cores give little
/// speed at 720p and 1080p, while each thread adds frames held in memory.
pub const MAX_AUTO_THREADS: u32 = 4;
/// x264's own upper bound for `rc-lookahead`.
const MAX_LOOKAHEAD: u32 = 250;

impl Default for EncodeSettings {
    fn default() -> Self {
        EncodeSettings {
            preset: "veryfast".into(),
            crf: 21,
            audio_bitrate_kbps: 160,
            threads: 0,
            lookahead: 10,
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
        if self.lookahead > MAX_LOOKAHEAD {
            return Err(EncodeError::BadLookahead(self.lookahead));
        }
        if self.threads > 64 {
            return Err(EncodeError::BadThreads(self.threads));
        }
        Ok(())
    }

    /// The frame threads x264 will run with.
    pub fn effective_threads(&self) -> u32 {
        if self.threads > 0 {
            return self.threads;
        }
        std::thread::available_parallelism()
            .map_or(1, |n| n.get() as u32)
            .clamp(1, MAX_AUTO_THREADS)
    }

    /// ffmpeg output options selecting x264 with these settings. The engine's encoder uses them,
    /// and so do the benchmark's floor and zoompan runs, so every encode compared is the same
    /// x264 configuration.
    ///
    /// `sync-lookahead=0` runs x264's lookahead on the calling thread instead of a thread of its
    /// own with a buffer of frames in front of it: at 1080p on two cores that buffer was about
    /// 50 MB of the encoder's peak memory for no measurable speed (docs/decisions.md).
    pub fn x264_args(&self) -> Vec<String> {
        vec![
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            self.preset.clone(),
            "-crf".into(),
            self.crf.to_string(),
            "-threads".into(),
            self.effective_threads().to_string(),
            "-x264-params".into(),
            format!("rc-lookahead={}:sync-lookahead=0", self.lookahead),
        ]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("`{0}` is not an x264 preset")]
    UnknownPreset(String),
    #[error("crf must be 0 to 51, not {0}")]
    BadCrf(u8),
    #[error("x264 lookahead must be 0 to 250 frames, not {0}")]
    BadLookahead(u32),
    #[error("x264 threads must be 0 (automatic) to 64, not {0}")]
    BadThreads(u32),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("the encoder stopped taking frames: {0}")]
    Pipe(std::io::Error),
}

impl ErrorCode for EncodeError {
    fn code(&self) -> Code {
        match self {
            EncodeError::UnknownPreset(_) => Code::EncodeUnknownPreset,
            EncodeError::BadCrf(_) => Code::EncodeBadCrf,
            EncodeError::BadLookahead(_) => Code::EncodeBadLookahead,
            EncodeError::BadThreads(_) => Code::EncodeBadThreads,
            EncodeError::Process(e) => e.code(),
            EncodeError::Pipe(_) => Code::EncodePipe,
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(
            self,
            EncodeError::UnknownPreset(_)
                | EncodeError::BadCrf(_)
                | EncodeError::BadLookahead(_)
                | EncodeError::BadThreads(_)
        )
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
        let stdin = process
            .take_stdin()
            .ok_or_else(|| EncodeError::Pipe(std::io::ErrorKind::BrokenPipe.into()))?;
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

/// An [`Encoder`] fed from a thread of its own, so that composing frame N+1 overlaps with
/// copying frame N into the pipe and with ffmpeg's wait for x264 (which stalls its reading of
/// the pipe whenever all of x264's frame threads are busy). At most `depth` frames wait in the
/// queue; their buffers come back through [`PipelinedEncoder::buffer`] and are reused, so the
/// pipeline holds a fixed number of frames and allocates nothing per frame once warmed up.
///
/// The writer thread only moves bytes: the frames and their order are exactly what was
/// submitted, so the output is the same as with [`Encoder::write_frame`] on the caller's thread.
pub struct PipelinedEncoder {
    size: FrameSize,
    queue: Option<std::sync::mpsc::SyncSender<Yuv420Frame>>,
    spare: std::sync::mpsc::Receiver<Yuv420Frame>,
    writer: Option<std::thread::JoinHandle<Result<Encoder, EncodeError>>>,
    /// Set when dropped unfinished, so the writer stops instead of draining the queue.
    abandon: std::sync::Arc<std::sync::atomic::AtomicBool>,
    frames: u64,
}

impl PipelinedEncoder {
    /// Moves `encoder` onto a writer thread with room for `depth` (at least 1) queued frames.
    pub fn new(encoder: Encoder, size: FrameSize, depth: usize) -> PipelinedEncoder {
        use std::sync::atomic::Ordering;
        let (queue, frames) = std::sync::mpsc::sync_channel::<Yuv420Frame>(depth.max(1));
        let (give_back, spare) = std::sync::mpsc::channel();
        let abandon = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = abandon.clone();
        let writer = std::thread::Builder::new()
            .name("reelsmith-encode".into())
            .spawn(move || {
                let mut encoder = encoder;
                for frame in frames {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    encoder.write_frame(&frame)?;
                    // The composing side may already have finished and stopped taking buffers.
                    give_back.send(frame).ok();
                }
                Ok(encoder)
            })
            // Without a writer (the system is out of threads) the queue has no reader, so the
            // first frame and `finish` fail as a broken pipe: a failed render, not a panic.
            .ok();
        PipelinedEncoder {
            size,
            queue: Some(queue),
            spare,
            writer,
            abandon,
            frames: 0,
        }
    }

    /// A frame buffer to compose the next frame into: one the writer has finished with when
    /// there is one, or a new one. Its previous contents are unspecified.
    pub fn buffer(&mut self) -> Yuv420Frame {
        self.spare
            .try_recv()
            .unwrap_or_else(|_| Yuv420Frame::black(self.size))
    }

    /// Queues a frame, waiting while the queue is full. If the writer has failed, its error.
    pub fn submit(&mut self, frame: Yuv420Frame) -> Result<(), EncodeError> {
        let sent = match &self.queue {
            Some(queue) => queue.send(frame).is_ok(),
            None => false,
        };
        if !sent {
            self.queue = None;
            return Err(self
                .join_writer()
                .err()
                .unwrap_or_else(|| EncodeError::Pipe(std::io::ErrorKind::BrokenPipe.into())));
        }
        self.frames += 1;
        Ok(())
    }

    pub fn frames_submitted(&self) -> u64 {
        self.frames
    }

    /// Writes every queued frame, closes the pipe and waits for ffmpeg to write the file.
    pub fn finish(mut self) -> Result<(), EncodeError> {
        self.queue = None;
        self.join_writer()?.finish()
    }

    fn join_writer(&mut self) -> Result<Encoder, EncodeError> {
        match self.writer.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(EncodeError::Pipe(std::io::ErrorKind::BrokenPipe.into())),
        }
    }
}

impl Drop for PipelinedEncoder {
    /// Unfinished (an error or a cancel elsewhere): stop the writer and kill ffmpeg, which
    /// dropping the [`Encoder`] it returns does.
    fn drop(&mut self) {
        self.abandon
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.queue = None;
        if let Some(writer) = self.writer.take() {
            writer.join().ok();
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
    args.extend(settings.x264_args().into_iter().map(OsString::from));
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&[
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

    /// Frames whose every byte differs from frame to frame, so any reordering, loss or mix-up
    /// of buffers changes the decoded output.
    fn numbered_frame(size: FrameSize, i: u32) -> Yuv420Frame {
        let mut frame = Yuv420Frame::black(size);
        let (y, u, v) = frame.planes_mut();
        for (k, p) in y.iter_mut().enumerate() {
            *p = (16 + (k as u32 * 7 + i * 13) % 200) as u8;
        }
        u.fill((60 + i * 3) as u8);
        v.fill((200 - i * 2) as u8);
        frame
    }

    fn decode_raw(video: &Path) -> Vec<u8> {
        let out = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-i"])
            .arg(video)
            .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    }

    #[test]
    fn the_pipelined_encoder_writes_the_same_video_as_the_direct_one() {
        let dir = tempfile::tempdir().unwrap();
        let size = FrameSize::new(160, 96);
        let settings = EncodeSettings::default();
        let start = |name: &str| {
            Encoder::start(
                &dir.path().join(name),
                size,
                25,
                None,
                &settings,
                Duration::from_secs(60),
            )
            .unwrap()
        };
        let mut direct = start("direct.mp4");
        for i in 0..40 {
            direct.write_frame(&numbered_frame(size, i)).unwrap();
        }
        direct.finish().unwrap();

        let mut piped = PipelinedEncoder::new(start("piped.mp4"), size, 2);
        for i in 0..40 {
            // Recycled buffers are overwritten completely, as the compositor does.
            let mut frame = piped.buffer();
            frame.clone_from(&numbered_frame(size, i));
            piped.submit(frame).unwrap();
        }
        assert_eq!(piped.frames_submitted(), 40);
        piped.finish().unwrap();

        let (a, b) = (
            decode_raw(&dir.path().join("direct.mp4")),
            decode_raw(&dir.path().join("piped.mp4")),
        );
        assert_eq!(a.len(), size.yuv420p_len() * 40);
        assert!(a == b, "the decoded frames differ");
    }

    #[test]
    fn a_dead_encoder_is_reported_by_the_pipeline() {
        let dir = tempfile::tempdir().unwrap();
        // A folder that does not exist: ffmpeg fails to open its output and exits.
        let out = dir.path().join("missing").join("out.mp4");
        let size = FrameSize::new(64, 64);
        let encoder = Encoder::start(
            &out,
            size,
            25,
            None,
            &EncodeSettings::default(),
            Duration::from_secs(60),
        )
        .unwrap();
        let mut piped = PipelinedEncoder::new(encoder, size, 1);
        let mut failure = None;
        for _ in 0..10_000 {
            let frame = piped.buffer();
            if let Err(e) = piped.submit(frame) {
                failure = Some(e);
                break;
            }
        }
        let failure = failure.expect("the pipeline notices that ffmpeg is gone");
        assert!(
            ["engine.process_failed", "encode.pipe"].contains(&failure.code().as_str()),
            "{}",
            failure.code()
        );
    }

    #[test]
    fn encoder_memory_settings_are_checked_and_passed_to_x264() {
        let settings = EncodeSettings {
            threads: 2,
            lookahead: 12,
            ..EncodeSettings::default()
        };
        let args = settings.x264_args().join(" ");
        assert!(args.contains("-threads 2"), "{args}");
        assert!(args.contains("rc-lookahead=12:sync-lookahead=0"), "{args}");
        let auto = EncodeSettings::default().effective_threads();
        assert!((1..=MAX_AUTO_THREADS).contains(&auto));
        for (bad, code) in [
            (
                EncodeSettings {
                    lookahead: 251,
                    ..EncodeSettings::default()
                },
                "encode.bad_lookahead",
            ),
            (
                EncodeSettings {
                    threads: 65,
                    ..EncodeSettings::default()
                },
                "encode.bad_threads",
            ),
        ] {
            assert_eq!(bad.validate().unwrap_err().code(), code);
        }
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

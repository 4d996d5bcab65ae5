//! Joining video clips end to end into one: the shots a provider made for one scene become the
//! scene's single clip. Runs through the process runner like every other ffmpeg, so it has a
//! deadline, a permit from the concurrency cap and its standard error in the failure.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reelsmith_core::Limits;

use crate::encode::EncodeSettings;
use crate::process::{Output, Process, ProcessError, FFMPEG};

/// The joined clip is material the compositor decodes and encodes again, so it is kept close to
/// lossless: the final encode's `crf` applies once, to the finished video.
const INTERMEDIATE_CRF: &str = "18";

/// Writes `clips`, in order, as one H.264 video without sound at `out`, using `list` for
/// ffmpeg's concat listing. The operator's x264 preset sets the speed.
pub fn join_clips(
    clips: &[PathBuf],
    list: &Path,
    out: &Path,
    encode: &EncodeSettings,
    limits: &Limits,
) -> Result<(), ProcessError> {
    let listing: String = clips
        .iter()
        .map(|c| format!("file '{}'\n", c.display()))
        .collect();
    std::fs::write(list, listing).map_err(|source| ProcessError::Io {
        program: FFMPEG.program,
        source,
    })?;
    let mut args: Vec<std::ffi::OsString> = [
        "-v",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "concat",
        "-safe",
        "0",
        // The list is ours, but the clips in it came from a provider: each may only be opened
        // as a video container from a local file, never as a playlist that names other files.
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        "concat,mov,matroska",
        "-i",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.push(list.as_os_str().to_owned());
    args.extend(
        [
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            encode.preset.as_str(),
            "-crf",
            INTERMEDIATE_CRF,
            "-pix_fmt",
            "yuv420p",
        ]
        .iter()
        .map(Into::into),
    );
    args.push(out.as_os_str().to_owned());
    let timeout = Duration::from_secs(limits.process_timeout_seconds.max(1));
    Process::spawn(FFMPEG, args, false, Output::Null, timeout)?.wait()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::probe;

    fn clip(dir: &Path, name: &str, seconds: &str) -> PathBuf {
        let path = dir.join(name);
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc=size=64x36:rate=10:duration={seconds}"))
            .args(["-c:v", "libx264", "-preset", "ultrafast"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        path
    }

    #[test]
    fn joins_clips_in_order_through_the_runner() {
        let dir = tempfile::tempdir().unwrap();
        let clips = vec![
            clip(dir.path(), "a.mp4", "1"),
            clip(dir.path(), "b.mp4", "0.5"),
        ];
        let out = dir.path().join("joined.mp4");
        let encode = EncodeSettings {
            preset: "ultrafast".into(),
            ..EncodeSettings::default()
        };
        join_clips(
            &clips,
            &dir.path().join("list.txt"),
            &out,
            &encode,
            &Limits::default(),
        )
        .unwrap();
        let info = probe(&out).unwrap();
        let seconds = info.best_duration().unwrap();
        assert!((seconds - 1.5).abs() < 0.15, "{seconds}");
        assert!(info.audio().is_none());
    }

    #[test]
    fn a_broken_clip_fails_with_ffmpeg_s_words() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.mp4");
        std::fs::write(&bad, b"not a video").unwrap();
        let err = join_clips(
            &[bad.clone(), bad],
            &dir.path().join("list.txt"),
            &dir.path().join("joined.mp4"),
            &EncodeSettings::default(),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ProcessError::Failed { .. }), "{err}");
        assert!(
            !err.to_string().trim_end().ends_with("):"),
            "no stderr in {err}"
        );
    }
}

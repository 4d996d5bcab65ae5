//! What ffprobe says about a media file, as typed data. Every file that enters the engine (and
//! every upload the platform accepts) is probed before it is decoded, so limits are enforced on
//! the container's own claims before any expensive work.

use reelsmith_core::Code;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use reelsmith_core::Limits;
use serde::Deserialize;

use crate::process::{run_capture, ProcessError, FFPROBE};

/// How much ffprobe may print about one file: its JSON is small, and anything larger is not a
/// media file we want.
pub const PROBE_OUTPUT_LIMIT: usize = 4 * 1024 * 1024;
/// Probing reads headers only; it never needs the whole render timeout.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    pub format_name: String,
    /// Container duration in seconds, when known.
    pub duration: Option<f64>,
    pub streams: Vec<StreamInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    pub kind: StreamKind,
    pub codec: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Frames per second for video streams.
    pub frame_rate: Option<f64>,
    pub frame_count: Option<u64>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    pub duration: Option<f64>,
    /// A still picture stored as a video stream (cover art in an MP3).
    pub attached_picture: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Video,
    Audio,
    Other,
}

impl MediaInfo {
    /// The first real video stream (cover art does not count).
    pub fn video(&self) -> Option<&StreamInfo> {
        self.streams
            .iter()
            .find(|s| s.kind == StreamKind::Video && !s.attached_picture)
    }

    pub fn audio(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.kind == StreamKind::Audio)
    }

    /// The best duration estimate: the container's, else the longest stream's.
    pub fn best_duration(&self) -> Option<f64> {
        self.duration.or_else(|| {
            self.streams
                .iter()
                .filter_map(|s| s.duration)
                .fold(None, |acc: Option<f64>, d| {
                    Some(acc.map_or(d, |a| a.max(d)))
                })
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("the file is not a readable media file")]
    Unreadable(#[source] ProcessError),
    #[error(transparent)]
    Engine(ProcessError),
    #[error("ffprobe answered something unexpected: {0}")]
    BadOutput(String),
}

impl reelsmith_core::ErrorCode for ProbeError {
    fn code(&self) -> Code {
        match self {
            ProbeError::Unreadable(_) => Code::MediaUnreadable,
            ProbeError::Engine(e) => e.code(),
            ProbeError::BadOutput(_) => Code::EngineProbeOutput,
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(self, ProbeError::Unreadable(_))
    }
}

/// The demuxers a probed file may be read with: the audio and video containers uploads accept
/// (ffmpeg's names). Playlists (`hls`, `dash`), `concat` lists and `tty` text are refused by
/// ffprobe itself, before anything they name is opened.
pub const PROBE_DEMUXERS: &str = "mov,matroska,avi,mp3,wav,ogg,flac,aac";

/// Probes a file. A file ffprobe cannot open is the caller's fault (`media.unreadable`); a
/// missing or hanging ffprobe is ours.
pub fn probe(path: &Path) -> Result<MediaInfo, ProbeError> {
    let json = report(path, Some(PROBE_DEMUXERS), &Limits::default()).map_err(|e| match e {
        ProcessError::Failed { .. } => ProbeError::Unreadable(e),
        other => ProbeError::Engine(other),
    })?;
    parse(&json)
}

/// ffprobe's JSON report (`-show_format -show_streams`) on one local file: the only way the
/// engine and the platform start ffprobe, so every probe has the same output bound, the same
/// deadline (capped by `limits.process_timeout_seconds`) and the same input pins. `demuxers`
/// narrows the containers ffprobe may open (the runner's [`crate::process::MEDIA_DEMUXERS`]
/// when `None`). Callers read the report their own way; a file ffprobe cannot open comes back as
/// [`ProcessError::Failed`] carrying its words.
pub fn report(
    path: &Path,
    demuxers: Option<&str>,
    limits: &Limits,
) -> Result<Vec<u8>, ProcessError> {
    let timeout = PROBE_TIMEOUT.min(Duration::from_secs(limits.process_timeout_seconds.max(1)));
    let mut args: Vec<OsString> = ["-v", "error", "-protocol_whitelist", "file"]
        .iter()
        .map(OsString::from)
        .collect();
    if let Some(demuxers) = demuxers {
        args.extend(["-format_whitelist".into(), demuxers.into()]);
    }
    args.extend(
        [
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-i",
        ]
        .iter()
        .map(OsString::from),
    );
    // `file:` so a name that looks like a protocol (`http:…`) or an option is never anything but
    // a local file.
    let mut target = OsString::from("file:");
    target.push(path.as_os_str());
    args.push(target);
    run_capture(FFPROBE, args, timeout, PROBE_OUTPUT_LIMIT)
}

fn parse(json: &[u8]) -> Result<MediaInfo, ProbeError> {
    let raw: RawProbe =
        serde_json::from_slice(json).map_err(|e| ProbeError::BadOutput(e.to_string()))?;
    let format = raw.format.unwrap_or_default();
    Ok(MediaInfo {
        format_name: format.format_name.unwrap_or_default(),
        duration: format.duration.as_deref().and_then(parse_positive),
        streams: raw.streams.into_iter().map(StreamInfo::from_raw).collect(),
    })
}

impl StreamInfo {
    fn from_raw(s: RawStream) -> StreamInfo {
        StreamInfo {
            kind: match s.codec_type.as_deref() {
                Some("video") => StreamKind::Video,
                Some("audio") => StreamKind::Audio,
                _ => StreamKind::Other,
            },
            codec: s.codec_name.unwrap_or_default(),
            width: s.width.filter(|w| *w > 0),
            height: s.height.filter(|h| *h > 0),
            frame_rate: s
                .avg_frame_rate
                .as_deref()
                .and_then(parse_ratio)
                .or_else(|| s.r_frame_rate.as_deref().and_then(parse_ratio)),
            frame_count: s.nb_frames.as_deref().and_then(|n| n.parse().ok()),
            sample_rate: s.sample_rate.as_deref().and_then(|r| r.parse().ok()),
            channels: s.channels,
            duration: s.duration.as_deref().and_then(parse_positive),
            attached_picture: s.disposition.is_some_and(|d| d.attached_pic == 1),
        }
    }
}

fn parse_positive(text: &str) -> Option<f64> {
    text.parse::<f64>()
        .ok()
        .filter(|d| d.is_finite() && *d > 0.0)
}

/// `30000/1001` → 29.97; `0/0` → None.
fn parse_ratio(text: &str) -> Option<f64> {
    let (num, den) = text.split_once('/')?;
    let (num, den): (f64, f64) = (num.parse().ok()?, den.parse().ok()?);
    (den > 0.0 && num > 0.0).then(|| num / den)
}

#[derive(Deserialize)]
struct RawProbe {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Deserialize, Default)]
struct RawFormat {
    format_name: Option<String>,
    duration: Option<String>,
}

#[derive(Deserialize)]
struct RawStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    nb_frames: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
    duration: Option<String>,
    disposition: Option<RawDisposition>,
}

#[derive(Deserialize)]
struct RawDisposition {
    #[serde(default)]
    attached_pic: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ffprobe_json() {
        let json = br#"{"streams":[
            {"codec_type":"video","codec_name":"h264","width":1280,"height":720,
             "avg_frame_rate":"30/1","nb_frames":"90","duration":"3.000000","disposition":{"attached_pic":0}},
            {"codec_type":"audio","codec_name":"aac","sample_rate":"48000","channels":1,"duration":"3.010000"}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"3.010000"}}"#;
        let info = parse(json).unwrap();
        let v = info.video().unwrap();
        assert_eq!(
            (v.width, v.height, v.frame_rate),
            (Some(1280), Some(720), Some(30.0))
        );
        assert_eq!(v.frame_count, Some(90));
        assert_eq!(info.audio().unwrap().sample_rate, Some(48000));
        assert_eq!(info.best_duration(), Some(3.01));
    }

    #[test]
    fn cover_art_is_not_video() {
        let json = br#"{"streams":[{"codec_type":"video","codec_name":"mjpeg","disposition":{"attached_pic":1}},
            {"codec_type":"audio","codec_name":"mp3"}],"format":{"duration":"1.0"}}"#;
        assert!(parse(json).unwrap().video().is_none());
    }

    #[test]
    fn ratios() {
        assert_eq!(parse_ratio("0/0"), None);
        assert!((parse_ratio("30000/1001").unwrap() - 29.97).abs() < 0.01);
    }

    #[test]
    fn a_text_file_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.mp4");
        std::fs::write(&path, "just some words, not a video").unwrap();
        let err = probe(&path).unwrap_err();
        assert_eq!(reelsmith_core::ErrorCode::code(&err), "media.unreadable");
    }
}

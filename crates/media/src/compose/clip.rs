//! Video clips as scene material: probed with ffprobe when opened, then decoded by one ffmpeg
//! process per scene that streams raw yuv420p frames through a pipe (no frame files on disk).
//!
//! ffmpeg does the work it is best at in its filter graph: timing (drop/duplicate to the output
//! frame rate, slow a slightly short clip down with `setpts`), and fitting to the canvas shape
//! (cover-crop, or fit with a blurred, dimmed fill, the same rule as for stills in `fill.rs`). We
//! take exactly the number of frames the scene needs:
//! - a clip at least as long as the scene is trimmed (we stop reading; ffmpeg is stopped);
//! - a clip at least 60 % of the scene is slowed down to fill it;
//! - a shorter one is looped (`-stream_loop -1`).
//!
//! If ffmpeg still ends a frame or two early (rounding in its timestamps), the last frame is held,
//! so a clip scene always fills its span exactly. Range is normalised to limited ("tv") range;
//! colour matrices are passed through as tagged. The process is killed when the decoder is
//! dropped, so a cancelled render never leaves ffmpeg running.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ChildStdout;
use std::time::Duration;

use reelsmith_core::Limits;
use serde_json::Value;

use crate::process::{Output, Process, ProcessError, FFMPEG};

use super::fill::{framing, Framing};
use super::sample::YuvCanvas;
use super::ComposeError;

/// A clip shorter than this share of its scene is looped rather than slowed down.
pub const SLOW_DOWN_FLOOR: f64 = 0.6;

/// A probed, accepted video file.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipSource {
    pub path: PathBuf,
    /// Display size (rotation applied, as ffmpeg's autorotate will show it).
    pub width: u32,
    pub height: u32,
    pub duration: f64,
    pub frame_rate: f64,
    pub frames: u64,
}

/// Probes a clip and checks it against the limits.
pub fn open_clip(path: &Path, limits: &Limits) -> Result<ClipSource, ComposeError> {
    let size = std::fs::metadata(path)
        .map_err(|e| ComposeError::ClipUnreadable(e.to_string()))?
        .len();
    if size > limits.max_file_bytes {
        return Err(ComposeError::ClipTooLarge {
            limit: limits.max_file_bytes,
        });
    }
    let json = match crate::probe::report(path, None, limits) {
        Ok(bytes) => bytes,
        Err(ProcessError::Failed { stderr, .. }) => {
            return Err(ComposeError::ClipUnreadable(stderr))
        }
        Err(other) => return Err(ComposeError::Process(other)),
    };
    let probe: Value = serde_json::from_slice(&json)
        .map_err(|e| ComposeError::ClipUnreadable(format!("ffprobe output: {e}")))?;
    let clip = parse_probe(path, &probe)?;
    if clip.duration > limits.max_media_seconds {
        return Err(ComposeError::ClipTooLong {
            seconds: clip.duration,
            limit: limits.max_media_seconds,
        });
    }
    if clip.frames > limits.max_clip_frames {
        return Err(ComposeError::ClipTooManyFrames {
            frames: clip.frames,
            limit: limits.max_clip_frames,
        });
    }
    Ok(clip)
}

fn parse_probe(path: &Path, probe: &Value) -> Result<ClipSource, ComposeError> {
    let streams = probe["streams"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    // Cover art in an audio file is a "video" stream of one picture; it is not a clip.
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video" && s["disposition"]["attached_pic"] != 1)
        .ok_or(ComposeError::NoVideoStream)?;
    let unreadable =
        |what: &str| ComposeError::ClipUnreadable(format!("no {what} in the video stream"));
    let width = video["width"]
        .as_u64()
        .filter(|&w| w > 0)
        .ok_or_else(|| unreadable("width"))?;
    let height = video["height"]
        .as_u64()
        .filter(|&h| h > 0)
        .ok_or_else(|| unreadable("height"))?;
    let (width, height) = if is_quarter_turn(video) {
        (height, width)
    } else {
        (width, height)
    };
    let duration = number(&video["duration"])
        .or_else(|| number(&probe["format"]["duration"]))
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| unreadable("duration"))?;
    let frame_rate = ratio(&video["avg_frame_rate"])
        .or_else(|| ratio(&video["r_frame_rate"]))
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| unreadable("frame rate"))?;
    let frames = number(&video["nb_frames"])
        .map(|f| f as u64)
        .unwrap_or_else(|| (duration * frame_rate).ceil() as u64);
    Ok(ClipSource {
        path: path.to_path_buf(),
        width: width.min(u32::MAX as u64) as u32,
        height: height.min(u32::MAX as u64) as u32,
        duration,
        frame_rate,
        frames,
    })
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn ratio(v: &Value) -> Option<f64> {
    let s = v.as_str()?;
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d != 0.0).then(|| n / d)
}

fn is_quarter_turn(video: &Value) -> bool {
    let from_side_data = video["side_data_list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| number(&d["rotation"]));
    let from_tag = number(&video["tags"]["rotate"]);
    from_side_data
        .chain(from_tag)
        .any(|r| (r.abs().round() as i64) % 180 == 90)
}

/// How a clip is stretched to its scene's span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timing {
    Trim,
    SlowDown(f64),
    Loop,
}

pub fn timing(clip_seconds: f64, scene_seconds: f64) -> Timing {
    if clip_seconds >= scene_seconds {
        Timing::Trim
    } else if clip_seconds >= SLOW_DOWN_FLOOR * scene_seconds {
        Timing::SlowDown(scene_seconds / clip_seconds)
    } else {
        Timing::Loop
    }
}

/// A running ffmpeg that yields a clip's frames at canvas size, in order.
pub struct ClipDecoder {
    process: Option<Process>,
    stdout: Option<ChildStdout>,
    frames_wanted: u64,
    frames_read: u64,
    /// The last frame delivered, held when ffmpeg ends early.
    have_frame: bool,
    buffer: Vec<u8>,
}

impl ClipDecoder {
    /// Starts decoding `frames` frames at `fps`, shaped to `width × height`.
    pub fn start(
        clip: &ClipSource,
        width: u32,
        height: u32,
        fps: u32,
        frames: u64,
        timeout: Duration,
    ) -> Result<ClipDecoder, ComposeError> {
        let scene_seconds = frames as f64 / fps as f64;
        let timing = timing(clip.duration, scene_seconds);
        let graph = filter_graph(clip, width, height, fps, timing);
        let mut args: Vec<std::ffi::OsString> = ["-nostdin", "-hide_banner", "-loglevel", "error"]
            .iter()
            .map(Into::into)
            .collect();
        if timing == Timing::Loop {
            args.extend(["-stream_loop", "-1"].map(Into::into));
        }
        args.push("-i".into());
        args.push(clip.path.as_os_str().into());
        let frames_arg = frames.to_string();
        args.extend(
            [
                "-filter_complex",
                &graph,
                "-map",
                "[out]",
                "-an",
                "-sn",
                "-dn",
                "-frames:v",
                &frames_arg,
                "-f",
                "rawvideo",
                "-pix_fmt",
                "yuv420p",
                "pipe:1",
            ]
            .map(Into::into),
        );
        let mut process = Process::spawn(FFMPEG, args, false, Output::Piped, timeout)?;
        let stdout = process.take_stdout();
        Ok(ClipDecoder {
            process: Some(process),
            stdout,
            frames_wanted: frames,
            frames_read: 0,
            have_frame: false,
            buffer: vec![0; width as usize * height as usize * 3 / 2],
        })
    }

    /// Reads the next frame into `canvas` (which must have the decoder's size).
    pub fn next_frame(&mut self, canvas: &mut YuvCanvas) -> Result<(), ComposeError> {
        if self.frames_read < self.frames_wanted {
            if let Some(stdout) = self.stdout.as_mut() {
                match read_full(stdout, &mut self.buffer) {
                    Ok(true) => self.have_frame = true,
                    Ok(false) => self.finish_early()?,
                    Err(e) => return Err(ComposeError::ClipDecode(e.to_string())),
                }
            }
            self.frames_read += 1;
            if self.frames_read == self.frames_wanted {
                // All frames are in: stop ffmpeg now rather than when the scene ends.
                self.stdout = None;
                self.process = None;
            }
        }
        if !self.have_frame {
            return Err(ComposeError::ClipDecode("ffmpeg produced no frames".into()));
        }
        let (y, rest) = self.buffer.split_at(canvas.y.data.len());
        let (cb, cr) = rest.split_at(canvas.cb.data.len());
        canvas.y.data.copy_from_slice(y);
        canvas.cb.data.copy_from_slice(cb);
        canvas.cr.data.copy_from_slice(cr);
        Ok(())
    }

    /// ffmpeg closed its output before the frames we asked for: a real failure is reported,
    /// a clean end a frame or two short is covered by holding the last frame.
    fn finish_early(&mut self) -> Result<(), ComposeError> {
        self.stdout = None;
        if let Some(process) = self.process.take() {
            if let Err(e) = process.wait() {
                if !self.have_frame {
                    return Err(ComposeError::ClipDecode(e.to_string()));
                }
                tracing::warn!(error = %e, "clip decoding ended early; holding its last frame");
            }
        }
        Ok(())
    }
}

/// Fills `buf` completely: `Ok(false)` on a clean end of stream before the first byte.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn filter_graph(clip: &ClipSource, width: u32, height: u32, fps: u32, timing: Timing) -> String {
    let retime = match timing {
        Timing::SlowDown(factor) => format!("setpts={factor:.6}*(PTS-STARTPTS),"),
        _ => "setpts=PTS-STARTPTS,".to_string(),
    };
    let head = format!("[0:v:0]{retime}fps={fps}");
    let scale = "flags=bicubic:out_range=tv";
    match framing(clip.width, clip.height, width, height) {
        Framing::Cover => format!(
            "{head},scale={width}:{height}:force_original_aspect_ratio=increase:{scale},\
             crop={width}:{height},setsar=1,format=yuv420p[out]"
        ),
        Framing::FitWithFill => {
            let (sw, sh) = ((width / 8).max(4) & !1, (height / 8).max(4) & !1);
            let radius = (sw.max(sh) / 40).max(2);
            format!(
                "{head},split=2[bg][fg];\
                 [bg]scale={sw}:{sh}:force_original_aspect_ratio=increase:{scale},crop={sw}:{sh},\
                 boxblur={radius}:3,\
                 lutyuv=y='16+(val-16)*0.55':u='128+(val-128)*0.55':v='128+(val-128)*0.55',\
                 scale={width}:{height}:flags=bicubic,setsar=1[bgs];\
                 [fg]scale={width}:{height}:force_original_aspect_ratio=decrease:{scale},setsar=1[fgs];\
                 [bgs][fgs]overlay=(W-w)/2:(H-h)/2,format=yuv420p[out]"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_trims_slows_or_loops() {
        assert_eq!(timing(5.0, 4.0), Timing::Trim);
        assert_eq!(timing(4.0, 4.0), Timing::Trim);
        assert_eq!(timing(3.0, 4.0), Timing::SlowDown(4.0 / 3.0));
        assert_eq!(timing(2.0, 4.0), Timing::Loop);
    }

    #[test]
    fn probe_json_is_read_with_rotation_and_cover_art_ignored() {
        let probe: Value = serde_json::from_str(
            r#"{"streams":[
                {"codec_type":"video","disposition":{"attached_pic":1},"width":500,"height":500},
                {"codec_type":"video","width":1920,"height":1080,"avg_frame_rate":"30000/1001",
                 "duration":"2.5","side_data_list":[{"rotation":-90}]}],
               "format":{"duration":"2.6"}}"#,
        )
        .unwrap();
        let clip = parse_probe(Path::new("x.mp4"), &probe).unwrap();
        assert_eq!((clip.width, clip.height), (1080, 1920));
        assert!((clip.frame_rate - 29.97).abs() < 0.01);
        assert_eq!(clip.frames, 75);
        let audio_only: Value =
            serde_json::from_str(r#"{"streams":[{"codec_type":"audio"}],"format":{}}"#).unwrap();
        assert!(matches!(
            parse_probe(Path::new("a.m4a"), &audio_only),
            Err(ComposeError::NoVideoStream)
        ));
    }
}

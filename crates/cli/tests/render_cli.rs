//! `reelsmith render` end to end, as a person would run it: the real binary, real ffmpeg and
//! espeak-ng, outputs checked with ffprobe. Also every bad input the issue lists: each must fail
//! with its stable code, write no output and leave no temporary files.

// Test code may use `unsafe` (denied in the workspace): it asks the effective uid (libc `geteuid`).
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT_150: &str = "\
Every morning the old harbour wakes slowly. Fishing boats creak against the wooden pier while \
gulls circle overhead, waiting for the first catch of the day.

The fishermen have done this for generations. Their grandfathers mended the same nets, read the \
same clouds, and told the same stories about storms that nearly took them.

But the town is changing. Young people leave for the city, and tourists arrive each summer with \
cameras and questions. Some of the old families have turned their boats into ferries, carrying \
visitors to the islands instead of hauling fish.

Still, at dawn, the harbour belongs to the fishermen. They drink strong coffee from metal cups, \
check the weather one last time, and head out past the lighthouse. What they bring back decides \
whether the week is good or hard. Nobody here takes the sea for granted, and nobody ever will.";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_reelsmith")
}

/// Runs `reelsmith render` with a private TMPDIR, so leftovers can be counted.
fn render(args: &[&std::ffi::OsStr], tmp: &Path) -> Output {
    Command::new(bin())
        .arg("render")
        .arg("--quiet")
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .expect("the binary runs")
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg is installed (scripts/setup)");
    assert!(status.success(), "ffmpeg {args:?}");
}

/// A detailed test picture, as a JPEG.
fn photo(dir: &Path) -> PathBuf {
    let path = dir.join("photo.jpg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1600x1000",
        "-frames:v",
        "1",
        path.to_str().unwrap(),
    ]);
    path
}

fn ffprobe_json(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stream<'a>(info: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    info["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} stream"))
}

fn seconds(v: &serde_json::Value) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

/// Parses `HH:MM:SS.mmm --> HH:MM:SS.mmm` lines (`,` for SRT) into (start, end) pairs.
fn cue_times(text: &str) -> Vec<(f64, f64)> {
    let stamp = |s: &str| -> f64 {
        let s = s.trim().replace(',', ".");
        let parts: Vec<&str> = s.split(':').collect();
        let (h, m, sec) = (parts[0], parts[1], parts[2]);
        h.parse::<f64>().unwrap() * 3600.0
            + m.parse::<f64>().unwrap() * 60.0
            + sec.parse::<f64>().unwrap()
    };
    text.lines()
        .filter_map(|l| l.split_once(" --> "))
        .map(|(a, b)| (stamp(a), stamp(b.split_whitespace().next().unwrap())))
        .collect()
}

fn assert_cues_in_order_inside(times: &[(f64, f64)], audio_seconds: f64, what: &str) {
    assert!(!times.is_empty(), "{what} has no cues");
    for (i, &(start, end)) in times.iter().enumerate() {
        assert!(
            start >= 0.0 && start < end,
            "{what} cue {i}: {start}..{end}"
        );
        assert!(
            end <= audio_seconds + 0.01,
            "{what} cue {i} ends at {end}, after the audio ({audio_seconds})"
        );
        if i > 0 {
            assert!(
                start >= times[i - 1].1 - 1e-6,
                "{what} cue {i} overlaps the one before"
            );
        }
    }
}

/// P-IN-5: the captions are timed by the speech engine's own word timings, and lie inside the
/// narration.
#[test]
fn renders_a_narrated_captioned_mp4_from_a_script_and_a_photo() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.txt");
    std::fs::write(&script, SCRIPT_150).unwrap();
    assert!((140..=160).contains(&SCRIPT_150.split_whitespace().count()));
    let image = photo(dir.path());
    let out = dir.path().join("video.mp4");
    let result = render(
        &[
            "--script".as_ref(),
            script.as_os_str(),
            "--image".as_ref(),
            image.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--resolution".as_ref(),
            "480p".as_ref(),
            "--fps".as_ref(),
            "25".as_ref(),
        ],
        tmp.path(),
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );

    let info = ffprobe_json(&out);
    let video = stream(&info, "video");
    let audio = stream(&info, "audio");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["pix_fmt"], "yuv420p");
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(854), Some(480))
    );
    assert_eq!(video["avg_frame_rate"], "25/1");
    let (video_s, audio_s) = (seconds(&video["duration"]), seconds(&audio["duration"]));
    assert!(
        (video_s - audio_s).abs() <= 0.3,
        "video {video_s} s against narration {audio_s} s"
    );
    assert!(
        audio_s > 30.0,
        "150 words take more than 30 s to say, got {audio_s}"
    );

    let vtt = std::fs::read_to_string(out.with_extension("vtt")).unwrap();
    assert!(vtt.starts_with("WEBVTT"));
    let srt = std::fs::read_to_string(out.with_extension("srt")).unwrap();
    let (vtt_times, srt_times) = (cue_times(&vtt), cue_times(&srt));
    assert_cues_in_order_inside(&vtt_times, audio_s, "vtt");
    assert_cues_in_order_inside(&srt_times, audio_s, "srt");
    assert_eq!(vtt_times.len(), srt_times.len());
    let poster = std::fs::read(out.with_extension("jpg")).unwrap();
    assert_eq!(&poster[..3], &[0xFF, 0xD8, 0xFF], "poster is a JPEG");

    // Only the four outputs (and the inputs) are in the folder; the work folder is gone.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "photo.jpg",
            "script.txt",
            "video.jpg",
            "video.mp4",
            "video.srt",
            "video.vtt"
        ]
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "temporary files left behind"
    );
}

/// A bad input: the stable code expected, and the files the render is given.
struct BadCase {
    name: &'static str,
    code: &'static str,
}

/// Runs a render expected to fail and checks the promise of "loses nothing": the code, no output
/// file of any kind, no temporary files.
fn assert_refused(case: &BadCase, args: Vec<std::ffi::OsString>, dir: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let out = dir.join(format!("{}.mp4", case.name));
    let mut all: Vec<std::ffi::OsString> = args;
    all.push("--out".into());
    all.push(out.clone().into());
    let refs: Vec<&std::ffi::OsStr> = all.iter().map(|a| a.as_os_str()).collect();
    let before: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let result = render(&refs, tmp.path());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success(), "{}: should fail", case.name);
    assert_eq!(
        result.status.code(),
        Some(2),
        "{}: a client error exits 2: {stderr}",
        case.name
    );
    assert!(
        stderr.contains(&format!("error[{}]", case.code)),
        "{}: expected code {}, got: {stderr}",
        case.name,
        case.code
    );
    let after: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        before, after,
        "{}: files appeared beside the output",
        case.name
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "{}: temporary files left",
        case.name
    );
}

fn script_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn bad_scripts_are_refused_with_stable_codes() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let cases = [
        (
            BadCase {
                name: "empty",
                code: "script.empty",
            },
            "",
        ),
        (
            BadCase {
                name: "symbols",
                code: "script.no_words",
            },
            "!!! ... 🎉🔥 — ?? 👍🏽 *** ###",
        ),
    ];
    for (case, text) in cases {
        let script = script_file(inputs.path(), &format!("{}.txt", case.name), text);
        assert_refused(&case, vec!["--script".into(), script.into()], dir.path());
    }
    let huge = "word ".repeat(100_000);
    let script = script_file(inputs.path(), "huge.txt", &huge);
    assert_refused(
        &BadCase {
            name: "huge",
            code: "script.too_long",
        },
        vec!["--script".into(), script.into()],
        dir.path(),
    );
}

#[test]
fn bad_media_are_refused_with_stable_codes() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let script = script_file(
        inputs.path(),
        "s.txt",
        "A short and simple script about the sea and the sky.",
    );
    let with_image = |path: &Path| -> Vec<std::ffi::OsString> {
        vec![
            "--script".into(),
            script.clone().into(),
            "--image".into(),
            path.into(),
        ]
    };

    // A JPEG cut off halfway.
    let whole = photo(inputs.path());
    let bytes = std::fs::read(&whole).unwrap();
    let truncated = inputs.path().join("truncated.jpg");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused(
        &BadCase {
            name: "truncated",
            code: "image.corrupt",
        },
        with_image(&truncated),
        dir.path(),
    );

    // A PNG whose header claims 100,000 × 100,000 pixels.
    let huge = inputs.path().join("huge.png");
    std::fs::write(&huge, png_header(100_000, 100_000)).unwrap();
    assert_refused(
        &BadCase {
            name: "huge",
            code: "image.too_many_pixels",
        },
        with_image(&huge),
        dir.path(),
    );

    // A text file named .jpg.
    let text = inputs.path().join("notes.jpg");
    std::fs::write(&text, "these are my holiday notes, not a picture").unwrap();
    assert_refused(
        &BadCase {
            name: "text",
            code: "media.unsupported_format",
        },
        with_image(&text),
        dir.path(),
    );

    // A clip with no video stream (audio only).
    let audio_only = inputs.path().join("audio-only.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2",
        "-c:a",
        "aac",
        audio_only.to_str().unwrap(),
    ]);
    assert_refused(
        &BadCase {
            name: "no-video",
            code: "clip.no_video_stream",
        },
        vec![
            "--script".into(),
            script.clone().into(),
            "--clip".into(),
            audio_only.into(),
        ],
        dir.path(),
    );

    // A voice recording with no speech in it.
    let silence = inputs.path().join("silence.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=22050:cl=mono",
        "-t",
        "5",
        silence.to_str().unwrap(),
    ]);
    assert_refused(
        &BadCase {
            name: "silence",
            code: "voice.no_speech",
        },
        vec![
            "--script".into(),
            script.into(),
            "--voice".into(),
            silence.into(),
        ],
        dir.path(),
    );
}

/// P-IN-3: ffmpeg is never left to pick a demuxer. A text file given as `--image` (which ffmpeg's
/// `tty` demuxer would render as a picture), and an HLS playlist or an ffconcat list pointing at
/// a real local clip, as `.m3u8`/`.txt` or renamed `.mp4`, are refused with a clear error.
#[test]
fn p_in_3_text_playlists_and_concat_lists_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let script = script_file(
        inputs.path(),
        "s.txt",
        "A short and simple script about the sea and the sky.",
    );
    let secret = inputs.path().join("secret.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x64:rate=10",
        "-t",
        "1",
        "-pix_fmt",
        "yuv420p",
        secret.to_str().unwrap(),
    ]);
    let notes: String = (1..=20)
        .map(|i| format!("line {i} of my notes: nothing here is a picture\n"))
        .collect();
    let playlist = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:{}\n#EXT-X-ENDLIST\n",
        secret.display()
    );
    let concat = format!("ffconcat version 1.0\nfile '{}'\n", secret.display());
    let cases = [
        ("notes", "notes.txt", notes, "--image"),
        ("hls", "playlist.m3u8", playlist.clone(), "--clip"),
        ("hls-renamed", "playlist.mp4", playlist, "--clip"),
        ("concat", "list.txt", concat.clone(), "--clip"),
        ("concat-renamed", "list.mp4", concat, "--clip"),
    ];
    for (name, file, text, flag) in cases {
        let path = script_file(inputs.path(), file, &text);
        assert_refused(
            &BadCase {
                name,
                code: "media.unsupported_format",
            },
            vec![
                "--script".into(),
                script.clone().into(),
                flag.into(),
                path.into(),
            ],
            dir.path(),
        );
    }
}

/// A valid PNG signature and IHDR chunk (with a correct CRC) claiming the given size, and no data.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// P-TP-1: the built-in engine needs nothing outside the machine. The render runs in a network
/// namespace of its own, with no interface but a loopback that is down.
#[test]
fn p_tp_1_renders_with_no_network_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let script = script_file(
        dir.path(),
        "s.txt",
        "# Offline\n\nThis video was made on a machine with no network at all. Every word you hear was spoken here.",
    );
    let out = dir.path().join("offline.mp4");
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { geteuid() } == 0;
    let mut command = Command::new("unshare");
    if !root {
        command.arg("--map-root-user");
    }
    let result = command
        .arg("--net")
        .arg(bin())
        .args([
            "render",
            "--quiet",
            "--aspect",
            "9:16",
            "--resolution",
            "480p",
            "--captions",
            "subtitle",
            "--style",
            "warm",
            "--script",
        ])
        .arg(&script)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("unshare (util-linux) runs");
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let info = ffprobe_json(&out);
    let video = stream(&info, "video");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(480), Some(854))
    );
}

extern "C" {
    fn geteuid() -> u32;
}

/// The `--spec` JSON path: media and voice paths relative to the JSON file, a clip as scene media,
/// and the user's own recording instead of synthetic speech (P-IN-5: captions by forced
/// alignment, inside the recording).
#[test]
fn spec_json_with_a_clip_and_a_recorded_voice() {
    let dir = tempfile::tempdir().unwrap();
    let text = "Our garden changes with every season. In spring the first green shoots appear.";
    let status = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(dir.path().join("voice.wav"))
        .arg(text)
        .status()
        .expect("espeak-ng is installed (scripts/setup)");
    assert!(status.success());
    ffmpeg(&[
        "-i",
        dir.path().join("voice.wav").to_str().unwrap(),
        dir.path().join("voice.mp3").to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25",
        "-t",
        "3",
        "-pix_fmt",
        "yuv420p",
        dir.path().join("clip.mp4").to_str().unwrap(),
    ]);
    let spec = serde_json::json!({
        "script": text, "media": ["clip.mp4"], "voice": "voice.mp3",
        "aspect": "1:1", "resolution": "480p", "fps": 24, "motion": "static",
        "style": "mono", "captions": "karaoke", "seed": 7
    });
    std::fs::write(dir.path().join("job.json"), spec.to_string()).unwrap();
    let out = dir.path().join("out.mp4");
    let tmp = tempfile::tempdir().unwrap();
    let result = render(
        &[
            "--spec".as_ref(),
            dir.path().join("job.json").as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
        tmp.path(),
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let info = ffprobe_json(&out);
    let video = stream(&info, "video");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(480), Some(480))
    );
    assert_eq!(video["avg_frame_rate"], "24/1");
    let recording = ffprobe_json(&dir.path().join("voice.mp3"));
    let recording_s: f64 = seconds(&recording["format"]["duration"]);
    let video_s = seconds(&video["duration"]);
    assert!(
        (video_s - recording_s).abs() <= 0.3,
        "video {video_s} s, recording {recording_s} s"
    );
    let vtt = std::fs::read_to_string(out.with_extension("vtt")).unwrap();
    assert_cues_in_order_inside(&cue_times(&vtt), recording_s, "vtt");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

/// Issue 17: with no voice flag, `reelsmith render` speaks with the natural (Piper) voice that
/// scripts/setup installs, and with espeak-ng where it is not installed.
#[test]
fn p_voice_4_render_without_a_voice_flag_uses_the_natural_voice() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.txt");
    std::fs::write(
        &script,
        "The harbour wakes up early. Boats go out before the sun.",
    )
    .unwrap();
    let image = photo(dir.path());
    let run = |home: Option<&str>, out: &Path| {
        let mut command = Command::new(bin());
        command
            .args(["render", "--quiet", "--resolution", "480p", "--fps", "24"])
            .arg("--script")
            .arg(&script)
            .arg("--image")
            .arg(&image)
            .arg("--out")
            .arg(out);
        if let Some(home) = home {
            command.env("REELSMITH_PIPER_HOME", home);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let natural = run(None, &dir.path().join("natural.mp4"));
    assert!(
        natural.contains("voice: piper:en_US-joe-medium"),
        "{natural}"
    );
    let vtt = std::fs::read_to_string(dir.path().join("natural.vtt")).unwrap();
    let cues = cue_times(&vtt);
    assert!(!cues.is_empty());
    assert!(vtt.contains("harbour") && vtt.contains("sun."), "{vtt}");
    let missing = dir.path().join("no-piper-here");
    let plain = run(
        Some(missing.to_str().unwrap()),
        &dir.path().join("plain.mp4"),
    );
    assert!(plain.contains("voice: espeak:en-us"), "{plain}");
}

/// Issue 17: `reelsmith render` reads `[speech]` like the server does (the `--config` file,
/// then `REELSMITH__SPEECH__…`): an operator's Piper voice in `piper_voices` made the default
/// narrates a render with no voice flag, the environment can pin espeak-ng, and a default voice
/// of no valid form is refused with its code before anything is rendered.
#[test]
fn p_voice_7_render_reads_the_speech_settings() {
    let installed = reelsmith_media::speech::voices::SpeechConfig::installed()
        .piper_voices
        .expect("the Piper voice is installed: run scripts/setup");
    let dir = tempfile::tempdir().unwrap();
    let voices = dir.path().join("voices");
    std::fs::create_dir_all(&voices).unwrap();
    std::fs::copy(
        installed.join("en_US-joe-medium.onnx"),
        voices.join("en_US-operator-medium.onnx"),
    )
    .unwrap();
    std::fs::copy(
        installed.join("en_US-joe-medium.onnx.json"),
        voices.join("en_US-operator-medium.onnx.json"),
    )
    .unwrap();
    let config = dir.path().join("reelsmith.toml");
    let write_config = |default_voice: &str| {
        std::fs::write(
            &config,
            format!(
                "[speech]\ndefault_voice = \"{default_voice}\"\npiper_voices = \"{}\"\n",
                voices.display()
            ),
        )
        .unwrap();
    };
    let script = script_file(
        dir.path(),
        "script.txt",
        "The boats leave the harbour at dawn.",
    );
    let run = |env: Option<(&str, &str)>, out: &Path| {
        let mut command = Command::new(bin());
        command
            .args(["render", "--quiet", "--resolution", "480p", "--fps", "24"])
            .arg("--config")
            .arg(&config)
            .arg("--script")
            .arg(&script)
            .arg("--out")
            .arg(out);
        if let Some((k, v)) = env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let stdout = |o: &Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };

    write_config("piper:en_US-operator-medium");
    let ours = stdout(&run(None, &dir.path().join("ours.mp4")));
    assert!(
        ours.contains("voice: piper:en_US-operator-medium"),
        "{ours}"
    );
    assert!(!ours.contains("note:"), "{ours}");

    let pinned = stdout(&run(
        Some(("REELSMITH__SPEECH__DEFAULT_VOICE", "espeak")),
        &dir.path().join("pinned.mp4"),
    ));
    assert!(pinned.contains("voice: espeak:en-us"), "{pinned}");

    write_config("coqui:someone");
    let out = dir.path().join("refused.mp4");
    let refused = run(None, &out);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("error[config.invalid]"), "{stderr}");
    assert!(stderr.contains("default_voice"), "{stderr}");
    assert!(!out.exists());
}

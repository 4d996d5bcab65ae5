//! Decoding real files through ffprobe and ffmpeg, writing WAV, and telling speech from
//! silence, noise and tones.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reelsmith_core::{ErrorCode, Limits, TtsSettings};
use reelsmith_media::audio::{decode_audio, speech_ratio, write_wav, AudioBuffer};
use reelsmith_media::process::{run_capture, FFMPEG};
use reelsmith_media::speech::synthesize;

const SCRIPT: &str = "Every recording that a person uploads is checked before we spend any \
    time on it. Files without sound, files that are far too long, and files that only hum or \
    hiss are refused with a clear message.";

fn ffmpeg(args: &[&str]) {
    let mut full = vec!["-nostdin", "-v", "error", "-y"];
    full.extend_from_slice(args);
    run_capture(FFMPEG, full, Duration::from_secs(120), 1 << 20).unwrap();
}

fn narration_wav(dir: &Path) -> (PathBuf, AudioBuffer) {
    let narration = synthesize(SCRIPT, &TtsSettings::default()).unwrap();
    let path = dir.join("narration.wav");
    write_wav(&path, &narration.audio).unwrap();
    (path, narration.audio)
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Deterministic white noise in -amplitude..amplitude.
fn white_noise(seconds: f64, rate: u32, amplitude: f32) -> AudioBuffer {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let samples = (0..(seconds * rate as f64) as usize)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amplitude
        })
        .collect();
    AudioBuffer {
        samples,
        sample_rate: rate,
    }
}

fn sine(hz: f32, seconds: f64, rate: u32, amplitude: f32) -> AudioBuffer {
    let samples = (0..(seconds * rate as f64) as usize)
        .map(|i| amplitude * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
        .collect();
    AudioBuffer {
        samples,
        sample_rate: rate,
    }
}

#[test]
fn a_written_wav_decodes_back_to_the_same_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (path, original) = narration_wav(dir.path());
    let decoded = decode_audio(&path, original.sample_rate, &Limits::default()).unwrap();
    assert_eq!(decoded.samples.len(), original.samples.len());
    let worst = original
        .samples
        .iter()
        .zip(&decoded.samples)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1.0 / 16_000.0, "16-bit rounding only, got {worst}");
}

#[test]
fn common_formats_decode_and_keep_their_speech() {
    let dir = tempfile::tempdir().unwrap();
    let (wav, original) = narration_wav(dir.path());
    let original_ratio = speech_ratio(&original);
    println!("speech ratio of the narration: {original_ratio:.3}");
    assert!(original_ratio > 0.3, "{original_ratio}");
    let encodings: [(&str, &[&str]); 6] = [
        ("mp3", &["-c:a", "libmp3lame", "-b:a", "64k"]),
        ("ogg", &["-c:a", "libvorbis", "-q:a", "3"]),
        ("opus", &["-c:a", "libopus", "-b:a", "32k"]),
        ("m4a", &["-c:a", "aac", "-b:a", "64k"]),
        ("flac", &["-c:a", "flac"]),
        ("wav", &["-c:a", "pcm_s24le", "-ar", "44100"]),
    ];
    for (extension, codec) in encodings {
        let out = dir.path().join(format!("encoded.{extension}"));
        let mut args = vec!["-i", path_str(&wav)];
        args.extend_from_slice(codec);
        args.push(path_str(&out));
        ffmpeg(&args);
        let decoded = decode_audio(&out, 16_000, &Limits::default()).unwrap();
        let ratio = speech_ratio(&decoded);
        println!(
            "{extension}: {:.2} s (original {:.2} s), speech ratio {ratio:.3}",
            decoded.duration(),
            original.duration()
        );
        assert_eq!(decoded.sample_rate, 16_000);
        assert!(
            (decoded.duration() - original.duration()).abs() < 0.1,
            "{extension}: {} vs {}",
            decoded.duration(),
            original.duration()
        );
        assert!((ratio - original_ratio).abs() < 0.1, "{extension}: {ratio}");
    }
}

#[test]
fn silence_noise_and_tones_are_not_speech() {
    let rate = 16_000;
    let cases = [
        (
            "silence",
            AudioBuffer {
                samples: vec![0.0; rate as usize * 5],
                sample_rate: rate,
            },
        ),
        ("quiet hiss", white_noise(5.0, rate, 0.01)),
        ("loud white noise", white_noise(5.0, rate, 0.8)),
        ("440 Hz tone", sine(440.0, 5.0, rate, 0.5)),
        ("150 Hz hum", sine(150.0, 5.0, rate, 0.5)),
    ];
    for (name, audio) in cases {
        let ratio = speech_ratio(&audio);
        println!("{name}: speech ratio {ratio:.3}");
        assert!(ratio < 0.02, "{name}: {ratio}");
    }
}

#[test]
fn speech_under_noise_is_still_speech() {
    let narration = synthesize(SCRIPT, &TtsSettings::default()).unwrap();
    let clean = speech_ratio(&narration.audio);
    let noise = white_noise(narration.audio.duration() + 1.0, 22_050, 0.02);
    let mixed = AudioBuffer {
        samples: narration
            .audio
            .samples
            .iter()
            .zip(&noise.samples)
            .map(|(s, n)| s + n)
            .collect(),
        sample_rate: 22_050,
    };
    let noisy = speech_ratio(&mixed);
    println!("clean {clean:.3}, with hiss {noisy:.3}");
    assert!(noisy > clean * 0.6, "{noisy} vs {clean}");
}

#[test]
fn a_video_without_sound_has_no_audio_stream() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("silent.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x64:rate=10",
        "-t",
        "1",
        "-pix_fmt",
        "yuv420p",
        path_str(&video),
    ]);
    let err = decode_audio(&video, 16_000, &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "audio.no_audio_stream", "{err}");
    assert!(err.is_client_error());
}

#[test]
fn garbage_and_missing_files_are_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("voice.mp3");
    std::fs::write(
        &garbage,
        b"this is not audio at all, just some text".repeat(50),
    )
    .unwrap();
    let err = decode_audio(&garbage, 16_000, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err.code().as_str(),
            "audio.unreadable" | "audio.unsupported_format"
        ),
        "{}: {err}",
        err.code()
    );
    assert!(err.is_client_error());
    let err = decode_audio(&dir.path().join("absent.wav"), 16_000, &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "audio.unreadable");
}

#[test]
fn a_name_that_looks_like_a_url_or_option_is_still_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (wav, original) = narration_wav(dir.path());
    let odd = dir.path().join("-i http:x.wav");
    std::fs::copy(&wav, &odd).unwrap();
    let decoded = decode_audio(&odd, original.sample_rate, &Limits::default()).unwrap();
    assert_eq!(decoded.samples.len(), original.samples.len());
}

#[test]
fn limits_on_size_and_length_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let (wav, _) = narration_wav(dir.path());
    let small_files = Limits {
        max_file_bytes: 10_000,
        ..Limits::default()
    };
    let err = decode_audio(&wav, 16_000, &small_files).unwrap_err();
    assert_eq!(err.code(), "audio.too_large");
    let short_media = Limits {
        max_media_seconds: 2.0,
        ..Limits::default()
    };
    let err = decode_audio(&wav, 16_000, &short_media).unwrap_err();
    assert_eq!(err.code(), "audio.too_long");
    assert!(err.is_client_error());
}

#[test]
fn a_stream_whose_length_is_only_estimated_is_still_refused() {
    // Raw ADTS AAC carries no duration in its header; ffprobe can only estimate it.
    let dir = tempfile::tempdir().unwrap();
    let (wav, original) = narration_wav(dir.path());
    let aac = dir.path().join("voice.aac");
    ffmpeg(&[
        "-i",
        path_str(&wav),
        "-c:a",
        "aac",
        "-f",
        "adts",
        path_str(&aac),
    ]);
    let limits = Limits {
        max_media_seconds: original.duration() / 2.0,
        ..Limits::default()
    };
    let err = decode_audio(&aac, 16_000, &limits).unwrap_err();
    assert_eq!(err.code(), "audio.too_long", "{err}");
}

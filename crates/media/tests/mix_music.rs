//! The final mix, proved by measurement: the music drops at least 10 dB under the words and
//! comes back in the pauses, and every mix (with music or without) lands within ±1 LU of
//! −14 LUFS with true peaks at or under −1 dBTP, as ffmpeg's own `ebur128` scanner measures
//! the output (independent of the `loudnorm` pass that normalised it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reelsmith_core::{ErrorCode, Limits, RenderSpec, Resolution, TtsSettings, ValidSpec};
use reelsmith_media::audio::{decode_audio, write_wav, AudioBuffer};
use reelsmith_media::mix::{
    final_mix, measure_ebur128, MixInput, MusicBed, DUCK_DB, MAX_TRUE_PEAK_DBTP, TARGET_LUFS,
};
use reelsmith_media::render::{render, EngineConfig, RenderJob};
use reelsmith_media::speech::synthesize;
use reelsmith_media::timing::WordTiming;

const TIMEOUT: Duration = Duration::from_secs(120);
/// The test music is a pure low tone: narration (a voice's fundamental is over 90 Hz) has
/// almost no energy there, so the tone's level can be read out of the mix under the words.
const TONE_HZ: f64 = 55.0;

fn tone(seconds: f64, rate: u32, amplitude: f32) -> AudioBuffer {
    let n = (seconds * rate as f64) as usize;
    AudioBuffer {
        samples: (0..n)
            .map(|i| {
                amplitude
                    * (2.0 * std::f64::consts::PI * TONE_HZ * i as f64 / rate as f64).sin() as f32
            })
            .collect(),
        sample_rate: rate,
    }
}

/// Two spoken phrases with a two-second pause between them, and their word timings.
/// The narration's file, its length, its words, and the spans of its two phrases.
type Narrated = (PathBuf, f64, Vec<WordTiming>, (f64, f64), (f64, f64));

fn narration(dir: &Path) -> Narrated {
    let tts = TtsSettings::default();
    let rate = 22_050u32;
    let mut samples = vec![0.0f32; (0.5 * rate as f64) as usize];
    let mut words = Vec::new();
    let mut phrases = Vec::new();
    for text in [
        "The harbour wakes before the town does and boats slide out in the grey light.",
        "By noon the nets are drying on the stones.",
    ] {
        let spoken = synthesize(text, &tts).unwrap();
        assert_eq!(spoken.audio.sample_rate, rate);
        let offset = samples.len() as f64 / rate as f64;
        let timed: Vec<WordTiming> = spoken
            .words
            .iter()
            .map(|w| WordTiming::new(w.text.clone(), w.start + offset, w.end + offset))
            .collect();
        phrases.push((timed[0].start, timed.last().unwrap().end));
        words.extend(timed);
        samples.extend_from_slice(&spoken.audio.samples);
        samples.extend(vec![0.0f32; 2 * rate as usize]);
    }
    let duration = samples.len() as f64 / rate as f64;
    let path = dir.join("narration.wav");
    write_wav(
        &path,
        &AudioBuffer {
            samples,
            sample_rate: rate,
        },
    )
    .unwrap();
    (path, duration, words, phrases[0], phrases[1])
}

/// The tone's amplitude in `audio` between `from` and `to` seconds (a Hann-windowed DFT bin).
fn tone_level_db(audio: &AudioBuffer, from: f64, to: f64) -> f64 {
    let rate = audio.sample_rate as f64;
    let window = &audio.samples[(from * rate) as usize..(to * rate) as usize];
    let n = window.len() as f64;
    let (mut re, mut im, mut weight) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &s) in window.iter().enumerate() {
        let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos();
        let phase = 2.0 * std::f64::consts::PI * TONE_HZ * i as f64 / rate;
        re += s as f64 * w * phase.cos();
        im -= s as f64 * w * phase.sin();
        weight += w;
    }
    20.0 * (2.0 * (re * re + im * im).sqrt() / weight).log10()
}

fn assert_on_target(path: &Path, what: &str) {
    let measured = measure_ebur128(path, None, TIMEOUT).unwrap();
    eprintln!("{what}: {measured:?}");
    assert!(
        (measured.integrated_lufs - TARGET_LUFS).abs() <= 1.0,
        "{what}: {} LUFS integrated, target {TARGET_LUFS}",
        measured.integrated_lufs
    );
    // ebur128 oversamples its true-peak meter less finely than loudnorm's limiter; a tenth
    // of a dB covers the difference between the two meters.
    assert!(
        measured.true_peak_dbtp <= MAX_TRUE_PEAK_DBTP + 0.1,
        "{what}: true peak {} dBTP",
        measured.true_peak_dbtp
    );
}

#[test]
fn music_ducks_at_least_10_db_under_the_words_and_the_mix_is_at_minus_14_lufs() {
    let dir = tempfile::tempdir().unwrap();
    let (voice, duration, words, first, second) = narration(dir.path());
    // Three seconds of music for a video of about ten: it has to loop.
    let music = dir.path().join("music.wav");
    write_wav(&music, &tone(3.0, 44_100, 0.5)).unwrap();
    let out = dir.path().join("mix.wav");
    let report = final_mix(
        &MixInput {
            narration: &voice,
            duration,
            words: &words,
            music: Some(MusicBed {
                path: &music,
                level_db: -10.0,
            }),
            work_dir: dir.path(),
            timeout: TIMEOUT,
        },
        &out,
    )
    .unwrap();
    eprintln!("report: {report:?}");
    assert_eq!(report.ducking_db, Some(DUCK_DB));
    assert!((report.integrated_lufs - TARGET_LUFS).abs() <= 1.0);
    assert_on_target(&out, "mix with music");

    let mixed = decode_audio(&out, 22_050, &Limits::default()).unwrap();
    assert!(
        (mixed.duration() - duration).abs() < 0.05,
        "the mix is as long as the video: {} s against {duration} s",
        mixed.duration()
    );
    // Inside each phrase (past the attack, before the release) against the middle of the
    // pause (the release is over, the next attack not begun).
    let under_first = tone_level_db(&mixed, first.0 + 0.3, first.1 - 0.3);
    let under_second = tone_level_db(&mixed, second.0 + 0.3, second.1 - 0.3);
    let pause = tone_level_db(&mixed, first.1 + 0.7, second.0 - 0.4);
    let ducking = pause - under_first.max(under_second);
    eprintln!(
        "tone: {under_first:.1} dB and {under_second:.1} dB under the words, {pause:.1} dB in the pause: {ducking:.1} dB of ducking"
    );
    assert!(ducking >= 10.0, "only {ducking:.1} dB of ducking");
    // The tone is there in the pause (the music was not simply lost), and the pause comes after
    // the track's own three seconds: the loop plays on.
    assert!(pause > -40.0, "music in the pause at {pause:.1} dB");
    assert!(
        first.1 + 0.7 > 3.0,
        "the pause is measured past the track's end"
    );
}

#[test]
fn narration_alone_is_normalised_too() {
    let dir = tempfile::tempdir().unwrap();
    let (voice, duration, words, _, _) = narration(dir.path());
    let out = dir.path().join("mix.wav");
    let report = final_mix(
        &MixInput {
            narration: &voice,
            duration,
            words: &words,
            music: None,
            work_dir: dir.path(),
            timeout: TIMEOUT,
        },
        &out,
    )
    .unwrap();
    assert_eq!(report.music_gain_db, None);
    assert_on_target(&out, "narration alone");
}

fn spec(music: Option<&Path>) -> ValidSpec {
    let mut spec = RenderSpec::new("A short line. And a second one.");
    spec.resolution = Resolution::P480;
    spec.fps = 24;
    spec.music = music.map(|p| p.display().to_string());
    spec.validated(&Limits::default()).unwrap()
}

fn job<'a>(spec: &'a ValidSpec, music: Option<&Path>, out: &Path) -> RenderJob<'a> {
    RenderJob {
        spec,
        media: Vec::new(),
        voice: None,
        heard_words: None,
        music: music.map(Path::to_path_buf),
        out: out.to_path_buf(),
        hash_frames: false,
        cancel: None,
    }
}

#[test]
fn a_render_with_music_is_at_minus_14_lufs_in_the_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("bed.wav");
    write_wav(&music, &tone(2.0, 44_100, 0.3)).unwrap();
    let out = dir.path().join("video.mp4");
    let spec = spec(Some(&music));
    let output = render(
        &job(&spec, Some(&music), &out),
        &EngineConfig::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(output.loudness.music_gain_db.is_some());
    assert!((output.loudness.integrated_lufs - TARGET_LUFS).abs() <= 1.0);
    // Measured on the AAC in the MP4 itself, as a viewer gets it.
    let measured = measure_ebur128(&out, None, TIMEOUT).unwrap();
    eprintln!("mp4: {measured:?}, engine's report: {:?}", output.loudness);
    assert!(
        (measured.integrated_lufs - TARGET_LUFS).abs() <= 1.0,
        "{measured:?}"
    );
}

#[test]
fn bad_music_is_refused_before_any_narration() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("video.mp4");
    let not_audio = dir.path().join("not-audio.mp3");
    std::fs::write(&not_audio, b"this is a text file, not a song").unwrap();
    let long = dir.path().join("long.wav");
    write_wav(&long, &tone(3.0, 8_000, 0.3)).unwrap();
    let mut config = EngineConfig::default();
    config.limits.max_media_seconds = 2.0;
    for (music, code) in [(&not_audio, "music.not_audio"), (&long, "music.too_long")] {
        let spec = spec(Some(music));
        let mut stages = Vec::new();
        let err = render(&job(&spec, Some(music), &out), &config, &mut |p| {
            stages.push(p)
        })
        .unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert!(err.is_client_error());
        assert_eq!(
            stages,
            [reelsmith_media::render::Progress::Stage(
                reelsmith_media::render::Stage::Plan
            )],
            "refused while planning"
        );
        assert!(!out.exists());
    }
}

//! Forced alignment against real decoded recordings. The "recording" is espeak-ng speaking at
//! another rate and pitch than the aligner's reference, pushed through an MP3 encoder and
//! decoded back, so its true word timings are known exactly.

use std::path::Path;
use std::time::Duration;

use reelsmith_core::{ErrorCode, Limits, TtsSettings};
use reelsmith_media::align::align;
use reelsmith_media::audio::{decode_audio, write_wav, AudioBuffer};
use reelsmith_media::process::{run_capture, FFMPEG};
use reelsmith_media::speech::{synthesize, Narration, SpeechWord};

const SCRIPT: &str = "Long before the first railway crossed the valley, the village lived on \
    its river. Boats carried wool, grain and timber down to the coast, and came back with salt, \
    iron tools and news from distant cities. Every spring the water rose and covered the lower \
    fields, leaving behind a layer of dark, rich soil. Farmers learned to plant late and harvest \
    early. Children watched the herons from the old stone bridge, counting them until the sun \
    went down. When the engineers arrived with their maps and measuring chains, nobody believed \
    that a machine could climb the hills. Ten years later the trains ran twice a day, the boats \
    grew fewer, and the river became quiet. Today only the bridge remembers how busy it once was.";

fn tts(voice: &str, rate: u32, pitch: u32) -> TtsSettings {
    TtsSettings {
        voice: voice.into(),
        rate,
        pitch,
    }
}

/// Writes `audio` to WAV, encodes it with `codec` and decodes the result at 16 kHz.
fn through_codec(audio: &AudioBuffer, dir: &Path, extension: &str, codec: &[&str]) -> AudioBuffer {
    let wav = dir.join("reading.wav");
    write_wav(&wav, audio).unwrap();
    let encoded = dir.join(format!("reading.{extension}"));
    let mut args = vec!["-nostdin", "-v", "error", "-y", "-i", wav.to_str().unwrap()];
    args.extend_from_slice(codec);
    args.push(encoded.to_str().unwrap());
    run_capture(FFMPEG, args, Duration::from_secs(120), 1 << 20).unwrap();
    decode_audio(&encoded, 16_000, &Limits::default()).unwrap()
}

struct Errors {
    median: f64,
    p90: f64,
    max: f64,
}

fn start_errors(truth: &[SpeechWord], aligned: &[SpeechWord]) -> Errors {
    assert_eq!(truth.len(), aligned.len());
    let mut errors: Vec<f64> = truth
        .iter()
        .zip(aligned)
        .map(|(t, a)| {
            assert_eq!(t.text, a.text);
            assert_eq!(t.char_offset, a.char_offset);
            (t.start - a.start).abs()
        })
        .collect();
    errors.sort_by(f64::total_cmp);
    let at = |q: f64| errors[((errors.len() - 1) as f64 * q).round() as usize];
    Errors {
        median: at(0.5),
        p90: at(0.9),
        max: at(1.0),
    }
}

fn assert_well_formed(words: &[SpeechWord], duration: f64) {
    let mut previous_end = 0.0;
    for word in words {
        assert!(word.start >= previous_end - 1e-9, "overlap at {word:?}");
        assert!(word.end > word.start, "empty {word:?}");
        assert!(word.end <= duration + 1e-9, "{word:?} past {duration}");
        previous_end = word.end;
    }
}

/// Aligns a reading by `reader` against the default reference and reports the start errors.
fn measure(label: &str, reader: &TtsSettings, extension: &str, codec: &[&str]) -> Errors {
    let dir = tempfile::tempdir().unwrap();
    let truth = synthesize(SCRIPT, reader).unwrap();
    let recording = through_codec(&truth.audio, dir.path(), extension, codec);
    let aligned = align(SCRIPT, &recording, &TtsSettings::default()).unwrap();
    assert_well_formed(&aligned, recording.duration());
    let errors = start_errors(&truth.words, &aligned);
    println!(
        "{label}: {} words, {:.1} s; word start error median {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        aligned.len(),
        recording.duration(),
        errors.median * 1000.0,
        errors.p90 * 1000.0,
        errors.max * 1000.0
    );
    errors
}

/// P-IN-5: captions of a user's recording are timed by forced alignment of the known script.
#[test]
fn a_slower_lower_reading_through_mp3_aligns_within_80_ms() {
    assert!((100..=150).contains(&SCRIPT.split_whitespace().count()));
    let errors = measure(
        "en-us 150 wpm pitch 40 via mp3",
        &tts("en-us", 150, 40),
        "mp3",
        &["-c:a", "libmp3lame", "-b:a", "48k"],
    );
    assert!(errors.median <= 0.080, "median {:.3} s", errors.median);
}

#[test]
fn a_fast_reading_in_another_voice_through_opus_aligns() {
    // A different voice variant (female) at a much faster rate: further from the reference.
    let errors = measure(
        "en-us+f3 230 wpm pitch 70 via opus",
        &tts("en-us+f3", 230, 70),
        "opus",
        &["-c:a", "libopus", "-b:a", "24k"],
    );
    assert!(errors.median <= 0.080, "median {:.3} s", errors.median);
}

#[test]
fn silence_noise_and_tones_have_no_speech() {
    let rate = 16_000u32;
    let mut state: u32 = 12_345;
    let noise: Vec<f32> = (0..rate * 5)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect();
    let tone: Vec<f32> = (0..rate * 5)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin())
        .collect();
    for (name, samples) in [
        ("silence", vec![0.0; rate as usize * 5]),
        ("noise", noise),
        ("tone", tone),
    ] {
        let recording = AudioBuffer {
            samples,
            sample_rate: rate,
        };
        let err = align(SCRIPT, &recording, &TtsSettings::default()).unwrap_err();
        assert_eq!(err.code(), "voice.no_speech", "{name}: {err}");
        assert!(err.is_client_error());
    }
}

#[test]
fn a_recording_far_too_short_for_the_script_is_a_mismatch() {
    let short = synthesize("Hello there, friend.", &TtsSettings::default()).unwrap();
    assert!(short.audio.duration() < 1.5);
    let err = align(SCRIPT, &short.audio, &TtsSettings::default()).unwrap_err();
    assert_eq!(err.code(), "voice.mismatch", "{err}");
    assert!(err.is_client_error());
    assert!(err.to_string().contains("takes about"), "{err}");
}

#[test]
fn a_recording_far_too_long_for_the_script_is_a_mismatch() {
    let long = synthesize(SCRIPT, &TtsSettings::default()).unwrap();
    let err = align(
        "Just four words here.",
        &long.audio,
        &TtsSettings::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "voice.mismatch", "{err}");
}

#[test]
fn the_reference_voice_must_exist() {
    let reading = synthesize(SCRIPT, &TtsSettings::default()).unwrap();
    let err = align(SCRIPT, &reading.audio, &tts("xx-none", 175, 50)).unwrap_err();
    assert_eq!(err.code(), "speech.unknown_voice");
}

/// Inserts `pause` seconds of silence after every sentence of `truth`, shifting the true
/// timings to match, and adds a faint hiss over everything, as a person reading with breaths
/// into an ordinary microphone would produce.
fn with_pauses_and_hiss(truth: &Narration, pause: f64) -> (AudioBuffer, Vec<SpeechWord>) {
    let rate = truth.audio.sample_rate;
    let gap = (pause * rate as f64) as usize;
    let mut samples = Vec::new();
    let mut words = Vec::new();
    let mut copied = 0usize;
    let mut shift = 0.0;
    for word in &truth.words {
        words.push(SpeechWord {
            start: word.start + shift,
            end: word.end + shift,
            ..word.clone()
        });
        if word.text.ends_with('.') {
            let cut = ((word.end * rate as f64) as usize).min(truth.audio.samples.len());
            samples.extend_from_slice(&truth.audio.samples[copied..cut]);
            samples.extend(std::iter::repeat_n(0.0, gap));
            copied = cut;
            shift += pause;
        }
    }
    samples.extend_from_slice(&truth.audio.samples[copied..]);
    let mut state: u32 = 99;
    for s in &mut samples {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *s += ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.01;
    }
    (
        AudioBuffer {
            samples,
            sample_rate: rate,
        },
        words,
    )
}

#[test]
fn long_pauses_and_hiss_in_the_recording_do_not_throw_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let truth = synthesize(SCRIPT, &tts("en-us", 160, 45)).unwrap();
    let (audio, true_words) = with_pauses_and_hiss(&truth, 1.2);
    let recording = through_codec(&audio, dir.path(), "mp3", &["-c:a", "libmp3lame"]);
    let aligned = align(SCRIPT, &recording, &TtsSettings::default()).unwrap();
    assert_well_formed(&aligned, recording.duration());
    let errors = start_errors(&true_words, &aligned);
    println!(
        "1.2 s pauses after sentences + hiss via mp3: median {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        errors.median * 1000.0,
        errors.p90 * 1000.0,
        errors.max * 1000.0
    );
    assert!(errors.median <= 0.080, "median {:.3} s", errors.median);
}

#[test]
fn a_long_repetitive_reading_stays_on_track() {
    // Five copies of the script: about four minutes in which every sentence occurs five times,
    // so only a path that keeps its place can score well. Exercises the multi-resolution path.
    let script = [SCRIPT; 5].join(" ");
    let truth = synthesize(&script, &tts("en-us", 150, 40)).unwrap();
    let aligned = align(&script, &truth.audio, &TtsSettings::default()).unwrap();
    assert_well_formed(&aligned, truth.audio.duration());
    let errors = start_errors(&truth.words, &aligned);
    println!(
        "{} words, {:.0} s: median {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        aligned.len(),
        truth.audio.duration(),
        errors.median * 1000.0,
        errors.p90 * 1000.0,
        errors.max * 1000.0
    );
    assert!(errors.median <= 0.080, "median {:.3} s", errors.median);
    assert!(errors.p90 <= 0.250, "p90 {:.3} s", errors.p90);
}

//! The natural local voice: Piper (installed by scripts/setup) speaking with word timings from the
//! forced aligner, its fallback to espeak-ng, and the voice catalogue.

use reelsmith_core::{ErrorCode, TtsSettings};
use reelsmith_media::align::align;
use reelsmith_media::audio::{sound_bounds, AudioBuffer};
use reelsmith_media::speech::voices::{installed_voices, SpeechConfig, SpeechEngine};
use reelsmith_media::speech::{speak, speak_each, SpeechError};

const JOE: &str = "en_US-joe-medium";

/// The setup's Piper installation; these tests need it (scripts/setup installs it).
fn installed() -> SpeechConfig {
    let config = SpeechConfig::installed();
    assert!(
        config.piper_voices.is_some() && config.piper_python.is_file(),
        "the Piper runtime and voice are not installed: run scripts/setup"
    );
    config
}

fn tts(voice: &str) -> TtsSettings {
    TtsSettings {
        voice: voice.into(),
        ..TtsSettings::default()
    }
}

fn span(audio: &AudioBuffer) -> (f64, f64) {
    let (a, b) = sound_bounds(audio);
    let rate = f64::from(audio.sample_rate);
    (a as f64 / rate, b as f64 / rate)
}

/// Phrases read by Piper one at a time and joined with pauses: where each phrase's sound starts
/// and ends is known exactly, so the aligner's word times can be measured there, on Piper's own
/// audio, with the measures the espeak-ng recordings use (start error median and maximum).
#[test]
fn p_voice_1_piper_narration_is_timed_by_forced_alignment() {
    let config = installed();
    let phrases = [
        "The harbour wakes before the sun comes up.",
        "Fishermen check their nets and load the boats.",
        "By noon the market is full of voices and colour.",
        "In the evening the lights come on along the quay.",
    ];
    let spoken = speak_each(&phrases, &tts("en-us"), &config).unwrap();
    assert_eq!(spoken.engine, SpeechEngine::Piper);
    assert_eq!(spoken.voice, format!("piper:{JOE}"));
    assert!(spoken.notes.is_empty(), "{:?}", spoken.notes);

    // Each phrase: one timed word per token, in order, the first starting where its sound
    // starts and the last ending where it ends.
    let pause = 0.4;
    let mut recording = AudioBuffer {
        samples: Vec::new(),
        sample_rate: spoken.narrations[0].audio.sample_rate,
    };
    let mut truth = Vec::new();
    for (phrase, narration) in phrases.iter().zip(&spoken.narrations) {
        let tokens: Vec<&str> = phrase.split_whitespace().collect();
        let words: Vec<&str> = narration.words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(words, tokens);
        let (s, e) = span(&narration.audio);
        let first = &narration.words[0];
        let last = narration.words.last().unwrap();
        assert!((first.start - s).abs() < 0.08, "{first:?} vs sound at {s}");
        assert!((last.end - e).abs() < 0.12, "{last:?} vs sound end {e}");
        for pair in narration.words.windows(2) {
            assert!(pair[0].end <= pair[1].start + 1e-9 && pair[0].start < pair[0].end);
        }
        let offset = recording.duration();
        truth.push(offset + s);
        recording
            .samples
            .extend_from_slice(&narration.audio.samples);
        recording
            .samples
            .resize(recording.samples.len() + (pause * 22_050.0) as usize, 0.0);
    }

    // The whole reading aligned at once: each phrase's first word starts where its sound does.
    let text = phrases.join(" ");
    let aligned = align(&text, &recording, &tts("en-us")).unwrap();
    let mut errors = Vec::new();
    let mut at = 0;
    for (phrase, t) in phrases.iter().zip(&truth) {
        let first = aligned
            .iter()
            .find(|w| w.char_offset == at)
            .expect("each phrase's first word is aligned");
        errors.push((first.start - t).abs());
        at += phrase.chars().count() + 1;
    }
    errors.sort_by(f64::total_cmp);
    let (median, max) = (errors[errors.len() / 2], errors[errors.len() - 1]);
    eprintln!("piper phrase starts: median error {median:.3} s, max {max:.3} s");
    assert!(median < 0.06 && max < 0.15, "median {median}, max {max}");
}

/// A corrupt model (its MD5 is not the official one) is listed with its problem and never used:
/// the narration falls back to espeak-ng and says why. A voice that does not exist is an error.
#[test]
fn p_voice_2_a_corrupt_or_unknown_piper_voice() {
    let real = installed();
    let dir = tempfile::tempdir().unwrap();
    let source = real.piper_voices.as_ref().unwrap();
    std::fs::copy(
        source.join(format!("{JOE}.onnx.json")),
        dir.path().join(format!("{JOE}.onnx.json")),
    )
    .unwrap();
    let mut model = std::fs::read(source.join(format!("{JOE}.onnx"))).unwrap();
    let middle = model.len() / 2;
    model[middle] ^= 0x55;
    std::fs::write(dir.path().join(format!("{JOE}.onnx")), &model).unwrap();
    let config = SpeechConfig {
        piper_voices: Some(dir.path().to_path_buf()),
        ..real.clone()
    };

    let listed = installed_voices(&config);
    let joe = listed
        .iter()
        .find(|v| v.id == format!("piper:{JOE}"))
        .unwrap();
    assert!(
        joe.problem.as_deref().unwrap().contains("corrupt"),
        "{joe:?}"
    );

    for voice in ["en-us", &format!("piper:{JOE}")] {
        let spoken = speak("A short test sentence for the voice.", &tts(voice), &config).unwrap();
        assert_eq!(spoken.engine, SpeechEngine::Espeak, "{voice}");
        assert_eq!(spoken.voice, "espeak:en-us");
        assert!(
            spoken.notes.iter().any(|n| n.contains("corrupt")),
            "{:?}",
            spoken.notes
        );
    }

    let missing = speak("Hello there, world.", &tts("piper:en_GB-nobody-low"), &real).unwrap_err();
    assert_eq!(missing.code(), "speech.unknown_voice");
    assert!(missing.is_client_error());
    let engine = speak("Hello there, world.", &tts("coqui:x"), &real).unwrap_err();
    assert_eq!(engine.code(), "speech.unknown_voice");
}

/// A script in letters the chosen voice's language is not written in is refused with a stable
/// code, before anything is synthesized.
#[test]
fn p_voice_3_a_script_the_voice_cannot_speak_is_refused() {
    let config = installed();
    let err = speak("مرحبا بكم في المدينة القديمة", &tts("en-us"), &config).unwrap_err();
    assert!(
        matches!(err, SpeechError::LanguageUnsupported { .. }),
        "{err}"
    );
    assert_eq!(err.code(), "speech.language_unsupported");
    assert!(err.is_client_error());
    // The same text with an Arabic voice is spoken.
    let ok = speak("مرحبا بكم في المدينة القديمة", &tts("ar"), &config).unwrap();
    assert_eq!(ok.engine, SpeechEngine::Espeak);
    assert_eq!(ok.narration.words.len(), 5);
}

/// The catalogue lists the installed Piper voice (language, gender, engine) before espeak-ng's.
#[test]
fn p_voice_5_the_catalogue_lists_installed_voices() {
    let voices = installed_voices(&installed());
    let joe = &voices[0];
    assert_eq!(joe.id, format!("piper:{JOE}"));
    assert_eq!(joe.engine, SpeechEngine::Piper);
    assert_eq!(joe.language, "en-us");
    assert_eq!(joe.gender.as_deref(), Some("male"));
    assert!(joe.natural && joe.problem.is_none(), "{joe:?}");
    for language in [
        "en-us", "es", "fr", "de", "pt", "ru", "hi", "ar", "ja", "cmn",
    ] {
        assert!(
            voices.iter().any(|v| v.id == format!("espeak:{language}")),
            "no espeak:{language}"
        );
    }
}

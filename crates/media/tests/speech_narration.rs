//! Narration through the real libespeak-ng: word events in order, covering the audio, mapped
//! back to the input's characters, in several languages.

use reelsmith_core::{ErrorCode, TtsSettings};
use reelsmith_media::speech::{list_voices, synthesize, Narration, SpeechError, SpeechWord};

fn tts(voice: &str, rate: u32, pitch: u32) -> TtsSettings {
    TtsSettings {
        voice: voice.into(),
        rate,
        pitch,
    }
}

/// The input's whitespace tokens, as the engine is expected to report them.
fn tokens(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// The characters of `text` that `word` claims to span.
fn span(text: &str, word: &SpeechWord) -> String {
    text.chars()
        .skip(word.char_offset)
        .take(word.char_len)
        .collect()
}

/// Checks order, non-overlap, bounds, and that the words cover the audible audio.
fn assert_well_formed(text: &str, narration: &Narration) {
    let duration = narration.audio.duration();
    assert!(duration > 0.5, "audio of {duration} s");
    let mut previous_end = 0.0;
    for word in &narration.words {
        assert!(word.start >= previous_end - 1e-9, "overlap at {word:?}");
        assert!(word.end > word.start, "empty word {word:?}");
        assert!(word.end <= duration + 1e-9, "{word:?} past {duration}");
        assert_eq!(span(text, word), word.text, "char span of {word:?}");
        previous_end = word.end;
    }
    // Loud samples (above 10% of full scale) must lie inside some word's span.
    let rate = narration.audio.sample_rate as f64;
    let loud: Vec<f64> = narration
        .audio
        .samples
        .iter()
        .enumerate()
        .filter(|(_, s)| s.abs() > 0.1)
        .map(|(i, _)| i as f64 / rate)
        .collect();
    let covered = loud
        .iter()
        .filter(|&&t| {
            narration
                .words
                .iter()
                .any(|w| t >= w.start - 0.01 && t <= w.end + 0.01)
        })
        .count();
    let share = covered as f64 / loud.len() as f64;
    assert!(
        share > 0.98,
        "only {share:.3} of loud audio is inside words"
    );
}

#[test]
fn english_words_come_in_order_and_cover_the_audio() {
    let text = "The quick brown fox jumps over the lazy dog. Then it runs, far away!";
    let narration = synthesize(text, &TtsSettings::default()).unwrap();
    let words: Vec<&str> = narration.words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(words, tokens(text));
    assert_eq!(narration.audio.sample_rate, 22_050);
    assert_well_formed(text, &narration);
    // A sentence break is a pause: "dog." ends well before "Then" starts.
    let dog = &narration.words[8];
    let then = &narration.words[9];
    assert!(then.start - dog.end > 0.1, "{dog:?} {then:?}");
}

#[test]
fn french_words_keep_their_elisions() {
    let text = "Bonjour à tous, je m'appelle Élise et j'habite à Paris depuis longtemps.";
    let narration = synthesize(text, &tts("fr", 160, 50)).unwrap();
    let words: Vec<&str> = narration.words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(words, tokens(text));
    assert_well_formed(text, &narration);
}

#[test]
fn russian_offsets_count_characters() {
    let text = "Привет, как у тебя дела? Сегодня хорошая погода.";
    let narration = synthesize(text, &tts("ru", 170, 50)).unwrap();
    let words: Vec<&str> = narration.words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(words, tokens(text));
    assert_well_formed(text, &narration);
    let last = narration.words.last().unwrap();
    assert_eq!(
        last.char_offset,
        text.chars().count() - "погода.".chars().count()
    );
}

#[test]
fn a_faster_rate_gives_shorter_audio() {
    let text = "Speed matters when you narrate a long story to an impatient audience.";
    let slow = synthesize(text, &tts("en-us", 120, 50)).unwrap();
    let fast = synthesize(text, &tts("en-us", 260, 50)).unwrap();
    let (s, f) = (slow.audio.duration(), fast.audio.duration());
    println!("120 wpm: {s:.2} s, 260 wpm: {f:.2} s");
    assert!(f < s * 0.7, "fast {f} vs slow {s}");
    assert_eq!(slow.words.len(), fast.words.len());
}

#[test]
fn pitch_changes_the_audio_but_not_the_words() {
    let text = "Pitch is not timing.";
    let low = synthesize(text, &tts("en-us", 175, 20)).unwrap();
    let high = synthesize(text, &tts("en-us", 175, 80)).unwrap();
    assert_ne!(low.audio.samples, high.audio.samples);
    assert_eq!(low.words.len(), high.words.len());
}

#[test]
fn the_same_input_gives_identical_samples() {
    let text = "Determinism lets a retried job reproduce its narration exactly.";
    let a = synthesize(text, &tts("en-us", 190, 45)).unwrap();
    // Something different in between, so leftover engine state would show.
    synthesize("Autre chose.", &tts("fr", 300, 10)).unwrap();
    let b = synthesize(text, &tts("en-us", 190, 45)).unwrap();
    // Not assert_eq!: a failure would print every sample.
    assert!(a.audio == b.audio, "the samples differ");
    assert_eq!(a.words, b.words);
}

#[test]
fn concurrent_callers_are_serialised_and_get_the_same_result() {
    let text = "Many workers may narrate at once.";
    let expected = synthesize(text, &TtsSettings::default()).unwrap();
    let handles: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || synthesize(text, &TtsSettings::default()).unwrap()))
        .collect();
    for handle in handles {
        let got = handle.join().unwrap();
        assert!(got.audio == expected.audio, "the samples differ");
        assert_eq!(got.words, expected.words);
    }
}

#[test]
fn an_unknown_voice_is_the_clients_fault() {
    for voice in ["xx-nonexistent", "en us; rm -rf"] {
        let err = synthesize("Hello.", &tts(voice, 175, 50)).unwrap_err();
        assert_eq!(err.code(), "speech.unknown_voice", "{voice}: {err}");
        assert!(err.is_client_error());
    }
}

#[test]
fn text_without_words_has_nothing_to_say() {
    for text in ["", "   \n\t ", "... ,,, ;"] {
        let err = synthesize(text, &TtsSettings::default()).unwrap_err();
        assert_eq!(err.code(), "speech.nothing_to_say", "{text:?}: {err}");
        assert!(err.is_client_error());
    }
}

#[test]
fn out_of_range_settings_are_refused() {
    let err = synthesize("Hello.", &tts("en-us", 5, 50)).unwrap_err();
    assert_eq!(err.code(), "speech.invalid_settings");
    let err = synthesize("Hello.", &tts("en-us", 175, 150)).unwrap_err();
    assert_eq!(err.code(), "speech.invalid_settings");
}

#[test]
fn the_voice_list_has_the_languages_we_promise() {
    let voices = list_voices().unwrap();
    for voice in ["en-us", "fr-fr", "de", "ru", "es"] {
        assert!(
            voices.iter().any(|v| v == voice),
            "{voice} missing: {voices:?}"
        );
    }
    // Every listed name is accepted as a voice.
    for voice in voices
        .iter()
        .filter(|v| ["en-gb", "it", "pt"].contains(&v.as_str()))
    {
        synthesize("One two.", &tts(voice, 175, 50)).unwrap();
    }
}

#[test]
fn a_missing_engine_names_the_package_to_install() {
    let err =
        SpeechError::EngineMissing("libespeak-ng.so.1: cannot open shared object file".into());
    assert_eq!(err.code(), "speech.engine_missing");
    assert!(!err.is_client_error());
    let message = err.to_string();
    assert!(message.contains("libespeak-ng1") && message.contains("scripts/setup"));
}

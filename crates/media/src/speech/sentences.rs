//! Long scripts, sentence by sentence: splitting, the writing-system check, and Piper narration
//! with forced-aligned word timings.

use reelsmith_core::TtsSettings;

use super::piper::{PiperVoice, Session};
use super::voices::SpeechConfig;
use super::{words, Narration, SpeechError, SpeechWord};
use crate::audio::{sound_bounds, AudioBuffer};

/// Silence between two sentences of a Piper narration (Piper ends each one abruptly).
const SENTENCE_GAP: f64 = 0.2;
/// Sentences shorter than this many words are joined to the next: the aligner needs a few
/// words of context, and Piper's prosody is better over a whole thought.
const MIN_SENTENCE_WORDS: usize = 4;
/// espeak-ng speaks at this rate for 1.0 of Piper's length scale.
const PIPER_NATURAL_WPM: f64 = 175.0;

/// A sentence of the script: its text and where it starts, in characters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sentence {
    pub text: String,
    pub char_offset: usize,
}

/// Splits after sentence-ending punctuation (Latin, CJK, Arabic, Devanagari) and at line breaks,
/// then joins sentences too short to stand alone.
pub(crate) fn split(text: &str) -> Vec<Sentence> {
    let chars: Vec<char> = text.chars().collect();
    let mut raw: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let closes_cjk = matches!(c, '。' | '！' | '？' | '।' | '॥');
        let closes_latin = matches!(c, '.' | '!' | '?' | '؟' | '…' | ';')
            && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if c == '\n' || closes_cjk || closes_latin {
            raw.push((start, i + 1));
            start = i + 1;
        }
        i += 1;
    }
    raw.push((start, chars.len()));
    let mut out: Vec<Sentence> = Vec::new();
    let mut pending: Option<(usize, usize)> = None;
    for (s, e) in raw {
        let span = match pending.take() {
            Some((ps, _)) => (ps, e),
            None => (s, e),
        };
        let text: String = chars[span.0..span.1].iter().collect();
        if text.trim().is_empty() {
            continue;
        }
        let words = text.split_whitespace().count();
        let spaceless = text.chars().any(is_spaceless_script);
        if words < MIN_SENTENCE_WORDS && !spaceless {
            pending = Some(span);
            continue;
        }
        out.push(sentence(&chars, span));
    }
    if let Some(span) = pending {
        // A short tail joins the sentence before it.
        match out.pop() {
            Some(last) => out.push(sentence(&chars, (last.char_offset, span.1))),
            None => out.push(sentence(&chars, span)),
        }
    }
    out
}

fn sentence(chars: &[char], (s, e): (usize, usize)) -> Sentence {
    let lead = chars[s..e].iter().take_while(|c| c.is_whitespace()).count();
    let text: String = chars[s + lead..e].iter().collect();
    Sentence {
        text: text.trim_end().to_string(),
        char_offset: s + lead,
    }
}

fn is_spaceless_script(c: char) -> bool {
    matches!(writing(c), Some("Han" | "Kana"))
}

/// The writing system of a letter, for the scripts whose voices we tell apart.
fn writing(c: char) -> Option<&'static str> {
    let u = c as u32;
    Some(match u {
        0x0400..=0x052F => "Cyrillic",
        0x0600..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => "Arabic",
        0x0900..=0x097F => "Devanagari",
        0x3040..=0x30FF => "Kana",
        0x4E00..=0x9FFF | 0x3400..=0x4DBF => "Han",
        0xAC00..=0xD7AF => "Hangul",
        0x0370..=0x03FF => "Greek",
        0x0590..=0x05FF => "Hebrew",
        0x0E00..=0x0E7F => "Thai",
        _ if c.is_alphabetic() => "Latin",
        _ => return None,
    })
}

/// The writing systems a language (espeak-ng name) is written in; Latin is always accepted,
/// since names and brands in Latin letters appear in every language's scripts.
fn scripts_of(language: &str) -> &'static [&'static str] {
    let base = language.split(['-', '_']).next().unwrap_or(language);
    match base {
        "ru" | "uk" | "be" | "bg" | "mk" | "sr" | "kk" | "ky" | "tt" | "ba" | "cv" | "mn" => {
            &["Cyrillic"]
        }
        "ar" | "fa" | "ur" | "ps" | "sd" | "ug" => &["Arabic"],
        "hi" | "mr" | "ne" | "sa" | "kok" | "mai" | "bh" => &["Devanagari"],
        "ja" => &["Kana", "Han"],
        "cmn" | "yue" | "zh" | "hak" => &["Han"],
        "ko" => &["Hangul", "Han"],
        "el" | "grc" => &["Greek"],
        "he" => &["Hebrew"],
        "th" => &["Thai"],
        _ => &[],
    }
}

/// Refuses a script mostly written in letters the voice's language does not use (Arabic text
/// for an English voice): the engine would spell it out letter by letter or say nothing.
pub(crate) fn check_script(text: &str, language: &str, voice: &str) -> Result<(), SpeechError> {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for c in text.chars() {
        if let Some(w) = writing(c) {
            match counts.iter_mut().find(|(n, _)| *n == w) {
                Some((_, k)) => *k += 1,
                None => counts.push((w, 1)),
            }
        }
    }
    let Some(&(dominant, _)) = counts.iter().max_by_key(|(_, k)| *k) else {
        return Ok(());
    };
    // Japanese mixes kana and kanji; either marks it.
    let dominant = if dominant == "Han" && counts.iter().any(|(n, _)| *n == "Kana") {
        "Kana"
    } else {
        dominant
    };
    if dominant == "Latin" || scripts_of(language).contains(&dominant) {
        return Ok(());
    }
    Err(SpeechError::LanguageUnsupported {
        script: dominant,
        voice: voice.to_string(),
        language: language.to_string(),
    })
}

/// Speaks each of `texts` with a Piper voice, one sentence at a time through one Piper process
/// (the model loads once), aligning each sentence's words while Piper speaks the next.
pub(crate) fn speak_with_piper(
    texts: &[&str],
    tts: &TtsSettings,
    voice: &PiperVoice,
    config: &SpeechConfig,
    notes: &mut Vec<String>,
) -> Result<Vec<Narration>, SpeechError> {
    // (text index, sentence) in speaking order.
    let sentences: Vec<(usize, Sentence)> = texts
        .iter()
        .enumerate()
        .flat_map(|(t, text)| split(text).into_iter().map(move |s| (t, s)))
        .collect();
    let length_scale = (PIPER_NATURAL_WPM / f64::from(tts.rate)).clamp(0.4, 2.5);
    let reference = TtsSettings {
        voice: voice.espeak_voice.clone(),
        rate: 175,
        pitch: 50,
    };
    let session = Session::start(voice, config)?;
    let rate = session.sample_rate;
    let gap = (SENTENCE_GAP * f64::from(rate)) as usize;
    let mut out: Vec<Narration> = texts
        .iter()
        .map(|_| Narration {
            audio: AudioBuffer {
                samples: Vec::new(),
                sample_rate: rate,
            },
            words: Vec::new(),
        })
        .collect();
    session.speak_all(
        &sentences
            .iter()
            .map(|(_, s)| s.text.clone())
            .collect::<Vec<_>>(),
        length_scale,
        |i, audio| {
            let (t, sentence) = &sentences[i];
            let narration = &mut out[*t];
            if !narration.audio.samples.is_empty() {
                narration
                    .audio
                    .samples
                    .resize(narration.audio.samples.len() + gap, 0.0);
            }
            let offset = narration.audio.samples.len() as f64 / f64::from(rate);
            let words = match crate::align::align(&sentence.text, &audio, &reference) {
                Ok(words) => every_token(&sentence.text, words),
                Err(e) => {
                    notes.push(format!(
                        "the sentence \"{}\" could not be aligned ({e}); its words are timed \
                         evenly",
                        sentence.text
                    ));
                    even_words(&sentence.text, &audio)
                }
            };
            narration
                .words
                .extend(words.into_iter().map(|w| SpeechWord {
                    char_offset: w.char_offset + sentence.char_offset,
                    start: w.start + offset,
                    end: w.end + offset,
                    ..w
                }));
            narration.audio.samples.extend_from_slice(&audio.samples);
            Ok(())
        },
    )?;
    if out.iter().any(|n| n.words.is_empty()) {
        return Err(SpeechError::NothingToSay);
    }
    Ok(out)
}

/// One timed word per token of `text`: the reference engine occasionally says nothing for a
/// token (espeak-ng swallows some short words), and a caption word must still get its time.
/// A missing token takes the time between its timed neighbours, or shares the one before it
/// when there is no gap, split by character count.
pub(crate) fn every_token(text: &str, aligned: Vec<SpeechWord>) -> Vec<SpeechWord> {
    let tokens = words::tokens(text);
    let mut timed: Vec<Option<SpeechWord>> = tokens
        .iter()
        .map(|t| {
            aligned
                .iter()
                .find(|w| w.char_offset == t.char_offset)
                .cloned()
        })
        .collect();
    let mut i = 0;
    while i < tokens.len() {
        if timed[i].is_some() {
            i += 1;
            continue;
        }
        let run_end = (i..tokens.len())
            .find(|&j| timed[j].is_some())
            .unwrap_or(tokens.len());
        let next_start = timed.get(run_end).and_then(|w| w.as_ref()).map(|w| w.start);
        let prev = if i > 0 { timed[i - 1].clone() } else { None };
        let (mut from, to) = match (&prev, next_start) {
            (Some(p), Some(n)) => (p.end, n),
            (Some(p), None) => (p.end, p.end + 0.25 * (run_end - i) as f64),
            (None, Some(n)) => ((n - 0.25 * (run_end - i) as f64).max(0.0), n),
            (None, None) => (0.0, 0.25 * (run_end - i) as f64),
        };
        let mut first = i;
        let min_span = 0.05 * (run_end - i) as f64;
        if to - from < min_span {
            if let Some(p) = &prev {
                // No room: the word before gives up its span, shared by length.
                from = p.start;
                first = i - 1;
            }
        }
        let chars: usize = tokens[first..run_end]
            .iter()
            .map(|t| t.char_len.max(1))
            .sum();
        let mut at = from;
        for k in first..run_end {
            let share = (to - from) * tokens[k].char_len.max(1) as f64 / chars as f64;
            timed[k] = Some(SpeechWord {
                text: tokens[k].text.clone(),
                char_offset: tokens[k].char_offset,
                char_len: tokens[k].char_len,
                start: at,
                end: at + share,
            });
            at += share;
        }
        i = run_end;
    }
    timed.into_iter().flatten().collect()
}

/// The sentence's tokens spread evenly over its sound: the fallback when alignment fails.
pub(crate) fn even_words(text: &str, audio: &AudioBuffer) -> Vec<SpeechWord> {
    let tokens = words::tokens(text);
    if tokens.is_empty() {
        return Vec::new();
    }
    let (first, last) = sound_bounds(audio);
    let rate = f64::from(audio.sample_rate);
    let (start, end) = if last > first {
        (first as f64 / rate, last as f64 / rate)
    } else {
        (0.0, audio.duration())
    };
    let step = (end - start) / tokens.len() as f64;
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| SpeechWord {
            text: t.text,
            char_offset: t.char_offset,
            char_len: t.char_len,
            start: start + step * i as f64,
            end: start + step * (i + 1) as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_their_ends_and_short_ones_join() {
        let s =
            split("Hello there. This is the second sentence here! Ok. And the last one is long.");
        let texts: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Hello there. This is the second sentence here!",
                "Ok. And the last one is long."
            ]
        );
        assert_eq!(s[1].char_offset, 47);
        let cjk = split("今日は晴れです。明日は雨です。");
        assert_eq!(cjk.len(), 2);
        assert_eq!(cjk[1].char_offset, 8);
    }

    #[test]
    fn tokens_the_reference_skipped_get_a_share_of_time() {
        let word = |text: &str, at: usize, start: f64, end: f64| SpeechWord {
            text: text.into(),
            char_offset: at,
            char_len: text.chars().count(),
            start,
            end,
        };
        let words = every_token(
            "In the evening",
            vec![word("In", 0, 0.1, 0.3), word("evening", 7, 0.3, 0.9)],
        );
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["In", "the", "evening"]);
        assert!((words[0].start - 0.1).abs() < 1e-9 && (words[1].end - 0.3).abs() < 1e-9);
        assert!(words[0].end <= words[1].start + 1e-9 && words[1].start < words[1].end);
    }

    #[test]
    fn a_script_in_letters_the_voice_does_not_use_is_refused() {
        assert!(check_script("مرحبا بالعالم", "en-us", "en-us").is_err());
        assert!(check_script("मेरा नाम", "hi", "hi").is_ok());
        assert!(check_script("Привет мир", "ru", "ru").is_ok());
        assert!(check_script("今日は晴れです", "ja", "ja").is_ok());
        assert!(check_script("今日は晴れです", "cmn", "cmn").is_err());
        assert!(check_script("Hello, iPhone 15", "ru", "ru").is_ok());
    }
}

//! Turning the engine's events into timed input words.
//!
//! A WORD event carries a character position; it is attributed to the whitespace token of the
//! input that contains that position, and events that land on the same token (espeak-ng splits
//! some tokens, such as numbers or hyphenated words, into several spoken words) are merged, so
//! each caption word is exactly one token of the script. A word's span is then tightened to
//! its sound: silence the engine puts before it (sentence pauses) or after it is left out.

use super::espeak::{EngineEvent, EventKind};
use super::SpeechWord;
use crate::audio::AudioBuffer;

/// A whitespace-separated token of the input, in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub text: String,
    pub char_offset: usize,
    pub char_len: usize,
}

/// Splits `text` at whitespace, keeping each token's character span.
pub(crate) fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut current: Option<Token> = None;
    for (index, ch) in text.chars().enumerate() {
        if ch.is_whitespace() {
            out.extend(current.take());
        } else {
            let token = current.get_or_insert_with(|| Token {
                text: String::new(),
                char_offset: index,
                char_len: 0,
            });
            token.text.push(ch);
            token.char_len += 1;
        }
    }
    out.extend(current);
    out
}

/// Frames of this length are used to find where a word's sound stops.
const TRIM_FRAME_SECONDS: f64 = 0.005;
/// A frame quieter than this fraction of the loudest frame's RMS (about −40 dB) is silence.
const SILENCE_RELATIVE: f32 = 0.01;

/// The timed words of `text`, from the engine's events and audio.
pub(crate) fn timed_words(
    text: &str,
    events: &[EngineEvent],
    audio: &AudioBuffer,
) -> Vec<SpeechWord> {
    let tokens = tokens(text);
    let starts = word_starts(&tokens, events);
    let silence = silence_threshold(&audio.samples, frame_len(audio));
    let rate = audio.sample_rate as f64;
    let mut clause_ends: Vec<usize> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::End | EventKind::MessageTerminated))
        .map(|e| e.sample)
        .collect();
    clause_ends.sort_unstable();
    let mut words = Vec::with_capacity(starts.len());
    for (index, &(token_index, start)) in starts.iter().enumerate() {
        let limit = word_limit(index, &starts, &clause_ends, audio.samples.len());
        let end = last_sound_before(audio, start, limit, silence);
        let start = first_sound_after(audio, start, end, silence);
        let token = &tokens[token_index];
        words.push(SpeechWord {
            text: token.text.clone(),
            char_offset: token.char_offset,
            char_len: token.char_len,
            start: start as f64 / rate,
            end: end as f64 / rate,
        });
    }
    words
}

/// (token index, start sample) for each spoken token, in order.
fn word_starts(tokens: &[Token], events: &[EngineEvent]) -> Vec<(usize, usize)> {
    let mut starts: Vec<(usize, usize)> = Vec::new();
    for event in events.iter().filter(|e| e.kind == EventKind::Word) {
        let Some(token_index) = token_at(tokens, event.char_position) else {
            continue;
        };
        match starts.last() {
            // Later parts of a token already started, or an event that would run backwards.
            Some(&(last, _)) if token_index <= last => {}
            _ => starts.push((token_index, event.sample)),
        }
    }
    starts
}

/// The token containing character `position`, or the first one after it (positions can point
/// at the whitespace or punctuation before a word).
fn token_at(tokens: &[Token], position: usize) -> Option<usize> {
    let after = tokens.partition_point(|t| t.char_offset + t.char_len <= position);
    (after < tokens.len()).then_some(after)
}

/// Where word `index` must have ended: the next word's start, or an earlier clause end.
/// `clause_ends` holds the samples of the engine's clause-end events, sorted.
fn word_limit(
    index: usize,
    starts: &[(usize, usize)],
    clause_ends: &[usize],
    audio_len: usize,
) -> usize {
    let start = starts[index].1;
    let next = starts.get(index + 1).map_or(audio_len, |&(_, s)| s);
    let first_after = clause_ends.partition_point(|&s| s <= start);
    let clause_end = clause_ends.get(first_after).filter(|&&s| s < next);
    clause_end
        .copied()
        .unwrap_or(next)
        .min(audio_len)
        .max(start)
}

fn frame_len(audio: &AudioBuffer) -> usize {
    ((audio.sample_rate as f64 * TRIM_FRAME_SECONDS) as usize).max(1)
}

fn silence_threshold(samples: &[f32], frame: usize) -> f32 {
    let loudest = samples.chunks(frame).map(rms).fold(0.0f32, f32::max);
    (loudest * SILENCE_RELATIVE).max(1e-4)
}

fn rms(frame: &[f32]) -> f32 {
    if frame.is_empty() {
        return 0.0;
    }
    (frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32).sqrt()
}

/// The end of the last frame in `start..limit` louder than `silence`. A word with no loud frame
/// at all (which the engine does not produce) keeps its whole span.
fn last_sound_before(audio: &AudioBuffer, start: usize, limit: usize, silence: f32) -> usize {
    let frame = frame_len(audio);
    let mut end = limit;
    while end > start {
        let from = end.saturating_sub(frame).max(start);
        if rms(&audio.samples[from..end]) > silence {
            return end;
        }
        end = from;
    }
    limit
}

/// The start of the first frame in `start..end` louder than `silence` (the engine's word event
/// comes before any pause that precedes the word).
fn first_sound_after(audio: &AudioBuffer, start: usize, end: usize, silence: f32) -> usize {
    let frame = frame_len(audio);
    let mut from = start;
    while from < end {
        let to = (from + frame).min(end);
        if rms(&audio.samples[from..to]) > silence {
            return from;
        }
        from = to;
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_count_characters_not_bytes() {
        let t = tokens("  Привет, мир! ok");
        assert_eq!(t.len(), 3);
        assert_eq!((t[0].char_offset, t[0].char_len), (2, 7));
        assert_eq!(t[1].text, "мир!");
        assert_eq!((t[1].char_offset, t[1].char_len), (10, 4));
        assert_eq!(t[2].char_offset, 15);
    }

    #[test]
    fn positions_map_to_the_containing_or_next_token() {
        let t = tokens("ab  cd");
        assert_eq!(token_at(&t, 0), Some(0));
        assert_eq!(token_at(&t, 1), Some(0));
        assert_eq!(token_at(&t, 2), Some(1));
        assert_eq!(token_at(&t, 5), Some(1));
        assert_eq!(token_at(&t, 6), None);
    }

    fn word(position: usize, sample: usize) -> EngineEvent {
        EngineEvent {
            kind: EventKind::Word,
            char_position: position,
            char_len: 1,
            sample,
        }
    }

    #[test]
    fn events_inside_one_token_merge() {
        let t = tokens("call 555-1234 now");
        let starts = word_starts(&t, &[word(0, 0), word(5, 10), word(9, 20), word(14, 30)]);
        assert_eq!(starts, [(0, 0), (1, 10), (2, 30)]);
    }

    #[test]
    fn trailing_silence_is_trimmed() {
        let mut samples = vec![0.5f32; 1000];
        samples.extend(vec![0.0f32; 1000]);
        let audio = AudioBuffer {
            samples,
            sample_rate: 10_000,
        };
        let silence = silence_threshold(&audio.samples, frame_len(&audio));
        assert_eq!(last_sound_before(&audio, 0, 2000, silence), 1000);
        let mut late = audio.clone();
        late.samples.reverse();
        assert_eq!(first_sound_after(&late, 0, 2000, silence), 1000);
    }
}

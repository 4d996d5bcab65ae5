//! Caption timing from a transcription service's word timestamps (Whisper's `verbose_json`
//! words) instead of local forced alignment (P-IN-5).
//!
//! The transcript is what was *heard*, the script what was *written*: they differ in
//! punctuation, case, numbers spelt out, the odd skipped or added word. Each script token is
//! matched to the next transcript word with the same letters and digits, looking a few words
//! ahead so one insertion or omission does not derail the rest; a token with no match takes an
//! even share of the time between its matched neighbours. Captions therefore always show the
//! script's own words, timed by the recording.

use crate::speech::SpeechWord;

/// One word the transcription service heard, in seconds from the start of the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct HeardWord {
    pub text: String,
    pub start: f64,
    pub end: f64,
}

/// How far ahead in the transcript a script token looks for its match.
const LOOKAHEAD: usize = 6;

fn normalise(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Times every whitespace-separated token of `text` from `heard`; `duration` bounds the
/// recording (for tokens after the last match).
pub fn time_script(text: &str, heard: &[HeardWord], duration: f64) -> Vec<SpeechWord> {
    let mut tokens: Vec<SpeechWord> = Vec::new();
    let mut start_of_token = None;
    let mut current = String::new();
    for (i, c) in text.chars().chain(std::iter::once(' ')).enumerate() {
        if c.is_whitespace() {
            if let Some(from) = start_of_token.take() {
                tokens.push(SpeechWord {
                    char_len: current.chars().count(),
                    text: std::mem::take(&mut current),
                    char_offset: from,
                    start: f64::NAN,
                    end: f64::NAN,
                });
            }
        } else {
            start_of_token.get_or_insert(i);
            current.push(c);
        }
    }

    let heard_norm: Vec<String> = heard.iter().map(|w| normalise(&w.text)).collect();
    let mut next = 0usize;
    for token in &mut tokens {
        let want = normalise(&token.text);
        if want.is_empty() {
            continue;
        }
        let window = next..heard.len().min(next + LOOKAHEAD);
        if let Some(j) = window.clone().find(|&j| heard_norm[j] == want) {
            token.start = heard[j].start;
            token.end = heard[j].end.max(heard[j].start);
            next = j + 1;
        }
    }
    fill_gaps(&mut tokens, duration.max(0.0));
    tokens
}

/// Spreads unmatched tokens evenly between the matched ones around them.
fn fill_gaps(tokens: &mut [SpeechWord], duration: f64) {
    let mut i = 0;
    while i < tokens.len() {
        if !tokens[i].start.is_nan() {
            i += 1;
            continue;
        }
        let gap_start = i;
        while i < tokens.len() && tokens[i].start.is_nan() {
            i += 1;
        }
        let from = if gap_start == 0 {
            0.0
        } else {
            tokens[gap_start - 1].end
        };
        let to = if i < tokens.len() {
            tokens[i].start
        } else {
            duration.max(from)
        };
        let n = (i - gap_start) as f64;
        let step = ((to - from) / n).max(0.0);
        for (k, token) in tokens[gap_start..i].iter_mut().enumerate() {
            token.start = from + step * k as f64;
            token.end = token.start + step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(words: &[(&str, f64, f64)]) -> Vec<HeardWord> {
        words
            .iter()
            .map(|&(t, s, e)| HeardWord {
                text: t.into(),
                start: s,
                end: e,
            })
            .collect()
    }

    #[test]
    fn matching_words_take_the_transcripts_times_and_keep_the_scripts_spelling() {
        let words = time_script(
            "Hello, World! Again.",
            &heard(&[
                ("hello", 0.1, 0.4),
                ("world", 0.5, 0.9),
                ("again", 1.0, 1.3),
            ]),
            2.0,
        );
        let got: Vec<(&str, usize, f64, f64)> = words
            .iter()
            .map(|w| (w.text.as_str(), w.char_offset, w.start, w.end))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Hello,", 0, 0.1, 0.4),
                ("World!", 7, 0.5, 0.9),
                ("Again.", 14, 1.0, 1.3)
            ]
        );
    }

    #[test]
    fn an_unheard_word_shares_the_gap_and_an_extra_heard_word_is_skipped() {
        let words = time_script(
            "the quick brown fox",
            &heard(&[
                ("the", 0.0, 0.2),
                ("um", 0.2, 0.4),
                ("quick", 0.4, 0.6),
                ("fox", 1.0, 1.2),
            ]),
            1.5,
        );
        assert_eq!(
            (words[1].start, words[1].end),
            (0.4, 0.6),
            "the filler is skipped"
        );
        assert!((words[2].start - 0.6).abs() < 1e-9 && (words[2].end - 1.0).abs() < 1e-9);
        assert_eq!((words[3].start, words[3].end), (1.0, 1.2));
    }

    #[test]
    fn with_nothing_heard_the_words_spread_over_the_recording() {
        let words = time_script("one two three four", &[], 4.0);
        let starts: Vec<f64> = words.iter().map(|w| w.start).collect();
        assert_eq!(starts, vec![0.0, 1.0, 2.0, 3.0]);
        assert!(words.iter().all(|w| w.end > w.start));
    }
}

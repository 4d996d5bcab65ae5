//! Writing systems the captions must treat differently from Latin, Greek and Cyrillic (which the
//! embedded DejaVu font draws with advances and kerning alone):
//! - Arabic joins its letters and reads right to left; Devanagari stacks conjuncts and places
//!   vowel signs around consonants. Both need an OpenType shaper and a font made for them.
//! - Chinese and Japanese put no spaces between words: a line may break between almost any two
//!   characters (UAX #14 decides where, keeping "。" and small kana off a line's start), and two
//!   words of such a script join without a space.

use unicode_linebreak::{linebreaks, BreakOpportunity};

/// A family of writing that needs its own font.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Writing {
    /// Latin, Greek, Cyrillic and everything else DejaVu Sans has.
    Default,
    Arabic,
    Devanagari,
    /// Han ideographs, kana and CJK punctuation.
    Cjk,
}

impl Writing {
    pub fn as_str(self) -> &'static str {
        match self {
            Writing::Default => "Latin",
            Writing::Arabic => "Arabic",
            Writing::Devanagari => "Devanagari",
            Writing::Cjk => "Chinese/Japanese",
        }
    }
}

/// The writing `c` belongs to, or None for characters every font shares (digits, spaces, Latin
/// punctuation) and for the default writing's letters.
pub fn writing_of(c: char) -> Option<Writing> {
    match u32::from(c) {
        0x0600..=0x06FF | 0x0750..=0x077F | 0x08A0..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            Some(Writing::Arabic)
        }
        0x0900..=0x097F | 0xA8E0..=0xA8FF => Some(Writing::Devanagari),
        _ if is_unspaced(c) => Some(Writing::Cjk),
        _ => None,
    }
}

/// The writing most of `text`'s letters are in; [`Writing::Default`] when none needs a font of
/// its own.
pub fn dominant_writing(text: &str) -> Writing {
    let mut counts = [0usize; 3];
    for c in text.chars() {
        match writing_of(c) {
            Some(Writing::Arabic) => counts[0] += 1,
            Some(Writing::Devanagari) => counts[1] += 1,
            Some(Writing::Cjk) => counts[2] += 1,
            _ => {}
        }
    }
    let Some((best, &n)) = counts.iter().enumerate().max_by_key(|(_, n)| **n) else {
        return Writing::Default;
    };
    if n == 0 {
        return Writing::Default;
    }
    [Writing::Arabic, Writing::Devanagari, Writing::Cjk][best]
}

/// A character of a script written without spaces between words: Han, kana, CJK symbols and
/// punctuation, full-width forms. (Korean Hangul is written with spaces and is not one.)
pub fn is_unspaced(c: char) -> bool {
    matches!(
        u32::from(c),
        0x3000..=0x303F   // CJK symbols and punctuation
        | 0x3040..=0x30FF // hiragana, katakana
        | 0x31F0..=0x31FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0xFF00..=0xFFEF // full-width forms
        | 0x20000..=0x2FFFF
    )
}

/// Whether two consecutive words are written with no space between them: both sides of the
/// join are characters of an unspaced script.
pub fn joins_tight(left: &str, right: &str) -> bool {
    matches!(
        (left.chars().next_back(), right.chars().next()),
        (Some(l), Some(r)) if is_unspaced(l) && is_unspaced(r)
    )
}

/// `word` cut where a line may break inside it by UAX #14, if it contains unspaced-script
/// characters (a Japanese sentence is one "word" to whitespace); otherwise the word whole.
pub fn unspaced_segments(word: &str) -> Vec<&str> {
    if !word.chars().any(is_unspaced) {
        return vec![word];
    }
    let mut out = Vec::new();
    let mut start = 0;
    for (at, opportunity) in linebreaks(word) {
        if at > start && (at == word.len() || opportunity == BreakOpportunity::Allowed) {
            out.push(&word[start..at]);
            start = at;
        }
    }
    if start < word.len() {
        out.push(&word[start..]);
    }
    out
}

/// Joins words as they are written: a space between them except where [`joins_tight`].
pub fn join_words<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for w in words {
        if !out.is_empty() && !joins_tight(&out, w) {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

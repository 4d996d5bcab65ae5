//! Grouping timed words into cues: what is on screen together, split into at most two lines.
//!
//! Every possible grouping is scored and the cheapest chosen by dynamic programming over the word
//! sequence (the same idea as optimal paragraph line breaking): each cue costs a constant, so cues
//! are filled; ending a cue anywhere but a sentence end, a clause mark or a pause costs more; a
//! sentence ending or a long silence inside a cue costs more; a cue that cannot stay up for the
//! minimum display time costs in proportion to how short it would be. Cues that do not fit two
//! lines of the measured width, or that span more than the longest display time, are never
//! considered. Words wider than a whole line
//! are broken into hyphenated pieces first, so nothing can overflow.
//!
//! Timing then follows the words: a cue starts with its first word and ends with its last, is
//! stretched toward the minimum display time and across short gaps (to avoid flicker) where the
//! next cue leaves room, and never overlaps the next cue or outlasts the last word.

use crate::text::scripts::{join_words, joins_tight, unspaced_segments};
use crate::text::Font;
use crate::timing::WordTiming;

use super::layout::CaptionLayout;

/// One caption on screen: its words (with their timings, for karaoke) and how they are broken
/// into lines (indices into `words`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub lines: Vec<Vec<usize>>,
    pub words: Vec<WordTiming>,
}

impl Cue {
    /// The text of each line, words separated by single spaces (none between two words of a
    /// script written without spaces).
    pub fn line_texts(&self) -> Vec<String> {
        self.lines
            .iter()
            .map(|line| join_words(line.iter().map(|&i| self.words[i].text.as_str())))
            .collect()
    }
}

/// A drawable word (or piece of a broken word) with its measured width.
#[derive(Debug, Clone)]
struct Token {
    word: WordTiming,
    width: f32,
    chars: usize,
    /// The next token continues this word, so a line (not necessarily the cue) must end here.
    broken: bool,
}

/// Cost weights. Only their relative sizes matter.
const CUE_COST: f64 = 1.0;
const END_AT_CLAUSE: f64 = 0.5;
const END_MID_PHRASE: f64 = 1.5;
const SENTENCE_INSIDE: f64 = 1.2;
const SHORT_CUE: f64 = 3.0;
/// Per second of silence (beyond a normal pause) between two words of the same cue.
const PAUSE_INSIDE: f64 = 1.5;
/// A silence this long between words is as good a place to end a cue as a full stop.
const PAUSE_SECONDS: f64 = 0.4;
/// Gaps shorter than this between cues are closed, so the caption does not blink off and on.
const BRIDGE_SECONDS: f64 = 0.3;

/// Groups `words` into cues that fit `layout`.
pub fn build_cues(words: &[WordTiming], layout: &CaptionLayout) -> Vec<Cue> {
    let font = layout.font;
    let tokens = tokenize(font, words, layout);
    if tokens.is_empty() {
        return Vec::new();
    }
    let lines = LineFitter::new(font, &tokens, layout);
    let ranges = best_grouping(&tokens, &lines, layout);
    let mut cues: Vec<Cue> = ranges
        .into_iter()
        .map(|(a, b)| Cue {
            start: tokens[a].word.start,
            end: tokens[b].word.end,
            lines: lines
                .split(a, b)
                .unwrap_or_else(|| vec![(a..=b).collect()])
                .into_iter()
                .map(|line| line.into_iter().map(|i| i - a).collect())
                .collect(),
            words: tokens[a..=b].iter().map(|t| t.word.clone()).collect(),
        })
        .collect();
    settle_timing(&mut cues, tokens[tokens.len() - 1].word.end, layout);
    cues
}

/// Drawable text, monotonic finite timings, and over-wide words broken into pieces.
fn tokenize(font: &Font, words: &[WordTiming], layout: &CaptionLayout) -> Vec<Token> {
    let px = layout.font_px;
    let mut tokens = Vec::with_capacity(words.len());
    let (mut last_start, mut last_end) = (0.0f64, 0.0f64);
    for w in words {
        let text = font.drawable_text(&w.text);
        if text.is_empty() {
            continue;
        }
        let start = if w.start.is_finite() {
            w.start
        } else {
            last_end
        }
        .max(last_start);
        let end = if w.end.is_finite() { w.end } else { start }.max(start);
        (last_start, last_end) = (start, end);
        // A Chinese or Japanese "word" is a whole phrase to whitespace: its line-break segments
        // become tokens of their own (sharing its time by characters), so lines and cues can end
        // between them.
        let pieces: Vec<String> = text
            .split(' ')
            .flat_map(unspaced_segments)
            .flat_map(|part| font.break_word(part, px, layout.max_line_width))
            .collect();
        let total_chars: usize = pieces.iter().map(|p| p.chars().count()).sum();
        let mut piece_start = start;
        for (i, piece) in pieces.iter().enumerate() {
            let chars = piece.chars().count();
            let share = chars as f64 / total_chars.max(1) as f64;
            let piece_end = if i + 1 == pieces.len() {
                end
            } else {
                piece_start + (end - start) * share
            };
            tokens.push(Token {
                word: WordTiming::new(piece.clone(), piece_start, piece_end),
                width: font.measure(piece, px),
                chars,
                broken: i + 1 < pieces.len() && piece.ends_with('-'),
            });
            piece_start = piece_end;
        }
    }
    tokens
}

/// Answers "does tokens a..=b fit on one line" in constant time from prefix sums.
struct LineFitter {
    /// prefix[k]: width of tokens 0..k including the gaps between them.
    prefix: Vec<f32>,
    gaps: Vec<f32>,
    char_prefix: Vec<usize>,
    /// broken_prefix[k]: how many of tokens 0..k are pieces continued by the next token.
    broken_prefix: Vec<usize>,
    /// Whether each token ends with sentence or clause punctuation.
    punctuated: Vec<bool>,
    max_width: f32,
    max_chars: usize,
    max_lines: usize,
    max_words: usize,
}

impl LineFitter {
    fn new(font: &Font, tokens: &[Token], layout: &CaptionLayout) -> LineFitter {
        let gaps: Vec<f32> = tokens
            .windows(2)
            .map(|p| {
                if joins_tight(&p[0].word.text, &p[1].word.text) {
                    0.0
                } else {
                    font.gap_between(&p[0].word.text, &p[1].word.text, layout.font_px)
                }
            })
            .collect();
        let mut prefix = vec![0.0f32];
        let mut char_prefix = vec![0usize];
        let mut broken_prefix = vec![0usize];
        for (k, t) in tokens.iter().enumerate() {
            let gap = if k > 0 { gaps[k - 1] } else { 0.0 };
            prefix.push(prefix[k] + gap + t.width);
            char_prefix.push(char_prefix[k] + t.chars + usize::from(k > 0));
            broken_prefix.push(broken_prefix[k] + usize::from(t.broken));
        }
        LineFitter {
            prefix,
            gaps,
            char_prefix,
            broken_prefix,
            punctuated: tokens
                .iter()
                .map(|t| ends_sentence(&t.word.text) || ends_clause(&t.word.text))
                .collect(),
            max_width: layout.max_line_width,
            max_chars: layout.max_chars,
            max_lines: layout.max_lines.max(1),
            max_words: layout.max_words.unwrap_or(usize::MAX).max(1),
        }
    }

    fn width(&self, a: usize, b: usize) -> f32 {
        let leading_gap = if a > 0 { self.gaps[a - 1] } else { 0.0 };
        self.prefix[b + 1] - self.prefix[a] - leading_gap
    }

    fn chars(&self, a: usize, b: usize) -> usize {
        self.char_prefix[b + 1] - self.char_prefix[a] - usize::from(a > 0)
    }

    fn fits(&self, a: usize, b: usize) -> bool {
        let no_piece_inside = self.broken_prefix[b] == self.broken_prefix[a];
        no_piece_inside
            && b - a < self.max_words
            && self.width(a, b) <= self.max_width
            && (a == b || self.chars(a, b) <= self.max_chars)
    }

    /// The best way to show tokens a..=b in at most `max_lines` lines: one line if it fits,
    /// otherwise the most balanced two-line split, preferring a break after punctuation.
    fn split(&self, a: usize, b: usize) -> Option<Vec<Vec<usize>>> {
        if self.fits(a, b) {
            return Some(vec![(a..=b).collect()]);
        }
        if self.max_lines < 2 {
            return None;
        }
        let mut best: Option<(f32, usize)> = None;
        for m in a..b {
            if !self.fits(a, m) || !self.fits(m + 1, b) {
                continue;
            }
            let (top, bottom) = (self.width(a, m), self.width(m + 1, b));
            // Balanced lines read best; a slightly shorter top line (a "pyramid") is preferred.
            let mut cost = (top - bottom).abs() / self.max_width;
            if top > bottom {
                cost += 0.05;
            }
            if !self.breaks_after_punctuation(m) {
                cost += 0.3;
            }
            if best.is_none_or(|(c, _)| cost < c) {
                best = Some((cost, m));
            }
        }
        best.map(|(_, m)| vec![(a..=m).collect(), (m + 1..=b).collect()])
    }

    fn breaks_after_punctuation(&self, m: usize) -> bool {
        self.punctuated[m]
    }
}

fn ends_sentence(text: &str) -> bool {
    let trimmed = text.trim_end_matches(['"', '\'', '»', '”', '’', ')']);
    trimmed.ends_with(['.', '!', '?', '…', '。', '！', '？', '।', '؟', '۔'])
}

fn ends_clause(text: &str) -> bool {
    text.ends_with([',', ';', ':', '—', '–', '、', '，', '；', '：', '،', '؛'])
}

/// Chooses cue boundaries minimising total cost. Returns inclusive token ranges.
fn best_grouping(
    tokens: &[Token],
    lines: &LineFitter,
    layout: &CaptionLayout,
) -> Vec<(usize, usize)> {
    let n = tokens.len();
    // best[j]: cheapest cost of cueing tokens 0..j; from[j]: where its last cue starts.
    let mut best = vec![f64::INFINITY; n + 1];
    let mut from = vec![0usize; n + 1];
    best[0] = 0.0;
    for j in 1..=n {
        let last = j - 1;
        for i in (0..j).rev() {
            let single = i == last;
            let too_long = tokens[last].word.end - tokens[i].word.start > layout.max_cue_seconds;
            // Both limits only get worse as the cue grows leftwards, so stop at the first miss.
            if !single && (too_long || lines.split(i, last).is_none()) {
                break;
            }
            let cost = best[i] + cue_cost(tokens, i, last, layout);
            if cost < best[j] {
                best[j] = cost;
                from[j] = i;
            }
        }
    }
    let mut ranges = Vec::new();
    let mut j = n;
    while j > 0 {
        ranges.push((from[j], j - 1));
        j = from[j];
    }
    ranges.reverse();
    ranges
}

fn cue_cost(tokens: &[Token], a: usize, b: usize, layout: &CaptionLayout) -> f64 {
    let mut cost = CUE_COST;
    if let Some(next) = tokens.get(b + 1) {
        let text = &tokens[b].word.text;
        let pause = next.word.start - tokens[b].word.end;
        if !(ends_sentence(text) || pause >= PAUSE_SECONDS) {
            cost += if ends_clause(text) || tokens[b].broken {
                END_AT_CLAUSE
            } else {
                END_MID_PHRASE
            };
        }
    }
    cost += SENTENCE_INSIDE
        * tokens[a..b]
            .iter()
            .filter(|t| ends_sentence(&t.word.text))
            .count() as f64;
    // Silence inside a cue leaves words on screen long before they are said.
    cost += PAUSE_INSIDE
        * tokens[a..=b]
            .windows(2)
            .map(|p| (p[1].word.start - p[0].word.end - PAUSE_SECONDS).max(0.0))
            .sum::<f64>();
    // What matters is how long the cue can stay up, which a following pause extends.
    let room = tokens
        .get(b + 1)
        .map_or(tokens[b].word.end, |next| next.word.start)
        - tokens[a].word.start;
    if room < layout.min_cue_seconds {
        cost += SHORT_CUE * (layout.min_cue_seconds - room) / layout.min_cue_seconds;
    }
    cost
}

/// Stretches cues toward the minimum display time and over short gaps, caps them at the maximum,
/// and keeps each inside [its start, next cue's start] and the words' overall span.
fn settle_timing(cues: &mut [Cue], last_word_end: f64, layout: &CaptionLayout) {
    for k in 0..cues.len() {
        let next_start = cues.get(k + 1).map_or(last_word_end, |c| c.start);
        let cue = &mut cues[k];
        let mut end = cue.end.max(cue.start + layout.min_cue_seconds);
        if next_start - end < BRIDGE_SECONDS {
            end = end.max(next_start);
        }
        end = end.min(cue.start + layout.max_cue_seconds);
        cue.end = end.min(next_start).min(last_word_end).max(cue.start);
    }
}

//! The scene plan: a script becomes an ordered list of scenes, each with the text its narration
//! speaks, the words its captions show, and the media it shows.
//!
//! Scenes follow the script's own structure: paragraphs, then sentences; a sentence too long for
//! one shot is split at its clause boundaries, and very short sentences join the next one so no
//! scene flashes by. Markdown, emoji and URLs are cleaned first: link and emphasis markup is
//! removed, a URL becomes its domain (what a person would read aloud), and emoji are dropped
//! because they can be neither spoken nor drawn in the caption font.

use std::ops::Range;

use reelsmith_core::{Code, ErrorCode};

/// A sentence longer than this many words is split at clause boundaries.
const MAX_SCENE_WORDS: usize = 30;
/// A sentence shorter than this joins the next sentence of its paragraph.
const MIN_SCENE_WORDS: usize = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct ScenePlan {
    pub scenes: Vec<PlannedScene>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedScene {
    /// What the speech engine reads: the caption words joined by single spaces.
    pub speech_text: String,
    /// The words as captions show them, each with its span in `speech_text`.
    pub words: Vec<PlanWord>,
    /// Index into the render's media list; `None` means a title card.
    pub media: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanWord {
    pub display: String,
    /// The word's span in `speech_text`, in characters (not bytes), as the speech engine counts.
    pub chars: Range<usize>,
}

impl ScenePlan {
    pub fn word_count(&self) -> usize {
        self.scenes.iter().map(|s| s.words.len()).sum()
    }
}

impl PlannedScene {
    /// Which word a character position of `speech_text` belongs to (the word that contains it,
    /// else the nearest one before it).
    pub fn word_at_char(&self, char_offset: usize) -> Option<usize> {
        let after = self.words.partition_point(|w| w.chars.start <= char_offset);
        after
            .checked_sub(1)
            .or((!self.words.is_empty()).then_some(0))
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("the script has no words to speak once markup, emoji and symbols are removed")]
    NoWords,
    #[error("scene {scene} shows media {media}, but the render has {count}")]
    MediaOutOfRange {
        scene: usize,
        media: usize,
        count: usize,
    },
}

impl ErrorCode for PlanError {
    fn code(&self) -> Code {
        match self {
            PlanError::NoWords => Code::ScriptNoWords,
            PlanError::MediaOutOfRange { .. } => Code::StoryboardInvalid,
        }
    }

    fn is_client_error(&self) -> bool {
        true
    }
}

/// Splits `script` into scenes and assigns `media_count` media to them in order, cycling.
pub fn plan(script: &str, media_count: usize) -> Result<ScenePlan, PlanError> {
    let mut scenes = Vec::new();
    for paragraph in paragraphs(script) {
        let words = words_of(&paragraph);
        for chunk in scene_chunks(&sentences(&words)) {
            let media = (media_count > 0).then(|| scenes.len() % media_count);
            scenes.push(scene_from_words(chunk, media));
        }
    }
    if scenes.is_empty() {
        return Err(PlanError::NoWords);
    }
    Ok(ScenePlan { scenes })
}

/// One scene decided by the user (a storyboard): its text, what it shows and how its camera
/// moves. The engine makes exactly one scene of it, whatever its length.
#[derive(Debug, Clone, PartialEq)]
pub struct GivenScene {
    pub text: String,
    /// Index into the render's media list; `None` means a title card.
    pub media: Option<usize>,
    pub motion: reelsmith_core::Motion,
    /// How this scene gives way to the next (the last scene's is unused).
    pub transition: reelsmith_core::Transition,
}

/// The scene plan of a storyboard: scene *i* is `scenes[i]`, its text cleaned like a script's
/// but never split or joined.
pub fn plan_given(scenes: &[GivenScene], media_count: usize) -> Result<ScenePlan, PlanError> {
    if scenes.is_empty() {
        return Err(PlanError::NoWords);
    }
    let mut out = Vec::with_capacity(scenes.len());
    for (i, scene) in scenes.iter().enumerate() {
        if let Some(m) = scene.media.filter(|&m| m >= media_count) {
            return Err(PlanError::MediaOutOfRange {
                scene: i,
                media: m,
                count: media_count,
            });
        }
        let words = scene_words(&scene.text);
        if words.is_empty() {
            return Err(PlanError::NoWords);
        }
        out.push(scene_from_words(words, scene.media));
    }
    Ok(ScenePlan { scenes: out })
}

/// The caption words of one scene's text, cleaned like a script (markup, emoji, URLs).
pub fn scene_words(text: &str) -> Vec<String> {
    paragraphs(text).iter().flat_map(|p| words_of(p)).collect()
}

fn scene_from_words(words: Vec<String>, media: Option<usize>) -> PlannedScene {
    let mut speech_text = String::new();
    let mut plan_words = Vec::with_capacity(words.len());
    let mut chars = 0;
    for word in words {
        if !speech_text.is_empty() {
            speech_text.push(' ');
            chars += 1;
        }
        let len = word.chars().count();
        speech_text.push_str(&word);
        plan_words.push(PlanWord {
            display: word,
            chars: chars..chars + len,
        });
        chars += len;
    }
    PlannedScene {
        speech_text,
        words: plan_words,
        media,
    }
}

/// Paragraphs separated by blank lines, each line cleaned of block-level markdown. Fenced code
/// is dropped: it is neither speakable nor caption material.
fn paragraphs(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_fence = false;
    for line in script.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if trimmed.is_empty() || is_rule(trimmed) {
            flush(&mut out, &mut current);
            continue;
        }
        let (content, is_heading) = strip_block_markup(trimmed);
        if is_heading {
            // A heading is a scene of its own, and ends with a full stop for the speech engine's
            // intonation if it has no punctuation of its own.
            flush(&mut out, &mut current);
            let mut heading = clean_inline(content);
            if heading.chars().last().is_some_and(|c| c.is_alphanumeric()) {
                heading.push('.');
            }
            out.push(heading);
            continue;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&clean_inline(content));
    }
    flush(&mut out, &mut current);
    out
}

fn flush(out: &mut Vec<String>, current: &mut String) {
    if !current.trim().is_empty() {
        out.push(std::mem::take(current));
    }
    current.clear();
}

fn is_rule(line: &str) -> bool {
    line.len() >= 3 && line.chars().all(|c| matches!(c, '-' | '*' | '_' | ' '))
}

/// Removes heading marks, quote marks and list bullets; says whether the line was a heading.
fn strip_block_markup(line: &str) -> (&str, bool) {
    let mut rest = line;
    let mut heading = false;
    let hashes = rest.chars().take_while(|c| *c == '#').count();
    if (1..=6).contains(&hashes) && rest[hashes..].starts_with(' ') {
        rest = &rest[hashes..];
        heading = true;
    }
    while let Some(r) = rest.trim_start().strip_prefix('>') {
        rest = r;
    }
    let t = rest.trim_start();
    for bullet in ["- ", "* ", "+ "] {
        if let Some(r) = t.strip_prefix(bullet) {
            return (r.trim(), heading);
        }
    }
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && digits < 4 {
        let after = &t[digits..];
        if let Some(r) = after
            .strip_prefix(". ")
            .or_else(|| after.strip_prefix(") "))
        {
            return (r.trim(), heading);
        }
    }
    (t.trim(), heading)
}

/// Inline cleaning: images and links keep their text, URLs become their domain, emphasis and
/// code marks, HTML tags and emoji are removed.
fn clean_inline(text: &str) -> String {
    let text = replace_links(text);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' => {
                // Drop an HTML tag such as <br> or <b>; a lone '<' stays.
                let rest: String = chars.clone().take(64).collect();
                if let Some(end) = rest.find('>') {
                    let tag = &rest[..end];
                    if tag
                        .trim_start_matches('/')
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic())
                    {
                        for _ in 0..=end {
                            chars.next();
                        }
                        out.push(' ');
                        continue;
                    }
                }
                out.push(c);
            }
            '`' => {}
            '*' | '_' | '~' => {
                // Emphasis marks sit at word edges; an underscore inside a word (snake_case) stays.
                let prev_word = out.chars().last().is_some_and(|p| p.is_alphanumeric());
                let next_word = chars.peek().is_some_and(|n| n.is_alphanumeric());
                if c == '_' && prev_word && next_word {
                    out.push(c);
                }
            }
            c if is_emoji(c) => {}
            c => out.push(c),
        }
    }
    out.split_whitespace()
        .map(url_to_domain)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `![alt](url)` → `alt`, `[text](url)` → `text`.
fn replace_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close_rel) = rest[open..].find("](") else {
            break;
        };
        let close = open + close_rel;
        let Some(end_rel) = rest[close + 2..].find(')') else {
            break;
        };
        let end = close + 2 + end_rel;
        let before = rest[..open].strip_suffix('!').unwrap_or(&rest[..open]);
        out.push_str(before);
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A token that is a URL becomes its host without `www.`; surrounding punctuation stays.
fn url_to_domain(token: &str) -> String {
    let start = token
        .find("https://")
        .or_else(|| token.find("http://"))
        .or_else(|| token.find("www."));
    let Some(start) = start else {
        return token.to_string();
    };
    let url = &token[start..];
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let host_end = after_scheme
        .find(['/', '?', '#', ':'])
        .unwrap_or(after_scheme.len());
    let host = after_scheme[..host_end].trim_start_matches("www.");
    let host = host.trim_end_matches(|c: char| !c.is_alphanumeric());
    let trailing: String = url
        .chars()
        .rev()
        .take_while(|c| matches!(c, '.' | ',' | '!' | '?' | ';' | ':' | ')'))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{}{}{}", &token[..start], host, trailing)
}

/// Pictographs, dingbats, flags and the joiners and selectors that build emoji sequences.
fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x2300..=0x23FF
        | 0xFE00..=0xFE0F | 0x200D | 0x20E3 | 0xE0020..=0xE007F | 0x3030 | 0x303D)
}

/// The caption words of a paragraph: whitespace-separated tokens that contain a letter or a digit.
/// Tokens of punctuation alone (a dash, an ellipsis) are not words; their pause is kept by the
/// punctuation on the neighbouring words.
fn words_of(paragraph: &str) -> Vec<String> {
    paragraph
        .split_whitespace()
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .map(str::to_string)
        .collect()
}

const ABBREVIATIONS: &[&str] = &[
    "mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "jr.", "sr.", "vs.", "etc.", "e.g.", "i.e.",
    "inc.", "ltd.", "co.", "no.", "approx.", "fig.", "u.s.", "a.m.", "p.m.",
];

fn ends_sentence(word: &str) -> bool {
    let core = word.trim_end_matches(['"', '\'', ')', ']', '”', '’', '»']);
    let ends = core.ends_with(['.', '!', '?', '…']);
    if !ends || core.ends_with(['!', '?', '…']) {
        return ends;
    }
    let lower = core.to_lowercase();
    let initial = core.chars().count() == 2 && core.chars().next().is_some_and(char::is_uppercase);
    !ABBREVIATIONS.contains(&lower.as_str()) && !initial
}

fn sentences(words: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for word in words {
        current.push(word.clone());
        if ends_sentence(word) {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Sentences become scenes: long ones split at clauses, short ones joined to the next.
fn scene_chunks(sentences: &[Vec<String>]) -> Vec<Vec<String>> {
    let mut pieces: Vec<Vec<String>> = Vec::new();
    for sentence in sentences {
        split_long(sentence.clone(), &mut pieces);
    }
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for piece in pieces {
        pending.extend(piece);
        if pending.len() >= MIN_SCENE_WORDS {
            out.push(std::mem::take(&mut pending));
        }
    }
    if !pending.is_empty() {
        match out.last_mut() {
            Some(last) if last.len() + pending.len() <= MAX_SCENE_WORDS => last.extend(pending),
            _ => out.push(pending),
        }
    }
    out
}

/// Splits a sentence longer than the limit at the clause boundary nearest its middle, or at the
/// middle itself when it has no punctuation to split at.
fn split_long(words: Vec<String>, out: &mut Vec<Vec<String>>) {
    if words.len() <= MAX_SCENE_WORDS {
        out.push(words);
        return;
    }
    let middle = words.len() / 2;
    let clause_end = |w: &String| w.ends_with([',', ';', ':', '—', '–']);
    let cut = (1..words.len() - 1)
        .filter(|&i| clause_end(&words[i - 1]))
        .min_by_key(|&i| i.abs_diff(middle))
        .filter(|&i| i.abs_diff(middle) < middle / 2 + 1)
        .unwrap_or(middle);
    let mut first = words;
    let second = first.split_off(cut);
    split_long(first, out);
    split_long(second, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(plan: &ScenePlan) -> Vec<&str> {
        plan.scenes.iter().map(|s| s.speech_text.as_str()).collect()
    }

    #[test]
    fn paragraphs_then_sentences() {
        let plan = plan(
            "The sun rises over the quiet hills. Birds begin their morning songs.\n\n\
             A new day starts in the valley below us all.",
            0,
        )
        .unwrap();
        assert_eq!(
            texts(&plan),
            [
                "The sun rises over the quiet hills.",
                "Birds begin their morning songs.",
                "A new day starts in the valley below us all."
            ]
        );
        assert!(plan.scenes.iter().all(|s| s.media.is_none()));
    }

    #[test]
    fn media_cycle_in_order() {
        let script = "One two three four five. Six seven eight nine ten. Eleven twelve thirteen fourteen fifteen.";
        let plan = plan(script, 2).unwrap();
        let media: Vec<_> = plan.scenes.iter().map(|s| s.media).collect();
        assert_eq!(media, [Some(0), Some(1), Some(0)]);
    }

    #[test]
    fn markdown_urls_and_emoji_are_cleaned() {
        let plan = plan(
            "# Big **news** today\n\n- Visit [our site](https://example.com/x) 🎉 or https://www.rust-lang.org/learn.\n\
             Some `code` and snake_case stay readable.",
            0,
        )
        .unwrap();
        assert_eq!(
            texts(&plan),
            [
                "Big news today.",
                "Visit our site or rust-lang.org.",
                "Some code and snake_case stay readable."
            ]
        );
    }

    #[test]
    fn abbreviations_do_not_end_sentences() {
        let plan = plan(
            "Dr. Smith met Mr. J. Jones at 3.30 p.m. in the hall. They talked for hours about it.",
            0,
        )
        .unwrap();
        assert_eq!(plan.scenes.len(), 2, "{:?}", texts(&plan));
    }

    #[test]
    fn long_sentences_split_at_clauses() {
        let long = "When the river rose over its banks in the spring of that long and difficult year, \
            the people of the village gathered their animals and their children and climbed the hill \
            behind the church where they waited for three days and nights.";
        let plan = plan(long, 0).unwrap();
        assert!(plan.scenes.len() >= 2);
        assert!(plan.scenes[0].speech_text.ends_with("year,"));
        assert!(plan.scenes.iter().all(|s| s.words.len() <= MAX_SCENE_WORDS));
    }

    #[test]
    fn short_sentences_join_the_next() {
        let plan = plan("Hello. Welcome to the show about rivers.", 0).unwrap();
        assert_eq!(texts(&plan), ["Hello. Welcome to the show about rivers."]);
    }

    #[test]
    fn punctuation_and_emoji_alone_have_no_words() {
        assert_eq!(plan("!!! ... 🎉🔥 — ?? 👍🏽", 1), Err(PlanError::NoWords));
        assert_eq!(plan("!!! 🎉", 0).unwrap_err().code(), "script.no_words");
    }

    #[test]
    fn word_spans_index_the_speech_text_in_characters() {
        let plan = plan(
            "Ça va très bien, merci beaucoup. Привет всем друзьям сегодня.",
            0,
        )
        .unwrap();
        for scene in &plan.scenes {
            let chars: Vec<char> = scene.speech_text.chars().collect();
            for w in &scene.words {
                let span: String = chars[w.chars.clone()].iter().collect();
                assert_eq!(span, w.display);
            }
            assert_eq!(scene.word_at_char(0), Some(0));
            let last = scene.words.last().unwrap();
            assert_eq!(
                scene.word_at_char(last.chars.start + 1),
                Some(scene.words.len() - 1)
            );
        }
    }
}

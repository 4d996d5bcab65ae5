//! Search terms from a scene's text, locally: no model, no network, the same answer every time.
//!
//! Words are lower-cased, stop words and short or numeric tokens dropped, plurals folded to their
//! singular, and each remaining word weighed by how often it occurs, how early it first appears
//! (narration states its subject first), its length (longer words carry more meaning), whether it
//! was capitalised inside a sentence (a name), and whether its ending marks it as an adverb or a
//! verb form rather than a thing a picture can show. Ties break alphabetically.

use std::collections::BTreeMap;

/// One search term and its weight (larger is more important).
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub word: String,
    pub weight: f64,
}

/// English function words and the verbs and adverbs narration is full of that no picture shows.
/// Sorted, for a binary search.
pub const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "across",
    "after",
    "again",
    "against",
    "all",
    "almost",
    "along",
    "already",
    "also",
    "although",
    "always",
    "am",
    "among",
    "an",
    "and",
    "another",
    "any",
    "anyone",
    "anything",
    "are",
    "around",
    "as",
    "at",
    "away",
    "back",
    "be",
    "became",
    "because",
    "become",
    "becomes",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "came",
    "can",
    "cannot",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "done",
    "down",
    "during",
    "each",
    "either",
    "else",
    "enough",
    "even",
    "ever",
    "every",
    "everyone",
    "everything",
    "few",
    "find",
    "first",
    "for",
    "from",
    "further",
    "get",
    "gets",
    "getting",
    "give",
    "given",
    "go",
    "goes",
    "going",
    "gone",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "however",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "keep",
    "know",
    "last",
    "least",
    "less",
    "let",
    "like",
    "made",
    "make",
    "makes",
    "many",
    "may",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "myself",
    "near",
    "need",
    "never",
    "new",
    "next",
    "no",
    "nor",
    "not",
    "nothing",
    "now",
    "of",
    "off",
    "often",
    "on",
    "once",
    "one",
    "only",
    "onto",
    "or",
    "other",
    "others",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "per",
    "perhaps",
    "quite",
    "rather",
    "really",
    "said",
    "same",
    "say",
    "says",
    "see",
    "seem",
    "seems",
    "she",
    "should",
    "show",
    "since",
    "so",
    "some",
    "someone",
    "something",
    "sometimes",
    "soon",
    "still",
    "such",
    "take",
    "takes",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "thing",
    "things",
    "this",
    "those",
    "though",
    "through",
    "thus",
    "till",
    "to",
    "today",
    "together",
    "too",
    "toward",
    "towards",
    "two",
    "under",
    "until",
    "up",
    "upon",
    "us",
    "use",
    "used",
    "very",
    "via",
    "want",
    "was",
    "way",
    "ways",
    "we",
    "well",
    "were",
    "what",
    "whatever",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "without",
    "would",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

fn is_stop(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// `cities` → `city`, `boxes` → `box`, `dogs` → `dog`; `glass`, `bus`, `basis` stay.
pub fn singular(word: &str) -> String {
    let n = word.len();
    if n > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..n - 3]);
    }
    for tail in ["ches", "shes", "xes", "sses"] {
        if n > tail.len() + 1 && word.ends_with(tail) {
            return word[..n - 2].to_string();
        }
    }
    if n > 3 && word.ends_with('s') && !["ss", "us", "is", "ous"].iter().any(|t| word.ends_with(t))
    {
        return word[..n - 1].to_string();
    }
    word.to_string()
}

/// Less weight for words whose ending says they describe an action or a manner.
fn form_factor(word: &str) -> f64 {
    if word.len() > 5 && word.ends_with("ly") {
        0.4
    } else if word.len() > 5 && (word.ends_with("ing") || word.ends_with("ed")) {
        0.7
    } else {
        1.0
    }
}

/// The words of `text` in order, each with whether it was capitalised away from a sentence start.
fn tokens(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut sentence_start = true;
    for raw in text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’')) {
        let trimmed = raw.trim_matches(|c| c == '\'' || c == '’');
        if trimmed.is_empty() {
            continue;
        }
        let capital = !sentence_start && trimmed.chars().next().is_some_and(char::is_uppercase);
        let stem = trimmed
            .split(['\'', '’'])
            .next()
            .unwrap_or(trimmed)
            .to_lowercase();
        out.push((stem, capital));
        // The splitter dropped the punctuation; look at what followed this word.
        sentence_start = false;
        let end = raw.as_ptr() as usize - text.as_ptr() as usize + raw.len();
        if let Some(next) = text[end..].chars().next() {
            sentence_start = matches!(next, '.' | '!' | '?' | '\n' | ':');
        }
    }
    out
}

/// The `max` heaviest content words of `text`, heaviest first.
pub fn extract(text: &str, max: usize) -> Vec<Term> {
    let toks = tokens(text);
    let total = toks.len().max(1) as f64;
    // word → (count, first position, capitalised somewhere)
    let mut seen: BTreeMap<String, (u32, usize, bool)> = BTreeMap::new();
    for (pos, (word, capital)) in toks.iter().enumerate() {
        let chars = word.chars().count();
        if chars < 3 || is_stop(word) || word.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let word = singular(word);
        if is_stop(&word) {
            continue;
        }
        let entry = seen.entry(word).or_insert((0, pos, false));
        entry.0 += 1;
        entry.2 |= *capital;
    }
    let mut terms: Vec<Term> = seen
        .into_iter()
        .map(|(word, (count, first, capital))| {
            let frequency = 1.0 + (f64::from(count) - 1.0).min(3.0) * 0.5;
            let position = 1.0 + 0.5 * (1.0 - first as f64 / total);
            let length = 0.6 + (word.chars().count().min(10) as f64) * 0.06;
            let name = if capital { 1.3 } else { 1.0 };
            let weight = frequency * position * length * name * form_factor(&word);
            Term {
                word,
                weight: (weight * 1000.0).round() / 1000.0,
            }
        })
        .collect();
    terms.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.word.cmp(&b.word))
    });
    terms.truncate(max);
    terms
}

/// Terms from a chat model's suggestions (words or short phrases, best first): each phrase's
/// content words, folded like [`extract`]'s so they match the same library tags, weighted by
/// the phrase's place in the list, without repeats; at most `max`.
pub fn from_phrases(phrases: &[String], max: usize) -> Vec<Term> {
    let mut terms: Vec<Term> = Vec::new();
    for (rank, phrase) in phrases.iter().enumerate() {
        for (word, _) in tokens(phrase) {
            let word = singular(&word);
            if word.chars().count() < 3 || is_stop(&word) || terms.iter().any(|t| t.word == word) {
                continue;
            }
            if terms.len() == max {
                return terms;
            }
            let weight = 2.0 / (1.0 + rank as f64 * 0.25);
            terms.push(Term {
                word,
                weight: (weight * 1000.0).round() / 1000.0,
            });
        }
    }
    terms
}

/// The query a stock search sends: the terms' words, heaviest first, within `max_chars`
/// (Pixabay takes at most 100 characters). Only these words leave the server (P-TP-2).
pub fn query(terms: &[Term], max_words: usize, max_chars: usize) -> String {
    let mut q = String::new();
    for t in terms.iter().take(max_words) {
        let extra = t.word.len() + usize::from(!q.is_empty());
        if q.len() + extra > max_chars {
            break;
        }
        if !q.is_empty() {
            q.push(' ');
        }
        q.push_str(&t.word);
    }
    q
}

/// The words of a tag list, title or description, folded the way [`extract`] folds them, so a
/// library tag "Beaches" matches the scene word "beach".
pub fn normalise(text: &str) -> Vec<String> {
    tokens(text)
        .into_iter()
        .map(|(w, _)| singular(&w))
        .filter(|w| !w.is_empty())
        .collect()
}

//! Automated checks before any provider is called (P-SAFE-1): operator rules, each a category
//! with an action (`refuse` or `hold`), a list of terms and a list of patterns, checked against
//! the texts of a request (script, prompts, negative prompts, titles).
//!
//! Terms match whole words and phrases after normalisation (lower case, every run of
//! non-alphanumerics one space), so "Child-Porn!" and "child  porn" match "child porn" while
//! "pornament" does not match "porn". Patterns are regular expressions over the lower-cased text.
//!
//! [`RuleBook`] holds the rules in use: the shipped default list, or an operator's file that is
//! read again when its modification time changes (a broken edit keeps the last good rules).
//!
//! [`classifier::ImageClassifier`] is the optional image check: a local ONNX model scoring
//! uploads and generated frames per class, with refuse and hold thresholds.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod classifier;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use reelsmith_core::Code;
use regex::Regex;
use serde::Deserialize;

/// The rules shipped with Reelsmith, used when the operator names no file.
pub const DEFAULT_RULES: &str = include_str!("../default_rules.toml");

/// What a category's match does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Refused at once with a stable code; nothing is queued, charged or sent anywhere.
    Refuse,
    /// Queued but held until a moderator approves it.
    Hold,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Borderline: the categories that matched, for the reviewer.
    Hold {
        categories: Vec<String>,
    },
    /// Clearly prohibited: the categories that matched (refusals first).
    Refuse {
        categories: Vec<String>,
    },
}

impl Verdict {
    /// The verdict of the categories that matched: any refusing one refuses, else any holding
    /// one holds, else allowed.
    pub fn of(refuse: Vec<String>, hold: Vec<String>) -> Verdict {
        if !refuse.is_empty() {
            Verdict::Refuse { categories: refuse }
        } else if !hold.is_empty() {
            Verdict::Hold { categories: hold }
        } else {
            Verdict::Allow
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("the moderation rules are not valid TOML: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error(
        "category `{category}`: pattern `{pattern}` is not a valid regular expression: {error}"
    )]
    Pattern {
        category: String,
        pattern: String,
        error: regex::Error,
    },
    #[error("category `{0}` has neither terms nor patterns")]
    Empty(String),
    #[error("category name `{0}` must be lower-case letters, digits and underscores")]
    Name(String),
    #[error("cannot read the moderation rules file {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl RulesError {
    /// The stable code an operator's tools show.
    pub fn code(&self) -> Code {
        match self {
            RulesError::Syntax(_) => Code::ModerationRulesSyntax,
            RulesError::Pattern { .. } => Code::ModerationRulesPattern,
            RulesError::Empty(_) => Code::ModerationRulesEmptyCategory,
            RulesError::Name(_) => Code::ModerationRulesCategoryName,
            RulesError::Io { .. } => Code::ModerationRulesUnreadable,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    category: Vec<CategoryFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryFile {
    name: String,
    action: Action,
    #[serde(default)]
    terms: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
}

#[derive(Debug)]
struct Category {
    name: String,
    action: Action,
    /// Normalised, each surrounded by one space so a match is a whole word or phrase.
    terms: Vec<String>,
    patterns: Vec<Regex>,
}

/// A parsed set of rules.
#[derive(Debug)]
pub struct Rules {
    categories: Vec<Category>,
}

/// Lower case, and every run of characters that are not letters or digits one space, with a
/// space at each end.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

impl Rules {
    pub fn parse(text: &str) -> Result<Rules, RulesError> {
        let file: RulesFile = toml::from_str(text)?;
        let mut categories = Vec::with_capacity(file.category.len());
        for c in file.category {
            if c.name.is_empty()
                || !c
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(RulesError::Name(c.name));
            }
            let terms: Vec<String> = c
                .terms
                .iter()
                .map(|t| normalise(t))
                .filter(|t| !t.trim().is_empty())
                .collect();
            let mut patterns = Vec::with_capacity(c.patterns.len());
            for p in &c.patterns {
                // Size-limited so an operator's runaway pattern cannot eat the server's memory.
                let regex = regex::RegexBuilder::new(p)
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|error| RulesError::Pattern {
                        category: c.name.clone(),
                        pattern: p.clone(),
                        error,
                    })?;
                patterns.push(regex);
            }
            if terms.is_empty() && patterns.is_empty() {
                return Err(RulesError::Empty(c.name));
            }
            categories.push(Category {
                name: c.name,
                action: c.action,
                terms,
                patterns,
            });
        }
        Ok(Rules { categories })
    }

    /// The shipped default list.
    #[expect(
        clippy::expect_used,
        reason = "the shipped rules are part of the build and a unit test parses them"
    )]
    pub fn default_rules() -> Rules {
        Rules::parse(DEFAULT_RULES).expect("the shipped moderation rules parse")
    }

    /// How many categories there are (shown on the privacy page).
    pub fn category_count(&self) -> usize {
        self.categories.len()
    }

    /// The categories' names and actions, in file order.
    pub fn categories(&self) -> impl Iterator<Item = (&str, Action)> {
        self.categories.iter().map(|c| (c.name.as_str(), c.action))
    }

    /// Checks every text together: any refusing category refuses, else any holding one holds.
    pub fn check<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Verdict {
        let texts: Vec<&str> = texts.into_iter().filter(|t| !t.is_empty()).collect();
        let normalised: Vec<String> = texts.iter().map(|t| normalise(t)).collect();
        let lowered: Vec<String> = texts.iter().map(|t| t.to_lowercase()).collect();
        let mut refuse = Vec::new();
        let mut hold = Vec::new();
        for c in &self.categories {
            let hit = c
                .terms
                .iter()
                .any(|term| normalised.iter().any(|t| t.contains(term.as_str())))
                || c.patterns
                    .iter()
                    .any(|p| lowered.iter().any(|t| p.is_match(t)));
            if hit {
                match c.action {
                    Action::Refuse => refuse.push(c.name.clone()),
                    Action::Hold => hold.push(c.name.clone()),
                }
            }
        }
        Verdict::of(refuse, hold)
    }
}

struct Loaded {
    rules: Arc<Rules>,
    modified: Option<SystemTime>,
}

/// The rules in use, reloaded from the operator's file when it changes. Cheap to share.
#[derive(Clone)]
pub struct RuleBook {
    path: Option<PathBuf>,
    loaded: Arc<RwLock<Loaded>>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read_rules(path: &Path) -> Result<Rules, RulesError> {
    let text = std::fs::read_to_string(path).map_err(|error| RulesError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    Rules::parse(&text)
}

impl RuleBook {
    /// The shipped rules, or the operator's file. A file that cannot be read or parsed at start
    /// is an error: the operator learns of it at once, not when something slips through.
    pub fn open(path: Option<&Path>) -> Result<RuleBook, RulesError> {
        let (rules, modified) = match path {
            Some(p) => (read_rules(p)?, modified(p)),
            None => (Rules::default_rules(), None),
        };
        Ok(RuleBook {
            path: path.map(Path::to_path_buf),
            loaded: Arc::new(RwLock::new(Loaded {
                rules: Arc::new(rules),
                modified,
            })),
        })
    }

    /// The rules as of now: the file is read again when its modification time changed since
    /// the last read. A broken edit is logged and the last good rules stay in use.
    pub fn current(&self) -> Arc<Rules> {
        let Some(path) = &self.path else {
            return self.read_lock().rules.clone();
        };
        let now_modified = modified(path);
        {
            let loaded = self.read_lock();
            if loaded.modified == now_modified {
                return loaded.rules.clone();
            }
        }
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        if loaded.modified != now_modified {
            match read_rules(path) {
                Ok(rules) => {
                    tracing::info!(path = %path.display(), categories = rules.category_count(), "moderation rules reloaded");
                    loaded.rules = Arc::new(rules);
                }
                Err(err) => {
                    tracing::warn!(code = %err.code(), error = %err, "moderation rules not reloaded; the last good rules stay in use");
                }
            }
            loaded.modified = now_modified;
        }
        loaded.rules.clone()
    }

    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn check<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Verdict {
        self.current().check(texts)
    }
}

#[expect(
    clippy::expect_used,
    reason = "the shipped rules need no file and a unit test parses them"
)]
impl Default for RuleBook {
    fn default() -> Self {
        RuleBook::open(None).expect("the shipped rules need no file")
    }
}

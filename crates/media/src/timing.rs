//! Word timings: the one currency shared by narration, alignment and captions.

use serde::{Deserialize, Serialize};

/// One spoken word and when it is heard, in seconds from the start of its audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordTiming {
    /// The word as captions show it (punctuation kept, markup removed).
    pub text: String,
    pub start: f64,
    pub end: f64,
}

impl WordTiming {
    pub fn new(text: impl Into<String>, start: f64, end: f64) -> Self {
        WordTiming {
            text: text.into(),
            start,
            end,
        }
    }

    /// The same word moved later by `offset` seconds (used when scenes are laid end to end).
    pub fn shifted(&self, offset: f64) -> Self {
        WordTiming::new(self.text.clone(), self.start + offset, self.end + offset)
    }
}

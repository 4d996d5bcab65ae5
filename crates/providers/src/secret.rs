//! API keys wrapped so they cannot leak (P-TP-5): Debug and Display print `***`, and any text a
//! provider sends back is passed through [`Secret::redact`] before it reaches an error.

use std::fmt;

/// A provider credential from configuration. The only way to read it is [`Secret::expose`],
/// used where the request header is built.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw key, for building the authorization header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the key in `text` with `***`: provider error bodies are
    /// quoted in our errors, and a provider (or a proxy) may echo the request's headers.
    pub fn redact(&self, text: &str) -> String {
        // Short keys would redact innocent text and are not real keys anyway.
        if self.0.len() < 4 {
            return text.to_string();
        }
        text.replace(&self.0, "***")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_key() {
        let s = Secret::new("sk-live-123456");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Config {
            key: Secret,
        }
        let shown = format!("{:?}", Config { key: s.clone() });
        assert!(!shown.contains("sk-live-123456"), "{shown}");
        assert_eq!(s.expose(), "sk-live-123456");
    }

    #[test]
    fn redact_removes_every_copy() {
        let s = Secret::new("sk-live-123456");
        assert_eq!(
            s.redact("Key sk-live-123456 and sk-live-123456!"),
            "Key *** and ***!"
        );
    }
}

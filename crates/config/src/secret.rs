//! Values that must never be printed: passwords, access keys, database credentials. Every way of
//! turning one into text (`Debug`, `Display`, `Serialize`) yields a mask, so the effective
//! configuration, a log line or an error message can include the field without leaking it; the
//! value itself is reachable only through an explicit [`Secret::expose`] (promise P-TP-5).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// What every secret prints as.
pub const MASK: &str = "********";

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The only way to read the value. Call it where the value is used, never to print it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret<String> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor).map(Secret)
    }
}

/// Accepts any scalar as the secret's text. A password such as `12345` written unquoted in TOML
/// arrives as a number; refusing it would produce an "invalid type" error that quotes the value.
struct SecretVisitor;

impl Visitor<'_> for SecretVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a secret string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_char<E: de::Error>(self, v: char) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// A database URL. It may carry a password (`postgres://user:password@host/db`), so it prints
/// with the password masked; [`DatabaseUrl::expose`] gives the full URL to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by the mask; safe to print.
    pub fn redacted(&self) -> String {
        redact_url_password(&self.0)
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }
}

/// Masks the password of `scheme://user:password@host...` by hand rather than through a URL
/// parser, so that even a URL too malformed to parse prints without its password.
pub fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:{}{}",
        &url[..authority_start],
        &userinfo[..colon],
        MASK,
        &url[authority_start + at..]
    )
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Secret::<String>::deserialize(deserializer).map(|s| DatabaseUrl(s.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_password_is_masked_and_the_rest_kept() {
        assert_eq!(
            redact_url_password("postgres://app:s3cr3t@db.example:5432/reelsmith?sslmode=require"),
            "postgres://app:********@db.example:5432/reelsmith?sslmode=require"
        );
        assert_eq!(
            redact_url_password("postgres://app@db/x"),
            "postgres://app@db/x"
        );
        assert_eq!(
            redact_url_password("sqlite://./data/reelsmith.db"),
            "sqlite://./data/reelsmith.db"
        );
        // A password containing '@' must not leave its first part visible.
        assert_eq!(
            redact_url_password("postgres://app:p@ss@db/x"),
            "postgres://app:********@db/x"
        );
    }
}

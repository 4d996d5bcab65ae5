//! Bearer secrets: session cookies and API tokens. Each is 32 bytes from the OS generator behind a
//! prefix that says what it is (so a leaked token is recognisable in logs and secret scanners).
//! Only the SHA-256 of a token is stored (P-ACC-6): a database leak gives nobody a usable token,
//! and because the token is uniformly random a fast hash is enough; no salt or slow hash needed.

use data_encoding::BASE64URL_NOPAD;
use sha2::{Digest, Sha256};

use crate::random::{self, RandomError};

const TOKEN_BYTES: usize = 32;
/// Characters of the encoded token shown after its prefix in lists ("rs_api_Xk3f…").
const DISPLAY_CHARS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    Api,
}

impl TokenKind {
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Session => "rs_sess_",
            TokenKind::Api => "rs_api_",
        }
    }

    /// The kind a presented token claims to be, if it is well-formed. Checked before any database
    /// lookup so that garbage in an `Authorization` header costs nothing.
    pub fn of(token: &str) -> Option<TokenKind> {
        [TokenKind::Session, TokenKind::Api]
            .into_iter()
            .find(|kind| {
                token
                    .strip_prefix(kind.prefix())
                    .is_some_and(is_encoded_secret)
            })
    }
}

fn is_encoded_secret(body: &str) -> bool {
    BASE64URL_NOPAD
        .decode(body.as_bytes())
        .is_ok_and(|bytes| bytes.len() == TOKEN_BYTES)
}

/// A freshly generated token: `secret` is given to the user once and never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    pub secret: String,
    pub hash: String,
    pub display_prefix: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("secret", &"********")
            .field("hash", &self.hash)
            .field("display_prefix", &self.display_prefix)
            .finish()
    }
}

pub fn generate_token(kind: TokenKind) -> Result<NewToken, RandomError> {
    let bytes = random::bytes::<TOKEN_BYTES>()?;
    let secret = format!("{}{}", kind.prefix(), BASE64URL_NOPAD.encode(&bytes));
    Ok(NewToken {
        hash: hash_token(&secret),
        display_prefix: display_prefix(&secret),
        secret,
    })
}

/// The stored form of a token: lower-case hex SHA-256 of its full text, prefix included.
pub fn hash_token(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

/// What a token list shows: its prefix and a few characters, enough to tell tokens apart and far
/// too few to guess the rest.
pub fn display_prefix(token: &str) -> String {
    let prefix_len = TokenKind::of(token).map_or(0, |kind| kind.prefix().len());
    token.chars().take(prefix_len + DISPLAY_CHARS).collect()
}

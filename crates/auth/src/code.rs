//! Six-digit codes sent by email to prove ownership of an address or to reset a password
//! (P-ACC-2, P-ACC-3). A code is stored as HMAC-SHA-256 under its own random salt, compared in
//! constant time, expires, and is burnt after a few wrong guesses; the caller keeps the issue
//! time and the attempt count beside the stored form and marks the code used on success.

use std::time::{Duration, SystemTime};

use data_encoding::HEXLOWER;
use hmac::{Hmac, KeyInit, Mac};
use reelsmith_core::{Code, ErrorCode};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::random::{self, RandomError};

pub const CODE_DIGITS: usize = 6;
const SALT_BYTES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("the code has expired; ask for a new one")]
    Expired,
    #[error("too many wrong codes; ask for a new one")]
    TooManyAttempts,
    #[error("the code is wrong")]
    Wrong,
    #[error("the code has already been used")]
    AlreadyUsed,
    #[error("the stored code is malformed")]
    MalformedStored,
}

impl ErrorCode for CodeError {
    fn code(&self) -> Code {
        match self {
            CodeError::Expired => Code::AuthCodeExpired,
            CodeError::TooManyAttempts => Code::AuthCodeAttemptsExhausted,
            CodeError::Wrong => Code::AuthCodeInvalid,
            CodeError::AlreadyUsed => Code::AuthCodeUsed,
            CodeError::MalformedStored => Code::AuthCodeMalformed,
        }
    }

    fn is_client_error(&self) -> bool {
        !matches!(self, CodeError::MalformedStored)
    }
}

/// A new code: `code` goes into the email, `stored` into the database.
#[derive(Clone, PartialEq, Eq)]
pub struct NewCode {
    pub code: String,
    pub stored: String,
}

impl std::fmt::Debug for NewCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCode")
            .field("code", &"******")
            .field("stored", &self.stored)
            .finish()
    }
}

pub fn generate_code() -> Result<NewCode, RandomError> {
    let code = format!("{:06}", random::below(1_000_000)?);
    let salt = random::bytes::<SALT_BYTES>()?;
    Ok(NewCode {
        stored: store_code(&code, &salt),
        code,
    })
}

/// `salt_hex$mac_hex`.
fn store_code(code: &str, salt: &[u8]) -> String {
    format!(
        "{}${}",
        HEXLOWER.encode(salt),
        HEXLOWER.encode(&mac(salt, code))
    )
}

#[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
fn mac(salt: &[u8], code: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(salt).expect("HMAC accepts any key");
    mac.update(code.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Spaces and dashes people type or paste ("123 456", "123-456") are ignored.
pub fn normalise_code(input: &str) -> Option<String> {
    let digits: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (digits.len() == CODE_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Whether `candidate` is the code behind `stored`, in time independent of where they differ.
pub fn code_matches(candidate: &str, stored: &str) -> Result<bool, CodeError> {
    let (salt_hex, mac_hex) = stored.split_once('$').ok_or(CodeError::MalformedStored)?;
    let salt = HEXLOWER
        .decode(salt_hex.as_bytes())
        .map_err(|_| CodeError::MalformedStored)?;
    let expected = HEXLOWER
        .decode(mac_hex.as_bytes())
        .map_err(|_| CodeError::MalformedStored)?;
    let Some(candidate) = normalise_code(candidate) else {
        return Ok(false);
    };
    Ok(bool::from(mac(&salt, &candidate).ct_eq(&expected)))
}

/// A stored code and what the caller has recorded about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub stored: String,
    pub issued_at: SystemTime,
    /// Wrong guesses so far.
    pub failed_attempts: u32,
    pub used: bool,
}

/// How long a code lives and how many wrong guesses it survives (`accounts.code_minutes`,
/// `accounts.code_attempts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodePolicy {
    pub lifetime: Duration,
    pub max_attempts: u32,
}

impl Default for CodePolicy {
    fn default() -> Self {
        CodePolicy {
            lifetime: Duration::from_secs(15 * 60),
            max_attempts: 5,
        }
    }
}

/// Checks a guess against the record. On `Err(CodeError::Wrong)` the caller must add one to
/// `failed_attempts`; on `Ok` it must mark the code used. A burnt, used or expired code is refused
/// before the guess is even compared, so it reveals nothing.
pub fn check_code(
    record: &CodeRecord,
    candidate: &str,
    policy: CodePolicy,
    now: SystemTime,
) -> Result<(), CodeError> {
    if record.used {
        return Err(CodeError::AlreadyUsed);
    }
    if record.failed_attempts >= policy.max_attempts {
        return Err(CodeError::TooManyAttempts);
    }
    let age = now
        .duration_since(record.issued_at)
        .unwrap_or(Duration::ZERO);
    if age >= policy.lifetime {
        return Err(CodeError::Expired);
    }
    if code_matches(candidate, &record.stored)? {
        Ok(())
    } else {
        Err(CodeError::Wrong)
    }
}

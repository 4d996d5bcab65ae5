//! Passwords: the strength rules sign-up enforces and Argon2id hashing with OWASP's recommended
//! parameters (m = 19 MiB, t = 2, p = 1). Only the PHC string is ever stored (P-ACC-1).

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use reelsmith_core::{Code, ErrorCode};

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Argon2 accepts anything, but hashing a megabyte "password" is a cheap way to burn our CPU.
pub const MAX_PASSWORD_BYTES: usize = 256;
/// OWASP Password Storage Cheat Sheet, Argon2id option with the least memory.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// The most common passwords that pass the length rule, lower-cased; from published breach
/// frequency lists. Shorter common passwords are refused by length already.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters long")]
    TooShort,
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes long")]
    TooLong,
    #[error("this password is one of the most commonly used; choose another")]
    Common,
    #[error("the stored password hash is not a valid Argon2 PHC string")]
    MalformedHash,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl ErrorCode for PasswordError {
    fn code(&self) -> Code {
        match self {
            PasswordError::TooShort | PasswordError::Common => Code::AuthWeakPassword,
            PasswordError::TooLong => Code::AuthPasswordTooLong,
            PasswordError::MalformedHash => Code::AuthMalformedHash,
            PasswordError::Hashing(_) => Code::AuthHashingFailed,
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(
            self,
            PasswordError::TooShort | PasswordError::TooLong | PasswordError::Common
        )
    }
}

/// Refuses a password that is too short, too long, or among the most common ones.
pub fn check_strength(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if is_common(password) {
        return Err(PasswordError::Common);
    }
    Ok(())
}

fn is_common(password: &str) -> bool {
    let lowered = password.to_lowercase();
    let single_character_repeated = {
        let mut chars = lowered.chars();
        let first = chars.next();
        first.is_some() && chars.all(|c| Some(c) == first)
    };
    single_character_repeated
        || COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .any(|common| !common.is_empty() && common == lowered)
}

#[expect(
    clippy::expect_used,
    reason = "the OWASP parameters are constants that Argon2 accepts, as a unit test checks"
)]
fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("the OWASP parameters are valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the password's strength, then hashes it with a fresh random salt into a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_strength(password)?;
    hasher()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// True when `password` matches `phc`. The parameters come from the stored string, so hashes made
/// with older parameters still verify; the comparison of the digests is constant-time.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let parsed = argon2::password_hash::phc::PasswordHash::new(phc)
        .map_err(|_| PasswordError::MalformedHash)?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(PasswordError::MalformedHash);
    }
    // An over-long candidate cannot match anything hash_password produced; refusing it early
    // keeps an attacker from making us hash megabytes.
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    match hasher().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(argon2::password_hash::Error::Crypto) => Ok(false),
        Err(e) => Err(PasswordError::Hashing(e.to_string())),
    }
}

/// True when `phc` was made with other parameters than today's, so it should be re-hashed the
/// next time the user signs in with the right password.
pub fn needs_rehash(phc: &str) -> bool {
    let expected = format!("$argon2id$v=19$m={MEMORY_KIB},t={ITERATIONS},p={PARALLELISM}$");
    !phc.starts_with(&expected)
}

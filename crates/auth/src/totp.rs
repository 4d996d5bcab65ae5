//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA-1, 30-second steps,
//! 6 digits, as every authenticator app implements them. Administrators need them before any
//! admin action (P-SEC-5).

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use reelsmith_core::{Code, ErrorCode};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::random::{self, RandomError};

pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: u32 = 6;
/// RFC 4226 recommends at least 128 bits and suggests 160, the SHA-1 block output size.
pub const SECRET_BYTES: usize = 20;
/// Steps either side of now that are accepted, for clock drift and typing time.
const WINDOW_STEPS: u64 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TotpError {
    #[error("the TOTP secret is not valid base32")]
    InvalidSecret,
}

impl ErrorCode for TotpError {
    fn code(&self) -> Code {
        Code::AuthInvalidTotpSecret
    }

    fn is_client_error(&self) -> bool {
        true
    }
}

/// HOTP (RFC 4226 section 5.3): HMAC-SHA-1 of the counter, dynamically truncated to `digits`.
#[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    let modulus = 10u64.pow(digits);
    format!(
        "{:0width$}",
        u64::from(binary) % modulus,
        width = digits as usize
    )
}

/// The time step containing `unix_seconds`.
pub fn step_of(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// The 6-digit code for the step containing `unix_seconds`.
pub fn totp_at(secret: &[u8], unix_seconds: u64) -> String {
    hotp(secret, step_of(unix_seconds), DIGITS)
}

/// The step whose code `code` is, if it is within one step of `unix_seconds`. The caller stores
/// the returned step and refuses any later code whose step is not greater, so an observed code
/// cannot be replayed.
pub fn verify_totp(secret: &[u8], code: &str, unix_seconds: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_seconds);
    let mut matched = None;
    // Every candidate step is computed and compared, so timing does not reveal which matched.
    for step in now.saturating_sub(WINDOW_STEPS)..=now + WINDOW_STEPS {
        let candidate = hotp(secret, step, DIGITS);
        if bool::from(candidate.as_bytes().ct_eq(code.as_bytes())) {
            matched = Some(step);
        }
    }
    matched
}

pub fn generate_totp_secret() -> Result<Vec<u8>, RandomError> {
    Ok(random::bytes::<SECRET_BYTES>()?.to_vec())
}

/// The base32 form authenticator apps take (no padding, upper case).
pub fn secret_to_base32(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

/// Parses a base32 secret as people copy it: any case, spaces allowed, padding optional.
pub fn secret_from_base32(text: &str) -> Result<Vec<u8>, TotpError> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    BASE32_NOPAD
        .decode(cleaned.as_bytes())
        .map_err(|_| TotpError::InvalidSecret)
}

/// The `otpauth://` URI an authenticator app scans from a QR code (the Key Uri Format).
pub fn provisioning_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        percent_encode(issuer),
        percent_encode(account),
        secret_to_base32(secret),
        percent_encode(issuer),
    )
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// How many one-time recovery codes an enrolment gives.
pub const RECOVERY_CODES: usize = 10;
/// Lower-case letters and digits without the look-alikes (0/o, 1/l/i), 32 symbols.
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789-";

/// Ten recovery codes of ten symbols (about 48 bits each), shown as `xxxxx-xxxxx`.
pub fn generate_recovery_codes() -> Result<Vec<String>, RandomError> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code = String::with_capacity(11);
            for i in 0..10 {
                if i == 5 {
                    code.push('-');
                }
                // 31 symbols: the alphabet's last entry is the separator.
                let pick = random::below(31)? as usize;
                code.push(char::from(RECOVERY_ALPHABET[pick]));
            }
            Ok(code)
        })
        .collect()
}

/// A recovery code as typed (any case, with or without the dash and spaces), in the form its
/// digest is taken of; `None` when it cannot be one.
pub fn normalise_recovery_code(text: &str) -> Option<String> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (cleaned.len() == 10
        && cleaned
            .bytes()
            .all(|b| RECOVERY_ALPHABET[..31].contains(&b)))
    .then(|| format!("{}-{}", &cleaned[..5], &cleaned[5..]))
}

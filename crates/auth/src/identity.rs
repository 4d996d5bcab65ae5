//! The rules for usernames (shown on public works, P-ACC-5) and email addresses, and the forms
//! they are stored in, so that `Alice` and `alice` cannot be two accounts.

use reelsmith_core::{Code, ErrorCode};

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 30;
/// RFC 5321's limits on a forward path.
pub const EMAIL_MAX: usize = 254;
const EMAIL_LOCAL_MAX: usize = 64;
const DOMAIN_LABEL_MAX: usize = 63;

/// Names that would let someone pose as the service or collide with its routes.
const RESERVED_USERNAMES: &[&str] = &[
    "admin",
    "administrator",
    "api",
    "root",
    "system",
    "support",
    "help",
    "moderator",
    "mod",
    "staff",
    "security",
    "abuse",
    "postmaster",
    "hostmaster",
    "webmaster",
    "noreply",
    "no_reply",
    "reelsmith",
    "official",
    "discover",
    "gallery",
    "settings",
    "account",
    "accounts",
    "login",
    "logout",
    "signup",
    "signin",
    "register",
    "static",
    "assets",
    "healthz",
    "readyz",
    "metrics",
    "null",
    "undefined",
    "anonymous",
    "everyone",
    "me",
    "you",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("a username must be {USERNAME_MIN} to {USERNAME_MAX} characters of a-z, 0-9 and _")]
    InvalidUsername,
    #[error("this username is reserved")]
    ReservedUsername,
    #[error("this is not a valid email address")]
    InvalidEmail,
}

impl ErrorCode for IdentityError {
    fn code(&self) -> Code {
        match self {
            IdentityError::InvalidUsername => Code::AuthInvalidUsername,
            IdentityError::ReservedUsername => Code::AuthReservedUsername,
            IdentityError::InvalidEmail => Code::AuthInvalidEmail,
        }
    }

    fn is_client_error(&self) -> bool {
        true
    }
}

/// The stored, lower-case form of `input`, or why it is refused. Surrounding spaces are
/// forgiven; letters are lower-cased; anything outside `[a-z0-9_]` is refused rather than
/// transliterated, so what the person sees is what they typed.
pub fn normalise_username(input: &str) -> Result<String, IdentityError> {
    let name = input.trim().to_ascii_lowercase();
    let well_formed = (USERNAME_MIN..=USERNAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(IdentityError::InvalidUsername);
    }
    if RESERVED_USERNAMES.contains(&name.as_str()) {
        return Err(IdentityError::ReservedUsername);
    }
    Ok(name)
}

/// An email address that passed the syntax rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// What mail is sent to: the local part as typed, the domain lower-cased.
    pub address: String,
    /// Fully lower-cased: the key for "is this address already registered". Almost every mail
    /// system treats local parts case-insensitively, and two accounts differing only in case are
    /// a phishing vector.
    pub canonical: String,
}

/// Checks the common syntax of an address (`local@domain.tld`, dot-atom local part, LDH domain
/// labels) within RFC 5321's lengths. Quoted local parts and IP-literal domains are refused: no
/// real sign-up needs them and they complicate every later use of the address.
pub fn normalise_email(input: &str) -> Result<Email, IdentityError> {
    let trimmed = input.trim();
    let (local, domain) = trimmed
        .rsplit_once('@')
        .ok_or(IdentityError::InvalidEmail)?;
    let domain = domain.to_ascii_lowercase();
    if !valid_local_part(local) || !valid_domain(&domain) {
        return Err(IdentityError::InvalidEmail);
    }
    let address = format!("{local}@{domain}");
    if address.len() > EMAIL_MAX {
        return Err(IdentityError::InvalidEmail);
    }
    Ok(Email {
        canonical: address.to_ascii_lowercase(),
        address,
    })
}

fn valid_local_part(local: &str) -> bool {
    const SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    !local.is_empty()
        && local.len() <= EMAIL_LOCAL_MAX
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b))
        })
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= DOMAIN_LABEL_MAX
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

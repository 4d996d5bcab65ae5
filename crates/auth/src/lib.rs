//! Account security primitives, free of databases and HTTP so each rule is testable on its own:
//! Argon2id passwords, hashed bearer tokens, emailed one-time codes, username and email rules,
//! the sign-up age check, an in-process rate limiter, TOTP and the after-sign-in redirect check.
//! Every error carries a stable `auth.*` code.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod age;
pub mod code;
pub mod identity;
pub mod password;
pub mod random;
pub mod rate_limit;
pub mod redirect;
pub mod token;
pub mod totp;

pub use age::{check_age, current_utc_year, AgeError, AgeStatement};
pub use code::{check_code, generate_code, CodeError, CodePolicy, CodeRecord, NewCode};
pub use identity::{normalise_email, normalise_username, Email, IdentityError};
pub use password::{check_strength, hash_password, needs_rehash, verify_password, PasswordError};
pub use random::RandomError;
pub use rate_limit::{Clock, ManualClock, MonotonicClock, RateLimited, RateLimiter};
pub use redirect::same_origin_path;
pub use token::{display_prefix, generate_token, hash_token, NewToken, TokenKind};
pub use totp::{hotp, provisioning_uri, totp_at, verify_totp, TotpError};

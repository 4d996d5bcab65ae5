//! Verification of provider webhooks. Pure functions over the raw body and headers (the
//! server endpoint that receives them comes later): a webhook is trusted only when its
//! signature checks out and its timestamp is within five minutes of our clock (replays).

pub mod fal;
pub mod kie;
pub mod replicate;

use reelsmith_core::{Code, ErrorCode};

/// How far a webhook's timestamp may be from our clock, both ways, as both providers document.
pub const TOLERANCE_S: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook lacks the {0} header")]
    MissingHeader(&'static str),
    #[error("the webhook's {0} header is not well formed")]
    BadHeader(&'static str),
    #[error("the webhook timestamp is more than five minutes from our clock")]
    Stale,
    #[error("no signature on the webhook matches")]
    BadSignature,
    #[error("the key set is unusable: {0}")]
    BadKeys(String),
}

impl ErrorCode for WebhookError {
    fn code(&self) -> Code {
        match self {
            WebhookError::MissingHeader(_) | WebhookError::BadHeader(_) => Code::WebhookMalformed,
            WebhookError::Stale => Code::WebhookStale,
            WebhookError::BadSignature => Code::WebhookBadSignature,
            WebhookError::BadKeys(_) => Code::WebhookBadKeys,
        }
    }

    fn is_client_error(&self) -> bool {
        !matches!(self, WebhookError::BadKeys(_))
    }
}

/// Looks a header up case-insensitively in (name, value) pairs, as any server framework can give.
pub fn header<'a>(
    headers: &'a [(&str, &str)],
    name: &'static str,
) -> Result<&'a str, WebhookError> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .ok_or(WebhookError::MissingHeader(name))
}

fn check_time(timestamp: &str, now_unix: i64) -> Result<(), WebhookError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::BadHeader("timestamp"))?;
    // abs_diff: a timestamp near i64::MIN or MAX (found by crates/providers/tests/fuzz_webhooks.rs,
    // seed tests/fuzz/corpus/webhooks/timestamp-i64-min.txt) overflowed the subtraction.
    if now_unix.abs_diff(ts) > TOLERANCE_S.unsigned_abs() {
        return Err(WebhookError::Stale);
    }
    Ok(())
}

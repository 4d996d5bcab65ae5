//! The provider error enum. Codes are stable (`provider.timeout`) and follow reelsmith-core's
//! [`ErrorCode`] convention. No variant ever holds a key: provider text is redacted first.

use reelsmith_core::{Code, ErrorCode};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// A call (or the whole wait) took longer than its limit.
    #[error("{provider}: {what} timed out after {after:?}")]
    Timeout {
        provider: &'static str,
        what: String,
        after: Duration,
    },
    /// The provider kept answering 429 after every retry.
    #[error("{provider}: the provider is limiting how many requests it takes{}", wait_hint(.retry_after))]
    RateLimited {
        provider: &'static str,
        retry_after: Option<Duration>,
    },
    /// An answer we could not understand: not JSON, or missing a field the wire format promises.
    #[error("{provider}: malformed answer: {detail}")]
    Malformed {
        provider: &'static str,
        detail: String,
    },
    /// The provider refused the content or the input itself (a content checker, a safety
    /// filter): sending the same request again would fail the same way, and cost again.
    #[error("{provider}: the provider refused the prompt or image: {reason}")]
    Refused {
        provider: &'static str,
        reason: String,
    },
    /// The provider ran the job and reported that it failed.
    #[error("{provider}: generation failed: {reason}")]
    Failed {
        provider: &'static str,
        reason: String,
    },
    /// The provider answered 5xx after every retry.
    #[error("{provider}: unavailable (HTTP {status}): {detail}")]
    Unavailable {
        provider: &'static str,
        status: u16,
        detail: String,
    },
    /// 401 or 403: the configured key is missing, wrong or lacks access.
    #[error("{provider}: the key was refused (HTTP {status})")]
    Unauthorized { provider: &'static str, status: u16 },
    /// Another 4xx: the provider refused the request itself (bad input, unknown model).
    #[error("{provider}: request rejected (HTTP {status}): {detail}")]
    Rejected {
        provider: &'static str,
        status: u16,
        detail: String,
    },
    /// The request asks for something the model cannot do (a duration, an aspect ratio...).
    #[error("{model}: {reason}")]
    Unsupported { model: String, reason: String },
    /// A download was larger than its limit.
    #[error("{provider}: the result is larger than the limit of {limit} bytes")]
    TooLarge { provider: &'static str, limit: u64 },
    /// A URL pointed away from the provider's base URL and was not an allowlisted download host.
    #[error("{provider}: refusing to contact {host}: not the configured base URL nor an allowed download host")]
    ForbiddenHost {
        provider: &'static str,
        host: String,
    },
    /// The job was canceled before it finished.
    #[error("{provider}: the request was canceled")]
    Canceled { provider: &'static str },
    /// The connection failed (refused, reset, DNS) after every retry.
    #[error("{provider}: network error: {detail}")]
    Network {
        provider: &'static str,
        detail: String,
    },
    /// Writing the result into the sink failed.
    #[error("{provider}: could not write the result: {detail}")]
    Io {
        provider: &'static str,
        detail: String,
    },
    /// The operator's account at the provider has run out of credit (KieAI code 402): no retry
    /// helps until it is topped up.
    #[error("{provider}: the provider account has run out of credit")]
    InsufficientCredits { provider: &'static str },
    /// The finished result is no longer at the URL the provider gave (its result URLs expire).
    #[error("{provider}: the result expired before it was downloaded")]
    ResultExpired { provider: &'static str },
    /// The adapter's configuration is unusable (bad base URL, missing key).
    #[error("provider configuration: {0}")]
    Config(String),
}

impl ErrorCode for ProviderError {
    fn code(&self) -> Code {
        match self {
            ProviderError::Timeout { .. } => Code::ProviderTimeout,
            ProviderError::RateLimited { .. } => Code::ProviderRateLimited,
            ProviderError::Malformed { .. } => Code::ProviderMalformed,
            ProviderError::Failed { .. } => Code::ProviderFailed,
            ProviderError::Refused { .. } => Code::ProviderRefused,
            ProviderError::Unavailable { .. } => Code::ProviderUnavailable,
            ProviderError::Unauthorized { .. } => Code::ProviderUnauthorized,
            ProviderError::Rejected { .. } => Code::ProviderRejected,
            ProviderError::Unsupported { .. } => Code::ProviderUnsupported,
            ProviderError::TooLarge { .. } => Code::ProviderTooLarge,
            ProviderError::ForbiddenHost { .. } => Code::ProviderForbiddenHost,
            ProviderError::Canceled { .. } => Code::ProviderCanceled,
            ProviderError::Network { .. } => Code::ProviderNetwork,
            ProviderError::Io { .. } => Code::ProviderIo,
            ProviderError::InsufficientCredits { .. } => Code::ProviderInsufficientCredits,
            ProviderError::ResultExpired { .. } => Code::ProviderResultExpired,
            ProviderError::Config(_) => Code::ProviderConfig,
        }
    }

    /// Only a request the model cannot serve is the job author's fault; everything else is the
    /// provider's or the operator's (a refused key is configuration, not the user's input).
    fn is_client_error(&self) -> bool {
        matches!(
            self,
            ProviderError::Unsupported { .. }
                | ProviderError::Rejected { .. }
                | ProviderError::Refused { .. }
        )
    }
}

/// ", and asked us to wait 1 hour" for a `Retry-After`, in words a person reads.
fn wait_hint(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" and asked us to wait {}", human_duration(d)))
        .unwrap_or_default()
}

/// A duration in the largest whole unit that fits: "1 hour", "90 seconds", "2 days".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s >= 86_400 && s.is_multiple_of(86_400) {
        (s / 86_400, "day")
    } else if s >= 3600 && s.is_multiple_of(3600) {
        (s / 3600, "hour")
    } else if s >= 120 && s.is_multiple_of(60) {
        (s / 60, "minute")
    } else {
        (s.max(u64::from(d.subsec_millis() > 0)), "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

impl ProviderError {
    /// The `Retry-After` a rate limit came with, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether a later attempt at the same call may succeed. The worker uses this to decide
    /// between retrying the job and failing it.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::Timeout { .. }
                | ProviderError::RateLimited { .. }
                | ProviderError::Unavailable { .. }
                | ProviderError::Network { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_reads_as_a_sentence() {
        let e = ProviderError::RateLimited {
            provider: "fal",
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(
            e.to_string(),
            "fal: the provider is limiting how many requests it takes and asked us to wait 1 hour"
        );
        assert!(!e.to_string().contains("Some("));
        assert_eq!(human_duration(Duration::from_secs(90)), "90 seconds");
        assert_eq!(human_duration(Duration::from_secs(300)), "5 minutes");
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(172_800)), "2 days");
        assert_eq!(human_duration(Duration::from_secs(90_000)), "25 hours");
    }
}

//! The behaviours every shot adapter must show against its fake (issue #6): success streams the
//! fake's real MP4 into the sink; failures are retried then reported; timeouts, malformed
//! answers and 429 + Retry-After are handled as the call policy says; cancel reaches the fake;
//! resuming from a saved request id does not submit again; foreign hosts and oversize results
//! are refused; the key never shows in an error or Debug output.

use super::{Fake, KEY};
use reelsmith_core::ErrorCode;
use reelsmith_providers::http::Endpoint;
use reelsmith_providers::{PendingShot, ProviderError, ShotProvider, ShotRequest};
use serde_json::json;
use std::time::{Duration, Instant};

/// How to build the adapter under test at an endpoint, and a request it accepts.
pub struct Subject {
    pub script: &'static str,
    pub path: &'static str,
    pub make: fn(Endpoint) -> Box<dyn ShotProvider>,
    pub request: fn() -> ShotRequest,
    /// Whether the provider documents a cancel (Atlas does not).
    pub cancels: bool,
    /// Whether result URLs come from the provider's answers (ComfyUI's are built from the base
    /// URL, so the foreign-host half of the test does not apply).
    pub foreign_urls: bool,
}

impl Subject {
    fn start(&self) -> (Fake, Box<dyn ShotProvider>) {
        let fake = Fake::start(self.script);
        let p = (self.make)(fake.endpoint(self.path));
        (fake, p)
    }
}

const LIMIT: u64 = 10 << 20;

fn code(r: &Result<impl std::fmt::Debug, ProviderError>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code().as_str(),
    }
}

pub async fn success_streams_the_clip(s: &Subject) {
    let (fake, p) = s.start();
    let pending = p.submit(&(s.request)()).await.unwrap();
    assert!(!pending.request_id.is_empty());
    let mut sink = Vec::new();
    let out = p.wait(&pending, &mut sink, LIMIT).await.unwrap();
    let clip = fake.clip();
    assert_eq!(sink, clip, "the sink holds exactly the fake's clip");
    assert_eq!(&sink[4..8], b"ftyp", "a real MP4");
    assert_eq!(out.bytes, clip.len() as u64);
    assert_eq!(out.request_id, pending.request_id);
    let stats = fake.stats().await;
    assert_eq!(stats["submissions"], 1);
    assert_eq!(stats["downloads"], 1);
}

pub async fn failures_are_retried_then_reported(s: &Subject) {
    let (fake, p) = s.start();
    // One 500, then success: the retry hides it.
    fake.set(json!({"mode": "fail", "count": 1})).await;
    p.submit(&(s.request)()).await.unwrap();
    assert_eq!(
        fake.stats().await["requests"],
        2,
        "one failed try, one good"
    );
    // Always 500: three tries (the policy's max), then a typed error with the provider's reason.
    fake.set(json!({"mode": "fail", "count": 100})).await;
    let err = p.submit(&(s.request)()).await;
    assert_eq!(code(&err), "provider.unavailable");
    let msg = err.unwrap_err().to_string();
    assert!(
        msg.contains("500") && msg.contains("fake internal error"),
        "{msg}"
    );
    assert_eq!(fake.stats().await["requests"], 5);
    assert_eq!(fake.stats().await["submissions"], 1);
}

pub async fn the_job_failing_is_reported_not_retried(s: &Subject) {
    let (fake, p) = s.start();
    fake.set(json!({"job_fail": true})).await;
    let pending = p.submit(&(s.request)()).await.unwrap();
    let err = p.wait(&pending, &mut Vec::new(), LIMIT).await;
    assert_eq!(code(&err), "provider.failed");
    assert!(err.unwrap_err().to_string().contains("content rejected"));
    assert_eq!(fake.stats().await["submissions"], 1);
}

pub async fn timeouts_fail_submits_but_polls_retry(s: &Subject) {
    let (fake, p) = s.start();
    // A submit that times out may have been accepted: it is not sent again.
    fake.set(json!({"mode": "slow", "delay": 3, "count": 1}))
        .await;
    let started = Instant::now();
    let err = p.submit(&(s.request)()).await;
    assert_eq!(code(&err), "provider.timeout");
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "the call's timeout, not the fake's delay"
    );
    assert_eq!(fake.stats().await["requests"], 1);
    // A poll that times out is retried.
    let pending = p.submit(&(s.request)()).await.unwrap();
    fake.set(json!({"mode": "slow", "delay": 3, "count": 1}))
        .await;
    let mut sink = Vec::new();
    p.wait(&pending, &mut sink, LIMIT).await.unwrap();
    assert_eq!(sink, fake.clip());
}

pub async fn malformed_answers_are_reported(s: &Subject) {
    let (fake, p) = s.start();
    fake.set(json!({"mode": "malformed", "count": 1})).await;
    let err = p.submit(&(s.request)()).await;
    assert_eq!(code(&err), "provider.malformed");
    let pending = p.submit(&(s.request)()).await.unwrap();
    fake.set(json!({"mode": "malformed", "count": 1})).await;
    assert_eq!(
        code(&p.wait(&pending, &mut Vec::new(), LIMIT).await),
        "provider.malformed"
    );
}

pub async fn rate_limits_honour_retry_after(s: &Subject) {
    let (fake, p) = s.start();
    fake.set(json!({"mode": "rate_limit", "count": 1, "retry_after": 1}))
        .await;
    let started = Instant::now();
    p.submit(&(s.request)()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "waited the Retry-After: {:?}",
        started.elapsed()
    );
    // A Retry-After past the policy's limit is not waited for.
    fake.set(json!({"mode": "rate_limit", "count": 1, "retry_after": 3600}))
        .await;
    let started = Instant::now();
    let err = p.submit(&(s.request)()).await;
    assert_eq!(code(&err), "provider.rate_limited");
    assert!(started.elapsed() < Duration::from_secs(1));
    // Always 429: gives up after the policy's tries.
    fake.set(json!({"mode": "rate_limit", "count": 100, "retry_after": 0}))
        .await;
    assert_eq!(
        code(&p.submit(&(s.request)()).await),
        "provider.rate_limited"
    );
    assert_eq!(fake.stats().await["submissions"], 1);
}

pub async fn cancel_reaches_the_provider(s: &Subject) {
    let (fake, p) = s.start();
    fake.set(json!({"polls": 1000})).await;
    let pending = p.submit(&(s.request)()).await.unwrap();
    if !s.cancels {
        let before = fake.stats().await["requests"].clone();
        assert_eq!(
            code(&p.cancel(&pending).await),
            "provider.unsupported",
            "says so instead of pretending"
        );
        assert_eq!(fake.stats().await["requests"], before);
        return;
    }
    p.cancel(&pending).await.unwrap();
    assert_eq!(fake.stats().await["cancels"], 1);
    assert_eq!(
        code(&p.wait(&pending, &mut Vec::new(), LIMIT).await),
        "provider.canceled"
    );
}

pub async fn resuming_does_not_submit_again(s: &Subject) {
    let (fake, p) = s.start();
    let pending = p.submit(&(s.request)()).await.unwrap();
    // The worker saves the pending shot, crashes, and a new process picks it up.
    let saved = serde_json::to_string(&pending).unwrap();
    drop(p);
    let p2 = (s.make)(fake.endpoint(s.path));
    let restored: PendingShot = serde_json::from_str(&saved).unwrap();
    let mut sink = Vec::new();
    p2.wait(&restored, &mut sink, LIMIT).await.unwrap();
    assert_eq!(sink, fake.clip());
    assert_eq!(
        fake.stats().await["submissions"],
        1,
        "one submission for one shot"
    );
}

pub async fn foreign_hosts_and_oversize_results_are_refused(s: &Subject) {
    let (fake, p) = s.start();
    let pending = p.submit(&(s.request)()).await.unwrap();
    let mut sink = Vec::new();
    assert_eq!(
        code(&p.wait(&pending, &mut sink, 100).await),
        "provider.too_large"
    );
    assert!(sink.len() <= 100, "nothing past the limit reached the sink");
    assert_eq!(
        fake.stats().await["downloads"],
        1,
        "the oversize answer was asked for, then refused"
    );
    if !s.foreign_urls {
        return;
    }
    // The result now names "localhost": another host than the base URL's 127.0.0.1.
    fake.set(json!({"file_host": "localhost"})).await;
    let pending = p.submit(&(s.request)()).await.unwrap();
    assert_eq!(
        code(&p.wait(&pending, &mut Vec::new(), LIMIT).await),
        "provider.forbidden_host"
    );
    assert_eq!(
        fake.stats().await["downloads"],
        1,
        "the foreign host was never contacted"
    );
    // Once the operator allowlists it, the download goes through.
    let allowed = (s.make)(fake.endpoint(s.path).with_download_hosts(&["localhost"]));
    let mut sink = Vec::new();
    allowed.wait(&pending, &mut sink, LIMIT).await.unwrap();
    assert_eq!(sink, fake.clip());
    assert_eq!(fake.stats().await["downloads"], 2);
}

pub async fn the_key_never_leaks(s: &Subject) {
    let (fake, p) = s.start();
    // The fake answers 400 quoting our Authorization header back.
    fake.set(json!({"mode": "echo_auth", "count": 1})).await;
    let err = p.submit(&(s.request)()).await.unwrap_err();
    assert_eq!(err.code(), "provider.rejected");
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("***"),
        "the echo is there, redacted: {shown}"
    );
    assert!(!shown.contains(KEY), "{shown}");
    let ep = fake.endpoint(s.path);
    assert!(!format!("{ep:?}").contains(KEY));
    // Nor in the connection error when the provider is down.
    drop(fake);
    let err = p.submit(&(s.request)()).await.unwrap_err();
    assert_eq!(err.code(), "provider.network");
    assert!(!format!("{err} {err:?}").contains(KEY));
}

/// Expands into one #[tokio::test] per behaviour for a subject.
#[macro_export]
macro_rules! shot_suite {
    ($subject:expr) => {
        #[tokio::test]
        async fn success_streams_the_clip() {
            common::suite::success_streams_the_clip(&$subject).await
        }
        #[tokio::test]
        async fn failures_are_retried_then_reported() {
            common::suite::failures_are_retried_then_reported(&$subject).await
        }
        #[tokio::test]
        async fn the_job_failing_is_reported_not_retried() {
            common::suite::the_job_failing_is_reported_not_retried(&$subject).await
        }
        #[tokio::test]
        async fn timeouts_fail_submits_but_polls_retry() {
            common::suite::timeouts_fail_submits_but_polls_retry(&$subject).await
        }
        #[tokio::test]
        async fn malformed_answers_are_reported() {
            common::suite::malformed_answers_are_reported(&$subject).await
        }
        #[tokio::test]
        async fn rate_limits_honour_retry_after() {
            common::suite::rate_limits_honour_retry_after(&$subject).await
        }
        #[tokio::test]
        async fn cancel_reaches_the_provider() {
            common::suite::cancel_reaches_the_provider(&$subject).await
        }
        #[tokio::test]
        async fn resuming_does_not_submit_again() {
            common::suite::resuming_does_not_submit_again(&$subject).await
        }
        #[tokio::test]
        async fn foreign_hosts_and_oversize_results_are_refused() {
            common::suite::foreign_hosts_and_oversize_results_are_refused(&$subject).await
        }
        #[tokio::test]
        async fn the_key_never_leaks() {
            common::suite::the_key_never_leaks(&$subject).await
        }
    };
}

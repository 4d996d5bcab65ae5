//! The call policy every adapter goes through: a timeout on each call, bounded retries with
//! jittered exponential backoff on retryable answers only (429, 5xx, connection failures),
//! `Retry-After` honoured, requests only to the configured base URL, and size-limited
//! streaming downloads from the base URL or an operator-allowlisted download host.
//!
//! Retries and double submission: a 429 means the provider did not take the job, so retrying a
//! submit is safe. A 5xx or a lost connection is ambiguous; we still retry (the policy),
//! and a timeout is retried only for idempotent calls (polls, downloads, cancels), because a
//! submit that timed out may have been accepted.

use crate::{ProviderError, Secret, ShotOutput, Sink};
use reqwest::{header::HeaderMap, Client, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use url::Url;

/// Timeouts and retry limits. The defaults suit real providers; tests shrink them.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPolicy {
    /// Limit for one call, from sending to the end of the answer's body.
    pub timeout: Duration,
    /// Limit for one result download.
    pub download_timeout: Duration,
    /// Tries per call, the first included.
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails as rate limited and the
    /// job is retried later by the worker instead of holding a slot.
    pub retry_after_max: Duration,
    /// Time between status polls while waiting for a job.
    pub poll_every: Duration,
    /// Limit for a whole wait, from the first poll to the end of the download.
    pub max_wait: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        CallPolicy {
            timeout: Duration::from_secs(60),
            download_timeout: Duration::from_secs(600),
            max_attempts: 4,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(20),
            retry_after_max: Duration::from_secs(120),
            poll_every: Duration::from_secs(5),
            max_wait: Duration::from_secs(30 * 60),
        }
    }
}

/// Where an adapter may send requests. `base_url` is the provider's API; results may also be
/// fetched from `download_hosts` ("v3.fal.media" exact, or "*.fal.media" for any subdomain), over
/// https only (or over the base URL's own scheme, for local fakes and ComfyUI on a LAN).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub base_url: Url,
    pub download_hosts: Vec<String>,
    pub key: Secret,
    pub policy: CallPolicy,
    /// The models this installation offers (the built-in table unless configured): what a
    /// request is checked against before it is sent.
    pub models: crate::registry::Models,
}

impl Endpoint {
    pub fn new(base_url: &str, key: Secret) -> Result<Self, ProviderError> {
        let mut base_url = Url::parse(base_url)
            .map_err(|e| ProviderError::Config(format!("bad base URL: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            return Err(ProviderError::Config(
                "the base URL must be http(s)://host[:port]/...".into(),
            ));
        }
        // A trailing slash makes Url::join append instead of replacing the last segment.
        if !base_url.path().ends_with('/') {
            base_url.set_path(&format!("{}/", base_url.path()));
        }
        Ok(Endpoint {
            base_url,
            download_hosts: Vec::new(),
            key,
            policy: CallPolicy::default(),
            models: crate::registry::Models::builtin(),
        })
    }

    pub fn with_download_hosts(mut self, hosts: &[&str]) -> Self {
        self.download_hosts = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        self
    }

    pub fn with_policy(mut self, policy: CallPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn with_models(mut self, models: crate::registry::Models) -> Self {
        self.models = models;
        self
    }
}

/// One try of a call, as `send_within` sees it.
enum Try {
    Answer(Response),
    Fail(ProviderError),
    Retry(ProviderError, Option<Duration>),
}

/// The HTTP client of one adapter, bound to its endpoint.
#[derive(Debug)]
pub struct Http {
    pub provider: &'static str,
    pub ep: Endpoint,
    client: Client,
}

/// Reads an error answer (status, headers, body with the key redacted) and says what it means,
/// or `None` to leave it to the call policy.
pub type Classify<'a> = dyn Fn(u16, &HeaderMap, &str) -> Option<ProviderError> + Sync + 'a;

/// Whether a call may be retried after a timeout (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotent {
    Yes,
    No,
}

impl Http {
    pub fn new(provider: &'static str, ep: Endpoint) -> Result<Self, ProviderError> {
        // Redirects are never followed by the client: `download` follows them itself, checking
        // each hop against the guard and sending the key only to the base URL's origin
        // (reqwest would forward a custom key header such as x-goog-api-key to any host).
        let policy = reqwest::redirect::Policy::none();
        let client = Client::builder()
            .redirect(policy)
            .user_agent(concat!("reelsmith/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Config(format!("HTTP client: {e}")))?;
        Ok(Http {
            provider,
            ep,
            client,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn policy(&self) -> &CallPolicy {
        &self.ep.policy
    }

    /// `path` relative to the base URL ("v1/predictions").
    pub fn url(&self, path: &str) -> Result<Url, ProviderError> {
        self.ep
            .base_url
            .join(path.trim_start_matches('/'))
            .map_err(|e| ProviderError::Config(format!("bad path {path}: {e}")))
    }

    /// Parses a URL the provider gave us and refuses it unless it is under the base URL (or,
    /// with `download`, on an allowlisted download host).
    pub fn checked_url(&self, raw: &str, download: bool) -> Result<Url, ProviderError> {
        let url = Url::parse(raw).map_err(|_| self.malformed(format!("not a URL: {raw}")))?;
        if url_allowed(&self.ep, &url, download) {
            Ok(url)
        } else {
            Err(ProviderError::ForbiddenHost {
                provider: self.provider,
                host: url
                    .host_str()
                    .map(|h| format!("{}://{h}", url.scheme()))
                    .unwrap_or_else(|| url.scheme().to_string()),
            })
        }
    }

    pub fn malformed(&self, detail: impl Into<String>) -> ProviderError {
        ProviderError::Malformed {
            provider: self.provider,
            detail: self.ep.key.redact(&detail.into()),
        }
    }

    /// The request id a provider's answer names at `pointer` (a JSON pointer such as
    /// `/data/id`). The id goes into later URLs and our database, so an empty, overlong or odd
    /// one (anything but ASCII letters, digits and `also`) is refused as a malformed answer.
    pub fn request_id<'a>(
        &self,
        answer: &'a serde_json::Value,
        pointer: &str,
        also: &[char],
    ) -> Result<&'a str, ProviderError> {
        let id = answer
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| self.malformed(format!("no {pointer} in the answer")))?;
        let well_formed = !id.is_empty()
            && id.len() <= 200
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || also.contains(&c));
        if !well_formed {
            return Err(self.malformed(format!("odd request id {id} at {pointer}")));
        }
        Ok(id)
    }

    /// Sends the request `build` makes (called again for each attempt), retrying as the policy
    /// says, and returns the first 2xx answer. Other answers become typed errors.
    pub async fn send(
        &self,
        what: &str,
        idem: Idempotent,
        build: &(dyn Fn(&Client) -> RequestBuilder + Sync),
    ) -> Result<Response, ProviderError> {
        self.send_within(what, idem, self.ep.policy.timeout, build, None)
            .await
    }

    /// `send_json`, but an error answer is first shown to `classify` (status, headers, body),
    /// whose error, when it gives one, is returned at once instead of the generic one and its
    /// retries: for providers that document what their error answers mean.
    pub async fn send_json_classified<T: DeserializeOwned>(
        &self,
        what: &str,
        idem: Idempotent,
        build: &(dyn Fn(&Client) -> RequestBuilder + Sync),
        classify: &Classify<'_>,
    ) -> Result<(T, HeaderMap), ProviderError> {
        let resp = self
            .send_within(what, idem, self.ep.policy.timeout, build, Some(classify))
            .await?;
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| self.read_error(e, what))?;
        let value =
            serde_json::from_slice(&bytes).map_err(|e| self.malformed(format!("{what}: {e}")))?;
        Ok((value, headers))
    }

    /// `send` with another per-try limit: downloads get `download_timeout`, because reqwest's
    /// limit covers reading the whole body and a video takes longer than an API answer.
    async fn send_within(
        &self,
        what: &str,
        idem: Idempotent,
        timeout: Duration,
        build: &(dyn Fn(&Client) -> RequestBuilder + Sync),
        classify: Option<&Classify<'_>>,
    ) -> Result<Response, ProviderError> {
        let policy = &self.ep.policy;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= policy.max_attempts.max(1);
            let sent = build(&self.client).timeout(timeout).send().await;
            let tried = self.one_try(sent, what, idem, timeout, classify).await;
            let code = match &tried {
                Try::Answer(_) => None,
                Try::Fail(err) | Try::Retry(err, _) => Some(reelsmith_core::ErrorCode::code(err)),
            };
            reelsmith_metrics::worker()
                .count_provider_call(self.provider, code.map(reelsmith_core::Code::as_str));
            let (err, wait) = match tried {
                Try::Answer(resp) => return Ok(resp),
                Try::Fail(err) => return Err(err),
                Try::Retry(err, wait) => (err, wait),
            };
            if last {
                return Err(err);
            }
            let delay = wait.unwrap_or_else(|| backoff(policy, attempt));
            tracing::warn!(
                provider = self.provider,
                what,
                attempt,
                code = %reelsmith_core::ErrorCode::code(&err),
                delay_ms = delay.as_millis() as u64,
                "retrying provider call"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// What one try's answer means: the answer, an error to return, or one worth another try
    /// (after the provider's `Retry-After` when it gave one).
    async fn one_try(
        &self,
        sent: reqwest::Result<Response>,
        what: &str,
        idem: Idempotent,
        timeout: Duration,
        classify: Option<&Classify<'_>>,
    ) -> Try {
        let policy = &self.ep.policy;
        match sent {
            // 3xx is returned too: `download` follows it; for API calls it is not JSON, so
            // it ends as a malformed answer.
            Ok(resp) if resp.status().is_success() || resp.status().is_redirection() => {
                Try::Answer(resp)
            }
            Ok(resp) => {
                let status = resp.status();
                let retry_after = retry_after(resp.headers());
                let headers = resp.headers().clone();
                let text = self.ep.key.redact(&resp.text().await.unwrap_or_default());
                if let Some(err) = classify.and_then(|c| c(status.as_u16(), &headers, &text)) {
                    // The raw answer stays in the operator's log; the error is a sentence.
                    tracing::warn!(provider = self.provider, what, status = status.as_u16(),
                        answer = %text.chars().take(2000).collect::<String>(),
                        code = %reelsmith_core::ErrorCode::code(&err), "provider error answer");
                    return Try::Fail(err);
                }
                let detail: String = text.chars().take(300).collect();
                let err = match status {
                    StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
                        provider: self.provider,
                        retry_after,
                    },
                    s if s.is_server_error() => ProviderError::Unavailable {
                        provider: self.provider,
                        status: s.as_u16(),
                        detail,
                    },
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        return Try::Fail(ProviderError::Unauthorized {
                            provider: self.provider,
                            status: status.as_u16(),
                        })
                    }
                    s => {
                        return Try::Fail(ProviderError::Rejected {
                            provider: self.provider,
                            status: s.as_u16(),
                            detail,
                        })
                    }
                };
                // A Retry-After past our limit (on a 429 or a 503) is not waited for.
                if retry_after.is_some_and(|ra| ra > policy.retry_after_max) {
                    return Try::Fail(err);
                }
                Try::Retry(err, retry_after)
            }
            Err(e) if e.is_timeout() => {
                let err = ProviderError::Timeout {
                    provider: self.provider,
                    what: what.to_string(),
                    after: timeout,
                };
                if idem == Idempotent::No {
                    return Try::Fail(err);
                }
                Try::Retry(err, None)
            }
            Err(e) if e.is_connect() || e.is_request() => Try::Retry(self.network(e), None),
            Err(e) => Try::Fail(self.network(e)),
        }
    }

    /// `send`, then the body as JSON of type `T` (a missing field or non-JSON is `Malformed`).
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        what: &str,
        idem: Idempotent,
        build: &(dyn Fn(&Client) -> RequestBuilder + Sync),
    ) -> Result<(T, HeaderMap), ProviderError> {
        let resp = self.send(what, idem, build).await?;
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| self.read_error(e, what))?;
        let value =
            serde_json::from_slice(&bytes).map_err(|e| self.malformed(format!("{what}: {e}")))?;
        Ok((value, headers))
    }

    /// [`Http::download`] of a finished shot's file, reported as the shot's output.
    pub async fn download_output(
        &self,
        request_id: &str,
        raw_url: &str,
        sink: &mut Sink<'_>,
        max_bytes: u64,
        auth: Option<&(dyn Fn(RequestBuilder) -> RequestBuilder + Sync)>,
    ) -> Result<ShotOutput, ProviderError> {
        let (bytes, content_type, source) = self.download(raw_url, sink, max_bytes, auth).await?;
        Ok(ShotOutput {
            request_id: request_id.to_string(),
            bytes,
            content_type,
            source_url: source.to_string(),
        })
    }

    /// Streams `url` into `sink`, refusing more than `max_bytes`; `auth` adds the key for
    /// downloads the provider authenticates (Gemini files). Returns bytes written and the type.
    pub async fn download(
        &self,
        raw_url: &str,
        sink: &mut Sink<'_>,
        max_bytes: u64,
        auth: Option<&(dyn Fn(RequestBuilder) -> RequestBuilder + Sync)>,
    ) -> Result<(u64, Option<String>, Url), ProviderError> {
        let mut url = self.checked_url(raw_url, true)?;
        let mut hops = 0;
        let mut resp = loop {
            // The key goes only to the provider's own origin, never to a CDN.
            let same_origin = url.origin() == self.ep.base_url.origin();
            let build = |c: &Client| {
                let rb = c.get(url.clone());
                match auth {
                    Some(add) if same_origin => add(rb),
                    _ => rb,
                }
            };
            let resp = self
                .send_within(
                    "download",
                    Idempotent::Yes,
                    self.ep.policy.download_timeout,
                    &build,
                    None,
                )
                .await?;
            if !resp.status().is_redirection() {
                break resp;
            }
            hops += 1;
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            let next = location
                .and_then(|l| url.join(l).ok())
                .filter(|_| hops <= 5);
            let next = next.ok_or_else(|| {
                self.malformed("a redirect without a usable Location, or too many")
            })?;
            url = self.checked_url(next.as_str(), true)?;
        };
        let policy = self.ep.policy.clone();
        if let Some(len) = resp.content_length() {
            if len > max_bytes {
                return Err(ProviderError::TooLarge {
                    provider: self.provider,
                    limit: max_bytes,
                });
            }
        }
        let ctype = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let copy = async {
            let mut written: u64 = 0;
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| self.read_error(e, "download"))?
            {
                written += chunk.len() as u64;
                if written > max_bytes {
                    return Err(ProviderError::TooLarge {
                        provider: self.provider,
                        limit: max_bytes,
                    });
                }
                sink.write_all(&chunk)
                    .await
                    .map_err(|e| ProviderError::Io {
                        provider: self.provider,
                        detail: e.to_string(),
                    })?;
            }
            sink.flush().await.map_err(|e| ProviderError::Io {
                provider: self.provider,
                detail: e.to_string(),
            })?;
            Ok(written)
        };
        let written = tokio::time::timeout(policy.download_timeout, copy)
            .await
            .map_err(|_| ProviderError::Timeout {
                provider: self.provider,
                what: "download".into(),
                after: policy.download_timeout,
            })??;
        Ok((written, ctype, url))
    }

    fn network(&self, e: reqwest::Error) -> ProviderError {
        // without_url: URLs carry no keys in our adapters, but the error text need not carry them either.
        ProviderError::Network {
            provider: self.provider,
            detail: self.ep.key.redact(&e.without_url().to_string()),
        }
    }

    fn read_error(&self, e: reqwest::Error, what: &str) -> ProviderError {
        if e.is_timeout() {
            ProviderError::Timeout {
                provider: self.provider,
                what: what.to_string(),
                after: self.ep.policy.timeout,
            }
        } else {
            self.network(e)
        }
    }

    /// Sleeps between polls: the policy's interval with +-20 % jitter so many workers spread out.
    pub async fn poll_pause(&self) {
        let base = self.ep.policy.poll_every.as_secs_f64();
        let jittered = base * (0.8 + 0.4 * fastrand::f64());
        tokio::time::sleep(Duration::from_secs_f64(jittered)).await;
    }

    /// The end of a wait that starts now (`max_wait` from the policy).
    pub fn deadline(&self) -> Deadline {
        Deadline {
            at: std::time::Instant::now() + self.ep.policy.max_wait,
            max: self.ep.policy.max_wait,
            provider: self.provider,
        }
    }
}

/// Bounds a whole wait (all polls), so a job stuck in the provider's queue ends as a timeout.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: std::time::Instant,
    max: Duration,
    provider: &'static str,
}

impl Deadline {
    pub fn check(&self) -> Result<(), ProviderError> {
        if std::time::Instant::now() >= self.at {
            Err(ProviderError::Timeout {
                provider: self.provider,
                what: "waiting for the result".into(),
                after: self.max,
            })
        } else {
            Ok(())
        }
    }
}

/// Whether `url` may be contacted: same origin and under the base path, or (for downloads) an
/// allowlisted host over https or the base URL's scheme.
pub fn url_allowed(ep: &Endpoint, url: &Url, download: bool) -> bool {
    if url.origin() == ep.base_url.origin() && url.path().starts_with(ep.base_url.path()) {
        return true;
    }
    if !download || !(url.scheme() == "https" || url.scheme() == ep.base_url.scheme()) {
        return false;
    }
    let Some(host) = url.host_str().map(|h| h.to_ascii_lowercase()) else {
        return false;
    };
    ep.download_hosts
        .iter()
        .any(|allowed| match allowed.strip_prefix("*.") {
            Some(suffix) => {
                host.len() > suffix.len()
                    && host.ends_with(suffix)
                    && host[..host.len() - suffix.len()].ends_with('.')
            }
            None => *allowed == host,
        })
}

/// Exponential backoff with full jitter in [d/2, d]: d = base * 2^(attempt-1), capped.
pub fn backoff(policy: &CallPolicy, attempt: u32) -> Duration {
    let exp =
        policy.backoff_base.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
    let capped = exp.min(policy.backoff_max.as_secs_f64());
    Duration::from_secs_f64(capped * (0.5 + 0.5 * fastrand::f64()))
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and treated as absent, so
/// the backoff applies).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(base: &str, hosts: &[&str]) -> Endpoint {
        Endpoint::new(base, Secret::new("k"))
            .unwrap()
            .with_download_hosts(hosts)
    }

    #[test]
    fn request_ids_are_read_at_their_pointer_and_odd_ones_refused() {
        let http = Http::new("atlas", ep("https://api.example.com", &[])).unwrap();
        let answer = serde_json::json!({ "data": { "id": "abc-123_x" }, "bad": "../etc", "long": "a".repeat(201) });
        assert_eq!(
            http.request_id(&answer, "/data/id", &['-', '_']).unwrap(),
            "abc-123_x"
        );
        for (pointer, also) in [
            ("/data/id", &['-'][..]),
            ("/bad", &['-']),
            ("/long", &[]),
            ("/none", &[]),
        ] {
            let err = http.request_id(&answer, pointer, also).unwrap_err();
            assert!(
                matches!(err, ProviderError::Malformed { .. }),
                "{pointer}: {err:?}"
            );
        }
    }

    #[test]
    fn only_the_base_url_unless_allowlisted_for_downloads() {
        let e = ep("https://queue.fal.run", &["*.fal.media", "cdn.example.com"]);
        let ok = |u: &str, d| url_allowed(&e, &Url::parse(u).unwrap(), d);
        assert!(ok("https://queue.fal.run/fal-ai/x/requests/1", false));
        assert!(
            !ok("http://queue.fal.run/fal-ai/x", false),
            "scheme is part of the origin"
        );
        assert!(!ok("https://queue.fal.run:8443/x", false));
        assert!(!ok("https://evil.example/x", true));
        assert!(ok("https://v3.fal.media/files/a.mp4", true));
        assert!(
            !ok("https://v3.fal.media/files/a.mp4", false),
            "download hosts are for downloads only"
        );
        assert!(!ok("https://fal.media/a.mp4", true), "*. needs a subdomain");
        assert!(!ok("https://evilfal.media/a.mp4", true));
        assert!(
            !ok("http://v3.fal.media/a.mp4", true),
            "downloads from other hosts need https"
        );
        assert!(ok("https://cdn.example.com/a.mp4", true));
        assert!(!ok("https://x.cdn.example.com/a.mp4", true));
    }

    #[test]
    fn base_path_is_a_prefix_guard() {
        let e = ep("http://127.0.0.1:8188/comfy", &[]);
        assert!(url_allowed(
            &e,
            &Url::parse("http://127.0.0.1:8188/comfy/view?x=1").unwrap(),
            false
        ));
        assert!(!url_allowed(
            &e,
            &Url::parse("http://127.0.0.1:8188/other").unwrap(),
            false
        ));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = CallPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            ..Default::default()
        };
        for _ in 0..50 {
            let d1 = backoff(&p, 1);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = backoff(&p, 3);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            let d9 = backoff(&p, 9);
            assert!(
                d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(1000),
                "{d9:?}"
            );
        }
        let samples: std::collections::HashSet<u128> =
            (0..20).map(|_| backoff(&p, 2).as_micros()).collect();
        assert!(samples.len() > 1, "jitter varies the delay");
    }

    #[test]
    fn retry_after_parses_seconds_only() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after", "0.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "-1".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn bad_base_urls_are_configuration_errors() {
        assert!(Endpoint::new("ftp://x", Secret::new("k")).is_err());
        assert!(Endpoint::new("not a url", Secret::new("k")).is_err());
        let e = Endpoint::new("https://api.replicate.com", Secret::new("k")).unwrap();
        assert_eq!(
            e.base_url.join("v1/predictions").unwrap().as_str(),
            "https://api.replicate.com/v1/predictions"
        );
    }
}

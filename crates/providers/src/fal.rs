//! fal.ai through its queue API (https://docs.fal.ai/model-apis/model-endpoints/queue).
//!
//! `POST {base}/{model_id}` with the model's JSON input and `Authorization: Key <key>` answers
//! `{"request_id", "status_url", "response_url", "cancel_url"}`; those URLs use only the
//! model's owner/app path (`fal-ai/kling-video`), not the full model id. `GET status_url`
//! answers `IN_QUEUE`, `IN_PROGRESS` or `COMPLETED` (with `error` when the job failed);
//! `GET response_url` is the model's output (`video.url`, or `images[0].url`);
//! `PUT cancel_url` cancels. Results live on fal's CDN (`*.fal.media`), the default download
//! allowlist. Webhooks: [`crate::webhook::fal`].

use crate::http::{Endpoint, Http, Idempotent};
use crate::{
    PendingShot, ProviderError, Secret, ShotKind, ShotProvider, ShotRequest, ShotResult, Sink,
};
use async_trait::async_trait;
use reqwest::Client;
use serde::Deserialize;
use serde_json::{json, Value};

pub const DEFAULT_BASE_URL: &str = "https://queue.fal.run";
pub const DEFAULT_DOWNLOAD_HOSTS: &[&str] = &["*.fal.media", "fal.media"];

pub struct Fal {
    http: Http,
    /// Where fal POSTs the result when the request ends (`fal_webhook`), so the job wakes
    /// without waiting for its next poll.
    webhook_url: Option<String>,
}

impl Fal {
    pub fn new(endpoint: Endpoint) -> Result<Self, ProviderError> {
        Ok(Fal {
            http: Http::new("fal", endpoint)?,
            webhook_url: None,
        })
    }

    /// Ask fal to call `url` when each request ends (signed; see [`crate::webhook::fal`]).
    pub fn with_webhook(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    /// The production endpoint with fal's CDN allowlisted for downloads.
    pub fn with_key(key: Secret) -> Result<Self, ProviderError> {
        Self::new(Endpoint::new(DEFAULT_BASE_URL, key)?.with_download_hosts(DEFAULT_DOWNLOAD_HOSTS))
    }

    fn auth(&self, c: &Client, method: reqwest::Method, url: &url::Url) -> reqwest::RequestBuilder {
        c.request(method, url.clone()).header(
            "Authorization",
            format!("Key {}", self.http.ep.key.expose()),
        )
    }

    /// The `{base}/{owner}/{app}/requests/{id}` URL, for a pending shot saved without URLs.
    fn request_url(&self, pending: &PendingShot, suffix: &str) -> Result<url::Url, ProviderError> {
        let owner_app: Vec<&str> = pending.model.split('/').take(2).collect();
        self.http.url(&format!(
            "{}/requests/{}{suffix}",
            owner_app.join("/"),
            pending.request_id
        ))
    }
}

/// The model input, in each model's documented field names (its `registry::InputSchema`): Kling
/// takes no seed, and its image-to-video no aspect ratio (the image sets the shape).
pub fn input_for(req: &ShotRequest) -> Value {
    let mut body = json!({ "prompt": req.prompt });
    let m = req.model.as_str();
    if m.contains("kling-video") {
        body["duration"] = json!(req.duration_s.to_string());
        match &req.image {
            Some(img) => body["image_url"] = json!(img.data_uri()),
            None => body["aspect_ratio"] = json!(req.aspect),
        }
        if let Some(neg) = &req.negative_prompt {
            body["negative_prompt"] = json!(neg);
        }
    } else if m.contains("veo3") {
        body["duration"] = json!(format!("{}s", req.duration_s));
        body["aspect_ratio"] = json!(req.aspect);
        body["generate_audio"] = json!(req.audio);
        if let Some(r) = &req.resolution {
            body["resolution"] = json!(r);
        }
        if let Some(neg) = &req.negative_prompt {
            body["negative_prompt"] = json!(neg);
        }
        if let Some(seed) = req.seed {
            body["seed"] = json!(seed & u64::from(u32::MAX));
        }
    } else if req.kind == ShotKind::TextToImage {
        let size = match req.aspect.as_str() {
            "16:9" => "landscape_16_9",
            "9:16" => "portrait_16_9",
            _ => "square_hd",
        };
        body["image_size"] = json!(size);
        body["num_images"] = json!(1);
        if let Some(seed) = req.seed {
            body["seed"] = json!(seed & u64::from(u32::MAX));
        }
    }
    body
}

/// What an error answer of `response_url` means, by fal's documented error types: model errors
/// (https://fal.ai/docs/documentation/model-apis/errors: a `detail` list of `{loc, msg, type}`)
/// and request errors (https://fal.ai/docs/documentation/model-apis/request-errors: an
/// `error_type` such as `runner_server_error`, also in `X-Fal-Error-Type`), with
/// `X-Fal-Retryable` saying whether the same input may succeed. The result of a request that
/// failed never changes, so none of these is fetched again: a content refusal is
/// `provider.refused`, another input error `provider.rejected` with fal's sentence, and an
/// infrastructure failure `provider.failed` (a new request may succeed). A 429 is left to the
/// call policy.
pub fn result_error(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> Option<ProviderError> {
    if status == 429 {
        return None;
    }
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let first = v
        .get("detail")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .or_else(|| v.as_array().and_then(|d| d.first()));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    };
    let kind = first
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| header("x-fal-error-type"))
        .or_else(|| {
            v.get("error_type")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let msg = first
        .and_then(|e| e.get("msg"))
        .or_else(|| v.get("detail").filter(|d| d.is_string()))
        .and_then(Value::as_str)
        .map(str::to_string);
    let retryable = header("x-fal-retryable").map(|h| h.eq_ignore_ascii_case("true"));
    match (kind.as_deref(), status) {
        (Some("content_policy_violation"), _) => Some(ProviderError::Refused {
            provider: "fal",
            reason: msg.unwrap_or_else(|| "the content was flagged by a content checker".into()),
        }),
        (Some(kind), 400..=499) => Some(ProviderError::Rejected {
            provider: "fal",
            status,
            detail: format!(
                "{} ({kind})",
                msg.unwrap_or_else(|| "the input was refused".into())
            ),
        }),
        (kind, 500..=599) | (kind @ Some(_), _) => {
            let kind = kind.unwrap_or("server error");
            let again = if retryable == Some(false) {
                "; fal says the same input would fail again"
            } else {
                ""
            };
            Some(ProviderError::Failed {
                provider: "fal",
                reason: format!("fal's machine failed while generating ({kind}){again}"),
            })
        }
        _ => None,
    }
}

#[derive(Deserialize)]
struct Submitted {
    request_id: String,
    status_url: String,
    response_url: String,
    cancel_url: String,
}

#[derive(Deserialize)]
struct Status {
    status: String,
    #[serde(default)]
    error: Option<String>,
}

/// The output file's URL in a fal result: `video.url`, `image.url` or `images[0].url`.
fn output_url(result: &Value) -> Option<&str> {
    result
        .pointer("/video/url")
        .or_else(|| result.pointer("/image/url"))
        .or_else(|| result.pointer("/images/0/url"))
        .and_then(Value::as_str)
}

#[async_trait]
impl ShotProvider for Fal {
    fn name(&self) -> &'static str {
        "fal"
    }

    async fn submit(&self, req: &ShotRequest) -> Result<PendingShot, ProviderError> {
        let caps = self
            .http
            .ep
            .models
            .checked("fal", &req.model, &req.model, req)?;
        let mut url = self.http.url(&req.model)?;
        if let Some(hook) = &self.webhook_url {
            url.query_pairs_mut().append_pair("fal_webhook", hook);
        }
        let body = input_for(req);
        caps.conforms(&body)?;
        let (ans, _): (Submitted, _) = self
            .http
            .send_json("submit", Idempotent::No, &|c| {
                self.auth(c, reqwest::Method::POST, &url).json(&body)
            })
            .await?;
        // The answer's URLs are used later; refuse them now if they leave the base URL.
        for u in [&ans.status_url, &ans.response_url, &ans.cancel_url] {
            self.http.checked_url(u, false)?;
        }
        Ok(PendingShot {
            status_url: Some(ans.status_url),
            result_url: Some(ans.response_url),
            cancel_url: Some(ans.cancel_url),
            ..PendingShot::accepted("fal", req, ans.request_id)
        })
    }

    async fn wait(&self, pending: &PendingShot, sink: &mut Sink<'_>, max_bytes: u64) -> ShotResult {
        let status_url = match &pending.status_url {
            Some(u) => self.http.checked_url(u, false)?,
            None => self.request_url(pending, "/status")?,
        };
        let result_url = match &pending.result_url {
            Some(u) => self.http.checked_url(u, false)?,
            None => self.request_url(pending, "")?,
        };
        let deadline = self.http.deadline();
        loop {
            deadline.check()?;
            let (st, _): (Status, _) = self
                .http
                .send_json("status", Idempotent::Yes, &|c| {
                    self.auth(c, reqwest::Method::GET, &status_url)
                })
                .await?;
            match st.status.as_str() {
                "COMPLETED" => {
                    if let Some(error) = st.error {
                        if error.contains("cancel") {
                            return Err(ProviderError::Canceled { provider: "fal" });
                        }
                        return Err(ProviderError::Failed {
                            provider: "fal",
                            reason: self.http.ep.key.redact(&error),
                        });
                    }
                    break;
                }
                "IN_QUEUE" | "IN_PROGRESS" => self.http.poll_pause().await,
                other => return Err(self.http.malformed(format!("unknown status {other}"))),
            }
        }
        let (result, _): (Value, _) = self
            .http
            .send_json_classified(
                "result",
                Idempotent::Yes,
                &|c| self.auth(c, reqwest::Method::GET, &result_url),
                &result_error,
            )
            .await?;
        let file = output_url(&result).ok_or_else(|| {
            self.http
                .malformed("the result names no video or image URL")
        })?;
        // fal's CDN URLs are public: the key is sent only if the file is on the API host itself.
        let add_key = |rb: reqwest::RequestBuilder| {
            rb.header(
                "Authorization",
                format!("Key {}", self.http.ep.key.expose()),
            )
        };
        self.http
            .download_output(&pending.request_id, file, sink, max_bytes, Some(&add_key))
            .await
    }

    async fn cancel(&self, pending: &PendingShot) -> Result<(), ProviderError> {
        let url = match &pending.cancel_url {
            Some(u) => self.http.checked_url(u, false)?,
            None => self.request_url(pending, "/cancel")?,
        };
        match self
            .http
            .send("cancel", Idempotent::Yes, &|c| {
                self.auth(c, reqwest::Method::PUT, &url)
            })
            .await
        {
            Ok(_) => Ok(()),
            // Too late to cancel is not a failure of cancel: the job is over either way.
            Err(ProviderError::Rejected {
                status: 400,
                detail,
                ..
            }) if detail.contains("ALREADY_COMPLETED") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InputImage;

    #[test]
    fn kling_input_uses_string_durations_and_a_data_uri() {
        let mut req = ShotRequest::text_to_video("a fox", 10, "9:16")
            .with_model("fal-ai/kling-video/v2.1/standard/image-to-video");
        req.kind = ShotKind::ImageToVideo;
        req.image = Some(InputImage {
            bytes: vec![1, 2, 3],
            mime: "image/png".into(),
        });
        req.negative_prompt = Some("blur".into());
        let v = input_for(&req);
        assert_eq!(v["duration"], "10");
        assert!(
            v.get("aspect_ratio").is_none(),
            "image-to-video takes the image's shape"
        );
        assert!(v.get("seed").is_none(), "fal's Kling documents no seed");
        assert_eq!(v["image_url"], "data:image/png;base64,AQID");
        assert_eq!(v["negative_prompt"], "blur");
    }

    #[test]
    fn veo_input_uses_seconds_suffix_and_audio() {
        let mut req = ShotRequest::text_to_video("a fox", 6, "16:9").with_model("fal-ai/veo3.1");
        req.audio = true;
        req.resolution = Some("1080p".into());
        let v = input_for(&req);
        assert_eq!(v["duration"], "6s");
        assert_eq!(v["generate_audio"], true);
        assert_eq!(v["resolution"], "1080p");
    }

    #[test]
    fn result_errors_are_classified_by_their_documented_type() {
        use reelsmith_core::ErrorCode;
        let mut h = reqwest::header::HeaderMap::new();
        let policy = r#"{"detail": [{"loc": ["body", "prompt"], "msg": "The content was flagged by a content checker.", "type": "content_policy_violation"}]}"#;
        let e = result_error(422, &h, policy).unwrap();
        assert_eq!(e.code(), "provider.refused");
        assert!(
            e.to_string()
                .ends_with("The content was flagged by a content checker."),
            "{e}"
        );
        let small = r#"{"detail": [{"loc": ["body", "image_url"], "msg": "Image too small", "type": "image_too_small"}]}"#;
        let e = result_error(422, &h, small).unwrap();
        assert_eq!(e.code(), "provider.rejected");
        assert!(!e.to_string().contains('{'), "a sentence, not JSON: {e}");
        h.insert("x-fal-error-type", "runner_server_error".parse().unwrap());
        h.insert("x-fal-retryable", "true".parse().unwrap());
        let e = result_error(500, &h, r#"{"detail": "Internal server error"}"#).unwrap();
        assert_eq!(e.code(), "provider.failed");
        assert!(e.to_string().contains("runner_server_error"), "{e}");
        assert!(
            result_error(429, &h, "").is_none(),
            "left to the call policy"
        );
    }

    #[test]
    fn output_url_finds_videos_and_images() {
        assert_eq!(output_url(&json!({"video": {"url": "u1"}})), Some("u1"));
        assert_eq!(output_url(&json!({"images": [{"url": "u2"}]})), Some("u2"));
        assert_eq!(output_url(&json!({"nothing": 1})), None);
    }
}

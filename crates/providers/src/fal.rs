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
use crate::registry;
use crate::{
    PendingShot, ProviderError, Secret, ShotKind, ShotOutput, ShotProvider, ShotRequest, Sink,
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

/// The model input, in each model family's documented field names.
pub fn input_for(req: &ShotRequest) -> Value {
    let mut body = json!({ "prompt": req.prompt });
    let m = req.model.as_str();
    if m.contains("kling-video") {
        body["duration"] = json!(req.duration_s.to_string());
        body["aspect_ratio"] = json!(req.aspect);
        if let Some(img) = &req.image {
            body["image_url"] = json!(img.data_uri());
        }
    } else if m.contains("veo3") {
        body["duration"] = json!(format!("{}s", req.duration_s));
        body["aspect_ratio"] = json!(req.aspect);
        body["generate_audio"] = json!(req.audio);
        if let Some(r) = &req.resolution {
            body["resolution"] = json!(r);
        }
        if let Some(img) = &req.image {
            body["image_url"] = json!(img.data_uri());
        }
    } else if req.kind == ShotKind::TextToImage {
        let size = match req.aspect.as_str() {
            "16:9" => "landscape_16_9",
            "9:16" => "portrait_16_9",
            _ => "square_hd",
        };
        body["image_size"] = json!(size);
        body["num_images"] = json!(1);
    }
    if let Some(neg) = &req.negative_prompt {
        body["negative_prompt"] = json!(neg);
    }
    if let Some(seed) = req.seed {
        body["seed"] = json!(seed);
    }
    body
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
        registry::checked("fal", &req.model, &req.model, req)?;
        let mut url = self.http.url(&req.model)?;
        if let Some(hook) = &self.webhook_url {
            url.query_pairs_mut().append_pair("fal_webhook", hook);
        }
        let body = input_for(req);
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

    async fn wait(
        &self,
        pending: &PendingShot,
        sink: &mut Sink<'_>,
        max_bytes: u64,
    ) -> Result<ShotOutput, ProviderError> {
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
            .send_json("result", Idempotent::Yes, &|c| {
                self.auth(c, reqwest::Method::GET, &result_url)
            })
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
        assert_eq!(v["aspect_ratio"], "9:16");
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
    fn output_url_finds_videos_and_images() {
        assert_eq!(output_url(&json!({"video": {"url": "u1"}})), Some("u1"));
        assert_eq!(output_url(&json!({"images": [{"url": "u2"}]})), Some("u2"));
        assert_eq!(output_url(&json!({"nothing": 1})), None);
    }
}

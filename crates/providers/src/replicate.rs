//! Replicate predictions (https://replicate.com/docs/reference/http).
//!
//! Create with `POST {base}/v1/models/{owner}/{name}/predictions` (official models, by name) or
//! `POST {base}/v1/predictions` with `"version"` (a model id written `owner/name:version`),
//! `Authorization: Bearer <token>`, optionally `Prefer: wait=<s>` (the server holds the answer
//! up to that long, so short jobs finish in one call). A prediction's `status` is `starting`,
//! `processing`, `succeeded`, `failed` or `canceled`; `urls.get` polls it, `urls.cancel`
//! (POST) cancels it; `output` is a URL (or a list of them) on `replicate.delivery`, the
//! default download allowlist. Webhooks: [`crate::webhook::replicate`].

use crate::http::{Endpoint, Http, Idempotent};
use crate::{PendingShot, ProviderError, Secret, ShotProvider, ShotRequest, ShotResult, Sink};
use async_trait::async_trait;
use reqwest::{Client, Method, RequestBuilder};
use serde::Deserialize;
use serde_json::{json, Value};

pub const DEFAULT_BASE_URL: &str = "https://api.replicate.com";
pub const DEFAULT_DOWNLOAD_HOSTS: &[&str] = &["replicate.delivery", "*.replicate.delivery"];

pub struct Replicate {
    http: Http,
    /// `Prefer: wait=<s>` on create. Off by default: a held create delays the moment the
    /// prediction id can be saved, and saving it early is what makes resuming safe.
    pub prefer_wait_s: Option<u8>,
    /// Sent as `webhook` with `webhook_events_filter: ["completed"]` when set.
    pub webhook_url: Option<String>,
}

impl Replicate {
    pub fn new(endpoint: Endpoint) -> Result<Self, ProviderError> {
        Ok(Replicate {
            http: Http::new("replicate", endpoint)?,
            prefer_wait_s: None,
            webhook_url: None,
        })
    }

    pub fn with_key(key: Secret) -> Result<Self, ProviderError> {
        Self::new(Endpoint::new(DEFAULT_BASE_URL, key)?.with_download_hosts(DEFAULT_DOWNLOAD_HOSTS))
    }

    fn auth(&self, c: &Client, method: Method, url: &url::Url) -> RequestBuilder {
        c.request(method, url.clone()).header(
            "Authorization",
            format!("Bearer {}", self.http.ep.key.expose()),
        )
    }

    fn get_url(&self, pending: &PendingShot) -> Result<url::Url, ProviderError> {
        match &pending.status_url {
            Some(u) => self.http.checked_url(u, false),
            None => self
                .http
                .url(&format!("v1/predictions/{}", pending.request_id)),
        }
    }
}

/// The model input in each model's documented field names (its `registry::InputSchema`).
/// Kling v2.1 picks its quality with `mode` (`standard` 720p, `pro` 1080p) and takes no aspect
/// ratio, resolution or seed; Veo 3.1 takes them all.
pub fn input_for(req: &ShotRequest) -> Value {
    let mut input = json!({ "prompt": req.prompt, "duration": req.duration_s });
    if req.model.contains("kling") {
        if let Some(img) = &req.image {
            input["start_image"] = json!(img.data_uri());
        }
        let pro = req.resolution.as_deref() == Some("1080p");
        input["mode"] = json!(if pro { "pro" } else { "standard" });
    } else {
        input["aspect_ratio"] = json!(req.aspect);
        if let Some(img) = &req.image {
            input["image"] = json!(img.data_uri());
        }
        if let Some(res) = &req.resolution {
            input["resolution"] = json!(res);
        }
        input["generate_audio"] = json!(req.audio);
        if let Some(seed) = req.seed {
            input["seed"] = json!(seed & u64::from(u32::MAX));
        }
    }
    if let Some(neg) = &req.negative_prompt {
        input["negative_prompt"] = json!(neg);
    }
    input
}

#[derive(Debug, Deserialize)]
pub struct Prediction {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub output: Value,
    #[serde(default)]
    pub error: Value,
    #[serde(default)]
    pub urls: Urls,
}

#[derive(Debug, Default, Deserialize)]
pub struct Urls {
    #[serde(default)]
    pub get: Option<String>,
    #[serde(default)]
    pub cancel: Option<String>,
}

/// The first file URL in an output: a string, a list of strings, or an object with `url`.
fn output_url(output: &Value) -> Option<&str> {
    match output {
        Value::String(s) => Some(s),
        Value::Array(items) => items.iter().find_map(output_url),
        Value::Object(_) => output.get("url").and_then(Value::as_str),
        _ => None,
    }
}

#[async_trait]
impl ShotProvider for Replicate {
    fn name(&self) -> &'static str {
        "replicate"
    }

    async fn submit(&self, req: &ShotRequest) -> Result<PendingShot, ProviderError> {
        // "owner/name:version" names a version; the registry lists the model part.
        let (model, version) = match req.model.split_once(':') {
            Some((m, v)) => (m, Some(v)),
            None => (req.model.as_str(), None),
        };
        let caps = self
            .http
            .ep
            .models
            .checked("replicate", model, &req.model, req)?;
        let mut body = json!({ "input": input_for(req) });
        caps.conforms(&body)?;
        let url = match version {
            Some(v) => {
                body["version"] = json!(v);
                self.http.url("v1/predictions")?
            }
            None => self.http.url(&format!("v1/models/{model}/predictions"))?,
        };
        if let Some(hook) = &self.webhook_url {
            body["webhook"] = json!(hook);
            body["webhook_events_filter"] = json!(["completed"]);
        }
        let prefer = self
            .prefer_wait_s
            .map(|s| format!("wait={}", s.clamp(1, 60)));
        let (p, _): (Prediction, _) = self
            .http
            .send_json("create", Idempotent::No, &|c| {
                let rb = self.auth(c, Method::POST, &url).json(&body);
                match &prefer {
                    Some(p) => rb.header("Prefer", p),
                    None => rb,
                }
            })
            .await?;
        for u in [&p.urls.get, &p.urls.cancel].into_iter().flatten() {
            self.http.checked_url(u, false)?;
        }
        Ok(PendingShot {
            status_url: p.urls.get,
            cancel_url: p.urls.cancel,
            ..PendingShot::accepted("replicate", req, p.id)
        })
    }

    async fn wait(&self, pending: &PendingShot, sink: &mut Sink<'_>, max_bytes: u64) -> ShotResult {
        let get = self.get_url(pending)?;
        let deadline = self.http.deadline();
        let prediction = loop {
            deadline.check()?;
            let (p, _): (Prediction, _) = self
                .http
                .send_json("poll", Idempotent::Yes, &|c| {
                    self.auth(c, Method::GET, &get)
                })
                .await?;
            match p.status.as_str() {
                "succeeded" => break p,
                "failed" => {
                    let reason = p
                        .error
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| p.error.to_string());
                    let reason = self.http.ep.key.redact(&reason);
                    tracing::warn!(provider = "replicate", request_id = %p.id, error = %reason,
                        "provider error answer");
                    return Err(failure(&reason));
                }
                "canceled" | "aborted" => {
                    return Err(ProviderError::Canceled {
                        provider: "replicate",
                    })
                }
                "starting" | "processing" => self.http.poll_pause().await,
                other => return Err(self.http.malformed(format!("unknown status {other}"))),
            }
        };
        let file = output_url(&prediction.output)
            .ok_or_else(|| self.http.malformed("the output names no file URL"))?;
        self.http
            .download_output(&prediction.id, file, sink, max_bytes, None)
            .await
    }

    async fn cancel(&self, pending: &PendingShot) -> Result<(), ProviderError> {
        let url = match &pending.cancel_url {
            Some(u) => self.http.checked_url(u, false)?,
            None => self
                .http
                .url(&format!("v1/predictions/{}/cancel", pending.request_id))?,
        };
        self.http
            .send("cancel", Idempotent::Yes, &|c| {
                self.auth(c, Method::POST, &url)
            })
            .await
            .map(|_| ())
    }
}

/// The `E####` code at the start of a failed prediction's `error` (`"E6716: ..."`, or `"(E005)
/// ..."` as models report flagged content), if any.
fn error_code(error: &str) -> Option<&str> {
    let t = error.trim_start().trim_start_matches('(');
    let end = t
        .char_indices()
        .skip(1)
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(t.len(), |(i, _)| i);
    (t.starts_with('E') && end > 1).then(|| &t[..end])
}

/// A failed prediction classified by Replicate's documented error codes
/// (<https://replicate.com/docs/reference/error-codes>) and the `E005` "flagged as sensitive"
/// its hosted models answer: a refusal or an input the model cannot take is never worth paying
/// for again; an unknown error or a prediction that could not start may succeed on a new one.
fn failure(error: &str) -> ProviderError {
    let code = error_code(error);
    let lower = error.to_ascii_lowercase();
    let provider = "replicate";
    match code {
        Some("E005") => ProviderError::Refused {
            provider,
            reason: "the model flagged the prompt or its output as sensitive (E005)".into(),
        },
        _ if lower.contains("flagged as sensitive") || lower.contains("nsfw") => {
            ProviderError::Refused {
                provider,
                reason: "the model flagged the prompt or its output as sensitive".into(),
            }
        }
        Some("E1001") => ProviderError::Rejected {
            provider,
            status: 422,
            detail: "the model ran out of memory on this input; a smaller image or a shorter \
                     prompt may fit (E1001)"
                .into(),
        },
        Some("E4875") => {
            ProviderError::Config("replicate expected a webhook URL and got none (E4875)".into())
        }
        Some("E6716") => ProviderError::Failed {
            provider,
            reason: "the prediction did not start in time (E6716)".into(),
        },
        Some("E1000") => ProviderError::Failed {
            provider,
            reason: "an error Replicate has not categorised (E1000)".into(),
        },
        _ => ProviderError::Failed {
            provider,
            reason: error.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_their_documented_codes() {
        use reelsmith_core::ErrorCode;
        let flagged = "(E005) The input or output was flagged as sensitive. Please try again.";
        assert_eq!(error_code(flagged), Some("E005"));
        assert_eq!(failure(flagged).code(), "provider.refused");
        assert_eq!(failure("E1001: OOM killed").code(), "provider.rejected");
        assert_eq!(failure("E4875 webhook url empty").code(), "provider.config");
        let late = failure("E6716: Timeout starting prediction");
        assert_eq!(late.code(), "provider.failed");
        assert!(late.to_string().contains("did not start in time"), "{late}");
        assert_eq!(
            failure("CUDA error: device-side assert").code(),
            "provider.failed"
        );
        assert_eq!(error_code("Error while running"), None);
        assert_eq!(error_code("E"), None);
    }

    #[test]
    fn output_url_takes_the_first_file() {
        assert_eq!(
            output_url(&json!("https://replicate.delivery/a.mp4")),
            Some("https://replicate.delivery/a.mp4")
        );
        assert_eq!(output_url(&json!(["u1", "u2"])), Some("u1"));
        assert_eq!(output_url(&json!({"url": "u3"})), Some("u3"));
        assert_eq!(output_url(&Value::Null), None);
    }

    #[test]
    fn kling_gets_start_image_and_integer_duration() {
        let mut req =
            ShotRequest::text_to_video("a fox", 5, "16:9").with_model("kwaivgi/kling-v2.1");
        req.image = Some(crate::InputImage {
            bytes: vec![0],
            mime: "image/jpeg".into(),
        });
        let v = input_for(&req);
        assert_eq!(v["duration"], 5);
        assert!(v["start_image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/jpeg;base64,"));
        assert!(v.get("generate_audio").is_none());
    }
}

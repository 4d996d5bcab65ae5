//! Google Veo 3.1 on the Gemini API (https://ai.google.dev/gemini-api/docs/video).
//!
//! `POST {base}/models/{model}:predictLongRunning` with `x-goog-api-key` and
//! `{"instances": [{"prompt", "image"?: {"bytesBase64Encoded", "mimeType"}}],
//!   "parameters": {"aspectRatio", "durationSeconds", "resolution", "negativePrompt", "seed"}}`
//! answers a long-running operation `{"name": "models/{model}/operations/{id}"}`;
//! `GET {base}/{name}` answers `{"done": false}` until `done` with either `error` or
//! `response.generateVideoResponse.generatedSamples[0].video.uri`, a file on the API host
//! downloaded with the key (`files/{id}:download?alt=media`). Cancel is google.longrunning's
//! `POST {base}/{name}:cancel`, which Veo's docs do not mention; we send it and accept its answer.

use crate::http::{Endpoint, Http, Idempotent};
use crate::{PendingShot, ProviderError, Secret, ShotProvider, ShotRequest, ShotResult, Sink};
use async_trait::async_trait;
use base64::Engine;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{json, Value};

pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

pub struct Veo {
    http: Http,
}

impl Veo {
    pub fn new(endpoint: Endpoint) -> Result<Self, ProviderError> {
        Ok(Veo {
            http: Http::new("veo", endpoint)?,
        })
    }

    pub fn with_key(key: Secret) -> Result<Self, ProviderError> {
        Self::new(Endpoint::new(DEFAULT_BASE_URL, key)?)
    }

    fn auth(&self, c: &Client, method: Method, url: &url::Url) -> RequestBuilder {
        c.request(method, url.clone())
            .header("x-goog-api-key", self.http.ep.key.expose())
    }
}

/// The `predictLongRunning` body.
pub fn body_for(req: &ShotRequest) -> Value {
    let mut instance = json!({ "prompt": req.prompt });
    if let Some(img) = &req.image {
        instance["image"] = json!({
            "bytesBase64Encoded": base64::engine::general_purpose::STANDARD.encode(&img.bytes),
            "mimeType": img.mime,
        });
    }
    let mut parameters = json!({ "aspectRatio": req.aspect, "durationSeconds": req.duration_s });
    if let Some(r) = &req.resolution {
        parameters["resolution"] = json!(r);
    }
    if let Some(neg) = &req.negative_prompt {
        parameters["negativePrompt"] = json!(neg);
    }
    if let Some(seed) = req.seed {
        parameters["seed"] = json!(seed);
    }
    json!({ "instances": [instance], "parameters": parameters })
}

#[async_trait]
impl ShotProvider for Veo {
    fn name(&self) -> &'static str {
        "veo"
    }

    async fn submit(&self, req: &ShotRequest) -> Result<PendingShot, ProviderError> {
        self.http
            .ep
            .models
            .checked("veo", &req.model, &req.model, req)?;
        let url = self
            .http
            .url(&format!("models/{}:predictLongRunning", req.model))?;
        let body = body_for(req);
        let (op, _): (Value, _) = self
            .http
            .send_json("generate", Idempotent::No, &|c| {
                self.auth(c, Method::POST, &url).json(&body)
            })
            .await?;
        let name = op
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| self.http.malformed("no operation name"))?;
        // The name is a path under the base URL; a name that climbs out of it is refused.
        if name.contains("..") || name.starts_with('/') || name.contains("://") {
            return Err(self.http.malformed(format!("odd operation name {name}")));
        }
        Ok(PendingShot::accepted("veo", req, name))
    }

    async fn wait(&self, pending: &PendingShot, sink: &mut Sink<'_>, max_bytes: u64) -> ShotResult {
        let url = self.http.url(&pending.request_id)?;
        let deadline = self.http.deadline();
        let op = loop {
            deadline.check()?;
            let (op, _): (Value, _) = self
                .http
                .send_json("operation", Idempotent::Yes, &|c| {
                    self.auth(c, Method::GET, &url)
                })
                .await?;
            match op.get("done").and_then(Value::as_bool) {
                Some(true) => break op,
                Some(false) | None if op.is_object() => self.http.poll_pause().await,
                _ => return Err(self.http.malformed("the operation is not an object")),
            }
        };
        if let Some(err) = op.get("error") {
            // google.rpc.Code 1 is CANCELLED.
            if err.get("code").and_then(Value::as_i64) == Some(1) {
                return Err(ProviderError::Canceled { provider: "veo" });
            }
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(ProviderError::Failed {
                provider: "veo",
                reason: self.http.ep.key.redact(msg),
            });
        }
        let resp = op
            .pointer("/response/generateVideoResponse")
            .ok_or_else(|| self.http.malformed("done without a response"))?;
        let Some(uri) = resp
            .pointer("/generatedSamples/0/video/uri")
            .and_then(Value::as_str)
        else {
            // Safety filters answer done with no sample and the reasons: a refusal of the
            // content, which the same request would meet again.
            if let Some(reasons) = resp.get("raiMediaFilteredReasons") {
                let text = match reasons {
                    Value::Array(list) => list
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                };
                return Err(ProviderError::Refused {
                    provider: "veo",
                    reason: text,
                });
            }
            return Err(ProviderError::Failed {
                provider: "veo",
                reason: "no video in the answer".into(),
            });
        };
        let add_key = |rb: RequestBuilder| rb.header("x-goog-api-key", self.http.ep.key.expose());
        self.http
            .download_output(&pending.request_id, uri, sink, max_bytes, Some(&add_key))
            .await
    }

    async fn cancel(&self, pending: &PendingShot) -> Result<(), ProviderError> {
        let url = self.http.url(&format!("{}:cancel", pending.request_id))?;
        self.http
            .send("cancel", Idempotent::Yes, &|c| {
                self.auth(c, Method::POST, &url).json(&json!({}))
            })
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_base64_image_and_camel_case_parameters() {
        let mut req =
            ShotRequest::text_to_video("a fox", 6, "9:16").with_model("veo-3.1-generate-preview");
        req.image = Some(crate::InputImage {
            bytes: vec![1, 2, 3],
            mime: "image/png".into(),
        });
        req.negative_prompt = Some("blur".into());
        req.resolution = Some("1080p".into());
        let b = body_for(&req);
        assert_eq!(b["instances"][0]["image"]["bytesBase64Encoded"], "AQID");
        assert_eq!(b["instances"][0]["image"]["mimeType"], "image/png");
        assert_eq!(
            b["parameters"],
            json!({"aspectRatio": "9:16", "durationSeconds": 6, "resolution": "1080p", "negativePrompt": "blur"})
        );
    }
}

//! Atlas Cloud (https://atlascloud.ai/docs/en/predictions), here for its Veo 3.1 models.
//!
//! `POST {base}/api/v1/model/generateVideo` (`generateImage` for stills) with
//! `Authorization: Bearer <key>` and `{"model", "prompt", ...parameters}` answers
//! `{"data": {"id", ...}}`; `GET {base}/api/v1/model/prediction/{id}` answers
//! `{"data": {"status": processing|completed|succeeded|failed, "outputs": [url], "error"}}`.
//! Atlas documents no cancel, so [`ShotProvider::cancel`] says so instead of pretending; and it
//! does not document where outputs are hosted, so the operator allowlists that download host.

use crate::http::{Endpoint, Http, Idempotent};
use crate::{
    PendingShot, ProviderError, Secret, ShotKind, ShotProvider, ShotRequest, ShotResult, Sink,
};
use async_trait::async_trait;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{json, Value};

pub const DEFAULT_BASE_URL: &str = "https://api.atlascloud.ai";

pub struct Atlas {
    http: Http,
}

impl Atlas {
    pub fn new(endpoint: Endpoint) -> Result<Self, ProviderError> {
        Ok(Atlas {
            http: Http::new("atlas", endpoint)?,
        })
    }

    pub fn with_key(key: Secret) -> Result<Self, ProviderError> {
        Self::new(Endpoint::new(DEFAULT_BASE_URL, key)?)
    }

    fn auth(&self, c: &Client, method: Method, url: &url::Url) -> RequestBuilder {
        c.request(method, url.clone())
            .bearer_auth(self.http.ep.key.expose())
    }
}

/// The generate body: the model id and its parameters side by side, as Atlas takes them.
pub fn body_for(req: &ShotRequest) -> Value {
    let mut body = json!({ "model": req.model, "prompt": req.prompt });
    if req.kind != ShotKind::TextToImage {
        body["duration"] = json!(req.duration_s);
        body["aspect_ratio"] = json!(req.aspect);
        body["generate_audio"] = json!(req.audio);
    }
    if let Some(r) = &req.resolution {
        body["resolution"] = json!(r);
    }
    if let Some(neg) = &req.negative_prompt {
        body["negative_prompt"] = json!(neg);
    }
    if let Some(img) = &req.image {
        body["image"] = json!(img.data_uri());
    }
    if let Some(seed) = req.seed {
        body["seed"] = json!(seed);
    }
    body
}

#[async_trait]
impl ShotProvider for Atlas {
    fn name(&self) -> &'static str {
        "atlas"
    }

    async fn submit(&self, req: &ShotRequest) -> Result<PendingShot, ProviderError> {
        self.http
            .ep
            .models
            .checked("atlas", &req.model, &req.model, req)?;
        let path = if req.kind == ShotKind::TextToImage {
            "api/v1/model/generateImage"
        } else {
            "api/v1/model/generateVideo"
        };
        let url = self.http.url(path)?;
        let body = body_for(req);
        let (ans, _): (Value, _) = self
            .http
            .send_json("generate", Idempotent::No, &|c| {
                self.auth(c, Method::POST, &url).json(&body)
            })
            .await?;
        let id = self.http.request_id(&ans, "/data/id", &['-', '_'])?;
        Ok(PendingShot::accepted("atlas", req, id))
    }

    async fn wait(&self, pending: &PendingShot, sink: &mut Sink<'_>, max_bytes: u64) -> ShotResult {
        let url = self
            .http
            .url(&format!("api/v1/model/prediction/{}", pending.request_id))?;
        let deadline = self.http.deadline();
        let data = loop {
            deadline.check()?;
            let (ans, _): (Value, _) = self
                .http
                .send_json("prediction", Idempotent::Yes, &|c| {
                    self.auth(c, Method::GET, &url)
                })
                .await?;
            let data = ans
                .get("data")
                .cloned()
                .ok_or_else(|| self.http.malformed("no data in the answer"))?;
            match data.get("status").and_then(Value::as_str) {
                Some("completed" | "succeeded") => break data,
                Some("failed") => {
                    let reason = data
                        .get("error")
                        .and_then(Value::as_str)
                        .filter(|e| !e.is_empty())
                        .unwrap_or("no reason given");
                    return Err(ProviderError::Failed {
                        provider: "atlas",
                        reason: self.http.ep.key.redact(reason),
                    });
                }
                Some("processing" | "created" | "queued" | "starting") => {
                    self.http.poll_pause().await
                }
                other => return Err(self.http.malformed(format!("unknown status {other:?}"))),
            }
        };
        let file = data
            .pointer("/outputs/0")
            .and_then(Value::as_str)
            .ok_or_else(|| self.http.malformed("no outputs[0]"))?;
        self.http
            .download_output(&pending.request_id, file, sink, max_bytes, None)
            .await
    }

    async fn cancel(&self, pending: &PendingShot) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported {
            model: pending.model.clone(),
            reason: "Atlas Cloud documents no way to cancel a prediction".into(),
        })
    }
}

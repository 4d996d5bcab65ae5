//! KieAI (https://docs.kie.ai), an aggregator with one key for Veo 3.1, Kling and others.
//!
//! Two families of endpoints, both answering `{"code", "msg", "data"}` where a `code` other than
//! 200 is an error even inside an HTTP 200 (https://docs.kie.ai/veo3-api/quickstart):
//! - Veo 3.1 (https://docs.kie.ai/veo3-api/generate-veo-3-video):
//!   `POST {base}/api/v1/veo/generate` answers `data.taskId`;
//!   `GET {base}/api/v1/veo/record-info?taskId=` (https://docs.kie.ai/veo3-api/get-veo-3-video-details)
//!   answers `data.successFlag` 0 generating, 1 success, 2 failed, 3 generation failed, and
//!   `data.response.resultUrls`; `GET {base}/api/v1/veo/get-1080p-video?taskId=&index=0`
//!   (https://docs.kie.ai/veo3-api/get-veo-3-1080-p-video) gives `data.resultUrl` of the 1080p
//!   version of a 16:9 video, answering another code until it is ready.
//! - Market models (https://docs.kie.ai/market/common/get-task-detail):
//!   `POST {base}/api/v1/jobs/createTask` with `{"model", "input", "callBackUrl"}` answers
//!   `data.taskId`; `GET {base}/api/v1/jobs/recordInfo?taskId=` answers `data.state` waiting |
//!   queuing | generating | success | fail, `data.resultJson` (a JSON string with `resultUrls`),
//!   `data.failCode` and `data.failMsg`.
//!
//! Input images go by URL. We upload the scene's image with KieAI's own file upload API
//! (`POST {base}/api/file-base64-upload`, https://docs.kie.ai/file-upload-api/upload-file-base-64)
//! under a random name, so no URL of Reelsmith's is ever handed out and nobody can guess or
//! overwrite another user's file; KieAI deletes uploads after a few days.
//!
//! Result URLs expire (https://docs.kie.ai/veo3-api/get-veo-3-video-details), so the result is
//! downloaded as soon as the task succeeds; a URL that is already gone is reported as
//! `provider.result_expired`. KieAI documents no cancel.

use crate::http::{backoff, retry_after, Endpoint, Http, Idempotent};
use crate::registry;
use crate::{
    PendingShot, ProviderError, Secret, ShotKind, ShotProvider, ShotRequest, ShotResult, Sink,
};
use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{json, Value};

pub const DEFAULT_BASE_URL: &str = "https://api.kie.ai";
/// Where KieAI's documented examples host generated files.
pub const DEFAULT_DOWNLOAD_HOSTS: &[&str] = &["*.aiquickdraw.com"];

const NAME: &str = "kie";

pub struct Kie {
    http: Http,
    /// Where KieAI posts its completion callback (`{public_url}/api/v1/webhooks/kie`); only set
    /// when the operator configured the HMAC key that verifies callbacks.
    pub callback_url: Option<String>,
}

/// Which of KieAI's two APIs serves a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Veo,
    Market,
}

pub fn family(model: &str) -> Family {
    if matches!(model, "veo3" | "veo3_fast") {
        Family::Veo
    } else {
        Family::Market
    }
}

/// Veo's `seeds` must lie in 10000..=99999: the job's seed is folded into that range, so the
/// same seed still gives the same request.
pub fn veo_seed(seed: u64) -> u64 {
    10_000 + seed % 90_000
}

/// The request body for `req`, given the URL of its uploaded image. Built only from fields the
/// model's documented schema lists, and checked against it before it is sent.
pub fn body_for(
    models: &registry::Models,
    req: &ShotRequest,
    image_url: Option<&str>,
    callback: Option<&str>,
) -> Result<Value, ProviderError> {
    let caps = models.checked(NAME, &req.model, &req.model, req)?;
    let body = match family(&req.model) {
        Family::Veo => {
            let mut body = json!({
                "prompt": req.prompt,
                "model": req.model,
                "aspectRatio": req.aspect,
                // A fallback model would answer in 720p without the 1080p upgrade.
                "enableFallback": false,
            });
            match image_url {
                Some(url) => {
                    body["generationType"] = json!("FIRST_AND_LAST_FRAMES_2_VIDEO");
                    body["imageUrls"] = json!([url]);
                }
                None => body["generationType"] = json!("TEXT_2_VIDEO"),
            }
            if let Some(seed) = req.seed {
                body["seeds"] = json!(veo_seed(seed));
            }
            if let Some(cb) = callback {
                body["callBackUrl"] = json!(cb);
            }
            body
        }
        Family::Market => {
            let mut input = json!({
                "prompt": req.prompt,
                "sound": req.audio,
                "duration": req.duration_s.to_string(),
            });
            match image_url {
                Some(url) => input["image_urls"] = json!([url]),
                None => input["aspect_ratio"] = json!(req.aspect),
            }
            let mut body = json!({ "model": req.model, "input": input });
            if let Some(cb) = callback {
                body["callBackUrl"] = json!(cb);
            }
            body
        }
    };
    caps.conforms(&body)?;
    Ok(body)
}

/// The Reelsmith error for a KieAI `code` other than 200, by the code table of its docs
/// (https://docs.kie.ai/veo3-api/generate-veo-3-video, "Response codes").
pub fn code_error(code: i64, msg: &str, retry_after: Option<std::time::Duration>) -> ProviderError {
    let status = u16::try_from(code).unwrap_or(0);
    let detail = if msg.is_empty() {
        format!("code {code}")
    } else {
        msg.to_string()
    };
    match code {
        401 => ProviderError::Unauthorized {
            provider: NAME,
            status: 401,
        },
        402 => ProviderError::InsufficientCredits { provider: NAME },
        429 => ProviderError::RateLimited {
            provider: NAME,
            retry_after,
        },
        // 455: maintenance; 500: server error ("retry in a few minutes").
        455 | 500 | 502 | 503 | 504 => ProviderError::Unavailable {
            provider: NAME,
            status,
            detail,
        },
        501 => ProviderError::Failed {
            provider: NAME,
            reason: detail,
        },
        // 400, 404, 422 (validation), 451 (the image could not be fetched), 505 (feature
        // disabled) and anything undocumented: the request itself was refused.
        _ => ProviderError::Rejected {
            provider: NAME,
            status,
            detail,
        },
    }
}

/// The `data` of an answer whose `code` is 200, or the error its code stands for.
fn envelope(ans: &Value, headers: &HeaderMap, key: &Secret) -> Result<Value, ProviderError> {
    let code = ans
        .get("code")
        .and_then(Value::as_i64)
        .ok_or_else(|| ProviderError::Malformed {
            provider: NAME,
            detail: "no code in the answer".into(),
        })?;
    if code == 200 {
        return Ok(ans.get("data").cloned().unwrap_or(Value::Null));
    }
    let msg = ans.get("msg").and_then(Value::as_str).unwrap_or_default();
    Err(code_error(code, &key.redact(msg), retry_after(headers)))
}

impl Kie {
    pub fn new(endpoint: Endpoint) -> Result<Self, ProviderError> {
        Ok(Kie {
            http: Http::new(NAME, endpoint)?,
            callback_url: None,
        })
    }

    pub fn with_key(key: Secret) -> Result<Self, ProviderError> {
        Self::new(Endpoint::new(DEFAULT_BASE_URL, key)?.with_download_hosts(DEFAULT_DOWNLOAD_HOSTS))
    }

    pub fn with_callback(mut self, url: impl Into<String>) -> Self {
        self.callback_url = Some(url.into());
        self
    }

    fn auth(&self, c: &Client, method: Method, url: &url::Url) -> RequestBuilder {
        c.request(method, url.clone())
            .bearer_auth(self.http.ep.key.expose())
    }

    /// One API call through the shared policy, then its envelope. A `code` 429 (or 455,
    /// maintenance) inside an HTTP 200 means the request was not taken, so it is tried again like
    /// an HTTP 429, waiting the `Retry-After` when there is one; other transient codes are tried
    /// again only for calls that change nothing.
    async fn call(
        &self,
        what: &str,
        idem: Idempotent,
        build: &(dyn Fn(&Client) -> RequestBuilder + Sync),
    ) -> Result<Value, ProviderError> {
        let policy = self.http.policy();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (ans, headers): (Value, _) = self.http.send_json(what, idem, build).await?;
            let err = match envelope(&ans, &headers, &self.http.ep.key) {
                Ok(data) => return Ok(data),
                Err(err) => err,
            };
            let not_taken = matches!(
                err,
                ProviderError::RateLimited { .. } | ProviderError::Unavailable { status: 455, .. }
            );
            let again = err.is_transient() && (not_taken || idem == Idempotent::Yes);
            if !again || attempt >= policy.max_attempts.max(1) {
                return Err(err);
            }
            let hinted = retry_after(&headers);
            if hinted.is_some_and(|ra| ra > policy.retry_after_max) {
                return Err(err);
            }
            let delay = hinted.unwrap_or_else(|| backoff(policy, attempt));
            tracing::warn!(
                provider = NAME,
                what,
                attempt,
                code = %reelsmith_core::ErrorCode::code(&err),
                delay_ms = delay.as_millis() as u64,
                "retrying a KieAI call after its answer code"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Uploads the scene's image to KieAI's temporary file store and returns its URL.
    async fn upload(&self, img: &crate::InputImage) -> Result<String, ProviderError> {
        let url = self.http.url("api/file-base64-upload")?;
        let ext = match img.mime.as_str() {
            "image/png" => "png",
            "image/webp" => "webp",
            _ => "jpg",
        };
        // Random, so a name never collides with (and overwrites) another user's upload.
        let name: String = (0..32)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
            .collect();
        let body = json!({
            "base64Data": img.data_uri(),
            "uploadPath": "reelsmith",
            "fileName": format!("{name}.{ext}"),
        });
        // The same name overwrites the same file: repeating the upload is harmless.
        let data = self
            .call("upload", Idempotent::Yes, &|c| {
                self.auth(c, Method::POST, &url).json(&body)
            })
            .await?;
        let file_url = data
            .get("downloadUrl")
            .or_else(|| data.get("fileUrl"))
            .and_then(Value::as_str)
            .ok_or_else(|| self.http.malformed("the upload answer has no downloadUrl"))?;
        if !(file_url.starts_with("https://") || file_url.starts_with("http://")) {
            return Err(self
                .http
                .malformed("the upload answer's URL is not http(s)"));
        }
        Ok(file_url.to_string())
    }

    /// Polls Veo's record-info until the task ends; the URL of its (720p) video.
    async fn wait_veo(&self, task_id: &str) -> Result<String, ProviderError> {
        let mut url = self.http.url("api/v1/veo/record-info")?;
        url.query_pairs_mut().append_pair("taskId", task_id);
        let deadline = self.http.deadline();
        loop {
            deadline.check()?;
            let data = self
                .call("record-info", Idempotent::Yes, &|c| {
                    self.auth(c, Method::GET, &url)
                })
                .await?;
            match data.get("successFlag").and_then(Value::as_i64) {
                Some(0) => self.http.poll_pause().await,
                Some(1) => {
                    return data
                        .pointer("/response/resultUrls/0")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| self.http.malformed("success without resultUrls"))
                }
                Some(flag @ (2 | 3)) => {
                    let msg = data
                        .get("errorMessage")
                        .and_then(Value::as_str)
                        .filter(|m| !m.is_empty())
                        .unwrap_or(if flag == 2 {
                            "the task failed"
                        } else {
                            "the generation failed"
                        });
                    let code = data.get("errorCode").filter(|c| !c.is_null());
                    return Err(ProviderError::Failed {
                        provider: NAME,
                        reason: self.http.ep.key.redact(&match code {
                            Some(c) => format!("{msg} (code {c})"),
                            None => msg.to_string(),
                        }),
                    });
                }
                other => {
                    return Err(self
                        .http
                        .malformed(format!("unknown successFlag {other:?}")))
                }
            }
        }
    }

    /// Asks for the 1080p version until it is ready (KieAI makes it after the 720p one).
    async fn wait_1080p(&self, raw: &str) -> Result<String, ProviderError> {
        let url = self.http.checked_url(raw, false)?;
        let deadline = self.http.deadline();
        loop {
            deadline.check()?;
            match self
                .call("get-1080p-video", Idempotent::Yes, &|c| {
                    self.auth(c, Method::GET, &url)
                })
                .await
            {
                Ok(data) => {
                    if let Some(u) = data.get("resultUrl").and_then(Value::as_str) {
                        return Ok(u.to_string());
                    }
                    self.http.poll_pause().await
                }
                // "Not ready yet" comes as another code; only a refused key or an empty account
                // will not change by waiting.
                Err(
                    e @ (ProviderError::Unauthorized { .. }
                    | ProviderError::InsufficientCredits { .. }),
                ) => return Err(e),
                Err(e) => {
                    tracing::info!(
                        provider = NAME,
                        code = %reelsmith_core::ErrorCode::code(&e),
                        "1080p not ready yet"
                    );
                    self.http.poll_pause().await
                }
            }
        }
    }

    /// Polls a market task's recordInfo until it ends; the URL of its result.
    async fn wait_market(&self, task_id: &str) -> Result<String, ProviderError> {
        let mut url = self.http.url("api/v1/jobs/recordInfo")?;
        url.query_pairs_mut().append_pair("taskId", task_id);
        let deadline = self.http.deadline();
        loop {
            deadline.check()?;
            let data = self
                .call("recordInfo", Idempotent::Yes, &|c| {
                    self.auth(c, Method::GET, &url)
                })
                .await?;
            match data.get("state").and_then(Value::as_str) {
                Some("waiting" | "queuing" | "generating") => self.http.poll_pause().await,
                Some("success") => {
                    let raw = data
                        .get("resultJson")
                        .and_then(Value::as_str)
                        .ok_or_else(|| self.http.malformed("success without resultJson"))?;
                    let result: Value = serde_json::from_str(raw)
                        .map_err(|e| self.http.malformed(format!("resultJson: {e}")))?;
                    return result
                        .pointer("/resultUrls/0")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| self.http.malformed("resultJson without resultUrls"));
                }
                Some("fail") => {
                    let msg = data
                        .get("failMsg")
                        .and_then(Value::as_str)
                        .filter(|m| !m.is_empty())
                        .unwrap_or("the generation failed");
                    let code = data
                        .get("failCode")
                        .and_then(|c| {
                            c.as_str()
                                .map(str::to_string)
                                .or_else(|| c.as_i64().map(|n| n.to_string()))
                        })
                        .filter(|c| !c.is_empty());
                    return Err(ProviderError::Failed {
                        provider: NAME,
                        reason: self.http.ep.key.redact(&match code {
                            Some(c) => format!("{msg} (failCode {c})"),
                            None => msg.to_string(),
                        }),
                    });
                }
                other => return Err(self.http.malformed(format!("unknown state {other:?}"))),
            }
        }
    }
}

#[async_trait]
impl ShotProvider for Kie {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn submit(&self, req: &ShotRequest) -> Result<PendingShot, ProviderError> {
        let caps = self
            .http
            .ep
            .models
            .checked(NAME, &req.model, &req.model, req)?;
        let family = family(&req.model);
        let hd = req.resolution.as_deref() == Some("1080p");
        if hd && (family != Family::Veo || req.aspect != "16:9") {
            // KieAI upgrades only 16:9 Veo videos to 1080p; a paid-for 1080p is not downgraded.
            return Err(ProviderError::Unsupported {
                model: caps.model.to_string(),
                reason: format!("1080p is only made for 16:9 videos, not {}", req.aspect),
            });
        }
        // Checked before the image leaves, so a refused body uploads nothing.
        body_for(
            &self.http.ep.models,
            req,
            req.image.as_ref().map(|_| "https://x.invalid/i.png"),
            self.callback_url.as_deref(),
        )?;
        let image_url = match (&req.image, req.kind) {
            (Some(img), ShotKind::ImageToVideo) => Some(self.upload(img).await?),
            _ => None,
        };
        let body = body_for(
            &self.http.ep.models,
            req,
            image_url.as_deref(),
            self.callback_url.as_deref(),
        )?;
        let url = match family {
            Family::Veo => self.http.url("api/v1/veo/generate")?,
            Family::Market => self.http.url("api/v1/jobs/createTask")?,
        };
        let data = self
            .call("generate", Idempotent::No, &|c| {
                self.auth(c, Method::POST, &url).json(&body)
            })
            .await?;
        let id = self.http.request_id(&data, "/taskId", &['-', '_', '.'])?;
        let mut pending = PendingShot::accepted(NAME, req, id);
        if hd {
            let mut hd_url = self.http.url("api/v1/veo/get-1080p-video")?;
            hd_url
                .query_pairs_mut()
                .append_pair("taskId", id)
                .append_pair("index", "0");
            pending.result_url = Some(hd_url.to_string());
        }
        Ok(pending)
    }

    async fn wait(&self, pending: &PendingShot, sink: &mut Sink<'_>, max_bytes: u64) -> ShotResult {
        let file = match family(&pending.model) {
            Family::Veo => {
                let sd = self.wait_veo(&pending.request_id).await?;
                match &pending.result_url {
                    Some(hd) => self.wait_1080p(hd).await?,
                    None => sd,
                }
            }
            Family::Market => self.wait_market(&pending.request_id).await?,
        };
        match self
            .http
            .download_output(&pending.request_id, &file, sink, max_bytes, None)
            .await
        {
            // The file host answers "gone" for an expired result URL.
            Err(ProviderError::Rejected {
                status: 403 | 404 | 410,
                ..
            }) => Err(ProviderError::ResultExpired { provider: NAME }),
            other => other,
        }
    }

    async fn cancel(&self, pending: &PendingShot) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported {
            model: pending.model.clone(),
            reason: "KieAI documents no way to cancel a task".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelsmith_core::ErrorCode;

    fn veo(model: &str) -> ShotRequest {
        ShotRequest::text_to_video("a fox", 8, "16:9").with_model(model)
    }

    #[test]
    fn veo_bodies_match_the_documented_schema() {
        let mut req = veo("veo3_fast");
        req.seed = Some(7);
        let b = builtin_body(&req, None, Some("https://r.example/api/v1/webhooks/kie")).unwrap();
        assert_eq!(
            b,
            json!({"prompt": "a fox", "model": "veo3_fast", "aspectRatio": "16:9",
                "enableFallback": false, "generationType": "TEXT_2_VIDEO", "seeds": 10_007,
                "callBackUrl": "https://r.example/api/v1/webhooks/kie"})
        );
        registry::KIE_VEO_INPUT.check(&b).unwrap();
        let mut i2v = veo("veo3");
        i2v.kind = ShotKind::ImageToVideo;
        i2v.image = Some(crate::InputImage {
            bytes: vec![1],
            mime: "image/png".into(),
        });
        let b = builtin_body(&i2v, Some("https://f.example/a.png"), None).unwrap();
        assert_eq!(b["imageUrls"], json!(["https://f.example/a.png"]));
        assert_eq!(b["generationType"], "FIRST_AND_LAST_FRAMES_2_VIDEO");
        assert!(b.get("callBackUrl").is_none() && b.get("seeds").is_none());
    }

    /// The body a built-in model's request becomes.
    fn builtin_body(
        req: &ShotRequest,
        image_url: Option<&str>,
        callback: Option<&str>,
    ) -> Result<Value, ProviderError> {
        body_for(&registry::Models::builtin(), req, image_url, callback)
    }

    #[test]
    fn kling_bodies_match_the_documented_schema() {
        let mut req =
            ShotRequest::text_to_video("a fox", 10, "9:16").with_model("kling-2.6/text-to-video");
        req.seed = Some(3);
        let b = builtin_body(&req, None, None).unwrap();
        assert_eq!(
            b,
            json!({"model": "kling-2.6/text-to-video", "input": {"prompt": "a fox",
                "sound": false, "duration": "10", "aspect_ratio": "9:16"}})
        );
        let mut i2v = req.clone().with_model("kling-2.6/image-to-video");
        i2v.kind = ShotKind::ImageToVideo;
        i2v.image = Some(crate::InputImage {
            bytes: vec![1],
            mime: "image/png".into(),
        });
        let b = builtin_body(&i2v, Some("https://f.example/a.png"), None).unwrap();
        assert_eq!(
            b["input"],
            json!({"prompt": "a fox", "sound": false, "duration": "10",
                "image_urls": ["https://f.example/a.png"]})
        );
        registry::KIE_KLING_I2V_INPUT.check(&b).unwrap();
    }

    #[test]
    fn a_field_outside_the_schema_is_refused() {
        let mut b = builtin_body(&veo("veo3"), None, None).unwrap();
        b["resolution"] = json!("1080p");
        let err = registry::KIE_VEO_INPUT.check(&b).unwrap_err();
        assert!(
            err.contains("resolution") && err.contains("docs.kie.ai"),
            "{err}"
        );
        b = json!({"model": "kling-2.6/text-to-video", "input": {"prompt": "x", "sound": false,
            "duration": "7", "aspect_ratio": "16:9"}});
        assert!(
            registry::KIE_KLING_T2V_INPUT.check(&b).is_err(),
            "7 s is no documented duration"
        );
    }

    #[test]
    fn documented_codes_map_to_stable_errors() {
        let c = |code| code_error(code, "m", None);
        assert_eq!(c(401).code(), "provider.unauthorized");
        assert_eq!(c(402).code(), "provider.insufficient_credits");
        assert!(!c(402).is_transient());
        assert_eq!(c(422).code(), "provider.rejected");
        assert!(c(422).is_client_error() && !c(422).is_transient());
        assert_eq!(c(429).code(), "provider.rate_limited");
        assert!(c(429).is_transient());
        assert_eq!(c(451).code(), "provider.rejected");
        assert_eq!(c(455).code(), "provider.unavailable");
        assert!(c(455).is_transient() && c(500).is_transient());
        assert_eq!(c(501).code(), "provider.failed");
        assert_eq!(c(505).code(), "provider.rejected");
    }

    #[test]
    fn seeds_fold_into_the_documented_range() {
        for s in [0, 1, 89_999, 90_000, u64::MAX] {
            assert!((10_000..=99_999).contains(&veo_seed(s)));
        }
        assert_eq!(veo_seed(42), veo_seed(42));
    }
}

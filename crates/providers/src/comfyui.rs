//! ComfyUI on an operator's own GPU machine (its server.py routes; see
//! https://docs.comfy.org/development/comfyui-server/comms_routes).
//!
//! The operator supplies a workflow in ComfyUI's API format (`{node_id: {"class_type",
//! "inputs"}}`) with placeholders, filled per shot by [`fill_template`]. `POST {base}/prompt`
//! with `{"prompt": workflow, "client_id"}` answers `{"prompt_id"}`. While waiting, progress
//! comes from the websocket `{base}/ws?clientId=` (`progress`, `executing`, `execution_error`
//! messages for our prompt id), and completion is confirmed from `GET {base}/history/{id}`,
//! whose `outputs` name the files (`gifs`, `videos` or `images`: filename, subfolder, type),
//! fetched with `GET {base}/view`. A prompt that leaves `GET {base}/queue` without reaching
//! the history was deleted: canceled. Cancel is `POST {base}/queue {"delete": [id]}` for a
//! pending prompt and `POST {base}/interrupt {"prompt_id"}` for a running one.
//!
//! The websocket only speeds things up and reports progress: when it cannot be opened (or the
//! wait resumes in another process, whose client id ComfyUI does not know) polling carries on.
//! ComfyUI has no authentication of its own; a key, if configured, is sent as a bearer token
//! for the reverse proxy operators put in front of it.

use crate::http::{Endpoint, Http, Idempotent};
use crate::{PendingShot, ProviderError, ShotProvider, ShotRequest, ShotResult, Sink};
use async_trait::async_trait;
use futures_util::StreamExt;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{json, Value};

/// Progress of a running prompt, from the websocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub node: Option<String>,
    pub value: u64,
    pub max: u64,
}

pub struct ComfyUi {
    http: Http,
    template: Value,
    client_id: String,
}

impl ComfyUi {
    /// `template` is the workflow in API format with placeholders (see [`fill_template`]).
    pub fn new(endpoint: Endpoint, template: Value) -> Result<Self, ProviderError> {
        if !template.as_object().is_some_and(|nodes| {
            !nodes.is_empty() && nodes.values().all(|n| n.get("class_type").is_some())
        }) {
            return Err(ProviderError::Config(
                "the ComfyUI workflow must be API format: {node_id: {class_type, inputs}}".into(),
            ));
        }
        let client_id = format!("reelsmith-{:016x}", fastrand::u64(..));
        Ok(ComfyUi {
            http: Http::new("comfyui", endpoint)?,
            template,
            client_id,
        })
    }

    fn req(&self, c: &Client, method: Method, url: &url::Url) -> RequestBuilder {
        let rb = c.request(method, url.clone());
        let key = self.http.ep.key.expose();
        if key.is_empty() {
            rb
        } else {
            rb.bearer_auth(key)
        }
    }

    /// The websocket URL under the base URL: same host and path, ws(s) scheme.
    fn ws_url(&self) -> Result<url::Url, ProviderError> {
        let mut url = self.http.url(&format!("ws?clientId={}", self.client_id))?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme)
            .map_err(|_| ProviderError::Config("cannot make a websocket URL".into()))?;
        Ok(url)
    }

    async fn in_queue(&self, id: &str) -> Result<bool, ProviderError> {
        let url = self.http.url("queue")?;
        let (q, _): (Value, _) = self
            .http
            .send_json("queue", Idempotent::Yes, &|c| {
                self.req(c, Method::GET, &url)
            })
            .await?;
        let holds = |key: &str| {
            q.get(key).and_then(Value::as_array).is_some_and(|items| {
                items
                    .iter()
                    .any(|item| item.get(1).and_then(Value::as_str) == Some(id))
            })
        };
        if q.get("queue_running").is_none() || q.get("queue_pending").is_none() {
            return Err(self
                .http
                .malformed("queue without queue_running and queue_pending"));
        }
        Ok(holds("queue_running") || holds("queue_pending"))
    }

    async fn history(&self, id: &str) -> Result<Option<Value>, ProviderError> {
        let url = self.http.url(&format!("history/{id}"))?;
        let (h, _): (Value, _) = self
            .http
            .send_json("history", Idempotent::Yes, &|c| {
                self.req(c, Method::GET, &url)
            })
            .await?;
        if !h.is_object() {
            return Err(self.http.malformed("history is not an object"));
        }
        Ok(h.get(id).cloned())
    }

    /// Waits like [`ShotProvider::wait`], reporting websocket progress to `on_progress`.
    pub async fn wait_with_progress(
        &self,
        pending: &PendingShot,
        sink: &mut Sink<'_>,
        max_bytes: u64,
        on_progress: &(dyn Fn(Progress) + Sync),
    ) -> ShotResult {
        let id = pending.request_id.as_str();
        let deadline = self.http.deadline();
        let connect = tokio::time::timeout(
            self.http.policy().timeout,
            tokio_tungstenite::connect_async(self.ws_url()?.as_str()),
        )
        .await;
        let mut ws = match connect {
            Ok(Ok((stream, _))) => Some(stream),
            _ => None,
        };
        let entry = loop {
            deadline.check()?;
            // Queue first, then history: a prompt that finishes between the two is still found.
            let queued = self.in_queue(id).await?;
            if let Some(entry) = self.history(id).await? {
                break entry;
            }
            if !queued {
                return Err(ProviderError::Canceled {
                    provider: "comfyui",
                });
            }
            // Sleep until the next poll, or until the websocket says something about our prompt.
            let pause = tokio::time::sleep(self.http.policy().poll_every);
            tokio::pin!(pause);
            loop {
                let msg = match ws.as_mut() {
                    None => {
                        pause.as_mut().await;
                        break;
                    }
                    Some(stream) => tokio::select! {
                        _ = pause.as_mut() => break,
                        msg = stream.next() => msg,
                    },
                };
                // A closed or broken websocket: carry on by polling alone.
                let Some(Ok(msg)) = msg else {
                    ws = None;
                    continue;
                };
                let Ok(text) = msg.into_text() else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if v.pointer("/data/prompt_id").and_then(Value::as_str) != Some(id) {
                    continue;
                }
                match v.get("type").and_then(Value::as_str) {
                    Some("progress") => on_progress(Progress {
                        node: v
                            .pointer("/data/node")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        value: v
                            .pointer("/data/value")
                            .and_then(Value::as_u64)
                            .unwrap_or(0),
                        max: v.pointer("/data/max").and_then(Value::as_u64).unwrap_or(0),
                    }),
                    // Finished one way or another: check the history now.
                    Some("execution_success" | "execution_error" | "execution_interrupted") => {
                        break
                    }
                    Some("executing") if v.pointer("/data/node").is_some_and(Value::is_null) => {
                        break
                    }
                    _ => {}
                }
            }
        };
        let status = entry
            .pointer("/status/status_str")
            .and_then(Value::as_str)
            .unwrap_or("success");
        if status != "success" {
            let messages = entry
                .pointer("/status/messages")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if messages
                .iter()
                .any(|m| m.get(0).and_then(Value::as_str) == Some("execution_interrupted"))
            {
                return Err(ProviderError::Canceled {
                    provider: "comfyui",
                });
            }
            let reason = messages
                .iter()
                .find_map(|m| m.pointer("/1/exception_message").and_then(Value::as_str))
                .unwrap_or("the workflow failed")
                .to_string();
            return Err(ProviderError::Failed {
                provider: "comfyui",
                reason,
            });
        }
        let file = output_file(&entry)
            .ok_or_else(|| self.http.malformed("the history names no output file"))?;
        let mut view = self.http.url("view")?;
        view.query_pairs_mut()
            .append_pair("filename", &file.0)
            .append_pair("subfolder", &file.1)
            .append_pair("type", &file.2);
        let add_key = |rb: RequestBuilder| {
            let key = self.http.ep.key.expose();
            if key.is_empty() {
                rb
            } else {
                rb.bearer_auth(key)
            }
        };
        self.http
            .download_output(
                &pending.request_id,
                view.as_str(),
                sink,
                max_bytes,
                Some(&add_key),
            )
            .await
    }
}

/// The first output file (filename, subfolder, type) in a history entry, preferring videos.
fn output_file(entry: &Value) -> Option<(String, String, String)> {
    let outputs = entry.get("outputs")?.as_object()?;
    ["videos", "gifs", "images"].iter().find_map(|kind| {
        outputs.values().find_map(|node| {
            let f = node.get(*kind)?.get(0)?;
            let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let name = s("filename");
            (!name.is_empty()).then(|| {
                (
                    name,
                    s("subfolder"),
                    if s("type").is_empty() {
                        "output".into()
                    } else {
                        s("type")
                    },
                )
            })
        })
    })
}

/// Fills the workflow's placeholders for one shot. A string that is exactly a placeholder is
/// replaced by a typed value (numbers stay numbers); placeholders inside longer strings are
/// replaced as text. Placeholders: `{{prompt}}`, `{{negative_prompt}}`, `{{seed}}`,
/// `{{duration_s}}`, `{{frames}}` (duration x `fps`), `{{width}}`, `{{height}}`.
pub fn fill_template(template: &Value, req: &ShotRequest, fps: u32) -> Value {
    let (w, h) = match (req.aspect.as_str(), req.resolution.as_deref()) {
        ("9:16", Some("1080p")) => (1080, 1920),
        ("9:16", _) => (720, 1280),
        ("1:1", Some("1080p")) => (1080, 1080),
        ("1:1", _) => (720, 720),
        (_, Some("1080p")) => (1920, 1080),
        _ => (1280, 720),
    };
    let seed = req.seed.unwrap_or(0);
    let values: [(&str, Value); 7] = [
        ("{{prompt}}", json!(req.prompt)),
        (
            "{{negative_prompt}}",
            json!(req.negative_prompt.clone().unwrap_or_default()),
        ),
        ("{{seed}}", json!(seed)),
        ("{{duration_s}}", json!(req.duration_s)),
        ("{{frames}}", json!(req.duration_s * fps)),
        ("{{width}}", json!(w)),
        ("{{height}}", json!(h)),
    ];
    fn walk(v: &Value, values: &[(&str, Value)]) -> Value {
        match v {
            Value::String(s) => {
                if let Some((_, typed)) = values.iter().find(|(k, _)| k == s) {
                    return typed.clone();
                }
                let mut out = s.clone();
                for (k, val) in values {
                    if out.contains(k) {
                        let text = val
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| val.to_string());
                        out = out.replace(k, &text);
                    }
                }
                Value::String(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| walk(i, values)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, i)| (k.clone(), walk(i, values)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    walk(template, &values)
}

#[async_trait]
impl ShotProvider for ComfyUi {
    fn name(&self) -> &'static str {
        "comfyui"
    }

    async fn submit(&self, req: &ShotRequest) -> Result<PendingShot, ProviderError> {
        self.http
            .ep
            .models
            .checked("comfyui", &req.model, &req.model, req)?;
        let url = self.http.url("prompt")?;
        let body = json!({ "prompt": fill_template(&self.template, req, 24), "client_id": self.client_id });
        let (ans, _): (Value, _) = self
            .http
            .send_json("prompt", Idempotent::No, &|c| {
                self.req(c, Method::POST, &url).json(&body)
            })
            .await?;
        let id = self.http.request_id(&ans, "/prompt_id", &['-'])?;
        Ok(PendingShot::accepted("comfyui", req, id))
    }

    async fn wait(&self, pending: &PendingShot, sink: &mut Sink<'_>, max_bytes: u64) -> ShotResult {
        let id = pending.request_id.clone();
        self.wait_with_progress(pending, sink, max_bytes, &move |p: Progress| {
            tracing::debug!(provider = "comfyui", request_id = %id, value = p.value, max = p.max, "progress");
        })
        .await
    }

    async fn cancel(&self, pending: &PendingShot) -> Result<(), ProviderError> {
        let body = json!({ "delete": [pending.request_id] });
        let url = self.http.url("queue")?;
        self.http
            .send("delete", Idempotent::Yes, &|c| {
                self.req(c, Method::POST, &url).json(&body)
            })
            .await?;
        // Interrupt by prompt id, so another job running on the machine is not stopped.
        let url = self.http.url("interrupt")?;
        let body = json!({ "prompt_id": pending.request_id });
        self.http
            .send("interrupt", Idempotent::Yes, &|c| {
                self.req(c, Method::POST, &url).json(&body)
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_typed_values() {
        let tpl = json!({
            "3": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "steps": 20}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}, cinematic"}},
            "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative_prompt}}"}},
            "8": {"class_type": "EmptyLatentVideo", "inputs": {"width": "{{width}}", "height": "{{height}}", "length": "{{frames}}"}},
        });
        let mut req = ShotRequest::text_to_video("a fox", 5, "9:16").with_model("workflow");
        req.seed = Some(42);
        let v = fill_template(&tpl, &req, 24);
        assert_eq!(v["3"]["inputs"]["seed"], 42);
        assert_eq!(v["3"]["inputs"]["steps"], 20);
        assert_eq!(v["6"]["inputs"]["text"], "a fox, cinematic");
        assert_eq!(v["7"]["inputs"]["text"], "");
        assert_eq!(
            v["8"]["inputs"],
            json!({"width": 720, "height": 1280, "length": 120})
        );
    }

    #[test]
    fn output_file_prefers_videos() {
        let entry = json!({"outputs": {
            "5": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]},
            "9": {"gifs": [{"filename": "b.mp4", "subfolder": "x", "type": "output"}]},
        }});
        assert_eq!(
            output_file(&entry),
            Some(("b.mp4".into(), "x".into(), "output".into()))
        );
        assert_eq!(output_file(&json!({"outputs": {}})), None);
    }

    #[test]
    fn a_workflow_not_in_api_format_is_refused() {
        let ep = Endpoint::new("http://127.0.0.1:8188", crate::Secret::new("")).unwrap();
        assert!(
            ComfyUi::new(ep.clone(), json!({"nodes": [], "links": []})).is_err(),
            "the UI's save format"
        );
        assert!(ComfyUi::new(ep, json!({"1": {"class_type": "X", "inputs": {}}})).is_ok());
    }
}

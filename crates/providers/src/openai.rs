//! OpenAI and OpenAI-compatible APIs (https://platform.openai.com/docs/api-reference): the base
//! URL includes the version (`https://api.openai.com/v1`), so any compatible server (a local
//! one, another vendor's) works by changing it.
//!
//! * Transcription: `POST {base}/audio/transcriptions`, multipart with `file`, `model`
//!   (`whisper-1`), `response_format=verbose_json` and `timestamp_granularities[]=word`; the
//!   answer has `text`, `language`, `duration` and `words[] {word, start, end}`.
//! * Chat: `POST {base}/chat/completions` with `response_format: {"type": "json_object"}`;
//!   the answer's `choices[0].message.content` is our JSON script.
//!
//! The `x-request-id` answer header is recorded.

use crate::http::{Endpoint, Http, Idempotent};
use crate::{ProviderError, Script, ScriptWriter, Secret, Transcriber, Transcript, Word};
use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use serde_json::{json, Value};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub struct OpenAiTranscriber {
    http: Http,
    pub model: String,
}

impl OpenAiTranscriber {
    pub fn new(endpoint: Endpoint) -> Result<Self, ProviderError> {
        Ok(OpenAiTranscriber {
            http: Http::new("openai", endpoint)?,
            model: "whisper-1".into(),
        })
    }

    pub fn with_key(key: Secret) -> Result<Self, ProviderError> {
        Self::new(Endpoint::new(DEFAULT_BASE_URL, key)?)
    }
}

#[derive(Deserialize)]
struct Verbose {
    text: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    words: Option<Vec<Word>>,
}

#[async_trait]
impl Transcriber for OpenAiTranscriber {
    async fn transcribe(
        &self,
        audio: Vec<u8>,
        file_name: &str,
    ) -> Result<Transcript, ProviderError> {
        let url = self.http.url("audio/transcriptions")?;
        let file_name = file_name.to_string();
        // The form is rebuilt for each attempt: a multipart body cannot be replayed.
        let build = |c: &reqwest::Client| {
            let form = Form::new()
                .part(
                    "file",
                    Part::bytes(audio.clone()).file_name(file_name.clone()),
                )
                .text("model", self.model.clone())
                .text("response_format", "verbose_json")
                .text("timestamp_granularities[]", "word");
            c.post(url.clone())
                .bearer_auth(self.http.ep.key.expose())
                .multipart(form)
        };
        // Transcribing the same audio twice costs little and changes nothing: safe to retry.
        let (v, headers): (Verbose, _) = self
            .http
            .send_json("transcribe", Idempotent::Yes, &build)
            .await?;
        let words = v
            .words
            .ok_or_else(|| self.http.malformed("verbose_json answer without words"))?;
        if words
            .iter()
            .any(|w| !(w.start.is_finite() && w.end >= w.start))
        {
            return Err(self.http.malformed("a word ends before it starts"));
        }
        Ok(Transcript {
            text: v.text,
            language: v.language,
            duration_s: v.duration,
            words,
            request_id: request_id(&headers),
        })
    }
}

pub struct OpenAiChat {
    http: Http,
    pub model: String,
}

impl OpenAiChat {
    pub fn new(endpoint: Endpoint, model: impl Into<String>) -> Result<Self, ProviderError> {
        Ok(OpenAiChat {
            http: Http::new("openai", endpoint)?,
            model: model.into(),
        })
    }

    /// One chat call; the answer's message content, which `response_format` asks to be JSON.
    async fn chat_json(
        &self,
        system: &str,
        user: String,
        response_format: Value,
    ) -> Result<Value, ProviderError> {
        let url = self.http.url("chat/completions")?;
        let body = json!({
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "response_format": response_format,
        });
        let (answer, _): (Value, _) = self
            .http
            .send_json("chat", Idempotent::Yes, &|c| {
                c.post(url.clone())
                    .bearer_auth(self.http.ep.key.expose())
                    .json(&body)
            })
            .await?;
        let content = answer
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| self.http.malformed("no choices[0].message.content"))?;
        serde_json::from_str(content).map_err(|e| {
            self.http
                .malformed(format!("the model's answer is not JSON: {e}"))
        })
    }

    /// One chat call whose answer must be our script JSON.
    async fn ask(&self, system: &str, user: String) -> Result<Script, ProviderError> {
        let answer = self
            .chat_json(system, user, json!({"type": "json_object"}))
            .await?;
        let script: Script = serde_json::from_value(answer).map_err(|e| {
            self.http
                .malformed(format!("the model's answer is not the script JSON: {e}"))
        })?;
        if script.scenes.is_empty()
            || script
                .scenes
                .iter()
                .any(|s| s.narration.trim().is_empty() || s.visual_prompt.trim().is_empty())
        {
            return Err(self
                .http
                .malformed("the script has no scenes or an empty one"));
        }
        Ok(script)
    }
}

/// Longest search word or phrase kept from the model's answer.
const TERM_CHARS: usize = 40;

const TERMS_SYSTEM: &str = "You choose search words for a stock photo and video library. \
Given the narration of one scene, answer the words or short phrases (one to three words each) \
that name what a picture of the scene would show, most important first, in English, lower case.";

/// Structured Outputs: the answer must be `{"terms": [string]}`.
fn terms_format() -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {
            "name": "search_terms",
            "strict": true,
            "schema": {
                "type": "object",
                "properties": {
                    "terms": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["terms"],
                "additionalProperties": false
            }
        }
    })
}

const SCRIPT_SYSTEM: &str = "You write short narrated videos. Answer only JSON: \
{\"title\": string, \"scenes\": [{\"narration\": string, \"visual_prompt\": string}]}. \
Narration is spoken text; visual_prompt describes one shot for a video model, with no text on screen.";

#[async_trait]
impl ScriptWriter for OpenAiChat {
    async fn write_script(&self, topic: &str, scenes: usize) -> Result<Script, ProviderError> {
        // The topic leads the message (its first line), the instructions follow.
        self.ask(
            SCRIPT_SYSTEM,
            format!(
                "{}\nWrite {scenes} scenes about the topic on the first line.",
                topic.trim()
            ),
        )
        .await
    }

    async fn visual_prompts(&self, narrations: &[String]) -> Result<Vec<String>, ProviderError> {
        let list = narrations
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{}. {n}", i + 1))
            .collect::<Vec<_>>()
            .join("\n");
        let script = self
            .ask(SCRIPT_SYSTEM, format!("{list}\nFor each narration above, in order, keep it as narration and add its visual_prompt."))
            .await?;
        if script.scenes.len() != narrations.len() {
            return Err(self.http.malformed(format!(
                "{} prompts for {} narrations",
                script.scenes.len(),
                narrations.len()
            )));
        }
        Ok(script.scenes.into_iter().map(|s| s.visual_prompt).collect())
    }

    async fn search_terms(&self, text: &str, max: usize) -> Result<Vec<String>, ProviderError> {
        let answer = self
            .chat_json(
                TERMS_SYSTEM,
                // The narration leads the message (its first line), the count follows.
                format!(
                    "{}\nAt most {max} search words.",
                    text.split_whitespace().collect::<Vec<_>>().join(" ")
                ),
                terms_format(),
            )
            .await?;
        let terms = answer
            .get("terms")
            .and_then(Value::as_array)
            .ok_or_else(|| self.http.malformed("the answer has no `terms` list"))?;
        let mut out: Vec<String> = Vec::new();
        for term in terms.iter().filter_map(Value::as_str) {
            // One line of plain words: a stray newline or an essay is not a search word.
            let term = term.split_whitespace().collect::<Vec<_>>().join(" ");
            let term = term.to_lowercase();
            if term.is_empty() || term.chars().count() > TERM_CHARS || out.contains(&term) {
                continue;
            }
            out.push(term);
            if out.len() == max {
                break;
            }
        }
        if out.is_empty() {
            return Err(self.http.malformed("the model suggested no search words"));
        }
        Ok(out)
    }
}

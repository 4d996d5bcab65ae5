//! `POST /api/v1/scripts`: a script written from a topic by the operator's OpenAI-compatible chat
//! model, for the user to read and edit before making a video. The topic goes to that company,
//! so it needs the user's consent for it like any other transfer (P-TP-2); it belongs to no job,
//! so the transfer is recorded in the account's transfer log (`GET /api/v1/me/transfers`,
//! P-TP-4). Nothing is sent while the user has paused processing (P-RIGHTS-4) or while a
//! material policy change waits for their acceptance (P-COMM-2).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use reelsmith_core::{Code, ErrorCode};
use reelsmith_jobs::{call_policy, script_writer};
use reelsmith_store::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::{throttle, Throttle};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ClientInfo, CurrentUser};
use crate::providers::ASSISTANT;
use crate::AppState;

const TOPIC_CHARS: std::ops::RangeInclusive<usize> = 3..=500;
const SCENES: std::ops::RangeInclusive<u8> = 1..=12;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptRequest {
    /// What the video is about, 3 to 500 characters.
    pub topic: String,
    /// How many scenes, 1 to 12 (default 4).
    #[serde(default = "default_scenes")]
    pub scenes: u8,
}

fn default_scenes() -> u8 {
    4
}

#[derive(Serialize, ToSchema)]
pub struct SceneText {
    pub narration: String,
    pub visual_prompt: String,
}

#[derive(Serialize, ToSchema)]
pub struct ScriptView {
    pub title: String,
    /// The narration of every scene, a paragraph each: ready for a job's `script`.
    pub script: String,
    /// The visual prompts in scene order: ready for a job's `prompts`.
    pub prompts: Vec<String>,
    pub scenes: Vec<SceneText>,
}

#[utoipa::path(post, path = "/api/v1/scripts", tag = "jobs", request_body = ScriptRequest,
    responses((status = 200, body = ScriptView),
        (status = 409, body = Problem, description = "`consent.required`: no consent for the script writer; `processing.paused`: the account paused processing; `policy.acceptance_required`: a policy change waits for acceptance"),
        (status = 422, body = Problem, description = "a bad topic or scene count, or no script writer configured"),
        (status = 502, body = Problem, description = "the chat model failed")))]
pub async fn write(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(body): ApiJson<ScriptRequest>,
) -> ApiResult<Json<ScriptView>> {
    let topic = body.topic.trim();
    if !TOPIC_CHARS.contains(&topic.chars().count()) {
        return Err(ApiError::of(
            Code::ScriptTopicInvalid,
            "the topic must be 3 to 500 characters",
        ));
    }
    if !SCENES.contains(&body.scenes) {
        return Err(ApiError::of(
            Code::ScriptScenesInvalid,
            "scenes must be between 1 and 12",
        ));
    }
    if caller.user.processing_paused {
        return Err(ApiError::of(
            Code::ProcessingPaused,
            "you paused all processing of your data: resume it on the Account page to write a \
             script",
        ));
    }
    crate::policies::require_accepted(&state, caller.id()).await?;
    let providers = &state.config.providers;
    let writer = script_writer(providers, &call_policy(providers))
        .map_err(|e| ApiError::fault(Code::ProviderConfig, &e))?
        .ok_or_else(|| {
            ApiError::of(
                Code::ProviderNotConfigured,
                "this server has no script writer configured",
            )
        })?;
    if state
        .db
        .active_consent(caller.id(), ASSISTANT)
        .await?
        .is_none()
    {
        return Err(ApiError::of(
            Code::ConsentRequired,
            "writing a script sends your topic to the operator's chat model provider: give your \
             consent for it on the AI providers page first",
        ));
    }
    throttle(&state, Throttle::JobSubmission, caller.id()).await?;
    let detail = json!({ "provider": ASSISTANT, "purpose": "script",
        "topic_chars": topic.chars().count(), "scenes": body.scenes });
    // Logged before the request leaves, like a job's transfers, so a crash mid-call still
    // leaves an honest record.
    let transfer_id = state
        .db
        .log_account_transfer(caller.id(), ASSISTANT, "chat", "script", &detail, now_ms())
        .await?;
    client
        .record(&state, "provider.transfer", Some(caller.id()), Some(detail))
        .await;
    let written = match writer.write_script(topic, usize::from(body.scenes)).await {
        Ok(written) => written,
        Err(e) => {
            if let Err(err) = state.db.transfer_failed(&transfer_id, now_ms()).await {
                tracing::warn!(error = %err, "cannot mark the script transfer failed");
            }
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                e.code(),
                e.to_string(),
            ));
        }
    };
    state
        .db
        .transfer_accepted(&transfer_id, "chat-completion", now_ms())
        .await?;
    Ok(Json(ScriptView {
        title: written.title,
        script: written
            .scenes
            .iter()
            .map(|s| s.narration.trim())
            .collect::<Vec<_>>()
            .join("\n\n"),
        prompts: written
            .scenes
            .iter()
            .map(|s| s.visual_prompt.clone())
            .collect(),
        scenes: written
            .scenes
            .into_iter()
            .map(|s| SceneText {
                narration: s.narration,
                visual_prompt: s.visual_prompt,
            })
            .collect(),
    }))
}

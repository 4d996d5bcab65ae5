//! Narration by a cloud voice (issue 17): when a job names one (`tts.voice` =
//! `openai/<model>/<voice>` or `elevenlabs/[<model>/]<voice_id>`), the narration text goes to that
//! provider once, with the same rules as a shot: the owner's processing not paused, consent on
//! record (P-TP-2, else `consent.required` and nothing is sent), the transfer logged before it
//! leaves with what goes out described, never its content (P-TP-4), only the narration text and
//! the voice sent (P-TP-3). The audio then stands in for a user's voice recording: ElevenLabs'
//! character alignment times the captions directly; OpenAI's audio is aligned to the script by
//! the engine's forced alignment.
//!
//! The audio is kept in the work folder and its words recorded as the stage output `narration`,
//! so a retry in the same work folder does not ask (and pay) again.

use std::path::PathBuf;

use reelsmith_media::align::transcript::HeardWord;
use reelsmith_providers::speech::SpeechRequest;
use reelsmith_store::{now_ms, ClaimedJob, NewTransfer};
use serde_json::json;
use tracing::info;

use crate::context::{ensure_not_paused, Halt, JobContext};
use crate::error::WorkerError;
use crate::job_plan::JobPlan;
use crate::workdir::WorkFolder;

const STAGE: &str = "narration";

/// The cloud narration's audio file and, when the provider timed it, its words; `None` when the
/// job has no cloud voice.
pub(crate) async fn narrate(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    plan: &JobPlan,
    instructions: Option<&str>,
    folder: &WorkFolder,
) -> Result<Option<(PathBuf, Option<Vec<HeardWord>>)>, Halt> {
    let Some(voice) = &plan.voice else {
        return Ok(None);
    };
    let provider = ctx
        .providers
        .speech(&voice.provider)
        .ok_or_else(|| WorkerError::ProviderNotConfigured(voice.provider.to_owned()))?;
    let lease = &claimed.lease;
    let owner = &claimed.job.owner_id;
    let path = folder.file("cloud-voice.mp3");
    let recorded = ctx.db.stage_outputs(&lease.job_id, lease.revision).await?;
    if let Some(doc) = recorded.iter().find(|o| o.stage == STAGE) {
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            info!(job = %lease.job_id, "narration already synthesized by an earlier attempt");
            return Ok(Some((path, crate::transcript::words_of(&doc.output))));
        }
    }
    ensure_not_paused(ctx, owner).await?;
    if ctx
        .db
        .active_consent(owner, &voice.provider)
        .await?
        .is_none()
    {
        return Err(WorkerError::ConsentRequired(voice.provider.to_owned()).into());
    }
    let transfer = NewTransfer {
        job_id: lease.job_id.clone(),
        revision: lease.revision,
        user_id: owner.clone(),
        provider: voice.provider.to_owned(),
        model: voice.model.clone(),
        purpose: "speech".into(),
        sent: json!({
            "voice": voice.voice,
            "narration_chars": voice.chars,
            "instructions_chars": instructions.map(|i| i.chars().count()),
        }),
    };
    let transfer_id = ctx.db.log_transfer(&transfer, now_ms()).await?;
    let req = SpeechRequest {
        voice: voice.voice.clone(),
        model: Some(voice.model.clone()),
        text: voice.text.clone(),
        instructions: instructions.map(str::to_owned),
    };
    let speech = match provider.synthesize(&req).await {
        Ok(speech) => speech,
        Err(err) => {
            let _ = ctx.db.transfer_failed(&transfer_id, now_ms()).await;
            let _ = ctx
                .db
                .transfer_outcome(
                    &transfer_id,
                    reelsmith_core::ErrorCode::code(&err).as_str(),
                    now_ms(),
                )
                .await;
            return Err(WorkerError::Provider(err).into());
        }
    };
    let request_id = speech.request_id.clone().unwrap_or_else(|| "speech".into());
    ctx.db
        .transfer_accepted(&transfer_id, &request_id, now_ms())
        .await?;
    tokio::fs::write(&path, &speech.audio).await?;
    ctx.db
        .transfer_outcome(&transfer_id, "delivered", now_ms())
        .await?;
    let doc =
        json!({ "words": speech.words, "bytes": speech.audio.len(), "request_id": request_id });
    ctx.db
        .record_stage_output(lease, STAGE, &doc, now_ms())
        .await?;
    info!(job = %lease.job_id, provider = voice.provider, bytes = speech.audio.len(), "narration synthesized");
    Ok(Some((path, crate::transcript::words_of(&doc))))
}

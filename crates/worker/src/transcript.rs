//! Caption timing for a user's voice recording by a transcription service (Whisper with word
//! timestamps, P-IN-5), when the operator configured one and the user consented to it. Without
//! either, the engine aligns the recording locally and nothing leaves the machine.

use reelsmith_core::RenderSpec;
use reelsmith_media::align::transcript::HeardWord;
use reelsmith_store::{now_ms, ClaimedJob, NewTransfer};
use serde_json::{json, Value};
use tracing::info;

use crate::context::{ensure_not_paused, Halt, Inputs, JobContext};
use crate::error::WorkerError;

/// The registry name consent and the transfer log use for transcription.
const TRANSCRIBER: &str = "openai";
const STAGE: &str = reelsmith_jobs::Stage::Transcript.as_str();

/// The words the service heard in the job's voice recording, or `None` to align locally.
pub(crate) async fn heard_words(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    spec: &RenderSpec,
    inputs: &Inputs,
) -> Result<Option<Vec<HeardWord>>, Halt> {
    let (Some(transcriber), Some(voice), Some(upload_id)) = (
        ctx.providers.transcriber(),
        inputs.voice.as_ref(),
        spec.voice.as_ref(),
    ) else {
        return Ok(None);
    };
    let lease = &claimed.lease;
    let owner = &claimed.job.owner_id;
    let recorded = ctx.db.stage_outputs(&lease.job_id, lease.revision).await?;
    if let Some(doc) = recorded.iter().find(|o| o.stage == STAGE) {
        return Ok(Some(words_of(&doc.output).unwrap_or_default()));
    }
    ensure_not_paused(ctx, owner).await?;
    if ctx.db.active_consent(owner, TRANSCRIBER).await?.is_none() {
        info!(job = %lease.job_id, "no consent for transcription: aligning the recording locally");
        return Ok(None);
    }
    let upload = ctx
        .db
        .upload_for_owner(owner, upload_id)
        .await?
        .ok_or_else(|| WorkerError::UploadNotFound(upload_id.clone()))?;
    let audio = tokio::fs::read(voice).await?;
    let transfer = NewTransfer {
        job_id: lease.job_id.clone(),
        revision: lease.revision,
        user_id: owner.clone(),
        provider: TRANSCRIBER.to_owned(),
        model: "whisper-1".into(),
        purpose: "transcription".into(),
        sent: json!({ "upload_id": upload_id, "bytes": audio.len(), "mime": upload.mime }),
    };
    let transfer_id = ctx.db.log_transfer(&transfer, now_ms()).await?;
    let name = format!("voice.{}", extension_for(&upload.mime));
    let transcript = match transcriber.transcribe(audio, &name).await {
        Ok(t) => t,
        Err(err) => {
            let _ = ctx.db.transfer_failed(&transfer_id, now_ms()).await;
            return Err(WorkerError::Provider(err).into());
        }
    };
    let request_id = transcript
        .request_id
        .clone()
        .unwrap_or_else(|| "transcription".into());
    ctx.db
        .transfer_accepted(&transfer_id, &request_id, now_ms())
        .await?;
    let doc = json!({ "words": transcript.words });
    ctx.db
        .record_stage_output(lease, STAGE, &doc, now_ms())
        .await?;
    Ok(Some(words_of(&doc).unwrap_or_default()))
}

/// The timed words a stage recorded (a transcription, a cloud voice's narration); `None` when
/// the record has no word list.
pub(crate) fn words_of(doc: &Value) -> Option<Vec<HeardWord>> {
    let list = doc["words"].as_array()?;
    Some(
        list.iter()
            .filter_map(|w| {
                Some(HeardWord {
                    text: w["word"].as_str()?.to_owned(),
                    start: w["start"].as_f64()?,
                    end: w["end"].as_f64()?,
                })
            })
            .collect(),
    )
}

/// Whisper tells formats apart by the file name's extension.
fn extension_for(mime: &str) -> &'static str {
    match mime {
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/ogg" | "audio/opus" => "ogg",
        "audio/flac" | "audio/x-flac" => "flac",
        "audio/webm" | "video/webm" => "webm",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" => "m4a",
        _ => "mp4",
    }
}

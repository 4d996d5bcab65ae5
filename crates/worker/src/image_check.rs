//! The image classifier in the pipeline (P-SAFE-1, `[sharing.image_check]`): the job's input
//! images and a frame of each input video are checked after they are fetched and before any
//! provider is called; a frame of each generated clip is checked before the job goes on to
//! render. A refusal fails the job at once (`moderation.image_refused`: its credits come back,
//! and no provider sees an input that was refused); a borderline score holds the job for the
//! moderators' queue, as the text rules do. A job a moderator approved is not held again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reelsmith_core::Limits;
use reelsmith_media::image_input::{load_image, StillImage};
use reelsmith_safety::classifier::{combine, ImageClassifier};
use reelsmith_safety::Verdict;
use reelsmith_store::{now_ms, ClaimedJob, NewAuditEntry};
use serde_json::json;
use tracing::info;

use crate::context::{Halt, JobContext, StopReason};
use crate::error::WorkerError;

/// What is being checked, as the owner and the moderators are told.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Checked {
    /// The job's own uploads, before any provider is called.
    Inputs,
    /// The clips a provider generated.
    Generated,
}

impl Checked {
    fn what(self) -> &'static str {
        match self {
            Checked::Inputs => "an uploaded image or video",
            Checked::Generated => "a generated clip",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Checked::Inputs => "upload",
            Checked::Generated => "generated_frame",
        }
    }
}

/// Checks `files` (images, or videos of which one frame is checked) when a classifier is
/// configured. `Ok` lets the job go on; a refusal fails it, a hold parks it for review.
pub(crate) async fn screen(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    checked: Checked,
    files: &[PathBuf],
    frames_dir: &Path,
) -> Result<(), Halt> {
    let Some(classifier) = ctx.settings.image_check.clone() else {
        return Ok(());
    };
    if files.is_empty() {
        return Ok(());
    }
    let job = &claimed.job;
    if ctx.db.hold_approved(&job.id).await? {
        return Ok(());
    }
    let (files, dir, limits) = (
        files.to_vec(),
        frames_dir.to_path_buf(),
        ctx.settings.engine.limits.clone(),
    );
    let verdict =
        tokio::task::spawn_blocking(move || classify_all(&classifier, &files, &dir, &limits))
            .await
            .map_err(WorkerError::from)??;
    match verdict {
        Verdict::Allow => Ok(()),
        Verdict::Refuse { categories } => {
            record(
                ctx,
                &job.owner_id,
                &job.id,
                "moderation.refused",
                checked,
                &categories,
            )
            .await;
            info!(job = %job.id, ?categories, what = checked.kind(), "image refused");
            Err(Halt::Failed(WorkerError::ImageRefused {
                what: checked.what(),
                categories,
            }))
        }
        Verdict::Hold { categories } => {
            ctx.db
                .hold_job(&job.id, &job.owner_id, &categories, now_ms())
                .await?;
            record(
                ctx,
                &job.owner_id,
                &job.id,
                "moderation.held",
                checked,
                &categories,
            )
            .await;
            info!(job = %job.id, ?categories, what = checked.kind(), "held for review");
            // Released by `settle`, then parked out of the claim's reach until a decision.
            Err(Halt::Stopped(StopReason::Paused))
        }
    }
}

/// The categories only, never the image: what the text checks record too.
async fn record(
    ctx: &JobContext,
    owner: &str,
    job_id: &str,
    kind: &str,
    checked: Checked,
    categories: &[String],
) {
    let entry = NewAuditEntry {
        kind: kind.to_owned(),
        user_id: Some(owner.to_owned()),
        ip: None,
        user_agent: None,
        detail: Some(json!({ "what": checked.kind(), "job_id": job_id, "categories": categories })),
    };
    if let Err(err) = ctx.db.audit(&entry, now_ms()).await {
        tracing::error!(kind, error = %err, "could not write audit entry");
    }
}

fn classify_all(
    classifier: &Arc<ImageClassifier>,
    files: &[PathBuf],
    frames_dir: &Path,
    limits: &Limits,
) -> Result<Verdict, WorkerError> {
    let mut verdicts = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let image = still_of(file, &frames_dir.join(format!("check-{i}.jpg")), limits)?;
        let verdict = classifier
            .check(image.width, image.height, &image.rgb)
            .map_err(|e| WorkerError::ImageCheck(e.to_string()))?;
        verdicts.push(verdict);
    }
    Ok(combine(verdicts))
}

/// The image itself, or the middle frame of a video (written to `frame` by ffmpeg).
fn still_of(file: &Path, frame: &Path, limits: &Limits) -> Result<StillImage, WorkerError> {
    if let Ok(image) = load_image(file, limits) {
        return Ok(image);
    }
    let info = reelsmith_media::probe::probe(file)
        .map_err(|e| WorkerError::ImageCheck(format!("cannot read a clip: {e}")))?;
    let middle = info.best_duration().unwrap_or(0.0) / 2.0;
    reelsmith_media::encode::write_poster(file, middle, frame)
        .map_err(|e| WorkerError::ImageCheck(format!("cannot take a frame of a clip: {e}")))?;
    load_image(frame, limits)
        .map_err(|e| WorkerError::ImageCheck(format!("cannot read a clip's frame: {e}")))
}

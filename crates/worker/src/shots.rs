//! The `shots` stage of a job that names a provider: each planned shot is sent to the provider,
//! waited for and downloaded into the work folder; the engine then composes the clips with the
//! narration and captions exactly as it composes a user's own clips.
//!
//! Privacy and money are checked per shot, right before the request leaves:
//! - the owner must not have paused processing (P-RIGHTS-4), else the job goes back to the queue
//!   before anything is sent;
//! - the owner's consent for the provider must be on record (P-TP-2), else the job fails with
//!   `consent.required`, nothing is sent and the reserved credits go back;
//! - the transfer is logged before it is sent and completed with the provider's request id
//!   (P-TP-4); only the prompt, and the image for image-to-video, go out (P-TP-3).
//!
//! Resuming without paying twice: once the provider accepts a shot, its [`PendingShot`] is
//! recorded as the stage output `shot:<scene>:<n>` before any waiting. A worker that dies (or is
//! shut down) while waiting leaves it there, and the next attempt waits on the same request
//! instead of submitting again. A request the provider reports as failed is marked so, and the
//! retry submits a new one, at most `providers.max_resubmissions` times (each is paid); a prompt
//! or image the provider refused (`provider.refused`), or an input it rejected, is never sent
//! again. Every request's outcome (`delivered` or the error code) goes into the transfer log.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use reelsmith_core::{ErrorCode, RenderSpec};
use reelsmith_providers::{
    InputImage, PendingShot, ProviderError, ShotKind, ShotProvider, ShotRequest,
};
use reelsmith_store::{now_ms, ClaimedJob, JobStatus, NewTransfer};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::context::{ensure_not_paused, Halt, Inputs, JobContext, StopReason, StopSignal};
use crate::error::WorkerError;
use crate::job_plan::{JobPlan, SceneShots};
use crate::workdir::WorkFolder;

/// The job event the server appends when a provider's webhook says a request ended.
pub use reelsmith_jobs::WEBHOOK_EVENT;
/// How often a waiting shot checks for a webhook and for a stop.
const WATCH_EVERY: Duration = Duration::from_millis(200);

/// Generates every planned shot and returns one visual per scene, in scene order.
pub(crate) async fn generate(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    spec: &RenderSpec,
    plan: &JobPlan,
    inputs: &Inputs,
    folder: &WorkFolder,
    stop: &StopSignal,
) -> Result<Vec<PathBuf>, Halt> {
    let provider = ctx
        .providers
        .shot(&plan.provider)
        .ok_or_else(|| WorkerError::ProviderNotConfigured(plan.provider.clone()))?;
    let lease = &claimed.lease;
    let recorded: HashMap<String, Value> = ctx
        .db
        .stage_outputs(&lease.job_id, lease.revision)
        .await?
        .into_iter()
        .map(|o| (o.stage, o.output))
        .collect();
    let plan = &with_written_prompts(ctx, claimed, spec, plan, &recorded).await?;
    let mut visuals = Vec::with_capacity(plan.scenes.len());
    for scene in &plan.scenes {
        let mut clips = Vec::with_capacity(scene.shots.len());
        for (n, &seconds) in scene.shots.iter().enumerate() {
            stop.check()?;
            let stage = format!("shot:{}:{n}", scene.scene);
            let doc = recorded.get(&stage);
            // Requests of this shot that already failed at the provider (each one was paid).
            let failures = doc
                .and_then(|d| d.get("failures"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let resumed = doc
                .and_then(|d| d.get("pending"))
                .and_then(|p| serde_json::from_value::<PendingShot>(p.clone()).ok());
            let (pending, transfer) = match resumed {
                Some(pending) => {
                    info!(job = %lease.job_id, stage, request_id = %pending.request_id,
                        "resuming the provider request recorded by an earlier attempt");
                    let transfer = doc
                        .and_then(|d| d.get("transfer"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    (pending, transfer)
                }
                None => {
                    let req =
                        shot_request(ctx, claimed, spec, plan, scene, seconds, inputs).await?;
                    let (pending, transfer) = submit(
                        ctx,
                        claimed,
                        provider.as_ref(),
                        &stage,
                        &req,
                        scene,
                        failures,
                    )
                    .await?;
                    (pending, Some(transfer))
                }
            };
            let path = folder.file(&format!("shot-{}-{n}", scene.scene));
            match wait(ctx, claimed, provider.as_ref(), &pending, &path, stop).await {
                Ok(()) => {
                    outcome(ctx, transfer.as_deref(), "delivered").await;
                    clips.push(path)
                }
                Err(Halt::Failed(WorkerError::Provider(err))) => {
                    if resumable(&err) {
                        return Err(Halt::Failed(WorkerError::Provider(err)));
                    }
                    // The request is spent: the next attempt must submit a new one, if any.
                    let code = err.code();
                    outcome(ctx, transfer.as_deref(), code.as_str()).await;
                    let failures = failures + 1;
                    let doc =
                        json!({ "failed": pending.request_id, "code": code, "failures": failures });
                    if let Err(e) = ctx
                        .db
                        .record_stage_output(lease, &stage, &doc, now_ms())
                        .await
                    {
                        warn!(job = %lease.job_id, error = %e, "cannot mark the failed request");
                    }
                    let allowed = u64::from(ctx.providers.max_resubmissions);
                    if failures > allowed && !err.is_client_error() {
                        return Err(Halt::Failed(WorkerError::ProviderGaveUp(
                            err,
                            ctx.providers.max_resubmissions,
                        )));
                    }
                    return Err(Halt::Failed(WorkerError::Provider(err)));
                }
                Err(other) => return Err(other),
            }
        }
        visuals.push(join_clips(ctx, folder, scene.scene, clips).await?);
    }
    Ok(visuals)
}

/// Scene prompts written by the configured chat model from the narration, when the job brings
/// none of its own and the owner consented to that provider (the script is personal data like
/// any other, P-TP-2); otherwise the plan's prompts (the narration itself) stand. The written
/// prompts are recorded, so a retry neither asks nor pays again.
async fn with_written_prompts(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    spec: &RenderSpec,
    plan: &JobPlan,
    recorded: &HashMap<String, Value>,
) -> Result<JobPlan, Halt> {
    let Some(writer) = ctx.providers.script_writer() else {
        return Ok(plan.clone());
    };
    if !spec.prompts.is_empty() || plan.scenes.is_empty() {
        return Ok(plan.clone());
    }
    let lease = &claimed.lease;
    let owner = &claimed.job.owner_id;
    let prompts: Vec<String> = match recorded
        .get(PROMPTS_STAGE)
        .and_then(|doc| serde_json::from_value(doc["prompts"].clone()).ok())
    {
        Some(prompts) => prompts,
        None => {
            ensure_not_paused(ctx, owner).await?;
            if ctx.db.active_consent(owner, WRITER).await?.is_none() {
                info!(job = %lease.job_id, "no consent for the script writer: prompts are the narration");
                return Ok(plan.clone());
            }
            let narrations: Vec<String> = plan.scenes.iter().map(|s| s.narration.clone()).collect();
            let transfer = NewTransfer {
                job_id: lease.job_id.clone(),
                revision: lease.revision,
                user_id: owner.clone(),
                provider: WRITER.to_owned(),
                model: "chat".into(),
                purpose: "script".into(),
                sent: json!({
                    "narrations": narrations.len(),
                    "chars": narrations.iter().map(|n| n.chars().count()).sum::<usize>(),
                }),
            };
            let transfer_id = ctx.db.log_transfer(&transfer, now_ms()).await?;
            let prompts = match writer.visual_prompts(&narrations).await {
                Ok(prompts) => prompts,
                Err(err) => {
                    let _ = ctx.db.transfer_failed(&transfer_id, now_ms()).await;
                    return Err(WorkerError::Provider(err).into());
                }
            };
            ctx.db
                .transfer_accepted(&transfer_id, "chat-completion", now_ms())
                .await?;
            ctx.db
                .record_stage_output(
                    lease,
                    PROMPTS_STAGE,
                    &json!({ "prompts": prompts }),
                    now_ms(),
                )
                .await?;
            prompts
        }
    };
    let mut plan = plan.clone();
    for (scene, prompt) in plan.scenes.iter_mut().zip(prompts) {
        scene.prompt = crate::job_plan::with_style(spec, prompt);
    }
    Ok(plan)
}

/// The registry name consent and the transfer log use for the script writer.
const WRITER: &str = "openai";
const PROMPTS_STAGE: &str = reelsmith_jobs::Stage::Prompts.as_str();

/// A failure after which the same request may still deliver: waiting again is safe and free.
fn resumable(err: &ProviderError) -> bool {
    err.is_transient() && !matches!(err, ProviderError::Timeout { .. })
}

/// The request for one shot: only what the model needs (P-TP-3).
async fn shot_request(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    spec: &RenderSpec,
    plan: &JobPlan,
    scene: &SceneShots,
    seconds: u32,
    inputs: &Inputs,
) -> Result<ShotRequest, Halt> {
    let caps = &plan.limits;
    let image = match (scene.kind, scene.image) {
        (ShotKind::ImageToVideo, Some(i)) => {
            let upload_id = &spec.media[i];
            let upload = ctx
                .db
                .upload_for_owner(&claimed.job.owner_id, upload_id)
                .await?
                .ok_or_else(|| WorkerError::UploadNotFound(upload_id.clone()))?;
            if upload.kind != reelsmith_store::UploadKind::Image {
                return Err(WorkerError::WrongUploadKind {
                    id: upload_id.clone(),
                    kind: upload.kind.as_str(),
                    role: "the image of an image-to-video shot",
                }
                .into());
            }
            Some(InputImage {
                bytes: tokio::fs::read(&inputs.media[i]).await?,
                mime: upload.mime,
            })
        }
        _ => None,
    };
    let text = |v: Value| v.as_str().map(str::to_owned).unwrap_or_default();
    let resolution = text(json!(spec.resolution));
    Ok(ShotRequest {
        kind: scene.kind,
        model: plan.model.clone(),
        prompt: scene.prompt.chars().take(caps.max_prompt_chars).collect(),
        negative_prompt: spec
            .negative_prompt
            .clone()
            .filter(|_| caps.negative_prompt),
        image,
        duration_s: seconds,
        aspect: text(json!(spec.aspect)),
        resolution: caps.resolutions.contains(&resolution).then_some(resolution),
        audio: false,
        seed: Some(spec.seed),
    })
}

/// Records how a provider request ended in the transfer log (P-TP-4); a failure to write it is
/// logged, not fatal: the shot itself is what the job is waiting for.
async fn outcome(ctx: &JobContext, transfer: Option<&str>, outcome: &str) {
    if let Some(id) = transfer {
        if let Err(e) = ctx.db.transfer_outcome(id, outcome, now_ms()).await {
            warn!(transfer = id, error = %e, "cannot record the request's outcome");
        }
    }
}

/// Checks consent, logs the transfer, sends the request once and records the pending shot (with
/// how many earlier requests of the shot failed); returns it and its transfer's id.
async fn submit(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    provider: &dyn ShotProvider,
    stage: &str,
    req: &ShotRequest,
    scene: &SceneShots,
    failures: u64,
) -> Result<(PendingShot, String), Halt> {
    let lease = &claimed.lease;
    let owner = &claimed.job.owner_id;
    let name = provider.name();
    ensure_not_paused(ctx, owner).await?;
    if ctx.db.active_consent(owner, name).await?.is_none() {
        return Err(WorkerError::ConsentRequired(name.to_owned()).into());
    }
    let transfer = NewTransfer {
        job_id: lease.job_id.clone(),
        revision: lease.revision,
        user_id: owner.clone(),
        provider: name.to_owned(),
        model: req.model.clone(),
        purpose: "shot".into(),
        sent: what_is_sent(req, scene, &claimed.job.params),
    };
    let transfer_id = ctx.db.log_transfer(&transfer, now_ms()).await?;
    let pending = match provider.submit(req).await {
        Ok(pending) => pending,
        Err(err) => {
            if let Err(e) = ctx.db.transfer_failed(&transfer_id, now_ms()).await {
                warn!(job = %lease.job_id, error = %e, "cannot mark the transfer failed");
            }
            outcome(ctx, Some(&transfer_id), err.code().as_str()).await;
            return Err(WorkerError::Provider(err).into());
        }
    };
    ctx.db
        .transfer_accepted(&transfer_id, &pending.request_id, now_ms())
        .await?;
    ctx.db
        .record_stage_output(
            lease,
            stage,
            &json!({ "pending": pending, "transfer": transfer_id, "failures": failures }),
            now_ms(),
        )
        .await?;
    Ok((pending, transfer_id))
}

/// The transfer log's description of a request: which fields went out and how big they were,
/// never their content.
fn what_is_sent(req: &ShotRequest, scene: &SceneShots, params: &Value) -> Value {
    let image = req.image.as_ref().map(|img| {
        let upload_id = scene
            .image
            .and_then(|i| params.get("media")?.get(i)?.as_str().map(str::to_owned));
        json!({ "upload_id": upload_id, "bytes": img.bytes.len(), "mime": img.mime })
    });
    json!({
        "kind": req.kind,
        "scene": scene.scene,
        "prompt_chars": req.prompt.chars().count(),
        "negative_prompt_chars": req.negative_prompt.as_ref().map(|p| p.chars().count()),
        "image": image,
        "duration_s": req.duration_s,
        "aspect": req.aspect,
        "resolution": req.resolution,
    })
}

/// Waits for the provider, streaming the result into `path`. A webhook for the job restarts
/// the wait, which polls at once; a stop ends it, and a cancelled job's request is cancelled at
/// the provider too.
async fn wait(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    provider: &dyn ShotProvider,
    pending: &PendingShot,
    path: &std::path::Path,
    stop: &StopSignal,
) -> Result<(), Halt> {
    let job_id = &claimed.lease.job_id;
    // Unknown (a database hiccup) starts from 0: an old webhook then only costs one extra poll.
    let mut seen = ctx.db.last_job_event_id(job_id).await.unwrap_or(0);
    loop {
        let mut file = tokio::fs::File::create(path).await?;
        let max = ctx.providers.max_output_bytes;
        tokio::select! {
            done = provider.wait(pending, &mut file, max) => {
                let out = done.map_err(WorkerError::Provider)?;
                tokio::io::AsyncWriteExt::flush(&mut file).await?;
                info!(job = %job_id, request_id = %out.request_id, bytes = out.bytes, "shot received");
                return Ok(());
            }
            reason = stopped(stop) => {
                drop(file);
                if reason == StopReason::LeaseLost && job_was_cancelled(ctx, job_id).await {
                    match provider.cancel(pending).await {
                        Ok(()) => info!(job = %job_id, request_id = %pending.request_id, "cancelled at the provider"),
                        Err(e) => warn!(job = %job_id, error = %e, "the provider did not take the cancel"),
                    }
                }
                return Err(Halt::Stopped(reason));
            }
            after = webhook(ctx, job_id, seen) => {
                info!(job = %job_id, "webhook received: polling the provider now");
                seen = after;
            }
        }
    }
}

async fn stopped(stop: &StopSignal) -> StopReason {
    loop {
        if let Some(reason) = stop.reason() {
            return reason;
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// Resolves with the new last event id once a webhook event is appended after `after`.
async fn webhook(ctx: &JobContext, job_id: &str, mut after: i64) -> i64 {
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let Ok(events) = ctx.db.job_events_since(job_id, after, 1000).await else {
            continue;
        };
        let mut woke = false;
        for event in events {
            after = after.max(event.id);
            woke |= event.kind == WEBHOOK_EVENT;
        }
        if woke {
            return after;
        }
    }
}

async fn job_was_cancelled(ctx: &JobContext, job_id: &str) -> bool {
    match ctx.db.job_by_id(job_id).await {
        Ok(Some(job)) => job.status == JobStatus::Cancelled,
        Ok(None) => true,
        Err(_) => false,
    }
}

/// One visual per scene: a single shot as it is, several joined end to end.
async fn join_clips(
    ctx: &JobContext,
    folder: &WorkFolder,
    scene: usize,
    mut clips: Vec<PathBuf>,
) -> Result<PathBuf, Halt> {
    if clips.len() == 1 {
        return Ok(clips.remove(0));
    }
    let list = folder.file(&format!("scene-{scene}.txt"));
    let out = folder.file(&format!("scene-{scene}.mp4"));
    let engine = &ctx.settings.engine;
    let (encode, limits) = (engine.encode.clone(), engine.limits.clone());
    let joined = out.clone();
    tokio::task::spawn_blocking(move || {
        reelsmith_media::join::join_clips(&clips, &list, &joined, &encode, &limits)
    })
    .await
    .map_err(WorkerError::from)?
    .map_err(|source| WorkerError::JoinShots { scene, source })?;
    Ok(out)
}

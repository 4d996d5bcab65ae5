//! One claimed job, start to end: heartbeat, `fetch`, `render`, `store`, then finish, fail, retry
//! later or release. Every queue call presents the lease; when the lease is lost (the job was
//! cancelled, or another worker took it over after it expired) the render stops at the next frame
//! and nothing this worker does can change the job any more.

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use reelsmith_core::{ErrorCode, RenderSpec, ValidSpec};
use reelsmith_media::plan::GivenScene;
use reelsmith_media::render::{
    render_scenes, Progress, RenderError, RenderJob, RenderOutput, Stage,
};
use reelsmith_store::{
    now_ms, ClaimedJob, Job, JobError, JobStatus, Lease, StoreError, UploadKind,
};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::backoff::{attempts_exhausted, retry_delay};
use crate::context::{ensure_not_paused, Halt, Inputs, JobContext};
pub use crate::context::{JobOutcome, StopReason, StopSignal};
use crate::error::WorkerError;
use crate::image_check::{self, Checked};
use crate::keys::{output_keys, OUTPUT_FILES};
use crate::shots;
use crate::transcript;
use crate::workdir::WorkFolder;
use reelsmith_jobs::Stage as JobStage;
use reelsmith_jobs::{plan_job_with, JobPlan, MusicUsage, StageMs, StoredPlan, Storyboard, Usage};

/// What the `store` stage produced: the keys to finish with and the usage to record.
struct Stored {
    keys: Vec<String>,
    usage: Value,
    resumed: bool,
}

/// Runs one claimed job to its end. `abort` is cancelled when the worker's shutdown grace period
/// is over: the render stops and the job is released to the queue.
pub(crate) async fn run_job(
    ctx: JobContext,
    claimed: ClaimedJob,
    abort: CancellationToken,
) -> JobOutcome {
    let lease = claimed.lease.clone();
    let stop = StopSignal::default();
    // Both helpers die with this task, even when it is dropped or panics: an orphaned heartbeat
    // would keep renewing the lease of a job nobody runs, and no other worker could take it over.
    let heartbeat = AbortOnDrop(tokio::spawn(keep_lease(
        ctx.clone(),
        lease.clone(),
        stop.clone(),
    )));
    let aborter = {
        let stop = stop.clone();
        AbortOnDrop(tokio::spawn(async move {
            abort.cancelled().await;
            stop.raise(StopReason::Shutdown);
        }))
    };
    info!(job = %lease.job_id, revision = lease.revision, attempt = claimed.job.attempts,
        takeover = claimed.takeover, "job claimed");
    let mut rendered = false;
    let result = run_stages(&ctx, &claimed, &stop, &mut rendered).await;
    drop(heartbeat);
    drop(aborter);
    let outcome = settle(&ctx, &claimed, result, rendered).await;
    reelsmith_metrics::worker().count_run(run_label(&outcome));
    info!(job = %lease.job_id, ?outcome, "job ended");
    if matches!(
        outcome,
        JobOutcome::Succeeded { .. } | JobOutcome::Failed { .. } | JobOutcome::LeaseLost { .. }
    ) {
        uploads_at_job_end(&ctx, &claimed).await;
    }
    outcome
}

/// P-RET-2: under `until_job_ends`, the job's uploads go the moment it ends (succeeded, failed
/// for good, or cancelled), not at the next sweep. A failure here is logged only: the sweep
/// applies the same rule and deletes them then.
async fn uploads_at_job_end(ctx: &JobContext, claimed: &ClaimedJob) {
    if ctx.settings.retention.uploads != reelsmith_config::UploadRetention::UntilJobEnds {
        return;
    }
    let job_id = &claimed.lease.job_id;
    match crate::retention::expire_uploads_of_ended_job(
        &ctx.db,
        &ctx.media,
        &claimed.job.owner_id,
        job_id,
    )
    .await
    {
        Ok(deleted) if !deleted.is_empty() => {
            info!(job = %job_id, uploads = deleted.len(), "the job ended: its uploads are deleted");
        }
        Ok(_) => {}
        Err(e) => {
            warn!(job = %job_id, code = %e.code(), error = %e, "cannot delete the ended job's uploads; the sweep will")
        }
    }
}

/// A spawned helper task that is aborted when its owner goes away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Renews the lease every heartbeat; raises the stop signal once it is lost.
async fn keep_lease(ctx: JobContext, lease: Lease, stop: StopSignal) {
    let lease_ms = millis(ctx.settings.lease);
    let mut ticks = tokio::time::interval(ctx.settings.heartbeat.max(Duration::from_millis(50)));
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match ctx.db.heartbeat(&lease, lease_ms, now_ms()).await {
            Ok(true) => {}
            Ok(false) => {
                info!(job = %lease.job_id, "lease lost: stopping");
                stop.raise(StopReason::LeaseLost);
                return;
            }
            // A database hiccup: the lease is still ours until it expires, so keep trying.
            Err(e) => warn!(job = %lease.job_id, error = %e, "heartbeat failed"),
        }
    }
}

async fn run_stages(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    stop: &StopSignal,
    rendered: &mut bool,
) -> Result<Stored, Halt> {
    let job = &claimed.job;
    let lease = &claimed.lease;
    let spec: RenderSpec = serde_json::from_value(job.params.clone())
        .map_err(|e| WorkerError::InvalidParams(e.to_string()))?;
    let (plan, storyboard) = job_plan(ctx, job, &spec)?;
    // A storyboard's uploads are the job's `media`, in the order its scenes first show them.
    let uploads = spec.media.clone();
    if let Some(stored) = recorded_store_stage(ctx, lease).await? {
        info!(job = %lease.job_id, "outputs already stored by an earlier attempt: finishing");
        return Ok(stored);
    }
    stop.check()?;
    ensure_not_paused(ctx, &job.owner_id).await?;
    // Held for review by the automated checks (issue 19) after a worker could claim it: back
    // to the queue, parked until a moderator decides; nothing reaches a provider.
    if ctx.db.job_is_held(&job.id).await? {
        return Err(Halt::Stopped(StopReason::Paused));
    }
    let folder = {
        let (temp, worker, job_id) = (
            ctx.settings.temp_dir.clone(),
            ctx.worker_id.clone(),
            lease.job_id.clone(),
        );
        tokio::task::spawn_blocking(move || WorkFolder::create(&temp, &worker, &job_id))
            .await
            .map_err(WorkerError::from)??
    };

    let fetch_started = Instant::now();
    report(ctx, lease, JobStage::Fetch, 0.0).await?;
    let inputs = fetch_inputs(ctx, &job.owner_id, &spec, &folder).await?;
    let fetch_ms = elapsed_ms(fetch_started);
    stage_done("fetch", fetch_started);
    ctx.db
        .record_stage_output(
            lease,
            JobStage::Fetch.as_str(),
            &json!({ "uploads": inputs.upload_ids, "bytes": inputs.bytes }),
            now_ms(),
        )
        .await?;
    // A storyboard's stock and library pictures follow its uploads in the media list.
    let (spec, inputs) =
        crate::stock_pictures::fetch(ctx, claimed, storyboard.as_ref(), &folder, spec, inputs)
            .await?;
    stop.check()?;
    // P-SAFE-1: the owner's images and videos pass the image classifier before any provider
    // (voice, shots, transcription) is called.
    image_check::screen(ctx, claimed, Checked::Inputs, &inputs.media, folder.path()).await?;

    ensure_not_paused(ctx, &job.owner_id).await?;
    // A cloud voice reads the narration before any shot is paid for: a refused consent or a
    // failing voice stops the job first.
    let instructions = spec.voice_instructions.clone();
    let voice_started = Instant::now();
    let (inputs, cloud_heard) =
        match crate::voice::narrate(ctx, claimed, &plan, instructions.as_deref(), &folder).await? {
            Some((path, words)) => {
                stage_done("voice", voice_started);
                (
                    Inputs {
                        voice: Some(path),
                        ..inputs
                    },
                    Some(words),
                )
            }
            None => (inputs, None),
        };
    // The engine aligns cloud narration to the script with its own local voice: the cloud
    // voice's name means nothing to it.
    let spec = if plan.voice.is_some() {
        RenderSpec {
            tts: reelsmith_core::spec::TtsSettings {
                voice: reelsmith_core::spec::TtsSettings::default().voice,
                ..spec.tts
            },
            ..spec
        }
    } else {
        spec
    };
    let (spec, inputs, shots_ms) = if plan.is_studio() {
        (spec, inputs, None)
    } else {
        let started = Instant::now();
        report(ctx, lease, JobStage::Shots, SHOTS_START).await?;
        let visuals = shots::generate(ctx, claimed, &spec, &plan, &inputs, &folder, stop).await?;
        // What a provider made is checked before it becomes the owner's video.
        image_check::screen(ctx, claimed, Checked::Generated, &visuals, folder.path()).await?;
        // The engine composes the generated clips like a user's own: one per scene, in order.
        // A storyboard's scenes show its uploads too: they come first, the shots after them.
        let (kept, kept_media) = match &storyboard {
            Some(_) => (spec.media.clone(), inputs.media.clone()),
            None => (Vec::new(), Vec::new()),
        };
        let spec = RenderSpec {
            media: kept
                .into_iter()
                .chain((0..visuals.len()).map(|i| format!("shot-{i}")))
                .collect(),
            ..spec
        };
        let inputs = Inputs {
            media: kept_media.into_iter().chain(visuals).collect(),
            ..inputs
        };
        stage_done("shots", started);
        (spec, inputs, Some(elapsed_ms(started)))
    };
    stop.check()?;
    ensure_not_paused(ctx, &job.owner_id).await?;
    let heard = match cloud_heard {
        Some(words) => words,
        None => {
            let started = Instant::now();
            let heard = transcript::heard_words(ctx, claimed, &spec, &inputs).await?;
            if heard.is_some() {
                stage_done("transcribe", started);
            }
            heard
        }
    };
    let inputs = Inputs { heard, ..inputs };

    let music_usage = spec.music.as_deref().map(|music| MusicUsage {
        source: if reelsmith_media::music::library_id(music).is_some() {
            "library"
        } else {
            "upload"
        }
        .to_owned(),
        level_db: spec.effective_music_level(),
    });
    let render_started = Instant::now();
    report(ctx, lease, JobStage::Render, RENDER_START).await?;
    let given = storyboard.map(|board| board.given_scenes(&uploads, &plan));
    // The job's spec was checked when the job was accepted; the shots stage only renamed its
    // media to the generated clips.
    let spec = ValidSpec::accepted(spec);
    let output = render_in_background(ctx, lease, spec, given, inputs, &folder, stop).await?;
    *rendered = true;
    let render_ms = elapsed_ms(render_started);
    stage_done("render", render_started);
    // The engine timed its own stages: observed after the render, so measuring costs it nothing.
    for (stage, ms) in &output.stage_ms {
        reelsmith_metrics::worker().observe_stage(stage.as_str(), Duration::from_millis(*ms));
    }
    ctx.db
        .record_stage_output(
            lease,
            JobStage::Render.as_str(),
            &json!({
                "frames": output.frames,
                "duration_seconds": output.duration_seconds,
                "width": output.width,
                "height": output.height,
            }),
            now_ms(),
        )
        .await?;
    stop.check()?;

    let store_started = Instant::now();
    report(ctx, lease, JobStage::Store, STORE_START).await?;
    let keys = output_keys(&lease.job_id, lease.revision);
    let files = [&output.video, &output.poster, &output.vtt, &output.srt];
    let mut bytes = Vec::with_capacity(files.len());
    let owner_media = ctx.media.for_owner(&job.owner_id).await?;
    for (key, file) in keys.iter().zip(files) {
        bytes.push(store_with_retries(ctx, lease, &owner_media, key, file, stop).await?);
    }
    let mut usage = usage_document(
        &output,
        &bytes,
        fetch_ms,
        render_ms,
        elapsed_ms(store_started),
    );
    usage.music = music_usage;
    if let Some(shots_ms) = shots_ms {
        usage = usage.with_provider(&plan, shots_ms);
    }
    let usage = usage.to_value();
    ctx.db
        .record_stage_output(
            lease,
            JobStage::Store.as_str(),
            &json!({ "object_keys": keys, "usage": usage }),
            now_ms(),
        )
        .await?;
    stage_done("store", store_started);
    drop(folder);
    Ok(Stored {
        keys,
        usage,
        resumed: false,
    })
}

/// Uploads one finished file, retrying while the media store is unreachable: the render is the
/// expensive part, so an outage of storage costs waiting, not rendering again. Bounded by
/// `store_retry`; the heartbeat keeps the lease meanwhile, and a stop ends the wait.
async fn store_with_retries(
    ctx: &JobContext,
    lease: &Lease,
    media: &reelsmith_store::OwnerMedia,
    key: &str,
    file: &std::path::Path,
    stop: &StopSignal,
) -> Result<u64, Halt> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        stop.check()?;
        let err = match media.put_file(key, file).await {
            Ok(info) => return Ok(info.size),
            Err(err) => err,
        };
        let transient = matches!(err, reelsmith_store::ObjectError::Backend(_));
        if !transient || started.elapsed() + delay > ctx.settings.store_retry {
            return Err(WorkerError::Object(err).into());
        }
        warn!(job = %lease.job_id, key, code = %err.code(), error = %err, retry_in_ms = millis(delay),
            "cannot store an output; keeping the render and trying again");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}

/// A `store` stage recorded by an earlier attempt of this revision whose objects all still exist:
/// the retry (or takeover) only has to finish the job.
async fn recorded_store_stage(ctx: &JobContext, lease: &Lease) -> Result<Option<Stored>, Halt> {
    let outputs = ctx.db.stage_outputs(&lease.job_id, lease.revision).await?;
    let Some(store) = outputs.into_iter().find(|o| o.stage == JobStage::Store) else {
        return Ok(None);
    };
    let keys: Vec<String> = store
        .output
        .get("object_keys")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let Some(usage) = store.output.get("usage").cloned() else {
        return Ok(None);
    };
    if keys != output_keys(&lease.job_id, lease.revision) {
        return Ok(None);
    }
    for key in &keys {
        if ctx.media.head(key).await?.is_none() {
            warn!(job = %lease.job_id, key, "recorded output is missing: rendering again");
            return Ok(None);
        }
    }
    Ok(Some(Stored {
        keys,
        usage,
        resumed: true,
    }))
}

/// Downloads the owner's uploads that the spec names into the work folder.
async fn fetch_inputs(
    ctx: &JobContext,
    owner_id: &str,
    spec: &RenderSpec,
    folder: &WorkFolder,
) -> Result<Inputs, Halt> {
    let mut inputs = Inputs {
        media: Vec::with_capacity(spec.media.len()),
        voice: None,
        music: None,
        upload_ids: Vec::new(),
        bytes: 0,
        heard: None,
    };
    for (i, id) in spec.media.iter().enumerate() {
        let path = folder.file(&format!("media-{i}"));
        inputs.bytes += fetch_upload(ctx, owner_id, id, Role::Scene, &path).await?;
        inputs.media.push(path);
        inputs.upload_ids.push(id.clone());
    }
    if let Some(id) = &spec.voice {
        let path = folder.file("voice");
        inputs.bytes += fetch_upload(ctx, owner_id, id, Role::Voice, &path).await?;
        inputs.voice = Some(path);
        inputs.upload_ids.push(id.clone());
    }
    if let Some(reference) = &spec.music {
        match reelsmith_media::music::library_id(reference) {
            Some(track) => {
                let library = ctx.settings.engine.music_library.as_deref();
                let path = reelsmith_media::music::find_track(library, track)
                    .map_err(WorkerError::Music)?;
                inputs.music = Some(path);
            }
            None => {
                let path = folder.file("music");
                inputs.bytes += fetch_upload(ctx, owner_id, reference, Role::Music, &path).await?;
                inputs.music = Some(path);
                inputs.upload_ids.push(reference.clone());
            }
        }
    }
    Ok(inputs)
}

#[derive(Clone, Copy)]
enum Role {
    Scene,
    Voice,
    Music,
}

async fn fetch_upload(
    ctx: &JobContext,
    owner_id: &str,
    id: &str,
    role: Role,
    path: &std::path::Path,
) -> Result<u64, Halt> {
    let upload = ctx
        .db
        .upload_for_owner(owner_id, id)
        .await?
        .ok_or_else(|| WorkerError::UploadNotFound(id.to_owned()))?;
    let fits = match role {
        Role::Scene => matches!(upload.kind, UploadKind::Image | UploadKind::Video),
        Role::Voice => matches!(upload.kind, UploadKind::Audio | UploadKind::Video),
        Role::Music => upload.kind == UploadKind::Audio,
    };
    if !fits {
        return Err(WorkerError::WrongUploadKind {
            id: id.to_owned(),
            kind: upload.kind.as_str(),
            role: match role {
                Role::Scene => "a scene",
                Role::Voice => "the voice",
                Role::Music => "the music",
            },
        }
        .into());
    }
    let reader = ctx
        .media
        .for_owner(owner_id)
        .await?
        .open(&upload.object_key, None)
        .await?;
    let mut file = tokio::fs::File::create(path).await?;
    let mut stream = reader.stream;
    let mut written = 0u64;
    while let Some(chunk) = stream.try_next().await? {
        file.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    file.flush().await?;
    Ok(written)
}

/// Overall progress: fetching takes the first few percent, storing the last few, and the render
/// the rest, mostly in proportion to frames composed.
const SHOTS_START: f64 = 0.04;
const RENDER_START: f64 = 0.05;
const FRAMES_START: f64 = 0.10;
const FRAMES_END: f64 = 0.94;
const STORE_START: f64 = 0.95;
/// Progress is written at most this often, so a fast render does not flood the database.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);
const PROGRESS_STEP: f64 = 0.01;

fn overall_progress(p: Progress) -> f64 {
    match p {
        Progress::Stage(Stage::Plan) => RENDER_START,
        Progress::Stage(Stage::Narrate | Stage::Align) => 0.07,
        Progress::Stage(Stage::Mix) => 0.09,
        Progress::Stage(Stage::Compose) => FRAMES_START,
        Progress::Stage(Stage::Encode | Stage::Finish) => FRAMES_END,
        Progress::Frames { done, total } => {
            let fraction = if total == 0 {
                0.0
            } else {
                done as f64 / total as f64
            };
            FRAMES_START + (FRAMES_END - FRAMES_START) * fraction.clamp(0.0, 1.0)
        }
    }
}

/// Runs the engine on a blocking thread while this task writes its progress, throttled.
async fn render_in_background(
    ctx: &JobContext,
    lease: &Lease,
    spec: ValidSpec,
    given: Option<Vec<GivenScene>>,
    inputs: Inputs,
    folder: &WorkFolder,
    stop: &StopSignal,
) -> Result<RenderOutput, Halt> {
    let (progress_tx, progress_rx) = watch::channel(RENDER_START);
    let mut engine = ctx.settings.engine.clone();
    engine.temp_dir = Some(folder.path().to_path_buf());
    let out = folder.file("video.mp4");
    let cancel = stop.flag();
    let render_task = tokio::task::spawn_blocking(move || {
        let job = RenderJob {
            spec: &spec,
            media: inputs.media,
            voice: inputs.voice,
            heard_words: inputs.heard,
            music: inputs.music,
            out,
            hash_frames: false,
            cancel: Some(cancel),
        };
        render_scenes(&job, given.as_deref(), &engine, &mut |p| {
            progress_tx.send_replace(overall_progress(p));
        })
    });
    let reporter = write_progress(ctx, lease, progress_rx, stop);
    let (result, ()) = tokio::join!(render_task, reporter);
    match result.map_err(WorkerError::from)? {
        Ok(output) => Ok(output),
        Err(RenderError::Cancelled) if stop.reason().is_some() => Err(Halt::Stopped(
            stop.reason().unwrap_or(StopReason::LeaseLost),
        )),
        Err(e) => Err(WorkerError::Render(e).into()),
    }
}

/// Writes render progress until the render drops its sender.
async fn write_progress(
    ctx: &JobContext,
    lease: &Lease,
    mut rx: watch::Receiver<f64>,
    stop: &StopSignal,
) {
    let mut last_written = RENDER_START;
    let mut last_at = Instant::now();
    while rx.changed().await.is_ok() {
        let progress = *rx.borrow_and_update();
        if progress - last_written < PROGRESS_STEP || last_at.elapsed() < PROGRESS_INTERVAL {
            continue;
        }
        last_written = progress;
        last_at = Instant::now();
        if let Err(Halt::Stopped(reason)) = report(ctx, lease, JobStage::Render, progress).await {
            stop.raise(reason);
        }
    }
}

/// Records stage and progress (and the progress event the SSE stream shows). Failures other than
/// a lost lease are only logged: progress is informative, and the next write may succeed.
async fn report(
    ctx: &JobContext,
    lease: &Lease,
    stage: JobStage,
    progress: f64,
) -> Result<(), Halt> {
    match ctx
        .db
        .update_progress(lease, stage.as_str(), progress, now_ms())
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::LeaseLost) => Err(Halt::Stopped(StopReason::LeaseLost)),
        Err(e) => {
            warn!(job = %lease.job_id, error = %e, "cannot record progress");
            Ok(())
        }
    }
}

/// Usage per job (P-IN-6).
fn usage_document(
    output: &RenderOutput,
    bytes: &[u64],
    fetch_ms: u64,
    render_ms: u64,
    store_ms: u64,
) -> Usage {
    let render_stage_ms = output
        .stage_ms
        .iter()
        .map(|(stage, ms)| (stage.as_str().to_owned(), *ms))
        .collect();
    let file_bytes = OUTPUT_FILES
        .iter()
        .zip(bytes)
        .map(|(name, size)| ((*name).to_owned(), *size))
        .collect();
    Usage {
        engine: reelsmith_jobs::usage::STUDIO_ENGINE.to_owned(),
        model: reelsmith_jobs::usage::BUILT_IN_MODEL.to_owned(),
        stage_ms: StageMs {
            fetch: fetch_ms,
            render: render_ms,
            store: store_ms,
            shots: None,
        },
        render_stage_ms,
        output_seconds: output.duration_seconds,
        scene_seconds: output
            .scene_seconds
            .iter()
            .map(|s| (s * 1000.0).round() / 1000.0)
            .collect(),
        output_bytes: bytes.iter().sum::<u64>(),
        file_bytes,
        frames: output.frames,
        width: output.width,
        height: output.height,
        fps: output.fps,
        loudness: output.loudness,
        voice: output.voice.clone(),
        speech_notes: output.speech_notes.clone(),
        music: None,
        provider: None,
        credits: None,
        shots: None,
    }
}

/// The plan the job was quoted with, stored at submission: executed as is, so the shots and
/// the price are the quote's even if the model registry changed since. A job stored before
/// plans were stored (no record) is planned here, once, as it always was.
/// A plan made from a storyboard comes with it: the scenes the engine renders, in order.
fn job_plan(
    ctx: &JobContext,
    job: &Job,
    spec: &RenderSpec,
) -> Result<(JobPlan, Option<Storyboard>), WorkerError> {
    match &job.plan {
        Some(record) => StoredPlan::read(record)
            .map(|s| (s.plan, s.storyboard))
            .map_err(|e| WorkerError::InvalidParams(e.to_string())),
        None => plan_job_with(spec, ctx.providers.models())
            .map(|p| (p, None))
            .map_err(WorkerError::Plan),
    }
}

/// Turns the stages' result into the queue transition.
async fn settle(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    result: Result<Stored, Halt>,
    rendered: bool,
) -> JobOutcome {
    let lease = &claimed.lease;
    let job_id = lease.job_id.clone();
    let halt = match result {
        Ok(stored) => match ctx
            .db
            .finish_job(lease, &stored.keys, &stored.usage, now_ms())
            .await
        {
            Ok(()) => {
                return JobOutcome::Succeeded {
                    job_id,
                    resumed: stored.resumed,
                }
            }
            Err(e) => Halt::from(WorkerError::from(e)),
        },
        Err(halt) => halt,
    };
    match halt {
        Halt::Stopped(StopReason::Shutdown | StopReason::Paused) => {
            match ctx.db.release_job(lease, now_ms()).await {
                Ok(()) => {
                    if let Err(err) = ctx.db.park_if_held(&job_id, now_ms()).await {
                        tracing::warn!(error = %err, "cannot park a job held for review");
                    }
                    JobOutcome::Released { job_id }
                }
                Err(_) => lost(ctx, lease, rendered).await,
            }
        }
        Halt::Stopped(StopReason::LeaseLost) => lost(ctx, lease, rendered).await,
        Halt::Failed(err) => fail_or_retry(ctx, claimed, err, rendered).await,
    }
}

async fn fail_or_retry(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    err: WorkerError,
    rendered: bool,
) -> JobOutcome {
    let lease = &claimed.lease;
    let job_id = lease.job_id.clone();
    // A provider that asked to be left alone (Retry-After) is not asked again sooner; when it
    // asked for longer than a job waits, the job fails now instead of retrying blindly.
    let hint = match &err {
        WorkerError::Provider(e) => e.retry_after(),
        _ => None,
    };
    let limit = ctx.providers.max_retry_after;
    let err = match err.or_disk_full() {
        WorkerError::Provider(e) if hint.is_some_and(|h| h > limit) => {
            WorkerError::ProviderBusy(e, reelsmith_providers::error::human_duration(limit))
        }
        other => other,
    };
    // The owner sees a stable code and a sentence; a fault of ours may name hosts, buckets and
    // object keys, so its cause goes to the log only.
    let error = JobError {
        code: err.code().as_str().to_owned(),
        message: public_message(&err),
    };
    let outage = is_outage(&err)
        && now_ms().saturating_sub(claimed.job.created_at) < millis(ctx.settings.outage_patience);
    if outage {
        return retry_after_outage(ctx, claimed, &err, error, rendered).await;
    }
    let give_up = err.is_client_error()
        || attempts_exhausted(claimed.job.attempts, ctx.settings.max_attempts);
    if give_up {
        warn!(job = %job_id, code = %error.code, error = %err, "job failed");
        return match ctx.db.fail_job(lease, &error, None, now_ms()).await {
            Ok(()) => JobOutcome::Failed {
                job_id,
                code: error.code,
            },
            Err(StoreError::LeaseLost) => lost(ctx, lease, rendered).await,
            Err(e) => {
                // The lease will expire and another attempt will record the failure.
                warn!(job = %job_id, error = %e, "cannot record the failure");
                JobOutcome::Failed {
                    job_id,
                    code: error.code,
                }
            }
        };
    }
    let delay = retry_delay(claimed.job.attempts, fastrand::f64()).max(hint.unwrap_or_default());
    let next_attempt_at = now_ms() + millis(delay);
    warn!(job = %job_id, code = %error.code, error = %err, retry_in_ms = millis(delay),
        "job failed; will retry");
    match ctx
        .db
        .retry_job_later(lease, &error, next_attempt_at, now_ms())
        .await
    {
        Ok(()) => JobOutcome::Retrying {
            job_id,
            code: error.code,
            next_attempt_at,
        },
        Err(StoreError::LeaseLost) => lost(ctx, lease, rendered).await,
        Err(e) => {
            warn!(job = %job_id, error = %e, "cannot schedule the retry; the lease will expire");
            JobOutcome::Retrying {
                job_id,
                code: error.code,
                next_attempt_at,
            }
        }
    }
}

/// The database or the media store could not be reached: not the job's fault, and likely to
/// pass. Such failures back off without spending the job's attempts.
fn is_outage(err: &WorkerError) -> bool {
    match err {
        WorkerError::Store(e) => e.is_unavailable(),
        WorkerError::Object(reelsmith_store::ObjectError::Backend(_)) => true,
        _ => false,
    }
}

/// What the job's owner reads about a failure: the error itself when it is about their input,
/// otherwise a sentence that names no part of the infrastructure.
fn public_message(err: &WorkerError) -> String {
    // A provider's own failure is told as it is: the provider, the model and what it said
    // (its adapters keep keys and our hosts out of these messages, P-TP-5).
    if err.is_client_error()
        || matches!(
            err,
            WorkerError::Provider(_)
                | WorkerError::ProviderGaveUp(..)
                | WorkerError::ProviderBusy(..)
        )
    {
        return err.to_string();
    }
    match err {
        WorkerError::Store(e) if e.is_unavailable() => "the database was unavailable",
        WorkerError::Store(_) => "a database error interrupted the job",
        WorkerError::Object(_) | WorkerError::OutputMissing(_) => {
            "the media store could not be reached or did not have a file the job needs"
        }
        WorkerError::Io(_) => "the worker could not use its working folder",
        WorkerError::DiskFull(_) => "the worker ran out of space for the job's temporary files",
        WorkerError::Render(_) => "the video engine failed",
        _ => "an internal error interrupted the job",
    }
    .to_owned()
}

/// Puts the job back after an outage, the attempt given back, with a backoff that grows with
/// the outage retries so far.
async fn retry_after_outage(
    ctx: &JobContext,
    claimed: &ClaimedJob,
    err: &WorkerError,
    error: JobError,
    rendered: bool,
) -> JobOutcome {
    let lease = &claimed.lease;
    let job_id = lease.job_id.clone();
    let earlier = ctx.db.outage_retries(&job_id).await.unwrap_or(0);
    let delay = retry_delay(earlier + 1, fastrand::f64());
    let next_attempt_at = now_ms() + millis(delay);
    warn!(job = %job_id, code = %error.code, error = %err, retry_in_ms = millis(delay),
        "outage: the job waits without spending an attempt");
    match ctx
        .db
        .retry_job_after_outage(lease, &error, next_attempt_at, now_ms())
        .await
    {
        Err(StoreError::LeaseLost) => lost(ctx, lease, rendered).await,
        result => {
            if let Err(e) = result {
                warn!(job = %job_id, error = %e, "cannot schedule the retry; the lease will expire");
            }
            JobOutcome::Retrying {
                job_id,
                code: error.code,
                next_attempt_at,
            }
        }
    }
}

/// The lease is gone. The output keys are the same for every attempt of a revision, so they are
/// deleted only when no one will reference them: the job is gone, moved to another revision, or
/// ended without succeeding. While it is queued or running under someone else, the next attempt
/// overwrites them; once it succeeded, they are its outputs.
async fn lost(ctx: &JobContext, lease: &Lease, rendered: bool) -> JobOutcome {
    let job_id = lease.job_id.clone();
    let keys = output_keys(&job_id, lease.revision);
    let keep = match ctx.db.job_by_id(&job_id).await {
        Ok(Some(job)) => {
            job.current_revision == lease.revision
                && matches!(
                    job.status,
                    JobStatus::Queued | JobStatus::Running | JobStatus::Succeeded
                )
        }
        Ok(None) => false,
        Err(e) => {
            // Unsure: keeping is safe (a job's deletion also deletes its recorded outputs).
            warn!(job = %job_id, error = %e, "cannot read the job after losing its lease");
            true
        }
    };
    let mut deleted = Vec::new();
    if !keep {
        for key in keys {
            if ctx.media.head(&key).await.ok().flatten().is_none() {
                continue;
            }
            match ctx.media.delete(&key).await {
                Ok(()) => deleted.push(key),
                Err(e) => warn!(job = %job_id, key, error = %e, "cannot delete an orphaned output"),
            }
        }
    }
    JobOutcome::LeaseLost {
        job_id,
        rendered,
        deleted,
    }
}

/// A completed stage, for `reelsmith_stage_duration_seconds` (a stage cut short is not timed:
/// its duration would say nothing about how long the stage takes).
fn stage_done(stage: &'static str, started: Instant) {
    reelsmith_metrics::worker().observe_stage(stage, started.elapsed());
}

/// The `outcome` label of `reelsmith_renders_total`: a fixed word, never the job.
fn run_label(outcome: &JobOutcome) -> &'static str {
    match outcome {
        JobOutcome::Succeeded { .. } => "succeeded",
        JobOutcome::Failed { .. } => "failed",
        JobOutcome::Retrying { .. } => "retrying",
        JobOutcome::Released { .. } => "released",
        JobOutcome::LeaseLost { .. } => "lease_lost",
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

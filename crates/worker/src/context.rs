//! What the stages of a job share: the job's context, its stop signal, how the stages halt,
//! the fetched inputs and the worker's settings. Kept apart from the pipeline that sequences the
//! stages, so the stages (shots, voice, transcript) and the claim loop depend on this module and
//! the pipeline on them, never in a circle.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reelsmith_config::{Config, RetentionConfig};
use reelsmith_jobs::ProviderSet;
use reelsmith_media::align::transcript::HeardWord;
use reelsmith_media::render::EngineConfig;
use reelsmith_store::{Db, RunLimits, SealedMedia, StoreError};
use tracing::info;

use crate::error::WorkerError;

/// How a job's run ended, as far as this worker is concerned (for logs and tests).
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    Succeeded {
        job_id: String,
        /// True when a recorded `store` stage of an earlier attempt was reused.
        resumed: bool,
    },
    Failed {
        job_id: String,
        code: String,
    },
    Retrying {
        job_id: String,
        code: String,
        next_attempt_at: i64,
    },
    /// Given back to the queue at shutdown.
    Released {
        job_id: String,
    },
    /// The lease went (cancelled or taken over); `deleted` lists the objects this worker removed
    /// because nothing would reference them.
    LeaseLost {
        job_id: String,
        rendered: bool,
        deleted: Vec<String>,
    },
}

/// Why a running job should stop at its next check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    LeaseLost = 1,
    Shutdown = 2,
    /// The owner paused processing (P-RIGHTS-4) after the job was claimed: it goes back to the
    /// queue, which does not hand it out again until they resume.
    Paused = 3,
}

/// Shared between a job's task, its heartbeat and the render thread: the engine's cancel flag
/// plus the first reason it was raised.
#[derive(Clone, Default)]
pub struct StopSignal {
    flag: Arc<AtomicBool>,
    reason: Arc<AtomicU8>,
}

impl StopSignal {
    pub fn raise(&self, reason: StopReason) {
        let _ = self
            .reason
            .compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst);
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn reason(&self) -> Option<StopReason> {
        match self.reason.load(Ordering::SeqCst) {
            1 => Some(StopReason::LeaseLost),
            2 => Some(StopReason::Shutdown),
            3 => Some(StopReason::Paused),
            _ => None,
        }
    }

    /// The engine's cancel flag.
    pub(crate) fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }

    pub(crate) fn check(&self) -> Result<(), Halt> {
        self.reason().map_or(Ok(()), |r| Err(Halt::Stopped(r)))
    }
}

/// Stops the job when its owner paused processing after it was claimed (P-RIGHTS-4). Called
/// between stages and right before every request that carries the owner's data to a provider,
/// so a pause stops every later transfer of a running job, not only queued ones.
pub(crate) async fn ensure_not_paused(ctx: &JobContext, owner_id: &str) -> Result<(), Halt> {
    match ctx.db.user_by_id(owner_id).await? {
        Some(user) if !user.processing_paused => Ok(()),
        // Paused, or the account is gone: nothing more of theirs is processed or sent.
        _ => {
            info!(owner = %owner_id, "processing paused by the owner: the job goes back to the queue");
            Err(Halt::Stopped(StopReason::Paused))
        }
    }
}

/// Why the stages did not produce stored outputs.
#[derive(Debug)]
pub(crate) enum Halt {
    Stopped(StopReason),
    Failed(WorkerError),
}

impl From<WorkerError> for Halt {
    fn from(err: WorkerError) -> Self {
        match err {
            WorkerError::Store(StoreError::LeaseLost) => Halt::Stopped(StopReason::LeaseLost),
            other => Halt::Failed(other),
        }
    }
}

macro_rules! from_via_worker_error {
    ($($t:ty),*) => {$(
        impl From<$t> for Halt {
            fn from(err: $t) -> Self { Halt::from(WorkerError::from(err)) }
        }
    )*};
}
from_via_worker_error!(StoreError, reelsmith_store::ObjectError, std::io::Error);

/// Everything a job's task needs, cheap to clone.
#[derive(Clone)]
pub(crate) struct JobContext {
    pub db: Db,
    /// Media storage; uploads are read and outputs written under the job owner's key (P-SEC-2).
    pub media: SealedMedia,
    pub settings: Arc<WorkerSettings>,
    pub worker_id: String,
    /// The third-party shot providers jobs may name.
    pub providers: Arc<ProviderSet>,
}

/// The owner's uploads, downloaded into the work folder (`media` in the spec's order).
pub(crate) struct Inputs {
    pub media: Vec<PathBuf>,
    pub voice: Option<PathBuf>,
    /// The music track: an upload fetched here, or a file of the operator's library.
    pub music: Option<PathBuf>,
    pub upload_ids: Vec<String>,
    pub bytes: u64,
    /// What a transcription service heard in `voice`, to time the captions by.
    pub heard: Option<Vec<HeardWord>>,
}

/// How one worker behaves. [`WorkerSettings::from_config`] reads the platform configuration.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs this worker runs at once.
    pub concurrency: usize,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub max_attempts: u32,
    pub limits: RunLimits,
    /// Work folders go in `<temp_dir>/work/`.
    pub temp_dir: PathBuf,
    pub engine: EngineConfig,
    /// How often an idle worker looks for work.
    pub poll_interval: Duration,
    /// How long shutdown waits for running jobs before stopping and releasing them.
    pub shutdown_grace: Duration,
    /// The retention policy the periodic sweep applies (P-RET-1..4).
    pub retention: RetentionConfig,
    /// How often the sweep runs; the first runs when the worker starts.
    pub sweep_interval: Duration,
    /// How long the store stage retries an upload the media store refuses, keeping the render.
    pub store_retry: Duration,
    /// How long after submission a job still waits out outages without spending attempts.
    pub outage_patience: Duration,
    /// The image classifier (`[sharing.image_check]`), when the operator set one up.
    pub image_check: Option<Arc<reelsmith_safety::classifier::ImageClassifier>>,
    /// `[stock]`: the media library folder, the stock keys and the download limits.
    pub stock: reelsmith_config::StockConfig,
}

impl WorkerSettings {
    pub fn from_config(config: &Config) -> WorkerSettings {
        let w = &config.worker;
        let mut engine = EngineConfig {
            limits: config.limits.clone(),
            ..EngineConfig::default()
        };
        engine.encode.preset = config.render.x264_preset.clone();
        engine.encode.crf = config.render.crf;
        engine.music_library = config.music.library.clone();
        engine.speech = reelsmith_jobs::speech::speech_config(config);
        WorkerSettings {
            concurrency: w.concurrency.max(1),
            lease: Duration::from_secs(w.lease_seconds.max(1)),
            heartbeat: Duration::from_secs(w.heartbeat_seconds.max(1)),
            max_attempts: w.max_attempts.max(1),
            limits: RunLimits {
                per_user: w.per_user_running_jobs.max(1),
                global: w.global_running_jobs.max(1),
            },
            temp_dir: w.temp_dir.clone(),
            engine,
            poll_interval: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(w.shutdown_grace_seconds),
            retention: config.retention.clone(),
            sweep_interval: Duration::from_secs(
                u64::from(config.retention.sweep_minutes.max(1)) * 60,
            ),
            store_retry: Duration::from_secs(w.store_retry_seconds),
            outage_patience: Duration::from_secs(w.outage_patience_minutes.saturating_mul(60)),
            image_check: image_check(config),
            stock: config.stock.clone(),
        }
    }
}

/// The process's image classifier. `reelsmith serve` and `reelsmith worker` refuse to start
/// when the configured model is unusable, so an error here is only logged.
fn image_check(config: &Config) -> Option<Arc<reelsmith_safety::classifier::ImageClassifier>> {
    reelsmith_safety::classifier::ImageClassifier::shared(&config.sharing.image_check)
        .unwrap_or_else(|err| {
            tracing::error!(code = %err.code(), error = %err, "the image classifier is unusable: images are not checked");
            None
        })
}

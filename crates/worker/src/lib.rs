//! Reelsmith's job pipeline. A [`Worker`] claims jobs from the queue (`reelsmith-store`) and runs
//! each one in its own task through three stages: `fetch` (the owner's uploads into a private work
//! folder), `render` (the studio engine) and `store` (the outputs under deterministic object keys),
//! then finishes, retries with backoff, fails or releases it. A heartbeat keeps the lease; losing
//! it (cancelled, taken over) stops the render at the next frame.
//!
//! Processes share nothing but the database and media storage: a job whose worker died is taken
//! over by any other worker once its lease expires, and work folders left by dead processes are
//! removed when a worker starts.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod backoff;
mod context;
pub mod error;
mod image_check;
pub mod keys;
pub mod metrics_endpoint;
pub mod notify;
pub mod pipeline;
pub mod retention;
pub mod shots;
mod stock_pictures;
mod transcript;
mod voice;
pub mod webhooks;
pub mod workdir;
pub mod worker;

pub use error::WorkerError;
pub use notify::JobMail;
pub use pipeline::JobOutcome;
pub use providers::ProviderSet;
/// Planning and provider wiring live in `reelsmith-jobs`, shared with the API server; these
/// paths are kept for the stages and embedders that name them here.
pub use reelsmith_jobs::plan as job_plan;
pub use reelsmith_jobs::providers;
pub use reelsmith_jobs::speech as speech_settings;
pub use reelsmith_jobs::{plan_job, JobPlan, JobPlanError, VoicePlan};
pub use retention::{sweep, RetentionError, RetentionReport};
pub use worker::{process_worker_id, Worker, WorkerSettings};

//! What Reelsmith's API server and its workers share about a job, so that neither depends on
//! the other: the plan (provider, model, shots and price) made once when a job is submitted and
//! stored with it, the model registry planning reads, the wiring of the configured providers,
//! and the typed names of stages, events and usage records.
//!
//! `reelsmith-server` quotes and stores the plan; `reelsmith-worker` executes the stored plan.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod plan;
pub mod providers;
pub mod registry;
pub mod speech;
pub mod stages;
pub mod storyboard;
pub mod usage;
pub mod webhooks;

pub use plan::{
    plan_job, plan_job_with, plan_storyboard_with, JobPlan, JobPlanError, RequestLimits,
    SceneShots, StoredPlan, StoredPlanError, VoicePlan, PLAN_VERSION,
};
pub use providers::{call_policy, script_writer, ProviderSet};
pub use registry::ModelRegistry;
pub use stages::{EventKind, Stage, WEBHOOK_EVENT};
pub use storyboard::{Scene, Storyboard, StoryboardError, Visual};
pub use usage::{MusicUsage, StageMs, Usage};

//! A finished job's usage record (P-IN-6): engine, model, time per stage, output length and
//! size, and for provider jobs what was generated and what it cost. Built as one value by the
//! worker and stored as JSON with the job; the server serves it as is.

use std::collections::BTreeMap;

use reelsmith_media::mix::LoudnessReport;
use serde::{Deserialize, Serialize};

use crate::plan::JobPlan;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Always `studio`: the engine that composes, even of a provider's shots.
    pub engine: String,
    /// `built-in` for the studio engine, else the provider's model.
    pub model: String,
    pub stage_ms: StageMs,
    /// The engine's own stages (`plan`, `speech`, `align`, ...).
    pub render_stage_ms: BTreeMap<String, u64>,
    pub output_seconds: f64,
    /// Each scene's length as narrated, in order (a storyboard shows them once rendered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scene_seconds: Vec<f64>,
    pub output_bytes: u64,
    /// Bytes of each output file by name.
    pub file_bytes: BTreeMap<String, u64>,
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub loudness: LoudnessReport,
    /// The local voice that read the script (null for a silent or cloud-voiced job).
    #[serde(default)]
    pub voice: Option<String>,
    /// What the speech stage noted (an English fallback for an unsupported language, ...).
    #[serde(default)]
    pub speech_notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub music: Option<MusicUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The quote the job was charged (the stored plan's price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shots: Option<usize>,
}

/// Wall time of the worker's stages, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StageMs {
    pub fetch: u64,
    pub render: u64,
    pub store: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shots: Option<u64>,
}

/// The background music a job used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MusicUsage {
    /// `library` or `upload`.
    pub source: String,
    pub level_db: i32,
}

/// The engine and model of a studio-engine job.
pub const STUDIO_ENGINE: &str = "studio";
pub const BUILT_IN_MODEL: &str = "built-in";

impl Usage {
    /// Records the provider's part of a job: the plan it executed and how long its shots took.
    pub fn with_provider(mut self, plan: &JobPlan, shots_ms: u64) -> Usage {
        self.engine = STUDIO_ENGINE.to_owned();
        self.provider = Some(plan.provider.clone());
        self.model = plan.model.clone();
        self.credits = Some(plan.credits);
        self.shots = Some(plan.shot_count());
        self.stage_ms.shots = Some(shots_ms);
        self
    }

    pub fn to_value(&self) -> serde_json::Value {
        // Strings, numbers and maps of them always serialise.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

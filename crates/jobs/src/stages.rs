//! The names a job's stages and events go by, typed: the worker records them, the server and
//! the studio read them back, and a misspelt literal would silently match nothing.

use serde::{Deserialize, Serialize};

/// A pipeline stage: reported as the job's `stage` while it runs, and the key of its recorded
/// output (so a retry can resume after it) and of its time in the usage record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The owner's uploads into the work folder.
    Fetch,
    /// Scene prompts written by the chat model (recorded so a retry does not pay again).
    Prompts,
    /// The provider's shots.
    Shots,
    /// Word timings of a voice recording.
    Transcript,
    /// The studio engine.
    Render,
    /// The outputs under their object keys.
    Store,
}

impl Stage {
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::Prompts => "prompts",
            Stage::Shots => "shots",
            Stage::Transcript => "transcript",
            Stage::Render => "render",
            Stage::Store => "store",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<Stage> for str {
    fn eq(&self, other: &Stage) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Stage> for String {
    fn eq(&self, other: &Stage) -> bool {
        self.as_str() == other.as_str()
    }
}

/// The kinds of a job's event log entries the server and the worker write or look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Queued,
    Started,
    Progress,
    Retrying,
    Released,
    Succeeded,
    Failed,
    Cancelled,
    /// A provider's webhook said one of the job's requests ended: the waiting worker looks now.
    ProviderWebhook,
}

impl EventKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Started => "started",
            EventKind::Progress => "progress",
            EventKind::Retrying => "retrying",
            EventKind::Released => "released",
            EventKind::Succeeded => "succeeded",
            EventKind::Failed => "failed",
            EventKind::Cancelled => "cancelled",
            EventKind::ProviderWebhook => "provider.webhook",
        }
    }
}

impl PartialEq<EventKind> for str {
    fn eq(&self, other: &EventKind) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<EventKind> for String {
    fn eq(&self, other: &EventKind) -> bool {
        self.as_str() == other.as_str()
    }
}

/// The job event the server appends when a provider's webhook says a request ended.
pub const WEBHOOK_EVENT: &str = EventKind::ProviderWebhook.as_str();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_are_their_serde_names() {
        for stage in [
            Stage::Fetch,
            Stage::Prompts,
            Stage::Shots,
            Stage::Transcript,
            Stage::Render,
            Stage::Store,
        ] {
            assert_eq!(
                serde_json::to_value(stage).unwrap(),
                serde_json::json!(stage.as_str())
            );
            assert!(*stage.as_str() == stage);
        }
        assert!(*"provider.webhook" == EventKind::ProviderWebhook);
    }
}

//! The model registry as one process sees it: the built-in table of `reelsmith-providers`, with
//! any models this process was told to see differently. Planning reads it only at submission;
//! a queued job carries its own plan, so a change here never reaches a job already quoted.

use std::sync::{Arc, PoisonError, RwLock};

use reelsmith_providers::registry::{lookup, ModelCaps};

/// A cheap handle; clones share the same view.
#[derive(Debug, Clone, Default)]
pub struct ModelRegistry {
    changed: Arc<RwLock<Vec<ModelCaps>>>,
}

impl ModelRegistry {
    /// The model's capabilities and price, `None` when no registry entry has that name.
    pub fn lookup(&self, provider: Option<&str>, model: Option<&str>) -> Option<ModelCaps> {
        let base = lookup(provider, model)?;
        let changed = self.changed.read().unwrap_or_else(PoisonError::into_inner);
        Some(
            changed
                .iter()
                .find(|c| c.provider == base.provider && c.model == base.model)
                .cloned()
                .unwrap_or_else(|| base.clone()),
        )
    }

    /// Replaces a model's entry (same provider and model name) from now on: a new price list or
    /// new capabilities, as a new release would bring.
    pub fn replace(&self, caps: ModelCaps) {
        let mut changed = self.changed.write().unwrap_or_else(PoisonError::into_inner);
        changed.retain(|c| !(c.provider == caps.provider && c.model == caps.model));
        changed.push(caps);
    }
}

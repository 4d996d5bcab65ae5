//! The model registry as one process sees it: the built-in table of `reelsmith-providers` with the
//! operator's configured models (`[[providers.models]]`), and any models this process was told to
//! see differently. Planning reads it only at submission; a queued job carries its own plan, so a
//! change here never reaches a job already quoted.

use std::borrow::Cow;
use std::sync::{Arc, PoisonError, RwLock};

use reelsmith_config::{ModelConfig, ModelDurations, ProvidersConfig, SHOT_PROVIDERS};
use reelsmith_core::choices::Choice;
use reelsmith_core::spec::{Aspect, Resolution};
use reelsmith_providers::registry::{Durations, ModelCaps, Models, Price};
use reelsmith_providers::ShotKind;

/// A cheap handle; clones share the same view.
#[derive(Debug, Clone, Default)]
pub struct ModelRegistry {
    base: Models,
    changed: Arc<RwLock<Vec<ModelCaps>>>,
}

impl ModelRegistry {
    /// The built-in models with `models` as configured.
    pub fn new(base: Models) -> ModelRegistry {
        ModelRegistry {
            base,
            changed: Arc::default(),
        }
    }

    /// The registry of an installation's configuration (the built-in table when it adds none).
    pub fn from_config(config: &ProvidersConfig) -> Result<ModelRegistry, String> {
        configured_models(config).map(ModelRegistry::new)
    }

    /// The models adapters check requests against.
    pub fn models(&self) -> &Models {
        &self.base
    }

    /// Every model, in listing order (built-in ones first), as this process sees them.
    pub fn all(&self) -> Vec<ModelCaps> {
        self.base
            .all()
            .iter()
            .map(|m| {
                self.lookup(Some(m.provider), Some(&m.model))
                    .unwrap_or_else(|| m.clone())
            })
            .collect()
    }

    /// The model's capabilities and price, `None` when no registry entry has that name.
    pub fn lookup(&self, provider: Option<&str>, model: Option<&str>) -> Option<ModelCaps> {
        let base = self.base.lookup(provider, model)?;
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

/// The built-in models with the configured ones. The configuration was validated when it was
/// loaded (`reelsmith_config::models::problems`), so every entry converts; one that does not is
/// refused with the validation's sentence rather than guessed at.
pub fn configured_models(config: &ProvidersConfig) -> Result<Models, String> {
    if let Some((key, why)) = reelsmith_config::models::problems(&config.models)
        .into_iter()
        .next()
    {
        return Err(format!("{key}: {why}"));
    }
    let caps = config
        .models
        .iter()
        .map(|m| {
            model_caps(m).ok_or_else(|| format!("{} model `{}` is not usable", m.provider, m.id))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Models::with_configured(caps))
}

fn model_caps(m: &ModelConfig) -> Option<ModelCaps> {
    let provider = SHOT_PROVIDERS.into_iter().find(|p| *p == m.provider)?;
    let kinds = m
        .kinds
        .iter()
        .map(|k| serde_json::from_value::<ShotKind>(serde_json::json!(k)).ok())
        .collect::<Option<Vec<_>>>()?;
    let durations = match &m.durations {
        None if m.makes_images() => Durations::Still,
        None => return None,
        Some(ModelDurations::List(list)) => {
            let mut list = list.clone();
            list.sort_unstable();
            list.dedup();
            Durations::Fixed(Cow::Owned(list))
        }
        Some(ModelDurations::Range(r)) => Durations::Range {
            min: r.min,
            max: r.max,
        },
    };
    let aspects = m
        .aspects
        .iter()
        .map(|a| Aspect::from_name(a).map(Aspect::name))
        .collect::<Option<Vec<_>>>()?;
    let resolutions = m
        .resolutions
        .iter()
        .map(|r| Resolution::from_name(r).map(Resolution::name))
        .collect::<Option<Vec<_>>>()?;
    let price = match (m.credits_per_second, m.credits_per_image) {
        (Some(c), None) => Price::PerSecond(c),
        (None, Some(c)) => Price::PerImage(c),
        _ => return None,
    };
    Some(ModelCaps {
        provider,
        model: Cow::Owned(m.id.clone()),
        kinds: Cow::Owned(kinds),
        durations,
        aspects: Cow::Owned(aspects),
        resolutions: Cow::Owned(resolutions),
        native_audio: m.native_audio,
        negative_prompt: m.negative_prompt,
        max_prompt_chars: m.max_prompt_chars,
        price,
        input: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelsmith_config::DurationRange;

    fn configured(id: &str, price: u32) -> ModelConfig {
        ModelConfig {
            provider: "fal".into(),
            id: id.into(),
            kinds: vec!["text-to-video".into()],
            durations: Some(ModelDurations::Range(DurationRange { min: 2, max: 8 })),
            aspects: vec!["9:16".into(), "16:9".into()],
            resolutions: vec!["720p".into()],
            native_audio: false,
            negative_prompt: true,
            max_prompt_chars: 900,
            credits_per_second: Some(price),
            credits_per_image: None,
        }
    }

    #[test]
    fn configured_models_follow_the_builtins_and_may_replace_one() {
        let kling = "fal-ai/kling-video/v2.1/master/text-to-video";
        let config = ProvidersConfig {
            models: vec![configured("fal-ai/ltx-video", 2), configured(kling, 7)],
            ..ProvidersConfig::default()
        };
        let registry = ModelRegistry::from_config(&config).unwrap();
        let all = registry.all();
        assert_eq!(
            all.len(),
            reelsmith_providers::registry::MODELS.len() + 1,
            "one new model; the other replaced its built-in"
        );
        let ltx = registry
            .lookup(Some("fal"), Some("fal-ai/ltx-video"))
            .unwrap();
        assert_eq!(&*all.last().unwrap().model, "fal-ai/ltx-video");
        assert_eq!((ltx.credits(5), ltx.input), (10, None));
        assert_eq!(ltx.durations, Durations::Range { min: 2, max: 8 });
        assert_eq!(&*ltx.aspects, ["9:16", "16:9"]);
        let replaced = registry.lookup(Some("fal"), Some(kling)).unwrap();
        assert_eq!(replaced.credits(10), 70, "the configured price");
        assert!(
            replaced.input.is_some(),
            "a replaced built-in keeps its documented input"
        );
        assert_eq!(
            ModelRegistry::from_config(&ProvidersConfig::default())
                .unwrap()
                .all()
                .len(),
            reelsmith_providers::registry::MODELS.len()
        );
    }
}

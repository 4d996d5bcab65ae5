//! Provider models added by the operator (`[[providers.models]]`): a model a provider started to
//! offer, or a built-in one with a new price, served by one of the adapters Reelsmith has,
//! without waiting for a release. What a model can do is checked here, once, so a job is never
//! quoted against a model that cannot exist (D-models-1).

use reelsmith_core::choices::Choice;
use reelsmith_core::spec::{Aspect, Resolution};
use serde::{Deserialize, Serialize};

use crate::providers::SHOT_PROVIDERS;

/// What a shot can be, by its wire name (the providers' `ShotKind`).
pub const MODEL_KINDS: [&str; 3] = ["text-to-video", "image-to-video", "text-to-image"];

/// The longest shot a configured model may promise, in seconds (the studio engine's limit).
pub const MAX_SHOT_SECONDS: u32 = 600;

/// One configured model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The adapter that calls it: `fal`, `replicate`, `veo`, `atlas`, `kie` or `comfyui`.
    pub provider: String,
    /// The provider's model id, which is also the job's `model` (fal: the endpoint path).
    pub id: String,
    /// `text-to-video`, `image-to-video` and/or `text-to-image` (an image model makes no video).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// The shot lengths it makes: a list of seconds (`[5, 10]`) or a range
    /// (`{ min = 1, max = 10 }`). Required for video, absent for an image model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durations: Option<ModelDurations>,
    /// Aspect ratios it makes, from `16:9`, `9:16`, `1:1`.
    #[serde(default)]
    pub aspects: Vec<String>,
    /// Resolutions it can be asked for, from `480p`, `720p`, `1080p`; empty when the provider
    /// picks.
    #[serde(default)]
    pub resolutions: Vec<String>,
    #[serde(default)]
    pub native_audio: bool,
    /// Whether it takes a negative prompt.
    #[serde(default)]
    pub negative_prompt: bool,
    /// The longest prompt it accepts, in characters.
    #[serde(default)]
    pub max_prompt_chars: usize,
    /// Price of a video model, in credits per second of output (1 credit = 0.01 USD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_per_second: Option<u32>,
    /// Price of an image model, in credits per image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_per_image: Option<u32>,
}

/// The shot lengths of a configured model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of seconds such as [5, 10] or a range such as { min = 1, max = 10 }"
)]
pub enum ModelDurations {
    List(Vec<u32>),
    Range(DurationRange),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurationRange {
    pub min: u32,
    pub max: u32,
}

impl ModelConfig {
    /// True for a model that makes still images only.
    pub fn makes_images(&self) -> bool {
        !self.kinds.is_empty() && self.kinds.iter().all(|k| k == "text-to-image")
    }

    /// Everything wrong with this entry, each a sentence.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !SHOT_PROVIDERS.contains(&self.provider.as_str()) {
            out.push(format!(
                "provider `{}` is not one of Reelsmith's adapters ({})",
                self.provider,
                SHOT_PROVIDERS.join(", ")
            ));
        }
        if self.id.trim().is_empty() || self.id.chars().any(|c| c.is_whitespace()) {
            out.push("the id must be the provider's model id, without spaces".into());
        }
        if self.kinds.is_empty() {
            out.push(format!(
                "no kinds (give some of {})",
                MODEL_KINDS.join(", ")
            ));
        }
        for kind in &self.kinds {
            if !MODEL_KINDS.contains(&kind.as_str()) {
                out.push(format!(
                    "kind `{kind}` is not one of {}",
                    MODEL_KINDS.join(", ")
                ));
            }
        }
        let image = self.kinds.iter().any(|k| k == "text-to-image");
        if image && !self.makes_images() {
            out.push("a model makes either images or video, not both".into());
        }
        out.extend(self.duration_problems());
        out.extend(self.price_problems());
        if self.aspects.is_empty() {
            out.push("no aspects (give some of 16:9, 9:16, 1:1)".into());
        }
        for aspect in &self.aspects {
            if Aspect::from_name(aspect).is_none() {
                out.push(format!(
                    "aspect `{aspect}` is not one of {}",
                    names::<Aspect>()
                ));
            }
        }
        for resolution in &self.resolutions {
            if Resolution::from_name(resolution).is_none() {
                out.push(format!(
                    "resolution `{resolution}` is not one of {}",
                    names::<Resolution>()
                ));
            }
        }
        if self.max_prompt_chars == 0 {
            out.push("max_prompt_chars must be at least 1".into());
        }
        out
    }

    fn duration_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match (&self.durations, self.makes_images()) {
            (Some(_), true) => out.push("an image model has no durations".into()),
            (None, false) if !self.kinds.is_empty() => {
                out.push("a video model needs durations (a list or { min, max })".into())
            }
            (Some(ModelDurations::List(list)), _) => {
                if list.is_empty() {
                    out.push("durations is an empty list".into());
                }
                if list.iter().any(|&s| s == 0 || s > MAX_SHOT_SECONDS) {
                    out.push(format!(
                        "every duration must be 1 to {MAX_SHOT_SECONDS} seconds"
                    ));
                }
            }
            (Some(ModelDurations::Range(DurationRange { min, max })), _)
                if *min == 0 || max < min || *max > MAX_SHOT_SECONDS =>
            {
                out.push(format!(
                    "durations {{ min = {min}, max = {max} }} is not a range within 1 to {MAX_SHOT_SECONDS} seconds"
                ))
            }
            _ => {}
        }
        out
    }

    fn price_problems(&self) -> Vec<String> {
        match (self.credits_per_second, self.credits_per_image) {
            (None, None) => vec![format!(
                "no price (give {})",
                if self.makes_images() {
                    "credits_per_image"
                } else {
                    "credits_per_second"
                }
            )],
            (Some(_), Some(_)) => {
                vec!["give credits_per_second or credits_per_image, not both".into()]
            }
            (Some(_), None) if self.makes_images() => {
                vec!["an image model is priced by credits_per_image".into()]
            }
            (None, Some(_)) if !self.makes_images() && !self.kinds.is_empty() => {
                vec!["a video model is priced by credits_per_second".into()]
            }
            _ => Vec::new(),
        }
    }
}

fn names<T: Choice>() -> String {
    T::ALL
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every problem of the configured models, as (key, message) with the model named.
pub fn problems(models: &[ModelConfig]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, m) in models.iter().enumerate() {
        let key = format!("providers.models[{i}]");
        let named = format!("{} model `{}`", m.provider, m.id);
        for why in m.problems() {
            out.push((key.clone(), format!("{named}: {why}")));
        }
        if models[..i]
            .iter()
            .any(|o| o.provider == m.provider && o.id == m.id)
        {
            out.push((key, format!("{named}: configured twice")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flux_dev() -> ModelConfig {
        ModelConfig {
            provider: "fal".into(),
            id: "fal-ai/flux/dev".into(),
            kinds: vec!["text-to-image".into()],
            durations: None,
            aspects: vec!["16:9".into(), "1:1".into()],
            resolutions: Vec::new(),
            native_audio: false,
            negative_prompt: false,
            max_prompt_chars: 2000,
            credits_per_second: None,
            credits_per_image: Some(3),
        }
    }

    fn one_problem(m: ModelConfig) -> String {
        let p = problems(&[m]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "providers.models[0]");
        p[0].1.clone()
    }

    #[test]
    fn a_sound_model_has_no_problem() {
        assert!(problems(&[flux_dev()]).is_empty());
        let video = ModelConfig {
            id: "fal-ai/ltx-video".into(),
            kinds: vec!["text-to-video".into()],
            durations: Some(ModelDurations::Range(DurationRange { min: 2, max: 8 })),
            credits_per_second: Some(2),
            credits_per_image: None,
            ..flux_dev()
        };
        assert!(problems(&[flux_dev(), video]).is_empty());
    }

    #[test]
    fn impossible_models_are_named_with_their_problem() {
        let m = one_problem(ModelConfig {
            kinds: Vec::new(),
            ..flux_dev()
        });
        assert!(
            m.starts_with("fal model `fal-ai/flux/dev`: no kinds"),
            "{m}"
        );
        let m = one_problem(ModelConfig {
            kinds: vec!["text-to-video".into()],
            durations: Some(ModelDurations::Range(DurationRange { min: 6, max: 4 })),
            credits_per_second: Some(1),
            credits_per_image: None,
            ..flux_dev()
        });
        assert!(m.contains("{ min = 6, max = 4 }"), "{m}");
        let m = one_problem(ModelConfig {
            kinds: vec!["text-to-video".into()],
            durations: Some(ModelDurations::Range(DurationRange { min: 0, max: 0 })),
            credits_per_second: Some(1),
            credits_per_image: None,
            ..flux_dev()
        });
        assert!(m.contains("not a range"), "{m}");
        let m = one_problem(ModelConfig {
            aspects: vec!["4:3".into()],
            ..flux_dev()
        });
        assert!(
            m.contains("aspect `4:3` is not one of 16:9, 9:16, 1:1"),
            "{m}"
        );
        let m = one_problem(ModelConfig {
            resolutions: vec!["4k".into()],
            ..flux_dev()
        });
        assert!(m.contains("resolution `4k`"), "{m}");
        let m = one_problem(ModelConfig {
            provider: "midjourney".into(),
            ..flux_dev()
        });
        assert!(
            m.contains("`midjourney` is not one of Reelsmith's adapters"),
            "{m}"
        );
        let m = one_problem(ModelConfig {
            credits_per_image: None,
            ..flux_dev()
        });
        assert!(m.ends_with("no price (give credits_per_image)"), "{m}");
        let mixed = problems(&[ModelConfig {
            kinds: vec!["text-to-image".into(), "text-to-video".into()],
            ..flux_dev()
        }]);
        assert!(
            mixed
                .iter()
                .any(|(_, m)| m.contains("either images or video")),
            "{mixed:?}"
        );
        let twice = problems(&[flux_dev(), flux_dev()]);
        assert_eq!(
            twice,
            [(
                "providers.models[1]".to_string(),
                "fal model `fal-ai/flux/dev`: configured twice".to_string()
            )]
        );
    }
}

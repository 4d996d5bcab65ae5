//! What each model can do and what it costs. The planner snaps shots to these capabilities and
//! the adapters refuse requests outside them before spending a call.
//!
//! Prices are credits per second of output (1 credit = 0.01 USD), from the providers' list
//! prices when this table was written; images are priced per image. They are estimates for
//! budgeting, not invoices: the provider's own bill is the truth.

use crate::{ProviderError, ShotKind, ShotRequest};

/// The output lengths a model accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durations {
    /// Only these lengths, in seconds, ascending (Kling: 5 or 10).
    Fixed(&'static [u32]),
    /// Any whole number of seconds in this range (the studio engine, ComfyUI workflows).
    Range { min: u32, max: u32 },
    /// A still image: no duration.
    Still,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Price {
    PerSecond(u32),
    PerImage(u32),
}

/// One model's capabilities. `provider` and `model` are the job's `provider` and `model` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCaps {
    pub provider: &'static str,
    pub model: &'static str,
    pub kinds: &'static [ShotKind],
    pub durations: Durations,
    pub aspects: &'static [&'static str],
    /// Empty when the provider picks the resolution itself.
    pub resolutions: &'static [&'static str],
    pub native_audio: bool,
    pub negative_prompt: bool,
    /// Longest prompt accepted, in characters.
    pub max_prompt_chars: usize,
    pub price: Price,
}

/// The built-in engine: what a job gets when it names no provider.
pub const DEFAULT_PROVIDER: &str = "studio";
pub const DEFAULT_MODEL: &str = "studio";

const T2V: &[ShotKind] = &[ShotKind::TextToVideo];
const I2V: &[ShotKind] = &[ShotKind::ImageToVideo];
const T2V_I2V: &[ShotKind] = &[ShotKind::TextToVideo, ShotKind::ImageToVideo];
const T2I: &[ShotKind] = &[ShotKind::TextToImage];
const WIDE_TALL_SQUARE: &[&str] = &["16:9", "9:16", "1:1"];
const WIDE_TALL: &[&str] = &["16:9", "9:16"];
const KLING: Durations = Durations::Fixed(&[5, 10]);
const VEO: Durations = Durations::Fixed(&[4, 6, 8]);

pub static MODELS: &[ModelCaps] = &[
    ModelCaps {
        provider: "studio",
        model: "studio",
        kinds: T2V_I2V,
        durations: Durations::Range { min: 1, max: 600 },
        aspects: WIDE_TALL_SQUARE,
        resolutions: &["720p", "1080p"],
        native_audio: true,
        negative_prompt: false,
        max_prompt_chars: 20_000,
        price: Price::PerSecond(0),
    },
    ModelCaps {
        provider: "fal",
        model: "fal-ai/kling-video/v2.1/standard/text-to-video",
        kinds: T2V,
        durations: KLING,
        aspects: WIDE_TALL_SQUARE,
        resolutions: &[],
        native_audio: false,
        negative_prompt: true,
        max_prompt_chars: 2500,
        price: Price::PerSecond(5),
    },
    ModelCaps {
        provider: "fal",
        model: "fal-ai/kling-video/v2.1/standard/image-to-video",
        kinds: I2V,
        durations: KLING,
        aspects: WIDE_TALL_SQUARE,
        resolutions: &[],
        native_audio: false,
        negative_prompt: true,
        max_prompt_chars: 2500,
        price: Price::PerSecond(5),
    },
    ModelCaps {
        provider: "fal",
        model: "fal-ai/veo3.1",
        kinds: T2V,
        durations: VEO,
        aspects: WIDE_TALL,
        resolutions: &["720p", "1080p"],
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 20_000,
        price: Price::PerSecond(40),
    },
    ModelCaps {
        provider: "fal",
        model: "fal-ai/flux/schnell",
        kinds: T2I,
        durations: Durations::Still,
        aspects: WIDE_TALL_SQUARE,
        resolutions: &[],
        native_audio: false,
        negative_prompt: false,
        max_prompt_chars: 2000,
        price: Price::PerImage(1),
    },
    ModelCaps {
        provider: "replicate",
        model: "kwaivgi/kling-v2.1",
        kinds: I2V,
        durations: KLING,
        aspects: WIDE_TALL_SQUARE,
        resolutions: &["720p", "1080p"],
        native_audio: false,
        negative_prompt: true,
        max_prompt_chars: 2500,
        price: Price::PerSecond(5),
    },
    ModelCaps {
        provider: "replicate",
        model: "google/veo-3.1",
        kinds: T2V_I2V,
        durations: VEO,
        aspects: WIDE_TALL,
        resolutions: &["720p", "1080p"],
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 20_000,
        price: Price::PerSecond(40),
    },
    ModelCaps {
        provider: "veo",
        model: "veo-3.1-generate-preview",
        kinds: T2V_I2V,
        durations: VEO,
        aspects: WIDE_TALL,
        resolutions: &["720p", "1080p"],
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 4000,
        price: Price::PerSecond(40),
    },
    ModelCaps {
        provider: "veo",
        model: "veo-3.1-fast-generate-preview",
        kinds: T2V_I2V,
        durations: VEO,
        aspects: WIDE_TALL,
        resolutions: &["720p", "1080p"],
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 4000,
        price: Price::PerSecond(15),
    },
    ModelCaps {
        provider: "atlas",
        model: "google/veo3.1/text-to-video",
        kinds: T2V,
        durations: VEO,
        aspects: WIDE_TALL,
        resolutions: &["720p", "1080p"],
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 4000,
        price: Price::PerSecond(20),
    },
    ModelCaps {
        provider: "atlas",
        model: "google/veo3.1/image-to-video",
        kinds: I2V,
        durations: VEO,
        aspects: WIDE_TALL,
        resolutions: &["720p", "1080p"],
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 4000,
        price: Price::PerSecond(20),
    },
    ModelCaps {
        provider: "comfyui",
        model: "workflow",
        kinds: T2V_I2V,
        durations: Durations::Range { min: 1, max: 10 },
        aspects: WIDE_TALL_SQUARE,
        resolutions: &[],
        native_audio: false,
        negative_prompt: true,
        max_prompt_chars: 10_000,
        price: Price::PerSecond(0),
    },
];

/// The capabilities of `provider`/`model`; `None` for either selects the studio engine.
pub fn lookup(provider: Option<&str>, model: Option<&str>) -> Option<&'static ModelCaps> {
    let provider = provider.unwrap_or(DEFAULT_PROVIDER);
    let found: Vec<&ModelCaps> = MODELS.iter().filter(|m| m.provider == provider).collect();
    match model {
        Some(model) => found.into_iter().find(|m| m.model == model),
        // A provider named without a model means its first (listed) model.
        None => found.into_iter().next(),
    }
}

/// The capabilities of `model` at `provider`, refusing a model the registry does not list
/// (named as the request named it, `shown`) or a request the model cannot serve, before any call.
pub fn checked(
    provider: &str,
    model: &str,
    shown: &str,
    req: &ShotRequest,
) -> Result<&'static ModelCaps, ProviderError> {
    let caps = lookup(Some(provider), Some(model)).ok_or_else(|| ProviderError::Unsupported {
        model: shown.to_string(),
        reason: format!("`{provider}` has no such model in the registry"),
    })?;
    caps.check(req)?;
    Ok(caps)
}

impl ModelCaps {
    /// Credits for one shot of `seconds` (one image for a still model).
    pub fn credits(&self, seconds: u32) -> u64 {
        match self.price {
            Price::PerSecond(c) => c as u64 * seconds as u64,
            Price::PerImage(c) => c as u64,
        }
    }

    pub fn allows_duration(&self, seconds: u32) -> bool {
        match self.durations {
            Durations::Fixed(list) => list.contains(&seconds),
            Durations::Range { min, max } => (min..=max).contains(&seconds),
            Durations::Still => true,
        }
    }

    /// Refuses a request the model cannot serve, naming the first reason, before any call.
    pub fn check(&self, req: &ShotRequest) -> Result<(), ProviderError> {
        let unsupported = |reason: String| ProviderError::Unsupported {
            model: self.model.to_string(),
            reason,
        };
        if !self.kinds.contains(&req.kind) {
            return Err(unsupported(format!("does not do {:?}", req.kind)));
        }
        if req.kind != ShotKind::TextToImage && !self.allows_duration(req.duration_s) {
            return Err(unsupported(format!(
                "cannot make {} s shots (allowed: {:?})",
                req.duration_s, self.durations
            )));
        }
        if !self.aspects.contains(&req.aspect.as_str()) {
            return Err(unsupported(format!(
                "aspect ratio {} is not one of {:?}",
                req.aspect, self.aspects
            )));
        }
        if let Some(res) = &req.resolution {
            if !self.resolutions.is_empty() && !self.resolutions.contains(&res.as_str()) {
                return Err(unsupported(format!(
                    "resolution {res} is not one of {:?}",
                    self.resolutions
                )));
            }
        }
        if req.negative_prompt.is_some() && !self.negative_prompt {
            return Err(unsupported("takes no negative prompt".into()));
        }
        if req.prompt.chars().count() > self.max_prompt_chars {
            return Err(unsupported(format!(
                "the prompt is longer than {} characters",
                self.max_prompt_chars
            )));
        }
        if (req.kind == ShotKind::ImageToVideo) != req.image.is_some() {
            return Err(unsupported(
                "image-to-video needs exactly one input image, the others none".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_provider_means_the_studio_engine() {
        let caps = lookup(None, None).unwrap();
        assert_eq!((caps.provider, caps.model), ("studio", "studio"));
        assert_eq!(caps.credits(30), 0);
    }

    #[test]
    fn lookup_finds_by_provider_and_model() {
        let kling = lookup(
            Some("fal"),
            Some("fal-ai/kling-video/v2.1/standard/text-to-video"),
        )
        .unwrap();
        assert_eq!(kling.durations, Durations::Fixed(&[5, 10]));
        assert_eq!(kling.credits(10), 50);
        assert!(lookup(Some("fal"), Some("nope")).is_none());
        assert!(lookup(Some("nope"), None).is_none());
        let flux = lookup(Some("fal"), Some("fal-ai/flux/schnell")).unwrap();
        assert_eq!(flux.credits(99), 1, "images are priced per image");
    }

    #[test]
    fn every_model_is_listed_once_with_sane_values() {
        for (i, m) in MODELS.iter().enumerate() {
            assert!(
                MODELS[..i]
                    .iter()
                    .all(|o| (o.provider, o.model) != (m.provider, m.model)),
                "{} twice",
                m.model
            );
            assert!(!m.kinds.is_empty() && !m.aspects.is_empty() && m.max_prompt_chars > 0);
            if let Durations::Fixed(list) = m.durations {
                assert!(
                    list.windows(2).all(|w| w[0] < w[1]),
                    "{} durations must ascend",
                    m.model
                );
            }
        }
    }

    #[test]
    fn check_refuses_what_the_model_cannot_do() {
        let veo = lookup(Some("veo"), Some("veo-3.1-generate-preview")).unwrap();
        let mut req = ShotRequest::text_to_video("a cat", 8, "16:9");
        veo.check(&req).unwrap();
        req.duration_s = 5;
        let err = veo.check(&req).unwrap_err();
        assert_eq!(
            reelsmith_core::ErrorCode::code(&err),
            "provider.unsupported"
        );
        req.duration_s = 6;
        req.aspect = "1:1".into();
        assert!(veo.check(&req).is_err());
        req.aspect = "9:16".into();
        req.prompt = "x".repeat(4001);
        assert!(veo.check(&req).is_err());
        let flux = lookup(Some("fal"), Some("fal-ai/flux/schnell")).unwrap();
        let mut img = ShotRequest::text_to_video("a cat", 0, "1:1");
        img.kind = ShotKind::TextToImage;
        flux.check(&img).unwrap();
        img.negative_prompt = Some("dogs".into());
        assert!(
            flux.check(&img).is_err(),
            "flux schnell takes no negative prompt"
        );
    }
}

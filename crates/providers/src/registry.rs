//! What each model can do and what it costs. The planner snaps shots to these capabilities and
//! the adapters refuse requests outside them before spending a call.
//!
//! Prices are credits per second of output (1 credit = 0.01 USD), from the providers' list
//! prices when this table was written; images are priced per image. They are estimates for
//! budgeting, not invoices: the provider's own bill is the truth.

use std::borrow::Cow;
use std::sync::Arc;

use crate::{ProviderError, ShotKind, ShotRequest};

/// The output lengths a model accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Durations {
    /// Only these lengths, in seconds, ascending (Kling: 5 or 10).
    Fixed(Cow<'static, [u32]>),
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
/// Built-in models borrow their lists from the table below; a model from the configuration file
/// owns its id and durations (its aspects and resolutions are names of the core choice lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCaps {
    /// The adapter's name (`fal`, `replicate`, ...; `studio` for the built-in engine).
    pub provider: &'static str,
    pub model: Cow<'static, str>,
    pub kinds: Cow<'static, [ShotKind]>,
    pub durations: Durations,
    pub aspects: Cow<'static, [&'static str]>,
    /// Empty when the provider picks the resolution itself.
    pub resolutions: Cow<'static, [&'static str]>,
    pub native_audio: bool,
    pub negative_prompt: bool,
    /// Longest prompt accepted, in characters.
    pub max_prompt_chars: usize,
    pub price: Price,
    /// The model's documented input, where it has been written down: the adapter builds its
    /// request from it and refuses to send a field it does not list.
    pub input: Option<&'static InputSchema>,
}

/// A model's documented request fields, with the page they were read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSchema {
    /// The documentation page the fields come from.
    pub doc: &'static str,
    /// JSON pointer to the object the fields describe ("" for the whole body, "/input" for a
    /// body that wraps them).
    pub at: &'static str,
    pub fields: &'static [Field],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Bool,
    Integer {
        min: i64,
        max: i64,
    },
    /// A string out of a fixed list.
    OneOf(&'static [&'static str]),
    /// A list of URLs, at most this many.
    Urls {
        max: usize,
    },
    /// One file, as an http(s) URL or a data URI (fal and Replicate take both).
    File,
    /// A number (fal's `cfg_scale`).
    Number,
}

impl InputSchema {
    /// Checks `body` against the schema: every field it carries is documented and well typed,
    /// every required one is there. The first problem is named.
    pub fn check(&self, body: &serde_json::Value) -> Result<(), String> {
        use serde_json::Value;
        let obj = body
            .pointer(self.at)
            .and_then(Value::as_object)
            .ok_or_else(|| format!("no object at `{}`", self.at))?;
        for (name, value) in obj {
            let field = self
                .fields
                .iter()
                .find(|f| f.name == name)
                .ok_or_else(|| format!("`{name}` is not a documented field ({})", self.doc))?;
            let ok = match field.kind {
                FieldKind::Text => value.is_string(),
                FieldKind::Bool => value.is_boolean(),
                FieldKind::Integer { min, max } => {
                    value.as_i64().is_some_and(|n| (min..=max).contains(&n))
                }
                FieldKind::OneOf(list) => value.as_str().is_some_and(|v| list.contains(&v)),
                FieldKind::File => value.as_str().is_some_and(|u| {
                    u.starts_with("https://") || u.starts_with("http://") || u.starts_with("data:")
                }),
                FieldKind::Number => value.is_number(),
                FieldKind::Urls { max } => value.as_array().is_some_and(|a| {
                    !a.is_empty()
                        && a.len() <= max
                        && a.iter().all(|u| {
                            u.as_str().is_some_and(|u| {
                                u.starts_with("https://") || u.starts_with("http://")
                            })
                        })
                }),
            };
            if !ok {
                return Err(format!("`{name}` = {value} is not a {:?}", field.kind));
            }
        }
        if let Some(missing) = self
            .fields
            .iter()
            .find(|f| f.required && !obj.contains_key(f.name))
        {
            return Err(format!("`{}` is required ({})", missing.name, self.doc));
        }
        Ok(())
    }
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
const KLING: Durations = Durations::Fixed(Cow::Borrowed(&[5, 10]));
const VEO: Durations = Durations::Fixed(Cow::Borrowed(&[4, 6, 8]));
/// KieAI's Veo 3.1 takes no duration: every clip is 8 seconds.
const KIE_VEO: Durations = Durations::Fixed(Cow::Borrowed(&[8]));

const fn field(name: &'static str, kind: FieldKind, required: bool) -> Field {
    Field {
        name,
        kind,
        required,
    }
}

/// https://fal.ai/models/fal-ai/kling-video/v2.1/master/text-to-video/api: no seed.
pub static FAL_KLING_T2V_INPUT: InputSchema = InputSchema {
    doc: "https://fal.ai/models/fal-ai/kling-video/v2.1/master/text-to-video/api",
    at: "",
    fields: &[
        field("prompt", FieldKind::Text, true),
        field("duration", FieldKind::OneOf(&["5", "10"]), false),
        field(
            "aspect_ratio",
            FieldKind::OneOf(&["16:9", "9:16", "1:1"]),
            false,
        ),
        field("negative_prompt", FieldKind::Text, false),
        field("cfg_scale", FieldKind::Number, false),
    ],
};

/// https://fal.ai/models/fal-ai/kling-video/v2.1/standard/image-to-video/api: no seed and no
/// aspect ratio (the video takes the image's shape).
pub static FAL_KLING_I2V_INPUT: InputSchema = InputSchema {
    doc: "https://fal.ai/models/fal-ai/kling-video/v2.1/standard/image-to-video/api",
    at: "",
    fields: &[
        field("prompt", FieldKind::Text, true),
        field("image_url", FieldKind::File, true),
        field("duration", FieldKind::OneOf(&["5", "10"]), false),
        field("negative_prompt", FieldKind::Text, false),
        field("cfg_scale", FieldKind::Number, false),
    ],
};

/// https://fal.ai/models/fal-ai/veo3.1/api
pub static FAL_VEO_INPUT: InputSchema = InputSchema {
    doc: "https://fal.ai/models/fal-ai/veo3.1/api",
    at: "",
    fields: &[
        field("prompt", FieldKind::Text, true),
        field("aspect_ratio", FieldKind::OneOf(&["16:9", "9:16"]), false),
        field("duration", FieldKind::OneOf(&["4s", "6s", "8s"]), false),
        field("negative_prompt", FieldKind::Text, false),
        field("enhance_prompt", FieldKind::Bool, false),
        field(
            "seed",
            FieldKind::Integer {
                min: 0,
                max: u32::MAX as i64,
            },
            false,
        ),
        field("auto_fix", FieldKind::Bool, false),
        field("resolution", FieldKind::OneOf(&["720p", "1080p"]), false),
        field("generate_audio", FieldKind::Bool, false),
    ],
};

/// https://fal.ai/models/fal-ai/flux/schnell/api
pub static FAL_FLUX_SCHNELL_INPUT: InputSchema = InputSchema {
    doc: "https://fal.ai/models/fal-ai/flux/schnell/api",
    at: "",
    fields: &[
        field("prompt", FieldKind::Text, true),
        field(
            "image_size",
            FieldKind::OneOf(&[
                "square_hd",
                "square",
                "portrait_4_3",
                "portrait_16_9",
                "landscape_4_3",
                "landscape_16_9",
            ]),
            false,
        ),
        field(
            "num_inference_steps",
            FieldKind::Integer { min: 1, max: 12 },
            false,
        ),
        field(
            "seed",
            FieldKind::Integer {
                min: 0,
                max: u32::MAX as i64,
            },
            false,
        ),
        field("sync_mode", FieldKind::Bool, false),
        field("num_images", FieldKind::Integer { min: 1, max: 4 }, false),
        field("enable_safety_checker", FieldKind::Bool, false),
    ],
};

/// https://replicate.com/kwaivgi/kling-v2.1/api/schema: quality is `mode` (`standard` 720p,
/// `pro` 1080p); no aspect ratio (the video takes the start image's shape), resolution or seed.
pub static REPLICATE_KLING_INPUT: InputSchema = InputSchema {
    doc: "https://replicate.com/kwaivgi/kling-v2.1/api/schema",
    at: "/input",
    fields: &[
        field("prompt", FieldKind::Text, true),
        field("start_image", FieldKind::File, true),
        field("end_image", FieldKind::File, false),
        field("negative_prompt", FieldKind::Text, false),
        field("duration", FieldKind::Integer { min: 5, max: 10 }, false),
        field("mode", FieldKind::OneOf(&["standard", "pro"]), false),
    ],
};

/// https://replicate.com/google/veo-3.1/api/schema
pub static REPLICATE_VEO_INPUT: InputSchema = InputSchema {
    doc: "https://replicate.com/google/veo-3.1/api/schema",
    at: "/input",
    fields: &[
        field("prompt", FieldKind::Text, true),
        field("aspect_ratio", FieldKind::OneOf(&["16:9", "9:16"]), false),
        field("duration", FieldKind::Integer { min: 4, max: 8 }, false),
        field("image", FieldKind::File, false),
        field("last_frame", FieldKind::File, false),
        field("negative_prompt", FieldKind::Text, false),
        field("resolution", FieldKind::OneOf(&["720p", "1080p"]), false),
        field("generate_audio", FieldKind::Bool, false),
        field(
            "seed",
            FieldKind::Integer {
                min: 0,
                max: u32::MAX as i64,
            },
            false,
        ),
    ],
};

/// https://docs.kie.ai/veo3-api/generate-veo-3-video (the whole body).
pub static KIE_VEO_INPUT: InputSchema = InputSchema {
    doc: "https://docs.kie.ai/veo3-api/generate-veo-3-video",
    at: "",
    fields: &[
        field("prompt", FieldKind::Text, true),
        field("model", FieldKind::OneOf(&["veo3", "veo3_fast"]), true),
        field(
            "aspectRatio",
            FieldKind::OneOf(&["16:9", "9:16", "Auto"]),
            false,
        ),
        field(
            "generationType",
            FieldKind::OneOf(&[
                "TEXT_2_VIDEO",
                "FIRST_AND_LAST_FRAMES_2_VIDEO",
                "REFERENCE_2_VIDEO",
            ]),
            false,
        ),
        field("imageUrls", FieldKind::Urls { max: 2 }, false),
        field(
            "seeds",
            FieldKind::Integer {
                min: 10_000,
                max: 99_999,
            },
            false,
        ),
        field("callBackUrl", FieldKind::Text, false),
        field("enableFallback", FieldKind::Bool, false),
        field("enableTranslation", FieldKind::Bool, false),
        field("watermark", FieldKind::Text, false),
    ],
};

/// https://docs.kie.ai/market/kling/text-to-video (the `input` of createTask).
pub static KIE_KLING_T2V_INPUT: InputSchema = InputSchema {
    doc: "https://docs.kie.ai/market/kling/text-to-video",
    at: "/input",
    fields: &[
        field("prompt", FieldKind::Text, true),
        field("sound", FieldKind::Bool, true),
        field(
            "aspect_ratio",
            FieldKind::OneOf(&["1:1", "16:9", "9:16"]),
            true,
        ),
        field("duration", FieldKind::OneOf(&["5", "10"]), true),
    ],
};

/// https://docs.kie.ai/market/kling/image-to-video (the `input` of createTask): the output
/// takes the image's shape, so there is no aspect ratio to send.
pub static KIE_KLING_I2V_INPUT: InputSchema = InputSchema {
    doc: "https://docs.kie.ai/market/kling/image-to-video",
    at: "/input",
    fields: &[
        field("prompt", FieldKind::Text, true),
        field("image_urls", FieldKind::Urls { max: 1 }, true),
        field("sound", FieldKind::Bool, true),
        field("duration", FieldKind::OneOf(&["5", "10"]), true),
    ],
};

pub static MODELS: &[ModelCaps] = &[
    ModelCaps {
        provider: "studio",
        model: Cow::Borrowed("studio"),
        kinds: Cow::Borrowed(T2V_I2V),
        durations: Durations::Range { min: 1, max: 600 },
        aspects: Cow::Borrowed(WIDE_TALL_SQUARE),
        resolutions: Cow::Borrowed(&["720p", "1080p"]),
        native_audio: true,
        negative_prompt: false,
        max_prompt_chars: 20_000,
        price: Price::PerSecond(0),
        input: None,
    },
    ModelCaps {
        provider: "fal",
        model: Cow::Borrowed("fal-ai/kling-video/v2.1/master/text-to-video"),
        kinds: Cow::Borrowed(T2V),
        durations: KLING,
        aspects: Cow::Borrowed(WIDE_TALL_SQUARE),
        resolutions: Cow::Borrowed(&[]),
        native_audio: false,
        negative_prompt: true,
        max_prompt_chars: 2500,
        price: Price::PerSecond(5),
        input: Some(&FAL_KLING_T2V_INPUT),
    },
    ModelCaps {
        provider: "fal",
        model: Cow::Borrowed("fal-ai/kling-video/v2.1/standard/image-to-video"),
        kinds: Cow::Borrowed(I2V),
        durations: KLING,
        aspects: Cow::Borrowed(WIDE_TALL_SQUARE),
        resolutions: Cow::Borrowed(&[]),
        native_audio: false,
        negative_prompt: true,
        max_prompt_chars: 2500,
        price: Price::PerSecond(5),
        input: Some(&FAL_KLING_I2V_INPUT),
    },
    ModelCaps {
        provider: "fal",
        model: Cow::Borrowed("fal-ai/veo3.1"),
        kinds: Cow::Borrowed(T2V),
        durations: VEO,
        aspects: Cow::Borrowed(WIDE_TALL),
        resolutions: Cow::Borrowed(&["720p", "1080p"]),
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 20_000,
        price: Price::PerSecond(40),
        input: Some(&FAL_VEO_INPUT),
    },
    ModelCaps {
        provider: "fal",
        model: Cow::Borrowed("fal-ai/flux/schnell"),
        kinds: Cow::Borrowed(T2I),
        durations: Durations::Still,
        aspects: Cow::Borrowed(WIDE_TALL_SQUARE),
        resolutions: Cow::Borrowed(&[]),
        native_audio: false,
        negative_prompt: false,
        max_prompt_chars: 2000,
        price: Price::PerImage(1),
        input: Some(&FAL_FLUX_SCHNELL_INPUT),
    },
    ModelCaps {
        provider: "replicate",
        model: Cow::Borrowed("kwaivgi/kling-v2.1"),
        kinds: Cow::Borrowed(I2V),
        durations: KLING,
        aspects: Cow::Borrowed(WIDE_TALL_SQUARE),
        resolutions: Cow::Borrowed(&["720p", "1080p"]),
        native_audio: false,
        negative_prompt: true,
        max_prompt_chars: 2500,
        price: Price::PerSecond(5),
        input: Some(&REPLICATE_KLING_INPUT),
    },
    ModelCaps {
        provider: "replicate",
        model: Cow::Borrowed("google/veo-3.1"),
        kinds: Cow::Borrowed(T2V_I2V),
        durations: VEO,
        aspects: Cow::Borrowed(WIDE_TALL),
        resolutions: Cow::Borrowed(&["720p", "1080p"]),
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 20_000,
        price: Price::PerSecond(40),
        input: Some(&REPLICATE_VEO_INPUT),
    },
    ModelCaps {
        provider: "veo",
        model: Cow::Borrowed("veo-3.1-generate-preview"),
        kinds: Cow::Borrowed(T2V_I2V),
        durations: VEO,
        aspects: Cow::Borrowed(WIDE_TALL),
        resolutions: Cow::Borrowed(&["720p", "1080p"]),
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 4000,
        price: Price::PerSecond(40),
        input: None,
    },
    ModelCaps {
        provider: "veo",
        model: Cow::Borrowed("veo-3.1-fast-generate-preview"),
        kinds: Cow::Borrowed(T2V_I2V),
        durations: VEO,
        aspects: Cow::Borrowed(WIDE_TALL),
        resolutions: Cow::Borrowed(&["720p", "1080p"]),
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 4000,
        price: Price::PerSecond(15),
        input: None,
    },
    ModelCaps {
        provider: "atlas",
        model: Cow::Borrowed("google/veo3.1/text-to-video"),
        kinds: Cow::Borrowed(T2V),
        durations: VEO,
        aspects: Cow::Borrowed(WIDE_TALL),
        resolutions: Cow::Borrowed(&["720p", "1080p"]),
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 4000,
        price: Price::PerSecond(20),
        input: None,
    },
    ModelCaps {
        provider: "atlas",
        model: Cow::Borrowed("google/veo3.1/image-to-video"),
        kinds: Cow::Borrowed(I2V),
        durations: VEO,
        aspects: Cow::Borrowed(WIDE_TALL),
        resolutions: Cow::Borrowed(&["720p", "1080p"]),
        native_audio: true,
        negative_prompt: true,
        max_prompt_chars: 4000,
        price: Price::PerSecond(20),
        input: None,
    },
    ModelCaps {
        provider: "kie",
        model: Cow::Borrowed("veo3_fast"),
        kinds: Cow::Borrowed(T2V_I2V),
        durations: KIE_VEO,
        aspects: Cow::Borrowed(WIDE_TALL),
        resolutions: Cow::Borrowed(&["720p", "1080p"]),
        native_audio: true,
        negative_prompt: false,
        max_prompt_chars: 4000,
        price: Price::PerSecond(4),
        input: Some(&KIE_VEO_INPUT),
    },
    ModelCaps {
        provider: "kie",
        model: Cow::Borrowed("veo3"),
        kinds: Cow::Borrowed(T2V_I2V),
        durations: KIE_VEO,
        aspects: Cow::Borrowed(WIDE_TALL),
        resolutions: Cow::Borrowed(&["720p", "1080p"]),
        native_audio: true,
        negative_prompt: false,
        max_prompt_chars: 4000,
        price: Price::PerSecond(16),
        input: Some(&KIE_VEO_INPUT),
    },
    ModelCaps {
        provider: "kie",
        model: Cow::Borrowed("kling-2.6/text-to-video"),
        kinds: Cow::Borrowed(T2V),
        durations: KLING,
        aspects: Cow::Borrowed(WIDE_TALL_SQUARE),
        resolutions: Cow::Borrowed(&[]),
        native_audio: true,
        negative_prompt: false,
        max_prompt_chars: 2500,
        price: Price::PerSecond(6),
        input: Some(&KIE_KLING_T2V_INPUT),
    },
    ModelCaps {
        provider: "kie",
        model: Cow::Borrowed("kling-2.6/image-to-video"),
        kinds: Cow::Borrowed(I2V),
        durations: KLING,
        aspects: Cow::Borrowed(WIDE_TALL_SQUARE),
        resolutions: Cow::Borrowed(&[]),
        native_audio: true,
        negative_prompt: false,
        max_prompt_chars: 2500,
        price: Price::PerSecond(6),
        input: Some(&KIE_KLING_I2V_INPUT),
    },
    ModelCaps {
        provider: "comfyui",
        model: Cow::Borrowed("workflow"),
        kinds: Cow::Borrowed(T2V_I2V),
        durations: Durations::Range { min: 1, max: 10 },
        aspects: Cow::Borrowed(WIDE_TALL_SQUARE),
        resolutions: Cow::Borrowed(&[]),
        native_audio: false,
        negative_prompt: true,
        max_prompt_chars: 10_000,
        price: Price::PerSecond(0),
        input: None,
    },
];

/// The built-in capabilities of `provider`/`model`; `None` for either selects the studio engine.
pub fn lookup(provider: Option<&str>, model: Option<&str>) -> Option<&'static ModelCaps> {
    find(MODELS, provider, model)
}

fn find<'a>(
    models: &'a [ModelCaps],
    provider: Option<&str>,
    model: Option<&str>,
) -> Option<&'a ModelCaps> {
    let provider = provider.unwrap_or(DEFAULT_PROVIDER);
    let mut found = models.iter().filter(|m| m.provider == provider);
    match model {
        Some(model) => found.find(|m| m.model == model),
        // A provider named without a model means its first (listed) model.
        None => found.next(),
    }
}

/// The models one installation offers: the built-in table, with the operator's configured models
/// (`[[providers.models]]`) after it. A configured model with a built-in's provider and id takes
/// its place (a new price or new capabilities without a new release) and keeps the built-in's
/// documented input schema; any other configured model has none (D-models-2). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Models {
    all: Arc<[ModelCaps]>,
}

impl Default for Models {
    fn default() -> Self {
        Models::builtin()
    }
}

impl Models {
    /// The built-in table alone.
    pub fn builtin() -> Models {
        Models {
            all: MODELS.iter().cloned().collect(),
        }
    }

    /// The built-in table with `configured` replacing or following it. The configuration has
    /// checked the entries (a known adapter, no two with one id).
    pub fn with_configured(configured: Vec<ModelCaps>) -> Models {
        let mut all: Vec<ModelCaps> = MODELS.to_vec();
        for mut caps in configured {
            match all
                .iter_mut()
                .find(|m| m.provider == caps.provider && m.model == caps.model)
            {
                Some(builtin) => {
                    caps.input = builtin.input;
                    *builtin = caps;
                }
                None => all.push(caps),
            }
        }
        Models { all: all.into() }
    }

    /// Every model, the built-in ones first, in listing order.
    pub fn all(&self) -> &[ModelCaps] {
        &self.all
    }

    /// The capabilities of `provider`/`model`; `None` for either selects the studio engine.
    pub fn lookup(&self, provider: Option<&str>, model: Option<&str>) -> Option<&ModelCaps> {
        find(&self.all, provider, model)
    }

    /// The capabilities of `model` at `provider`, refusing a model this installation does not
    /// offer (named as the request named it, `shown`) or a request the model cannot serve, before
    /// any call.
    pub fn checked(
        &self,
        provider: &str,
        model: &str,
        shown: &str,
        req: &ShotRequest,
    ) -> Result<&ModelCaps, ProviderError> {
        let caps =
            self.lookup(Some(provider), Some(model))
                .ok_or_else(|| ProviderError::Unsupported {
                    model: shown.to_string(),
                    reason: format!("`{provider}` has no such model in the registry"),
                })?;
        caps.check(req)?;
        Ok(caps)
    }
}

impl ModelCaps {
    /// Refuses a request body that does not conform to the model's documented input (a field it
    /// does not list, a value outside its enum), before it is sent.
    pub fn conforms(&self, body: &serde_json::Value) -> Result<(), ProviderError> {
        match self.input {
            Some(schema) => schema
                .check(body)
                .map_err(|reason| ProviderError::Unsupported {
                    model: self.model.to_string(),
                    reason,
                }),
            None => Ok(()),
        }
    }

    /// Credits for one shot of `seconds` (one image for a still model).
    pub fn credits(&self, seconds: u32) -> u64 {
        match self.price {
            Price::PerSecond(c) => c as u64 * seconds as u64,
            Price::PerImage(c) => c as u64,
        }
    }

    pub fn allows_duration(&self, seconds: u32) -> bool {
        match &self.durations {
            Durations::Fixed(list) => list.contains(&seconds),
            Durations::Range { min, max } => (*min..=*max).contains(&seconds),
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
        assert_eq!((caps.provider, &*caps.model), ("studio", "studio"));
        assert_eq!(caps.credits(30), 0);
    }

    #[test]
    fn lookup_finds_by_provider_and_model() {
        let kling = lookup(
            Some("fal"),
            Some("fal-ai/kling-video/v2.1/master/text-to-video"),
        )
        .unwrap();
        assert_eq!(kling.durations, KLING);
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
                    .all(|o| (o.provider, &o.model) != (m.provider, &m.model)),
                "{} twice",
                m.model
            );
            assert!(!m.kinds.is_empty() && !m.aspects.is_empty() && m.max_prompt_chars > 0);
            if let Durations::Fixed(list) = &m.durations {
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

//! `GET /api/v1/providers`: every model of the capability registry, grouped by provider with the
//! studio engine first, what each allows and costs, whether this server has the provider
//! configured, and (for a signed-in caller) whether they consented to it.
//!
//! Nothing here reads a key or a base URL: the answer is built from the registry and
//! `ProvidersConfig::is_enabled` only, so no secret can reach it (P-TP-5).

use axum::extract::State;
use axum::Json;
use reelsmith_providers::registry::{Durations, ModelCaps, Price, DEFAULT_PROVIDER, MODELS};
use reelsmith_providers::ShotKind;
use reelsmith_store::Consent;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::CurrentUser;
use crate::time::{opt_rfc3339, rfc3339};
use crate::AppState;

/// The name people read for a provider.
pub fn label(provider: &str) -> &'static str {
    match provider {
        "studio" => "Studio (on this server)",
        "fal" => "fal.ai",
        "replicate" => "Replicate",
        "veo" => "Google Veo (Gemini API)",
        "atlas" => "Atlas Cloud",
        "kie" => "KieAI",
        "comfyui" => "ComfyUI",
        "elevenlabs" => "ElevenLabs (voices)",
        ASSISTANT => "OpenAI (scripts, scene prompts, picture search words and voice timing)",
        "pexels" => "Pexels (stock photos and clips: search words only)",
        "pixabay" => "Pixabay (stock photos and clips: search words only)",
        _ => "Other",
    }
}

/// True for a provider the registry lists, other than the built-in engine: the names consent
/// is given for.
pub fn is_third_party(provider: &str) -> bool {
    provider == ASSISTANT
        || provider == "elevenlabs"
        || crate::stock_search::is_stock_provider(provider)
        || (provider != DEFAULT_PROVIDER && MODELS.iter().any(|m| m.provider == provider))
}

/// The OpenAI-compatible account: it makes no shots, but writes scene prompts from the narration
/// and times voice recordings when the operator switched those on, and that needs consent too.
pub const ASSISTANT: &str = "openai";

/// Whether the assistant is configured for anything users can consent to.
pub fn assistant_enabled(config: &reelsmith_config::Config) -> bool {
    let p = &config.providers;
    p.is_enabled(ASSISTANT)
        && (p.openai.chat_model.is_some() || p.openai.transcribe_voice || p.openai.speech)
}

/// The registry's providers in listing order: the studio engine first, then as the registry
/// lists them.
pub fn provider_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = vec![DEFAULT_PROVIDER];
    for m in MODELS {
        if !names.contains(&m.provider) {
            names.push(m.provider);
        }
    }
    names
}

/// The output lengths a model accepts.
#[derive(Serialize, ToSchema)]
pub struct DurationsView {
    /// `fixed` (only `seconds`), `range` (`min` to `max` whole seconds) or `still` (an image).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

/// What a model costs, in credits (1 credit = 0.01 USD).
#[derive(Serialize, ToSchema)]
pub struct PriceView {
    /// `second` (per second of output) or `image` (per still image).
    pub per: &'static str,
    pub credits: u32,
}

#[derive(Serialize, ToSchema)]
pub struct ModelView {
    /// The job's `model` field.
    pub model: String,
    /// `text-to-video`, `image-to-video`, `text-to-image`.
    pub kinds: Vec<String>,
    pub durations: DurationsView,
    pub aspects: Vec<String>,
    /// Empty when the provider picks the resolution itself.
    pub resolutions: Vec<String>,
    pub native_audio: bool,
    pub negative_prompt: bool,
    pub max_prompt_chars: usize,
    pub price: PriceView,
    /// What a job with this model sends to the provider: `prompt` (each scene's visual prompt,
    /// from the script or `prompts`, with the style), `negative_prompt`, `image` (the scene's
    /// image, for image-to-video). Empty for the studio engine: nothing leaves the server.
    pub sends: Vec<&'static str>,
}

fn kind_name(kind: ShotKind) -> &'static str {
    match kind {
        ShotKind::TextToVideo => "text-to-video",
        ShotKind::ImageToVideo => "image-to-video",
        ShotKind::TextToImage => "text-to-image",
    }
}

impl From<&ModelCaps> for ModelView {
    fn from(m: &ModelCaps) -> ModelView {
        let durations = match &m.durations {
            Durations::Fixed(list) => DurationsView {
                kind: "fixed",
                seconds: Some(list.to_vec()),
                min: None,
                max: None,
            },
            &Durations::Range { min, max } => DurationsView {
                kind: "range",
                seconds: None,
                min: Some(min),
                max: Some(max),
            },
            Durations::Still => DurationsView {
                kind: "still",
                seconds: None,
                min: None,
                max: None,
            },
        };
        let price = match m.price {
            Price::PerSecond(credits) => PriceView {
                per: "second",
                credits,
            },
            Price::PerImage(credits) => PriceView {
                per: "image",
                credits,
            },
        };
        let mut sends = Vec::new();
        if m.provider != DEFAULT_PROVIDER {
            sends.push("prompt");
            if m.negative_prompt {
                sends.push("negative_prompt");
            }
            if m.kinds.contains(&ShotKind::ImageToVideo) {
                sends.push("image");
            }
        }
        ModelView {
            model: m.model.to_string(),
            kinds: m.kinds.iter().map(|k| kind_name(*k).to_owned()).collect(),
            durations,
            aspects: m.aspects.iter().map(|a| (*a).to_owned()).collect(),
            resolutions: m.resolutions.iter().map(|r| (*r).to_owned()).collect(),
            native_audio: m.native_audio,
            negative_prompt: m.negative_prompt,
            max_prompt_chars: m.max_prompt_chars,
            price,
            sends,
        }
    }
}

/// The caller's consent for one provider (P-TP-2).
#[derive(Serialize, ToSchema)]
pub struct ConsentState {
    /// `granted`, `withdrawn` (given once, withdrawn since) or `none`.
    pub state: &'static str,
    /// The privacy policy version agreed to by the latest grant.
    pub policy_version: Option<String>,
    pub granted_at: Option<String>,
    pub withdrawn_at: Option<String>,
}

impl ConsentState {
    /// The state from the user's consent history (newest first), for one provider.
    pub fn of(provider: &str, history: &[Consent]) -> ConsentState {
        match history.iter().find(|c| c.provider == provider) {
            None => ConsentState {
                state: "none",
                policy_version: None,
                granted_at: None,
                withdrawn_at: None,
            },
            Some(c) => ConsentState {
                state: if c.withdrawn_at.is_none() {
                    "granted"
                } else {
                    "withdrawn"
                },
                policy_version: Some(c.policy_version.clone()),
                granted_at: Some(rfc3339(c.granted_at)),
                withdrawn_at: opt_rfc3339(c.withdrawn_at),
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProviderView {
    /// The job's `provider` field.
    pub provider: String,
    pub label: &'static str,
    /// `shots` for the engine and shot providers (a job's `provider`), `assistant` for the
    /// OpenAI-compatible account that writes prompts and times voice recordings.
    pub role: &'static str,
    /// Configured on this server: jobs may name it. The studio engine always is.
    pub enabled: bool,
    /// Jobs for it send data to another company and need the user's consent first.
    pub consent_required: bool,
    /// The signed-in caller's consent; absent for the studio engine and for anonymous callers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentState>,
    pub models: Vec<ModelView>,
}

#[derive(Serialize, ToSchema)]
pub struct ProvidersView {
    /// The privacy policy version a consent given now is recorded under.
    pub policy_version: String,
    pub providers: Vec<ProviderView>,
}

#[utoipa::path(get, path = "/api/v1/providers", tag = "providers",
    responses((status = 200, body = ProvidersView), (status = 500, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Result<CurrentUser, ApiError>,
) -> ApiResult<Json<ProvidersView>> {
    let history = match &caller {
        Ok(user) => Some(state.db.consents_for_user(user.id()).await?),
        Err(_) => None,
    };
    let models = state.models.all();
    let providers = provider_names()
        .into_iter()
        .map(|name| {
            let third_party = name != DEFAULT_PROVIDER;
            ProviderView {
                provider: name.to_owned(),
                label: label(name),
                role: "shots",
                enabled: !third_party || state.config.providers.is_enabled(name),
                consent_required: third_party,
                consent: history
                    .as_deref()
                    .filter(|_| third_party)
                    .map(|h| ConsentState::of(name, h)),
                models: models
                    .iter()
                    .filter(|m| m.provider == name)
                    .map(ModelView::from)
                    .collect(),
            }
        })
        .collect::<Vec<_>>();
    let mut providers = providers;
    if assistant_enabled(&state.config) {
        providers.push(assistant_view(&state.config, history.as_deref()));
    }
    if let Some(view) = voices_view(&state.config, history.as_deref()) {
        providers.push(view);
    }
    Ok(Json(ProvidersView {
        policy_version: crate::policies::current_privacy_version(&state).await?,
        providers,
    }))
}

/// ElevenLabs as a provider entry when its cloud voices are configured, so its consent can be
/// given here like every provider's; its models are the speech model jobs use.
fn voices_view(
    config: &reelsmith_config::Config,
    history: Option<&[Consent]>,
) -> Option<ProviderView> {
    const NAME: &str = reelsmith_providers::speech::ELEVENLABS;
    if !config.providers.enabled_speech_providers().contains(&NAME) {
        return None;
    }
    let model = config
        .providers
        .elevenlabs
        .speech_model
        .clone()
        .unwrap_or_else(|| reelsmith_providers::elevenlabs::DEFAULT_MODEL.to_owned());
    let price = reelsmith_providers::speech::price_per_1000_chars(NAME, &model).unwrap_or(0.0);
    Some(ProviderView {
        provider: NAME.to_owned(),
        label: label(NAME),
        role: "voices",
        enabled: true,
        consent_required: true,
        consent: history.map(|h| ConsentState::of(NAME, h)),
        models: vec![non_video_model(
            model,
            "narration",
            // ElevenLabs' prices are whole credits per 1000 characters.
            PriceView {
                per: "1000 characters",
                credits: price.ceil() as u32,
            },
        )],
    })
}

/// A "model" of a provider that makes no video (a voice, the assistant's uses): no kinds,
/// durations, aspects or resolutions, only what it is sent and its price.
fn non_video_model(model: String, sends: &'static str, price: PriceView) -> ModelView {
    ModelView {
        model,
        kinds: Vec::new(),
        durations: DurationsView {
            kind: "still",
            seconds: None,
            min: None,
            max: None,
        },
        aspects: Vec::new(),
        resolutions: Vec::new(),
        native_audio: false,
        negative_prompt: false,
        max_prompt_chars: 0,
        price,
        sends: vec![sends],
    }
}

/// The assistant as a provider entry: its "models" are what it is used for.
fn assistant_view(config: &reelsmith_config::Config, history: Option<&[Consent]>) -> ProviderView {
    let openai = &config.providers.openai;
    let use_of = |model: String, sends: &'static str| {
        non_video_model(
            model,
            sends,
            PriceView {
                per: "image",
                credits: 0,
            },
        )
    };
    let mut models = Vec::new();
    if let Some(chat) = &openai.chat_model {
        models.push(use_of(chat.clone(), "narration"));
    }
    if openai.transcribe_voice {
        models.push(use_of("whisper-1".into(), "voice"));
    }
    ProviderView {
        provider: ASSISTANT.to_owned(),
        label: label(ASSISTANT),
        role: "assistant",
        enabled: true,
        consent_required: true,
        consent: history.map(|h| ConsentState::of(ASSISTANT, h)),
        models,
    }
}

//! The checks a job naming a cloud voice (issue 17) passes at submission, before any credit is
//! reserved: the voice's provider is configured here (`provider.not_configured`, 422) and the
//! user consented to it (`consent.required`, 409), since the narration text goes to it (P-TP-2).
//! Also the cloud half of the voice catalogue and its samples (D-voice-7, D-voice-8).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reelsmith_providers::speech::{CloudVoice, SpeechProvider, SpeechRequest};

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use reelsmith_core::Code;

/// `provider.not_configured` unless the operator switched this provider's voices on.
pub(crate) fn voice_is_configured(state: &AppState, provider: &str) -> ApiResult<()> {
    if state
        .config
        .providers
        .enabled_speech_providers()
        .contains(&provider)
    {
        return Ok(());
    }
    Err(ApiError::of(
        Code::ProviderNotConfigured,
        format!("cloud voices from `{provider}` are not configured on this server"),
    ))
}

/// Configured, and consented to by `owner`.
pub(crate) async fn voice_is_usable(
    state: &AppState,
    owner: &str,
    provider: &str,
) -> ApiResult<()> {
    voice_is_configured(state, provider)?;
    if state.db.active_consent(owner, provider).await?.is_none() {
        return Err(ApiError::of(
            Code::ConsentRequired,
            format!(
                "a cloud voice from `{provider}` reads your script aloud, so the script is sent \
                 to that company: give your consent for it on the AI providers page first"
            ),
        ));
    }
    Ok(())
}

// ---- the cloud half of the voice catalogue (GET /api/v1/voices) and its samples ----

/// How long a listing of the providers' voices is reused: ElevenLabs' `/v1/voices` is one call
/// per listing, and an account's voices change rarely.
const LISTING_TTL: Duration = Duration::from_secs(300);

/// The configured speech providers, built from the configuration as the worker builds them.
fn speech_providers(state: &AppState) -> BTreeProviders {
    let config = &state.config.providers;
    reelsmith_jobs::providers::speech_providers(
        config,
        &reelsmith_jobs::providers::call_policy(config),
    )
    .unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the cloud voice providers cannot be set up");
        Default::default()
    })
}

type BTreeProviders = std::collections::BTreeMap<String, Arc<dyn SpeechProvider>>;

/// Every voice of the configured cloud providers (none when none is configured). Listings are
/// cached per provider configuration: one process may serve several (the tests do).
pub(crate) async fn configured_cloud_voices(state: &AppState) -> Vec<CloudVoice> {
    type Cache = HashMap<String, (Instant, Vec<CloudVoice>)>;
    static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
    if state.config.providers.enabled_speech_providers().is_empty() {
        return Vec::new();
    }
    // Secrets serialise masked, so the key is the providers' addresses and settings.
    let key = serde_json::to_string(&state.config.providers).unwrap_or_default();
    if let Some((at, voices)) = CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(&key)
    {
        if at.elapsed() < LISTING_TTL {
            return voices.clone();
        }
    }
    let providers: Vec<_> = speech_providers(state).into_values().collect();
    let voices = reelsmith_providers::speech::cloud_voices(&providers).await;
    CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, (Instant::now(), voices.clone()));
    voices
}

/// A short sample of a configured cloud voice, as MP3: the catalogue's fixed sentence, so
/// nothing of the user's is sent and no consent is asked (D-voice-8). `None` for a voice the
/// providers do not list.
pub(crate) async fn cloud_sample(state: &AppState, id: &str) -> ApiResult<Option<Vec<u8>>> {
    let voices = configured_cloud_voices(state).await;
    let Some(voice) = voices.iter().find(|v| v.id == id) else {
        return Ok(None);
    };
    let Some(parsed) = reelsmith_providers::speech::CloudVoiceId::parse(id) else {
        return Ok(None);
    };
    let Some(provider) = speech_providers(state).remove(voice.engine) else {
        return Ok(None);
    };
    let request = SpeechRequest {
        voice: parsed.voice.clone(),
        model: Some(voice.model.clone()),
        text: reelsmith_media::voices::sample_text(&voice.language).to_owned(),
        instructions: None,
    };
    let speech = provider.synthesize(&request).await.map_err(|e| {
        tracing::warn!(provider = voice.engine, error = %e, "a cloud voice sample failed");
        ApiError::of(
            Code::ProviderFailed,
            format!("`{}` could not make this voice's sample now", voice.engine),
        )
    })?;
    Ok(Some(speech.audio))
}

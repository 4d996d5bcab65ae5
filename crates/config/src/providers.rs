//! Third-party AI providers, credits and the privacy settings that govern them.
//!
//! A provider is enabled by giving its key (ComfyUI: its base URL). Keys are [`Secret`]s and
//! come only from this configuration (file or `REELSMITH__PROVIDERS__FAL__KEY`-style environment
//! variables), never from a user or the database, so they cannot reach a page or an export
//! (P-TP-5).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::secret::Secret;

/// The providers Reelsmith has adapters for, in the order pages list them.
pub const SHOT_PROVIDERS: [&str; 6] = ["fal", "replicate", "veo", "atlas", "kie", "comfyui"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    pub fal: ProviderAccount,
    pub replicate: ProviderAccount,
    pub veo: ProviderAccount,
    pub atlas: ProviderAccount,
    /// KieAI (Veo 3.1, Kling and other models behind one key).
    pub kie: ProviderAccount,
    pub comfyui: ProviderAccount,
    /// OpenAI or any OpenAI-compatible API: transcription and script writing.
    pub openai: ProviderAccount,
    /// ElevenLabs: cloud voices (narration with word timings).
    pub elevenlabs: ProviderAccount,
    /// Limit for one call to a provider.
    pub timeout_seconds: u64,
    /// Tries per call, the first included (only 429 and 5xx answers are retried).
    pub max_attempts: u32,
    /// Time between status polls while a shot is generated (webhooks cut the wait short).
    pub poll_seconds: u64,
    /// Longest wait for one shot before the job fails (and its cost is refunded).
    pub max_wait_minutes: u64,
    /// Largest result accepted from a provider, in MiB.
    pub max_output_mib: u64,
    /// How many times a shot whose generation failed at the provider is sent again (each time is
    /// paid). Only failures the provider does not attribute to the content or input count:
    /// a refused prompt or image is never sent again.
    pub max_resubmissions: u32,
    /// Models the operator added or re-priced (`[[providers.models]]`), served by the adapters
    /// above; the built-in list stays when this is empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<crate::models::ModelConfig>,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        ProvidersConfig {
            fal: ProviderAccount::default(),
            replicate: ProviderAccount::default(),
            veo: ProviderAccount::default(),
            atlas: ProviderAccount::default(),
            kie: ProviderAccount::default(),
            comfyui: ProviderAccount::default(),
            openai: ProviderAccount::default(),
            elevenlabs: ProviderAccount::default(),
            timeout_seconds: 60,
            max_attempts: 4,
            poll_seconds: 5,
            max_wait_minutes: 30,
            max_output_mib: 500,
            max_resubmissions: 1,
            models: Vec::new(),
        }
    }
}

/// One provider's account. Only the fields a provider uses are read; the others are refused by
/// validation so a misplaced setting is noticed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderAccount {
    /// The API key (fal `Key`, Replicate token, Gemini API key, Atlas key, KieAI key, OpenAI key; optional
    /// for ComfyUI).
    pub key: Option<Secret<String>>,
    /// The API's base URL; the provider's public API when absent (required for ComfyUI).
    pub base_url: Option<String>,
    /// Hosts results may be downloaded from besides the base URL's ("*.fal.media"); the
    /// adapter's documented CDN hosts when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub download_hosts: Vec<String>,
    /// Replicate: the webhook signing secret (`whsec_...`) that verifies webhooks; KieAI: the
    /// `webhookHmacKey` of its settings page, which verifies callbacks.
    pub webhook_secret: Option<Secret<String>>,
    /// fal: where the webhook key set (JWKS) is fetched from.
    pub webhook_jwks_url: Option<String>,
    /// ComfyUI: the workflow template (API format JSON with placeholders).
    pub workflow_file: Option<PathBuf>,
    /// OpenAI-compatible: the chat model that writes visual prompts (off when absent).
    pub chat_model: Option<String>,
    /// OpenAI: transcribe uploaded voice recordings with whisper-1 for caption timing instead of
    /// aligning them locally.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub transcribe_voice: bool,
    /// OpenAI: offer its speech voices (`tts-1`, `tts-1-hd`, `gpt-4o-mini-tts`) as cloud voices.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub speech: bool,
    /// ElevenLabs: the speech model (`eleven_multilingual_v2` when absent).
    pub speech_model: Option<String>,
}

impl ProvidersConfig {
    /// The account of a shot provider by its registry name.
    pub fn account(&self, provider: &str) -> Option<&ProviderAccount> {
        Some(match provider {
            "fal" => &self.fal,
            "replicate" => &self.replicate,
            "veo" => &self.veo,
            "atlas" => &self.atlas,
            "kie" => &self.kie,
            "comfyui" => &self.comfyui,
            "openai" => &self.openai,
            "elevenlabs" => &self.elevenlabs,
            _ => return None,
        })
    }

    /// Whether `provider` has what it needs to be called: a key, or for ComfyUI a base URL and a
    /// workflow.
    pub fn is_enabled(&self, provider: &str) -> bool {
        match (provider, self.account(provider)) {
            ("comfyui", Some(a)) => a.base_url.is_some() && a.workflow_file.is_some(),
            (_, Some(a)) => a.key.is_some(),
            _ => false,
        }
    }

    /// The enabled shot providers, in listing order.
    pub fn enabled_shot_providers(&self) -> Vec<&'static str> {
        SHOT_PROVIDERS
            .into_iter()
            .filter(|p| self.is_enabled(p))
            .collect()
    }
}

impl ProvidersConfig {
    /// The enabled speech providers (cloud voices): `openai` when its key is set and `speech` is
    /// on, `elevenlabs` when its key is set.
    pub fn enabled_speech_providers(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.is_enabled("openai") && self.openai.speech {
            out.push("openai");
        }
        if self.is_enabled("elevenlabs") {
            out.push("elevenlabs");
        }
        out
    }
}

/// Credits (P-BILL-1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CreditsConfig {
    /// Credits every new account starts with (1 credit = 0.01 USD of provider cost).
    pub signup_grant: i64,
}

impl Default for CreditsConfig {
    fn default() -> Self {
        CreditsConfig { signup_grant: 100 }
    }
}

/// Privacy settings that are not retention periods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// The version of the privacy policy in force; consents record it (P-TP-2).
    pub policy_version: String,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            policy_version: "2026-11-22".into(),
        }
    }
}

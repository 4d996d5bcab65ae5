//! The shot providers this installation can call, built once from the configuration. A job's
//! `provider` picks one by its registry name; a provider without a key is simply absent, and a
//! job naming it fails with `provider.not_configured`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reelsmith_config::{ProviderAccount, ProvidersConfig};

use crate::registry::ModelRegistry;
use reelsmith_providers::http::{CallPolicy, Endpoint};
use reelsmith_providers::speech::{CloudVoice, SpeechProvider};
use reelsmith_providers::{
    atlas, comfyui, elevenlabs, fal, kie, openai, openai_speech, replicate, veo, ProviderError,
    ScriptWriter, Secret, ShotProvider, Transcriber,
};

/// Named shot providers plus the limits every call shares.
#[derive(Clone)]
pub struct ProviderSet {
    shots: BTreeMap<String, Arc<dyn ShotProvider>>,
    /// An OpenAI-compatible chat model that writes scene prompts from the narration, when
    /// `providers.openai.chat_model` is set.
    writer: Option<Arc<dyn ScriptWriter>>,
    /// Whisper, timing the captions of voice recordings, when `providers.openai.transcribe_voice`.
    transcriber: Option<Arc<dyn Transcriber>>,
    /// Cloud voices by provider name (`openai`, `elevenlabs`).
    speech: BTreeMap<String, Arc<dyn SpeechProvider>>,
    /// Largest result accepted from a provider.
    pub max_output_bytes: u64,
    /// How many times a shot whose generation failed is sent to the provider again.
    pub max_resubmissions: u32,
    /// The longest a job waits for a provider that asked to be left alone (`Retry-After`);
    /// a longer hint fails the job at once.
    pub max_retry_after: Duration,
    /// The model registry this process plans with: only jobs stored without a plan (submitted
    /// before plans were stored) are planned by the worker.
    models: ModelRegistry,
}

impl std::fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the adapters hold keys.
        f.debug_struct("ProviderSet")
            .field("shots", &self.shots.keys().collect::<Vec<_>>())
            .field("writer", &self.writer.is_some())
            .field("transcriber", &self.transcriber.is_some())
            .field("speech", &self.speech.keys().collect::<Vec<_>>())
            .field("max_output_bytes", &self.max_output_bytes)
            .field("max_resubmissions", &self.max_resubmissions)
            .field("max_retry_after", &self.max_retry_after)
            .finish()
    }
}

impl Default for ProviderSet {
    fn default() -> Self {
        ProviderSet::none()
    }
}

impl ProviderSet {
    /// No providers: every job runs on the studio engine.
    pub fn none() -> ProviderSet {
        ProviderSet {
            shots: BTreeMap::new(),
            writer: None,
            transcriber: None,
            speech: BTreeMap::new(),
            max_output_bytes: 500 << 20,
            max_resubmissions: 1,
            max_retry_after: Duration::from_secs(30 * 60),
            models: ModelRegistry::default(),
        }
    }

    /// Every enabled provider of `config`. `public_url` is the server's public address, given
    /// to providers that call webhooks (`{public_url}/api/v1/webhooks/{provider}`).
    pub fn from_config(
        config: &ProvidersConfig,
        public_url: Option<&str>,
    ) -> Result<ProviderSet, ProviderError> {
        let policy = call_policy(config);
        let hook = |name: &str| {
            public_url.map(|u| format!("{}/api/v1/webhooks/{name}", u.trim_end_matches('/')))
        };
        let models = ModelRegistry::from_config(config).map_err(ProviderError::Config)?;
        let mut set = ProviderSet {
            shots: BTreeMap::new(),
            writer: None,
            transcriber: None,
            speech: BTreeMap::new(),
            max_output_bytes: config.max_output_mib.max(1) << 20,
            max_resubmissions: config.max_resubmissions,
            max_retry_after: Duration::from_secs(config.max_wait_minutes.max(1) * 60),
            models: models.clone(),
        };
        if config.is_enabled("openai") && config.openai.transcribe_voice {
            let ep = endpoint(&config.openai, openai::DEFAULT_BASE_URL, &[], &policy)?;
            set.transcriber = Some(Arc::new(openai::OpenAiTranscriber::new(ep)?));
        }
        set.writer = script_writer(config, &policy)?;
        set.speech = speech_providers(config, &policy)?;
        // Shot adapters check each request against the installation's models, configured ones
        // included.
        let shot_endpoint = |account: &ProviderAccount, base: &str, hosts: &[&str]| {
            endpoint(account, base, hosts, &policy)
                .map(|ep| ep.with_models(models.models().clone()))
        };
        for name in config.enabled_shot_providers() {
            // `enabled_shot_providers` lists only providers with an account.
            let Some(account) = config.account(name) else {
                continue;
            };
            let provider: Arc<dyn ShotProvider> = match name {
                "fal" => {
                    let ep =
                        shot_endpoint(account, fal::DEFAULT_BASE_URL, fal::DEFAULT_DOWNLOAD_HOSTS)?;
                    let mut adapter = fal::Fal::new(ep)?;
                    if let Some(url) = hook(name) {
                        adapter = adapter.with_webhook(url);
                    }
                    Arc::new(adapter)
                }
                "replicate" => {
                    let ep = shot_endpoint(
                        account,
                        replicate::DEFAULT_BASE_URL,
                        replicate::DEFAULT_DOWNLOAD_HOSTS,
                    )?;
                    let mut adapter = replicate::Replicate::new(ep)?;
                    // Replicate signs webhooks with a secret; without one they could not be
                    // verified, so none are asked for.
                    if account.webhook_secret.is_some() {
                        adapter.webhook_url = hook(name);
                    }
                    Arc::new(adapter)
                }
                "veo" => Arc::new(veo::Veo::new(shot_endpoint(
                    account,
                    veo::DEFAULT_BASE_URL,
                    &[],
                )?)?),
                "atlas" => Arc::new(atlas::Atlas::new(shot_endpoint(
                    account,
                    atlas::DEFAULT_BASE_URL,
                    &[],
                )?)?),
                "kie" => {
                    let ep =
                        shot_endpoint(account, kie::DEFAULT_BASE_URL, kie::DEFAULT_DOWNLOAD_HOSTS)?;
                    let mut adapter = kie::Kie::new(ep)?;
                    // Callbacks are asked for only when they can be verified (the HMAC key).
                    if account.webhook_secret.is_some() {
                        if let Some(url) = hook(name) {
                            adapter = adapter.with_callback(url);
                        }
                    }
                    Arc::new(adapter)
                }
                "comfyui" => {
                    let file = account.workflow_file.as_ref().ok_or_else(|| {
                        ProviderError::Config("comfyui needs a workflow_file".into())
                    })?;
                    let text = std::fs::read_to_string(file).map_err(|e| {
                        ProviderError::Config(format!("cannot read {}: {e}", file.display()))
                    })?;
                    let template = serde_json::from_str(&text).map_err(|e| {
                        ProviderError::Config(format!("{} is not JSON: {e}", file.display()))
                    })?;
                    Arc::new(comfyui::ComfyUi::new(
                        shot_endpoint(account, "", &[])?,
                        template,
                    )?)
                }
                other => return Err(ProviderError::Config(format!("no adapter for `{other}`"))),
            };
            set.shots.insert(name.to_owned(), provider);
        }
        Ok(set)
    }

    /// Plans with `models` instead of the built-in registry (shared with the server in tests).
    pub fn with_models(mut self, models: ModelRegistry) -> Self {
        self.models = models;
        self
    }

    pub fn models(&self) -> &ModelRegistry {
        &self.models
    }

    /// Adds (or replaces) a provider under `name`; for tests and embedders.
    pub fn with_shot_provider(mut self, name: &str, provider: Arc<dyn ShotProvider>) -> Self {
        self.shots.insert(name.to_owned(), provider);
        self
    }

    /// Sets the chat model that writes scene prompts (registry name `openai`).
    pub fn with_script_writer(mut self, writer: Arc<dyn ScriptWriter>) -> Self {
        self.writer = Some(writer);
        self
    }

    /// Sets the transcription service for voice recordings (registry name `openai`).
    pub fn with_transcriber(mut self, transcriber: Arc<dyn Transcriber>) -> Self {
        self.transcriber = Some(transcriber);
        self
    }

    /// Adds (or replaces) a cloud voice provider under its name; for tests and embedders.
    pub fn with_speech_provider(mut self, provider: Arc<dyn SpeechProvider>) -> Self {
        self.speech.insert(provider.name().to_owned(), provider);
        self
    }

    pub fn speech(&self, name: &str) -> Option<Arc<dyn SpeechProvider>> {
        self.speech.get(name).cloned()
    }

    /// Every configured cloud voice (id, name, language, gender, engine, price per 1000
    /// characters), for the voice catalogue.
    pub async fn cloud_voices(&self) -> Vec<CloudVoice> {
        let all: Vec<_> = self.speech.values().cloned().collect();
        reelsmith_providers::speech::cloud_voices(&all).await
    }

    pub fn transcriber(&self) -> Option<Arc<dyn Transcriber>> {
        self.transcriber.clone()
    }

    pub fn script_writer(&self) -> Option<Arc<dyn ScriptWriter>> {
        self.writer.clone()
    }

    pub fn with_max_resubmissions(mut self, n: u32) -> Self {
        self.max_resubmissions = n;
        self
    }

    pub fn with_max_output_bytes(mut self, bytes: u64) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    pub fn shot(&self, name: &str) -> Option<Arc<dyn ShotProvider>> {
        self.shots.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.shots.keys().map(String::as_str)
    }
}

fn endpoint(
    account: &ProviderAccount,
    default_base: &str,
    default_hosts: &[&str],
    policy: &CallPolicy,
) -> Result<Endpoint, ProviderError> {
    let base = account.base_url.as_deref().unwrap_or(default_base);
    let key = account
        .key
        .as_ref()
        .map(|k| Secret::new(k.expose().clone()))
        .unwrap_or_else(|| Secret::new(""));
    let hosts: Vec<&str> = if account.download_hosts.is_empty() {
        default_hosts.to_vec()
    } else {
        account.download_hosts.iter().map(String::as_str).collect()
    };
    Ok(Endpoint::new(base, key)?
        .with_download_hosts(&hosts)
        .with_policy(policy.clone()))
}

/// The CallPolicy every provider call shares, from the configuration.
pub fn call_policy(config: &ProvidersConfig) -> CallPolicy {
    CallPolicy {
        timeout: Duration::from_secs(config.timeout_seconds.max(1)),
        max_attempts: config.max_attempts.max(1),
        poll_every: Duration::from_secs(config.poll_seconds.max(1)),
        max_wait: Duration::from_secs(config.max_wait_minutes.max(1) * 60),
        ..CallPolicy::default()
    }
}

/// The cloud voice providers of `config` (`providers.openai.speech`, `providers.elevenlabs`).
pub fn speech_providers(
    config: &ProvidersConfig,
    policy: &CallPolicy,
) -> Result<BTreeMap<String, Arc<dyn SpeechProvider>>, ProviderError> {
    let mut out: BTreeMap<String, Arc<dyn SpeechProvider>> = BTreeMap::new();
    for name in config.enabled_speech_providers() {
        let provider: Arc<dyn SpeechProvider> = match name {
            "openai" => Arc::new(openai_speech::OpenAiSpeech::new(endpoint(
                &config.openai,
                openai::DEFAULT_BASE_URL,
                &[],
                policy,
            )?)?),
            _ => Arc::new(elevenlabs::ElevenLabs::new(
                endpoint(
                    &config.elevenlabs,
                    elevenlabs::DEFAULT_BASE_URL,
                    &[],
                    policy,
                )?,
                config.elevenlabs.speech_model.as_deref(),
            )?),
        };
        out.insert(name.to_owned(), provider);
    }
    Ok(out)
}

/// The OpenAI-compatible chat model that writes scripts and scene prompts, when
/// `providers.openai` has a key and a `chat_model`.
pub fn script_writer(
    config: &ProvidersConfig,
    policy: &CallPolicy,
) -> Result<Option<Arc<dyn ScriptWriter>>, ProviderError> {
    let (true, Some(model)) = (
        config.is_enabled("openai"),
        config.openai.chat_model.as_deref(),
    ) else {
        return Ok(None);
    };
    let ep = endpoint(&config.openai, openai::DEFAULT_BASE_URL, &[], policy)?;
    Ok(Some(Arc::new(openai::OpenAiChat::new(ep, model)?)))
}

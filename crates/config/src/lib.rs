//! Reelsmith's configuration: one [`Config`] for the whole platform, built from built-in defaults,
//! a TOML file, `REELSMITH__SECTION__KEY` environment variables and flags, in that order of
//! precedence. Secrets are [`Secret`]s that print as `********` everywhere, so the effective
//! configuration can be shown ([`Config::to_masked_toml`]) and logged. `docs/configuration.md`
//! lists every key.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod billing;
pub mod load;
pub mod models;
pub mod music;
pub mod oidc;
pub mod presets;
pub mod providers;
pub mod secret;
pub mod sections;
pub mod sharing;
pub mod speech;
pub mod staff;
pub mod stock;
pub mod validate;
pub mod webhooks;

pub use billing::{
    BillingConfig, CreditPack, CreemConfig, Interval, Plan, PlanKind, PlanLimits, Processor,
    StripeConfig,
};
pub use load::{ConfigError, Sources, ENV_PREFIX};
pub use models::{DurationRange, ModelConfig, ModelDurations};
pub use music::MusicConfig;
pub use oidc::{OidcPreset, OidcProviderConfig};
pub use presets::{parse_templates, BatchesConfig, PresetTemplate};
pub use providers::{
    CreditsConfig, PrivacyConfig, ProviderAccount, ProvidersConfig, SHOT_PROVIDERS,
};
pub use secret::{DatabaseUrl, Secret, MASK};
pub use sections::MetricsConfig;
pub use sections::{
    AccountsConfig, Config, DatabaseConfig, EmailConfig, EmailTransport, EncryptionConfig,
    RateLimit, RateLimitsConfig, RenderConfig, RetentionConfig, S3Config, ServerConfig, SmtpConfig,
    SmtpTls, StorageBackend, StorageConfig, TlsConfig, UploadRetention, UploadsConfig,
    WorkerConfig, CONFIG_FILE_NAME, DEFAULT_DATA_DIR, DEFAULT_LISTEN, MAX_PURGE_DAYS,
    OPERATOR_KEY_FILE_NAME, X264_PRESETS,
};
pub use sharing::{ImageCheckConfig, SharingConfig};
pub use speech::SpeechSettings;
pub use staff::StaffConfig;
pub use stock::StockConfig;
pub use validate::Problem;
pub use webhooks::WebhooksConfig;

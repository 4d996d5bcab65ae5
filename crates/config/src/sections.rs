//! The shape of the configuration and its defaults. Each section is a struct that rejects keys it
//! does not know, so a misspelt setting is an error instead of silently taking its default.
//! Paths that live in the data folder by default are derived from `server.data_dir` by
//! [`Config::defaults_for`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use reelsmith_core::Limits;
use serde::{Deserialize, Serialize};

use crate::providers::{CreditsConfig, PrivacyConfig, ProvidersConfig};
use crate::secret::{DatabaseUrl, Secret};

pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The name of the configuration file looked for in the data folder when `--config` is not given.
pub const CONFIG_FILE_NAME: &str = "reelsmith.toml";
/// The operator key's file in the data folder when `encryption.key_file` is not set.
pub const OPERATOR_KEY_FILE_NAME: &str = "operator.key";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub encryption: EncryptionConfig,
    pub email: EmailConfig,
    pub worker: WorkerConfig,
    pub limits: Limits,
    pub accounts: AccountsConfig,
    pub rate_limits: RateLimitsConfig,
    pub render: RenderConfig,
    #[serde(default)]
    pub providers: ProvidersConfig,
    #[serde(default)]
    pub credits: CreditsConfig,
    #[serde(default)]
    pub privacy: PrivacyConfig,
    /// How long data is kept (P-RET-1..4). Last, so sections added elsewhere merge cleanly.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Who may read `/metrics`.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// What one user may upload, and how much decoding runs at once.
    #[serde(default)]
    pub uploads: UploadsConfig,
    /// Staff step-up and TOTP (P-SEC-5).
    #[serde(default)]
    pub staff: crate::staff::StaffConfig,
    /// The gallery, share links, reports and the automated checks (issue 19).
    #[serde(default)]
    pub sharing: crate::sharing::SharingConfig,
    /// Sign-in through outside identity providers (`[[oidc]]`, P-ACC-4).
    #[serde(default)]
    pub oidc: Vec<crate::oidc::OidcProviderConfig>,
    /// The operator's music library.
    #[serde(default)]
    pub music: crate::music::MusicConfig,
    /// Plans, credit packs and the payment processor (issue 18).
    #[serde(default)]
    pub billing: crate::billing::BillingConfig,
    /// Outbound webhooks to API users (issue 23).
    #[serde(default)]
    pub webhooks: crate::webhooks::WebhooksConfig,
    /// The default voice and the natural (Piper) voices (issue 17).
    #[serde(default)]
    pub speech: crate::speech::SpeechSettings,
    /// Stock photos and clips, and the operator's media library (issue 25).
    #[serde(default)]
    pub stock: crate::stock::StockConfig,
    /// The operator's preset templates (`[[presets]]`, issue 25).
    #[serde(default)]
    pub presets: Vec<crate::presets::PresetTemplate>,
    /// Limits of one batch request (issue 25).
    #[serde(default)]
    pub batches: crate::presets::BatchesConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config::defaults_for(Path::new(DEFAULT_DATA_DIR))
    }
}

impl Config {
    /// Every default, with the folders and the database that live in the data folder placed in
    /// `data_dir`.
    pub fn defaults_for(data_dir: &Path) -> Config {
        Config {
            server: ServerConfig {
                data_dir: data_dir.to_path_buf(),
                ..ServerConfig::default()
            },
            database: DatabaseConfig {
                url: DatabaseUrl::new(format!(
                    "sqlite://{}",
                    data_dir.join("reelsmith.db").display()
                )),
                max_connections: 10,
                acquire_timeout_seconds: default_acquire_timeout_seconds(),
            },
            storage: StorageConfig {
                backend: StorageBackend::Local,
                local_path: data_dir.join("media"),
                s3: S3Config::default(),
            },
            encryption: EncryptionConfig {
                key_file: data_dir.join(OPERATOR_KEY_FILE_NAME),
                previous_key_files: Vec::new(),
            },
            email: EmailConfig {
                transport: EmailTransport::Outbox,
                from: "Reelsmith <reelsmith@localhost>".into(),
                outbox_dir: data_dir.join("outbox"),
                smtp: SmtpConfig::default(),
            },
            worker: WorkerConfig {
                temp_dir: data_dir.join("tmp"),
                ..WorkerConfig::default()
            },
            limits: Limits::default(),
            accounts: AccountsConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            render: RenderConfig::default(),
            providers: ProvidersConfig::default(),
            credits: CreditsConfig::default(),
            privacy: PrivacyConfig::default(),
            retention: RetentionConfig::default(),
            metrics: MetricsConfig::default(),
            uploads: UploadsConfig::default(),
            staff: crate::staff::StaffConfig::default(),
            sharing: crate::sharing::SharingConfig::default(),
            oidc: Vec::new(),
            music: crate::music::MusicConfig::default(),
            billing: crate::billing::BillingConfig::default(),
            webhooks: crate::webhooks::WebhooksConfig::default(),
            speech: crate::speech::SpeechSettings::default(),
            stock: crate::stock::StockConfig::default(),
            presets: Vec::new(),
            batches: crate::presets::BatchesConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port the HTTP server binds.
    pub listen: SocketAddr,
    /// The address people reach the service at (`https://video.example.org`); links in emails and
    /// the `Secure` cookie flag follow it. Unset: derived from `listen` over plain http.
    pub public_url: Option<String>,
    /// The folder holding the SQLite database, media, outbox and temporary files by default.
    pub data_dir: PathBuf,
    /// Trust `X-Forwarded-For` / `X-Forwarded-Proto` from a reverse proxy in front of the server.
    pub trust_proxy_headers: bool,
    pub tls: TlsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            // DEFAULT_LISTEN, built directly so that no parse can fail at run time.
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            trust_proxy_headers: false,
            tls: TlsConfig::default(),
        }
    }
}

/// Certificate and key (PEM) for terminating TLS in the server itself; both or neither.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://user:password@host/db`.
    pub url: DatabaseUrl,
    pub max_connections: u32,
    /// How long a query waits for a pooled connection (connecting included) before the API
    /// answers 503: a stopped database must not hold requests for long.
    #[serde(default = "default_acquire_timeout_seconds")]
    pub acquire_timeout_seconds: u64,
}

fn default_acquire_timeout_seconds() -> u64 {
    3
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Local,
    S3,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    /// The folder media is kept in when `backend = "local"`.
    pub local_path: PathBuf,
    pub s3: S3Config,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint of an S3-compatible service (MinIO, R2); unset means AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret<String>>,
    /// Address buckets as `endpoint/bucket` rather than `bucket.endpoint` (MinIO needs this).
    pub path_style: bool,
    /// Permit an `http://` endpoint (a local test server); refused otherwise.
    pub allow_http: bool,
    /// Bounds on each request to the service, so a frozen endpoint cannot hold a job or a
    /// readiness probe: the whole request, the connect phase, and the client's own retries.
    pub timeout_seconds: u64,
    pub connect_timeout_seconds: u64,
    pub max_retries: u32,
    pub retry_timeout_seconds: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: None,
            access_key_id: None,
            secret_access_key: None,
            path_style: false,
            allow_http: false,
            timeout_seconds: 30,
            connect_timeout_seconds: 5,
            max_retries: 3,
            retry_timeout_seconds: 30,
        }
    }
}

/// Encryption at rest (P-SEC-2): media is sealed under per-user data keys, which the database
/// holds wrapped under the operator key read from `key_file`. Only paths appear here, never
/// keys, so the effective configuration can be printed as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// The current operator key: a file of 64 hex digits, mode 0600. Default
    /// `<data>/operator.key`, generated on the first start of a fresh installation. Back it up
    /// apart from the media: losing it loses every media object.
    pub key_file: PathBuf,
    /// Earlier operator keys, still accepted for unwrapping data keys until `reelsmith keys
    /// rotate` has re-wrapped them all under `key_file`.
    #[serde(default)]
    pub previous_key_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    /// Each message is written as an `.eml` file into `email.outbox_dir`.
    Outbox,
    Smtp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub transport: EmailTransport,
    /// The `From` of every message: `Name <address>` or a bare address.
    pub from: String,
    pub outbox_dir: PathBuf,
    pub smtp: SmtpConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text; only sensible towards a relay on the same machine.
    None,
    /// Plain connection upgraded with STARTTLS, which is then required.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: Option<String>,
    /// Unset: 587 for STARTTLS, 465 for TLS, 25 for none.
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    pub tls: SmtpTls,
    /// A PEM certificate trusted in addition to the public roots: for a relay whose certificate
    /// comes from a private certificate authority.
    pub ca_file: Option<PathBuf>,
    /// Give up on a connection or command after this many seconds.
    pub timeout_seconds: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: None,
            port: None,
            username: None,
            password: None,
            tls: SmtpTls::Starttls,
            ca_file: None,
            timeout_seconds: 30,
        }
    }
}

impl SmtpConfig {
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Jobs one worker process runs at once.
    pub concurrency: usize,
    /// How long a claimed job stays reserved without a heartbeat before another worker may take it.
    pub lease_seconds: u64,
    /// How often a worker renews its lease; must be well under `lease_seconds`.
    pub heartbeat_seconds: u64,
    /// Attempts before a job that keeps failing with retryable errors is marked failed.
    pub max_attempts: u32,
    pub per_user_running_jobs: u32,
    pub global_running_jobs: u32,
    /// Where jobs get their temporary working folders.
    pub temp_dir: PathBuf,
    /// How long SIGTERM waits for running stages before releasing their jobs to the queue.
    #[serde(default = "default_shutdown_grace_seconds")]
    pub shutdown_grace_seconds: u64,
    /// How long the store stage keeps retrying an upload the media store refuses, holding
    /// the finished render, before the attempt is given up.
    #[serde(default = "default_store_retry_seconds")]
    pub store_retry_seconds: u64,
    /// How long after submission a job still waits out an outage of the database or media
    /// store (retries that do not count as attempts) before it fails for good.
    #[serde(default = "default_outage_patience_minutes")]
    pub outage_patience_minutes: u64,
    /// Where `reelsmith worker` serves its own `/metrics` (same `metrics.token` rule as the
    /// server's); unset: no listener. Workers inside `serve` show on the server's `/metrics`.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
}

fn default_shutdown_grace_seconds() -> u64 {
    30
}

fn default_store_retry_seconds() -> u64 {
    120
}

fn default_outage_patience_minutes() -> u64 {
    24 * 60
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 2,
            lease_seconds: 60,
            heartbeat_seconds: 15,
            max_attempts: 3,
            per_user_running_jobs: 2,
            global_running_jobs: 8,
            temp_dir: PathBuf::from(DEFAULT_DATA_DIR).join("tmp"),
            shutdown_grace_seconds: default_shutdown_grace_seconds(),
            store_retry_seconds: default_store_retry_seconds(),
            outage_patience_minutes: default_outage_patience_minutes(),
            metrics_listen: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Youngest age sign-up accepts (P-ACC-7).
    pub minimum_age: u8,
    pub session_days: u32,
    /// How long an emailed code stays valid (P-ACC-2).
    pub code_minutes: u32,
    /// Wrong guesses before a code is burnt (P-ACC-2).
    pub code_attempts: u32,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            minimum_age: 13,
            session_days: 30,
            code_minutes: 15,
            code_attempts: 5,
        }
    }
}

/// At most `count` events per `window_seconds` for one key (an IP address, an account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub count: u32,
    pub window_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// Sign-in attempts per account from one client address.
    pub sign_in: RateLimit,
    pub codes: RateLimit,
    pub sign_up: RateLimit,
    pub job_submission: RateLimit,
    /// Sign-in attempts per account from every address together: guessing spread over many
    /// addresses still meets a limit.
    pub sign_in_account: RateLimit,
    /// Preview frames drawn for one account (`POST /api/v1/preview/frame`): each is tens of
    /// milliseconds of a server core, so a script cannot keep the server drawing.
    pub preview: RateLimit,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            sign_in: RateLimit {
                count: 10,
                window_seconds: 15 * 60,
            },
            codes: RateLimit {
                count: 5,
                window_seconds: 15 * 60,
            },
            sign_up: RateLimit {
                count: 5,
                window_seconds: 60 * 60,
            },
            job_submission: RateLimit {
                count: 30,
                window_seconds: 60 * 60,
            },
            sign_in_account: RateLimit {
                count: 30,
                window_seconds: 60 * 60,
            },
            preview: RateLimit {
                count: 120,
                window_seconds: 60,
            },
        }
    }
}

/// x264's presets live in core, shared with the engine's encoder.
pub use reelsmith_core::X264_PRESETS;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenderConfig {
    pub x264_preset: String,
    /// x264 constant rate factor: 0 (lossless) to 51; lower is better and larger.
    pub crf: u8,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            x264_preset: "veryfast".into(),
            crf: 23,
        }
    }
}

/// When source uploads are deleted (P-RET-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadRetention {
    /// As soon as every job that uses the upload has ended and none still waits or runs.
    UntilJobEnds,
    /// As long as the videos made from it: the upload goes when the last job using it is
    /// deleted by retention (and, with `video_days`, once it is that old and unused).
    WithVideo,
}

impl UploadRetention {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadRetention::UntilJobEnds => "until_job_ends",
            UploadRetention::WithVideo => "with_video",
        }
    }
}

/// The most `purge_days` may be: P-RET-4 promises a purge within 30 days.
pub const MAX_PURGE_DAYS: u32 = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days a finished video is kept (P-RET-1); unset keeps it until the user deletes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_days: Option<u32>,
    /// When source uploads go (P-RET-2).
    pub uploads: UploadRetention,
    /// Months after which audit entries are anonymised (P-RET-3).
    pub logs_months: u32,
    /// Days between an account's deletion and the purge of all its data (P-RET-4), at most 30.
    pub purge_days: u32,
    /// How often each worker runs the retention sweep.
    pub sweep_minutes: u32,
    /// Hours an account export's download link works after the archive is ready (P-RIGHTS-1);
    /// the sweep then deletes the archive.
    pub export_hours: u32,
    /// Days a draft storyboard is kept after its last change; the sweep then deletes it (a
    /// draft holds a script and nothing was charged for it).
    pub draft_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            video_days: None,
            uploads: UploadRetention::WithVideo,
            logs_months: 12,
            purge_days: MAX_PURGE_DAYS,
            sweep_minutes: 60,
            export_hours: 24,
            draft_days: 30,
        }
    }
}

/// `/metrics` tells how busy the service is and which routes fail: operators' business, so it
/// is served only to a scraper that sends `Authorization: Bearer <token>`, and not at all while
/// no token is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// The scraper's bearer token, at least 16 characters; unset: `/metrics` answers 404.
    pub token: Option<Secret<String>>,
}

/// Bounds on what uploads cost the server: image decoding is the expensive part (a 49-megapixel
/// PNG needs over 300 MB while it is decoded), so only a few run at once, and each user has a
/// rate and a storage quota.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadsConfig {
    /// Images decoded at once by this server; further uploads wait their turn.
    pub decode_concurrency: usize,
    /// Uploads per user (`upload.rate_limited` beyond it).
    pub rate_limit: RateLimit,
    /// Bytes of stored uploads per user (`upload.quota_exceeded` beyond it).
    pub quota_bytes: u64,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        UploadsConfig {
            decode_concurrency: 2,
            rate_limit: RateLimit {
                count: 60,
                window_seconds: 60 * 60,
            },
            quota_bytes: 5 * 1024 * 1024 * 1024,
        }
    }
}

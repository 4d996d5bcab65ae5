//! What `serve`, `worker`, `migrate` and `config check` share: the configuration flags, loading
//! the layered configuration, opening the database and media storage, logging, and turning
//! SIGINT/SIGTERM into a shutdown token.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reelsmith_config::{Config, Sources, StorageBackend};
use reelsmith_store::{Db, Keyring, MediaConfig, MediaStore, S3Config, S3Limits, SealedMedia};
use tokio_util::sync::CancellationToken;

/// Flags every platform subcommand takes; they override the file and the environment.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// The data folder: database, media, outbox and temporary files by default.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// A TOML configuration file (default: `<data>/reelsmith.toml` when present).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn sources(&self) -> Sources {
        let mut sources = Sources::from_process_env();
        if let Some(file) = &self.config {
            sources = sources.with_config_file(file);
        }
        if let Some(data) = &self.data {
            sources = sources.with_override("server.data_dir", data.display().to_string());
        }
        sources
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The folders the embedded defaults keep their files in.
pub fn create_data_dirs(config: &Config) -> anyhow::Result<()> {
    let mut dirs = vec![
        config.server.data_dir.clone(),
        config.worker.temp_dir.clone(),
    ];
    if config.storage.backend == StorageBackend::Local {
        dirs.push(config.storage.local_path.clone());
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    Ok(())
}

pub async fn open_db(config: &Config) -> anyhow::Result<Db> {
    let url = &config.database.url;
    let acquire = std::time::Duration::from_secs(config.database.acquire_timeout_seconds.max(1));
    Db::connect_bounded(url.expose(), config.database.max_connections, acquire)
        .await
        .with_context(|| format!("cannot open the database {}", url.redacted()))
}

pub fn media_store(config: &Config) -> anyhow::Result<MediaStore> {
    let media = match config.storage.backend {
        StorageBackend::Local => MediaConfig::Local {
            root: config.storage.local_path.clone(),
        },
        StorageBackend::S3 => {
            let s3 = &config.storage.s3;
            MediaConfig::S3(S3Config {
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone(),
                bucket: s3.bucket.clone().unwrap_or_default(),
                access_key_id: s3.access_key_id.clone().unwrap_or_default(),
                secret_access_key: s3
                    .secret_access_key
                    .as_ref()
                    .map(|s| s.expose().clone())
                    .unwrap_or_default(),
                path_style: s3.path_style,
                allow_http: s3.allow_http,
            })
        }
    };
    let s3 = &config.storage.s3;
    let limits = S3Limits {
        timeout: Duration::from_secs(s3.timeout_seconds.max(1)),
        connect_timeout: Duration::from_secs(s3.connect_timeout_seconds.max(1)),
        max_retries: s3.max_retries as usize,
        retry_timeout: Duration::from_secs(s3.retry_timeout_seconds),
    };
    match &media {
        MediaConfig::S3(settings) => MediaStore::s3_with(settings, limits),
        MediaConfig::Local { .. } => MediaStore::from_config(&media),
    }
    .context("cannot open media storage")
}

/// Media storage with encryption at rest (P-SEC-2): the configured store, sealed under per-user
/// data keys wrapped by the operator key. A fresh installation without a key file gets one
/// generated (mode 0600); with data keys already wrapped, a missing key file is an error.
pub async fn sealed_media(config: &Config, db: &Db) -> anyhow::Result<SealedMedia> {
    let raw = media_store(config)?;
    let encryption = &config.encryption;
    let (keyring, created) =
        Keyring::load_or_create(db, &encryption.key_file, &encryption.previous_key_files)
            .await
            .context("cannot load the operator key")?;
    if created {
        // The id is a one-way fingerprint; the key itself is never logged.
        tracing::warn!(
            path = %encryption.key_file.display(),
            key_id = keyring.current().id(),
            "generated a new operator key: back this file up apart from the media; without it no media can be read"
        );
    } else {
        tracing::info!(key_id = keyring.current().id(), "operator key loaded");
    }
    Ok(SealedMedia::new(raw, db.clone(), keyring))
}

/// Cancelled on the first SIGINT or SIGTERM; a second one exits at once.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(
            "shutting down: finishing or releasing running jobs (signal again to exit now)"
        );
        trigger.cancel();
        wait_for_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
    token
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Builds the async runtime the platform subcommands run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Prints an error chain and maps it to the exit code.
pub fn exit_with(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

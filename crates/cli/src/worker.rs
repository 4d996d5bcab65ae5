//! `reelsmith worker`: run job workers only (no HTTP), against the configured database and media
//! storage. Many of these may run on many machines beside `serve --no-workers`.

use clap::Args;
use reelsmith_config::Config;
use std::sync::Arc;

use anyhow::Context;
use reelsmith_mail::mailer_from_config;
use reelsmith_worker::{process_worker_id, JobMail, ProviderSet, Worker};
use tokio_util::sync::CancellationToken;

use crate::platform::{
    create_data_dirs, exit_with, init_tracing, open_db, runtime, shutdown_on_signals, ConfigArgs,
};

#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// How many workers to run in this process (each runs `worker.concurrency` jobs at once).
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

pub fn run(args: WorkerArgs) -> std::process::ExitCode {
    init_tracing();
    exit_with(runtime().and_then(|rt| rt.block_on(work(args))))
}

async fn work(args: WorkerArgs) -> anyhow::Result<()> {
    let config = Config::load_validated(&args.config.sources())?;
    crate::checks::image_classifier(&config)?;
    create_data_dirs(&config)?;
    let db = open_db(&config).await?;
    db.migrate().await?;
    let media = crate::deployment::checked_sealed_media(&config, &db).await?;
    crate::checks::refuse_mismatched_key(&config, &db).await?;
    let providers = configured_providers(&config)?;
    let mail = Arc::new(JobMail {
        mailer: Arc::from(mailer_from_config(&config.email).context("cannot set up email")?),
        branding: reelsmith_server::state::branding(&config),
    });
    let shutdown = shutdown_on_signals();
    let metrics = match config.worker.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} (worker.metrics_listen)"))?;
            Some(tokio::spawn(reelsmith_worker::metrics_endpoint::serve(
                listener,
                config.metrics.token.clone(),
                shutdown.clone(),
            )))
        }
        None => None,
    };
    run_workers(
        &db,
        &media,
        &config,
        &providers,
        mail,
        args.workers,
        shutdown,
    )
    .await;
    if let Some(task) = metrics {
        match task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the worker metrics listener failed"),
            Err(e) => tracing::warn!(error = %e, "the worker metrics listener panicked"),
            Ok(Ok(())) => {}
        }
    }
    db.close().await;
    Ok(())
}

/// Runs `count` workers until `shutdown`, then waits for each to finish or release its jobs.
pub async fn run_workers(
    db: &reelsmith_store::Db,
    media: &reelsmith_store::SealedMedia,
    config: &Config,
    providers: &ProviderSet,
    mail: Arc<JobMail>,
    count: usize,
    shutdown: CancellationToken,
) {
    let billing = (count > 0).then(|| {
        tokio::spawn(billing_rounds(
            db.clone(),
            config.billing.clone(),
            shutdown.clone(),
        ))
    });
    let webhooks = (count > 0).then(|| {
        let sender = reelsmith_worker::webhooks::WebhookSender::new(
            db.clone(),
            media.keys().clone(),
            config.webhooks.clone(),
            Arc::clone(&mail),
        );
        tokio::spawn(sender.run(shutdown.clone()))
    });
    if count > 0 {
        // Said once at start, so an operator who skipped the natural voice's setup or whose
        // model is corrupt learns it here, not from the sound of a job (D-voice-6).
        match reelsmith_worker::speech_settings::default_voice_line(config) {
            Ok(line) => tracing::info!("default voice: {line}"),
            Err(line) => tracing::warn!("default voice: {line}"),
        }
    }
    let mut workers = tokio::task::JoinSet::new();
    for index in 0..count {
        let worker = Worker::new(db.clone(), media.clone(), config, process_worker_id(index))
            .with_providers(providers.clone())
            .with_mail(Arc::clone(&mail));
        workers.spawn(worker.run(shutdown.clone()));
    }
    while let Some(done) = workers.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "a worker stopped with an error"),
            Err(e) => tracing::error!(error = %e, "a worker panicked"),
        }
    }
    if let Some(task) = billing {
        let _ = task.await;
    }
    if let Some(task) = webhooks {
        let _ = task.await;
    }
}

/// How often each worker process runs the billing round (plan roll-over, monthly grants,
/// expired checkouts, the purge of payment records past their legal period).
const BILLING_ROUND: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The billing round now and every [`BILLING_ROUND`] until shutdown. Every step is keyed or
/// idempotent, so several worker processes running it at once grant nothing twice.
async fn billing_rounds(
    db: reelsmith_store::Db,
    billing: reelsmith_config::BillingConfig,
    shutdown: CancellationToken,
) {
    loop {
        match reelsmith_billing::schedule::round(&db, &billing, reelsmith_store::now_ms()).await {
            Ok(report) => tracing::info!(?report, "billing round"),
            Err(e) => tracing::warn!(error = %e, "billing round failed; retrying at the next one"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(BILLING_ROUND) => {}
        }
    }
}

/// The enabled third-party providers (none unless a key is configured). Their names are logged;
/// their keys never are (P-TP-5).
pub fn configured_providers(config: &Config) -> anyhow::Result<ProviderSet> {
    let providers =
        ProviderSet::from_config(&config.providers, config.server.public_url.as_deref())?;
    let names: Vec<&str> = providers.names().collect();
    if !names.is_empty() {
        tracing::info!(providers = ?names, "third-party shot providers enabled");
    }
    Ok(providers)
}

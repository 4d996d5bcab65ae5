//! `reelsmith serve`: the HTTP API and a pool of workers in one process, on the embedded defaults
//! (SQLite, media and outbox in the data folder) unless configured otherwise. SIGINT or SIGTERM
//! stops accepting connections, lets requests and jobs finish (jobs within the workers' grace
//! period, after which they are released to the queue) and exits.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reelsmith_config::Config;
use reelsmith_mail::{mailer_from_config, Mailer};
use reelsmith_server::{router, AppState};
use tracing::info;

use crate::platform::{
    create_data_dirs, exit_with, init_tracing, open_db, runtime, shutdown_on_signals, ConfigArgs,
};
use crate::worker::{configured_providers, run_workers};
use reelsmith_worker::JobMail;

/// How long shutdown waits for open HTTP connections (event streams) to close.
const HTTP_GRACE: Duration = Duration::from_secs(10);

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Address and port to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// Serve the API only; jobs are run by separate `reelsmith worker` processes.
    #[arg(long, conflicts_with = "workers")]
    no_workers: bool,
    /// How many workers to run in this process (each runs `worker.concurrency` jobs at once).
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

pub fn run(args: ServeArgs) -> std::process::ExitCode {
    init_tracing();
    exit_with(runtime().and_then(|rt| rt.block_on(serve(args))))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut sources = args.config.sources();
    if let Some(listen) = &args.listen {
        sources = sources.with_override("server.listen", listen.clone());
    }
    let config = Arc::new(Config::load_validated(&sources)?);
    crate::checks::image_classifier(&config)?;
    create_data_dirs(&config)?;
    let db = open_db(&config).await?;
    db.migrate().await.context("cannot migrate the database")?;
    let media = crate::deployment::checked_sealed_media(&config, &db).await?;
    // One-time move off names derived from the plaintext (P-SEC-2); a no-op once done.
    let renamed = reelsmith_store::rename_content_addressed(&db, &media)
        .await
        .context("cannot rename content-addressed uploads")?;
    if renamed != reelsmith_store::RenameReport::default() {
        info!(
            renamed = renamed.renamed,
            deleted = renamed.deleted,
            missing = renamed.missing,
            "uploads moved to content-free object names"
        );
    }
    let mailer: Arc<dyn Mailer> =
        Arc::from(mailer_from_config(&config.email).context("cannot set up email")?);

    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let address = listener.local_addr()?;
    let shutdown = shutdown_on_signals();

    let workers = if args.no_workers { 0 } else { args.workers };
    let providers = configured_providers(&config)?;
    let mail = Arc::new(JobMail {
        mailer: Arc::clone(&mailer),
        branding: reelsmith_server::state::branding(&config),
    });
    let pool = {
        let (db, media, config, shutdown) = (
            db.clone(),
            media.clone(),
            Arc::clone(&config),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            run_workers(&db, &media, &config, &providers, mail, workers, shutdown).await
        })
    };

    let app = router(AppState::new(
        db.clone(),
        media,
        mailer,
        Arc::clone(&config),
    ));
    let tls = match (&config.server.tls.cert, &config.server.tls.key) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
        _ => None,
    };
    info!(%address, workers, tls = tls.is_some(), data = %config.server.data_dir.display(), "listening");
    let http_shutdown = shutdown.clone();
    let stopped = async move { http_shutdown.cancelled().await };
    let server: Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match tls {
        Some(acceptor) => Box::pin(
            axum::serve(
                crate::tls::TlsListener::new(listener, acceptor),
                app.layer(axum::middleware::map_request(crate::tls::expose_peer))
                    .into_make_service_with_connect_info::<crate::tls::TlsPeer>(),
            )
            .with_graceful_shutdown(stopped)
            .into_future(),
        ),
        None => Box::pin(
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stopped)
            .into_future(),
        ),
    };
    // Event streams stay open until their client leaves; shutdown does not wait for them forever.
    let served = tokio::select! {
        served = server => served.context("the HTTP server failed"),
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(HTTP_GRACE).await;
        } => {
            tracing::warn!("connections still open after the grace period: closing them");
            Ok(())
        }
    };
    // The server also stops when it fails; the workers must stop with it.
    shutdown.cancel();
    pool.await.context("the worker pool panicked")?;
    db.close().await;
    info!("stopped");
    served
}

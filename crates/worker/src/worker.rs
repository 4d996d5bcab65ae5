//! The claim loop: as many jobs at once as the configured concurrency, each in its own task;
//! polling (and on PostgreSQL also woken by `NOTIFY`); a graceful shutdown that lets jobs finish
//! within a grace period and then releases the rest to the queue.

use std::sync::Arc;
use std::time::Duration;

use reelsmith_config::{Config, RetentionConfig};
use reelsmith_store::{now_ms, Db, JobQueuedListener, SealedMedia};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

pub use crate::context::WorkerSettings;
use crate::context::{JobContext, JobOutcome};
use crate::error::WorkerError;
use crate::notify::{self, JobMail};
use crate::pipeline::{millis, run_job};
use crate::providers::ProviderSet;
use crate::workdir::remove_stale_folders;

/// A worker id that names this machine and process: `<host>.<pid>.<index>`.
pub fn process_worker_id(index: usize) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    format!("{host}.{}.{index}", std::process::id())
}

pub struct Worker {
    ctx: JobContext,
    outcomes: Option<mpsc::UnboundedSender<JobOutcome>>,
    mail: Option<Arc<JobMail>>,
}

impl Worker {
    /// A worker configured from the platform configuration.
    pub fn new(
        db: Db,
        media: SealedMedia,
        config: &Config,
        worker_id: impl Into<String>,
    ) -> Worker {
        Worker::with_settings(db, media, WorkerSettings::from_config(config), worker_id)
    }

    pub fn with_settings(
        db: Db,
        media: SealedMedia,
        settings: WorkerSettings,
        worker_id: impl Into<String>,
    ) -> Worker {
        Worker {
            ctx: JobContext {
                db,
                media,
                settings: Arc::new(settings),
                worker_id: worker_id.into(),
                providers: Arc::new(ProviderSet::none()),
            },
            outcomes: None,
            mail: None,
        }
    }

    /// Email owners who asked for it when their jobs end (none without this).
    pub fn with_mail(mut self, mail: Arc<JobMail>) -> Worker {
        self.mail = Some(mail);
        self
    }

    /// The third-party providers jobs may name (none by default: every job that names one fails
    /// with `provider.not_configured`).
    pub fn with_providers(mut self, providers: ProviderSet) -> Worker {
        self.ctx.providers = Arc::new(providers);
        self
    }

    /// Every job's outcome is also sent here (for tests and supervisors).
    pub fn with_outcomes(mut self, sink: mpsc::UnboundedSender<JobOutcome>) -> Worker {
        self.outcomes = Some(sink);
        self
    }

    pub fn worker_id(&self) -> &str {
        &self.ctx.worker_id
    }

    /// Claims and runs jobs until `shutdown` is cancelled, then finishes or releases the jobs in
    /// flight. Work folders left by dead processes are removed first.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), WorkerError> {
        let settings = Arc::clone(&self.ctx.settings);
        let temp_dir = settings.temp_dir.clone();
        let removed = tokio::task::spawn_blocking(move || remove_stale_folders(&temp_dir))
            .await
            .map_err(WorkerError::from)??;
        for folder in &removed {
            info!(folder = %folder.display(), "removed a stale work folder");
        }
        let mut listener = match self.ctx.db.job_queued_listener().await {
            Ok(listener) => listener,
            Err(e) => {
                warn!(error = %e, "cannot listen for queued jobs; polling only");
                None
            }
        };
        info!(worker = %self.ctx.worker_id, concurrency = settings.concurrency, "worker started");
        let sweeper = tokio::spawn(sweep_periodically(
            self.ctx.db.clone(),
            self.ctx.media.clone(),
            settings.retention.clone(),
            settings.sweep_interval,
            shutdown.clone(),
        ));

        let slots = Arc::new(Semaphore::new(settings.concurrency));
        let abort = CancellationToken::new();
        let mut tasks = JoinSet::new();
        loop {
            while let Some(done) = tasks.try_join_next() {
                self.report(done);
            }
            let permit = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    self.report(done);
                    continue;
                }
            };
            let claim = self
                .ctx
                .db
                .claim_next_job(
                    &self.ctx.worker_id,
                    millis(settings.lease),
                    settings.limits,
                    now_ms(),
                )
                .await;
            match claim {
                Ok(Some(claimed)) => {
                    let span = tracing::info_span!("job", job_id = %claimed.lease.job_id);
                    let ctx = self.ctx.clone();
                    let mail = self.mail.clone();
                    let abort = abort.child_token();
                    tasks.spawn(
                        async move {
                            let db = ctx.db.clone();
                            let outcome = run_job(ctx, claimed, abort).await;
                            drop(permit);
                            if let Some(mail) = mail {
                                notify::tell_owner(&db, &mail, &outcome).await;
                            }
                            outcome
                        }
                        .instrument(span),
                    );
                    continue;
                }
                Ok(None) => drop(permit),
                Err(e) => {
                    drop(permit);
                    warn!(error = %e, "cannot claim a job");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = wait_for_work(&mut listener, settings.poll_interval) => {}
            }
        }

        info!(worker = %self.ctx.worker_id, running = tasks.len(), "worker stopping");
        let drained = tokio::time::timeout(settings.shutdown_grace, async {
            while let Some(done) = tasks.join_next().await {
                self.report(done);
            }
        })
        .await;
        if drained.is_err() {
            info!(
                running = tasks.len(),
                "grace period over: releasing running jobs"
            );
            abort.cancel();
            while let Some(done) = tasks.join_next().await {
                self.report(done);
            }
        }
        if let Err(e) = sweeper.await {
            warn!(error = %e, "the retention sweeper task panicked");
        }
        info!(worker = %self.ctx.worker_id, "worker stopped");
        Ok(())
    }

    fn report(&self, done: Result<JobOutcome, tokio::task::JoinError>) {
        match done {
            Ok(outcome) => {
                if let Some(sink) = &self.outcomes {
                    let _ = sink.send(outcome);
                }
            }
            Err(e) => warn!(error = %e, "a job task panicked; its lease will expire"),
        }
    }
}

/// Runs the retention sweep now and then every `interval` until `shutdown`. A failed sweep is
/// logged and tried again at the next interval: retention must never stop a worker from
/// rendering. Several workers sweeping at once is safe (every step is idempotent), only
/// redundant.
async fn sweep_periodically(
    db: Db,
    media: SealedMedia,
    policy: RetentionConfig,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let sweep = crate::retention::sweep(&db, &media, &policy, now_ms(), false);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            result = sweep => {
                if let Err(e) = result {
                    use reelsmith_core::ErrorCode;
                    warn!(code = %e.code(), error = %e, "retention sweep failed; retrying at the next interval");
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Sleeps for the poll interval, or less when PostgreSQL announces a queued job.
async fn wait_for_work(listener: &mut Option<JobQueuedListener>, poll: Duration) {
    let Some(active) = listener.as_mut() else {
        tokio::time::sleep(poll).await;
        return;
    };
    tokio::select! {
        received = active.recv() => {
            if let Err(e) = received {
                warn!(error = %e, "queued-job listener failed; polling only");
                *listener = None;
            }
        }
        _ = tokio::time::sleep(poll) => {}
    }
}

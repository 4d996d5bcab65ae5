//! `reelsmith retention [--dry-run]`: run the retention sweep once (P-RET-1..4) and print its
//! report as JSON. Workers run the same sweep every `retention.sweep_minutes`; this is for
//! operators who want to see what the policy removes (`--dry-run` deletes nothing) or to apply
//! a changed policy at once.

use anyhow::Context;
use clap::Args;
use reelsmith_config::Config;
use reelsmith_store::now_ms;

use crate::platform::{exit_with, init_tracing, open_db, runtime, sealed_media, ConfigArgs};

#[derive(Args, Debug)]
pub struct RetentionArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Report what would be deleted, anonymised and purged, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(args: RetentionArgs) -> std::process::ExitCode {
    init_tracing();
    exit_with(runtime().and_then(|rt| rt.block_on(sweep(args))))
}

async fn sweep(args: RetentionArgs) -> anyhow::Result<()> {
    let config = Config::load_validated(&args.config.sources())?;
    let db = open_db(&config).await?;
    db.migrate().await.context("cannot migrate the database")?;
    let media = sealed_media(&config, &db).await?;
    let report =
        reelsmith_worker::sweep(&db, &media, &config.retention, now_ms(), args.dry_run).await;
    db.close().await;
    let report = report.context("the retention sweep failed")?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if !report.failures.is_empty() {
        anyhow::bail!(
            "{} item(s) could not be handled; the next sweep retries them",
            report.failures.len()
        );
    }
    Ok(())
}

//! `reelsmith migrate`: apply the embedded database migrations and exit.

use clap::Args;

use crate::platform::{create_data_dirs, exit_with, init_tracing, open_db, runtime, ConfigArgs};

#[derive(Args, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn run(args: MigrateArgs) -> std::process::ExitCode {
    init_tracing();
    exit_with(runtime().and_then(|rt| rt.block_on(migrate(args))))
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let config = reelsmith_config::Config::load_validated(&args.config.sources())?;
    create_data_dirs(&config)?;
    let db = open_db(&config).await?;
    db.migrate().await?;
    db.close().await;
    println!(
        "database is up to date ({})",
        config.database.url.redacted()
    );
    Ok(())
}

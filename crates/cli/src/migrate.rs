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
    let before = db.applied_migrations().await?;
    db.migrate().await?;
    let after = db.applied_migrations().await?;
    db.close().await;
    println!(
        "{}",
        outcome_line(before, after, &config.database.url.redacted())
    );
    Ok(())
}

/// What `migrate` did, said plainly: a fresh schema is not "up to date", it was just created.
fn outcome_line(before: i64, after: i64, database: &str) -> String {
    let applied = after - before;
    if before == 0 && after > 0 {
        format!("created the database schema ({after} migration(s) applied) in {database}")
    } else if applied > 0 {
        format!("applied {applied} migration(s) to {database}; it is now up to date")
    } else {
        format!("database is already up to date; nothing to apply ({database})")
    }
}

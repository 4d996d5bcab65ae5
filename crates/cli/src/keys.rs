//! `reelsmith keys`: the operator key that wraps every user's data key (P-SEC-2).
//!
//! Rotation without downtime: `keys generate --out NEW` makes a new key file; the configuration
//! then names it as `encryption.key_file` with the old file in `encryption.previous_key_files`,
//! and every process is restarted (new data keys are wrapped under the new key, old ones still
//! unwrap); `keys rotate` re-wraps every data key under the new key; after that the old key file
//! can be dropped from the configuration. The media itself is never re-encrypted.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use reelsmith_config::Config;
use reelsmith_store::{now_ms, KeyStore, Keyring, OperatorKey};

use crate::platform::{exit_with, init_tracing, open_db, runtime, ConfigArgs};

#[derive(Args, Debug)]
pub struct KeysCommand {
    #[command(subcommand)]
    action: KeysAction,
}

#[derive(Subcommand, Debug)]
enum KeysAction {
    /// Write a new random operator key into a new file (mode 0600); prints its id only.
    Generate {
        /// Where to write the key; an existing file is never replaced.
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-wrap every user's data key under the configured `encryption.key_file`, reading them
    /// with it or any of `encryption.previous_key_files`.
    Rotate {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub fn run(command: KeysCommand) -> std::process::ExitCode {
    init_tracing();
    match command.action {
        KeysAction::Generate { out } => exit_with(generate(&out)),
        KeysAction::Rotate { config } => {
            exit_with(runtime().and_then(|rt| rt.block_on(rotate(config))))
        }
    }
}

fn generate(out: &std::path::Path) -> anyhow::Result<()> {
    let key = OperatorKey::create_file(out)?;
    println!(
        "wrote operator key {} to {} (mode 0600); back it up apart from the media",
        key.id(),
        out.display()
    );
    Ok(())
}

async fn rotate(args: ConfigArgs) -> anyhow::Result<()> {
    let config = Config::load_validated(&args.sources())?;
    let encryption = &config.encryption;
    // Never generate here: rotating to a key nobody configured would lock every process out.
    let mut keyring = Keyring::new(
        OperatorKey::read_file(&encryption.key_file).context("cannot read encryption.key_file")?,
    );
    let mut previous_ids = Vec::new();
    for file in &encryption.previous_key_files {
        let key = OperatorKey::read_file(file)
            .context("cannot read one of encryption.previous_key_files")?;
        previous_ids.push(key.id().to_owned());
        keyring = keyring.with_previous(key);
    }
    let current = keyring.current().id().to_owned();
    let db = open_db(&config).await?;
    db.migrate().await.context("cannot migrate the database")?;
    // Rotation touches only the database: the media stays as it is.
    let report = KeyStore::new(db.clone(), keyring).rotate(now_ms()).await?;
    let remaining = db.operator_key_ids_in_use().await?;
    // The deployment fingerprint follows a rotation from its own key, so processes given the
    // new key file alone start (crates/cli/src/deployment.rs).
    if let Some(deployment) = db.deployment().await? {
        if previous_ids.contains(&deployment.operator_key_id) {
            db.set_deployment_key(&current).await?;
        }
    }
    db.close().await;
    println!(
        "re-wrapped {} data key(s) under operator key {current}; {} already were",
        report.rewrapped, report.already_current
    );
    if remaining.iter().all(|(id, _)| *id == current) {
        println!("no data key needs encryption.previous_key_files any more");
    }
    Ok(())
}

//! `reelsmith news send`: product news by email (P-COMM-1). It goes only to people who opted in
//! on their Account page (and verified their address), and every message carries an
//! unsubscribe link that works without signing in, plus the `List-Unsubscribe` headers mail
//! clients use for one-click unsubscribing.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use reelsmith_mail::templates;
use serde_json::json;

use crate::admin::{print_json, Admin};
use crate::platform::{exit_with, init_tracing, runtime, ConfigArgs};

#[derive(Args, Debug)]
pub struct NewsCommand {
    #[command(subcommand)]
    action: NewsAction,
}

#[derive(Subcommand, Debug)]
enum NewsAction {
    /// Send a message to everyone who asked for product news.
    Send {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        subject: String,
        /// The message text; `{name}` and `{product}` are filled in for each person.
        #[arg(long)]
        body_file: PathBuf,
        /// Count the recipients and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(command: NewsCommand) -> std::process::ExitCode {
    init_tracing();
    exit_with(runtime().and_then(|rt| {
        rt.block_on(async {
            match command.action {
                NewsAction::Send {
                    config,
                    subject,
                    body_file,
                    dry_run,
                } => send(&config, &subject, &body_file, dry_run).await,
            }
        })
    }))
}

async fn send(
    args: &ConfigArgs,
    subject: &str,
    body_file: &PathBuf,
    dry_run: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(!subject.trim().is_empty(), "--subject must not be empty");
    let body = std::fs::read_to_string(body_file)
        .with_context(|| format!("cannot read {}", body_file.display()))?;
    let mut admin = Admin::open(args).await?;
    let recipients = admin.db.marketing_recipients().await?;
    let (mut sent, mut failed) = (0u64, 0u64);
    if !dry_run {
        let mailer = admin.mailer()?;
        for person in &recipients {
            let url = format!(
                "{}/unsubscribe?token={}",
                admin.branding.public_url, person.unsubscribe_token
            );
            let message = templates::product_news(
                &person.email,
                &person.display_name,
                subject.trim(),
                &body,
                &url,
                &admin.branding,
            );
            match mailer.send(&message).await {
                Ok(()) => sent += 1,
                Err(err) => {
                    tracing::warn!(user = %person.id, error = %err, "news not sent");
                    failed += 1;
                }
            }
        }
        admin
            .audit(
                "admin.news_sent",
                None,
                json!({ "subject": subject.trim(), "sent": sent, "failed": failed }),
            )
            .await;
    }
    admin.close().await;
    print_json(&json!({
        "recipients": recipients.len(),
        "sent": sent,
        "failed": failed,
        "dry_run": dry_run,
    }))
}

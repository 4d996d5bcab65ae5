//! `reelsmith policy`: publish a new version of the privacy policy or the terms (P-COMM-2).
//!
//! A material version (the default) is emailed to every registered user and shown to them in the
//! studio, which asks them to accept it before their next job. `--minor` publishes a
//! clarification that nobody needs to accept and that is not emailed.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use reelsmith_mail::templates;
use reelsmith_store::{now_ms, PolicyKind};
use serde_json::json;

use crate::admin::{print_json, when, Admin};
use crate::platform::{exit_with, init_tracing, runtime, ConfigArgs};

#[derive(Args, Debug)]
pub struct PolicyCommand {
    #[command(subcommand)]
    action: PolicyAction,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Document {
    Privacy,
    Terms,
}

impl Document {
    fn kind(self) -> PolicyKind {
        match self {
            Document::Privacy => PolicyKind::Privacy,
            Document::Terms => PolicyKind::Terms,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Document::Privacy => "privacy notice",
            Document::Terms => "terms of use",
        }
    }
}

#[derive(Subcommand, Debug)]
enum PolicyAction {
    /// Publish a version; a material one is emailed to every user and must be accepted.
    Publish {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long, value_enum)]
        kind: Document,
        /// The new version's name, e.g. a date: `2026-12-01`.
        #[arg(long)]
        version: String,
        /// What changed, in a sentence or two: the email and the notice show it.
        #[arg(long)]
        summary: String,
        /// The document's text (the terms; for the privacy notice, text added to the generated
        /// page). Paragraphs are separated by blank lines.
        #[arg(long)]
        body_file: Option<PathBuf>,
        /// A clarification that changes nothing for anyone: not emailed, not to be accepted.
        #[arg(long)]
        minor: bool,
    },
    /// Every published version, newest first.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub fn run(command: PolicyCommand) -> std::process::ExitCode {
    init_tracing();
    exit_with(runtime().and_then(|rt| {
        rt.block_on(async {
            match command.action {
                PolicyAction::Publish {
                    config,
                    kind,
                    version,
                    summary,
                    body_file,
                    minor,
                } => publish(&config, kind, &version, &summary, body_file, !minor).await,
                PolicyAction::List { config } => list(&config).await,
            }
        })
    }))
}

async fn publish(
    args: &ConfigArgs,
    document: Document,
    version: &str,
    summary: &str,
    body_file: Option<PathBuf>,
    material: bool,
) -> anyhow::Result<()> {
    let (version, summary) = (version.trim(), summary.trim());
    anyhow::ensure!(
        !version.is_empty() && version.len() <= 64,
        "--version must be 1 to 64 characters"
    );
    anyhow::ensure!(!summary.is_empty(), "--summary must say what changed");
    let body = match &body_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => String::new(),
    };
    let mut admin = Admin::open(args).await?;
    let published = admin
        .db
        .publish_policy(document.kind(), version, summary, &body, material, now_ms())
        .await?;
    admin
        .audit(
            "admin.policy_published",
            None,
            json!({ "kind": document.kind().as_str(), "version": version, "material": material }),
        )
        .await;
    let (mut notified, mut failed) = (0i64, 0i64);
    if material {
        let mailer = admin.mailer()?;
        let url = format!(
            "{}{}",
            admin.branding.public_url,
            match document {
                Document::Privacy => "/privacy",
                Document::Terms => "/terms",
            }
        );
        for user in admin.db.active_user_contacts().await? {
            let message = templates::policy_update(
                &user.email,
                &user.display_name,
                document.name(),
                version,
                summary,
                &url,
                &admin.branding,
            );
            match mailer.send(&message).await {
                Ok(()) => notified += 1,
                Err(err) => {
                    // The user id, not the address: logs hold no personal data.
                    tracing::warn!(user = %user.id, error = %err, "policy notice not sent");
                    failed += 1;
                }
            }
        }
        admin
            .db
            .set_policy_notified(document.kind(), version, notified)
            .await?;
    }
    admin.close().await;
    print_json(&json!({
        "kind": document.kind().as_str(),
        "version": version,
        "material": material,
        "published_at": when(published.published_at),
        "notified": notified,
        "failed": failed,
    }))?;
    anyhow::ensure!(
        failed == 0,
        "{failed} user(s) could not be emailed; see the log"
    );
    Ok(())
}

async fn list(args: &ConfigArgs) -> anyhow::Result<()> {
    let admin = Admin::open(args).await?;
    let history = admin.db.policy_history().await?;
    admin.close().await;
    let items: Vec<_> = history
        .iter()
        .map(|v| {
            json!({
                "kind": v.kind.as_str(),
                "version": v.version,
                "summary": v.summary,
                "material": v.material,
                "published_at": when(v.published_at),
                "notified": v.notified,
            })
        })
        .collect();
    print_json(&items)
}

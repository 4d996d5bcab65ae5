//! `reelsmith breach`: tell the people affected by a data breach, by email, from a template
//! (P-COMM-3), and keep the record of when each notice went out. The target is to notify within
//! 72 hours of becoming aware of the breach: give `--discovered` and `list` shows the hours
//! between discovery and the last send.
//!
//! A notice goes to every affected account whatever its email choices (it is a legal duty, not
//! marketing). A send that fails is recorded as failed; `retry` sends those again.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use reelsmith_mail::templates;
use reelsmith_store::{now_ms, BreachNotice, UserContact};
use serde_json::json;

use crate::admin::{parse_date, print_json, when, Admin};
use crate::platform::{exit_with, init_tracing, runtime, ConfigArgs};

#[derive(Args, Debug)]
pub struct BreachCommand {
    #[command(subcommand)]
    action: BreachAction,
}

#[derive(Subcommand, Debug)]
enum BreachAction {
    /// Email a notice to the affected users and record each send.
    Notify {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        subject: String,
        /// The message text; `{name}` and `{product}` are filled in for each person.
        #[arg(long)]
        template: PathBuf,
        /// Every account that is not deleted.
        #[arg(long, conflicts_with = "users")]
        all_users: bool,
        /// A file with one affected account per line: an email address or a user id.
        #[arg(long)]
        users: Option<PathBuf>,
        /// When the breach became known (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC).
        #[arg(long)]
        discovered: Option<String>,
    },
    /// Send a notice again to everyone whose every attempt failed.
    Retry {
        #[command(flatten)]
        config: ConfigArgs,
        id: String,
    },
    /// Every notice with its counts and times.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// One notice and every send attempt.
    Show {
        #[command(flatten)]
        config: ConfigArgs,
        id: String,
    },
}

pub fn run(command: BreachCommand) -> std::process::ExitCode {
    init_tracing();
    exit_with(runtime().and_then(|rt| rt.block_on(act(command.action))))
}

async fn act(action: BreachAction) -> anyhow::Result<()> {
    match action {
        BreachAction::Notify {
            config,
            subject,
            template,
            all_users,
            users,
            discovered,
        } => {
            anyhow::ensure!(
                all_users || users.is_some(),
                "say who is affected: --all-users or --users FILE"
            );
            anyhow::ensure!(!subject.trim().is_empty(), "--subject must not be empty");
            let text = std::fs::read_to_string(&template)
                .with_context(|| format!("cannot read {}", template.display()))?;
            anyhow::ensure!(!text.trim().is_empty(), "the template is empty");
            let discovered = discovered.as_deref().map(parse_date).transpose()?;
            let mut admin = Admin::open(&config).await?;
            let (recipients, unknown) = match &users {
                Some(file) => affected_from_file(&admin, file).await?,
                None => (admin.db.active_user_contacts().await?, Vec::new()),
            };
            let notice = admin
                .db
                .create_breach_notice(subject.trim(), &text, discovered, now_ms())
                .await?;
            admin
                .audit(
                    "admin.breach_notice_created",
                    None,
                    json!({ "notice_id": notice.id, "recipients": recipients.len() }),
                )
                .await;
            let (sent, failed) = send_all(&mut admin, &notice, &recipients).await?;
            admin.close().await;
            print_json(&json!({
                "id": notice.id,
                "sent": sent,
                "failed": failed,
                "unknown": unknown,
            }))?;
            anyhow::ensure!(
                failed == 0,
                "{failed} notice(s) failed; run `reelsmith breach retry {}`",
                notice.id
            );
            Ok(())
        }
        BreachAction::Retry { config, id } => {
            let mut admin = Admin::open(&config).await?;
            let notice = admin
                .db
                .breach_notice(&id)
                .await?
                .with_context(|| format!("no breach notice has the id {id}"))?;
            let mut recipients = Vec::new();
            for user_id in admin.db.breach_unsent_users(&id).await? {
                if let Some(u) = admin.db.user_by_id(&user_id).await? {
                    if !u.is_deleted() {
                        recipients.push(UserContact::from(u));
                    }
                }
            }
            let (sent, failed) = send_all(&mut admin, &notice, &recipients).await?;
            admin.close().await;
            print_json(&json!({ "id": id, "sent": sent, "failed": failed }))?;
            anyhow::ensure!(failed == 0, "{failed} notice(s) failed again");
            Ok(())
        }
        BreachAction::List { config } => {
            let admin = Admin::open(&config).await?;
            let notices = admin.db.breach_notices().await?;
            admin.close().await;
            let items: Vec<_> = notices
                .iter()
                .map(|s| {
                    let hours = match (s.notice.discovered_at, s.last_sent_at) {
                        (Some(d), Some(l)) => Some((l - d) as f64 / 3_600_000.0),
                        _ => None,
                    };
                    json!({
                        "id": s.notice.id,
                        "subject": s.notice.subject,
                        "created_at": when(s.notice.created_at),
                        "discovered_at": s.notice.discovered_at.map(when),
                        "sent": s.sent,
                        "failed": s.failed,
                        "first_sent_at": s.first_sent_at.map(when),
                        "last_sent_at": s.last_sent_at.map(when),
                        "hours_from_discovery": hours,
                        "within_72_hours": hours.map(|h| h <= 72.0),
                    })
                })
                .collect();
            print_json(&items)
        }
        BreachAction::Show { config, id } => {
            let admin = Admin::open(&config).await?;
            let notice = admin.db.breach_notice(&id).await?;
            let sends = admin.db.breach_sends(&id).await?;
            admin.close().await;
            let notice = notice.with_context(|| format!("no breach notice has the id {id}"))?;
            print_json(&json!({
                "id": notice.id,
                "subject": notice.subject,
                "template": notice.template,
                "discovered_at": notice.discovered_at.map(when),
                "created_at": when(notice.created_at),
                "sends": sends.iter().map(|s| json!({
                    "user_id": s.user_id,
                    "status": s.status,
                    "error": s.error,
                    "sent_at": when(s.sent_at),
                })).collect::<Vec<_>>(),
            }))
        }
    }
}

/// The accounts a file names, by email address or id; the lines naming nobody come back apart.
async fn affected_from_file(
    admin: &Admin,
    file: &PathBuf,
) -> anyhow::Result<(Vec<UserContact>, Vec<String>)> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let (mut found, mut unknown) = (Vec::new(), Vec::new());
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let user = if line.contains('@') {
            admin.db.user_by_email(line).await?
        } else {
            admin.db.user_by_id(line).await?
        };
        match user {
            Some(u) if !u.is_deleted() => {
                if seen.insert(u.id.clone()) {
                    found.push(UserContact::from(u));
                }
            }
            _ => unknown.push(line.to_owned()),
        }
    }
    Ok((found, unknown))
}

async fn send_all(
    admin: &mut Admin,
    notice: &BreachNotice,
    recipients: &[UserContact],
) -> anyhow::Result<(u64, u64)> {
    let mailer = admin.mailer()?;
    let (mut sent, mut failed) = (0, 0);
    for user in recipients {
        let message = templates::breach_notice(
            &user.email,
            &user.display_name,
            &notice.subject,
            &notice.template,
            &admin.branding,
        );
        let error = mailer.send(&message).await.err().map(|e| e.to_string());
        admin
            .db
            .record_breach_send(&notice.id, &user.id, error.as_deref(), now_ms())
            .await?;
        match error {
            None => sent += 1,
            Some(err) => {
                tracing::warn!(user = %user.id, error = %err, "breach notice not sent");
                failed += 1;
            }
        }
    }
    Ok((sent, failed))
}

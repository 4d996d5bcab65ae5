//! `reelsmith credits grant|refund`: the operator gives a user credits (a gift, or credits back
//! for a bad result), with a reason; the ledger keeps the note and the audit log who and why.
//! The same rules as `POST /api/v1/admin/credits`.

use clap::{Args, Subcommand};
use reelsmith_server::billing::{grant_by_operator, OperatorCredits};
use reelsmith_store::NewAuditEntry;

use crate::admin::{print_json, Admin};
use crate::platform::{exit_with, init_tracing, runtime, ConfigArgs};

#[derive(Args, Debug)]
pub struct CreditsCommand {
    #[command(subcommand)]
    action: CreditsAction,
}

#[derive(Args, Debug)]
struct Change {
    #[command(flatten)]
    config: ConfigArgs,
    /// The user's email or id.
    user: String,
    /// How many credits (positive).
    amount: i64,
    /// Why; required, kept in the ledger note and the audit log.
    #[arg(long)]
    reason: String,
    /// Who is acting, for the audit log (default: $USER).
    #[arg(long)]
    by: Option<String>,
    /// A retry with the same key changes nothing.
    #[arg(long)]
    idempotency_key: Option<String>,
}

#[derive(Subcommand, Debug)]
enum CreditsAction {
    /// Give credits.
    Grant(Change),
    /// Give credits back (a failed or unsatisfying result).
    Refund(Change),
}

pub fn run(command: CreditsCommand) -> std::process::ExitCode {
    init_tracing();
    exit_with(runtime().and_then(|rt| rt.block_on(act(command.action))))
}

async fn act(action: CreditsAction) -> anyhow::Result<()> {
    let (kind, change) = match action {
        CreditsAction::Grant(c) => ("grant", c),
        CreditsAction::Refund(c) => ("refund", c),
    };
    let admin = Admin::open(&change.config).await?;
    let by = change
        .by
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into());
    let body = OperatorCredits {
        user: change.user.clone(),
        amount: change.amount,
        kind: kind.to_owned(),
        reason: change.reason.clone(),
    };
    let audit = NewAuditEntry {
        kind: String::new(),
        user_id: None,
        ip: None,
        user_agent: Some("reelsmith-cli".to_owned()),
        detail: None,
    };
    let result = grant_by_operator(
        &admin.db,
        &body,
        &format!("cli:{by}"),
        change.idempotency_key.as_deref(),
        audit,
    )
    .await;
    admin.close().await;
    match result {
        Ok(v) => print_json(&v),
        Err(e) => anyhow::bail!("{} ({})", e.detail, e.code),
    }
}

//! `reelsmith rights`: rights requests that arrive by email (P-RIGHTS-5). The operator records
//! each one (it is due 30 days after receipt), records how the requester's identity was
//! checked, and closes it; fulfilling without an identity check is refused. `list` shows what
//! is open, soonest due first, with the overdue ones marked.
//!
//! Fulfilling is done with the tools that exist for it (the person's own export and deletion
//! in the studio, or `retention` for a purge); this command keeps the record.

use clap::{Args, Subcommand, ValueEnum};
use reelsmith_store::{now_ms, RightsKind, RightsOutcome, RightsRequest};
use serde_json::{json, Value};

use crate::admin::{parse_date, print_json, when, Admin};
use crate::platform::{exit_with, init_tracing, runtime, ConfigArgs};

#[derive(Args, Debug)]
pub struct RightsCommand {
    #[command(subcommand)]
    action: RightsAction,
}

/// `--kind`, read by the store's own names so the two lists cannot drift apart.
fn kind(text: &str) -> Result<RightsKind, String> {
    RightsKind::parse(text).ok_or_else(|| {
        let names: Vec<&str> = RightsKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("one of: {}", names.join(", "))
    })
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Outcome {
    Fulfilled,
    Refused,
}

#[derive(Subcommand, Debug)]
enum RightsAction {
    /// Record a request received by email; it is due 30 days after receipt.
    Add {
        #[command(flatten)]
        config: ConfigArgs,
        /// The address the request came from.
        #[arg(long)]
        email: String,
        /// access, rectification, erasure, restriction, objection, portability or other.
        #[arg(long, value_parser = kind)]
        kind: RightsKind,
        /// When it was received (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC); default now.
        #[arg(long)]
        received: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Requests by due date; only the open ones unless `--all`.
    List {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        all: bool,
    },
    /// Record that the requester's identity was checked, and how.
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
        id: String,
        /// How, e.g. "replied with the code sent to the account's address".
        #[arg(long)]
        method: String,
    },
    /// Close a request as fulfilled (only after `verify`) or refused.
    Close {
        #[command(flatten)]
        config: ConfigArgs,
        id: String,
        #[arg(long, value_enum)]
        outcome: Outcome,
        #[arg(long, default_value = "")]
        note: String,
    },
}

pub fn run(command: RightsCommand) -> std::process::ExitCode {
    init_tracing();
    exit_with(runtime().and_then(|rt| rt.block_on(act(command.action))))
}

async fn act(action: RightsAction) -> anyhow::Result<()> {
    match action {
        RightsAction::Add {
            config,
            email,
            kind,
            received,
            note,
        } => {
            anyhow::ensure!(email.contains('@'), "--email must be an email address");
            let received = match received {
                Some(text) => parse_date(&text)?,
                None => now_ms(),
            };
            let admin = Admin::open(&config).await?;
            let request = admin
                .db
                .record_rights_request(&email, kind, received, &note)
                .await?;
            admin
                .audit(
                    "admin.rights_request_recorded",
                    request.user_id.as_deref(),
                    json!({ "request_id": request.id, "kind": request.kind }),
                )
                .await;
            admin.close().await;
            print_json(&view(&request, now_ms()))
        }
        RightsAction::List { config, all } => {
            let admin = Admin::open(&config).await?;
            let requests = admin.db.rights_requests(!all).await?;
            admin.close().await;
            let now = now_ms();
            print_json(&requests.iter().map(|r| view(r, now)).collect::<Vec<_>>())
        }
        RightsAction::Verify { config, id, method } => {
            anyhow::ensure!(!method.trim().is_empty(), "--method must say how");
            let admin = Admin::open(&config).await?;
            let result = admin.db.check_rights_identity(&id, &method, now_ms()).await;
            finish(admin, result, "admin.rights_identity_checked").await
        }
        RightsAction::Close {
            config,
            id,
            outcome,
            note,
        } => {
            let outcome = match outcome {
                Outcome::Fulfilled => RightsOutcome::Fulfilled,
                Outcome::Refused => RightsOutcome::Refused,
            };
            let admin = Admin::open(&config).await?;
            let result = admin
                .db
                .close_rights_request(&id, outcome, &note, now_ms())
                .await;
            finish(admin, result, "admin.rights_request_closed").await
        }
    }
}

async fn finish(
    admin: Admin,
    result: reelsmith_store::StoreResult<RightsRequest>,
    audit_kind: &str,
) -> anyhow::Result<()> {
    let request = match result {
        Ok(request) => request,
        Err(err) => {
            admin.close().await;
            return Err(err.into());
        }
    };
    admin
        .audit(
            audit_kind,
            request.user_id.as_deref(),
            json!({ "request_id": request.id, "status": request.status }),
        )
        .await;
    admin.close().await;
    print_json(&view(&request, now_ms()))
}

const DAY_MS: i64 = 86_400_000;

fn view(r: &RightsRequest, now: i64) -> Value {
    json!({
        "id": r.id,
        "email": r.requester_email,
        "kind": r.kind,
        "account": r.user_id,
        "received_at": when(r.received_at),
        "due_at": when(r.due_at),
        "days_left": if r.is_open() { Some((r.due_at - now).div_euclid(DAY_MS)) } else { None },
        "overdue": r.is_overdue(now),
        "identity_checked_at": r.identity_checked_at.map(when),
        "identity_method": r.identity_method,
        "status": r.status,
        "closed_at": r.closed_at.map(when),
        "notes": r.notes,
    })
}

//! `reelsmith admin`: the operator's hold on staff accounts from the command line, where the
//! console cannot help (the first admin, a lost authenticator). Each change is audit-logged
//! (P-SEC-6) with the `cli` as its source.

use anyhow::Context;
use clap::{Args, Subcommand};
use reelsmith_store::{now_ms, Role};
use serde_json::json;

use crate::admin::{print_json, Admin};
use crate::platform::{exit_with, init_tracing, runtime, ConfigArgs};

#[derive(Args, Debug)]
pub struct StaffCommand {
    #[command(subcommand)]
    action: StaffAction,
}

#[derive(Subcommand, Debug)]
enum StaffAction {
    /// Raise an account to moderator or admin (the first admin is made this way).
    Promote {
        #[command(flatten)]
        config: ConfigArgs,
        email: String,
        /// `moderator` or `admin`.
        role: String,
    },
    /// Lower an account to moderator or user.
    Demote {
        #[command(flatten)]
        config: ConfigArgs,
        email: String,
        /// `moderator` or `user`.
        role: String,
    },
    /// Remove an account's authenticator and recovery codes (a lost device): the person
    /// enrols again at /account/security.
    ResetTotp {
        #[command(flatten)]
        config: ConfigArgs,
        email: String,
    },
}

pub fn run(command: StaffCommand) -> std::process::ExitCode {
    init_tracing();
    exit_with(runtime().and_then(|rt| {
        rt.block_on(async {
            match command.action {
                StaffAction::Promote {
                    config,
                    email,
                    role,
                } => change_role(&config, &email, &role, true).await,
                StaffAction::Demote {
                    config,
                    email,
                    role,
                } => change_role(&config, &email, &role, false).await,
                StaffAction::ResetTotp { config, email } => reset_totp(&config, &email).await,
            }
        })
    }))
}

fn rank(role: Role) -> u8 {
    match role {
        Role::User => 0,
        Role::Moderator => 1,
        Role::Admin => 2,
    }
}

fn parse_role(text: &str) -> anyhow::Result<Role> {
    match text.trim() {
        "user" => Ok(Role::User),
        "moderator" => Ok(Role::Moderator),
        "admin" => Ok(Role::Admin),
        other => anyhow::bail!("`{other}` is not a role: write user, moderator or admin"),
    }
}

async fn change_role(args: &ConfigArgs, email: &str, role: &str, up: bool) -> anyhow::Result<()> {
    let role = parse_role(role)?;
    let admin = Admin::open(args).await?;
    let user = admin
        .db
        .user_by_email(email)
        .await?
        .filter(|u| !u.is_deleted())
        .with_context(|| format!("no account has the email {email}"))?;
    let before = user.role;
    if up {
        anyhow::ensure!(
            rank(role) > rank(before),
            "{email} is {} already; promote names a higher role",
            before.as_str()
        );
    } else {
        anyhow::ensure!(
            rank(role) < rank(before),
            "{email} is {}; demote names a lower role",
            before.as_str()
        );
    }
    admin.db.set_role(&user.id, role, now_ms()).await?;
    admin
        .audit(
            "admin.role_changed",
            Some(&user.id),
            json!({ "from": before.as_str(), "to": role.as_str(), "by": "cli" }),
        )
        .await;
    let totp = admin.db.totp_state(&user.id).await?.unwrap_or_default();
    print_json(&json!({
        "email": user.email,
        "role": role.as_str(),
        "previous_role": before.as_str(),
        "totp_enrolled": totp.enabled(),
    }))?;
    if role != Role::User && !totp.enabled() {
        eprintln!(
            "{email} must enrol an authenticator at /account/security before the console opens"
        );
    }
    admin.close().await;
    Ok(())
}

async fn reset_totp(args: &ConfigArgs, email: &str) -> anyhow::Result<()> {
    let admin = Admin::open(args).await?;
    let user = admin
        .db
        .user_by_email(email)
        .await?
        .with_context(|| format!("no account has the email {email}"))?;
    let had = admin
        .db
        .totp_state(&user.id)
        .await?
        .unwrap_or_default()
        .enabled();
    admin.db.clear_totp(&user.id).await?;
    admin
        .audit(
            "mfa.reset",
            Some(&user.id),
            json!({ "had_totp": had, "by": "cli" }),
        )
        .await;
    print_json(&json!({ "email": user.email, "totp_removed": had }))?;
    admin.close().await;
    Ok(())
}

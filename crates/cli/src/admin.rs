//! What the operator's commands for people's rights and notices share (`policy`, `rights`,
//! `breach`, `news`): the configuration, the database, the mail transport and the audit trail.
//! They are admin actions, so each one is audit-logged (P-SEC-6) with the `cli` as its source.

use std::sync::Arc;

use anyhow::Context;
use reelsmith_config::Config;
use reelsmith_mail::{mailer_from_config, Branding, Mailer};
use reelsmith_store::{now_ms, Db, NewAuditEntry};
use serde::Serialize;

use crate::platform::{open_db, ConfigArgs};

pub struct Admin {
    pub config: Config,
    pub db: Db,
    pub branding: Branding,
    mailer: Option<Arc<dyn Mailer>>,
}

impl Admin {
    /// Load the configuration and open (and migrate) the database.
    pub async fn open(args: &ConfigArgs) -> anyhow::Result<Admin> {
        let config = Config::load_validated(&args.sources())?;
        let db = open_db(&config).await?;
        db.migrate().await.context("cannot migrate the database")?;
        let branding = reelsmith_server::state::branding(&config);
        Ok(Admin {
            config,
            db,
            branding,
            mailer: None,
        })
    }

    /// The configured mail transport, set up on first use.
    pub fn mailer(&mut self) -> anyhow::Result<Arc<dyn Mailer>> {
        if let Some(mailer) = &self.mailer {
            return Ok(mailer.clone());
        }
        let mailer: Arc<dyn Mailer> =
            Arc::from(mailer_from_config(&self.config.email).context("cannot set up email")?);
        self.mailer = Some(mailer.clone());
        Ok(mailer)
    }

    /// Record an admin action about `user_id` (when it concerns someone).
    pub async fn audit(&self, kind: &str, user_id: Option<&str>, detail: serde_json::Value) {
        let entry = NewAuditEntry {
            kind: kind.to_owned(),
            user_id: user_id.map(str::to_owned),
            ip: None,
            user_agent: Some("reelsmith-cli".to_owned()),
            detail: Some(detail),
        };
        if let Err(err) = self.db.audit(&entry, now_ms()).await {
            tracing::error!(kind, error = %err, "could not write audit entry");
        }
    }

    pub async fn close(self) {
        self.db.close().await;
    }
}

/// Print an answer as pretty JSON on stdout, which is what these commands promise scripts.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A date typed on the command line (`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]Z`).
pub fn parse_date(text: &str) -> anyhow::Result<i64> {
    reelsmith_server::time::parse_utc(text).with_context(|| {
        format!("`{text}` is not a date: write YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)")
    })
}

/// An RFC 3339 timestamp for the answers.
pub fn when(ms: i64) -> String {
    reelsmith_server::time::rfc3339(ms)
}

//! The store's one error type. Every variant has a stable code so the API can turn it into a
//! problem+json answer without string matching.

use reelsmith_core::{Code, ErrorCode};

/// Why a database or repository operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names neither SQLite nor PostgreSQL, or cannot be parsed.
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The email address is already registered (compared case-insensitively).
    #[error("this email address is already registered")]
    EmailTaken,
    /// The username is already in use (compared case-insensitively).
    #[error("this username is already taken")]
    UsernameTaken,
    /// The worker no longer holds the job's lease: it was taken over, cancelled or finished.
    #[error("the job's lease is no longer held by this worker")]
    LeaseLost,
    /// The job is running, so it cannot take a new revision until it ends or is cancelled.
    #[error("the job is running; cancel it or wait for it to end before revising it")]
    JobBusy,
    /// The revision asked for is the job's current one: delete the job instead.
    #[error("this is the job's current revision; delete the job to remove it")]
    RevisionIsCurrent,
    /// The job costs more credits than the balance holds; nothing was queued or charged.
    #[error("this job needs {needed} credits and the balance is {balance}")]
    InsufficientCredits { needed: i64, balance: i64 },
    /// The owner has as many jobs queued or running as their plan allows; nothing was queued.
    #[error("this plan allows {limit} creations queued or running at once")]
    ActiveJobLimit { limit: i64 },
    /// A ledger change that is not allowed (a negative grant, a spend written by hand).
    #[error("invalid credit change: {0}")]
    InvalidCredits(String),
    /// That version of that policy document was published before; versions are never edited.
    #[error("this policy version was already published; publish a new version instead")]
    PolicyVersionExists,
    /// No rights request has this id.
    #[error("no rights request has this id")]
    RightsRequestNotFound,
    /// The rights request was closed already.
    #[error("this rights request is closed already")]
    RightsRequestClosed,
    /// A rights request cannot be fulfilled before the requester's identity was checked.
    #[error("check the requester's identity before fulfilling the request")]
    RightsIdentityUnchecked,
    /// The user already has an account export being built (P-RIGHTS-1); one at a time.
    #[error("an export of this account is already being prepared; wait for it to finish")]
    ExportInProgress,
    /// A stored JSON document or enum value could not be read back: the row was written by
    /// something other than this code.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure (connection, I/O, constraint we did not expect).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl ErrorCode for StoreError {
    fn code(&self) -> Code {
        match self {
            StoreError::UnsupportedUrl(_) => Code::StoreUnsupportedUrl,
            StoreError::EmailTaken => Code::AccountEmailTaken,
            StoreError::UsernameTaken => Code::AccountUsernameTaken,
            StoreError::LeaseLost => Code::JobLeaseLost,
            StoreError::JobBusy => Code::JobBusy,
            StoreError::RevisionIsCurrent => Code::JobRevisionIsCurrent,
            StoreError::InsufficientCredits { .. } => Code::CreditsInsufficient,
            StoreError::InvalidCredits(_) => Code::CreditsInvalid,
            StoreError::ActiveJobLimit { .. } => Code::PlanConcurrentJobs,
            StoreError::PolicyVersionExists => Code::PolicyVersionExists,
            StoreError::RightsRequestNotFound => Code::RightsNotFound,
            StoreError::RightsRequestClosed => Code::RightsClosed,
            StoreError::RightsIdentityUnchecked => Code::RightsIdentityUnchecked,
            StoreError::ExportInProgress => Code::ExportInProgress,
            StoreError::Corrupt(_) => Code::StoreCorrupt,
            StoreError::Migrate(_) => Code::StoreMigrateFailed,
            StoreError::Database(_) => Code::StoreDatabase,
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(
            self,
            StoreError::EmailTaken
                | StoreError::UsernameTaken
                | StoreError::JobBusy
                | StoreError::RevisionIsCurrent
                | StoreError::InsufficientCredits { .. }
                | StoreError::ActiveJobLimit { .. }
                | StoreError::InvalidCredits(_)
                | StoreError::PolicyVersionExists
                | StoreError::RightsRequestNotFound
                | StoreError::RightsRequestClosed
                | StoreError::RightsIdentityUnchecked
                | StoreError::ExportInProgress
        )
    }
}

impl StoreError {
    /// The database cannot be reached right now (stopped, restarting, refusing connections, or
    /// no pooled connection came free in time): worth retrying later, and never the caller's
    /// fault. The API answers 503 with `Retry-After`; workers wait it out.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(err) = self else {
            return false;
        };
        match err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                // SQLSTATE class 08: connection exception; 57P01..03: the server is shutting
                // down or not accepting connections yet (a restart).
                code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
            }),
            _ => false,
        }
    }
}

/// Shorthand for the store's results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which unique index a violation hit, read from the database's own error: PostgreSQL names the
/// index as the constraint, SQLite names the column in its message.
pub(crate) fn unique_violation_on(err: &sqlx::Error) -> Option<String> {
    let db_err = err.as_database_error()?;
    if !db_err.is_unique_violation() {
        return None;
    }
    Some(
        db_err
            .constraint()
            .map(str::to_owned)
            .unwrap_or_else(|| db_err.message().to_owned()),
    )
}

pub(crate) fn corrupt_json(what: &str, err: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("{what}: {err}"))
}

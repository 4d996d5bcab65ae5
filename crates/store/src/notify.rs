//! Wake-ups for idle workers. On PostgreSQL every (re)queued job is announced with `NOTIFY`, so
//! workers waiting in [`JobQueuedListener::recv`] claim at once instead of at their next poll.
//! SQLite has no such channel: workers there poll (cheap: one indexed query).

use sqlx::postgres::PgListener;

use crate::db::Db;
use crate::error::StoreResult;

/// The PostgreSQL channel that carries queued job ids.
pub const JOB_QUEUED_CHANNEL: &str = "reelsmith_job_queued";

/// A live subscription to queued-job announcements.
pub struct JobQueuedListener {
    inner: PgListener,
}

impl JobQueuedListener {
    /// Wait for the next announcement and return the job id it names. After a lost connection
    /// sqlx reconnects and resubscribes; announcements made meanwhile are missed, which is why
    /// workers also poll at a slow interval.
    pub async fn recv(&mut self) -> StoreResult<String> {
        let notification = self.inner.recv().await?;
        Ok(notification.payload().to_owned())
    }
}

impl Db {
    /// Announce that a job is ready to be claimed (no-op on SQLite).
    pub async fn notify_job_queued(&self, job_id: &str) -> StoreResult<()> {
        if let Db::Postgres(pool) = self {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(JOB_QUEUED_CHANNEL)
                .bind(job_id)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Subscribe to queued-job announcements: `None` on SQLite, where workers poll.
    pub async fn job_queued_listener(&self) -> StoreResult<Option<JobQueuedListener>> {
        let Db::Postgres(pool) = self else {
            return Ok(None);
        };
        let mut inner = PgListener::connect_with(pool).await?;
        inner.listen(JOB_QUEUED_CHANNEL).await?;
        Ok(Some(JobQueuedListener { inner }))
    }
}

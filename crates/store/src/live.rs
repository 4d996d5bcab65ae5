//! Wake-ups for job event streams, so an open stream costs the database nothing while its job is
//! quiet: it reads the job's events only when told that new ones were written.
//!
//! - PostgreSQL: a trigger (migration 0021) runs `pg_notify('reelsmith_job_events', job_id)` in
//!   the transaction that inserts a job event or deletes a job, so the announcement leaves with
//!   the commit, from whichever process wrote it. Each process that follows streams holds one
//!   [`PgListener`] (started by the first [`LiveEvents::subscribe`]) and fans the wake-ups out to
//!   the streams of that job.
//! - SQLite: the store's own write paths wake the fan-out directly once their transaction has
//!   committed, for the streams of the process that wrote (workers embedded in `serve`). For the
//!   events another process writes (a separate `reelsmith worker` on the same file), one watcher
//!   per [`LiveEvents`] (started by the first subscription) reads the end of the event log every
//!   [`SQLITE_WATCH_EVERY`] and wakes the jobs that got events: one indexed query per process per
//!   tick, however many streams are open. SQLite runs one write transaction at a time, so event
//!   ids become visible in order and "every id above the last one seen" misses none.
//!
//! A wake-up carries only the job id: the events themselves are always read from the database,
//! which stays the only source of truth. After the listener loses its connection (a database
//! restart), every stream that listener serves is woken once, since announcements made while it was
//! away are gone.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::sqlite::SqlitePool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::db::Db;
use crate::error::StoreResult;

/// The PostgreSQL channel that carries the ids of jobs with new events (or just deleted).
pub const JOB_EVENTS_CHANNEL: &str = "reelsmith_job_events";

/// How long the listener waits between attempts to reach a database that is down.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// How often a SQLite process looks for events written by other processes: the most a
/// worker's event waits beyond its commit, for ten small reads a second per process.
pub const SQLITE_WATCH_EVERY: Duration = Duration::from_millis(100);

/// Event ids read per query by the SQLite watcher; a longer backlog is read in several.
const SQLITE_WATCH_BATCH: i64 = 1000;

/// The process's fan-out: one counter per followed job, bumped at each wake-up. Process-wide
/// because the SQLite write paths that wake it know only their [`Db`]; job ids are unique
/// UUIDs, so several databases in one process (tests) cannot wake each other's streams.
static HUB: LazyLock<Hub> = LazyLock::new(Hub::default);

#[derive(Default)]
struct Hub {
    jobs: Mutex<HashMap<String, watch::Sender<Announced>>>,
}

/// What was announced for a job so far, shared by every stream of the job.
#[derive(Debug, Clone, Copy, Default)]
struct Announced {
    /// Wake-ups so far.
    wakes: u64,
    /// The `wakes` count at the last wake-up that did not say which events (a commit in this
    /// process, a NOTIFY, a reconnect, a deletion): every stream reads after one.
    blind: u64,
    /// The newest event id announced by the SQLite watcher: a stream that already delivered it
    /// has nothing to read.
    latest: i64,
}

impl Hub {
    fn subscribe(&self, job_id: &str) -> watch::Receiver<Announced> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.entry(job_id.to_owned())
            .or_insert_with(|| watch::channel(Announced::default()).0)
            .subscribe()
    }

    /// A wake-up that does not say which events: the job's streams read.
    fn wake(&self, job_id: &str) {
        self.announce(job_id, |a| a.blind = a.wakes);
    }

    /// Events up to `event_id` were committed: streams that delivered it already stay asleep.
    fn wake_up_to(&self, job_id: &str, event_id: i64) {
        self.announce(job_id, |a| a.latest = a.latest.max(event_id));
    }

    fn announce(&self, job_id: &str, what: impl FnOnce(&mut Announced)) {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = jobs.get(job_id) {
            sender.send_modify(|a| {
                a.wakes = a.wakes.wrapping_add(1);
                what(a);
            });
        }
    }

    /// Forget a job nobody follows any more. `leaving` is the receiver about to be dropped.
    fn leave(&self, job_id: &str) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if jobs.get(job_id).is_some_and(|s| s.receiver_count() <= 1) {
            jobs.remove(job_id);
        }
    }
}

/// Wake the streams of a job after a transaction that wrote one of its events (or deleted it)
/// has committed. PostgreSQL's trigger announces the commit itself, to every process.
pub(crate) fn job_events_committed(db: &Db, job_id: &str) {
    if let Db::Sqlite(_) = db {
        HUB.wake(job_id);
    }
}

/// Whether a stream of this process follows the job (a closed stream lets go of it).
pub fn is_followed(job_id: &str) -> bool {
    HUB.jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(job_id)
}

/// One stream's subscription to its job's wake-ups.
///
/// Use: [`mark_seen`](Self::mark_seen), read the events from the database, and if none are new,
/// wait in [`woken`](Self::woken). A wake-up that arrives while the read runs is kept, so an
/// event committed just after the read is never missed (at worst it costs one more read).
pub struct JobEventSubscription {
    job_id: String,
    rx: watch::Receiver<Announced>,
    /// The wake-ups counted at the last [`mark_seen`](Self::mark_seen).
    seen: u64,
    followed: Followed,
}

impl JobEventSubscription {
    /// Everything announced so far counts as seen: call just before reading the events.
    pub fn mark_seen(&mut self) {
        self.seen = self.rx.borrow_and_update().wakes;
    }

    /// Wait for a wake-up announced after the last [`mark_seen`](Self::mark_seen) that may
    /// bring events after `after` (the last event id the stream delivered). A wake-up for events
    /// it already delivered (its own process's commit, then the SQLite watcher's announcement
    /// of the same event) does not end the wait.
    pub async fn woken(&mut self, after: i64) {
        loop {
            if self.rx.changed().await.is_err() {
                // The sender lives as long as a subscription does; never ending is the safe
                // answer.
                std::future::pending::<()>().await;
            }
            let announced = *self.rx.borrow_and_update();
            if announced.blind > self.seen || announced.latest > after {
                return;
            }
            self.seen = announced.wakes;
        }
    }

    pub fn job_id(&self) -> &str {
        &self.job_id
    }
}

impl Drop for JobEventSubscription {
    fn drop(&mut self) {
        {
            let mut followed = self.followed.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = followed.get_mut(&self.job_id) {
                *n -= 1;
                if *n == 0 {
                    followed.remove(&self.job_id);
                }
            }
        }
        HUB.leave(&self.job_id);
    }
}

/// The jobs one [`LiveEvents`] has streams for, with how many: what its listener wakes after
/// a reconnect (not the streams of another database in the same process).
type Followed = Arc<Mutex<HashMap<String, usize>>>;

fn wake_followed(followed: &Followed) {
    let jobs: Vec<String> = followed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .cloned()
        .collect();
    for job in jobs {
        HUB.wake(&job);
    }
}

/// A serving process's end of the wake-ups: subscribes streams, and owns the process's one
/// PostgreSQL listener or SQLite watcher, started by the first subscription and stopped when
/// this is dropped.
pub struct LiveEvents {
    db: Db,
    followed: Followed,
    listener: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl LiveEvents {
    pub fn new(db: Db) -> LiveEvents {
        LiveEvents {
            db,
            followed: Followed::default(),
            listener: tokio::sync::Mutex::new(None),
        }
    }

    /// Follow a job's events. The process's listener (PostgreSQL) or watcher (SQLite) is
    /// running when this returns (its first start fails with the database's error, e.g. while
    /// it is down).
    pub async fn subscribe(&self, job_id: &str) -> StoreResult<JobEventSubscription> {
        let mut running = self.listener.lock().await;
        if running.as_ref().is_none_or(JoinHandle::is_finished) {
            let followed = Arc::clone(&self.followed);
            *running = Some(match &self.db {
                Db::Postgres(pool) => {
                    let listener = listen(pool).await?;
                    tokio::spawn(relay(listener, pool.clone(), followed))
                }
                Db::Sqlite(pool) => {
                    let last = last_event_id(pool).await?;
                    tokio::spawn(watch_sqlite(pool.clone(), last, followed))
                }
            });
        }
        drop(running);
        *self
            .followed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(job_id.to_owned())
            .or_default() += 1;
        Ok(JobEventSubscription {
            job_id: job_id.to_owned(),
            rx: HUB.subscribe(job_id),
            seen: 0,
            followed: Arc::clone(&self.followed),
        })
    }
}

impl Drop for LiveEvents {
    fn drop(&mut self) {
        if let Some(task) = self.listener.get_mut().take() {
            task.abort();
        }
    }
}

async fn last_event_id(pool: &SqlitePool) -> StoreResult<i64> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM job_events")
        .fetch_one(pool)
        .await?;
    Ok(last.unwrap_or(0))
}

/// The ids and jobs of the events committed after `after`, oldest first.
async fn events_after(pool: &SqlitePool, after: i64) -> StoreResult<Vec<(i64, String)>> {
    let rows =
        sqlx::query_as("SELECT id, job_id FROM job_events WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after)
            .bind(SQLITE_WATCH_BATCH)
            .fetch_all(pool)
            .await?;
    Ok(rows)
}

/// SQLite's cross-process wake-ups: wakes the jobs of the events committed since the last look,
/// whichever process wrote them, saying up to which event: a stream that already delivered it
/// (woken at the commit, in the process that wrote it) does not read again.
async fn watch_sqlite(pool: SqlitePool, mut last: i64, followed: Followed) {
    let mut ticks = tokio::time::interval(SQLITE_WATCH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let idle = followed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if idle {
            continue;
        }
        loop {
            match events_after(&pool, last).await {
                Ok(rows) => {
                    let full = rows.len() as i64 >= SQLITE_WATCH_BATCH;
                    let mut newest: HashMap<String, i64> = HashMap::new();
                    for (id, job_id) in rows {
                        last = last.max(id);
                        let at = newest.entry(job_id).or_default();
                        *at = (*at).max(id);
                    }
                    for (job_id, id) in newest {
                        HUB.wake_up_to(&job_id, id);
                    }
                    if !full {
                        break;
                    }
                }
                // A busy or briefly unreachable database: the next tick asks again, from
                // the same place, so nothing is skipped.
                Err(err) => {
                    tracing::debug!(error = %err, "job event watcher could not read; trying again");
                    break;
                }
            }
        }
    }
}

/// A listener on a connection of its own (a pool of one), so it never holds one of the
/// requests' connections.
async fn listen(pool: &PgPool) -> StoreResult<PgListener> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut listener = PgListener::connect_with(&own).await?;
    listener.ignore_pool_close_event(true);
    listener.listen(JOB_EVENTS_CHANNEL).await?;
    Ok(listener)
}

/// Hand each announcement to the fan-out, for as long as the process follows streams.
async fn relay(mut listener: PgListener, pool: PgPool, followed: Followed) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => HUB.wake(notification.payload()),
            // The connection was lost and sqlx has listened again on a new one: what was
            // announced in between is gone, so every stream reads once.
            Ok(None) => {
                tracing::warn!("job event listener reconnected; waking every stream");
                wake_followed(&followed);
            }
            Err(err) => {
                tracing::warn!(error = %err, "job event listener lost the database; reconnecting");
                drop(listener);
                listener = loop {
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    match listen(&pool).await {
                        Ok(listener) => break listener,
                        Err(err) => {
                            tracing::debug!(error = %err, "job event listener still waiting")
                        }
                    }
                };
                wake_followed(&followed);
            }
        }
    }
}

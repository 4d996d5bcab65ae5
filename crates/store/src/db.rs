//! The database handle: one enum over a SQLite and a PostgreSQL pool, so each repository method
//! is written once and compiled for both (see [`with_pool!`]). Statements use `$N` placeholders,
//! which both backends accept, and portable SQL; where the backends must differ (the queue's
//! claim) the method says so.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{StoreError, StoreResult};

/// Unix time in milliseconds: every time column holds one.
pub type UnixMillis = i64;

/// The current time as [`UnixMillis`]. Repository methods take `now` as a parameter instead of
/// reading the clock, so callers (and tests) control time.
pub fn now_ms() -> UnixMillis {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A fresh row id: a UUIDv7 string, so ids sort by creation time and pagination by id is
/// pagination by age.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `columns` (a `"a, b, c"` list) as columns of the table aliased `alias` (`"t.a, t.b, t.c"`),
/// for a join that reads one table's row type beside another's.
pub(crate) fn qualified(alias: &str, columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How long a SQLite connection waits for the write lock before giving up. Generous because
/// workers and the API share one file and the machine may be busy.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a PostgreSQL query waits for a pooled connection unless the caller says otherwise
/// (`database.acquire_timeout_seconds` in the platform).
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The handle every repository method hangs off. Cheap to clone (pools are shared).
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run `$body` with `$pool` bound to the concrete pool of either backend. The body is compiled
/// once per backend, so it must evaluate to the same type in both arms.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Start a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`, which takes the
/// write lock up front (waiting up to the busy timeout): a deferred transaction that reads first
/// and writes later can fail with SQLITE_BUSY without waiting when another writer commits in
/// between. PostgreSQL's row locks make a plain `BEGIN` enough.
pub(crate) trait BeginWrite {
    type Database: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, Self::Database>, sqlx::Error>,
    > + Send;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>,
    > + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>,
    > + Send {
        self.begin()
    }
}

impl Db {
    /// Connect by URL: `sqlite://PATH` (created when missing) or `postgres://...`.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Db> {
        Self::connect_bounded(url, max_connections, PG_ACQUIRE_TIMEOUT).await
    }

    /// [`Db::connect`], with PostgreSQL queries waiting at most `acquire_timeout` for a
    /// connection (connecting included): with the database down, callers get
    /// [`StoreError::is_unavailable`] after that long instead of hanging.
    pub async fn connect_bounded(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> StoreResult<Db> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            Self::open_sqlite_with(options, max_connections).await
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            Self::connect_postgres_bounded(options, max_connections, acquire_timeout).await
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// Open (creating when missing) the embedded SQLite database file at `path`.
    pub async fn open_sqlite(path: &Path, max_connections: u32) -> StoreResult<Db> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::open_sqlite_with(options, max_connections).await
    }

    /// Connect to PostgreSQL with explicit options.
    pub async fn connect_postgres_with(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> StoreResult<Db> {
        Self::connect_postgres_bounded(options, max_connections, PG_ACQUIRE_TIMEOUT).await
    }

    async fn connect_postgres_bounded(
        options: PgConnectOptions,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> StoreResult<Db> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout.max(Duration::from_millis(100)))
            .connect_with(options)
            .await?;
        Ok(Db::Postgres(pool))
    }

    async fn open_sqlite_with(
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> StoreResult<Db> {
        // WAL lets readers proceed while one writer commits; NORMAL sync is durable across a
        // process crash in WAL mode (only an OS crash can lose the last commits).
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        // No ping before lending a connection: a SQLite connection is a file handle that does
        // not go stale, and each ping is a round trip to the connection's own thread, as costly
        // as a query (it doubled the thread hand-offs of an authenticated read, D-cluster-2).
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(SQLITE_BUSY_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Db::Sqlite(pool))
    }

    /// Which engine this handle talks to.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Apply the migrations embedded in the binary (`migrations/sqlite` or `migrations/postgres`).
    /// Safe to run from several processes at once: sqlx takes a lock while migrating.
    pub async fn migrate(&self) -> StoreResult<()> {
        match self {
            Db::Sqlite(pool) => sqlx::migrate!("../../migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => {
                sqlx::migrate!("../../migrations/postgres")
                    .run(pool)
                    .await?
            }
        }
        Ok(())
    }

    /// How many migrations the database has recorded as applied (0 for an empty database), so
    /// `reelsmith migrate` can say whether it changed anything.
    pub async fn applied_migrations(&self) -> StoreResult<i64> {
        let exists = match self {
            Db::Sqlite(pool) => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_one(pool)
            .await?
                > 0,
            Db::Postgres(pool) => sqlx::query_scalar::<_, bool>(
                "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
            )
            .fetch_one(pool)
            .await?,
        };
        if !exists {
            return Ok(0);
        }
        let sql = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        Ok(with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await)?)
    }

    /// A cheap round trip, for readiness probes.
    pub async fn ping(&self) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Close every pooled connection (waits for checked-out ones to come back).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// Drop any password from a URL before it is put in an error message.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_in_urls() {
        assert_eq!(
            redact_url("mysql://bob:secret@host/db"),
            "mysql://***@host/db"
        );
        assert_eq!(redact_url("nonsense"), "nonsense");
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = new_id();
        std::thread::sleep(Duration::from_millis(2));
        let b = new_id();
        assert!(a < b, "{a} should sort before {b}");
    }
}

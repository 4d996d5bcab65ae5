//! Live progress (issue 23): a job's event stream reads the database only when woken for its
//! job, by PostgreSQL's `LISTEN/NOTIFY` across connections and processes, or by the store's own
//! wake-up on SQLite. Events are written through a second database handle, as a worker would;
//! the stream's own queries are counted through the `job_event_stream` span its reads run in.

mod common;
#[path = "../../store/tests/support/mod.rs"]
mod support;
#[macro_use]
mod backends;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::*;
use http_body_util::BodyExt;
use reelsmith_config::Config;
use reelsmith_mail::OutboxMailer;
use reelsmith_server::{router, AppState};
use reelsmith_store::{
    now_ms, Db, Keyring, Lease, MediaStore, OperatorKey, RunLimits, SealedMedia,
};
use serde_json::json;
use sqlx::Connection;
use tower::ServiceExt;

/// Far below the streams' safety re-read (20 to 30 s): an event seen this soon was woken for.
const PROMPT: Duration = Duration::from_secs(6);

on_both!(
    live_a_stream_gets_events_written_through_another_handle_in_order_and_once,
    live_a_quiet_stream_makes_no_database_query,
);

// ---- counting the stream's queries -------------------------------------------------------

/// sqlx's statement events (target `sqlx::query`) inside a `job_event_stream` span, by job id.
fn stream_queries(job_id: &str) -> u64 {
    counter().lock().unwrap().get(job_id).copied().unwrap_or(0)
}

fn counter() -> &'static Mutex<HashMap<String, u64>> {
    static COUNTS: OnceLock<Mutex<HashMap<String, u64>>> = OnceLock::new();
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(CountStreamQueries);
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test binary");
    });
    COUNTS.get_or_init(Default::default)
}

struct CountStreamQueries;

struct StreamOf(String);

impl<S> tracing_subscriber::Layer<S> for CountStreamQueries
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() != "job_event_stream" {
            return;
        }
        struct JobId(Option<String>);
        impl tracing::field::Visit for JobId {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "job_id" {
                    self.0 = Some(format!("{value:?}"));
                }
            }
        }
        let mut job = JobId(None);
        attrs.record(&mut job);
        if let (Some(job), Some(span)) = (job.0, ctx.span(id)) {
            span.extensions_mut().insert(StreamOf(job));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope {
            if let Some(StreamOf(job)) = span.extensions().get::<StreamOf>() {
                *counter().lock().unwrap().entry(job.clone()).or_default() += 1;
                return;
            }
        }
    }
}

// ---- reading a stream --------------------------------------------------------------------

#[derive(Debug)]
struct SseEvent {
    id: i64,
    kind: String,
}

enum Next {
    Event(SseEvent),
    End,
    Nothing,
}

struct EventStream {
    body: Body,
    buf: String,
}

impl EventStream {
    async fn open(t: &TestApp, job_id: &str, auth: &Auth) -> EventStream {
        let request = t
            .request(Method::GET, &format!("/api/v1/jobs/{job_id}/events"), auth)
            .body(Body::empty())
            .unwrap();
        let response = t.app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        EventStream {
            body: response.into_body(),
            buf: String::new(),
        }
    }

    /// The next event within `limit` (keep-alive comments skipped).
    async fn next(&mut self, limit: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut kind) = (None, None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        kind = Some(v.trim().to_owned());
                    }
                }
                if let (Some(id), Some(kind)) = (id, kind) {
                    return Next::Event(SseEvent { id, kind });
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return Next::Nothing,
                Ok(None) => return Next::End,
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.expect("the stream reads").into_data() {
                        self.buf.push_str(&String::from_utf8_lossy(&data));
                    }
                }
            }
        }
    }

    async fn expect(&mut self, kind: &str) -> SseEvent {
        match self.next(PROMPT).await {
            Next::Event(e) => {
                assert_eq!(e.kind, kind, "{e:?}");
                e
            }
            Next::End => panic!("the stream ended before `{kind}`"),
            Next::Nothing => panic!("no `{kind}` within {PROMPT:?}: the stream was not woken"),
        }
    }
}

// ---- helpers ------------------------------------------------------------------------------

/// A second handle on the app's database, as another process (a worker) would hold: on
/// PostgreSQL a pool of its own, so its NOTIFY leaves from another connection.
async fn other_handle(t: &TestApp) -> Db {
    match &t.state.db {
        Db::Sqlite(_) => Db::open_sqlite(&t.dir.path().join("reelsmith.db"), 1)
            .await
            .unwrap(),
        Db::Postgres(pool) => Db::connect_postgres_with((*pool.connect_options()).clone(), 1)
            .await
            .unwrap(),
    }
}

async fn submitted_job(t: &TestApp, auth: &Auth) -> String {
    let r = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            auth,
            json!({ "script": "A harbour at dawn.", "seed": 3 }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn claim(db: &Db, job_id: &str) -> Lease {
    let claimed = db
        .claim_next_job("other-process", 60_000, RunLimits::default(), now_ms())
        .await
        .unwrap()
        .expect("the job to claim");
    assert_eq!(claimed.job.id, job_id);
    claimed.lease
}

// ---- cases --------------------------------------------------------------------------------

async fn live_a_stream_gets_events_written_through_another_handle_in_order_and_once(t: TestApp) {
    counter();
    let user = Auth::Cookie(t.signed_in_user("ada@example.org", "ada").await);
    let job_id = submitted_job(&t, &user).await;
    let mut stream = EventStream::open(&t, &job_id, &user).await;
    let mut ids = vec![stream.expect("queued").await.id];
    assert!(reelsmith_store::live::is_followed(&job_id));

    let worker = other_handle(&t).await;
    let lease = claim(&worker, &job_id).await;
    ids.push(stream.expect("started").await.id);
    for (i, progress) in [0.25, 0.5, 0.75].into_iter().enumerate() {
        worker
            .update_progress(&lease, "render", progress, now_ms())
            .await
            .unwrap();
        let e = stream.expect("progress").await;
        assert!(
            e.id > *ids.last().unwrap(),
            "event {i} out of order: {ids:?}, {e:?}"
        );
        ids.push(e.id);
    }
    // Two events in one burst: both come, in order, once.
    worker
        .update_progress(&lease, "encode", 0.9, now_ms())
        .await
        .unwrap();
    worker
        .finish_job(&lease, &[], &json!({ "engine": "studio" }), now_ms())
        .await
        .unwrap();
    ids.push(stream.expect("progress").await.id);
    ids.push(stream.expect("succeeded").await.id);
    assert!(
        matches!(stream.next(PROMPT).await, Next::End),
        "the stream ends after succeeded"
    );

    let written: Vec<i64> = t
        .state
        .db
        .job_events_since(&job_id, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, written, "every event of the job, in order, each once");
    worker.close().await;
    drop(stream);
    wait_until_unfollowed(&job_id).await;
}

async fn live_a_quiet_stream_makes_no_database_query(t: TestApp) {
    counter();
    let user = Auth::Cookie(t.signed_in_user("bea@example.org", "bea").await);
    let job_id = submitted_job(&t, &user).await;
    let mut stream = EventStream::open(&t, &job_id, &user).await;
    stream.expect("queued").await;
    // The read that found `queued` ran in the stream's span: the counter sees the stream.
    let opened = stream_queries(&job_id);
    assert!(opened >= 1, "the stream's reads are counted");

    // Quiet: nothing is written, and the stream asks the database nothing (it polled 4 times a
    // second before, 2 queries each).
    assert!(matches!(
        stream.next(Duration::from_millis(2500)).await,
        Next::Nothing
    ));
    assert_eq!(
        stream_queries(&job_id),
        opened,
        "a quiet stream made queries"
    );

    // Woken for its job, it reads once and delivers.
    let worker = other_handle(&t).await;
    claim(&worker, &job_id).await;
    stream.expect("started").await;
    let after_event = stream_queries(&job_id);
    assert!(after_event > opened);
    assert!(
        after_event - opened <= 2,
        "one event cost {} queries",
        after_event - opened
    );

    // Another job's events do not wake this stream.
    let other_job = submitted_job(&t, &user).await;
    worker
        .append_job_event(&other_job, "note", None, None, None, now_ms())
        .await
        .unwrap();
    assert!(matches!(
        stream.next(Duration::from_millis(1500)).await,
        Next::Nothing
    ));
    assert_eq!(
        stream_queries(&job_id),
        after_event,
        "woken for another job"
    );
    worker.close().await;
}

/// Closing a stream lets go of its job's wake-ups.
async fn wait_until_unfollowed(job_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while reelsmith_store::live::is_followed(job_id) {
        assert!(
            Instant::now() < deadline,
            "a closed stream still follows its job"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PostgreSQL only: a wake-up lost while the listener's connection is down is made up for when
/// it comes back (every stream reads once), and the stream rides out a restart of the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_postgres_listener_recovers_after_losing_its_connection_and_a_restart() {
    counter();
    let cluster = support::postgres::Cluster::start();
    let url = cluster.addr().create_database().await;
    let db = Db::connect(&url, 4).await.unwrap();
    db.migrate().await.unwrap();
    let t = app_on(db).await;
    let user = Auth::Cookie(t.signed_in_user("cyd@example.org", "cyd").await);
    let job_id = submitted_job(&t, &user).await;
    let mut stream = EventStream::open(&t, &job_id, &user).await;
    stream.expect("queued").await;

    // An event whose announcement is lost: written with triggers off (as if the listener
    // had been away). The stream does not see it...
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO job_events (job_id, kind, stage, progress, payload_json, created_at) \
         VALUES ($1, 'note', NULL, NULL, NULL, $2)",
    )
    .bind(&job_id)
    .bind(now_ms())
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query("SET session_replication_role = origin")
        .execute(&mut admin)
        .await
        .unwrap();
    assert!(matches!(
        stream.next(Duration::from_millis(1500)).await,
        Next::Nothing
    ));
    // ...until the listener's connection is cut: back, it wakes every stream once.
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(cut, [true], "one listener per process");
    stream.expect("note").await;
    admin.close().await.unwrap();

    // The whole database restarts; the stream stays open and still gets the next event.
    cluster.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.restart();
    let worker = Db::connect(&url, 1).await.unwrap();
    let mut delivered = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    // Until the listener is back, an announcement can be missed: a later one then brings both.
    while !delivered && Instant::now() < deadline {
        worker
            .append_job_event(&job_id, "note", None, None, None, now_ms())
            .await
            .unwrap();
        delivered = matches!(stream.next(Duration::from_secs(2)).await, Next::Event(ref e) if e.kind == "note");
    }
    assert!(delivered, "no event reached the stream after the restart");
    worker.close().await;
}

/// The app on a database of the test's own, media in a local folder.
async fn app_on(db: Db) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::defaults_for(dir.path());
    std::fs::create_dir_all(dir.path().join("media")).unwrap();
    let raw = MediaStore::local(&dir.path().join("media")).unwrap();
    let media = SealedMedia::new(raw, db.clone(), Keyring::new(OperatorKey::generate().0));
    let outbox = dir.path().join("outbox");
    let mailer = Arc::new(OutboxMailer::new(&outbox, &config.email.from).unwrap());
    let state = AppState::new(db, media, mailer, Arc::new(config));
    TestApp {
        app: router(state.clone()),
        state,
        outbox,
        dir,
    }
}

//! The worker through media-store outages: an upload the store refuses is retried in place with
//! the finished render kept (not rendered again), an outage longer than that puts the job back
//! without spending its attempts, and what the owner reads about it names nothing of the
//! infrastructure (no endpoint, bucket or object key).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use reelsmith_config::Config;
use reelsmith_store::{
    now_ms, Db, JobStatus, Keyring, MediaStore, NewJob, NewUser, OperatorKey, Role, SealedMedia,
};
use reelsmith_worker::{JobOutcome, Worker, WorkerSettings};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a real S3 client's error says: the endpoint, the bucket and the key.
const LEAKY_DETAIL: &str =
    "Error performing PUT http://10.1.2.3:9000/reelsmith-media/jobs/secret-key: 503 Slow Down";

/// A real local store that refuses the next `refusals` writes of job outputs, as an S3 service
/// in an outage does; reads and everything else pass through.
#[derive(Debug)]
struct Flaky {
    inner: Arc<dyn ObjectStore>,
    refusals: AtomicUsize,
    writes_refused: AtomicUsize,
}

impl fmt::Display for Flaky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flaky({})", self.inner)
    }
}

impl Flaky {
    fn refuse(&self, location: &ObjectPath) -> object_store::Result<()> {
        if !location.as_ref().starts_with("jobs/") {
            return Ok(());
        }
        let left = self
            .refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if left.is_ok() {
            self.writes_refused.fetch_add(1, Ordering::SeqCst);
            return Err(object_store::Error::Generic {
                store: "S3",
                source: LEAKY_DETAIL.into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for Flaky {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.refuse(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.refuse(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn delete(&self, location: &ObjectPath) -> object_store::Result<()> {
        self.inner.delete(location).await
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy(&self, from: &ObjectPath, to: &ObjectPath) -> object_store::Result<()> {
        self.inner.copy(from, to).await
    }

    async fn copy_if_not_exists(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
    ) -> object_store::Result<()> {
        self.inner.copy_if_not_exists(from, to).await
    }
}

struct Env {
    _temp: tempfile::TempDir,
    data: std::path::PathBuf,
    db: Db,
    media: SealedMedia,
    flaky: Arc<Flaky>,
    owner: String,
}

impl Env {
    async fn new(refusals: usize) -> Env {
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path().to_path_buf();
        let db = Db::open_sqlite(&data.join("reelsmith.db"), 4)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let local = MediaStore::local(&data.join("media")).unwrap();
        let flaky = Arc::new(Flaky {
            inner: local.object_store(),
            refusals: AtomicUsize::new(refusals),
            writes_refused: AtomicUsize::new(0),
        });
        let raw = MediaStore::from_object_store(flaky.clone());
        let media = SealedMedia::new(raw, db.clone(), Keyring::new(OperatorKey::generate().0));
        let owner = db
            .create_user(
                &NewUser {
                    email: "ana@example.org".into(),
                    username: "ana".into(),
                    password_hash: None,
                    display_name: "Ana".into(),
                    role: Role::User,
                    birth_year: None,
                    age_confirmed_min: Some(18),
                },
                now_ms(),
            )
            .await
            .unwrap()
            .id;
        Env {
            _temp: temp,
            data,
            db,
            media,
            flaky,
            owner,
        }
    }

    fn settings(&self) -> WorkerSettings {
        let mut config = Config::defaults_for(&self.data);
        // espeak-ng narrates: these tests are not about the voice (Piper's are pipeline.rs's).
        config.speech.default_voice = "espeak".into();
        let mut settings = WorkerSettings::from_config(&config);
        settings.heartbeat = Duration::from_millis(200);
        settings.lease = Duration::from_secs(10);
        settings.poll_interval = Duration::from_millis(100);
        settings.engine.encode.preset = "ultrafast".into();
        settings
    }

    async fn submit(&self) -> String {
        self.db
            .submit_job(
                &NewJob {
                    owner_id: self.owner.clone(),
                    params: json!({ "script": "Hello there.", "resolution": "480p" }),
                    idempotency_key: None,
                    cost: 0,
                },
                now_ms(),
            )
            .await
            .unwrap()
            .job
            .id
    }

    /// Runs one worker until it reports one outcome.
    async fn run_once(&self, settings: WorkerSettings) -> JobOutcome {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let worker = Worker::with_settings(self.db.clone(), self.media.clone(), settings, "w1")
            .with_outcomes(tx);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move { worker.run(token).await.unwrap() });
        let outcome = tokio::time::timeout(Duration::from_secs(180), rx.recv())
            .await
            .expect("an outcome in time")
            .expect("the worker reports");
        shutdown.cancel();
        handle.await.unwrap();
        outcome
    }

    async fn events(&self, job_id: &str) -> Vec<reelsmith_store::JobEvent> {
        self.db.job_events_since(job_id, 0, 10_000).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_is_retried_in_place_and_the_render_is_not_redone() {
    let env = Env::new(2).await;
    let job_id = env.submit().await;
    let outcome = env.run_once(env.settings()).await;
    assert_eq!(
        outcome,
        JobOutcome::Succeeded {
            job_id: job_id.clone(),
            resumed: false
        }
    );
    assert_eq!(env.flaky.writes_refused.load(Ordering::SeqCst), 2);
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(
        job.attempts, 1,
        "one attempt: the upload was retried, not the job"
    );
    let events = env.events(&job_id).await;
    let renders = events
        .iter()
        .filter(|e| e.kind == "progress" && e.stage.as_deref() == Some("render"))
        .filter(|e| e.progress.is_some_and(|p| p <= 0.06))
        .count();
    assert_eq!(renders, 1, "the render started once: {events:?}");
    assert!(events.iter().all(|e| e.kind != "retrying"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_store_retries_requeues_without_spending_an_attempt_or_leaking() {
    let env = Env::new(usize::MAX).await;
    let job_id = env.submit().await;
    let mut settings = env.settings();
    settings.store_retry = Duration::from_secs(1);
    // One attempt allowed: an outage that spent it would fail the job for good.
    settings.max_attempts = 1;
    let outcome = env.run_once(settings).await;
    let JobOutcome::Retrying { code, .. } = &outcome else {
        panic!("expected a retry after the outage, got {outcome:?}");
    };
    assert_eq!(code, "media.backend");
    assert!(
        env.flaky.writes_refused.load(Ordering::SeqCst) >= 2,
        "retried in place first"
    );
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.attempts, 0, "the outage gave the attempt back");
    assert_eq!(env.db.outage_retries(&job_id).await.unwrap(), 1);

    let error = job.error.expect("the error is shown");
    assert_eq!(error.code, "media.backend");
    let events = env.events(&job_id).await;
    let retrying = events
        .iter()
        .find(|e| e.kind == "retrying")
        .expect("a retrying event");
    let payload = retrying.payload.as_ref().unwrap();
    assert_eq!(payload["code"], "media.backend");
    assert_eq!(payload["outage"], true);
    for shown in [error.message.as_str(), &payload.to_string()] {
        for secret in [
            "10.1.2.3",
            "reelsmith-media",
            "jobs/",
            "secret-key",
            "http",
            "Slow Down",
        ] {
            assert!(
                !shown.contains(secret),
                "`{secret}` leaked to the owner: {shown}"
            );
        }
    }
    assert!(!error.message.is_empty());
    // Nothing half-written under the job's keys.
    assert!(env
        .media
        .list(&format!("jobs/{job_id}"))
        .await
        .unwrap()
        .is_empty());
}

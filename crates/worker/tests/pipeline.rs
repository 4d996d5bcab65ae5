//! The worker against a real SQLite database, a local media folder, real espeak-ng and ffmpeg:
//! jobs render to stored outputs, fail with their codes, stop when cancelled, are released at
//! shutdown, retried after errors of ours, and finish exactly once when another worker takes over.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes_helper::read_all;
use reelsmith_config::Config;
use reelsmith_store::{
    content_key, now_ms, CancelOutcome, Db, JobStatus, Keyring, MediaStore, NewJob, NewUpload,
    NewUser, OperatorKey, Role, SealedMedia, UploadKind,
};
use reelsmith_worker::{JobOutcome, Worker, WorkerSettings};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod bytes_helper {
    pub fn read_all(path: &std::path::Path) -> Vec<u8> {
        std::fs::read(path).expect("readable")
    }
}

const LONG_SCRIPT: &str = "Every morning the old harbour wakes slowly. Fishing boats creak \
against the wooden pier while gulls circle overhead, waiting for the first catch of the day. The \
fishermen have done this for generations. Their grandfathers mended the same nets, read the same \
clouds, and told the same stories about storms that nearly took them. But the town is changing. \
Young people leave for the city, and tourists arrive each summer with cameras and questions.";

struct Env {
    _temp: tempfile::TempDir,
    data: PathBuf,
    db: Db,
    media: SealedMedia,
    owner: String,
}

impl Env {
    async fn new() -> Env {
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path().to_path_buf();
        let db = Db::open_sqlite(&data.join("reelsmith.db"), 4)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let raw = MediaStore::local(&data.join("media")).unwrap();
        let media = SealedMedia::new(raw, db.clone(), Keyring::new(OperatorKey::generate().0));
        let user = db
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
            .unwrap();
        Env {
            _temp: temp,
            data,
            db,
            media,
            owner: user.id,
        }
    }

    fn settings(&self) -> WorkerSettings {
        self.settings_with(|_| {})
    }

    /// The suite's settings: espeak-ng narrates (`[speech] default_voice = "espeak"`), so the
    /// tests that are not about the voice do not pay Piper's synthesis; `change` may undo it.
    fn settings_with(&self, change: impl FnOnce(&mut Config)) -> WorkerSettings {
        let mut config = Config::defaults_for(&self.data);
        config.speech.default_voice = "espeak".into();
        change(&mut config);
        let mut settings = WorkerSettings::from_config(&config);
        settings.heartbeat = Duration::from_millis(200);
        settings.lease = Duration::from_secs(10);
        settings.poll_interval = Duration::from_millis(100);
        settings.engine.encode.preset = "ultrafast".into();
        settings
    }

    fn work_root(&self) -> PathBuf {
        self.data.join("tmp").join("work")
    }

    /// Stores a test picture as the owner's upload and returns its id.
    async fn upload_photo(&self) -> (String, String) {
        let owner = self.owner.clone();
        self.upload_photo_for(&owner).await
    }

    /// A second, real account (another user's objects must be theirs, not made-up ids).
    async fn second_user(&self) -> String {
        self.db
            .create_user(
                &NewUser {
                    email: "ben@example.org".into(),
                    username: "ben".into(),
                    password_hash: None,
                    display_name: "Ben".into(),
                    role: Role::User,
                    birth_year: None,
                    age_confirmed_min: Some(18),
                },
                now_ms(),
            )
            .await
            .unwrap()
            .id
    }

    /// Stores a test picture as `owner`'s upload and returns its id and key.
    async fn upload_photo_for(&self, owner: &str) -> (String, String) {
        self.upload_photo_sized(owner, "960x640").await
    }

    /// Pictures of different sizes are different bytes, so they do not share one object.
    async fn upload_photo_sized(&self, owner: &str, size: &str) -> (String, String) {
        let path = self.data.join("photo.jpg");
        let source = format!("testsrc2=size={size}");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &source,
            "-frames:v",
            "1",
            path.to_str().unwrap(),
        ]);
        let bytes = read_all(&path);
        let key = content_key(&format!("uploads/{owner}"), &bytes);
        let size = bytes.len() as i64;
        self.media
            .for_owner(owner)
            .await
            .unwrap()
            .put_bytes(&key, bytes.into())
            .await
            .unwrap();
        let upload = self
            .db
            .create_upload(
                &NewUpload {
                    owner_id: owner.to_owned(),
                    kind: UploadKind::Image,
                    object_key: key.clone(),
                    size,
                    mime: "image/jpeg".into(),
                    width: Some(960),
                    height: Some(640),
                    duration_ms: None,
                },
                now_ms(),
            )
            .await
            .unwrap();
        (upload.id, key)
    }

    async fn submit(&self, params: Value) -> String {
        self.db
            .submit_job(
                &NewJob {
                    owner_id: self.owner.clone(),
                    params,
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

    async fn job_objects(&self, job_id: &str) -> Vec<String> {
        self.media
            .list(&format!("jobs/{job_id}"))
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    async fn wait_for_progress(&self, job_id: &str, above: f64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {job_id} never passed {above} progress"
            );
            let job = self.db.job_by_id(job_id).await.unwrap().unwrap();
            if job.status == JobStatus::Running && job.progress > above {
                return;
            }
            assert!(
                !job.status.is_terminal(),
                "job ended before it progressed: {job:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg is installed (scripts/setup)");
    assert!(status.success(), "ffmpeg {args:?}");
}

fn stream_codecs(path: &Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Generous on a loaded 2-core machine; a render in these tests takes a few seconds.
const PATIENCE: Duration = Duration::from_secs(180);

struct Running {
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
    outcomes: mpsc::UnboundedReceiver<JobOutcome>,
}

impl Running {
    async fn next_outcome(&mut self) -> JobOutcome {
        // A deadline turns a stuck worker into a failure instead of a hung test run.
        tokio::time::timeout(PATIENCE, self.outcomes.recv())
            .await
            .expect("the worker reports an outcome in time")
            .expect("the worker reports")
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.unwrap();
    }
}

fn start(env: &Env, settings: WorkerSettings, id: &str) -> Running {
    let (tx, rx) = mpsc::unbounded_channel();
    let worker =
        Worker::with_settings(env.db.clone(), env.media.clone(), settings, id).with_outcomes(tx);
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let handle = tokio::spawn(async move { worker.run(token).await.unwrap() });
    Running {
        shutdown,
        handle,
        outcomes: rx,
    }
}

fn empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).map_or(true, |mut d| d.next().is_none())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_an_uploaded_image_renders_to_four_stored_outputs() {
    let env = Env::new().await;
    let (upload, upload_key) = env.upload_photo().await;
    let job_id = env
        .submit(json!({
            "script": "A quiet harbour at dawn. The boats go out.",
            "media": [upload],
            "resolution": "480p",
        }))
        .await;
    let mut worker = start(&env, env.settings(), "w1");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert_eq!(
        outcome,
        JobOutcome::Succeeded {
            job_id: job_id.clone(),
            resumed: false
        }
    );

    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.progress, 1.0);
    let usage = job.usage.expect("usage recorded");
    assert_eq!(usage["engine"], "studio");
    assert_eq!(usage["model"], "built-in");
    assert!(usage["frames"].as_u64().unwrap() > 0);
    assert!(usage["output_seconds"].as_f64().unwrap() > 1.0);
    for stage in ["fetch", "render", "store"] {
        assert!(usage["stage_ms"][stage].is_u64(), "{stage} timed: {usage}");
    }

    let expected: Vec<String> = ["captions.srt", "captions.vtt", "poster.jpg", "video.mp4"]
        .iter()
        .map(|f| format!("jobs/{job_id}/r1/{f}"))
        .collect();
    assert_eq!(env.job_objects(&job_id).await, expected);
    assert_eq!(
        usage["output_bytes"].as_u64().unwrap(),
        env.media
            .list(&format!("jobs/{job_id}"))
            .await
            .unwrap()
            .iter()
            .map(|o| o.size)
            .sum::<u64>()
    );
    let revisions = env.db.list_revisions(&env.owner, &job_id).await.unwrap();
    let mut recorded = revisions[0].output_keys.clone();
    recorded.sort();
    assert_eq!(recorded, expected);

    let video = env.data.join("out.mp4");
    let owner_media = env.media.for_owner(&env.owner).await.unwrap();
    let bytes = owner_media
        .get_bytes(&format!("jobs/{job_id}/r1/video.mp4"))
        .await
        .unwrap();
    std::fs::write(&video, &bytes).unwrap();
    // P-SEC-2: the worker stored the output sealed; the media folder holds no MP4.
    let on_disk = read_all(
        &env.data
            .join("media")
            .join(format!("jobs/{job_id}/r1/video.mp4")),
    );
    assert!(bytes.windows(4).any(|w| w == b"ftyp"));
    assert!(!on_disk.windows(4).any(|w| w == b"ftyp"));
    assert_eq!(stream_codecs(&video), ["h264", "aac"]);
    let vtt = owner_media
        .get_bytes(&format!("jobs/{job_id}/r1/captions.vtt"))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&vtt).starts_with("WEBVTT"));

    let events = env.db.job_events_since(&job_id, 0, 1000).await.unwrap();
    let stages: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "progress")
        .filter_map(|e| e.stage.as_deref())
        .collect();
    for stage in ["fetch", "render", "store"] {
        assert!(stages.contains(&stage), "{stage} in {stages:?}");
    }
    assert_eq!(events.last().unwrap().kind, "succeeded");
    assert!(empty_dir(&env.work_root()), "work folder removed");
    // The upload is untouched.
    assert!(env.media.head(&upload_key).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_without_words_fails_at_once_with_its_code_and_no_objects() {
    let env = Env::new().await;
    let job_id = env
        .submit(json!({ "script": "🎉 🎉 🎉", "resolution": "480p" }))
        .await;
    let mut worker = start(&env, env.settings(), "w1");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert_eq!(
        outcome,
        JobOutcome::Failed {
            job_id: job_id.clone(),
            code: "script.no_words".into()
        }
    );
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.unwrap().code, "script.no_words");
    assert_eq!(job.attempts, 1, "client errors are not retried");
    assert!(env.media.list("jobs").await.unwrap().is_empty());
    assert!(empty_dir(&env.work_root()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_of_another_user_is_not_found() {
    let env = Env::new().await;
    let ben = env.second_user().await;
    let (bens_upload, bens_key) = env.upload_photo_for(&ben).await;
    let job_id = env
        .submit(json!({ "script": "Hello there.", "media": [bens_upload] }))
        .await;
    let mut worker = start(&env, env.settings(), "w1");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert_eq!(
        outcome,
        JobOutcome::Failed {
            job_id: job_id.clone(),
            code: "job.upload_not_found".into()
        }
    );
    // Nothing of Ben's was read into the job or written out of it, and his upload is intact.
    assert!(env.job_objects(&job_id).await.is_empty());
    assert!(env
        .db
        .upload_for_owner(&ben, &bens_upload)
        .await
        .unwrap()
        .is_some());
    let bens = env.media.for_owner(&ben).await.unwrap();
    assert!(!bens.get_bytes(&bens_key).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_of_ours_is_retried_later_then_fails_when_attempts_run_out() {
    let env = Env::new().await;
    let (upload, key) = env.upload_photo().await;
    // The row stays but the stored object is gone: a storage fault, not the user's.
    env.media.delete(&key).await.unwrap();
    let job_id = env
        .submit(json!({ "script": "Hello there.", "media": [upload] }))
        .await;
    let mut settings = env.settings();
    settings.max_attempts = 2;
    let mut worker = start(&env, settings, "w1");
    let first = worker.next_outcome().await;
    let JobOutcome::Retrying {
        code,
        next_attempt_at,
        ..
    } = first
    else {
        panic!("expected a retry, got {first:?}");
    };
    assert_eq!(code, "media.not_found");
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.error.unwrap().code, "media.not_found");
    assert_eq!(job.next_attempt_at, next_attempt_at);
    assert!(next_attempt_at > now_ms());
    worker.stop().await;

    // Make the retry due now; the second attempt is the last.
    let mut claimed = None;
    while claimed.is_none() {
        claimed = env
            .db
            .claim_next_job("probe", 1, Default::default(), next_attempt_at)
            .await
            .unwrap();
    }
    // Let the probe's 1 ms lease lapse, so the worker takes the job over as attempt 3 > 2.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut worker = start(&env, env.settings(), "w2");
    let last = worker.next_outcome().await;
    worker.stop().await;
    assert_eq!(
        last,
        JobOutcome::Failed {
            job_id: job_id.clone(),
            code: "media.not_found".into()
        }
    );
    assert_eq!(
        env.db.job_by_id(&job_id).await.unwrap().unwrap().status,
        JobStatus::Failed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_mid_render_stops_the_render_and_stores_nothing() {
    let env = Env::new().await;
    let job_id = env
        .submit(json!({ "script": LONG_SCRIPT, "resolution": "480p" }))
        .await;
    let mut worker = start(&env, env.settings(), "w1");
    env.wait_for_progress(&job_id, 0.15).await;
    let cancelled = env
        .db
        .cancel_job(&env.owner, &job_id, now_ms())
        .await
        .unwrap();
    assert!(matches!(cancelled, CancelOutcome::Cancelled(_)));
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert_eq!(
        outcome,
        JobOutcome::LeaseLost {
            job_id: job_id.clone(),
            rendered: false,
            deleted: vec![]
        },
        "the render stopped before it finished"
    );
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert!(env.media.list("jobs").await.unwrap().is_empty());
    assert!(empty_dir(&env.work_root()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_after_the_grace_period_releases_the_running_job() {
    let env = Env::new().await;
    let job_id = env
        .submit(json!({ "script": LONG_SCRIPT, "resolution": "480p" }))
        .await;
    let mut settings = env.settings();
    settings.shutdown_grace = Duration::ZERO;
    let mut worker = start(&env, settings, "w1");
    env.wait_for_progress(&job_id, 0.15).await;
    worker.shutdown.cancel();
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert_eq!(
        outcome,
        JobOutcome::Released {
            job_id: job_id.clone()
        }
    );
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.attempts, 0, "the attempt was given back");
    assert!(job.lease_owner.is_none());
    assert!(env.media.list("jobs").await.unwrap().is_empty());
    assert!(empty_dir(&env.work_root()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_over_job_finishes_once_with_one_set_of_outputs() {
    let env = Env::new().await;
    let (upload, _) = env.upload_photo().await;
    let job_id = env
        .submit(json!({ "script": LONG_SCRIPT, "media": [upload], "resolution": "480p" }))
        .await;
    // A stalled worker: its lease is short and it never renews it.
    let mut stalled = env.settings();
    stalled.lease = Duration::from_millis(1500);
    stalled.heartbeat = Duration::from_secs(3600);
    // One job at a time, or the stalled worker re-claims its own expired job in a second slot.
    stalled.concurrency = 1;
    let mut first = start(&env, stalled, "stalled");
    env.wait_for_progress(&job_id, 0.15).await;
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.lease_owner.as_deref(), Some("stalled"));

    let mut second = start(&env, env.settings(), "healthy");
    let taken_over = second.next_outcome().await;
    let lost = first.next_outcome().await;
    first.stop().await;
    second.stop().await;
    assert_eq!(
        taken_over,
        JobOutcome::Succeeded {
            job_id: job_id.clone(),
            resumed: false
        }
    );
    let JobOutcome::LeaseLost { deleted, .. } = lost else {
        panic!("the stalled worker lost its lease: {lost:?}");
    };
    assert!(deleted.is_empty(), "nothing referenced was deleted");

    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.lease_owner, None);
    let events = env.db.job_events_since(&job_id, 0, 10_000).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "succeeded").count(), 1);
    let objects = env.job_objects(&job_id).await;
    assert_eq!(objects.len(), 4, "{objects:?}");
    assert_eq!(env.media.list("jobs").await.unwrap().len(), 4);
    assert!(empty_dir(&env.work_root()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_comm_1_an_owner_who_asked_is_emailed_when_a_job_ends_and_nobody_else_is() {
    use std::sync::Arc;

    use reelsmith_mail::{Branding, OutboxMailer};
    use reelsmith_worker::JobMail;

    let env = Env::new().await;
    let outbox = env.data.join("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    let mail = Arc::new(JobMail {
        mailer: Arc::new(OutboxMailer::new(&outbox, "Reelsmith <noreply@example.org>").unwrap()),
        branding: Branding {
            product: "Reelsmith".into(),
            public_url: "https://video.example.org".into(),
        },
    });
    let run = |mail: Arc<JobMail>| {
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = Worker::with_settings(env.db.clone(), env.media.clone(), env.settings(), "w1")
            .with_outcomes(tx)
            .with_mail(mail);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move { worker.run(token).await.unwrap() });
        Running {
            shutdown,
            handle,
            outcomes: rx,
        }
    };
    let latest = || reelsmith_mail::latest_message_to(&outbox, "ana@example.org").unwrap();

    // Not asked for: a job ends and no email goes out.
    let quiet = env
        .submit(json!({ "script": "🎉 🎉", "resolution": "480p" }))
        .await;
    let mut worker = run(Arc::clone(&mail));
    assert!(matches!(
        worker.next_outcome().await,
        JobOutcome::Failed { .. }
    ));
    worker.stop().await;
    assert!(latest().is_none(), "job {quiet} ended without an email");

    // Asked for: one email per ended job, naming the creation and linking its page.
    env.db
        .set_notify_job_finished(&env.owner, true, now_ms())
        .await
        .unwrap();
    let failing = env
        .submit(json!({ "script": "🎉 🎉 🎉", "resolution": "480p" }))
        .await;
    let mut worker = run(Arc::clone(&mail));
    assert!(matches!(
        worker.next_outcome().await,
        JobOutcome::Failed { .. }
    ));
    let failed = latest().expect("an email about the failed job");
    assert_eq!(failed.subject, "Your Reelsmith video could not be made");
    assert!(failed
        .text_body
        .contains(&format!("https://video.example.org/creations/{failing}")));

    let good = env
        .submit(json!({ "script": "A quiet harbour at dawn.", "resolution": "480p" }))
        .await;
    assert!(matches!(
        worker.next_outcome().await,
        JobOutcome::Succeeded { .. }
    ));
    worker.stop().await;
    let ready = latest().expect("an email about the finished job");
    assert_eq!(ready.subject, "Your Reelsmith video is ready");
    assert!(
        ready.text_body.contains("A quiet harbour at dawn."),
        "{}",
        ready.text_body
    );
    assert!(ready
        .text_body
        .contains(&format!("https://video.example.org/creations/{good}")));
    let sent = reelsmith_mail::read::list_messages(&outbox).unwrap();
    assert_eq!(sent.len(), 2, "one email per ended job, none for the first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_ret_2_under_until_job_ends_the_worker_deletes_the_uploads_when_the_job_ends() {
    let env = Env::new().await;
    let (only_first, only_first_key) = env.upload_photo_sized(&env.owner, "960x640").await;
    let (shared, shared_key) = env.upload_photo_sized(&env.owner, "640x960").await;
    let ben = env.second_user().await;
    let (bens, _) = env.upload_photo_for(&ben).await;
    // Both queued before the worker starts; with one slot the second waits while the first runs.
    let first = env
        .submit(json!({ "script": "A quiet harbour at dawn.",
            "media": [only_first, shared], "resolution": "480p" }))
        .await;
    let second = env
        .submit(json!({ "script": "The boats go out.", "media": [shared], "resolution": "480p" }))
        .await;
    let mut settings = env.settings();
    settings.retention.uploads = reelsmith_config::UploadRetention::UntilJobEnds;
    // The periodic sweep is not what deletes them: its first run is at start, while both jobs
    // are queued, and the next one an hour later.
    settings.sweep_interval = Duration::from_secs(3600);
    settings.concurrency = 1;
    let raw = MediaStore::local(&env.data.join("media")).unwrap();
    let mut worker = start(&env, settings, "w1");

    let outcome = worker.next_outcome().await;
    assert_eq!(
        outcome,
        JobOutcome::Succeeded {
            job_id: first,
            resumed: false
        }
    );
    assert!(
        env.db
            .upload_for_owner(&env.owner, &only_first)
            .await
            .unwrap()
            .is_none(),
        "the first job's own upload went the moment it ended"
    );
    assert!(
        raw.head(&only_first_key).await.unwrap().is_none(),
        "its object too"
    );

    // The shared one stayed for the queued job, which therefore renders, and then goes.
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert_eq!(
        outcome,
        JobOutcome::Succeeded {
            job_id: second,
            resumed: false
        }
    );
    assert!(env
        .db
        .upload_for_owner(&env.owner, &shared)
        .await
        .unwrap()
        .is_none());
    assert!(raw.head(&shared_key).await.unwrap().is_none());
    assert!(
        env.db
            .upload_for_owner(&ben, &bens)
            .await
            .unwrap()
            .is_some(),
        "another user's upload is untouched"
    );
}

/// Runs one job of a short script with no voice under `change`d speech settings and returns
/// the finished job's usage and its WebVTT captions.
async fn narrate_without_a_voice(env: &Env, change: impl FnOnce(&mut Config)) -> (Value, String) {
    narrate(
        env,
        json!({ "script": VOICE_SCRIPT, "resolution": "480p" }),
        change,
    )
    .await
}

/// Runs the job `spec` under `change`d settings and returns its usage and WebVTT captions.
async fn narrate(env: &Env, spec: Value, change: impl FnOnce(&mut Config)) -> (Value, String) {
    let job_id = env.submit(spec).await;
    let mut worker = start(env, env.settings_with(change), "w-voice");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert_eq!(
        outcome,
        JobOutcome::Succeeded {
            job_id: job_id.clone(),
            resumed: false
        },
        "the job succeeds whatever voice speaks it"
    );
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    let vtt = env
        .media
        .for_owner(&env.owner)
        .await
        .unwrap()
        .get_bytes(&format!("jobs/{job_id}/r1/captions.vtt"))
        .await
        .unwrap();
    (
        job.usage.expect("usage recorded"),
        String::from_utf8(vtt.to_vec()).unwrap(),
    )
}

const VOICE_SCRIPT: &str = "The boats leave the harbour at dawn.";

/// `(start, end, text)` of each WebVTT cue.
fn vtt_cues(vtt: &str) -> Vec<(f64, f64, String)> {
    let seconds = |t: &str| {
        let parts: Vec<f64> = t.trim().split(':').map(|p| p.parse().unwrap()).collect();
        parts.iter().fold(0.0, |acc, p| acc * 60.0 + p)
    };
    let mut cues = Vec::new();
    let mut lines = vtt.lines();
    while let Some(line) = lines.next() {
        if let Some((a, b)) = line.split_once(" --> ") {
            let b = b.split_whitespace().next().unwrap();
            let mut text = Vec::new();
            for t in lines.by_ref() {
                if t.trim().is_empty() {
                    break;
                }
                text.push(t.trim().to_owned());
            }
            cues.push((seconds(a), seconds(b), text.join(" ")));
        }
    }
    cues
}

/// Captions that follow the narration: every word of the script once, in order (karaoke
/// cues may repeat a line with one word highlighted, so tags are stripped and repeats merged),
/// the cues in time order, within the video.
fn assert_captions_follow(vtt: &str, duration: f64) {
    let cues = vtt_cues(vtt);
    assert!(!cues.is_empty(), "{vtt}");
    let strip = |s: &str| {
        let mut out = String::new();
        let mut tag = false;
        for c in s.chars() {
            match c {
                '<' => tag = true,
                '>' => tag = false,
                c if !tag => out.push(c),
                _ => {}
            }
        }
        out
    };
    let mut text: Vec<String> = Vec::new();
    for (_, _, t) in &cues {
        let t = strip(t);
        if text.last() != Some(&t) {
            text.push(t);
        }
    }
    let words: Vec<&str> = text.iter().flat_map(|t| t.split_whitespace()).collect();
    let script: Vec<&str> = VOICE_SCRIPT.split_whitespace().collect();
    assert_eq!(words, script, "{vtt}");
    for pair in cues.windows(2) {
        assert!(pair[0].0 <= pair[1].0 + 1e-6, "cues in order: {vtt}");
    }
    for (a, b, _) in &cues {
        assert!(
            a < b && *b <= duration + 0.05,
            "cue {a}..{b} in {duration} s"
        );
    }
}

/// Issue 17: with the Piper runtime and voice installed (scripts/setup), a job that names no
/// voice is narrated by Piper under the default `[speech] default_voice = "auto"`; the job
/// records the voice, no fallback is reported, and its captions are the forced aligner's word
/// times of Piper's audio, every sentence placed (none timed evenly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_voice_6_a_job_without_a_voice_is_narrated_by_the_installed_piper_voice() {
    let home = reelsmith_media::speech::voices::SETUP_PIPER_HOME;
    let home = std::env::var("REELSMITH_PIPER_HOME").unwrap_or_else(|_| home.to_owned());
    assert!(
        Path::new(&home)
            .join("voices/en_US-joe-medium.onnx")
            .is_file(),
        "the Piper voice is not installed: run scripts/setup"
    );
    let env = Env::new().await;
    let (usage, vtt) = narrate_without_a_voice(&env, |c| {
        c.speech = reelsmith_config::SpeechSettings::default();
    })
    .await;
    assert_eq!(usage["voice"], "piper:en_US-joe-medium", "{usage}");
    assert_eq!(usage["speech_notes"], json!([]), "{usage}");
    assert_captions_follow(&vtt, usage["output_seconds"].as_f64().unwrap());
}

/// Issue 17's fallback: the default voice's model corrupt (one byte changed, so its MD5 is
/// not the official one) or missing, the same job still succeeds, narrated by espeak-ng, and
/// the job's notes say why. Nothing fails, nothing is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_voice_6_a_corrupt_or_missing_default_voice_falls_back_to_espeak_and_says_so() {
    let env = Env::new().await;
    let voices = env.data.join("voices");
    std::fs::create_dir_all(&voices).unwrap();
    // A stand-in of the official model: its name is in the known-checksum table, so any
    // content but the official one is corrupt. Its config is a real Piper config's shape.
    std::fs::write(
        voices.join("en_US-joe-medium.onnx"),
        b"not the official model",
    )
    .unwrap();
    std::fs::write(
        voices.join("en_US-joe-medium.onnx.json"),
        r#"{"dataset": "joe", "espeak": {"voice": "en-us"}, "audio": {"sample_rate": 22050},
            "language": {"name_english": "English", "country_english": "United States"}}"#,
    )
    .unwrap();
    let dir = voices.clone();
    let (usage, vtt) = narrate_without_a_voice(&env, move |c| {
        c.speech.default_voice = "auto".into();
        c.speech.piper_voices = Some(dir);
    })
    .await;
    assert_eq!(usage["voice"], "espeak:en-us", "{usage}");
    let notes = usage["speech_notes"].to_string();
    assert!(
        notes.contains("corrupt") && notes.contains("espeak-ng"),
        "{notes}"
    );
    assert_captions_follow(&vtt, usage["output_seconds"].as_f64().unwrap());

    // A named default voice that is not installed: espeak-ng again, and the note names it.
    let empty = env.data.join("no-voices");
    std::fs::create_dir_all(&empty).unwrap();
    let (usage, _) = narrate_without_a_voice(&env, move |c| {
        c.speech.default_voice = "piper:en_US-joe-medium".into();
        c.speech.piper_voices = Some(empty);
    })
    .await;
    assert_eq!(usage["voice"], "espeak:en-us", "{usage}");
    let notes = usage["speech_notes"].to_string();
    assert!(notes.contains("not installed"), "{notes}");
}

/// Issue 17: a Piper voice the operator added (the installed en_US-joe-medium model copied
/// under another name, with its checksum file, into the folder `[speech] piper_voices` names)
/// narrates a job that names it by id, with no fallback, its captions the aligner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_voice_7_a_job_naming_an_operators_voice_is_narrated_by_it() {
    let installed = reelsmith_media::speech::voices::SpeechConfig::installed()
        .piper_voices
        .expect("the Piper voice is installed: run scripts/setup");
    let env = Env::new().await;
    let voices = env.data.join("operator-voices");
    std::fs::create_dir_all(&voices).unwrap();
    let model = installed.join("en_US-joe-medium.onnx");
    let md5 = std::process::Command::new("md5sum")
        .arg(&model)
        .output()
        .unwrap();
    assert!(md5.status.success());
    let md5 = String::from_utf8(md5.stdout).unwrap();
    std::fs::copy(&model, voices.join("en_US-operator-medium.onnx")).unwrap();
    std::fs::copy(
        installed.join("en_US-joe-medium.onnx.json"),
        voices.join("en_US-operator-medium.onnx.json"),
    )
    .unwrap();
    std::fs::write(
        voices.join("en_US-operator-medium.onnx.md5"),
        md5.split_whitespace().next().unwrap(),
    )
    .unwrap();
    let spec = json!({ "script": VOICE_SCRIPT, "resolution": "480p",
                       "tts": { "voice": "piper:en_US-operator-medium" } });
    let (usage, vtt) = narrate(&env, spec, move |c| {
        c.speech.piper_voices = Some(voices);
    })
    .await;
    assert_eq!(usage["voice"], "piper:en_US-operator-medium", "{usage}");
    assert_eq!(usage["speech_notes"], json!([]), "{usage}");
    assert_captions_follow(&vtt, usage["output_seconds"].as_f64().unwrap());
}

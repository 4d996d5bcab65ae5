//! Jobs that name a third-party provider, run by a real worker against each provider's fake
//! (tests/fakes/providers), a real SQLite database, sealed local media, espeak-ng and ffmpeg
//! (issue #6). For every adapter:
//! - the job ends in a composed, narrated, captioned MP4 built from the fake's clip, the transfer
//!   log shows exactly what was sent, and the quoted credits are charged;
//! - a generation the provider fails is retried with a new request, then fails the job with the
//!   provider's reason, and the reserved credits come back;
//! - cancelling the job cancels the provider's request;
//! - a worker killed while waiting is replaced by one that resumes the same request (the fake
//!   counts one submission).
//!
//! Plus the consent gate (P-TP-2): without consent the worker sends nothing at all. KieAI runs
//! twice: once on Veo 3.1 (its own API) and once on Kling (its market API).

#[path = "../../providers/tests/common/mod.rs"]
#[allow(unused_macros, unused_imports)]
mod fakes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use fakes::Fake;
use reelsmith_config::Config;
use reelsmith_providers::http::Endpoint;
use reelsmith_providers::{atlas, comfyui, fal, kie, replicate, veo, ShotProvider};
use reelsmith_store::{
    now_ms, CreditKind, Db, JobStatus, Keyring, MediaStore, NewJob, NewUser, OperatorKey, Role,
    SealedMedia,
};
use reelsmith_worker::{plan_job, JobOutcome, ProviderSet, Worker, WorkerSettings};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const EMAIL: &str = "ana-provider-test@example.org";
/// One scene: one shot of the model's shortest length.
const SCRIPT: &str = "A red fox runs through the fresh snow at dawn.";
const GRANT: i64 = 1000;
const PATIENCE: Duration = Duration::from_secs(180);

/// One adapter under test.
struct Case {
    provider: &'static str,
    fake: &'static str,
    path: &'static str,
    model: &'static str,
    make: fn(Endpoint) -> Arc<dyn ShotProvider>,
    /// Atlas documents no cancel.
    cancels: bool,
}

const FAL: Case = Case {
    provider: "fal",
    fake: "fal_fake.py",
    path: "",
    model: "fal-ai/kling-video/v2.1/master/text-to-video",
    make: |ep| Arc::new(fal::Fal::new(ep).unwrap()),
    cancels: true,
};

const REPLICATE: Case = Case {
    provider: "replicate",
    fake: "replicate_fake.py",
    path: "",
    model: "google/veo-3.1",
    make: |ep| Arc::new(replicate::Replicate::new(ep).unwrap()),
    cancels: true,
};

const VEO: Case = Case {
    provider: "veo",
    fake: "veo_fake.py",
    path: "/v1beta",
    model: "veo-3.1-fast-generate-preview",
    make: |ep| Arc::new(veo::Veo::new(ep).unwrap()),
    cancels: true,
};

const ATLAS: Case = Case {
    provider: "atlas",
    fake: "atlas_fake.py",
    path: "",
    model: "google/veo3.1/text-to-video",
    make: |ep| Arc::new(atlas::Atlas::new(ep).unwrap()),
    cancels: false,
};

const KIE_VEO: Case = Case {
    provider: "kie",
    fake: "kie_fake.py",
    path: "",
    model: "veo3_fast",
    make: |ep| Arc::new(kie::Kie::new(ep).unwrap()),
    cancels: false,
};

const KIE_KLING: Case = Case {
    model: "kling-2.6/text-to-video",
    ..KIE_VEO
};

const COMFYUI: Case = Case {
    provider: "comfyui",
    fake: "comfyui_fake.py",
    path: "",
    model: "workflow",
    make: |ep| {
        let workflow = json!({
            "3": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "steps": 20}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}"}},
            "8": {"class_type": "EmptyHunyuanLatentVideo",
                  "inputs": {"width": "{{width}}", "height": "{{height}}", "length": "{{frames}}"}},
            "9": {"class_type": "SaveAnimatedWEBP", "inputs": {"filename_prefix": "reelsmith"}},
        });
        Arc::new(comfyui::ComfyUi::new(ep, workflow).unwrap())
    },
    cancels: true,
};

struct Env {
    _temp: tempfile::TempDir,
    data: PathBuf,
    db: Db,
    media: SealedMedia,
    owner: String,
}

impl Env {
    /// A user with credits and consent for `provider`.
    async fn new(provider: &str) -> Env {
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
                    email: EMAIL.into(),
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
        db.add_credits(&user.id, CreditKind::Grant, GRANT, "test grant", now_ms())
            .await
            .unwrap();
        db.grant_consent(&user.id, provider, "test-policy", now_ms())
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
        let mut config = Config::defaults_for(&self.data);
        // espeak-ng narrates: these tests are not about the voice (Piper's are pipeline.rs's).
        config.speech.default_voice = "espeak".into();
        let mut settings = WorkerSettings::from_config(&config);
        settings.heartbeat = Duration::from_millis(200);
        settings.lease = Duration::from_secs(2);
        settings.poll_interval = Duration::from_millis(100);
        settings.max_attempts = 2;
        settings.engine.encode.preset = "ultrafast".into();
        settings
    }

    /// Submits a job for `case` the way the API does: the plan's credits reserved with it.
    async fn submit(&self, case: &Case) -> (String, i64) {
        self.submit_script(case, SCRIPT).await
    }

    async fn submit_script(&self, case: &Case, script: &str) -> (String, i64) {
        let params = json!({
            "script": script,
            "provider": case.provider,
            "model": case.model,
            "resolution": "720p",
        });
        let spec = serde_json::from_value(params.clone()).unwrap();
        let cost = i64::try_from(plan_job(&spec).unwrap().credits).unwrap();
        let job = self
            .db
            .submit_job(
                &NewJob {
                    owner_id: self.owner.clone(),
                    params,
                    idempotency_key: None,
                    cost,
                },
                now_ms(),
            )
            .await
            .unwrap()
            .job;
        (job.id, cost)
    }

    /// A second real account with credits and consent for `provider`.
    async fn another_user(&self, name: &str, provider: &str) -> String {
        let user = self
            .db
            .create_user(
                &NewUser {
                    email: format!("{name}@example.net"),
                    username: name.into(),
                    password_hash: None,
                    display_name: name.into(),
                    role: Role::User,
                    birth_year: None,
                    age_confirmed_min: Some(18),
                },
                now_ms(),
            )
            .await
            .unwrap();
        self.db
            .add_credits(&user.id, CreditKind::Grant, GRANT, "test grant", now_ms())
            .await
            .unwrap();
        self.db
            .grant_consent(&user.id, provider, "test-policy", now_ms())
            .await
            .unwrap();
        user.id
    }

    /// Submits `params` for `owner` with the plan's credits reserved, as the API does.
    async fn submit_for(&self, owner: &str, params: Value) -> String {
        let spec = serde_json::from_value(params.clone()).unwrap();
        let cost = i64::try_from(plan_job(&spec).unwrap().credits).unwrap();
        self.db
            .submit_job(
                &NewJob {
                    owner_id: owner.to_owned(),
                    params,
                    idempotency_key: None,
                    cost,
                },
                now_ms(),
            )
            .await
            .unwrap()
            .job
            .id
    }

    /// A picture of `size` stored as `owner`'s image upload: its id and the stored bytes.
    async fn upload_image(&self, owner: &str, size: &str) -> (String, Vec<u8>) {
        let path = self.data.join(format!("{owner}.jpg"));
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={size}"))
            .args(["-frames:v", "1"])
            .arg(&path)
            .status()
            .expect("ffmpeg is installed");
        assert!(status.success());
        let bytes = std::fs::read(&path).unwrap();
        let key = reelsmith_store::content_key(&format!("uploads/{owner}"), &bytes);
        self.media
            .for_owner(owner)
            .await
            .unwrap()
            .put_bytes(&key, bytes.clone().into())
            .await
            .unwrap();
        let (w, h) = size.split_once('x').unwrap();
        let id = self
            .db
            .create_upload(
                &reelsmith_store::NewUpload {
                    owner_id: owner.to_owned(),
                    kind: reelsmith_store::UploadKind::Image,
                    object_key: key,
                    size: bytes.len() as i64,
                    mime: "image/jpeg".into(),
                    width: Some(w.parse().unwrap()),
                    height: Some(h.parse().unwrap()),
                    duration_ms: None,
                },
                now_ms(),
            )
            .await
            .unwrap()
            .id;
        (id, bytes)
    }

    async fn balance(&self) -> i64 {
        self.db.credit_balance(&self.owner).await.unwrap()
    }

    /// The job's one hold's state; a free job (ComfyUI on the operator's own GPU) has none.
    async fn hold_state(&self, job_id: &str, cost: i64) -> Option<String> {
        let holds = self.db.credit_holds(job_id).await.unwrap();
        assert_eq!(holds.len(), usize::from(cost > 0), "{holds:?}");
        holds.into_iter().next().map(|h| h.state)
    }

    async fn object(&self, key: &str) -> Vec<u8> {
        let owner = self.media.for_owner(&self.owner).await.unwrap();
        owner.get_bytes(key).await.unwrap().to_vec()
    }
}

fn providers(case: &Case, fake: &Fake) -> ProviderSet {
    ProviderSet::none().with_shot_provider(case.provider, (case.make)(fake.endpoint(case.path)))
}

struct Running {
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
    outcomes: mpsc::UnboundedReceiver<JobOutcome>,
}

impl Running {
    async fn next_outcome(&mut self) -> JobOutcome {
        tokio::time::timeout(PATIENCE, self.outcomes.recv())
            .await
            .expect("the worker reports an outcome in time")
            .expect("the worker reports")
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.unwrap();
    }

    /// Ends the worker the way a crash does: its tasks are dropped mid-wait, nothing is released
    /// and the lease simply stops being renewed.
    fn kill(self) {
        self.handle.abort();
    }
}

fn start(env: &Env, providers: ProviderSet, id: &str) -> Running {
    let (tx, rx) = mpsc::unbounded_channel();
    let worker = Worker::with_settings(env.db.clone(), env.media.clone(), env.settings(), id)
        .with_providers(providers)
        .with_outcomes(tx);
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let handle = tokio::spawn(async move { worker.run(token).await.unwrap() });
    Running {
        shutdown,
        handle,
        outcomes: rx,
    }
}

async fn stat(fake: &Fake, name: &str) -> i64 {
    fake.stats().await[name].as_i64().unwrap_or(0)
}

async fn wait_for_submissions(fake: &Fake, n: i64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while stat(fake, "submissions").await < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fake never got {n} submissions"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn probe(path: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn composes_the_fakes_clip(case: &Case) {
    let fake = Fake::start(case.fake);
    let env = Env::new(case.provider).await;
    let (job_id, cost) = env.submit(case).await;
    assert_eq!(env.balance().await, GRANT - cost, "the quote is reserved");
    let mut worker = start(&env, providers(case, &fake), "w1");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(outcome, JobOutcome::Succeeded { .. }),
        "{}: {outcome:?}",
        case.provider
    );

    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    let usage = job.usage.clone().unwrap();
    assert_eq!(usage["provider"], json!(case.provider));
    assert_eq!(usage["model"], json!(case.model));
    assert_eq!(usage["credits"], json!(cost));

    // A narrated (audio), captioned MP4 from the fake's clip.
    let keys: Vec<String> = serde_json::from_value(
        env.db
            .stage_outputs(&job_id, 1)
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.stage == "store")
            .unwrap()
            .output["object_keys"]
            .clone(),
    )
    .unwrap();
    let video = env.data.join("out.mp4");
    std::fs::write(&video, env.object(&keys[0]).await).unwrap();
    let codecs = probe(&video, "stream=codec_name");
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );
    let vtt = String::from_utf8(env.object(&keys[2]).await).unwrap();
    assert!(
        vtt.starts_with("WEBVTT") && vtt.contains("fox"),
        "captions: {vtt}"
    );
    assert!(stat(&fake, "downloads").await >= 1, "the clip was fetched");
    assert_eq!(stat(&fake, "submissions").await, 1);

    // P-TP-3 / P-TP-4: the transfer log shows the one request, and only the prompt went out.
    let transfers = env.db.transfers_for_job(&env.owner, &job_id).await.unwrap();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    let t = &transfers[0];
    assert_eq!(
        (t.provider.as_str(), t.model.as_str(), t.status.as_str()),
        (case.provider, case.model, "accepted")
    );
    assert!(t.request_id.as_deref().is_some_and(|id| !id.is_empty()));
    assert_eq!(t.sent["prompt_chars"], json!(SCRIPT.chars().count()));
    assert_eq!(t.sent["image"], Value::Null);
    let sent = fake.last().await.to_string();
    assert!(sent.contains("fresh snow"), "the prompt went out: {sent}");
    assert!(
        !sent.contains(EMAIL) && !sent.contains(&env.owner),
        "{sent}"
    );

    // P-BILL-4: charged once the job succeeded.
    if cost > 0 {
        assert_eq!(env.hold_state(&job_id, cost).await.unwrap(), "charged");
    }
    assert_eq!(env.balance().await, GRANT - cost);
}

async fn a_failed_generation_is_retried_then_fails_and_refunds(case: &Case) {
    let fake = Fake::start(case.fake);
    fake.set(json!({ "job_fail": true })).await;
    let env = Env::new(case.provider).await;
    let (job_id, cost) = env.submit(case).await;
    let mut worker = start(&env, providers(case, &fake), "w1");
    let first = worker.next_outcome().await;
    assert!(
        matches!(&first, JobOutcome::Retrying { code, .. } if code == "provider.failed"),
        "{}: {first:?}",
        case.provider
    );
    let second = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(&second, JobOutcome::Failed { code, .. } if code == "provider.failed"),
        "{}: {second:?}",
        case.provider
    );
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert!(
        error.message.contains(case.provider) && error.message.contains("generation failed"),
        "a clear reason: {}",
        error.message
    );
    assert_eq!(
        stat(&fake, "submissions").await,
        2,
        "the retry sent a new request instead of waiting on the failed one"
    );
    if cost > 0 {
        assert_eq!(env.hold_state(&job_id, cost).await.unwrap(), "released");
    }
    assert_eq!(env.balance().await, GRANT, "the reserved {cost} came back");
    let ledger = env.db.credit_ledger(&env.owner, 10, None).await.unwrap();
    if cost > 0 {
        assert_eq!(ledger[0].kind, CreditKind::Refund);
        assert_eq!(ledger[0].amount, cost);
    }
    let transfers = env.db.transfers_for_job(&env.owner, &job_id).await.unwrap();
    assert_eq!(transfers.len(), 2);
}

async fn cancelling_the_job_cancels_the_providers_request(case: &Case) {
    let fake = Fake::start(case.fake);
    fake.set(json!({ "polls": 1_000_000 })).await;
    let env = Env::new(case.provider).await;
    let (job_id, cost) = env.submit(case).await;
    let mut worker = start(&env, providers(case, &fake), "w1");
    wait_for_submissions(&fake, 1).await;
    env.db
        .cancel_job(&env.owner, &job_id, now_ms())
        .await
        .unwrap();
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(outcome, JobOutcome::LeaseLost { .. }),
        "{outcome:?}"
    );
    let expected = i64::from(case.cancels);
    assert_eq!(
        stat(&fake, "cancels").await,
        expected,
        "{}: cancel reaches the provider where it has one",
        case.provider
    );
    if cost > 0 {
        assert_eq!(env.hold_state(&job_id, cost).await.unwrap(), "released");
    }
    assert_eq!(env.balance().await, GRANT);
}

async fn a_killed_worker_is_replaced_and_resumes_the_same_request(case: &Case) {
    let fake = Fake::start(case.fake);
    fake.set(json!({ "polls": 1_000_000 })).await;
    let env = Env::new(case.provider).await;
    let (job_id, cost) = env.submit(case).await;
    let first = start(&env, providers(case, &fake), "w1");
    wait_for_submissions(&fake, 1).await;
    // Give the recorded request a moment to be written, as it is right after the submit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();
    // The result becomes ready while no worker is watching.
    let r = reqwest::Client::new()
        .post(format!("{}/__fake/finish", fake.base()))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let mut second = start(&env, providers(case, &fake), "w2");
    let outcome = second.next_outcome().await;
    second.stop().await;
    assert!(
        matches!(outcome, JobOutcome::Succeeded { .. }),
        "{}: {outcome:?}",
        case.provider
    );
    assert_eq!(
        stat(&fake, "submissions").await,
        1,
        "{}: the replacement waited on the recorded request instead of paying twice",
        case.provider
    );
    let transfers = env.db.transfers_for_job(&env.owner, &job_id).await.unwrap();
    assert_eq!(transfers.len(), 1);
    assert_eq!(env.balance().await, GRANT - cost);
}

/// P-IN-2: two users' jobs run through the same worker and the same fake; every submission the
/// provider received carries exactly one job's prompt, and nothing of the other user (their
/// prompt, email or id); every one is in its own owner's transfer log, and nothing else was
/// submitted.
async fn each_request_carries_only_its_own_jobs_inputs(case: &Case) {
    let fake = Fake::start(case.fake);
    let env = Env::new(case.provider).await;
    let bo = env.another_user("bo", case.provider).await;
    let jobs = [
        (
            env.owner.clone(),
            EMAIL.to_owned(),
            "A red fox runs through the fresh snow at dawn.",
        ),
        (
            bo.clone(),
            "bo@example.net".to_owned(),
            "A blue whale sings beneath the arctic ice.",
        ),
    ];
    let mut ids = Vec::new();
    for (owner, _, script) in &jobs {
        let params = json!({ "script": script, "provider": case.provider, "model": case.model,
            "resolution": "720p" });
        ids.push(env.submit_for(owner, params).await);
    }
    let mut worker = start(&env, providers(case, &fake), "w1");
    for _ in 0..2 {
        let outcome = worker.next_outcome().await;
        assert!(
            matches!(outcome, JobOutcome::Succeeded { .. }),
            "{}: {outcome:?}",
            case.provider
        );
    }
    worker.stop().await;

    let bodies = fake.bodies().await;
    assert_eq!(bodies.len(), 2, "one submission per job: {bodies:?}");
    assert_eq!(stat(&fake, "submissions").await, 2);
    let marks = ["fox", "whale"];
    for body in &bodies {
        let text = body.to_string();
        let own: Vec<usize> = (0..2).filter(|&i| text.contains(marks[i])).collect();
        assert_eq!(
            own.len(),
            1,
            "{}: exactly one job's prompt in {text}",
            case.provider
        );
        let other = 1 - own[0];
        for (owner, email, _) in &jobs {
            assert!(
                !text.contains(email.as_str()) && !text.contains(owner.as_str()),
                "{text}"
            );
        }
        assert!(!text.contains(marks[other]), "{text}");
    }
    for (i, (owner, _, script)) in jobs.iter().enumerate() {
        let log = env.db.transfers_for_job(owner, &ids[i]).await.unwrap();
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].sent["prompt_chars"], json!(script.chars().count()));
        let (other, _, _) = &jobs[1 - i];
        assert!(env
            .db
            .transfers_for_job(other, &ids[i])
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_in_2_an_image_goes_only_with_its_own_users_image_to_video_job() {
    const I2V: &str = "fal-ai/kling-video/v2.1/standard/image-to-video";
    let fake = Fake::start(FAL.fake);
    let env = Env::new(FAL.provider).await;
    let bo = env.another_user("bo", FAL.provider).await;
    let (ana_image, ana_bytes) = env.upload_image(&env.owner, "640x360").await;
    let (bo_image, bo_bytes) = env.upload_image(&bo, "360x640").await;
    // Ana also owns an image her job does not use: it must not go either.
    let (_unused, unused_bytes) = env.upload_image(&env.owner, "320x240").await;
    for (owner, image, script) in [
        (
            &env.owner,
            &ana_image,
            "A red fox runs through the fresh snow at dawn.",
        ),
        (&bo, &bo_image, "A blue whale sings beneath the arctic ice."),
    ] {
        let params = json!({ "script": script, "media": [image], "provider": "fal",
            "model": I2V, "resolution": "480p" });
        env.submit_for(owner, params).await;
    }
    let mut worker = start(&env, providers(&FAL, &fake), "w1");
    for _ in 0..2 {
        let outcome = worker.next_outcome().await;
        assert!(
            matches!(outcome, JobOutcome::Succeeded { .. }),
            "{outcome:?}"
        );
    }
    worker.stop().await;
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (ana_b64, bo_b64, unused_b64) = (b64(&ana_bytes), b64(&bo_bytes), b64(&unused_bytes));
    let bodies = fake.bodies().await;
    assert_eq!(bodies.len(), 2);
    for body in &bodies {
        let text = body.to_string();
        let fox = text.contains("fox");
        assert_ne!(
            fox,
            text.contains("whale"),
            "one job's prompt: {}",
            &text[..200.min(text.len())]
        );
        let (own, other) = if fox {
            (&ana_b64, &bo_b64)
        } else {
            (&bo_b64, &ana_b64)
        };
        assert!(text.contains(own.as_str()), "its own image went with it");
        assert!(
            !text.contains(other.as_str()),
            "the other user's image did not"
        );
        assert!(
            !text.contains(unused_b64.as_str()),
            "an unused upload did not"
        );
        assert!(!text.contains(EMAIL) && !text.contains("bo@example.net"));
    }
}

macro_rules! provider_job_suite {
    ($module:ident, $case:expr) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn job_ends_in_a_composed_narrated_captioned_mp4_from_the_fakes_clip() {
                super::composes_the_fakes_clip(&$case).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn p_bill_4_a_failed_generation_is_retried_then_fails_and_refunds() {
                super::a_failed_generation_is_retried_then_fails_and_refunds(&$case).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cancelling_the_job_cancels_the_providers_request() {
                super::cancelling_the_job_cancels_the_providers_request(&$case).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_killed_worker_is_replaced_and_resumes_the_same_request() {
                super::a_killed_worker_is_replaced_and_resumes_the_same_request(&$case).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn p_in_2_each_request_carries_only_its_own_jobs_inputs() {
                super::each_request_carries_only_its_own_jobs_inputs(&$case).await;
            }
        }
    };
}

provider_job_suite!(fal_jobs, FAL);
provider_job_suite!(replicate_jobs, REPLICATE);
provider_job_suite!(veo_jobs, VEO);
provider_job_suite!(atlas_jobs, ATLAS);
provider_job_suite!(kie_veo_jobs, KIE_VEO);
provider_job_suite!(kie_kling_jobs, KIE_KLING);
provider_job_suite!(comfyui_jobs, COMFYUI);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_tp_2_without_consent_nothing_is_sent_and_nothing_is_charged() {
    let fake = Fake::start(FAL.fake);
    let env = Env::new(FAL.provider).await;
    assert!(env
        .db
        .withdraw_consent(&env.owner, FAL.provider, now_ms())
        .await
        .unwrap());
    let (job_id, cost) = env.submit(&FAL).await;
    assert!(cost > 0);
    let mut worker = start(&env, providers(&FAL, &fake), "w1");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(&outcome, JobOutcome::Failed { code, .. } if code == "consent.required"),
        "{outcome:?}"
    );
    assert_eq!(
        stat(&fake, "requests").await,
        0,
        "the fake received nothing"
    );
    assert!(env
        .db
        .transfers_for_job(&env.owner, &job_id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(env.balance().await, GRANT, "nothing charged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_for_a_provider_this_server_lacks_fails_clearly_and_refunds() {
    let env = Env::new(FAL.provider).await;
    let (job_id, cost) = env.submit(&FAL).await;
    let mut worker = start(&env, ProviderSet::none(), "w1");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(&outcome, JobOutcome::Failed { code, .. } if code == "provider.not_configured"),
        "{outcome:?}"
    );
    assert_eq!(
        env.hold_state(&job_id, cost).await.as_deref(),
        Some("released")
    );
    assert_eq!(env.balance().await, GRANT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_tp_2_the_script_writer_is_asked_only_with_consent_and_its_prompts_are_sent() {
    let fake = Fake::start(FAL.fake);
    let chat = Fake::start("openai_fake.py");
    let env = Env::new(FAL.provider).await;
    let set = || providers(&FAL, &fake).with_script_writer(Arc::new(chat_writer(&chat)));
    let two_scenes = "A red fox runs through the fresh snow at dawn.\n\n\
        The fox stops by a frozen river to drink the cold water.";

    // Without consent for the writer, the narration is the prompt and the writer hears nothing.
    let (first, _) = env.submit_script(&FAL, two_scenes).await;
    let mut worker = start(&env, set(), "w1");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(outcome, JobOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    assert_eq!(stat(&chat, "requests").await, 0);
    assert!(fake.last().await.to_string().contains("frozen river"));
    let purposes = |t: &[reelsmith_store::Transfer]| -> Vec<String> {
        t.iter()
            .map(|t| format!("{}:{}", t.provider, t.purpose))
            .collect()
    };
    let log = env.db.transfers_for_job(&env.owner, &first).await.unwrap();
    assert_eq!(purposes(&log), vec!["fal:shot", "fal:shot"]);

    // With it, the writer is asked once and its prompts are what the shots carry.
    env.db
        .grant_consent(&env.owner, "openai", "test-policy", now_ms())
        .await
        .unwrap();
    let (second, _) = env.submit_script(&FAL, two_scenes).await;
    let mut worker = start(&env, set(), "w2");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(outcome, JobOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    assert_eq!(stat(&chat, "submissions").await, 1);
    let sent = fake.last().await.to_string();
    assert!(sent.contains("close-up detail of"), "{sent}");
    let log = env.db.transfers_for_job(&env.owner, &second).await.unwrap();
    assert_eq!(
        purposes(&log),
        vec!["openai:script", "fal:shot", "fal:shot"]
    );
}

fn chat_writer(chat: &Fake) -> reelsmith_providers::openai::OpenAiChat {
    reelsmith_providers::openai::OpenAiChat::new(chat.endpoint("/v1"), "gpt-test").unwrap()
}

/// Stores a spoken recording of `text` (espeak-ng) as the owner's audio upload.
async fn upload_recording(env: &Env, text: &str) -> String {
    let path = env.data.join("voice.wav");
    let status = Command::new("espeak-ng")
        .args(["-w"])
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng is installed (scripts/setup)");
    assert!(status.success());
    let bytes = std::fs::read(&path).unwrap();
    let key = reelsmith_store::content_key(&format!("uploads/{}", env.owner), &bytes);
    let size = bytes.len() as i64;
    env.media
        .for_owner(&env.owner)
        .await
        .unwrap()
        .put_bytes(&key, bytes.into())
        .await
        .unwrap();
    env.db
        .create_upload(
            &reelsmith_store::NewUpload {
                owner_id: env.owner.clone(),
                kind: reelsmith_store::UploadKind::Audio,
                object_key: key,
                size,
                mime: "audio/wav".into(),
                width: None,
                height: None,
                duration_ms: None,
            },
            now_ms(),
        )
        .await
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_in_5_a_voice_recording_is_timed_by_whisper_only_with_consent() {
    let whisper = Fake::start("openai_fake.py");
    let env = Env::new("fal").await;
    // The fake hears "hello from the fake whisper", 0.4 s apart, the last word ending at 1.95 s.
    let script = "Hello from the fake whisper.";
    let voice = upload_recording(&env, script).await;
    let set = || {
        ProviderSet::none().with_transcriber(Arc::new(
            reelsmith_providers::openai::OpenAiTranscriber::new(whisper.endpoint("/v1")).unwrap(),
        ))
    };
    let run = |n: &'static str| {
        let env = &env;
        let set = set();
        let voice = voice.clone();
        async move {
            let params = json!({ "script": script, "voice": voice, "resolution": "480p" });
            let job = env
                .db
                .submit_job(
                    &NewJob {
                        owner_id: env.owner.clone(),
                        params,
                        idempotency_key: None,
                        cost: 0,
                    },
                    now_ms(),
                )
                .await
                .unwrap()
                .job;
            let mut worker = start(env, set, n);
            let outcome = worker.next_outcome().await;
            worker.stop().await;
            assert!(
                matches!(outcome, JobOutcome::Succeeded { .. }),
                "{outcome:?}"
            );
            let vtt_key = format!("jobs/{}/r1/captions.vtt", job.id);
            let keys: Vec<String> = env
                .media
                .list(&format!("jobs/{}", job.id))
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.key)
                .collect();
            let key = keys
                .iter()
                .find(|k| k.ends_with("captions.vtt"))
                .unwrap_or(&vtt_key)
                .clone();
            let vtt = String::from_utf8(env.object(&key).await).unwrap();
            let log = env.db.transfers_for_job(&env.owner, &job.id).await.unwrap();
            (vtt, log)
        }
    };

    // Without consent the recording is aligned here and Whisper hears nothing.
    let (_, log) = run("w1").await;
    assert!(log.is_empty());
    assert_eq!(stat(&whisper, "requests").await, 0);

    // With it, the recording goes to Whisper once and the captions follow its word times.
    env.db
        .grant_consent(&env.owner, "openai", "test-policy", now_ms())
        .await
        .unwrap();
    let (vtt, log) = run("w2").await;
    assert_eq!(stat(&whisper, "submissions").await, 1);
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].provider.as_str(), log[0].purpose.as_str()),
        ("openai", "transcription")
    );
    assert_eq!(log[0].sent["mime"], json!("audio/wav"));
    assert!(
        vtt.contains("00:00:00.000 --> ") && vtt.contains("--> 00:00:01.950"),
        "{vtt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_rights_4_a_pause_mid_job_stops_every_later_transfer_until_resumed() {
    let fake = Fake::start(FAL.fake);
    // The first shot waits at the provider until the test lets it finish.
    fake.set(json!({ "polls": 1_000_000 })).await;
    let env = Env::new(FAL.provider).await;
    let two_scenes = "A red fox runs through the fresh snow at dawn.\n\n\
        The fox stops by a frozen river to drink the cold water.";
    let (job_id, cost) = env.submit_script(&FAL, two_scenes).await;
    let mut worker = start(&env, providers(&FAL, &fake), "w1");
    wait_for_submissions(&fake, 1).await;

    // Paused while the first shot is at the provider: that request is already out, nothing more
    // may leave.
    env.db
        .set_processing_paused(&env.owner, true, now_ms())
        .await
        .unwrap();
    reqwest::Client::new()
        .post(format!("{}/__fake/finish", fake.base()))
        .send()
        .await
        .unwrap();
    let outcome = worker.next_outcome().await;
    assert!(
        matches!(&outcome, JobOutcome::Released { job_id: id } if id == &job_id),
        "the job goes back to the queue: {outcome:?}"
    );
    // Give a wrongly claiming worker time to send.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        stat(&fake, "submissions").await,
        1,
        "no later shot was sent while paused"
    );
    let log = env.db.transfers_for_job(&env.owner, &job_id).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(
        job.status,
        JobStatus::Queued,
        "it waits, neither failed nor charged"
    );
    assert_eq!(env.hold_state(&job_id, cost).await.as_deref(), Some("held"));

    // Resumed, the job continues where it stopped: the first shot is not paid for again.
    env.db
        .set_processing_paused(&env.owner, false, now_ms())
        .await
        .unwrap();
    fake.set(json!({ "polls": 1 })).await;
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(outcome, JobOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    assert_eq!(stat(&fake, "submissions").await, 2);
    assert_eq!(env.balance().await, GRANT - cost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_in_1_prompts_negative_prompt_style_and_settings_are_the_inputs_the_provider_gets() {
    let fake = Fake::start(FAL.fake);
    let env = Env::new(FAL.provider).await;
    let two_scenes = "A red fox runs through the fresh snow at dawn.\n\n\
        The fox stops by a frozen river to drink the cold water.";
    let params = json!({
        "script": two_scenes,
        "provider": "fal",
        "model": FAL.model,
        "prompts": ["wide shot of a fox in deep snow", "close-up of a fox at a frozen river"],
        "prompt": "watercolour, soft light",
        "negative_prompt": "blurry, text, watermark",
        "aspect": "9:16",
        "resolution": "480p",
    });
    let job_id = env.submit_for(&env.owner, params).await;
    let mut worker = start(&env, providers(&FAL, &fake), "w1");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(outcome, JobOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    let bodies = fake.bodies().await;
    assert_eq!(bodies.len(), 2, "one shot per scene");
    for (body, prompt) in bodies.iter().zip([
        "wide shot of a fox in deep snow",
        "close-up of a fox at a frozen river",
    ]) {
        let input = &body["body"];
        let sent_prompt = input["prompt"].as_str().unwrap();
        assert!(
            sent_prompt.contains(prompt) && sent_prompt.contains("watercolour, soft light"),
            "the scene's own prompt with the style: {sent_prompt}"
        );
        assert_eq!(input["negative_prompt"], "blurry, text, watermark");
        assert_eq!(input["aspect_ratio"], "9:16", "{input}");
    }
    // The narration itself is spoken by the engine, not sent: the prompts stood in for it.
    assert!(!bodies
        .iter()
        .any(|b| b.to_string().contains("drink the cold water")));
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.usage.unwrap()["shots"], json!(2));
}

/// A content refusal (fal's `content_policy_violation`, Replicate's `E005`) fails the job at
/// its first answer: one paid request, never a second, the credits back, and the transfer log
/// saying how that request ended.
async fn a_content_refusal_fails_at_once_and_refunds(case: &Case) {
    let fake = Fake::start(case.fake);
    fake.set(json!({ "job_refuse": true, "polls": 1 })).await;
    let env = Env::new(case.provider).await;
    let (job_id, cost) = env.submit(case).await;
    let mut worker = start(&env, providers(case, &fake), "w1");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(&outcome, JobOutcome::Failed { code, .. } if code == "provider.refused"),
        "{}: failed at once, not retried: {outcome:?}",
        case.provider
    );
    assert_eq!(stat(&fake, "submissions").await, 1, "never sent again");
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert_eq!(error.code, "provider.refused");
    assert!(
        error.message.contains("refused the prompt or image")
            && error.message.contains("flagged")
            && !error.message.contains('{'),
        "a sentence, not the provider's JSON: {}",
        error.message
    );
    assert_eq!(
        env.hold_state(&job_id, cost).await.as_deref(),
        Some("released")
    );
    assert_eq!(env.balance().await, GRANT, "the reserved {cost} came back");
    let ledger = env.db.credit_ledger(&env.owner, 10, None).await.unwrap();
    assert_eq!(
        (ledger[0].kind, ledger[0].amount),
        (CreditKind::Refund, cost)
    );
    let log = env.db.transfers_for_job(&env.owner, &job_id).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        log[0].status, "accepted",
        "the request was taken (and paid)"
    );
    assert_eq!(log[0].outcome.as_deref(), Some("provider.refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_4_a_fal_content_refusal_fails_at_once_refunds_and_is_logged() {
    a_content_refusal_fails_at_once_and_refunds(&FAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_4_a_replicate_content_refusal_fails_at_once_refunds_and_is_logged() {
    a_content_refusal_fails_at_once_and_refunds(&REPLICATE).await;
}

/// `providers.max_resubmissions` bounds the paid requests of a shot whose generation failed,
/// whatever the job's own attempts allow: 0 sends it once, 1 twice, and the job then fails
/// saying so. Every request's outcome is in the transfer log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_4_failed_generations_are_resubmitted_at_most_max_resubmissions_times() {
    for allowed in [0u32, 1] {
        let fake = Fake::start(FAL.fake);
        fake.set(json!({ "job_fail": true, "polls": 1 })).await;
        let env = Env::new(FAL.provider).await;
        let (job_id, _) = env.submit(&FAL).await;
        let (tx, mut outcomes) = mpsc::unbounded_channel();
        let mut settings = env.settings();
        settings.max_attempts = 5;
        let set = providers(&FAL, &fake).with_max_resubmissions(allowed);
        let worker = Worker::with_settings(env.db.clone(), env.media.clone(), settings, "w1")
            .with_providers(set)
            .with_outcomes(tx);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move { worker.run(token).await.unwrap() });
        let mut seen = Vec::new();
        loop {
            let outcome = tokio::time::timeout(PATIENCE, outcomes.recv())
                .await
                .unwrap()
                .unwrap();
            let done = matches!(outcome, JobOutcome::Failed { .. });
            seen.push(outcome);
            if done {
                break;
            }
        }
        shutdown.cancel();
        handle.await.unwrap();
        assert_eq!(seen.len(), allowed as usize + 1, "{allowed}: {seen:?}");
        assert!(matches!(&seen[seen.len() - 1],
            JobOutcome::Failed { code, .. } if code == "provider.failed"));
        assert_eq!(
            stat(&fake, "submissions").await,
            i64::from(allowed) + 1,
            "{allowed} resubmission(s), though 5 attempts were allowed"
        );
        let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
        let message = job.error.unwrap().message;
        assert!(
            message.contains(&format!(
                "sent again {allowed} time(s); it is not sent again"
            )),
            "{message}"
        );
        assert_eq!(env.balance().await, GRANT);
        let log = env.db.transfers_for_job(&env.owner, &job_id).await.unwrap();
        assert_eq!(log.len(), allowed as usize + 1);
        assert!(
            log.iter()
                .all(|t| t.outcome.as_deref() == Some("provider.failed")),
            "{log:?}"
        );
    }
}

/// A 429 whose `Retry-After` is longer than a call waits inline puts the job's next attempt no
/// sooner than the hint, with a message a person reads; a hint longer than a job may wait
/// (`providers.max_wait_minutes`, 30 minutes here) fails the job at once and refunds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_4_the_next_attempt_waits_for_retry_after_or_fails_when_it_is_too_long() {
    let fake = Fake::start(FAL.fake);
    let env = Env::new(FAL.provider).await;

    fake.set(json!({ "mode": "rate_limit", "count": 1000, "retry_after": 300 }))
        .await;
    let (job_id, cost) = env.submit(&FAL).await;
    let mut worker = start(&env, providers(&FAL, &fake), "w1");
    let before = now_ms();
    let outcome = worker.next_outcome().await;
    let JobOutcome::Retrying {
        code,
        next_attempt_at,
        ..
    } = &outcome
    else {
        panic!("retried later: {outcome:?}");
    };
    assert_eq!(code, "provider.rate_limited");
    assert!(
        *next_attempt_at >= before + 300_000,
        "not before the provider's 5 minutes: {} ms",
        next_attempt_at - before
    );
    let requests = stat(&fake, "requests").await;
    assert_eq!(requests, 1, "a hint that long is not waited for inline");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        stat(&fake, "requests").await,
        requests,
        "nothing asked early"
    );
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    let message = job.error.unwrap().message;
    assert!(
        message.contains("asked us to wait 5 minutes") && !message.contains("Some("),
        "{message}"
    );
    assert_eq!(env.hold_state(&job_id, cost).await.as_deref(), Some("held"));
    worker.stop().await;

    fake.set(json!({ "mode": "rate_limit", "count": 1000, "retry_after": 3600 }))
        .await;
    let (job_id, cost) = env.submit(&FAL).await;
    let mut worker = start(&env, providers(&FAL, &fake), "w2");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(&outcome, JobOutcome::Failed { code, job_id: id } if code == "provider.rate_limited" && id == &job_id),
        "{outcome:?}"
    );
    let message = env
        .db
        .job_by_id(&job_id)
        .await
        .unwrap()
        .unwrap()
        .error
        .unwrap()
        .message;
    assert_eq!(
        message,
        "fal: the provider is limiting how many requests it takes and asked us to wait 1 hour, \
         longer than a job waits (30 minutes)"
    );
    assert_eq!(
        env.hold_state(&job_id, cost).await.as_deref(),
        Some("released")
    );
    assert_eq!(
        stat(&fake, "submissions").await,
        0,
        "nothing was ever taken"
    );
}

/// Runs one studio-engine job narrated by the cloud voice `voice` through `set`; returns the
/// job id, its cost, the outcome and the captions (WebVTT) when it succeeded.
async fn cloud_voice_job(
    env: &Env,
    set: ProviderSet,
    voice: &str,
    instructions: Option<&str>,
) -> (String, i64, JobOutcome, Option<String>) {
    let mut params = json!({ "script": SCRIPT, "tts": { "voice": voice }, "resolution": "480p" });
    if let Some(i) = instructions {
        params["voice_instructions"] = json!(i);
    }
    let spec = serde_json::from_value(params.clone()).unwrap();
    let cost = i64::try_from(plan_job(&spec).unwrap().credits).unwrap();
    let job_id = env.submit_for(&env.owner, params).await;
    let mut worker = start(env, set, "w1");
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    let vtt = match outcome {
        JobOutcome::Succeeded { .. } => {
            let key = format!("jobs/{job_id}/r1/captions.vtt");
            let keys: Vec<String> = env
                .media
                .list(&format!("jobs/{job_id}"))
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.key)
                .collect();
            let key = keys
                .into_iter()
                .find(|k| k.ends_with("captions.vtt"))
                .unwrap_or(key);
            Some(String::from_utf8(env.object(&key).await).unwrap())
        }
        _ => None,
    };
    (job_id, cost, outcome, vtt)
}

/// The transfer log's one `speech` entry of a cloud-voice job, checked: accepted, delivered,
/// and describing what went out (the voice and how many characters), never the script itself.
async fn one_speech_transfer(env: &Env, job_id: &str, provider: &str, model: &str) -> Value {
    let log = env.db.transfers_for_job(&env.owner, job_id).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    let t = &log[0];
    assert_eq!(
        (t.provider.as_str(), t.model.as_str(), t.purpose.as_str()),
        (provider, model, "speech")
    );
    assert_eq!(t.status, "accepted");
    assert_eq!(t.outcome.as_deref(), Some("delivered"));
    assert!(t.request_id.as_deref().is_some_and(|r| !r.is_empty()));
    assert_eq!(t.sent["narration_chars"], json!(SCRIPT.chars().count()));
    assert!(!t.sent.to_string().contains("fox"), "{}", t.sent);
    t.sent.clone()
}

/// Issue 17, P-TP-3/P-TP-4: an ElevenLabs voice reads the narration; its character alignment
/// times the captions directly (no local alignment); the request is in the transfer log and
/// the job is charged the voice's price.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_tp_4_an_elevenlabs_voice_narrates_the_job_and_its_alignment_times_the_captions() {
    let fake = Fake::start("elevenlabs_fake.py");
    let env = Env::new("elevenlabs").await;
    let voice = reelsmith_providers::elevenlabs::ElevenLabs::new(fake.endpoint(""), None).unwrap();
    let set = ProviderSet::none().with_speech_provider(Arc::new(voice));
    let (job_id, cost, outcome, vtt) =
        cloud_voice_job(&env, set, "elevenlabs/21m00Tcm4TlvDq8ikWAM", None).await;
    assert!(
        matches!(outcome, JobOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    assert!(cost > 0);
    assert_eq!(stat(&fake, "submissions").await, 1);
    let sent = fake.last().await;
    assert_eq!(sent["voice_id"], "21m00Tcm4TlvDq8ikWAM");
    assert_eq!(
        sent["body"]["text"], SCRIPT,
        "the narration, and nothing else, went out"
    );
    assert_eq!(sent["body"]["model_id"], "eleven_multilingual_v2");
    one_speech_transfer(&env, &job_id, "elevenlabs", "eleven_multilingual_v2").await;
    let vtt = vtt.unwrap();
    // The fake spreads the characters evenly from 0 s, so the first cue starts at once.
    assert!(
        vtt.contains("00:00:00.000 --> ") && vtt.contains("fox"),
        "captions timed by the alignment: {vtt}"
    );
    assert_eq!(
        env.hold_state(&job_id, cost).await.as_deref(),
        Some("charged")
    );
    assert_eq!(env.balance().await, GRANT - cost);
}

/// Issue 17: an OpenAI voice (`gpt-4o-mini-tts`, with instructions) reads the narration, which
/// the engine then aligns to the script; the instructions go out, the key does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_tp_4_an_openai_voice_narrates_the_job_and_is_aligned_locally() {
    let fake = Fake::start("openai_fake.py");
    let env = Env::new("openai").await;
    let voice =
        reelsmith_providers::openai_speech::OpenAiSpeech::new(fake.endpoint("/v1")).unwrap();
    let set = ProviderSet::none().with_speech_provider(Arc::new(voice));
    let (job_id, cost, outcome, vtt) = cloud_voice_job(
        &env,
        set,
        "openai/gpt-4o-mini-tts/coral",
        Some("Speak like a calm nature documentary."),
    )
    .await;
    assert!(
        matches!(outcome, JobOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    let sent = fake.last().await;
    assert_eq!(
        (
            sent["model"].as_str(),
            sent["voice"].as_str(),
            sent["input"].as_str()
        ),
        (Some("gpt-4o-mini-tts"), Some("coral"), Some(SCRIPT))
    );
    assert_eq!(
        sent["instructions"],
        "Speak like a calm nature documentary."
    );
    let logged = one_speech_transfer(&env, &job_id, "openai", "gpt-4o-mini-tts").await;
    assert_eq!(logged["instructions_chars"], json!(37));
    assert!(vtt.unwrap().contains("fox"));
    assert_eq!(env.balance().await, GRANT - cost);
}

/// Issue 17's bad input at the worker (P-TP-2): without consent for the voice's provider
/// nothing is sent, the job fails with `consent.required` and the reserved credits come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_tp_2_a_cloud_voice_without_consent_sends_nothing_and_refunds() {
    let fake = Fake::start("elevenlabs_fake.py");
    let env = Env::new("fal").await;
    let voice = reelsmith_providers::elevenlabs::ElevenLabs::new(fake.endpoint(""), None).unwrap();
    let set = ProviderSet::none().with_speech_provider(Arc::new(voice));
    let (job_id, cost, outcome, _) =
        cloud_voice_job(&env, set, "elevenlabs/21m00Tcm4TlvDq8ikWAM", None).await;
    assert!(
        matches!(&outcome, JobOutcome::Failed { code, .. } if code == "consent.required"),
        "{outcome:?}"
    );
    assert_eq!(
        stat(&fake, "requests").await,
        0,
        "the fake received nothing"
    );
    assert!(env
        .db
        .transfers_for_job(&env.owner, &job_id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        env.hold_state(&job_id, cost).await.as_deref(),
        Some("released")
    );
    assert_eq!(env.balance().await, GRANT);
}

#[path = "../../safety/tests/support/tiny_model.rs"]
mod tiny_model;

/// A worker with the image classifier (P-SAFE-1): the tests' tiny model, refusing `unsafe`
/// scores from `refuse` and holding them from `hold`.
fn start_checking(env: &Env, fake: &Fake, refuse: f32, hold: f32) -> Running {
    let config = tiny_model::write_model(&env.data.join("tiny.onnx"), refuse, hold);
    let mut settings = env.settings();
    settings.image_check = Some(Arc::new(
        reelsmith_safety::classifier::ImageClassifier::open(&config).unwrap(),
    ));
    let (tx, rx) = mpsc::unbounded_channel();
    let worker = Worker::with_settings(env.db.clone(), env.media.clone(), settings, "w1")
        .with_providers(providers(&FAL, fake))
        .with_outcomes(tx);
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let handle = tokio::spawn(async move { worker.run(token).await.unwrap() });
    Running {
        shutdown,
        handle,
        outcomes: rx,
    }
}

/// The moderation records of `owner`'s jobs: (kind, what was checked, categories).
async fn moderation_records(env: &Env) -> Vec<(String, Value, Value)> {
    env.db
        .audit_for_user(&env.owner, 50, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.starts_with("moderation."))
        .map(|e| {
            let d = e.detail.unwrap_or_default();
            (e.kind, d["what"].clone(), d["categories"].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_safe_1_a_refused_input_image_fails_the_job_before_any_provider_call_and_refunds() {
    const I2V: &str = "fal-ai/kling-video/v2.1/standard/image-to-video";
    let fake = Fake::start(FAL.fake);
    let env = Env::new(FAL.provider).await;
    // A red picture stored as the owner's upload (as before the operator set up the check).
    let path = env.data.join("red.jpg");
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=64x48",
        ])
        .args(["-frames:v", "1"])
        .arg(&path)
        .status()
        .expect("ffmpeg is installed");
    assert!(status.success());
    let bytes = std::fs::read(&path).unwrap();
    let key = reelsmith_store::content_key(&format!("uploads/{}", env.owner), &bytes);
    env.media
        .for_owner(&env.owner)
        .await
        .unwrap()
        .put_bytes(&key, bytes.clone().into())
        .await
        .unwrap();
    let upload = env
        .db
        .create_upload(
            &reelsmith_store::NewUpload {
                owner_id: env.owner.clone(),
                kind: reelsmith_store::UploadKind::Image,
                object_key: key,
                size: bytes.len() as i64,
                mime: "image/jpeg".into(),
                width: Some(64),
                height: Some(48),
                duration_ms: None,
            },
            now_ms(),
        )
        .await
        .unwrap()
        .id;
    let params = json!({ "script": SCRIPT, "media": [upload], "provider": "fal",
        "model": I2V, "resolution": "480p" });
    let job_id = env.submit_for(&env.owner, params).await;
    assert!(env.balance().await < GRANT, "the quote is reserved");
    let mut worker = start_checking(&env, &fake, 0.9, 0.4);
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(&outcome, JobOutcome::Failed { code, .. } if code == "moderation.image_refused"),
        "failed at once, not retried: {outcome:?}"
    );
    let job = env.db.job_by_id(&job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert!(
        error.message.contains("uploaded image") && error.message.contains("unsafe"),
        "a clear reason: {}",
        error.message
    );
    // Reached no provider, and cost nothing.
    assert_eq!(stat(&fake, "submissions").await, 0);
    assert!(fake.bodies().await.is_empty());
    assert!(env
        .db
        .transfers_for_job(&env.owner, &job_id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(env.balance().await, GRANT, "the reserved credits came back");
    assert_eq!(
        moderation_records(&env).await,
        vec![(
            "moderation.refused".to_owned(),
            json!("upload"),
            json!(["unsafe"])
        )]
    );
}

/// The fake's clip (ffmpeg `testsrc`: colour bars, about as much red as green and blue)
/// scores about 0.45 `unsafe` on the tiny model: refused from 0.3, held from 0.4, passed
/// under thresholds above it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_safe_1_a_generated_clip_that_scores_unsafe_fails_or_holds_the_job_and_refunds() {
    let fake = Fake::start(FAL.fake);
    let env = Env::new(FAL.provider).await;

    // Refused: the job fails with the stable code and the reserved credits come back.
    let (refused, cost) = env.submit(&FAL).await;
    let mut worker = start_checking(&env, &fake, 0.3, 0.2);
    let outcome = worker.next_outcome().await;
    worker.stop().await;
    assert!(
        matches!(&outcome, JobOutcome::Failed { code, .. } if code == "moderation.image_refused"),
        "{outcome:?}"
    );
    assert_eq!(
        stat(&fake, "downloads").await,
        1,
        "the clip was fetched and checked"
    );
    let error = env
        .db
        .job_by_id(&refused)
        .await
        .unwrap()
        .unwrap()
        .error
        .unwrap();
    assert!(
        error.message.contains("generated clip"),
        "{}",
        error.message
    );
    assert_eq!(
        env.hold_state(&refused, cost).await.as_deref(),
        Some("released")
    );
    assert_eq!(env.balance().await, GRANT);

    // Borderline: held for review instead, out of the queue, its credits still only reserved.
    let (held, cost) = env.submit(&FAL).await;
    let mut worker = start_checking(&env, &fake, 0.9, 0.4);
    let outcome = worker.next_outcome().await;
    assert!(
        matches!(&outcome, JobOutcome::Released { .. }),
        "{outcome:?}"
    );
    assert!(env.db.job_is_held(&held).await.unwrap());
    let queue = env.db.held_jobs(10).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].job_id, held);
    assert_eq!(queue[0].categories, vec!["unsafe".to_owned()]);
    let job = env.db.job_by_id(&held).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(env.hold_state(&held, cost).await.as_deref(), Some("held"));
    // No worker takes it while it waits.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(worker.outcomes.try_recv().is_err());
    worker.stop().await;
    let records = moderation_records(&env).await;
    assert!(records.contains(&(
        "moderation.held".to_owned(),
        json!("generated_frame"),
        json!(["unsafe"])
    )));
    assert!(records.contains(&(
        "moderation.refused".to_owned(),
        json!("generated_frame"),
        json!(["unsafe"])
    )));
}

//! The platform end to end through the real binary on loopback: the issue's whole user flow, a
//! SIGKILL mid-render followed by a restart, idempotent submission, and `config check` masking
//! secrets. Each test has its own data folder and port.

mod platform;

use std::process::Command;
use std::time::Duration;

use platform::{files_under, photo, stream_codecs, Server};
use serde_json::json;

const LONG_SCRIPT: &str = "Every morning the old harbour wakes slowly. Fishing boats creak \
against the wooden pier while gulls circle overhead, waiting for the first catch of the day. The \
fishermen have done this for generations. Their grandfathers mended the same nets, read the same \
clouds, and told the same stories about storms that nearly took them. But the town is changing. \
Young people leave for the city, and tourists arrive each summer with cameras and questions. Some \
of the old families have turned their boats into ferries, carrying visitors to the islands \
instead of hauling fish. Still, at dawn, the harbour belongs to the fishermen.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_upload_render_follow_events_and_download_with_ranges() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &[]).await;

    let mut alice = server.client();
    alice
        .sign_up_and_in(&data, "alice@example.org", "alice")
        .await;
    let upload = alice
        .upload("harbour.jpg", "image/jpeg", &photo(temp.path()))
        .await;
    let submitted = alice
        .submit(
            &json!({ "script": "A quiet harbour at dawn. The boats go out.",
                     "media": [upload], "resolution": "480p" }),
            None,
        )
        .await;
    assert_eq!(submitted.status, 201, "{}", submitted.text());
    let job_id = submitted.json()["id"].as_str().unwrap().to_owned();

    let events = alice.follow_events(&job_id).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"queued"), "{kinds:?}");
    assert!(kinds.contains(&"started"), "{kinds:?}");
    assert!(kinds.contains(&"progress"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"succeeded"), "{kinds:?}");

    let job = alice.job(&job_id).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["usage"]["engine"], "studio");
    assert!(job["usage"]["output_seconds"].as_f64().unwrap() > 1.0);

    let video_path = format!("/api/v1/jobs/{job_id}/video");
    let partial = alice
        .send(
            alice
                .request(reqwest::Method::GET, &video_path)
                .header("range", "bytes=0-99"),
        )
        .await;
    assert_eq!(partial.status, 206);
    assert_eq!(partial.body.len(), 100);
    let whole = alice.get(&video_path).await;
    assert_eq!(whole.status, 200);
    let content_range = partial.headers["content-range"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_range, format!("bytes 0-99/{}", whole.body.len()));
    assert_eq!(&whole.body[..100], &partial.body[..]);
    let mp4 = temp.path().join("downloaded.mp4");
    std::fs::write(&mp4, &whole.body).unwrap();
    assert_eq!(stream_codecs(&mp4), ["h264", "aac"]);
    for output in ["poster", "captions.vtt", "captions.srt"] {
        let reply = alice.get(&format!("/api/v1/jobs/{job_id}/{output}")).await;
        assert_eq!(reply.status, 200, "{output}");
        assert!(!reply.body.is_empty(), "{output}");
    }

    let mut bob = server.client();
    bob.sign_up_and_in(&data, "bob@example.org", "bob").await;
    for path in [
        format!("/api/v1/jobs/{job_id}"),
        format!("/api/v1/uploads/{upload}"),
        format!("/api/v1/uploads/{upload}/content"),
        video_path.clone(),
        format!("/api/v1/jobs/{job_id}/events"),
    ] {
        let reply = bob.get(&path).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_render_finishes_exactly_once_after_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    // A short lease so the restarted process takes the job over soon after the kill.
    let env = [
        ("REELSMITH__WORKER__LEASE_SECONDS", "3"),
        ("REELSMITH__WORKER__HEARTBEAT_SECONDS", "1"),
    ];
    let mut first = Server::start(&data, &env, &[]).await;
    let mut alice = first.client();
    alice
        .sign_up_and_in(&data, "alice@example.org", "alice")
        .await;
    let submitted = alice
        .submit(
            &json!({ "script": LONG_SCRIPT, "resolution": "480p" }),
            None,
        )
        .await;
    assert_eq!(submitted.status, 201, "{}", submitted.text());
    let job_id = submitted.json()["id"].as_str().unwrap().to_owned();
    loop {
        let job = alice.job(&job_id).await;
        assert_ne!(
            job["status"], "succeeded",
            "the job finished before the kill"
        );
        assert_ne!(job["status"], "failed", "{job}");
        if job["status"] == "running" && job["progress"].as_f64().unwrap() > 0.10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.kill();
    let work = data.join("tmp").join("work");
    assert!(
        !files_under(&work).is_empty(),
        "the killed render left its work folder behind"
    );

    let second = Server::start(&data, &env, &[]).await;
    // Sessions live in the database, so the cookie from before the crash still works.
    let cookie = alice.cookie.clone();
    let mut alice = second.client();
    alice.cookie = cookie;
    let events = alice.follow_events(&job_id).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds.last(),
        Some(&"succeeded"),
        "{kinds:?}\n{}",
        second.log_text()
    );
    assert_eq!(kinds.iter().filter(|k| **k == "succeeded").count(), 1);
    let takeovers = events
        .iter()
        .filter(|(k, data)| k == "started" && data["payload"]["takeover"] == true)
        .count();
    assert_eq!(takeovers, 1, "{events:?}");
    assert_eq!(alice.job(&job_id).await["status"], "succeeded");

    let objects = files_under(&data.join("media").join("jobs"));
    let expected: Vec<String> = ["captions.srt", "captions.vtt", "poster.jpg", "video.mp4"]
        .iter()
        .map(|f| format!("{job_id}/r1/{f}"))
        .collect();
    assert_eq!(objects, expected, "one set of outputs and nothing else");
    let stray: Vec<String> = files_under(&data.join("media"))
        .into_iter()
        .filter(|f| f.contains('#') || f.rsplit('/').next().unwrap().starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "staging files left in media: {stray:?}");
    assert!(
        files_under(&data.join("tmp")).is_empty(),
        "temporary files left: {:?}",
        files_under(&data.join("tmp"))
    );
    let leftover_folders: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
    assert!(leftover_folders.is_empty(), "{leftover_folders:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_twice_gives_one_job() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &["--no-workers"]).await;
    let mut alice = server.client();
    alice
        .sign_up_and_in(&data, "alice@example.org", "alice")
        .await;
    let spec = json!({ "script": "Hello there.", "resolution": "480p" });
    let first = alice.submit(&spec, Some("key-0001")).await;
    assert_eq!(first.status, 201, "{}", first.text());
    let second = alice.submit(&spec, Some("key-0001")).await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(first.json()["id"], second.json()["id"]);
    let other = alice.submit(&spec, Some("key-0002")).await;
    assert_eq!(other.status, 201);
    assert_ne!(other.json()["id"], first.json()["id"]);
    let listed = alice.get("/api/v1/jobs").await.json();
    let items = listed
        .get("items")
        .or(listed.get("jobs"))
        .unwrap_or(&listed)
        .as_array()
        .unwrap_or_else(|| panic!("a list of jobs: {listed}"))
        .len();
    assert_eq!(items, 2);
}

#[test]
fn config_check_masks_secrets_and_reports_problems() {
    let temp = tempfile::tempdir().unwrap();
    let secret = "s3-secret-that-must-not-print-9f2c";
    let db_password = "db-password-that-must-not-print-41";
    let out = Command::new(platform::bin())
        .args(["config", "check", "--data"])
        .arg(temp.path())
        .env("REELSMITH__STORAGE__S3__SECRET_ACCESS_KEY", secret)
        .env(
            "REELSMITH__DATABASE__URL",
            format!("postgres://reelsmith:{db_password}@db.internal/reelsmith"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // `config check` tries each dependency: db.internal cannot be reached from here, so it fails,
    // and still prints the configuration with every secret masked.
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains(secret), "{text}");
        assert!(!text.contains(db_password), "{text}");
    }
    assert!(
        stdout.contains("secret_access_key = \"********\""),
        "{stdout}"
    );
    assert!(
        stdout.contains(&temp.path().display().to_string()),
        "{stdout}"
    );

    let bad = Command::new(platform::bin())
        .args(["config", "check", "--data"])
        .arg(temp.path())
        .env("REELSMITH__WORKER__LEASE_SECONDS", "5")
        .env("REELSMITH__WORKER__HEARTBEAT_SECONDS", "5")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("worker.lease_seconds"));
}

/// Issue 17 (D-voice-6): `config check` says which voice narrates a job that names none. The
/// natural voice installed by scripts/setup is reported as such; with the voice missing the
/// fallback to espeak-ng is a warning, not a failed check (jobs still run); a default voice
/// that is not one of the three forms is a configuration problem.
#[test]
fn p_voice_6_config_check_reports_the_default_voice_and_its_fallback() {
    let temp = tempfile::tempdir().unwrap();
    let check = |env: &[(&str, &str)]| {
        let out = Command::new(platform::bin())
            .args(["config", "check", "--data"])
            .arg(temp.path())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, said) = check(&[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("ok: default voice: `en-us` scripts are narrated by piper:en_US-joe-medium"),
        "scripts/setup installs the natural voice: {said}"
    );
    let empty = temp.path().join("no-voices");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, said) = check(&[("REELSMITH__SPEECH__PIPER_VOICES", empty.to_str().unwrap())]);
    assert_eq!(code, Some(0), "a fallback does not fail the check: {said}");
    assert!(
        said.contains("warning: default voice: `en-us` scripts are narrated by espeak:en-us")
            && said.contains("no natural (Piper) voice is installed"),
        "{said}"
    );
    let (code, said) = check(&[("REELSMITH__SPEECH__DEFAULT_VOICE", "espeak")]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("ok: default voice: `en-us` scripts are narrated by espeak:en-us"),
        "{said}"
    );
    let (code, said) = check(&[("REELSMITH__SPEECH__DEFAULT_VOICE", "coqui:x")]);
    assert_eq!(code, Some(1));
    assert!(said.contains("speech.default_voice"), "{said}");
}

#[test]
fn migrate_creates_the_database() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let out = Command::new(platform::bin())
        .args(["migrate", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data.join("reelsmith.db").is_file());
    // Running it again is a no-op.
    let again = Command::new(platform::bin())
        .args(["migrate", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(again.status.success());
}

/// Kills and reaps a child process when dropped, so a failed assertion leaves nothing running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `curl -i` with the test's own certificate authority; `None` when the connection fails.
fn curl(cert: &std::path::Path, port: u16, url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "10", "--cacert"])
        .arg(cert)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1"), url])
        .output()
        .expect("curl is installed (scripts/setup --test)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn serve_terminates_tls_itself_and_sends_hsts() {
    let temp = tempfile::tempdir().unwrap();
    let (cert, key) = (temp.path().join("cert.pem"), temp.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (scripts/setup --test)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let port = platform::free_port();
    let log = temp.path().join("serve.log");
    let _server = KillOnDrop(
        Command::new(platform::bin())
            .args([
                "serve",
                "--no-workers",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--data")
            .arg(temp.path().join("data"))
            .env("REELSMITH__SERVER__TLS__CERT", &cert)
            .env("REELSMITH__SERVER__TLS__KEY", &key)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the binary starts"),
    );
    let https = format!("https://localhost:{port}/readyz");
    // A deadline only to turn a hang into a readable failure, not a speed requirement.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let answer = loop {
        if let Some(answer) = curl(&cert, port, &https) {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve never answered over TLS: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{answer}"
    );
    // Plain http to the TLS port gets no HTTP answer.
    let plain = curl(&cert, port, &format!("http://localhost:{port}/readyz"));
    assert!(
        plain
            .as_deref()
            .is_none_or(|a| !a.starts_with("HTTP/1.1 200")),
        "{plain:?}"
    );
}

/// P-SEC-2 through the real binary: the first start generates the operator key (0600), an
/// upload is ciphertext in the media folder and plaintext through the API, and after `keys
/// generate` + `keys rotate` (old key configured as previous) and a restart on the new key
/// alone, everything still reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_sec_2_media_is_sealed_and_the_operator_key_rotates() {
    use std::os::unix::fs::PermissionsExt;

    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut server = Server::start(&data, &[], &[]).await;
    let old_key = data.join("operator.key");
    let mode = std::fs::metadata(&old_key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let key_text = std::fs::read_to_string(&old_key).unwrap();
    assert!(
        !server.log_text().contains(key_text.trim()),
        "the key is never logged"
    );

    let mut alice = server.client();
    alice
        .sign_up_and_in(&data, "alice@example.org", "alice")
        .await;
    let jpeg = photo(temp.path());
    let upload = alice.upload("photo.jpg", "image/jpeg", &jpeg).await;
    let content_path = format!("/api/v1/uploads/{upload}/content");
    let served = alice.get(&content_path).await;
    assert_eq!(served.status, 200);
    assert!(served.body.starts_with(&[0xFF, 0xD8, 0xFF]));
    // The upload is the one object beside the deployment's marker.
    let stored: Vec<String> = files_under(&data.join("media"))
        .into_iter()
        .filter(|f| f != reelsmith_store::DEPLOYMENT_MARKER_KEY)
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let on_disk = std::fs::read(data.join("media").join(&stored[0])).unwrap();
    assert!(!on_disk.starts_with(&[0xFF, 0xD8]), "no JPEG magic on disk");
    assert!(!on_disk.windows(64).any(|w| w == &served.body[200..264]));

    let new_key = temp.path().join("operator-2.key");
    let generated = Command::new(platform::bin())
        .args(["keys", "generate", "--out"])
        .arg(&new_key)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let new_text = std::fs::read_to_string(&new_key).unwrap();
    assert!(!String::from_utf8_lossy(&generated.stdout).contains(new_text.trim()));
    let again = Command::new(platform::bin())
        .args(["keys", "generate", "--out"])
        .arg(&new_key)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing key file is never replaced"
    );
    assert_eq!(std::fs::read_to_string(&new_key).unwrap(), new_text);

    let config = temp.path().join("rotated.toml");
    std::fs::write(
        &config,
        format!(
            "[encryption]\nkey_file = {:?}\nprevious_key_files = [{:?}]\n",
            new_key.display().to_string(),
            old_key.display().to_string()
        ),
    )
    .unwrap();
    let rotated = Command::new(platform::bin())
        .args(["keys", "rotate", "--data"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&rotated.stdout);
    assert!(
        rotated.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(out.contains("re-wrapped 1 data key(s)"), "{out}");
    assert!(out.contains("no data key needs"), "{out}");
    server.kill();

    // Only the new key now: the old file is gone, and everything still reads.
    std::fs::remove_file(&old_key).unwrap();
    std::fs::write(
        &config,
        format!(
            "[encryption]\nkey_file = {:?}\n",
            new_key.display().to_string()
        ),
    )
    .unwrap();
    let config_flag = config.display().to_string();
    let server = Server::start(&data, &[], &["--config", &config_flag]).await;
    let cookie = alice.cookie.clone();
    let mut alice = server.client();
    alice.cookie = cookie;
    let after = alice.get(&content_path).await;
    assert_eq!(after.status, 200, "{}", server.log_text());
    assert_eq!(after.body, served.body);
    assert!(!data.join("operator.key").exists(), "no new key generated");
}

/// Issue 25: `config check` indexes the media library (`[stock] library`) as the server does, and
/// fails on an entry that cannot be used, naming the file and why; a sound library passes.
#[test]
fn config_check_indexes_the_media_library_and_names_broken_entries() {
    let temp = tempfile::tempdir().unwrap();
    let library = temp.path().join("library");
    std::fs::create_dir_all(&library).unwrap();
    photo(&library);
    let entry = |file: &str| {
        format!("[[item]]\nfile = \"{file}\"\ntags = [\"test\"]\nauthor = \"Ann\"\nlicence = \"CC0-1.0\"\n")
    };
    let check = || {
        let out = Command::new(platform::bin())
            .args(["config", "check", "--data"])
            .arg(temp.path())
            .env("REELSMITH__STOCK__LIBRARY", &library)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let sidecar = library.join("library.toml");
    std::fs::write(&sidecar, entry("photo.jpg") + &entry("gone.jpg")).unwrap();
    let (code, said) = check();
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("error: media library: 1 of its library.toml entries cannot be used: gone.jpg: the file does not exist"),
        "{said}"
    );
    std::fs::write(&sidecar, entry("photo.jpg")).unwrap();
    let (code, said) = check();
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("ok: media library: 1 pictures and clips indexed"),
        "{said}"
    );
}

/// Issue 25, models by configuration: `config check` accepts a sound `[[providers.models]]` and
/// shows it, and refuses each impossible one (and an unknown field) with a line naming the model;
/// `serve` refuses to start on the same file.
#[test]
fn config_check_accepts_configured_models_and_names_each_impossible_one() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let sound = r#"
[[providers.models]]
provider = "fal"
id = "fal-ai/flux/dev"
kinds = ["text-to-image"]
aspects = ["16:9", "1:1"]
max_prompt_chars = 2000
credits_per_image = 3

[[providers.models]]
provider = "fal"
id = "fal-ai/ltx-video"
kinds = ["text-to-video"]
durations = { min = 2, max = 8 }
aspects = ["16:9"]
max_prompt_chars = 2000
credits_per_second = 2
"#;
    let run = |args: &[&str], file_text: &str| {
        let file = temp.path().join("reelsmith.toml");
        std::fs::write(&file, file_text).unwrap();
        let out = Command::new(platform::bin())
            .args(args)
            .arg("--config")
            .arg(&file)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["config", "check"], sound);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("id = \"fal-ai/ltx-video\""), "{stdout}");

    let bad = |from: &str, to: &str| sound.replacen(from, to, 1);
    for (file, said) in [
        (
            bad("kinds = [\"text-to-image\"]", "kinds = []"),
            "providers.models[0]: fal model `fal-ai/flux/dev`: no kinds",
        ),
        (
            bad("{ min = 2, max = 8 }", "{ min = 8, max = 2 }"),
            "providers.models[1]: fal model `fal-ai/ltx-video`: durations { min = 8, max = 2 } is not a range",
        ),
        (
            bad("{ min = 2, max = 8 }", "{ min = 0, max = 0 }"),
            "providers.models[1]: fal model `fal-ai/ltx-video`: durations { min = 0, max = 0 } is not a range",
        ),
        (
            bad("[\"16:9\", \"1:1\"]", "[\"16:9\", \"4:3\"]"),
            "fal model `fal-ai/flux/dev`: aspect `4:3` is not one of 16:9, 9:16, 1:1",
        ),
        (
            bad("aspects = [\"16:9\"]", "aspects = [\"16:9\"]\nresolutions = [\"4k\"]"),
            "fal model `fal-ai/ltx-video`: resolution `4k` is not one of 480p, 720p, 1080p",
        ),
        (
            bad("provider = \"fal\"", "provider = \"midjourney\""),
            "midjourney model `fal-ai/flux/dev`: provider `midjourney` is not one of Reelsmith's adapters",
        ),
        (
            bad("credits_per_image = 3", ""),
            "fal model `fal-ai/flux/dev`: no price (give credits_per_image)",
        ),
        (
            bad("id = \"fal-ai/ltx-video\"", "id = \"fal-ai/flux/dev\""),
            "providers.models[1]: fal model `fal-ai/flux/dev`: configured twice",
        ),
        (
            bad("credits_per_image = 3", "credits_per_image = 3\nseconds = 5"),
            "unknown setting `providers.models.0.seconds`",
        ),
    ] {
        let (code, _, stderr) = run(&["config", "check"], &file);
        assert_eq!(code, Some(1), "{file}\n{stderr}");
        assert!(stderr.contains(said), "expected {said:?} in:\n{stderr}");
    }
    let (code, _, stderr) = run(
        &["serve"],
        &bad("kinds = [\"text-to-image\"]", "kinds = []"),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("fal model `fal-ai/flux/dev`: no kinds"),
        "{stderr}"
    );
}

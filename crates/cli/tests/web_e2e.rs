//! The web studio end to end in a real browser: starts `reelsmith serve` on a free loopback port
//! with its own data folder, then runs a script under `tests/web` (playwright-core driving
//! Debian's Chromium, with axe-core) against it. `scripts/setup --test` installs Chromium, Node
//! and the npm packages.
//!
//! Screenshots go to `target/web-screenshots`, or to `$REELSMITH_SCREENSHOTS` when set
//! (`REELSMITH_SCREENSHOTS=docs/screenshots` refreshes the committed set).

mod platform;

use std::path::{Path, PathBuf};
use std::process::Command;

use platform::Server;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs `node tests/web/<script> <base> <shots> <args…>` against `server` and fails the test,
/// with the script's output and the server's log, when the script fails.
async fn run_browser_script(server: &Server, script: &str, args: Vec<String>) {
    let root = workspace();
    let script = root.join("tests/web").join(script);
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        root.join("tests/web/node_modules/playwright-core").is_dir()
            && Path::new(&chromium).exists(),
        "the browser test needs Chromium, Node and tests/web's npm packages: run scripts/setup --test"
    );
    let shots = match std::env::var_os("REELSMITH_SCREENSHOTS") {
        Some(dir) => root.join(dir),
        None => root.join("target/web-screenshots"),
    };
    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .arg(&base)
            .arg(&shots)
            .args(args)
            .env("CHROMIUM", &chromium)
            .output()
            .expect("node runs (scripts/setup --test installs it)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser script failed ({}):\n{stdout}\n{}\nserver log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        server.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn studio_sign_up_create_watch_play_download_revise_delete_in_chromium() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    // A fal key enables fal's models in the studio (its last section); no job is sent to fal.
    let server = Server::start(
        &data,
        &[("REELSMITH__PROVIDERS__FAL__KEY", "fal-e2e-key-not-real")],
        &[],
    )
    .await;
    let outbox = data.join("outbox").display().to_string();
    run_browser_script(&server, "studio.mjs", vec![outbox]).await;
}

/// The privacy controls in a real browser: the account is made through the API and a material
/// privacy version is published with the CLI before `tests/web/privacy.mjs` signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn studio_policy_notice_news_pause_export_and_deletion_in_chromium() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &[]).await;
    let email = "privacy-web@example.org";
    server
        .client()
        .sign_up_and_in(&data, email, "privacyweb")
        .await;
    let published = Command::new(platform::bin())
        .args([
            "policy",
            "publish",
            "--kind",
            "privacy",
            "--version",
            "2026-12-01",
        ])
        .args([
            "--summary",
            "Videos are now kept 30 days after they are made.",
        ])
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(published.status.success(), "{published:?}");
    let args = vec![email.to_owned(), platform::PASSWORD.to_owned()];
    run_browser_script(&server, "privacy.mjs", args).await;
}

/// The open redirect a hostile probe found (issue 24): whatever the sign-in page's `next`
/// holds, `tests/web/redirect.mjs` signs in and checks Chromium never leaves the site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_never_redirects_off_the_site_in_chromium() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &[]).await;
    let email = "redirect-web@example.org";
    server
        .client()
        .sign_up_and_in(&data, email, "redirectweb")
        .await;
    let args = vec![email.to_owned(), platform::PASSWORD.to_owned()];
    run_browser_script(&server, "redirect.mjs", args).await;
}

/// The studio as a newcomer finds it (issue 15): `tests/web/newcomer.mjs` signs up, resends and
/// verifies its code, tries the Create form's limits, follows a paused then live render, checks
/// a frame for a single caption, names downloads, lists and deletes uploads, and checks the
/// export after a creation's deletion (P-RET-2, P-RET-5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_ret_2_p_ret_5_studio_as_a_newcomer_finds_it_in_chromium() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &[]).await;
    let outbox = data.join("outbox").display().to_string();
    run_browser_script(&server, "newcomer.mjs", vec![outbox]).await;
}

/// Issue 22's "must show": jobs on KieAI Veo 3.1 (`veo3_fast`) and on KieAI Kling
/// (`kling-2.6/text-to-video`), end to end against the KieAI fake, first through the API, then
/// through the studio in Chromium (`tests/web/kie.mjs`), each with its transfer log and charge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_22_kieai_veo_and_kling_jobs_through_the_api_and_the_studio_in_chromium() {
    use serde_json::json;
    let fake = platform::ProviderFake::start("kie_fake.py");
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(
        &data,
        &[
            ("REELSMITH__PROVIDERS__KIE__KEY", "kie-e2e-key-not-real"),
            ("REELSMITH__PROVIDERS__KIE__BASE_URL", &fake.base),
            ("REELSMITH__PROVIDERS__POLL_SECONDS", "1"),
        ],
        &[],
    )
    .await;

    let mut api = server.client();
    api.sign_up_and_in(&data, "kie-api@example.org", "kieapi")
        .await;
    let consent = api
        .send(api.request(reqwest::Method::PUT, "/api/v1/me/consents/kie"))
        .await;
    assert!(consent.status < 300, "consent: {}", consent.text());
    let balance = |api: &platform::Api| {
        let api = api.clone();
        async move {
            api.get("/api/v1/me/credits").await.json()["balance"]
                .as_i64()
                .unwrap()
        }
    };
    for (n, model) in ["veo3_fast", "kling-2.6/text-to-video"].iter().enumerate() {
        let before = balance(&api).await;
        let spec = json!({
            "script": "A red fox runs through the fresh snow at dawn.",
            "provider": "kie", "model": model, "resolution": "720p",
        });
        let reply = api.submit(&spec, None).await;
        assert!(reply.status < 300, "{model}: {}", reply.text());
        let id = reply.json()["id"].as_str().unwrap().to_owned();
        let events = api.follow_events(&id).await;
        let last = &events.last().unwrap().0;
        assert_eq!(
            last,
            "succeeded",
            "{model}: {events:?}\n{}",
            server.log_text()
        );
        let job = api.job(&id).await;
        assert_eq!(job["usage"]["provider"], "kie");
        assert_eq!(job["usage"]["model"], json!(model));
        let charged = job["cost"]["charged"].as_i64().unwrap();
        assert!(charged > 0, "{model}: {job}");
        assert_eq!(job["usage"]["credits"], json!(charged));
        assert_eq!(
            balance(&api).await,
            before - charged,
            "{model}: charged once"
        );
        let transfers = api
            .get(&format!("/api/v1/jobs/{id}/transfers"))
            .await
            .json();
        let transfers = transfers.as_array().unwrap();
        assert_eq!(transfers.len(), 1, "{model}: {transfers:?}");
        let t = &transfers[0];
        assert_eq!(
            (t["provider"].as_str(), t["model"].as_str()),
            (Some("kie"), Some(*model))
        );
        assert_eq!(t["status"], "accepted");
        assert_eq!(t["outcome"], "delivered");
        assert!(t["request_id"].as_str().is_some_and(|r| !r.is_empty()));
        assert_eq!(fake.stats().await["submissions"], json!(n + 1));
    }
    assert!(
        !server.log_text().contains("kie-e2e-key-not-real"),
        "the key never reaches the log"
    );

    let email = "kie-web@example.org";
    server.client().sign_up_and_in(&data, email, "kieweb").await;
    let args = vec![email.to_owned(), platform::PASSWORD.to_owned()];
    run_browser_script(&server, "kie.mjs", args).await;
    assert_eq!(
        fake.stats().await["submissions"],
        json!(4),
        "one request per studio job"
    );
}

/// The admin console (issue 20; P-SEC-4, P-SEC-5): three accounts made through the API, two
/// promoted with `reelsmith admin promote`; `tests/web/admin.mjs` checks that a user gets 404 on
/// every console route, an admin is refused before TOTP and allowed after, and a moderator sees
/// the queue but not the user list. Afterwards `reelsmith admin reset-totp` removes the admin's
/// authenticator, audit-logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_sec_4_p_sec_5_admin_console_roles_and_totp_in_chromium() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &[]).await;
    let (admin, moderator, user) = (
        "console-admin@example.org",
        "console-mod@example.org",
        "console-user@example.org",
    );
    for (email, username) in [
        (admin, "consoleadmin"),
        (moderator, "consolemod"),
        (user, "consoleuser"),
    ] {
        server.client().sign_up_and_in(&data, email, username).await;
    }
    let cli = |args: &[&str]| {
        let out = Command::new(platform::bin())
            .args(args)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let promoted = cli(&["admin", "promote", admin, "admin"]);
    assert_eq!(promoted["role"], "admin");
    assert_eq!(promoted["totp_enrolled"], false);
    cli(&["admin", "promote", moderator, "moderator"]);
    // Promote names a higher role, demote a lower one: a mistaken direction changes nothing.
    let wrong = Command::new(platform::bin())
        .args(["admin", "demote", user, "admin", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let args = [platform::PASSWORD, admin, moderator, user]
        .map(str::to_owned)
        .to_vec();
    run_browser_script(&server, "admin.mjs", args).await;
    let reset = cli(&["admin", "reset-totp", admin]);
    assert_eq!(reset["totp_removed"], true);
    let demoted = cli(&["admin", "demote", moderator, "user"]);
    assert_eq!(demoted["previous_role"], "moderator");
}

/// A real SMTP server (aiosmtpd, tests/fakes/smtp/smtp_sink.py) saving what it accepts as
/// `<n>.eml` into a folder; killed on drop.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
}

impl SmtpSink {
    fn start(dir: &Path) -> SmtpSink {
        use std::io::BufRead;
        std::fs::create_dir_all(dir).unwrap();
        let mut child = Command::new("python3")
            .arg(workspace().join("tests/fakes/smtp/smtp_sink.py"))
            .arg(dir)
            // The sink runs until its stdin closes: a pipe we hold keeps it up until drop.
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (scripts/setup --test installs it and aiosmtpd)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP test server did not start: {line:?}"));
        SmtpSink { child, port }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sharing and safety in a real browser (issue 19; P-VIS-2, P-VIS-3, P-ACC-5, P-SAFE-1..3):
/// email goes out over SMTP to a real SMTP server, a provider fake (fal) stands ready, the
/// owner's creation is made through the API and rendered by the server's own worker, and a
/// second account gets the moderator role. `tests/web/sharing.mjs` then has a rule-breaking
/// script for the provider refused, publishes, shares, plays the shared video anonymously,
/// revokes, reports, and takes the work down as a moderator who must first enrol TOTP. The
/// provider never got a request; the owner's takedown email arrived at the SMTP server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_safe_1_p_safe_3_p_vis_2_p_vis_3_publish_share_report_take_down_in_chromium() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    // The SMTP server saves into the outbox folder, where the sign-up helper reads codes.
    let mail = data.join("outbox");
    let smtp = SmtpSink::start(&mail);
    let fal = platform::ProviderFake::start("fal_fake.py");
    let smtp_port = smtp.port.to_string();
    let server = Server::start(
        &data,
        &[
            ("REELSMITH__EMAIL__TRANSPORT", "smtp"),
            ("REELSMITH__EMAIL__SMTP__HOST", "127.0.0.1"),
            ("REELSMITH__EMAIL__SMTP__PORT", smtp_port.as_str()),
            ("REELSMITH__EMAIL__SMTP__TLS", "none"),
            ("REELSMITH__PROVIDERS__FAL__KEY", "fal-test-key-0123456789"),
            ("REELSMITH__PROVIDERS__FAL__BASE_URL", fal.base.as_str()),
            ("REELSMITH__CREDITS__SIGNUP_GRANT", "1000"),
        ],
        &[],
    )
    .await;
    let owner = "sharer@example.org";
    let moderator = "moderator@example.org";
    let mut api = server.client();
    api.sign_up_and_in(&data, owner, "sharer").await;
    let consent = api
        .send(api.request(reqwest::Method::PUT, "/api/v1/me/consents/fal"))
        .await;
    assert!(consent.status < 300, "consent: {}", consent.text());
    let job = api
        .submit(
            &serde_json::json!({ "script": "Harbour at dawn.", "resolution": "480p", "seed": 5 }),
            None,
        )
        .await;
    assert_eq!(job.status, 201, "{}", job.text());
    let job_id = job.json()["id"].as_str().unwrap().to_owned();
    let events = api.follow_events(&job_id).await;
    assert_eq!(events.last().unwrap().0, "succeeded", "{events:?}");
    server
        .client()
        .sign_up_and_in(&data, moderator, "keeper")
        .await;
    let db = reelsmith_store::Db::open_sqlite(&data.join("reelsmith.db"), 1)
        .await
        .unwrap();
    let id = db.user_by_email(moderator).await.unwrap().unwrap().id;
    db.set_role(
        &id,
        reelsmith_store::Role::Moderator,
        reelsmith_store::now_ms(),
    )
    .await
    .unwrap();
    db.close().await;
    let args = vec![
        owner.to_owned(),
        moderator.to_owned(),
        platform::PASSWORD.to_owned(),
        job_id,
        temp.path().join("avatar.jpg").display().to_string(),
    ];
    std::fs::write(temp.path().join("avatar.jpg"), platform::photo(temp.path())).unwrap();
    run_browser_script(&server, "sharing.mjs", args).await;
    let stats = fal.stats().await;
    assert_eq!(
        stats["requests"],
        serde_json::json!(0),
        "the refused script reached no provider: {stats}"
    );
    let takedown_mail = reelsmith_mail::read::list_messages(&mail)
        .unwrap()
        .iter()
        .map(|path| reelsmith_mail::read::parse_eml(path).unwrap())
        .find(|m| m.to.iter().any(|to| to == owner) && m.subject.contains("taken down"))
        .expect("the owner is emailed through the SMTP server");
    assert!(
        takedown_mail
            .text_body
            .contains("Breaks rule 3: hateful captions."),
        "{}",
        takedown_mail.text_body
    );
}

/// Sign-in with an identity provider in a real browser (P-ACC-4): a real OpenID provider (npm
/// `oidc-provider`, tests/oidc/provider.mjs) on loopback, wired in through `[[oidc]]` in the
/// data folder's reelsmith.toml; `tests/web/oidc.mjs` signs in at the provider's own login page,
/// then tries each bad input (unverified address, foreign key, expired token, replayed, forged
/// and foreign `state`, another `nonce`). Afterwards the database holds the one account made and
/// an `oidc.refused` audit entry for each refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_acc_4_sign_in_with_an_openid_provider_in_chromium() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let root = workspace();
    assert!(
        root.join("tests/oidc/node_modules/oidc-provider").is_dir(),
        "the test needs tests/oidc's npm packages: run scripts/setup --test"
    );
    // The server's port is chosen when it starts: the provider accepts any loopback port.
    let mut provider = Command::new("node")
        .arg(root.join("tests/oidc/provider.mjs"))
        .args([
            "--any-loopback-port",
            "--redirect-uri",
            "http://127.0.0.1/auth/oidc/test/callback",
        ])
        .current_dir(root.join("tests/oidc"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let mut line = String::new();
    BufReader::new(provider.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let started: serde_json::Value = serde_json::from_str(&line).expect("the provider's issuer");
    let issuer = started["issuer"].as_str().unwrap().to_owned();

    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("reelsmith.toml"),
        format!(
            "[[oidc]]\nid = \"test\"\nname = \"Test ID\"\nissuer = \"{issuer}\"\n\
             client_id = \"{}\"\nclient_secret = \"{}\"\n",
            started["client_id"].as_str().unwrap(),
            started["client_secret"].as_str().unwrap()
        ),
    )
    .unwrap();
    let server = Server::start(&data, &[], &[]).await;
    run_browser_script(&server, "oidc.mjs", vec![issuer]).await;
    let _ = provider.kill();
    let _ = provider.wait();

    // Nothing made by a refusal, and each refusal audit-logged with its code.
    let db = reelsmith_store::Db::open_sqlite(&data.join("reelsmith.db"), 1)
        .await
        .unwrap();
    let accounts: Vec<String> = db
        .staff_users("", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.email)
        .collect();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert!(accounts[0].starts_with("web"), "{accounts:?}");
    let codes: Vec<String> = db
        .audit_of_kind("oidc.refused", 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.detail?["code"].as_str().map(str::to_owned))
        .collect();
    for code in [
        "oidc.email_unverified",
        "oidc.signature_invalid",
        "oidc.token_expired",
        "oidc.state_invalid",
        "oidc.nonce_mismatch",
    ] {
        assert!(codes.iter().any(|c| c == code), "no {code} in {codes:?}");
    }
    assert_eq!(
        codes.iter().filter(|c| *c == "oidc.state_invalid").count(),
        3,
        "replayed, forged and foreign: {codes:?}"
    );
    db.close().await;
}

/// A mono 16-bit WAV of a soft two-note chord: a stand-in for a music track.
fn chord_wav(seconds: f64) -> Vec<u8> {
    let rate = 22_050u32;
    let n = (seconds * rate as f64) as u32;
    let mut out = Vec::with_capacity(44 + n as usize * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + n * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(n * 2).to_le_bytes());
    for i in 0..n {
        let t = i as f64 / rate as f64;
        let v = 0.2 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
            + 0.15 * (2.0 * std::f64::consts::PI * 277.2 * t).sin();
        out.extend_from_slice(&((v * 32_767.0) as i16).to_le_bytes());
    }
    out
}

/// Voices and music in the studio (issue 17): `tests/web/sound.mjs` plays a voice's sample from
/// the picker, finds a cloud voice (ElevenLabs, at its fake) with its price, plays its sample and
/// is sent to the consent step when choosing it without consent, previews a track of the operator's library, and renders a job with that music,
/// whose page shows the measured loudness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn studio_voice_sample_and_a_job_with_music_in_chromium() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let library = temp.path().join("music");
    std::fs::create_dir_all(&library).unwrap();
    std::fs::write(library.join("harbour-theme.wav"), chord_wav(4.0)).unwrap();
    let library = library.display().to_string();
    // A cloud voice provider, so the picker lists its voices with their price and sample.
    let elevenlabs = platform::ProviderFake::start("elevenlabs_fake.py");
    let server = Server::start(
        &data,
        &[
            ("REELSMITH__MUSIC__LIBRARY", &library),
            (
                "REELSMITH__PROVIDERS__ELEVENLABS__KEY",
                "el-e2e-key-not-real",
            ),
            (
                "REELSMITH__PROVIDERS__ELEVENLABS__BASE_URL",
                &elevenlabs.base,
            ),
        ],
        &[],
    )
    .await;
    let email = "sound-web@example.org";
    server
        .client()
        .sign_up_and_in(&data, email, "soundweb")
        .await;
    let args = vec![email.to_owned(), platform::PASSWORD.to_owned()];
    run_browser_script(&server, "sound.mjs", args).await;
}

/// The look in the studio (issue 25): `tests/web/look.mjs` opens the caption style, whose font
/// list is the server's installed fonts and whose preview is a frame drawn by the renderer; a red
/// caption colour turns the preview's captions red (read from its pixels), and a job submitted
/// with that look stores exactly that caption style and transition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caption_style_preview_and_a_job_with_that_look_in_chromium() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &[]).await;
    let email = "look-web@example.org";
    server
        .client()
        .sign_up_and_in(&data, email, "lookweb")
        .await;
    let args = vec![email.to_owned(), platform::PASSWORD.to_owned()];
    run_browser_script(&server, "look.mjs", args).await;
}

/// Paying for it in the studio (issue 18): the server sells through the local Stripe
/// (`tests/fakes/billing/stripe_fake.py`, faithful to the official client); `tests/web/billing.mjs`
/// reads the public prices, is told when Stripe is down, then buys a credit pack through the
/// fake's hosted page and finds the credits and the receipt on the Billing page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_3_purchase_from_the_studio_through_the_hosted_checkout_in_chromium() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    struct Fake(std::process::Child);
    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let root = workspace();
    let mut child = Command::new("python3")
        .arg(root.join("tests/fakes/billing/stripe_fake.py"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let fake = Fake(child);
    let port: u16 = line.trim().strip_prefix("READY ").unwrap().parse().unwrap();
    let stripe = format!("http://127.0.0.1:{port}");
    let whsec = "whsec_e2e_0f3c";

    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("reelsmith.toml"),
        format!(
            "[billing]\nprocessor = \"stripe\"\n\n[billing.stripe]\nsecret_key = \"sk_test_e2e\"\n\
             webhook_secret = \"{whsec}\"\napi_base = \"{stripe}\"\n\n[[billing.packs]]\n\
             id = \"pack-500\"\ncredits = 500\nprice_cents = 900\nstripe_price = \"price_pack\"\n"
        ),
    )
    .unwrap();
    let server = Server::start(&data, &[], &[]).await;
    let email = "buyer-e2e@example.org";
    server
        .client()
        .sign_up_and_in(&data, email, "buyere2e")
        .await;
    let config = serde_json::json!({
        "webhook_url": format!("{}/api/v1/billing/webhooks/stripe", server.base),
        "webhook_secret": whsec,
        "prices": { "price_pack": { "unit_amount": 900, "currency": "usd", "recurring": null } },
    });
    let r = reqwest::Client::new()
        .post(format!("{stripe}/__fake/config"))
        .header("content-type", "application/json")
        .body(config.to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let args = vec![email.to_owned(), platform::PASSWORD.to_owned(), stripe];
    run_browser_script(&server, "billing.mjs", args).await;
    drop(fake);
}

/// The storyboard in the studio (issue 25), against the fal and Pexels fakes:
/// `tests/web/storyboard.mjs` writes a script, opens it as a storyboard, replaces a scene's
/// picture with an upload and another's with a Pexels photo, moves a scene with the keyboard,
/// sees the quote drop, renders, and checks the scene order, the charge and the photo's credit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storyboard_edit_and_render_in_chromium() {
    let fake = platform::ProviderFake::start("fal_fake.py");
    let pexels = platform::ProviderFake::start("../stock/pexels_fake.py");
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(
        &data,
        &[
            ("REELSMITH__PROVIDERS__FAL__KEY", "fal-e2e-key-not-real"),
            ("REELSMITH__PROVIDERS__FAL__BASE_URL", &fake.base),
            ("REELSMITH__PROVIDERS__POLL_SECONDS", "1"),
            ("REELSMITH__STOCK__PEXELS_KEY", "sk-test-SECRET-0123456789"),
            ("REELSMITH__STOCK__PEXELS_BASE_URL", &pexels.base),
        ],
        &[],
    )
    .await;
    let email = "storyboard-web@example.org";
    let mut api = server.client();
    api.sign_up_and_in(&data, email, "storyboardweb").await;
    let consent = api
        .send(api.request(reqwest::Method::PUT, "/api/v1/me/consents/fal"))
        .await;
    assert!(consent.status < 300, "consent: {}", consent.text());
    let consent = api
        .send(api.request(reqwest::Method::PUT, "/api/v1/me/consents/pexels"))
        .await;
    assert!(consent.status < 300, "consent: {}", consent.text());
    let args = vec![email.to_owned(), platform::PASSWORD.to_owned()];
    run_browser_script(&server, "storyboard.mjs", args).await;
}

/// Presets and batches in the studio (issue 25): `tests/web/batches.mjs` saves a preset from the
/// Create form, uploads a CSV of two scripts on the batch page with it, and follows the batch's
/// progress page. The jobs are the studio engine's at 480p; the test does not wait for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn studio_preset_and_csv_batch_in_chromium() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &[]).await;
    let email = "batches-web@example.org";
    let mut api = server.client();
    api.sign_up_and_in(&data, email, "batchesweb").await;
    let args = vec![email.to_owned(), platform::PASSWORD.to_owned()];
    run_browser_script(&server, "batches.mjs", args).await;
}

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
/// the picker, previews a track of the operator's library, and renders a job with that music,
/// whose page shows the measured loudness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn studio_voice_sample_and_a_job_with_music_in_chromium() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let library = temp.path().join("music");
    std::fs::create_dir_all(&library).unwrap();
    std::fs::write(library.join("harbour-theme.wav"), chord_wav(4.0)).unwrap();
    let library = library.display().to_string();
    let server = Server::start(&data, &[("REELSMITH__MUSIC__LIBRARY", &library)], &[]).await;
    let email = "sound-web@example.org";
    server
        .client()
        .sign_up_and_in(&data, email, "soundweb")
        .await;
    let args = vec![email.to_owned(), platform::PASSWORD.to_owned()];
    run_browser_script(&server, "sound.mjs", args).await;
}

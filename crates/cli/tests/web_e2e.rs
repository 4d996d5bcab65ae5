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

/// Sign-in with an identity provider in a real browser (P-ACC-4): a real OpenID provider (npm
/// `oidc-provider`, tests/oidc/provider.mjs) on loopback, wired in through `[[oidc]]` in the
/// data folder's reelsmith.toml; `tests/web/oidc.mjs` signs in at the provider's own login page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "unfinished: Chromium reaches the provider and submits its login form but is not sent back to /auth/oidc/finish within 15 s; run with --ignored"]
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
}

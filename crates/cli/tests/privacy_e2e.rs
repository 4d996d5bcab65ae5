//! Privacy through the real binary on loopback: pausing processing holds a queued job until it
//! is resumed (P-RIGHTS-4); `reelsmith retention` reports (`--dry-run`) and applies the
//! retention policy (P-RET-2); the operator's commands for policy versions (P-COMM-2), product
//! news with its unsubscribe link (P-COMM-1), rights requests (P-RIGHTS-5) and breach notices
//! (P-COMM-3).

mod platform;

use std::process::Command;
use std::time::Duration;

use platform::{files_under, photo, Server};
use serde_json::{json, Value};

async fn set_paused(api: &platform::Api, paused: bool) -> Value {
    let reply = api
        .send(
            api.request(reqwest::Method::PUT, "/api/v1/me/processing")
                .header("content-type", "application/json")
                .body(json!({ "paused": paused }).to_string()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_rights_4_a_paused_accounts_queued_job_waits_until_processing_resumes() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &[]).await;
    let mut alice = server.client();
    alice
        .sign_up_and_in(&data, "alice@example.org", "alice")
        .await;
    assert_eq!(
        alice.get("/api/v1/me").await.json()["processing_paused"],
        false
    );
    let upload = alice
        .upload("harbour.jpg", "image/jpeg", &photo(temp.path()))
        .await;

    let me = set_paused(&alice, true).await;
    assert_eq!(me["processing_paused"], true);
    assert_eq!(
        alice.get("/api/v1/me").await.json()["processing_paused"],
        true
    );
    let submitted = alice
        .submit(
            &json!({ "script": "A quiet harbour at dawn.", "media": [upload], "resolution": "480p" }),
            None,
        )
        .await;
    assert_eq!(submitted.status, 201, "{}", submitted.text());
    let job_id = submitted.json()["id"].as_str().unwrap().to_owned();

    // The workers poll every half second: many polls later the job still waits, untouched.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let job = alice.job(&job_id).await;
    assert_eq!(job["status"], "queued", "{job}");
    assert_eq!(job["attempts"].as_i64().unwrap_or(0), 0, "{job}");
    assert!(
        files_under(&data.join("media"))
            .iter()
            .all(|f| !f.starts_with("jobs")),
        "nothing was rendered"
    );

    let me = set_paused(&alice, false).await;
    assert_eq!(me["processing_paused"], false);
    let events = alice.follow_events(&job_id).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert!(kinds.contains(&"started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"succeeded"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_ret_2_cli_retention_dry_run_reports_and_deletes_nothing_then_applies() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut server = Server::start(&data, &[], &["--no-workers"]).await;
    let mut alice = server.client();
    alice.sign_up_and_in(&data, "bo@example.org", "bobo").await;
    let upload = alice
        .upload("harbour.jpg", "image/jpeg", &photo(temp.path()))
        .await;
    let submitted = alice
        .submit(
            &json!({ "script": "A quiet harbour at dawn.", "media": [upload] }),
            None,
        )
        .await;
    let job_id = submitted.json()["id"].as_str().unwrap().to_owned();
    // The job ends (cancelled: no worker runs here), so under "until the job ends" the upload
    // is due.
    let cancel = alice
        .post_json(&format!("/api/v1/jobs/{job_id}/cancel"), &json!({}))
        .await;
    assert!(cancel.status < 300, "{}", cancel.text());
    server.kill();
    let media_before = files_under(&data.join("media"));
    // The upload, beside the deployment's marker (crates/cli/src/deployment.rs).
    let objects = media_before
        .iter()
        .filter(|f| *f != reelsmith_store::DEPLOYMENT_MARKER_KEY)
        .count();
    assert_eq!(objects, 1, "{media_before:?}");

    let run = |dry_run: bool| {
        let mut cmd = Command::new(platform::bin());
        cmd.arg("retention").arg("--data").arg(&data);
        if dry_run {
            cmd.arg("--dry-run");
        }
        cmd.env("REELSMITH__RETENTION__UPLOADS", "until_job_ends")
            .env("RUST_LOG", "warn")
            .output()
            .expect("the binary runs")
    };
    let dry = run(true);
    assert!(dry.status.success(), "{dry:?}");
    let report: Value = serde_json::from_slice(&dry.stdout).expect("the report is JSON");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["uploads"]["policy"], "until_job_ends");
    assert_eq!(report["uploads"]["deleted"], json!([upload]));
    assert_eq!(report["uploads"]["objects"].as_array().unwrap().len(), 1);
    assert_eq!(
        files_under(&data.join("media")),
        media_before,
        "nothing deleted"
    );

    let real = run(false);
    assert!(real.status.success(), "{real:?}");
    let applied: Value = serde_json::from_slice(&real.stdout).unwrap();
    assert_eq!(applied["dry_run"], false);
    assert_eq!(
        applied["uploads"], report["uploads"],
        "it did what the dry run said"
    );
    // Only the deployment's marker is left (crates/cli/src/deployment.rs).
    assert_eq!(
        files_under(&data.join("media")),
        vec![reelsmith_store::DEPLOYMENT_MARKER_KEY.to_owned()]
    );
}

/// Runs `reelsmith <args> --data <data>`; returns (success, stdout JSON or Null, stderr).
fn admin(data: &std::path::Path, args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(platform::bin())
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn latest_to(data: &std::path::Path, email: &str) -> Option<reelsmith_mail::ReceivedMessage> {
    reelsmith_mail::latest_message_to(&data.join("outbox"), email).expect("the outbox reads")
}

fn job_spec() -> Value {
    json!({ "script": "A quiet harbour at dawn.", "resolution": "480p" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_comm_2_a_material_policy_version_is_emailed_and_accepted_before_the_next_job() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &["--no-workers"]).await;
    let mut alice = server.client();
    alice.sign_up_and_in(&data, "al@example.org", "alal").await;
    let mut bob = server.client();
    bob.sign_up_and_in(&data, "bob@example.org", "bobby").await;
    // Nothing was published yet: the configured version is in force and nothing is pending.
    let before = alice.get("/api/v1/policies").await.json();
    assert_eq!(before["privacy"]["published_at"], Value::Null, "{before}");
    assert_eq!(
        alice.get("/api/v1/me/policies").await.json()["pending"],
        json!([])
    );

    let summary = "Videos are now kept 30 days after they are made.";
    let (ok, published, err) = admin(
        &data,
        &[
            "policy",
            "publish",
            "--kind",
            "privacy",
            "--version",
            "2026-12-01",
            "--summary",
            summary,
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(published["material"], true);
    assert_eq!(published["notified"], 2, "{published}");
    for email in ["al@example.org", "bob@example.org"] {
        let mail = latest_to(&data, email).expect("a notice by email");
        assert_eq!(mail.subject, "We updated the Reelsmith privacy notice");
        assert!(mail.text_body.contains("2026-12-01"), "{}", mail.text_body);
        assert!(mail.text_body.contains(summary), "{}", mail.text_body);
        assert!(mail.text_body.contains("/privacy"), "{}", mail.text_body);
    }

    // The change applies to Alice only once she accepts it: until then no new job starts.
    let refused = alice.submit(&job_spec(), None).await;
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert_eq!(refused.json()["code"], "policy.acceptance_required");
    assert_eq!(alice.get("/api/v1/jobs").await.json(), json!([]));
    let mine = alice.get("/api/v1/me/policies").await.json();
    assert_eq!(mine["pending"][0]["version"], "2026-12-01", "{mine}");
    assert_eq!(mine["pending"][0]["summary"], summary);
    let page = alice.get("/privacy").await.text();
    assert!(page.contains("2026-12-01") && page.contains(summary));

    let stale = alice
        .post_json(
            "/api/v1/me/policies/accept",
            &json!({ "kind": "privacy", "version": "1999-01-01" }),
        )
        .await;
    assert_eq!(stale.status, 404, "{}", stale.text());
    assert_eq!(stale.json()["code"], "policy.unknown");
    let accepted = alice
        .post_json(
            "/api/v1/me/policies/accept",
            &json!({ "kind": "privacy", "version": "2026-12-01" }),
        )
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    assert_eq!(accepted.json()["pending"], json!([]));
    assert_eq!(accepted.json()["accepted"][0]["version"], "2026-12-01");
    let submitted = alice.submit(&job_spec(), None).await;
    assert_eq!(submitted.status, 201, "{}", submitted.text());
    // Bob has not accepted: still refused. Consents now record the new version.
    assert_eq!(bob.submit(&job_spec(), None).await.status, 409);
    assert_eq!(
        bob.get("/api/v1/providers").await.json()["policy_version"],
        "2026-12-01"
    );

    // Accepting a version that was replaced since is refused: it is no longer what applies.
    let (ok, minor, err) = admin(
        &data,
        &[
            "policy",
            "publish",
            "--kind",
            "privacy",
            "--version",
            "2026-12-02",
            "--summary",
            "A typo fixed.",
            "--minor",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(minor["notified"], 0, "a minor version is not emailed");
    let replaced = bob
        .post_json(
            "/api/v1/me/policies/accept",
            &json!({ "kind": "privacy", "version": "2026-12-01" }),
        )
        .await;
    assert_eq!(replaced.status, 409, "{}", replaced.text());
    assert_eq!(replaced.json()["code"], "policy.not_current");
    // Alice accepted the material version; the minor one asks nothing of her.
    assert_eq!(
        alice.get("/api/v1/me/policies").await.json()["pending"],
        json!([])
    );
    // Someone signing up now accepts what is current and has nothing pending.
    let mut cleo = server.client();
    cleo.sign_up_and_in(&data, "cleo@example.org", "cleo").await;
    let cleo_policies = cleo.get("/api/v1/me/policies").await.json();
    assert_eq!(cleo_policies["pending"], json!([]));
    assert_eq!(cleo_policies["accepted"][0]["version"], "2026-12-02");
    let (ok, list, _) = admin(&data, &["policy", "list"]);
    assert!(ok);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list[1]["notified"], 2, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_comm_1_news_goes_only_to_opted_in_users_with_an_unsubscribe_link_that_needs_no_sign_in()
{
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data, &[], &["--no-workers"]).await;
    let mut alice = server.client();
    alice.sign_up_and_in(&data, "al@example.org", "alal").await;
    let mut bob = server.client();
    bob.sign_up_and_in(&data, "bob@example.org", "bobby").await;
    assert_eq!(
        alice.get("/api/v1/me").await.json()["marketing_opt_in"],
        false
    );
    let opted = alice
        .send(
            alice
                .request(reqwest::Method::PUT, "/api/v1/me/marketing")
                .header("content-type", "application/json")
                .body(json!({ "opt_in": true }).to_string()),
        )
        .await;
    assert_eq!(opted.status, 200, "{}", opted.text());
    assert_eq!(opted.json()["marketing_opt_in"], true);

    let body = temp.path().join("news.txt");
    std::fs::write(&body, "Hello {name},\n\nReelsmith now renders 4K.").unwrap();
    let send = || {
        admin(
            &data,
            &[
                "news",
                "send",
                "--subject",
                "What's new",
                "--body-file",
                body.to_str().unwrap(),
            ],
        )
    };
    let (ok, report, err) = send();
    assert!(ok, "{err}");
    assert_eq!(report["recipients"], 1, "{report}");
    assert_eq!(report["sent"], 1);
    let news = latest_to(&data, "al@example.org").unwrap();
    assert_eq!(news.subject, "What's new");
    assert!(news.text_body.contains("Hello alal"), "{}", news.text_body);
    assert_ne!(
        latest_to(&data, "bob@example.org").unwrap().subject,
        "What's new",
        "Bob never asked for news"
    );
    let raw = std::fs::read_to_string(&news.path).unwrap();
    assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    let url = news
        .text_body
        .split_whitespace()
        .find(|w| w.contains("/unsubscribe?token="))
        .expect("an unsubscribe link")
        .to_owned();
    assert!(raw.contains(&format!("List-Unsubscribe: <{url}>")), "{raw}");
    let path = &url[url.find("/unsubscribe").unwrap()..];

    // Without any session: the link asks first (mail scanners follow links)...
    let stranger = server.client();
    let ask = stranger.get(path).await;
    assert_eq!(ask.status, 200);
    assert!(ask.text().contains("unsubscribe-form"));
    assert_eq!(
        alice.get("/api/v1/me").await.json()["marketing_opt_in"],
        true
    );
    // ...and the one-click POST (RFC 8058), as a mail provider sends it, unsubscribes.
    let one_click = stranger
        .send(
            stranger
                .request(reqwest::Method::POST, path)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site")
                .body("List-Unsubscribe=One-Click"),
        )
        .await;
    assert_eq!(one_click.status, 200, "{}", one_click.text());
    assert!(one_click.text().contains("unsubscribe-done"));
    assert_eq!(
        alice.get("/api/v1/me").await.json()["marketing_opt_in"],
        false
    );
    let (ok, report, _) = send();
    assert!(ok);
    assert_eq!(report["recipients"], 0, "nobody asked for news any more");

    let forged = stranger
        .send(
            stranger
                .request(reqwest::Method::POST, "/unsubscribe")
                .header("content-type", "application/x-www-form-urlencoded")
                .body("token=not-a-token"),
        )
        .await;
    assert_eq!(forged.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_rights_5_requests_are_due_in_30_days_and_fulfilled_only_after_an_identity_check() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut server = Server::start(&data, &[], &["--no-workers"]).await;
    let mut alice = server.client();
    alice.sign_up_and_in(&data, "al@example.org", "alal").await;
    let alice_id = alice.get("/api/v1/me").await.json()["id"].clone();
    server.kill();

    let (ok, request, err) = admin(
        &data,
        &[
            "rights",
            "add",
            "--email",
            "AL@example.org",
            "--kind",
            "erasure",
            "--received",
            "2026-10-01",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(request["account"], alice_id, "linked to the account");
    assert_eq!(request["received_at"], "2026-10-01T00:00:00.000Z");
    assert_eq!(request["due_at"], "2026-10-31T00:00:00.000Z");
    assert_eq!(request["status"], "open");
    let id = request["id"].as_str().unwrap().to_owned();
    let (ok, _, _) = admin(
        &data,
        &[
            "rights",
            "add",
            "--email",
            "x@example.org",
            "--kind",
            "access",
            "--received",
            "2099-01-01",
        ],
    );
    assert!(ok);
    let (_, open, _) = admin(&data, &["rights", "list"]);
    assert_eq!(open[0]["id"], id.as_str(), "soonest due first: {open}");
    assert_eq!(open[0]["overdue"], true);
    assert_eq!(open[1]["overdue"], false);

    let (ok, _, err) = admin(&data, &["rights", "close", &id, "--outcome", "fulfilled"]);
    assert!(!ok, "no fulfilment before the identity check");
    assert!(err.contains("identity"), "{err}");
    let (ok, checked, err) = admin(
        &data,
        &[
            "rights",
            "verify",
            &id,
            "--method",
            "answered the code sent to the account's address",
        ],
    );
    assert!(ok, "{err}");
    assert!(checked["identity_checked_at"].is_string());
    let (ok, closed, err) = admin(
        &data,
        &[
            "rights",
            "close",
            &id,
            "--outcome",
            "fulfilled",
            "--note",
            "account deleted",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(closed["status"], "fulfilled");
    let (ok, _, err) = admin(&data, &["rights", "close", &id, "--outcome", "refused"]);
    assert!(!ok && err.contains("closed"), "{err}");
    let (_, open, _) = admin(&data, &["rights", "list"]);
    assert_eq!(open.as_array().unwrap().len(), 1);
    let (_, all, _) = admin(&data, &["rights", "list", "--all"]);
    assert_eq!(all.as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_comm_3_a_breach_notice_reaches_the_affected_users_and_each_send_is_recorded() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut server = Server::start(&data, &[], &["--no-workers"]).await;
    let mut ids = Vec::new();
    for (email, name) in [
        ("al@example.org", "alal"),
        ("bob@example.org", "bobby"),
        ("cleo@example.org", "cleo"),
    ] {
        let mut api = server.client();
        api.sign_up_and_in(&data, email, name).await;
        ids.push(
            api.get("/api/v1/me").await.json()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    server.kill();
    let affected = temp.path().join("affected.txt");
    std::fs::write(
        &affected,
        format!("al@example.org\n{}\nnobody@example.org\n", ids[1]),
    )
    .unwrap();
    let template = temp.path().join("notice.txt");
    std::fs::write(
        &template,
        "Dear {name},\n\nOn 20 November an attacker read the {product} job table.",
    )
    .unwrap();
    let discovered = "2026-11-20T08:00:00Z";
    let (ok, report, err) = admin(
        &data,
        &[
            "breach",
            "notify",
            "--subject",
            "Security incident",
            "--template",
            template.to_str().unwrap(),
            "--users",
            affected.to_str().unwrap(),
            "--discovered",
            discovered,
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(report["sent"], 2, "{report}");
    assert_eq!(report["unknown"], json!(["nobody@example.org"]));
    for (email, name) in [("al@example.org", "alal"), ("bob@example.org", "bobby")] {
        let mail = latest_to(&data, email).unwrap();
        assert_eq!(mail.subject, "Security incident");
        assert!(
            mail.text_body.contains(&format!("Dear {name},")),
            "{}",
            mail.text_body
        );
        assert!(mail.text_body.contains("the Reelsmith job table"));
    }
    assert_ne!(
        latest_to(&data, "cleo@example.org").unwrap().subject,
        "Security incident"
    );

    let id = report["id"].as_str().unwrap();
    let (ok, shown, _) = admin(&data, &["breach", "show", id]);
    assert!(ok);
    let sends = shown["sends"].as_array().unwrap();
    assert_eq!(sends.len(), 2, "{shown}");
    let mut recorded: Vec<&str> = sends
        .iter()
        .map(|s| s["user_id"].as_str().unwrap())
        .collect();
    recorded.sort();
    let mut expected = vec![ids[0].as_str(), ids[1].as_str()];
    expected.sort();
    assert_eq!(recorded, expected);
    assert!(sends
        .iter()
        .all(|s| s["status"] == "sent" && s["sent_at"].is_string()));
    let (_, list, _) = admin(&data, &["breach", "list"]);
    assert_eq!(list[0]["sent"], 2);
    assert_eq!(list[0]["discovered_at"], "2026-11-20T08:00:00.000Z");
    assert!(list[0]["hours_from_discovery"].as_f64().unwrap() > 0.0);
    let (ok, _, err) = admin(
        &data,
        &[
            "breach",
            "notify",
            "--subject",
            "x",
            "--template",
            template.to_str().unwrap(),
        ],
    );
    assert!(
        !ok && err.contains("--all-users"),
        "who is affected must be said: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_sec_6_the_operators_rights_commands_write_admin_audit_entries() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut server = Server::start(&data, &[], &["--no-workers"]).await;
    let mut bea = server.client();
    bea.sign_up_and_in(&data, "bea@example.org", "bea").await;
    let bea_id = bea.get("/api/v1/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.kill();

    let (ok, request, err) = admin(
        &data,
        &[
            "rights",
            "add",
            "--email",
            "bea@example.org",
            "--kind",
            "access",
        ],
    );
    assert!(ok, "{err}");
    let id = request["id"].as_str().unwrap().to_owned();
    let (ok, _, err) = admin(
        &data,
        &["rights", "verify", &id, "--method", "code to the address"],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = admin(&data, &["rights", "close", &id, "--outcome", "fulfilled"]);
    assert!(ok, "{err}");
    // A refused command changes nothing and is not recorded as done.
    let (ok, _, _) = admin(&data, &["rights", "close", &id, "--outcome", "refused"]);
    assert!(!ok);

    let db = reelsmith_store::Db::open_sqlite(&data.join("reelsmith.db"), 1)
        .await
        .unwrap();
    let entries = db.audit_for_user(&bea_id, 100, None).await.unwrap();
    let admin_entries: Vec<_> = entries
        .iter()
        .filter(|e| e.kind.starts_with("admin."))
        .collect();
    let mut kinds: Vec<&str> = admin_entries.iter().map(|e| e.kind.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        vec![
            "admin.rights_identity_checked",
            "admin.rights_request_closed",
            "admin.rights_request_recorded",
        ],
        "{entries:?}"
    );
    for entry in &admin_entries {
        assert_eq!(
            entry.user_agent.as_deref(),
            Some("reelsmith-cli"),
            "{entry:?}"
        );
        assert_eq!(
            entry.detail.as_ref().unwrap()["request_id"],
            id.as_str(),
            "{entry:?}"
        );
    }
    db.close().await;
}

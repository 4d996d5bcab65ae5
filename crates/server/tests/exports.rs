//! The account export (P-RIGHTS-1) over the API, and its audit entries (P-SEC-6). Every case runs
//! twice: SQLite with a local media folder, and PostgreSQL with S3 (`moto_server`), the throwaway
//! services of the store's suites.

mod common;
#[path = "../../store/tests/support/mod.rs"]
mod support;
#[macro_use]
mod backends;

use std::io::Read;

use axum::http::{Method, StatusCode};
use common::*;
use reelsmith_server::{output_key, Output};
use reelsmith_store::{export_key, export_prefix, now_ms, RunLimits};
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;

on_both!(
    p_rights_1_export_zip_holds_the_script_and_uploads_byte_for_byte,
    p_rights_1_another_user_cannot_fetch_the_export_link,
    p_rights_1_an_expired_export_link_answers_410,
    p_rights_1_one_export_builds_at_a_time,
    p_rights_1_a_failed_build_is_marked_failed_and_leaves_no_archive,
    p_sec_6_export_request_and_download_are_audit_logged,
    p_acc_4_the_export_lists_linked_sign_in_identities_and_no_token,
    p_rights_1_the_export_holds_presets_and_batches,
);

/// Plays the worker: claims the job and records a finished revision with `video` and captions.
async fn finish_with_video(t: &TestApp, job_id: &str, video: &[u8]) -> i64 {
    let claimed = t
        .state
        .db
        .claim_next_job("test-worker", 60_000, RunLimits::default(), now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.job.id, job_id);
    let revision = claimed.lease.revision;
    let owner = t
        .state
        .media
        .for_owner(&claimed.job.owner_id)
        .await
        .unwrap();
    let key = output_key(job_id, revision, Output::Video);
    owner
        .put_bytes(&key, bytes::Bytes::copy_from_slice(video))
        .await
        .unwrap();
    let vtt = output_key(job_id, revision, Output::CaptionsVtt);
    owner
        .put_bytes(
            &vtt,
            bytes::Bytes::from(format!("WEBVTT\n\n00:00.000 --> 00:01.000\nr{revision}\n")),
        )
        .await
        .unwrap();
    let usage = json!({ "engine": "studio", "output_seconds": 1.0 });
    t.state
        .db
        .finish_job(&claimed.lease, &[key, vtt], &usage, now_ms())
        .await
        .unwrap();
    revision
}

/// Asks for an export and waits until it is no longer building: its list entry.
async fn export_and_wait(t: &TestApp, auth: &Auth) -> Value {
    let created = t.start_export(auth).await;
    assert_eq!(created["status"], "building");
    assert!(created["expires_at"].is_null() && created["download_url"].is_null());
    assert!(created["created_at"].as_str().is_some());
    let id = created["id"].as_str().unwrap().to_owned();
    t.export_when_built(auth, &id).await
}

fn unzip(bytes: &[u8]) -> zip::ZipArchive<std::io::Cursor<Vec<u8>>> {
    zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a ZIP archive")
}

fn entry(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Vec<u8> {
    let mut file = archive
        .by_name(name)
        .unwrap_or_else(|e| panic!("{name} in the archive: {e}"));
    let mut out = Vec::new();
    file.read_to_end(&mut out).unwrap();
    out
}

fn json_entry(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Value {
    serde_json::from_slice(&entry(archive, name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

async fn user_id(t: &TestApp, email: &str) -> String {
    t.state.db.user_by_email(email).await.unwrap().unwrap().id
}

async fn p_rights_1_export_zip_holds_the_script_and_uploads_byte_for_byte(t: TestApp) {
    let auth = Auth::Cookie(t.signed_in_user("iris@example.org", "iris").await);
    // What the privacy tools keep about her: an accepted policy version, a rights request.
    let db = &t.state.db;
    let iris = db.user_by_email("iris@example.org").await.unwrap().unwrap();
    db.publish_policy(
        reelsmith_store::PolicyKind::Privacy,
        "2026-12-01",
        "changed",
        "",
        true,
        1,
    )
    .await
    .unwrap();
    db.accept_policy(
        &iris.id,
        reelsmith_store::PolicyKind::Privacy,
        "2026-12-01",
        2,
    )
    .await
    .unwrap();
    db.record_rights_request(
        "iris@example.org",
        reelsmith_store::RightsKind::Access,
        3,
        "",
    )
    .await
    .unwrap();
    // A photo spanning several sealed segments, and a small one.
    let big = t
        .upload(&auth, "noise.jpg", "image/jpeg", &noisy_jpeg(400, 300))
        .await
        .json();
    let small = t
        .upload(&auth, "small.jpg", "image/jpeg", &jpeg(64, 40))
        .await
        .json();
    let (big_id, small_id) = (big["id"].as_str().unwrap(), small["id"].as_str().unwrap());
    // Scripts with what a careless copy would change: non-ASCII, doubled spaces, a trailing
    // newline, Windows line ends.
    let script_1 =
        "A harbour at dawn — the boats leave.  Ünïcode «quotes».\r\n\r\nSecond  paragraph.\n";
    let script_2 = "Revised: a harbour at dusk.\tTabs stay.  ";
    let job = t
        .json(
            Method::POST,
            "/api/v1/jobs",
            &auth,
            json!({ "script": script_1, "media": [big_id, small_id], "seed": 7 }),
        )
        .await;
    assert_eq!(
        job.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&job.body)
    );
    let job_id = job.json()["id"].as_str().unwrap().to_owned();
    let video_1: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(finish_with_video(&t, &job_id, &video_1).await, 1);
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{job_id}/revisions"),
            &auth,
            json!({ "script": script_2, "media": [small_id], "seed": 8 }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let video_2: Vec<u8> = (0..70_000u32).map(|i| (i * 13 % 241) as u8).collect();
    assert_eq!(finish_with_video(&t, &job_id, &video_2).await, 2);
    // Consents (one withdrawn), transfers (one of the job, one of no job) and a breach notice,
    // so the documents below are compared with real contents, not only their shape.
    db.grant_consent(&iris.id, "fal", "2026-12-01", 10)
        .await
        .unwrap();
    assert!(db.withdraw_consent(&iris.id, "fal", 20).await.unwrap());
    db.grant_consent(&iris.id, "openai", "2026-12-01", 30)
        .await
        .unwrap();
    let shot = db
        .log_transfer(
            &reelsmith_store::NewTransfer {
                job_id: job_id.clone(),
                revision: 1,
                user_id: iris.id.clone(),
                provider: "fal".into(),
                model: "fal-ai/veo3.1".into(),
                purpose: "shot".into(),
                sent: json!({ "prompt_chars": 42, "image": null }),
            },
            40,
        )
        .await
        .unwrap();
    db.transfer_accepted(&shot, "req-77", 41).await.unwrap();
    let script_transfer = db
        .log_account_transfer(
            &iris.id,
            "openai",
            "chat",
            "script",
            &json!({ "topic_chars": 9 }),
            50,
        )
        .await
        .unwrap();
    let notice = db
        .create_breach_notice(
            "Security incident",
            "We found a problem on {date}.",
            Some(60),
            61,
        )
        .await
        .unwrap();
    db.record_breach_send(&notice.id, &iris.id, None, 62)
        .await
        .unwrap();

    let item = export_and_wait(&t, &auth).await;
    assert_eq!(item["status"], "ready", "{item}");
    assert!(item["expires_at"].as_str().is_some(), "{item}");
    assert_eq!(item["expired"], false);
    let url = item["download_url"].as_str().expect("a download link");
    let got = t.get(url, &auth).await;
    assert_eq!(
        got.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&got.body)
    );
    assert_eq!(got.header("content-type"), "application/zip");
    let disposition = got.header("content-disposition");
    assert!(
        disposition.starts_with("attachment; filename=\"reelsmith-export-")
            && disposition.ends_with(".zip\""),
        "{disposition}"
    );
    assert_eq!(item["size"].as_u64(), Some(got.body.len() as u64));
    let mut zip = unzip(&got.body);

    // The scripts, byte for byte, for every revision.
    assert_eq!(
        entry(&mut zip, &format!("scripts/{job_id}-r1.txt")),
        script_1.as_bytes()
    );
    assert_eq!(
        entry(&mut zip, &format!("scripts/{job_id}-r2.txt")),
        script_2.as_bytes()
    );
    // Each upload exactly as the content endpoint serves it.
    for id in [big_id, small_id] {
        let served = t.get(&format!("/api/v1/uploads/{id}/content"), &auth).await;
        assert_eq!(served.status, StatusCode::OK);
        assert_eq!(
            entry(&mut zip, &format!("uploads/{id}.jpg")),
            &served.body[..],
            "upload {id}"
        );
    }
    // Both revisions' videos and captions.
    assert_eq!(entry(&mut zip, &format!("videos/{job_id}-r1.mp4")), video_1);
    assert_eq!(entry(&mut zip, &format!("videos/{job_id}-r2.mp4")), video_2);
    let served = t.get(&format!("/api/v1/jobs/{job_id}/video"), &auth).await;
    assert_eq!(&served.body[..], &video_2[..]);
    assert!(entry(&mut zip, &format!("videos/{job_id}-r1.vtt")).ends_with(b"r1\n"));

    // The documents: every revision with its settings, usage and files.
    let jobs = json_entry(&mut zip, "jobs.json");
    let job = &jobs[0];
    assert_eq!(job["id"], job_id.as_str());
    assert_eq!(job["status"], "succeeded");
    let revisions = job["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0]["settings"]["script"], script_1);
    assert_eq!(revisions[0]["settings"]["media"], json!([big_id, small_id]));
    assert_eq!(revisions[1]["settings"]["seed"], 8);
    assert_eq!(revisions[1]["usage"]["engine"], "studio");
    assert!(revisions[0]["files"]
        .as_array()
        .unwrap()
        .contains(&json!(format!("videos/{job_id}-r1.mp4"))));
    let profile = json_entry(&mut zip, "profile.json");
    assert_eq!(profile["email"], "iris@example.org");
    assert_eq!(profile["username"], "iris");
    // The last-used settings, as `GET /me/preferences` shows them.
    let prefs = t.get("/api/v1/me/preferences", &auth).await.json();
    assert_eq!(profile["preferences"]["settings"], prefs["settings"]);
    assert!(profile["preferences"]["settings"].is_object(), "{profile}");
    let uploads = json_entry(&mut zip, "uploads.json");
    assert_eq!(uploads.as_array().unwrap().len(), 2);
    // The credits document is the ledger the API shows, entry for entry.
    let credits = json_entry(&mut zip, "credits.json");
    let api_credits = t.get("/api/v1/me/credits?limit=100", &auth).await.json();
    assert_eq!(credits["balance"], api_credits["balance"]);
    let summary = |ledger: &Value| -> Vec<(String, String, i64)> {
        ledger
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().unwrap().to_owned(),
                    e["kind"].as_str().unwrap().to_owned(),
                    e["amount"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(summary(&credits["ledger"]), summary(&api_credits["ledger"]));
    assert!(
        !summary(&credits["ledger"]).is_empty(),
        "the sign-up grant at least"
    );
    let consents = json_entry(&mut zip, "consents.json");
    let consents: Vec<(String, bool)> = consents
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["policy_version"], "2026-12-01");
            (
                c["provider"].as_str().unwrap().to_owned(),
                c["withdrawn_at"].is_string(),
            )
        })
        .collect();
    assert_eq!(consents.len(), 2, "{consents:?}");
    assert!(
        consents.contains(&("fal".to_owned(), true)),
        "the withdrawn one: {consents:?}"
    );
    assert!(
        consents.contains(&("openai".to_owned(), false)),
        "{consents:?}"
    );
    assert_eq!(
        json_entry(&mut zip, "policies.json")[0]["version"],
        "2026-12-01"
    );
    let notices = json_entry(&mut zip, "notices.json");
    assert_eq!(notices["rights_requests"][0]["kind"], "access", "{notices}");
    let breach = &notices["breach_notices"];
    assert_eq!(breach.as_array().unwrap().len(), 1, "{notices}");
    assert_eq!(breach[0]["notice_id"], json!(notice.id));
    assert_eq!(breach[0]["subject"], "Security incident");
    assert_eq!(breach[0]["status"], "sent");
    let transfers = json_entry(&mut zip, "transfers.json");
    let transfers = transfers.as_array().unwrap();
    assert_eq!(transfers.len(), 2, "{transfers:?}");
    let by_id = |id: &str| transfers.iter().find(|t| t["id"] == id).unwrap().clone();
    let shot = by_id(&shot);
    assert_eq!(
        (
            &shot["job_id"],
            &shot["provider"],
            &shot["status"],
            &shot["request_id"]
        ),
        (
            &json!(job_id),
            &json!("fal"),
            &json!("accepted"),
            &json!("req-77")
        )
    );
    assert_eq!(shot["sent"], json!({ "prompt_chars": 42, "image": null }));
    let script_row = by_id(&script_transfer);
    assert_eq!(script_row["job_id"], Value::Null);
    assert_eq!(script_row["purpose"], "script");
    assert_eq!(script_row["sent"], json!({ "topic_chars": 9 }));
    // The export's transfers are exactly the account's transfer log.
    let log = t.get("/api/v1/me/transfers?limit=100", &auth).await.json();
    let mut log_ids: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    let mut export_ids: Vec<&str> = transfers
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    log_ids.sort_unstable();
    export_ids.sort_unstable();
    assert_eq!(log_ids, export_ids);
    let audit = json_entry(&mut zip, "audit.json");
    let kinds: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"account.export_requested"), "{kinds:?}");
    assert!(!entry(&mut zip, "README.txt").is_empty());
    assert!(!entry(&mut zip, "sessions.json").is_empty());

    // No secret anywhere: no password hash, no session cookie.
    let cookie = match &auth {
        Auth::Cookie(c) => c.clone(),
        _ => unreachable!(),
    };
    for i in 0..zip.len() {
        let name = zip.by_index(i).unwrap().name().unwrap().to_string();
        if name.ends_with(".json") || name.ends_with(".txt") {
            let text = String::from_utf8_lossy(&entry(&mut zip, &name)).to_string();
            assert!(!text.contains("$argon2"), "{name} holds a password hash");
            assert!(!text.contains(&cookie), "{name} holds the session token");
            assert!(
                !text.contains("password_hash"),
                "{name} has a password field"
            );
        }
    }
}

async fn p_rights_1_another_user_cannot_fetch_the_export_link(t: TestApp) {
    let owner = Auth::Cookie(t.signed_in_user("juno@example.org", "juno").await);
    let other = Auth::Cookie(t.signed_in_user("kato@example.org", "kato").await);
    let item = export_and_wait(&t, &owner).await;
    let url = item["download_url"].as_str().expect("a download link");

    // Another account: 404, as for anything of someone else's, and the attempt is audited.
    t.get(url, &other)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(t
        .audit_kinds("kato@example.org")
        .await
        .iter()
        .any(|k| k == "access.denied"));
    let theirs = t.get("/api/v1/me/exports", &other).await.json();
    assert_eq!(theirs["items"], json!([]));
    // Nobody signed in: 401.
    t.get(url, &Auth::None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    // The owner's API token works like the session.
    let token = t
        .json(
            Method::POST,
            "/api/v1/tokens",
            &owner,
            json!({ "name": "export" }),
        )
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        t.get(url, &Auth::Bearer(token)).await.status,
        StatusCode::OK
    );
}

async fn p_rights_1_an_expired_export_link_answers_410(t: TestApp) {
    let auth = Auth::Cookie(t.signed_in_user("lena@example.org", "lena").await);
    let item = export_and_wait(&t, &auth).await;
    let url = item["download_url"].as_str().unwrap().to_owned();
    let hours = i64::from(t.state.config.retention.export_hours);
    assert_eq!(hours, 24, "the default lifetime");

    // Still valid just before the end of its lifetime.
    t.state.clock.advance(hours * HOUR - 60_000);
    assert_eq!(t.get(&url, &auth).await.status, StatusCode::OK);
    // Then gone: 410 with a stable code, and the list no longer offers the link.
    t.state.clock.advance(2 * 60_000);
    t.get(&url, &auth)
        .await
        .assert_problem(StatusCode::GONE, "export.expired");
    let list = t.get("/api/v1/me/exports", &auth).await.json();
    let listed = &list["items"][0];
    assert_eq!(listed["status"], "ready");
    assert_eq!(listed["expired"], true);
    assert!(listed["download_url"].is_null(), "{listed}");
}

async fn p_rights_1_one_export_builds_at_a_time(t: TestApp) {
    let auth = Auth::Cookie(t.signed_in_user("mira@example.org", "mira").await);
    let id = user_id(&t, "mira@example.org").await;
    // A build under way (recorded directly, so no builder finishes it during the test).
    let building = t.state.db.create_export(&id, now_ms()).await.unwrap();
    t.json(Method::POST, "/api/v1/me/exports", &auth, json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT, "export.in_progress");
    let url = format!("/api/v1/me/exports/{}/download", building.id);
    t.get(&url, &auth)
        .await
        .assert_problem(StatusCode::CONFLICT, "export.not_ready");
    // A build a stopped server left behind does not block the account for good.
    let stale_after = now_ms() + 7 * HOUR;
    let next = t.state.db.create_export(&id, stale_after).await.unwrap();
    let list = t.get("/api/v1/me/exports", &auth).await.json();
    assert_eq!(list["items"][0]["id"], next.id.as_str(), "newest first");
    assert_eq!(list["items"][1]["status"], "failed");
    assert_eq!(list["items"][1]["error"], "export.interrupted");
}

async fn p_rights_1_a_failed_build_is_marked_failed_and_leaves_no_archive(t: TestApp) {
    let auth = Auth::Cookie(t.signed_in_user("nell@example.org", "nell").await);
    let big = t
        .upload(&auth, "noise.jpg", "image/jpeg", &noisy_jpeg(400, 300))
        .await
        .json();
    let id = user_id(&t, "nell@example.org").await;
    // The upload's stored ciphertext was tampered with past its first segment: the build fails
    // part way through the archive, after it has written other files.
    let upload = t
        .state
        .db
        .upload_for_owner(&id, big["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let raw = t.state.media.raw();
    let mut sealed = raw.get_bytes(&upload.object_key).await.unwrap().to_vec();
    assert!(sealed.len() > 70_000, "spans segments");
    sealed[70_000] ^= 0x55;
    raw.put_bytes(&upload.object_key, sealed.into())
        .await
        .unwrap();

    let item = export_and_wait(&t, &auth).await;
    assert_eq!(item["status"], "failed", "{item}");
    assert_eq!(item["error"], "crypt.authentication_failed", "{item}");
    assert!(item["download_url"].is_null());
    let export_id = item["id"].as_str().unwrap();
    assert!(t
        .state
        .media
        .head(&export_key(&id, export_id))
        .await
        .unwrap()
        .is_none());
    assert!(t
        .state
        .media
        .list(&export_prefix(&id))
        .await
        .unwrap()
        .is_empty());
    t.get(&format!("/api/v1/me/exports/{export_id}/download"), &auth)
        .await
        .assert_problem(StatusCode::CONFLICT, "export.failed");

    // A failed build does not block the next request. An object that is simply gone from
    // storage does not fail it: the archive has everything else and says what is missing.
    t.state.media.delete(&upload.object_key).await.unwrap();
    let item = export_and_wait(&t, &auth).await;
    assert_eq!(item["status"], "ready", "{item}");
    let got = t.get(item["download_url"].as_str().unwrap(), &auth).await;
    let mut zip = unzip(&got.body);
    let missing = json_entry(&mut zip, "missing.json");
    assert_eq!(
        missing["missing"],
        json!([format!("uploads/{}.jpg", upload.id)])
    );
    assert!(zip.by_name(&format!("uploads/{}.jpg", upload.id)).is_err());
}

async fn p_sec_6_export_request_and_download_are_audit_logged(t: TestApp) {
    let auth = Auth::Cookie(t.signed_in_user("opal@example.org", "opal").await);
    let item = export_and_wait(&t, &auth).await;
    let export_id = item["id"].as_str().unwrap();
    let id = user_id(&t, "opal@example.org").await;
    let entries = |kind: &'static str| {
        let db = t.state.db.clone();
        let id = id.clone();
        async move {
            db.audit_for_user(&id, 100, None)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.kind == kind)
                .collect::<Vec<_>>()
        }
    };
    let requested = entries("account.export_requested").await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0].detail, Some(json!({ "export_id": export_id })));
    assert_eq!(
        requested[0].user_agent.as_deref(),
        Some("reelsmith-tests/1")
    );
    assert!(entries("account.export_downloaded").await.is_empty());

    let url = item["download_url"].as_str().unwrap();
    assert_eq!(t.get(url, &auth).await.status, StatusCode::OK);
    let downloaded = entries("account.export_downloaded").await;
    assert_eq!(downloaded.len(), 1);
    assert_eq!(
        downloaded[0].detail,
        Some(json!({ "export_id": export_id }))
    );
    // Both endpoints are in the OpenAPI document, for clients and the page.
    let doc = t.get("/api/openapi.json", &Auth::None).await.json();
    for path in ["/api/v1/me/exports", "/api/v1/me/exports/{id}/download"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
}

/// The providers an account signs in with are in its export (P-RIGHTS-1, P-ACC-4): provider,
/// subject, email and dates, exactly as linked; nothing else of the flow (nonce, PKCE verifier)
/// and another account's identity not at all.
async fn p_acc_4_the_export_lists_linked_sign_in_identities_and_no_token(t: TestApp) {
    let auth = Auth::Cookie(t.signed_in_user("lin@example.org", "lin").await);
    t.signed_in_user("other@example.org", "otherlin").await;
    let db = &t.state.db;
    let lin = user_id(&t, "lin@example.org").await;
    let other = user_id(&t, "other@example.org").await;
    let google = db
        .oidc_link(&lin, "google", "1098-lin", "lin@gmail.example", 1_000)
        .await
        .unwrap()
        .unwrap();
    db.oidc_identity_used(&google.id, "lin.new@gmail.example", 5_000)
        .await
        .unwrap();
    let github = db
        .oidc_link(&lin, "github", "4242", "lin@users.example", 2_000)
        .await
        .unwrap()
        .unwrap();
    db.oidc_link(
        &other,
        "github",
        "other-subject-777",
        "other@users.example",
        3_000,
    )
    .await
    .unwrap()
    .unwrap();
    // A sign-in under way holds secrets of the flow: none of them may reach the export.
    let nonce = "nonce-that-must-not-be-exported-0123456789";
    let verifier = "pkce-verifier-that-must-not-be-exported-0123456789";
    db.oidc_flow_create(&reelsmith_store::OidcFlow {
        state_hash: "flow-state-hash-not-exported".into(),
        provider: "google".into(),
        browser_hash: "browser-hash-not-exported".into(),
        nonce: nonce.into(),
        pkce_verifier: verifier.into(),
        link_user_id: Some(lin.clone()),
        created_at: now_ms(),
        expires_at: now_ms() + HOUR,
    })
    .await
    .unwrap();

    let item = export_and_wait(&t, &auth).await;
    assert_eq!(item["status"], "ready", "{item}");
    let got = t.get(item["download_url"].as_str().unwrap(), &auth).await;
    assert_eq!(got.status, StatusCode::OK);
    let mut zip = unzip(&got.body);
    let identities = json_entry(&mut zip, "identities.json");
    assert_eq!(
        identities,
        json!([
            { "id": google.id, "provider": "google", "subject": "1098-lin",
              "email": "lin.new@gmail.example", "linked_at": "1970-01-01T00:00:01.000Z",
              "last_used_at": "1970-01-01T00:00:05.000Z" },
            { "id": github.id, "provider": "github", "subject": "4242",
              "email": "lin@users.example", "linked_at": "1970-01-01T00:00:02.000Z",
              "last_used_at": "1970-01-01T00:00:02.000Z" },
        ])
    );
    let readme = String::from_utf8(entry(&mut zip, "README.txt")).unwrap();
    assert!(readme.contains("identities.json"), "{readme}");
    // Nothing of the flow nor of the other account, in any file of the archive.
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    assert!(names.len() > 5, "{names:?}");
    for name in names {
        let text = String::from_utf8_lossy(&entry(&mut zip, &name)).into_owned();
        for secret in [
            nonce,
            verifier,
            "flow-state-hash",
            "browser-hash",
            "other-subject",
            "other@users",
        ] {
            assert!(!text.contains(secret), "{name} holds {secret}");
        }
    }
}

/// Issue 25: the person's presets and batches are theirs to take (and only theirs).
/// POSTs `body` to `uri` and expects `201 Created`: the answer.
async fn created(t: &TestApp, auth: &Auth, uri: &str, body: Value) -> Value {
    let r = t.json(Method::POST, uri, auth, body).await;
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, StatusCode::CREATED, "{uri}: {text}");
    r.json()
}

async fn p_rights_1_the_export_holds_presets_and_batches(t: TestApp) {
    let auth = Auth::Cookie(t.signed_in_user("pia@example.org", "pia").await);
    let other = Auth::Cookie(t.signed_in_user("quinn@example.org", "quinn").await);
    let settings = json!({ "aspect": "9:16", "style": "warm" });
    let body = json!({ "name": "Pia's reels", "settings": settings });
    let preset = created(&t, &auth, "/api/v1/presets", body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({ "name": "Quinn-only-preset", "settings": {} });
    created(&t, &other, "/api/v1/presets", body).await;
    let script = json!({ "title": "Dawn", "script": "Morning light on the water." });
    let body = json!({ "preset": preset, "scripts": [script] });
    let batch = created(&t, &auth, "/api/v1/batches", body).await;

    let item = export_and_wait(&t, &auth).await;
    assert_eq!(item["status"], "ready", "{item}");
    let got = t.get(item["download_url"].as_str().unwrap(), &auth).await;
    let mut zip = unzip(&got.body);
    let doc = json_entry(&mut zip, "presets.json");
    assert_eq!(doc["presets"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["presets"][0]["id"], preset.as_str());
    assert_eq!(doc["presets"][0]["name"], "Pia's reels");
    assert_eq!(doc["presets"][0]["settings"], settings);
    assert_eq!(doc["batches"][0]["id"], batch["id"]);
    assert_eq!(doc["batches"][0]["preset"], preset.as_str());
    assert_eq!(doc["batches"][0]["jobs"], json!([batch["jobs"][0]["id"]]));
    let readme = String::from_utf8(entry(&mut zip, "README.txt")).unwrap();
    assert!(readme.contains("presets.json"), "{readme}");
    assert!(!String::from_utf8_lossy(&entry(&mut zip, "presets.json")).contains("Quinn-only"));
}

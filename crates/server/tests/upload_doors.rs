//! The upload and submission doors a hostile probe found, each over HTTP: uploads stream into
//! the data folder's own temporary space and are refused the moment they pass the limit; image
//! decoding runs a bounded number at a time; each user has an upload rate and a storage quota;
//! playlists, concat lists and clips over the frame limit are refused at upload; objects get
//! names that reveal nothing about their content; and a job whose script has no words, whose
//! frame a model cannot make, or whose text hides bidi overrides is dealt with at submission.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use common::{app, app_with, jpeg, noisy_jpeg, Auth, TestApp};
use reelsmith_config::Config;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const BOUNDARY: &str = "reelsmith-test-boundary-7MA4YWxk";

fn multipart_head(file_name: &str) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes()
}

fn spool_dir(t: &TestApp) -> std::path::PathBuf {
    reelsmith_server::uploads::spool_dir(&t.state.config)
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

async fn user(t: &TestApp, name: &str) -> Auth {
    Auth::Cookie(t.signed_in_user(&format!("{name}@example.org"), name).await)
}

/// P-SEC-7: an upload over the limit is answered 413 `upload.too_large` while the client is
/// still sending: the server reads at most one chunk past the limit, never the rest of the body,
/// and the partial file it was spooling (in `<data>/tmp/uploads`, not the system's temporary
/// folder) is gone when the answer arrives.
#[tokio::test]
async fn p_sec_7_an_oversize_upload_is_refused_mid_stream_and_leaves_no_file() {
    const LIMIT: u64 = 256 * 1024;
    const CHUNK: usize = 16 * 1024;
    let t = app_with(|c: &mut Config| c.limits.max_file_bytes = LIMIT).await;
    let alice = user(&t, "alice").await;
    let spool = spool_dir(&t);
    assert_eq!(spool, t.dir.path().join("tmp").join("uploads"));
    assert!(spool.starts_with(&t.state.config.server.data_dir));

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let consumed = Arc::new(AtomicU64::new(0));
    let counted = {
        let consumed = Arc::clone(&consumed);
        futures::stream::unfold(rx, move |mut rx| {
            let consumed = Arc::clone(&consumed);
            async move {
                let chunk = rx.recv().await?;
                if let Ok(bytes) = &chunk {
                    consumed.fetch_add(bytes.len() as u64, Ordering::SeqCst);
                }
                Some((chunk, rx))
            }
        })
    };
    let request = t
        .request(Method::POST, "/api/v1/uploads", &alice)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from_stream(counted))
        .unwrap();
    let answer = tokio::spawn(t.app.clone().oneshot(request));

    tx.send(Ok(multipart_head("big.mp4"))).await.unwrap();
    let chunk = vec![0x42u8; CHUNK];
    // Half the limit: the file is being spooled, and where.
    for _ in 0..(LIMIT as usize / 2 / CHUNK) {
        tx.send(Ok(chunk.clone())).await.unwrap();
    }
    let mut spooling = Vec::new();
    for _ in 0..200 {
        spooling = files_in(&spool);
        if !spooling.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        spooling.len(),
        1,
        "the upload is spooled in {}",
        spool.display()
    );
    // Then past the limit, with the sender kept open: the client has much more to send.
    let mut sent = 0;
    while !answer.is_finished() && sent < 4 * LIMIT as usize {
        if tx.send(Ok(chunk.clone())).await.is_err() {
            break;
        }
        sent += CHUNK;
    }
    let response = tokio::time::timeout(Duration::from_secs(30), answer)
        .await
        .expect("the server answers while the client is still sending")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "upload.too_large");
    let read = consumed.load(Ordering::SeqCst);
    assert!(
        read <= LIMIT + 2 * CHUNK as u64 + 1024,
        "the server read {read} bytes of a body over the limit of {LIMIT}"
    );
    assert!(files_in(&spool).is_empty(), "partial upload left behind");
    drop(tx);

    // A declared length past the limit is refused before the body is read at all.
    let request = t
        .request(Method::POST, "/api/v1/uploads", &alice)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header(header::CONTENT_LENGTH, (LIMIT * 4).to_string())
        .body(Body::from_stream(futures::stream::pending::<
            Result<Vec<u8>, std::io::Error>,
        >()))
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(30), t.send(request))
        .await
        .expect("answered without reading the body");
    reply.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "upload.too_large");
    let listed = t.get("/api/v1/uploads", &alice).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 0);
}

/// P-SEC-7: uploads per user are rate limited with their own code; another user is unaffected.
#[tokio::test]
async fn p_sec_7_uploads_are_rate_limited_per_user() {
    let t = app_with(|c: &mut Config| {
        c.uploads.rate_limit.count = 3;
        c.uploads.rate_limit.window_seconds = 3600;
    })
    .await;
    let alice = user(&t, "alice").await;
    let bob = user(&t, "bob").await;
    for _ in 0..3 {
        let r = t.upload(&alice, "a.jpg", "image/jpeg", &jpeg(32, 24)).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = t.upload(&alice, "a.jpg", "image/jpeg", &jpeg(32, 24)).await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS, "upload.rate_limited");
    assert!(!r.header("retry-after").is_empty());
    let r = t.upload(&bob, "b.jpg", "image/jpeg", &jpeg(32, 24)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        t.get("/api/v1/uploads", &alice)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// P-SEC-7: a user's stored uploads cannot pass their quota: the upload that would is refused
/// (`upload.quota_exceeded`) with nothing stored, and deleting an upload frees its room.
#[tokio::test]
async fn p_sec_7_the_storage_quota_refuses_an_upload_past_it() {
    let t = app_with(|c: &mut Config| c.uploads.quota_bytes = 40_000).await;
    let alice = user(&t, "alice").await;
    let bob = user(&t, "bob").await;
    let first = t
        .upload(&alice, "n.jpg", "image/jpeg", &noisy_jpeg(96, 96))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let size = first.json()["size"].as_u64().unwrap();
    assert!(size > 10_000 && size < 40_000, "{size}");
    let mut stored = size;
    let mut refused = None;
    for _ in 0..8 {
        let r = t
            .upload(&alice, "n.jpg", "image/jpeg", &noisy_jpeg(96, 96))
            .await;
        if r.status == StatusCode::CREATED {
            stored += r.json()["size"].as_u64().unwrap();
        } else {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("the quota refused an upload");
    refused.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "upload.quota_exceeded");
    assert!(stored <= 40_000, "{stored} bytes stored over a 40000 quota");
    let before_objects = count_objects(&t);
    // Media (spooled, not re-encoded) is held to the quota while it streams in.
    let big = vec![0u8; 60_000];
    t.upload(&alice, "x.mp4", "video/mp4", &big)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "upload.quota_exceeded");
    assert_eq!(
        count_objects(&t),
        before_objects,
        "a refused upload left an object"
    );
    // Bob has his own quota.
    assert_eq!(
        t.upload(&bob, "n.jpg", "image/jpeg", &noisy_jpeg(96, 96))
            .await
            .status,
        StatusCode::CREATED
    );
    // Deleting frees room.
    let id = first.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        t.delete(&format!("/api/v1/uploads/{id}"), &alice)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.upload(&alice, "n.jpg", "image/jpeg", &noisy_jpeg(96, 96))
            .await
            .status,
        StatusCode::CREATED
    );
}

fn count_objects(t: &TestApp) -> usize {
    walk(&t.dir.path().join("media"))
}

fn walk(dir: &Path) -> usize {
    files_in(dir)
        .iter()
        .map(|p| if p.is_dir() { walk(p) } else { 1 })
        .sum()
}

/// P-SEC-7: image decoding is bounded by `uploads.decode_concurrency`: while every permit is
/// taken, an image upload waits instead of decoding, and goes through once one is free.
#[tokio::test]
async fn p_sec_7_image_decoding_waits_for_a_free_permit() {
    let t = app_with(|c: &mut Config| c.uploads.decode_concurrency = 1).await;
    let alice = user(&t, "alice").await;
    let held = Arc::clone(&t.state.decode_permits)
        .acquire_owned()
        .await
        .unwrap();
    let image = jpeg(64, 48);
    let pending = {
        let mut body = multipart_head("a.jpg");
        body.extend_from_slice(&image);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let request = t
            .request(Method::POST, "/api/v1/uploads", &alice)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(Body::from(body))
            .unwrap();
        tokio::spawn(t.app.clone().oneshot(request))
    };
    // Not a speed check: the upload cannot finish while the only permit is held, however long.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !pending.is_finished(),
        "an image was decoded without a permit"
    );
    assert_eq!(t.state.decode_permits.available_permits(), 0);
    drop(held);
    let response = tokio::time::timeout(Duration::from_secs(60), pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(t.state.decode_permits.available_permits(), 1);
}

fn ffmpeg(args: &[&str]) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {args:?}");
}

/// P-IN-3: an HLS playlist (as `.m3u8` or renamed `.mp4`) and an ffconcat list, each pointing at
/// a real video on the server's disk, are refused as unsupported: the probe never opens the
/// file they name.
#[tokio::test]
async fn p_in_3_playlists_and_concat_lists_are_refused_at_upload() {
    let t = app().await;
    let alice = user(&t, "alice").await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x64:rate=10",
        "-t",
        "1",
        "-pix_fmt",
        "yuv420p",
        secret.to_str().unwrap(),
    ]);
    // The clip itself is a fine upload, so the refusals are about the wrappers.
    let real = t
        .upload(
            &alice,
            "clip.mp4",
            "video/mp4",
            &std::fs::read(&secret).unwrap(),
        )
        .await;
    assert_eq!(real.status, StatusCode::CREATED, "{:?}", real.body);
    let playlist = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:{}\n#EXT-X-ENDLIST\n",
        secret.display()
    );
    let concat = format!("ffconcat version 1.0\nfile '{}'\n", secret.display());
    for (name, text) in [
        ("playlist.m3u8", &playlist),
        ("playlist.mp4", &playlist),
        ("list.ffconcat", &concat),
        ("list.mp4", &concat),
    ] {
        t.upload(&alice, name, "video/mp4", text.as_bytes())
            .await
            .assert_problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "upload.unsupported_type",
            );
    }
    assert_eq!(
        t.get("/api/v1/uploads", &alice)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// P-SEC-7: a clip with more frames than `limits.max_clip_frames` (40,000 against the default
/// 36,000) is refused at upload, not by a job that fails in the worker.
#[tokio::test]
async fn p_sec_7_a_clip_over_the_frame_limit_is_refused_at_upload() {
    let t = app().await;
    let alice = user(&t, "alice").await;
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("many.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:size=16x16:rate=1000",
        "-frames:v",
        "40000",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        clip.to_str().unwrap(),
    ]);
    t.upload(
        &alice,
        "many.mp4",
        "video/mp4",
        &std::fs::read(&clip).unwrap(),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "upload.too_many_frames");
    assert_eq!(count_objects(&t), 0);
}

/// P-SEC-2: stored objects are not named by a hash of their content: the same file uploaded
/// twice gets two unrelated names, and neither contains the SHA-256 of the stored plaintext.
#[tokio::test]
async fn p_sec_2_object_names_reveal_nothing_about_the_content() {
    let t = app().await;
    let alice = user(&t, "alice").await;
    let photo = jpeg(48, 32);
    let mut keys = Vec::new();
    let mut hashes = Vec::new();
    for _ in 0..2 {
        let up = t.upload(&alice, "same.jpg", "image/jpeg", &photo).await;
        assert_eq!(up.status, StatusCode::CREATED);
        let id = up.json()["id"].as_str().unwrap().to_owned();
        let stored = t
            .get(&format!("/api/v1/uploads/{id}/content"), &alice)
            .await;
        hashes.push(hex::encode(Sha256::digest(&stored.body)));
        let owner = t
            .state
            .db
            .user_by_email("alice@example.org")
            .await
            .unwrap()
            .unwrap()
            .id;
        let row = t
            .state
            .db
            .upload_for_owner(&owner, &id)
            .await
            .unwrap()
            .unwrap();
        keys.push(row.object_key);
    }
    assert_eq!(hashes[0], hashes[1], "the same bytes were stored twice");
    assert_ne!(keys[0], keys[1]);
    for key in &keys {
        assert!(!reelsmith_store::is_content_addressed(key), "{key}");
        assert!(
            !key.contains(&hashes[0][..16]),
            "{key} names the content's hash"
        );
        assert!(!key.contains(&hex::encode(Sha256::digest(&photo))[..16]));
    }
    // And on disk: no file in the media folder is named by the hash.
    let names: Vec<String> = all_files(&t.dir.path().join("media"));
    assert_eq!(names.len(), 2);
    assert!(
        names.iter().all(|n| !n.contains(&hashes[0][..16])),
        "{names:?}"
    );
}

fn all_files(dir: &Path) -> Vec<String> {
    files_in(dir)
        .into_iter()
        .flat_map(|p| {
            if p.is_dir() {
                all_files(&p)
            } else {
                vec![p.display().to_string()]
            }
        })
        .collect()
}

async fn submit(t: &TestApp, auth: &Auth, spec: Value) -> common::Reply {
    t.json(Method::POST, "/api/v1/jobs", auth, spec).await
}

/// A script of punctuation and emoji alone is refused at submission with the engine's code;
/// a model's aspect ratios and resolutions are checked before anything is queued or charged.
#[tokio::test]
async fn unspeakable_scripts_and_frames_a_model_cannot_make_are_refused_at_submission() {
    let t = app().await;
    let alice = user(&t, "alice").await;
    submit(&t, &alice, json!({ "script": "!!! ... 🎉🔥 — ?? *** ###" }))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "script.no_words");
    let script = "A red fox runs through the fresh snow at dawn.";
    submit(
        &t,
        &alice,
        json!({ "script": script, "provider": "veo", "model": "veo-3.1-generate-preview", "aspect": "1:1" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "provider.unsupported_aspect");
    submit(
        &t,
        &alice,
        json!({ "script": script, "provider": "fal", "model": "fal-ai/veo3.1", "aspect": "1:1" }),
    )
    .await
    .assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "provider.unsupported_aspect",
    );
    submit(
        &t,
        &alice,
        json!({ "script": script, "provider": "veo", "model": "veo-3.1-generate-preview", "resolution": "480p" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "provider.unsupported_resolution");
    let jobs = t.get("/api/v1/jobs", &alice).await.json();
    assert_eq!(jobs.as_array().unwrap().len(), 0, "nothing was queued");
}

/// P-IN-3: bidi override, embedding and isolate controls are stripped from a job's script and
/// prompts at the edge, so what is stored, sent and captioned reads as it was written.
#[tokio::test]
async fn p_in_3_bidi_controls_are_stripped_from_scripts_at_submission() {
    let t = app().await;
    let alice = user(&t, "alice").await;
    let script =
        "Open invoice\u{202E}fdp.exe now. \u{2066}Quiet\u{2069} \u{202A}harbour\u{202C} at dawn.";
    let r = submit(&t, &alice, json!({ "script": script, "seed": 1 })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let stored = r.json()["params"]["script"].as_str().unwrap().to_owned();
    assert_eq!(stored, "Open invoicefdp.exe now. Quiet harbour at dawn.");
    assert!(!stored.chars().any(reelsmith_media::text::is_bidi_control));
}

//! Voices and music through the API (issue 17): the voice catalogue with cached samples, the
//! operator's music library with previews, and a job's music and voice checked before it is
//! queued, with stable codes and nothing reserved or queued when refused.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

/// A mono 16-bit WAV of a 220 Hz tone.
fn wav(seconds: f64) -> Vec<u8> {
    let rate = 8_000u32;
    let n = (seconds * rate as f64) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + n * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(n * 2).to_le_bytes());
    for i in 0..n {
        let v = (0.3
            * (2.0 * std::f64::consts::PI * 220.0 * i as f64 / rate as f64).sin()
            * 32_767.0) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn ok(reply: &Reply) -> Value {
    assert!(
        reply.status.is_success(),
        "{}: {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

#[tokio::test]
async fn the_voice_catalogue_lists_local_voices_with_a_cached_sample() {
    let t = app().await;
    let auth = Auth::Cookie(t.signed_in_user("ada@example.com", "ada").await);
    t.get("/api/v1/voices", &Auth::None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "auth.required");
    let list = ok(&t.get("/api/v1/voices", &auth).await);
    let voices = list["voices"].as_array().unwrap();
    assert!(voices.len() > 20, "espeak-ng speaks many languages");
    let english = voices
        .iter()
        .find(|v| v["id"] == "en-us")
        .expect("the default voice is listed");
    assert_eq!(english["engine"], "espeak-ng");
    assert_eq!(english["language"], "en-us");
    assert_eq!(english["local"], true);
    assert_eq!(english["price_credits"], 0);
    assert_eq!(english["speed"], true);
    assert_eq!(english["pitch"], true);
    for language in ["es", "fr", "de", "ru", "hi", "ar", "ja", "cmn"] {
        assert!(
            voices
                .iter()
                .any(|v| v["language"].as_str().unwrap().split('-').next() == Some(language)),
            "a voice for {language}"
        );
    }
    let sample_url = english["sample_url"].as_str().unwrap();
    let first = t.get(sample_url, &auth).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("content-type"), "audio/wav");
    assert!(first.body.starts_with(b"RIFF"));
    assert!(first.body.len() > 16_000, "a second or more of speech");
    let cached = t.dir.path().join("cache").join("voice-samples");
    assert_eq!(std::fs::read_dir(&cached).unwrap().count(), 1);
    let second = t.get(sample_url, &auth).await;
    assert_eq!(second.body, first.body, "served from the cache");
    t.get("/api/v1/voices/xx-nobody/sample", &auth)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "voice.unknown");
    t.get("/api/v1/voices/..%2F..%2Fetc/sample", &auth)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "voice.unknown");
}

#[tokio::test]
async fn the_music_library_lists_playable_tracks_with_previews() {
    let library = tempfile::tempdir().unwrap();
    std::fs::write(library.path().join("calm-piano.wav"), wav(2.0)).unwrap();
    std::fs::write(library.path().join("broken.mp3"), b"not music at all").unwrap();
    std::fs::write(library.path().join("notes.txt"), b"liner notes").unwrap();
    let dir = library.path().to_path_buf();
    let t = app_with(move |c| c.music.library = Some(dir)).await;
    let auth = Auth::Cookie(t.signed_in_user("ada@example.com", "ada").await);
    let list = ok(&t.get("/api/v1/music", &auth).await);
    assert_eq!(
        list["tracks"],
        json!([{ "id": "library:calm-piano", "title": "Calm piano", "duration_seconds": 2.0,
                 "preview_url": "/api/v1/music/calm-piano/preview" }])
    );
    let preview = t.get("/api/v1/music/calm-piano/preview", &auth).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(preview.header("content-type"), "audio/wav");
    assert_eq!(preview.body.as_ref(), wav(2.0).as_slice());
    for bad in ["nope", "..%2Fcalm-piano", "notes"] {
        t.get(&format!("/api/v1/music/{bad}/preview"), &auth)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    // Without a library there is nothing to list.
    let bare = app().await;
    let auth = Auth::Cookie(bare.signed_in_user("bo@example.com", "bob").await);
    assert_eq!(
        ok(&bare.get("/api/v1/music", &auth).await)["tracks"],
        json!([])
    );
}

#[tokio::test]
async fn bad_music_and_voices_are_refused_before_anything_is_queued() {
    let library = tempfile::tempdir().unwrap();
    std::fs::write(library.path().join("calm-piano.wav"), wav(2.0)).unwrap();
    let dir = library.path().to_path_buf();
    let t = app_with(move |c| {
        c.music.library = Some(dir);
        c.limits.max_media_seconds = 5.0;
    })
    .await;
    let ada = Auth::Cookie(t.signed_in_user("ada@example.com", "ada").await);
    let bo = Auth::Cookie(t.signed_in_user("bo@example.com", "bob").await);
    let song = ok(&t.upload(&ada, "song.wav", "audio/wav", &wav(1.0)).await)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let photo = ok(&t
        .upload(&ada, "photo.jpg", "image/jpeg", &jpeg(64, 48))
        .await)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bos_song = ok(&t.upload(&bo, "song.wav", "audio/wav", &wav(1.0)).await)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Music longer than the limit is refused at the upload already.
    t.upload(&ada, "long.wav", "audio/wav", &wav(6.0))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "upload.too_long");

    let ledger_before = ok(&t.get("/api/v1/me/credits", &ada).await);
    let cases = [
        (json!({ "music": "library:nope" }), "music.unknown_track"),
        (json!({ "music": photo }), "music.not_audio"),
        (json!({ "music": bos_song }), "job.unknown_upload"),
        (
            json!({ "music": song, "music_level": 6 }),
            "spec.invalid_music_level",
        ),
        (json!({ "music": "" }), "spec.invalid_music"),
        (json!({ "tts": { "voice": "xx-nobody" } }), "voice.unknown"),
        // A script no installed voice of the chosen language reads (issue 17, D-languages-4).
        (
            json!({ "script": "يجري النهر بهدوء قرب الطاحونة القديمة.", "tts": { "voice": "en-us" } }),
            "speech.language_unsupported",
        ),
    ];
    for (extra, code) in cases {
        let mut spec = json!({ "script": "A quiet harbour at dawn." });
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        for path in ["/api/v1/jobs", "/api/v1/jobs/quote"] {
            t.json(Method::POST, path, &ada, spec.clone())
                .await
                .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, code);
        }
    }
    let jobs = ok(&t.get("/api/v1/jobs", &ada).await);
    assert_eq!(jobs, json!([]), "nothing was queued");
    let ledger_after = ok(&t.get("/api/v1/me/credits", &ada).await);
    assert_eq!(ledger_after, ledger_before, "no credit was reserved");

    for music in [song.clone(), "library:calm-piano".to_owned()] {
        let job = ok(&t
            .json(
                Method::POST,
                "/api/v1/jobs",
                &ada,
                json!({ "script": "A quiet harbour at dawn.", "music": music, "music_level": -18 }),
            )
            .await);
        assert_eq!(job["params"]["music"], json!(music));
        assert_eq!(job["params"]["music_level"], -18);
    }
}

/// Issue 17: making the natural voice the default changes no price. A job that names no voice
/// is quoted and reserved the same under `[speech] default_voice = "auto"` (Piper where
/// installed) as under `"espeak"`, and so is one naming the Piper voice: local voices are free,
/// the studio's price is the quote, and nothing needs consent. A default naming a voice that
/// is not installed does not refuse the job either: the worker falls back to espeak-ng.
#[tokio::test]
async fn p_bill_4_the_default_voice_does_not_change_the_quote_or_the_reservation() {
    let script = json!({ "script": "The boats leave the harbour at dawn." });
    let piper = json!({ "script": "The boats leave the harbour at dawn.",
                        "tts": { "voice": "piper:en_US-joe-medium" } });
    let mut seen = Vec::new();
    for default in ["espeak", "auto", "piper:en_GB-nobody-low"] {
        let t = app_with(|c| c.speech.default_voice = default.into()).await;
        let auth = Auth::Cookie(t.signed_in_user("quinn@example.com", "quinn").await);
        let before = ok(&t.get("/api/v1/me/credits", &auth).await)["balance"].clone();
        for spec in [&script, &piper] {
            let q = ok(&t
                .json(Method::POST, "/api/v1/jobs/quote", &auth, spec.clone())
                .await);
            assert_eq!(q["consent_missing"], false, "{default}: {q}");
            seen.push((q["provider"].clone(), q["credits"].clone()));
        }
        ok(&t
            .json(Method::POST, "/api/v1/jobs", &auth, script.clone())
            .await);
        // The picker says which engine a bare language gets, and offers espeak-ng explicitly
        // where the default gives the language to Piper.
        let voices = ok(&t.get("/api/v1/voices", &auth).await)["voices"].clone();
        let by_id = |id: &str| {
            voices
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["id"] == id)
                .cloned()
        };
        let english = by_id("en-us").unwrap();
        if default == "auto" {
            assert_eq!(english["engine"], "piper", "{english}");
            assert!(english["name"]
                .as_str()
                .unwrap()
                .contains("en_US-joe-medium"));
            assert_eq!(by_id("espeak:en-us").unwrap()["engine"], "espeak-ng");
            let pinned = json!({ "script": "The boats leave the harbour at dawn.",
                                 "tts": { "voice": "espeak:en-us" } });
            ok(&t.json(Method::POST, "/api/v1/jobs", &auth, pinned).await);
        } else {
            assert_eq!(english["engine"], "espeak-ng", "{default}: {english}");
            assert!(by_id("espeak:en-us").is_none());
        }
        let after = ok(&t.get("/api/v1/me/credits", &auth).await)["balance"].clone();
        assert_eq!(
            before, after,
            "{default}: nothing reserved for a studio job"
        );
    }
    assert!(
        seen.iter().all(|s| *s == (json!("studio"), json!(0))),
        "{seen:?}"
    );
}

/// An operator's Piper voices for `[speech] piper_voices`: the installed en_US-joe-medium model
/// (scripts/setup) copied as `en_US-operator-medium` with its checksum file, and a truncated
/// copy as `en_US-broken-medium` whose checksum file is the whole model's (so it is corrupt).
fn operator_voices(dir: &std::path::Path) {
    let installed = reelsmith_media::speech::voices::SpeechConfig::installed()
        .piper_voices
        .expect("the Piper voice is installed: run scripts/setup");
    let model = installed.join("en_US-joe-medium.onnx");
    let md5 = std::process::Command::new("md5sum")
        .arg(&model)
        .output()
        .unwrap();
    assert!(md5.status.success());
    let md5 = String::from_utf8(md5.stdout).unwrap();
    let md5 = md5.split_whitespace().next().unwrap();
    let config = std::fs::read(installed.join("en_US-joe-medium.onnx.json")).unwrap();
    let bytes = std::fs::read(&model).unwrap();
    for (name, body) in [
        ("en_US-operator-medium", &bytes[..]),
        ("en_US-broken-medium", &bytes[..bytes.len() / 2]),
    ] {
        std::fs::write(dir.join(format!("{name}.onnx")), body).unwrap();
        std::fs::write(dir.join(format!("{name}.onnx.json")), &config).unwrap();
        std::fs::write(dir.join(format!("{name}.onnx.md5")), format!("{md5}\n")).unwrap();
    }
}

/// Issue 17: a Piper voice an operator adds by pointing `[speech] piper_voices` at a folder is
/// in the catalogue and a job may name it by id (quoted and queued); a corrupt one there is not
/// listed, and naming it is refused with `422 voice.unusable` saying why, before anything is
/// queued or reserved. Without the setting the same id is unknown.
#[tokio::test]
async fn p_voice_7_an_operators_voice_folder_is_listed_and_accepted_by_id() {
    let folder = tempfile::tempdir().unwrap();
    operator_voices(folder.path());
    let dir = folder.path().to_path_buf();
    let t = app_with(move |c| c.speech.piper_voices = Some(dir)).await;
    let ada = Auth::Cookie(t.signed_in_user("ada@example.com", "ada").await);
    let voices = ok(&t.get("/api/v1/voices", &ada).await)["voices"].clone();
    let ids: Vec<&str> = voices
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"piper:en_US-operator-medium"), "{ids:?}");
    assert!(!ids.contains(&"piper:en_US-broken-medium"), "{ids:?}");
    assert!(
        !ids.contains(&"piper:en_US-joe-medium"),
        "the configured folder replaces the setup's: {ids:?}"
    );
    let ours = voices
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "piper:en_US-operator-medium")
        .unwrap();
    assert_eq!(ours["engine"], "piper");
    assert_eq!(ours["language"], "en-us");

    let ledger_before = ok(&t.get("/api/v1/me/credits", &ada).await);
    let broken = json!({ "script": "A quiet harbour at dawn.",
                         "tts": { "voice": "piper:en_US-broken-medium" } });
    for path in ["/api/v1/jobs", "/api/v1/jobs/quote"] {
        let reply = t.json(Method::POST, path, &ada, broken.clone()).await;
        let body = String::from_utf8_lossy(&reply.body).to_string();
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "voice.unusable");
        assert!(body.contains("corrupt"), "{body}");
    }
    assert_eq!(ok(&t.get("/api/v1/jobs", &ada).await), json!([]));
    assert_eq!(ok(&t.get("/api/v1/me/credits", &ada).await), ledger_before);

    let named = json!({ "script": "A quiet harbour at dawn.",
                        "tts": { "voice": "piper:en_US-operator-medium" } });
    ok(&t
        .json(Method::POST, "/api/v1/jobs/quote", &ada, named.clone())
        .await);
    let job = ok(&t
        .json(Method::POST, "/api/v1/jobs", &ada, named.clone())
        .await);
    assert_eq!(job["params"]["tts"]["voice"], "piper:en_US-operator-medium");

    let plain = app().await;
    let bo = Auth::Cookie(plain.signed_in_user("bo@example.com", "bob").await);
    plain
        .json(Method::POST, "/api/v1/jobs", &bo, named)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "voice.unknown");
}

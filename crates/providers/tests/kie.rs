//! The KieAI adapter against tests/fakes/providers/kie_fake.py. KieAI has no official client
//! library, so the fake is written from its documentation pages (listed in the fake's header).

mod common;

use common::suite::Subject;
use common::Fake;
use reelsmith_core::ErrorCode;
use reelsmith_providers::kie::Kie;
use reelsmith_providers::registry::{
    lookup, KIE_KLING_I2V_INPUT, KIE_KLING_T2V_INPUT, KIE_VEO_INPUT,
};
use reelsmith_providers::webhook::kie as hook;
use reelsmith_providers::{InputImage, ProviderError, Secret, ShotKind, ShotProvider, ShotRequest};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const LIMIT: u64 = 10 << 20;

fn veo_request() -> ShotRequest {
    ShotRequest::text_to_video("a red fox in snow", 8, "16:9").with_model("veo3_fast")
}

fn kling_request() -> ShotRequest {
    ShotRequest::text_to_video("a red fox in snow", 5, "9:16").with_model("kling-2.6/text-to-video")
}

fn image() -> InputImage {
    InputImage {
        bytes: b"\x89PNG fake scene image".to_vec(),
        mime: "image/png".into(),
    }
}

const VEO: Subject = Subject {
    script: "kie_fake.py",
    path: "",
    make: |ep| Box::new(Kie::new(ep).unwrap()) as Box<dyn ShotProvider>,
    request: veo_request,
    cancels: false,
    foreign_urls: true,
};

shot_suite!(VEO);

/// The same behaviours for a market model (Kling 2.6 through createTask / recordInfo).
mod kling {
    use super::*;
    use crate::common;

    const KLING: Subject = Subject {
        request: kling_request,
        ..VEO
    };

    shot_suite!(KLING);
}

async fn kie_mode(fake: &Fake, body: Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/__fake/kie", fake.base()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

fn start() -> (Fake, Kie) {
    let fake = Fake::start("kie_fake.py");
    let kie = Kie::new(fake.endpoint("")).unwrap();
    (fake, kie)
}

fn code_of<T: std::fmt::Debug>(r: &Result<T, ProviderError>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code().as_str(),
    }
}

#[tokio::test]
async fn veo_success_sends_exactly_the_documented_body() {
    let (fake, kie) = start();
    let mut req = veo_request();
    req.seed = Some(12);
    let pending = kie.submit(&req).await.unwrap();
    let sent = fake.last().await;
    assert_eq!(
        sent,
        json!({"prompt": "a red fox in snow", "model": "veo3_fast", "aspectRatio": "16:9",
            "enableFallback": false, "generationType": "TEXT_2_VIDEO", "seeds": 10_012})
    );
    KIE_VEO_INPUT.check(&sent).unwrap();
    let mut sink = Vec::new();
    let out = kie.wait(&pending, &mut sink, LIMIT).await.unwrap();
    assert_eq!(sink, fake.clip());
    assert!(out.source_url.ends_with("/__fake/files/clip.mp4"));
    let stats = fake.stats().await;
    assert_eq!(
        (stats["submissions"].as_u64(), stats["uploads"].as_u64()),
        (Some(1), None)
    );
}

#[tokio::test]
async fn veo_1080p_waits_for_the_upgrade_and_refuses_it_where_the_aspect_cannot_have_it() {
    let (fake, kie) = start();
    kie_mode(&fake, json!({"hd_not_ready": 2})).await;
    let mut req = veo_request().with_model("veo3");
    req.resolution = Some("1080p".into());
    let pending = kie.submit(&req).await.unwrap();
    let mut sink = Vec::new();
    let out = kie.wait(&pending, &mut sink, LIMIT).await.unwrap();
    assert!(
        out.source_url.ends_with("clip-1080p.mp4"),
        "{}",
        out.source_url
    );
    assert_eq!(sink, fake.clip());
    assert_eq!(
        fake.stats().await["hd_requests"],
        3,
        "twice not ready, then the URL"
    );
    // A paid-for 1080p in 9:16 is refused before anything is sent.
    req.aspect = "9:16".into();
    let err = kie.submit(&req).await;
    assert_eq!(code_of(&err), "provider.unsupported");
    assert!(err.unwrap_err().to_string().contains("16:9"));
    assert_eq!(fake.stats().await["submissions"], 1);
}

#[tokio::test]
async fn kling_text_and_image_to_video_succeed_with_the_image_uploaded_to_kie() {
    let (fake, kie) = start();
    let pending = kie.submit(&kling_request()).await.unwrap();
    let sent = fake.last().await;
    assert_eq!(
        sent,
        json!({"model": "kling-2.6/text-to-video", "input": {"prompt": "a red fox in snow",
            "sound": false, "duration": "5", "aspect_ratio": "9:16"}})
    );
    KIE_KLING_T2V_INPUT.check(&sent).unwrap();
    let mut sink = Vec::new();
    kie.wait(&pending, &mut sink, LIMIT).await.unwrap();
    assert_eq!(sink, fake.clip());

    let mut i2v = kling_request().with_model("kling-2.6/image-to-video");
    i2v.kind = ShotKind::ImageToVideo;
    i2v.duration_s = 10;
    i2v.image = Some(image());
    let pending = kie.submit(&i2v).await.unwrap();
    let sent = fake.last().await;
    KIE_KLING_I2V_INPUT.check(&sent).unwrap();
    let url = sent["input"]["image_urls"][0].as_str().unwrap().to_string();
    assert!(url.contains("/__fake/uploads/reelsmith/"), "{url}");
    assert_eq!(sent["input"]["duration"], "10");
    assert!(
        sent["input"].get("aspect_ratio").is_none(),
        "i2v documents no aspect_ratio"
    );
    // The file KieAI fetches holds exactly the scene's image, under a random name.
    let uploaded = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(uploaded.as_ref(), image().bytes.as_slice());
    let name = url.rsplit('/').next().unwrap();
    assert_eq!(name.len(), 32 + ".png".len(), "{name}");
    let mut sink = Vec::new();
    kie.wait(&pending, &mut sink, LIMIT).await.unwrap();
    assert_eq!(sink, fake.clip());
    let stats = fake.stats().await;
    assert_eq!(
        (stats["submissions"].as_u64(), stats["uploads"].as_u64()),
        (Some(2), Some(1))
    );
    // Two uploads of the same image get two names: none overwrites another.
    kie.submit(&i2v).await.unwrap();
    let second = fake.last().await["input"]["image_urls"][0].clone();
    assert_ne!(second, json!(url));
}

#[tokio::test]
async fn each_failure_state_is_reported_with_its_reason_and_not_retried() {
    let (fake, kie) = start();
    fake.set(json!({"job_fail": true})).await;
    for flag in [2, 3] {
        kie_mode(&fake, json!({"fail_flag": flag})).await;
        let pending = kie.submit(&veo_request()).await.unwrap();
        let err = kie.wait(&pending, &mut Vec::new(), LIMIT).await;
        assert_eq!(code_of(&err), "provider.failed", "successFlag {flag}");
        let msg = err.unwrap_err().to_string();
        assert!(
            msg.contains("content rejected") && msg.contains("code 400"),
            "{msg}"
        );
    }
    kie_mode(&fake, json!({"fail_code": "422"})).await;
    let pending = kie.submit(&kling_request()).await.unwrap();
    let err = kie.wait(&pending, &mut Vec::new(), LIMIT).await;
    assert_eq!(code_of(&err), "provider.failed");
    let msg = err.unwrap_err().to_string();
    assert!(
        msg.contains("content rejected") && msg.contains("failCode 422"),
        "{msg}"
    );
    assert_eq!(
        fake.stats().await["submissions"],
        3,
        "one submission per request, no resubmission"
    );
}

#[tokio::test]
async fn a_code_error_inside_http_200_is_an_error_with_a_stable_code() {
    let (fake, kie) = start();
    for (code, expected) in [
        (401, "provider.unauthorized"),
        (402, "provider.insufficient_credits"),
        (422, "provider.rejected"),
        (451, "provider.rejected"),
        (505, "provider.rejected"),
    ] {
        kie_mode(&fake, json!({"code": code, "count": 1})).await;
        let before = fake.stats().await["requests"].as_u64().unwrap();
        let err = kie.submit(&veo_request()).await;
        assert_eq!(code_of(&err), expected, "code {code}");
        assert_eq!(
            fake.stats().await["requests"].as_u64().unwrap(),
            before + 1,
            "code {code} is not tried again"
        );
    }
    // Maintenance (455) on a submit means it was not taken: tried again, accepted once.
    kie_mode(&fake, json!({"code": 455, "count": 1})).await;
    let pending = kie.submit(&veo_request()).await.unwrap();
    // A 500 on a poll changes nothing: the poll is tried again.
    kie_mode(&fake, json!({"code": 500, "count": 1})).await;
    let mut sink = Vec::new();
    kie.wait(&pending, &mut sink, LIMIT).await.unwrap();
    assert_eq!(sink, fake.clip());
    // A 500 on a submit may have been taken: not repeated, reported as transient.
    kie_mode(&fake, json!({"code": 500, "count": 1})).await;
    let err = kie.submit(&veo_request()).await.unwrap_err();
    assert_eq!(err.code(), "provider.unavailable");
    assert!(err.is_transient());
    assert_eq!(fake.stats().await["submissions"], 1);
    // Without a key KieAI answers code 401 in an HTTP 200.
    let keyless = Kie::new(
        reelsmith_providers::http::Endpoint::new(&fake.base(), Secret::new(""))
            .unwrap()
            .with_policy(common::fast_policy()),
    )
    .unwrap();
    assert_eq!(
        code_of(&keyless.submit(&veo_request()).await),
        "provider.unauthorized"
    );
}

#[tokio::test]
async fn code_429_with_retry_after_is_waited_for_or_returned_with_the_hint() {
    let (fake, kie) = start();
    kie_mode(&fake, json!({"code": 429, "count": 1, "retry_after": 1})).await;
    let started = Instant::now();
    kie.submit(&kling_request()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    // Past the policy's limit: not waited for, the hint travels with the error.
    kie_mode(&fake, json!({"code": 429, "count": 1, "retry_after": 3600})).await;
    let started = Instant::now();
    let err = kie.submit(&kling_request()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        err,
        ProviderError::RateLimited {
            provider: "kie",
            retry_after: Some(Duration::from_secs(3600))
        }
    );
    assert_eq!(fake.stats().await["submissions"], 1);
}

#[tokio::test]
async fn an_expired_result_url_is_reported_as_expired() {
    let (fake, kie) = start();
    let pending = kie.submit(&kling_request()).await.unwrap();
    kie_mode(&fake, json!({"expired": true})).await;
    let mut sink = Vec::new();
    let err = kie.wait(&pending, &mut sink, LIMIT).await;
    assert_eq!(code_of(&err), "provider.result_expired");
    assert!(sink.is_empty());
    assert!(!err.unwrap_err().is_transient());
}

#[tokio::test]
async fn the_registry_lists_kie_models_with_schemas_and_prices() {
    for model in [
        "veo3",
        "veo3_fast",
        "kling-2.6/text-to-video",
        "kling-2.6/image-to-video",
    ] {
        let caps = lookup(Some("kie"), Some(model)).unwrap();
        let schema = caps.input.expect("documented input");
        assert!(
            schema.doc.starts_with("https://docs.kie.ai/"),
            "{}",
            schema.doc
        );
        assert!(caps.credits(8) > 0);
    }
    let quality = lookup(Some("kie"), Some("veo3")).unwrap();
    let fast = lookup(Some("kie"), Some("veo3_fast")).unwrap();
    assert!(quality.credits(8) > fast.credits(8));
}

/// Receives one HTTP request on a local port: the callback the fake sends.
async fn one_callback() -> (
    String,
    tokio::task::JoinHandle<(Vec<(String, String)>, Vec<u8>)>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/api/v1/webhooks/kie",
        listener.local_addr().unwrap()
    );
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head_end, length) = loop {
            let n = s.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse::<usize>().unwrap())
                    .unwrap_or(0);
                break (i + 4, len);
            }
        };
        while buf.len() < head_end + length {
            let n = s.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let headers = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        (headers, buf[head_end..head_end + length].to_vec())
    });
    (url, task)
}

#[tokio::test]
async fn callbacks_verify_as_documented_and_a_forged_one_does_not() {
    let key = Secret::new("kie-hmac-key-for-tests");
    for forge in [false, true] {
        let fake = Fake::start("kie_fake.py");
        kie_mode(&fake, json!({"hmac_key": key.expose()})).await;
        fake.set(json!({"polls": 1000})).await;
        let (url, received) = one_callback().await;
        let kie = Kie::new(fake.endpoint("")).unwrap().with_callback(&url);
        let pending = kie.submit(&veo_request()).await.unwrap();
        assert_eq!(fake.last().await["callBackUrl"], url.as_str());
        let r: Value = reqwest::Client::new()
            .post(format!("{}/__fake/callback", fake.base()))
            .json(&json!({"forge": forge}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["sent"], 1);
        let (headers, body) = received.await.unwrap();
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let verified = hook::verify(&key, &pairs, &body, now);
        if forge {
            assert_eq!(
                verified,
                Err(reelsmith_providers::webhook::WebhookError::BadSignature)
            );
        } else {
            assert_eq!(verified.unwrap(), pending.request_id);
        }
        // Either way the body is not what delivers the result: the adapter re-reads record-info.
        let mut sink = Vec::new();
        kie.wait(&pending, &mut sink, LIMIT).await.unwrap();
        assert_eq!(sink, fake.clip());
    }
}

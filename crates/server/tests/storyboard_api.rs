//! The storyboard through the API (issue 25), on SQLite with a local media folder and on
//! PostgreSQL with S3 (`moto_server`): a draft is planned and quoted with nothing reserved,
//! edited with `If-Match` (a stale version is refused and changes nothing), isolated from a real
//! second user (their uploads and their requests), then rendered by a real worker with the fal
//! fake generating the one prompted scene: the video shows the scenes in the edited order and
//! exactly the last quote is charged.

#[allow(unused_macros, dead_code)]
mod backends;
mod common;
#[path = "../../store/tests/support/mod.rs"]
mod support;

#[path = "../../providers/tests/common/mod.rs"]
#[allow(unused_macros, unused_imports)]
mod fakes;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use common::*;
use reelsmith_config::{Config, DurationRange, ModelConfig, ModelDurations, Secret};
use reelsmith_store::{now_ms, JobStatus};
use reelsmith_worker::ProviderSet;
use serde_json::{json, Value};

const MODEL: &str = "fal-ai/kling-video/v2.1/master/text-to-video";
/// Less than three shots cost (75), more than one (25).
const GRANT: i64 = 60;

fn configure(base: String) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.rate_limits.job_submission.count = 1000;
        c.credits.signup_grant = GRANT;
        c.providers.poll_seconds = 1;
        c.providers.fal.key = Some(Secret::new(fakes::KEY.to_owned()));
        c.providers.fal.base_url = Some(base);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storyboard_edit_isolate_and_render_in_order_sqlite_local() {
    let fake = fakes::Fake::start("fal_fake.py");
    let t = app_with(configure(fake.base())).await;
    storyboard_edit_isolate_and_render_in_order(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storyboard_edit_isolate_and_render_in_order_postgres_s3() {
    let fake = fakes::Fake::start("fal_fake.py");
    let t = backends::postgres_s3_with(configure(fake.base())).await;
    storyboard_edit_isolate_and_render_in_order(t).await;
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// A 64 x 36 JPEG of one colour.
fn solid_jpeg(rgb: [u8; 3]) -> Vec<u8> {
    use image::ImageEncoder;
    let img = image::RgbImage::from_pixel(64, 36, image::Rgb(rgb));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .write_image(img.as_raw(), 64, 36, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

async fn upload(t: &TestApp, auth: &Auth, name: &str, rgb: [u8; 3]) -> String {
    let r = t.upload(auth, name, "image/jpeg", &solid_jpeg(rgb)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn put(t: &TestApp, auth: &Auth, id: &str, etag: Option<&str>, scenes: &Value) -> Reply {
    let mut req = t
        .request(Method::PUT, &format!("/api/v1/jobs/{id}/storyboard"), auth)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(etag) = etag {
        req = req.header(header::IF_MATCH, etag);
    }
    t.send(
        req.body(Body::from(json!({ "scenes": scenes }).to_string()))
            .unwrap(),
    )
    .await
}

async fn balance(t: &TestApp, auth: &Auth) -> i64 {
    t.get("/api/v1/me/credits", auth).await.json()["balance"]
        .as_i64()
        .unwrap()
}

fn upload_scene(text: &str, id: &str) -> Value {
    json!({ "text": text, "visual": { "kind": "upload", "id": id }, "motion": "static",
            "transition": "cut" })
}

/// The colour each frame of the video shows in its upper middle (away from the captions), one
/// letter per frame at 4 frames a second: `r`, `g`, `b`, or `.` for anything else.
fn frame_colours(video: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("video.mp4");
    std::fs::write(&path, video).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args([
            "-vf",
            "fps=4,scale=16:9",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks(16 * 9 * 3)
        .map(|frame| {
            let px = |x: usize, y: usize| {
                let i = (y * 16 + x) * 3;
                [frame[i] as i32, frame[i + 1] as i32, frame[i + 2] as i32]
            };
            let mut sum = [0; 3];
            for y in 2..4 {
                for x in 6..10 {
                    let p = px(x, y);
                    (0..3).for_each(|c| sum[c] += p[c]);
                }
            }
            let [r, g, b] = sum.map(|s| s / 8);
            match (
                r > 150 && g < 90 && b < 90,
                g > 120 && r < 90 && b < 90,
                b > 150 && r < 90 && g < 90,
            ) {
                (true, _, _) => 'r',
                (_, true, _) => 'g',
                (_, _, true) => 'b',
                _ => '.',
            }
        })
        .collect()
}

/// Runs of the same letter as one, without the frames that are none of the colours.
fn order(colours: &str) -> String {
    let mut out = String::new();
    for c in colours.chars().filter(|&c| c != '.') {
        if !out.ends_with(c) {
            out.push(c);
        }
    }
    out
}

async fn storyboard_edit_isolate_and_render_in_order(t: TestApp) {
    let ada = Auth::Cookie(t.signed_in_user("ada@example.org", "ada").await);
    let bob = Auth::Cookie(t.signed_in_user("bob@example.org", "bob").await);
    consent_to_fal(&t, "ada@example.org").await;
    let red = upload(&t, &ada, "red.jpg", [230, 20, 20]).await;
    let green = upload(&t, &ada, "green.jpg", [20, 200, 30]).await;
    let blue = upload(&t, &ada, "blue.jpg", [20, 30, 230]).await;
    let bobs = upload(&t, &bob, "bob.jpg", [230, 20, 20]).await;

    // A draft: the engine's three scenes, each a prompt for the provider, quoted at three
    // shots; nothing is reserved.
    let spec = json!({
        "script": "The red morning starts very slowly today.\n\nThe green hills wake up under the sun.\n\nThe deep blue sea is calm and wide.",
        "provider": "fal", "model": MODEL, "resolution": "480p", "fps": 24, "seed": 7,
    });
    let r = t
        .json(Method::POST, "/api/v1/storyboards", &ada, spec)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let draft = r.json();
    let id = draft["id"].as_str().unwrap().to_owned();
    let first_etag = r.header("etag").to_owned();
    assert_eq!(first_etag, draft["etag"].as_str().unwrap());
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["scenes"].as_array().unwrap().len(), 3, "{draft}");
    assert_eq!(draft["scenes"][1]["visual"]["kind"], "prompt");
    assert_ne!(draft["scenes"][0]["motion"], "auto", "auto is resolved");
    assert_eq!(
        draft["quote"]["credits"], 75,
        "three 5 s shots at 5 credits a second"
    );
    assert_eq!(draft["quote"]["affordable"], false);
    assert_eq!(balance(&t, &ada).await, GRANT, "a draft reserves nothing");
    assert!(
        t.get(&format!("/api/v1/jobs/{id}"), &ada).await.status == StatusCode::NOT_FOUND,
        "a draft is not a job yet"
    );

    // Rendering more than the balance holds: refused, nothing queued, the draft unchanged.
    let r = render_draft(&t, &ada, &id).await;
    r.assert_problem(StatusCode::PAYMENT_REQUIRED, "credits.insufficient");
    let r = t.get(&format!("/api/v1/jobs/{id}/storyboard"), &ada).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("etag"), first_etag, "unchanged by the refusal");
    assert_eq!(balance(&t, &ada).await, GRANT);

    // The edit: the sea first with the blue picture, then the red morning, the hills split in
    // two (the green picture, then a prompted shot).
    let edited = json!([
        upload_scene("The deep blue sea is calm and wide.", &blue),
        upload_scene("The red morning starts very slowly today.", &red),
        upload_scene("The green hills wake up.", &green),
        { "text": "Under the warm morning sun.", "visual": { "kind": "prompt", "prompt": "a warm sun over hills" } },
    ]);
    let r = put(&t, &ada, &id, None, &edited).await;
    r.assert_problem(
        StatusCode::PRECONDITION_REQUIRED,
        "storyboard.precondition_required",
    );
    let r = put(&t, &ada, &id, Some(&first_etag), &edited).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let saved = r.json();
    let etag = r.header("etag").to_owned();
    assert_ne!(etag, first_etag);
    assert_eq!(
        saved["quote"]["credits"], 25,
        "one prompted scene left: {saved}"
    );
    assert_eq!(saved["quote"]["affordable"], true);
    assert_eq!(saved["scenes"][3]["shots"], json!([5]));
    assert_eq!(saved["scenes"][0]["shots"], json!([]));
    assert_eq!(saved["scenes"][3]["transition"], "crossfade", "the default");
    assert_ne!(saved["scenes"][3]["motion"], "auto");
    assert_eq!(saved["params"]["media"], json!([blue, red, green]));

    // A second tab still holding the first version: refused, nothing changed.
    let r = put(
        &t,
        &ada,
        &id,
        Some(&first_etag),
        &json!([upload_scene("Other words here.", &red)]),
    )
    .await;
    r.assert_problem(StatusCode::PRECONDITION_FAILED, "storyboard.stale");
    let now = t.get(&format!("/api/v1/jobs/{id}/storyboard"), &ada).await;
    assert_eq!(now.header("etag"), etag);
    assert_eq!(now.json()["scenes"], saved["scenes"]);

    // Bad scenes, each refused with its code and nothing changed.
    let mut with_bobs = edited.clone();
    with_bobs[1] = upload_scene("The red morning starts very slowly today.", &bobs);
    let theirs = put(&t, &ada, &id, Some(&etag), &with_bobs).await;
    theirs.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "job.unknown_upload");
    let mut with_missing = edited.clone();
    with_missing[1] = upload_scene(
        "The red morning starts very slowly today.",
        "no-such-upload",
    );
    let missing = put(&t, &ada, &id, Some(&etag), &with_missing).await;
    missing.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "job.unknown_upload");
    assert_eq!(
        theirs.json()["detail"]
            .as_str()
            .unwrap()
            .replace(&bobs, "ID"),
        missing.json()["detail"]
            .as_str()
            .unwrap()
            .replace("no-such-upload", "ID"),
        "another user's upload reads exactly like a missing one"
    );
    for (scenes, code) in [
        (json!([]), "storyboard.empty"),
        (
            json!([{ "text": "No picture here at all." }]),
            "storyboard.no_visual",
        ),
        (
            json!([{ "text": "   ", "visual": { "kind": "card" } }]),
            "storyboard.scene_text",
        ),
        (
            json!([{ "text": "x ".repeat(600), "visual": { "kind": "card" } }]),
            "storyboard.scene_text",
        ),
        (
            Value::Array(vec![
                json!({ "text": "A card.", "visual": { "kind": "card" } });
                101
            ]),
            "storyboard.too_many_scenes",
        ),
        (
            json!([{ "text": "Stock.", "visual": { "kind": "stock", "pick": "made-up" } }]),
            "storyboard.unknown_pick",
        ),
        (
            json!([{ "text": "Bad.", "visual": { "kind": "film" } }]),
            "storyboard.invalid",
        ),
    ] {
        let r = put(&t, &ada, &id, Some(&etag), &scenes).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    let now = t.get(&format!("/api/v1/jobs/{id}/storyboard"), &ada).await;
    assert_eq!(now.header("etag"), etag, "no refusal changed anything");

    // Bob, a real second user, cannot see, change or render Ada's draft.
    t.get(&format!("/api/v1/jobs/{id}/storyboard"), &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    put(&t, &bob, &id, Some(&etag), &edited)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    render_draft(&t, &bob, &id)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // The draft is the person's words too: it is in their account export, not in Bob's.
    let exported = t.exported_json(&ada, "storyboards.json").await;
    assert_eq!(exported.as_array().unwrap().len(), 1, "{exported}");
    assert_eq!(exported[0]["id"], id.as_str());
    assert_eq!(
        exported[0]["storyboard"]["scenes"][0]["text"],
        "The deep blue sea is calm and wide."
    );
    assert_eq!(t.exported_json(&bob, "storyboards.json").await, json!([]));

    // Render: the quote is reserved, and the job is the draft's id.
    let r = render_draft(&t, &ada, &id).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    assert_eq!(r.json()["id"], id.as_str());
    assert_eq!(balance(&t, &ada).await, GRANT - 25, "the quote is held");
    let again = render_draft(&t, &ada, &id).await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "rendering twice is the same job"
    );
    put(&t, &ada, &id, Some(&etag), &edited)
        .await
        .assert_problem(StatusCode::CONFLICT, "storyboard.rendered");

    let job = render_with_a_worker(&t, &id).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);

    // Exactly the quote is charged.
    let view = t.get(&format!("/api/v1/jobs/{id}"), &ada).await.json();
    assert_eq!(
        (
            view["cost"]["charged"].as_i64(),
            view["cost"]["reserved"].as_i64()
        ),
        (Some(25), Some(0)),
        "{view}"
    );
    assert_eq!(balance(&t, &ada).await, GRANT - 25);

    // The video shows the scenes in the edited order: blue, red, green, then the generated shot.
    let video = t.get(&format!("/api/v1/jobs/{id}/video"), &ada).await;
    assert_eq!(video.status, StatusCode::OK);
    let colours = frame_colours(&video.body);
    assert_eq!(order(&colours), "brg", "{colours}");
    assert!(
        colours.ends_with('.'),
        "the generated shot comes last: {colours}"
    );
    let vtt = t
        .get(&format!("/api/v1/jobs/{id}/captions.vtt"), &ada)
        .await;
    let vtt = text(&vtt);
    let at = |w: &str| vtt.find(w).unwrap_or_else(|| panic!("{w} in {vtt}"));
    assert!(
        at("sea") < at("red") && at("red") < at("hills") && at("hills") < at("warm"),
        "{vtt}"
    );

    // The revision keeps its storyboard; Bob still sees nothing of it.
    let r = t.get(&format!("/api/v1/jobs/{id}/storyboard"), &ada).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(r.header("etag"), "\"r1\"");
    let rendered = r.json();
    assert_eq!(rendered["status"], "rendered");
    let without_seconds = |v: &Value| {
        let mut scenes = v["scenes"].clone();
        for scene in scenes.as_array_mut().unwrap() {
            scene.as_object_mut().unwrap().remove("seconds");
        }
        scenes
    };
    assert_eq!(without_seconds(&rendered), without_seconds(&saved));
    // Its lengths are now the narration's own, as the render measured them.
    assert_eq!(saved["seconds_from"], "estimate");
    assert_eq!(rendered["seconds_from"], "narration", "{rendered}");
    let job_view = t.get(&format!("/api/v1/jobs/{id}"), &ada).await.json();
    assert_eq!(job_view["storyboard"], true, "{job_view}");
    let usage = &job_view["usage"];
    let narrated: Vec<f64> = rendered["scenes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seconds"].as_f64().unwrap())
        .collect();
    assert_eq!(json!(narrated), usage["scene_seconds"], "{usage}");
    assert!(narrated.iter().all(|&s| s > 0.5), "{narrated:?}");
    let total: f64 = narrated.iter().sum();
    let video = usage["output_seconds"].as_f64().unwrap();
    assert!(
        (total - video).abs() < 1.0,
        "{total} s of scenes, {video} s of video"
    );
    t.get(&format!("/api/v1/jobs/{id}/storyboard"), &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

/// `POST /api/v1/jobs/{id}/render` for the draft `id`.
async fn render_draft(t: &TestApp, auth: &Auth, id: &str) -> Reply {
    t.json(
        Method::POST,
        &format!("/api/v1/jobs/{id}/render"),
        auth,
        json!({}),
    )
    .await
}

/// The user of `email` consents to fal.
async fn consent_to_fal(t: &TestApp, email: &str) {
    let id = t.state.db.user_by_email(email).await.unwrap().unwrap().id;
    t.state
        .db
        .grant_consent(&id, "fal", "test", now_ms())
        .await
        .unwrap();
}

/// Runs a real worker, with the providers of the app's configuration, until job `id` ends.
async fn render_with_a_worker(t: &TestApp, id: &str) -> reelsmith_store::Job {
    let providers = ProviderSet::from_config(&t.state.config.providers, None).unwrap();
    t.work_until_done(&[id], Some(providers)).await;
    t.state.db.job_by_id(id).await.unwrap().unwrap()
}

/// An image model the operator added in the configuration file (not in the built-in registry).
const CONFIGURED: &str = "fal-ai/flux/dev";

fn configure_models(base: String) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        configure(base)(c);
        c.providers.models = vec![
            ModelConfig {
                provider: "fal".into(),
                id: CONFIGURED.into(),
                kinds: vec!["text-to-image".into()],
                durations: None,
                aspects: vec!["16:9".into(), "9:16".into()],
                resolutions: Vec::new(),
                native_audio: false,
                negative_prompt: false,
                max_prompt_chars: 300,
                credits_per_second: None,
                credits_per_image: Some(3),
            },
            ModelConfig {
                provider: "fal".into(),
                id: "fal-ai/ltx-video".into(),
                kinds: vec!["text-to-video".into()],
                durations: Some(ModelDurations::Range(DurationRange { min: 2, max: 4 })),
                aspects: vec!["16:9".into()],
                resolutions: vec!["480p".into(), "720p".into()],
                native_audio: false,
                negative_prompt: true,
                max_prompt_chars: 300,
                credits_per_second: Some(2),
                credits_per_image: None,
            },
        ];
        assert!(c.validate().is_empty(), "{:?}", c.validate());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_4_configured_model_prices_prompt_scenes_and_renders_through_its_adapter_sqlite_local(
) {
    let fake = fakes::Fake::start("fal_fake.py");
    let t = app_with(configure_models(fake.base())).await;
    configured_model_prices_prompt_scenes_and_renders_through_its_adapter(&t, &fake).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_bill_4_configured_model_prices_prompt_scenes_and_renders_through_its_adapter_postgres_s3(
) {
    let fake = fakes::Fake::start("fal_fake.py");
    let t = backends::postgres_s3_with(configure_models(fake.base())).await;
    configured_model_prices_prompt_scenes_and_renders_through_its_adapter(&t, &fake).await;
}

/// Issue 25, "models by configuration" and "per-scene images ... each scene priced in the quote":
/// an operator's fal image model is listed in the catalogue at its configured price, checked
/// against its capabilities at submission, quoted per prompted scene (an image each, whatever the
/// scene's length; uploads and cards free), and rendered through the fal adapter with exactly one
/// request per prompted scene, in order, charging exactly the quote. A configured video model is
/// quoted per second of the shots its range allows.
async fn configured_model_prices_prompt_scenes_and_renders_through_its_adapter(
    t: &TestApp,
    fake: &fakes::Fake,
) {
    let listed = t.get("/api/v1/providers", &Auth::None).await.json();
    let fal = listed["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "fal")
        .unwrap();
    let models = fal["models"].as_array().unwrap();
    let flux_dev = models.iter().find(|m| m["model"] == CONFIGURED).unwrap();
    assert_eq!(flux_dev["price"], json!({ "per": "image", "credits": 3 }));
    assert_eq!(flux_dev["durations"], json!({ "kind": "still" }));
    assert_eq!(flux_dev["aspects"], json!(["16:9", "9:16"]));
    let ltx = models
        .iter()
        .find(|m| m["model"] == "fal-ai/ltx-video")
        .unwrap();
    assert_eq!(
        ltx["durations"],
        json!({ "kind": "range", "min": 2, "max": 4 })
    );
    assert!(
        models.iter().any(|m| m["model"] == "fal-ai/flux/schnell"),
        "the built-in models stay"
    );

    let ada = Auth::Cookie(t.signed_in_user("ada@example.org", "ada").await);
    consent_to_fal(t, "ada@example.org").await;
    let green = upload(t, &ada, "green.jpg", [20, 200, 30]).await;
    let script = "The red fox wakes at dawn today.\n\nThe green hills wake up under the sun.\n\nThe deep blue sea is calm and wide.";
    let spec = |model: &str, aspect: &str| {
        json!({ "script": script, "provider": "fal", "model": model, "aspect": aspect,
                "resolution": "480p", "fps": 24, "seed": 7 })
    };

    // Checked against its configured capabilities before anything is queued: no 1:1, and a
    // prompt over its 300 characters.
    t.json(
        Method::POST,
        "/api/v1/jobs/quote",
        &ada,
        spec(CONFIGURED, "1:1"),
    )
    .await
    .assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "provider.unsupported_aspect",
    );
    // The video model: each scene covered by 2 to 4 s shots at 2 credits a second.
    let quote = t
        .json(
            Method::POST,
            "/api/v1/jobs/quote",
            &ada,
            spec("fal-ai/ltx-video", "16:9"),
        )
        .await
        .json();
    let seconds: u64 = quote["scenes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["shots"].as_array().unwrap().clone())
        .map(|d| {
            let d = d.as_u64().unwrap();
            assert!((2..=4).contains(&d), "{quote}");
            d
        })
        .sum();
    assert_eq!(quote["credits"].as_u64(), Some(2 * seconds), "{quote}");

    // A storyboard with the image model: one image per prompted scene, 3 credits each.
    let r = t
        .json(
            Method::POST,
            "/api/v1/storyboards",
            &ada,
            spec(CONFIGURED, "16:9"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let draft = r.json();
    let id = draft["id"].as_str().unwrap().to_owned();
    let mut etag = r.header("etag").to_owned();
    assert_eq!(draft["quote"]["credits"], 9, "three images: {draft}");
    assert_eq!(draft["quote"]["model"], CONFIGURED);
    for scene in draft["scenes"].as_array().unwrap() {
        assert_eq!(scene["shots"], json!([0]), "a still, not seconds: {scene}");
    }
    let prompt = |text: &str, prompt: &str| {
        json!({ "text": text, "visual": { "kind": "prompt", "prompt": prompt },
                "motion": "static", "transition": "cut" })
    };
    let card = |text: &str| {
        json!({ "text": text, "visual": { "kind": "card" }, "motion": "static",
                "transition": "cut" })
    };
    let fox = prompt("The red fox wakes at dawn today.", "a red fox at dawn");
    let whale = prompt(
        "The deep blue sea is calm and wide.",
        "a blue whale in calm water",
    );
    // The quote follows each scene's visual: a card, a prompt, an upload.
    for (middle, credits) in [
        (card("The green hills wake up under the sun."), 6),
        (
            prompt("The green hills wake up under the sun.", "green hills"),
            9,
        ),
        (
            upload_scene("The green hills wake up under the sun.", &green),
            6,
        ),
    ] {
        let r = put(t, &ada, &id, Some(&etag), &json!([fox, middle, whale])).await;
        assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
        assert_eq!(r.json()["quote"]["credits"], credits, "{}", text(&r));
        etag = r.header("etag").to_owned();
    }
    let before = balance(t, &ada).await;
    let r = render_draft(t, &ada, &id).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let job = render_with_a_worker(t, &id).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);

    // The fal adapter sent one request per prompted scene, in scene order, to the configured
    // model's path, with the fields fal's image models take.
    let bodies = fake.bodies().await;
    let sent: Vec<(&str, &str)> = bodies
        .iter()
        .map(|b| {
            (
                b["path"].as_str().unwrap(),
                b["body"]["prompt"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(sent.len(), 2, "{bodies:?}");
    assert_eq!(sent[0].0, "/fal-ai/flux/dev");
    assert!(sent[0].1.starts_with("a red fox at dawn"), "{sent:?}");
    assert!(sent[1].1.starts_with("a blue whale"), "{sent:?}");
    let mut fields: Vec<&str> = bodies[0]["body"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["image_size", "num_images", "prompt", "seed"]);
    assert_eq!(bodies[0]["body"]["image_size"], "landscape_16_9");

    // Exactly the quote is charged: two images at the configured price.
    let view = t.get(&format!("/api/v1/jobs/{id}"), &ada).await.json();
    assert_eq!(view["cost"]["charged"].as_i64(), Some(6), "{view}");
    assert_eq!(balance(t, &ada).await, before - 6);
    // The pictures the image model returned (the fake's JPEGs take the first colour their
    // prompt names) are the first and last scenes, the upload between them.
    let video = t.get(&format!("/api/v1/jobs/{id}/video"), &ada).await;
    let colours = frame_colours(&video.body);
    assert_eq!(order(&colours), "rgb", "{colours}");
    assert!(
        colours.starts_with('r') && colours.ends_with('b'),
        "{colours}"
    );
}

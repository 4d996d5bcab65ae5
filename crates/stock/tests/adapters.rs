//! The Pexels and Pixabay adapters against their fakes (tests/fakes/stock/), which speak the
//! documented wire formats and are checked with community clients from PyPI (neither provider
//! publishes an official Python client): search and ranking, attribution, downloads within
//! limits, refusals that leave no file, rate limits, empty results, and keys that never show.

#[path = "../../providers/tests/common/mod.rs"]
mod common;

use common::{run_check, Fake, KEY};
use reelsmith_core::spec::{Aspect, Resolution};
use reelsmith_core::ErrorCode;
use reelsmith_providers::http::Endpoint;
use reelsmith_providers::Secret;
use reelsmith_stock::keywords::extract;
use reelsmith_stock::pexels::Pexels;
use reelsmith_stock::pixabay::Pixabay;
use reelsmith_stock::{download, search, DownloadLimits, MediaKind, StockError, Want};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const LANDSCAPE_720: Want = Want {
    aspect: Aspect::Landscape,
    resolution: Resolution::P720,
    scene_s: 5.0,
};

const ROOMY: DownloadLimits = DownloadLimits {
    max_bytes: 10 << 20,
    max_clip_s: 60.0,
};

fn pexels(fake: &Fake) -> Pexels {
    Pexels::new(fake.endpoint("")).unwrap()
}

/// Pixabay's API lives under /api/; its files (here the fake's /__fake/files/) are another
/// path on the same host, allowed as a download host as pixabay.com is in production.
fn pixabay_endpoint(fake: &Fake, key: &str) -> Endpoint {
    let ep = fake.endpoint("/api/").with_download_hosts(&["127.0.0.1"]);
    Endpoint {
        key: Secret::new(key),
        ..ep
    }
}

fn pixabay(fake: &Fake) -> Pixabay {
    Pixabay::new(pixabay_endpoint(fake, KEY)).unwrap()
}

fn no_key_in(err: &StockError) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(KEY), "the key leaked: {shown}");
}

/// The files of `dir`, to prove a refused download left nothing (no `.part` either).
fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn p_tp_3_pexels_photos_are_searched_with_the_scene_words_only_ranked_and_credited() {
    let fake = Fake::start("../stock/pexels_fake.py");
    let px = pexels(&fake);
    let terms = extract("The beach at sunset, with waves on the rocks.", 6);
    let found = search(&px, &terms, MediaKind::Photo, &LANDSCAPE_720, 15)
        .await
        .unwrap();
    // "beach sunset wave" matches no photo, so the heaviest word alone is asked next.
    let bodies = fake.bodies().await;
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[0]["query"]["query"], "beach sunset wave");
    assert_eq!(bodies[1]["query"]["query"], "beach");
    let mut sent: Vec<&str> = bodies[1]["query"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    sent.sort_unstable();
    assert_eq!(
        sent,
        ["orientation", "page", "per_page", "query"],
        "nothing else leaves"
    );
    assert_eq!(bodies[1]["query"]["orientation"], "landscape");
    let best = &found[0].candidate;
    assert_eq!(best.id, "2014422", "beach, sunset and rocks: {found:?}");
    assert!(found[0].score.orientation && found[0].score.resolution);
    let a = &best.attribution;
    assert_eq!(a.text, "Photo by Ana Costa on Pexels");
    assert_eq!(a.author, "Ana Costa");
    assert_eq!(a.author_url.as_deref(), Some("https://www.pexels.com/@ana"));
    assert_eq!(
        a.source_url.as_deref(),
        Some("https://www.pexels.com/photo/brown-rocks-on-a-beach-at-sunset-2014422/")
    );
    assert_eq!(
        (a.provider.as_str(), a.licence.as_str()),
        ("Pexels", "Pexels License")
    );
    // The download is a real picture, fetched without the key.
    let dir = tempfile::tempdir().unwrap();
    let got = download(&px, best, &dir.path().join("p.jpg"), &ROOMY)
        .await
        .unwrap();
    assert_eq!(&std::fs::read(&got.path).unwrap()[..2], b"\xff\xd8");
    assert_eq!(got.attribution, *a);
    assert_eq!(fake.stats().await["keyed_file_downloads"], 0);
}

#[tokio::test]
async fn pexels_videos_pick_the_smallest_file_that_covers_the_frame_and_download_it() {
    let fake = Fake::start("../stock/pexels_fake.py");
    let px = pexels(&fake);
    let terms = extract("Waves crashing on a beach", 4);
    let found = search(&px, &terms, MediaKind::Video, &LANDSCAPE_720, 15)
        .await
        .unwrap();
    let best = &found[0].candidate;
    assert_eq!(best.id, "1448735");
    assert_eq!(
        (best.width, best.height),
        (1920, 1080),
        "hd covers 1280x720, sd does not, uhd is larger than needed"
    );
    assert_eq!(best.duration_s, Some(12.0));
    assert!(found[0].score.length);
    assert_eq!(best.attribution.text, "Video by Eli Moreau on Pexels");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("clip.mp4");
    let got = download(&px, best, &dest, &ROOMY).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), fake.clip());
    assert_eq!(got.bytes, fake.clip().len() as u64);
    assert!((got.duration_s.unwrap() - 1.0).abs() < 0.2, "{got:?}");
    assert_eq!(files_in(dir.path()), ["clip.mp4"]);
    assert_eq!(fake.stats().await["keyed_file_downloads"], 0);
}

#[tokio::test]
async fn oversized_and_overlong_files_are_refused_and_nothing_is_left() {
    let fake = Fake::start("../stock/pexels_fake.py");
    let px = pexels(&fake);
    let found = search(
        &px,
        &extract("Waves on the beach", 4),
        MediaKind::Video,
        &LANDSCAPE_720,
        15,
    )
    .await
    .unwrap();
    let clip = found[0].candidate.clone();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("clip.mp4");
    // Larger than the limit: found out while streaming, the partial file removed.
    let small = DownloadLimits {
        max_bytes: 1000,
        ..ROOMY
    };
    let err = download(&px, &clip, &dest, &small).await.unwrap_err();
    assert_eq!(err.code(), "stock.too_large", "{err}");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
    // Said to be longer than the limit: refused before anything is fetched.
    let downloads = fake.stats().await["downloads"].clone();
    let short = DownloadLimits {
        max_clip_s: 10.0,
        ..ROOMY
    };
    let err = download(&px, &clip, &dest, &short).await.unwrap_err();
    assert_eq!(err.code(), "stock.too_long", "{err}");
    assert!(err.to_string().contains("12.0 s"), "{err}");
    assert_eq!(
        fake.stats().await["downloads"],
        downloads,
        "nothing fetched"
    );
    // Said to be short enough but measured longer once here: refused, nothing kept.
    let liar = reelsmith_stock::Candidate {
        duration_s: Some(0.4),
        ..clip
    };
    let tiny = DownloadLimits {
        max_clip_s: 0.5,
        ..ROOMY
    };
    let err = download(&px, &liar, &dest, &tiny).await.unwrap_err();
    assert_eq!(err.code(), "stock.too_long", "{err}");
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_when_short_and_reported_when_long() {
    let fake = Fake::start("../stock/pexels_fake.py");
    let px = pexels(&fake);
    let terms = extract("A beach", 2);
    fake.set(json!({"mode": "rate_limit", "count": 1, "retry_after": 1}))
        .await;
    let started = Instant::now();
    search(&px, &terms, MediaKind::Photo, &LANDSCAPE_720, 15)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(fake.stats().await["requests"], 2);
    // Longer than the policy waits for: a typed error carrying the wait, at once.
    fake.set(json!({"mode": "rate_limit", "count": 1, "retry_after": 3600}))
        .await;
    let err = search(&px, &terms, MediaKind::Photo, &LANDSCAPE_720, 15)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider.rate_limited");
    match &err {
        StockError::Provider(p) => assert_eq!(p.retry_after(), Some(Duration::from_secs(3600))),
        other => panic!("{other:?}"),
    }
    no_key_in(&err);
}

#[tokio::test]
async fn nothing_found_and_nothing_to_search_have_stable_codes() {
    let fake = Fake::start("../stock/pexels_fake.py");
    let px = pexels(&fake);
    let err = search(
        &px,
        &extract("A zebra", 2),
        MediaKind::Photo,
        &LANDSCAPE_720,
        15,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "stock.no_results");
    assert!(err.is_client_error());
    assert_eq!(fake.stats().await["requests"], 1, "one word: no second try");
    let err = search(
        &px,
        &extract("It is what it is.", 2),
        MediaKind::Photo,
        &LANDSCAPE_720,
        15,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "stock.no_terms");
    assert_eq!(fake.stats().await["requests"], 1, "no words, no request");
}

#[tokio::test]
async fn p_tp_5_pexels_keys_never_show_in_errors() {
    let fake = Fake::start("../stock/pexels_fake.py");
    let terms = extract("A beach", 2);
    let wrong = Pexels::new(Endpoint {
        key: Secret::new("sk-wrong-key-000"),
        ..fake.endpoint("")
    })
    .unwrap();
    let err = search(&wrong, &terms, MediaKind::Photo, &LANDSCAPE_720, 15)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider.unauthorized");
    assert!(!format!("{err} {err:?}").contains("sk-wrong-key-000"));
    let px = pexels(&fake);
    // An answer that echoes the Authorization header back is redacted.
    fake.set(json!({"mode": "echo_auth", "count": 1})).await;
    let err = search(&px, &terms, MediaKind::Photo, &LANDSCAPE_720, 15)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider.rejected");
    assert!(err.to_string().contains("***"), "{err}");
    no_key_in(&err);
    // A provider that keeps failing: provider.unavailable after the retries, still no key.
    fake.set(json!({"mode": "fail", "count": 100})).await;
    let err = search(&px, &terms, MediaKind::Photo, &LANDSCAPE_720, 15)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider.unavailable");
    no_key_in(&err);
}

#[tokio::test]
async fn pixabay_images_and_videos_are_ranked_credited_and_bounded() {
    let fake = Fake::start("../stock/pixabay_fake.py");
    let pb = pixabay(&fake);
    let found = search(
        &pb,
        &extract("Sunset on the beach", 3),
        MediaKind::Photo,
        &LANDSCAPE_720,
        15,
    )
    .await
    .unwrap();
    let best = &found[0].candidate;
    assert_eq!(best.id, "621112");
    assert_eq!(
        (best.width, best.height),
        (1280, 853),
        "largeImageURL is at most 1280 px"
    );
    let a = &best.attribution;
    assert_eq!(a.text, "Image by Teerasuwat from Pixabay");
    assert_eq!(
        a.author_url.as_deref(),
        Some("https://pixabay.com/users/Teerasuwat-21112/")
    );
    assert_eq!(
        a.source_url.as_deref(),
        Some("https://pixabay.com/photos/beach-621112/")
    );
    assert_eq!(a.licence, "Pixabay Content License");
    let last = fake.last().await;
    assert_eq!(last["query"]["q"], "sunset beach");
    assert_eq!(last["query"]["orientation"], "horizontal");
    assert_eq!(last["query"]["safesearch"], "true");
    let dir = tempfile::tempdir().unwrap();
    let got = download(&pb, best, &dir.path().join("i.jpg"), &ROOMY)
        .await
        .unwrap();
    assert_eq!(&std::fs::read(&got.path).unwrap()[..2], b"\xff\xd8");

    // Videos: the portrait clip for a portrait job, its smallest covering rendition, whose
    // announced size is checked before anything is fetched.
    let portrait = Want {
        aspect: Aspect::Portrait,
        resolution: Resolution::P720,
        scene_s: 3.0,
    };
    let found = search(
        &pb,
        &extract("A surfer on the beach", 3),
        MediaKind::Video,
        &portrait,
        15,
    )
    .await
    .unwrap();
    let clip = &found[0].candidate;
    assert_eq!(clip.id, "126");
    assert_eq!(
        (clip.width, clip.height, clip.size_bytes),
        (720, 1280, Some(1_500_000))
    );
    assert_eq!(clip.attribution.text, "Video by Oleg from Pixabay");
    let downloads = fake.stats().await["downloads"].clone();
    let one_mib = DownloadLimits {
        max_bytes: 1 << 20,
        ..ROOMY
    };
    let dest = dir.path().join("v.mp4");
    let err = download(&pb, clip, &dest, &one_mib).await.unwrap_err();
    assert_eq!(err.code(), "stock.too_large");
    assert!(!dest.exists());
    assert_eq!(
        fake.stats().await["downloads"],
        downloads,
        "refused before fetching"
    );
    download(&pb, clip, &dest, &ROOMY).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), fake.clip());
}

#[tokio::test]
async fn p_tp_5_pixabay_keys_travel_in_the_url_yet_never_show() {
    let fake = Fake::start("../stock/pixabay_fake.py");
    let terms = extract("A beach", 2);
    // Pixabay refuses a key with a plain-text 400: read as a refused key, not a bad request.
    let wrong = Pixabay::new(pixabay_endpoint(&fake, "sk-wrong-key-000")).unwrap();
    let err = search(&wrong, &terms, MediaKind::Photo, &LANDSCAPE_720, 15)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider.unauthorized", "{err}");
    assert!(!format!("{err} {err:?}").contains("sk-wrong-key-000"));
    let pb = pixabay(&fake);
    // An answer quoting the request URL (key and all) is redacted.
    reqwest::Client::new()
        .post(format!("{}/__fake/echo_url", fake.base()))
        .send()
        .await
        .unwrap();
    let err = search(&pb, &terms, MediaKind::Photo, &LANDSCAPE_720, 15)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider.rejected");
    assert!(err.to_string().contains("key=***"), "{err}");
    no_key_in(&err);
    // A 429 (plain text, with Retry-After) is waited out; empty results are stock.no_results.
    fake.set(json!({"mode": "rate_limit", "count": 1, "retry_after": 1}))
        .await;
    search(&pb, &terms, MediaKind::Photo, &LANDSCAPE_720, 15)
        .await
        .unwrap();
    let err = search(
        &pb,
        &extract("A zebra", 2),
        MediaKind::Video,
        &LANDSCAPE_720,
        15,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "stock.no_results");
    // The connection error when Pixabay is down carries no URL, so no key either.
    drop(fake);
    let err = search(&pb, &terms, MediaKind::Photo, &LANDSCAPE_720, 15)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider.network");
    no_key_in(&err);
}

#[test]
fn the_pexels_fake_is_faithful_to_a_pypi_client() {
    run_check("../stock/check_pexels.py");
}

#[test]
fn the_pixabay_fake_is_faithful_to_a_pypi_client() {
    run_check("../stock/check_pixabay.py");
}

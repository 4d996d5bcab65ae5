//! P-TP-5 for the stock providers: no key in any log line at TRACE (the HTTP stack's `log`
//! records included) through searches, downloads and failures that echo the request back. It
//! matters most for Pixabay, whose key travels in the request's URL. One test in its own
//! binary: the subscriber is process-wide.

#[path = "../../providers/tests/common/mod.rs"]
mod common;

use common::{Fake, Recording, KEY};
use reelsmith_core::spec::{Aspect, Resolution};
use reelsmith_stock::keywords::extract;
use reelsmith_stock::pexels::Pexels;
use reelsmith_stock::pixabay::Pixabay;
use reelsmith_stock::{download, search, DownloadLimits, MediaKind, StockProvider, Want};
use serde_json::json;
use tracing_subscriber::util::SubscriberInitExt;

async fn flow(p: &dyn StockProvider, fake: &Fake, echo: &str) {
    let want = Want {
        aspect: Aspect::Landscape,
        resolution: Resolution::P720,
        scene_s: 3.0,
    };
    let limits = DownloadLimits {
        max_bytes: 10 << 20,
        max_clip_s: 60.0,
    };
    let dir = tempfile::tempdir().unwrap();
    for (kind, text) in [
        (MediaKind::Photo, "Sunset on the beach"),
        (MediaKind::Video, "Waves on the beach"),
    ] {
        let found = search(p, &extract(text, 3), kind, &want, 10).await.unwrap();
        download(p, &found[0].candidate, &dir.path().join("f"), &limits)
            .await
            .unwrap();
    }
    // Failures: a rate limit waited out, an answer quoting the request back, an outage.
    fake.set(json!({"mode": "rate_limit", "count": 1, "retry_after": 0}))
        .await;
    search(p, &extract("A beach", 2), MediaKind::Photo, &want, 10)
        .await
        .unwrap();
    reqwest::Client::new()
        .post(format!("{}{echo}", fake.base()))
        .json(&json!({"mode": "echo_auth", "count": 1}))
        .send()
        .await
        .unwrap();
    assert!(
        search(p, &extract("A beach", 2), MediaKind::Photo, &want, 10)
            .await
            .is_err()
    );
    fake.set(json!({"mode": "fail", "count": 100})).await;
    assert!(
        search(p, &extract("A beach", 2), MediaKind::Photo, &want, 10)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_tp_5_no_stock_key_appears_in_any_log_line_at_trace_level() {
    let recording = Recording::default();
    let writer = recording.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .try_init()
        .expect("this binary's only subscriber");

    let pexels_fake = Fake::start("../stock/pexels_fake.py");
    let pexels = Pexels::new(pexels_fake.endpoint("")).unwrap();
    flow(&pexels, &pexels_fake, "/__fake/mode").await;

    let pixabay_fake = Fake::start("../stock/pixabay_fake.py");
    let ep = pixabay_fake
        .endpoint("/api/")
        .with_download_hosts(&["127.0.0.1"]);
    let pixabay = Pixabay::new(ep).unwrap();
    flow(&pixabay, &pixabay_fake, "/__fake/echo_url").await;

    let logs = recording.text();
    assert!(logs.contains("TRACE"), "trace level was recorded");
    for port in [pexels_fake.port, pixabay_fake.port] {
        assert!(
            logs.contains(&port.to_string()),
            "the flow against {port} was recorded"
        );
    }
    let tail = &KEY[KEY.len() - 10..];
    assert!(
        !logs.contains(KEY) && !logs.contains(tail),
        "a key in the logs:\n{}",
        logs.lines()
            .filter(|l| l.contains(tail))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

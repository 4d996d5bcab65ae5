//! `reelsmith worker`'s own `/metrics` (`worker.metrics_listen`), served on a real socket: the
//! server's rule (404 without a configured token, 401 without the right bearer) and the
//! process's pipeline registry in the OpenMetrics format.

use reelsmith_config::Secret;
use reelsmith_worker::metrics_endpoint::serve;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "scraper-token-8f3k2m9q";

struct Endpoint {
    base: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Endpoint {
    async fn start(token: Option<&str>) -> Endpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(
            listener,
            token.map(|t| Secret::new(t.to_owned())),
            stop.clone(),
        ));
        Endpoint { base, stop, task }
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, String, String) {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(bearer) = bearer {
            request = request.header("authorization", format!("Bearer {bearer}"));
        }
        let reply = request.send().await.unwrap();
        let status = reply.status().as_u16();
        let kind = reply
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (status, kind, reply.text().await.unwrap())
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn code(body: &str) -> String {
    let problem: serde_json::Value = serde_json::from_str(body).unwrap();
    problem["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn without_a_configured_token_the_worker_metrics_do_not_exist() {
    let endpoint = Endpoint::start(None).await;
    for bearer in [None, Some(TOKEN)] {
        let (status, kind, body) = endpoint.get("/metrics", bearer).await;
        assert_eq!(status, 404);
        assert_eq!(kind, "application/problem+json");
        assert_eq!(code(&body), "not_found");
        assert!(!body.contains("reelsmith_"));
    }
    endpoint.stop().await;
}

#[tokio::test]
async fn only_the_metrics_token_reads_the_worker_metrics() {
    let endpoint = Endpoint::start(Some(TOKEN)).await;
    for bearer in [
        None,
        Some("scraper-token-wrong"),
        Some(&format!("{TOKEN}x")),
    ] {
        let (status, _, body) = endpoint.get("/metrics", bearer).await;
        assert_eq!(status, 401, "{bearer:?}");
        assert_eq!(code(&body), "metrics.unauthorized");
        assert!(!body.contains("reelsmith_"));
    }
    assert_eq!(endpoint.get("/elsewhere", Some(TOKEN)).await.0, 404);

    // What the scrape shows is this process's live pipeline registry.
    let (_, _, first) = endpoint.get("/metrics", Some(TOKEN)).await;
    reelsmith_metrics::worker().count_run("released");
    let (status, kind, text) = endpoint.get("/metrics", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(kind, reelsmith_metrics::CONTENT_TYPE);
    // prometheus-client leaves out a family until it has a series: this process has recorded
    // nothing but the run above.
    assert!(text.contains("# TYPE reelsmith_renders counter"), "{text}");
    let released = |t: &str| -> u64 {
        t.lines()
            .find_map(|l| l.strip_prefix("reelsmith_renders_total{outcome=\"released\"} "))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    assert_eq!(released(&text), released(&first) + 1);
    // The API's families are the server's business, not a worker's.
    assert!(!text.contains("reelsmith_http_requests"));
    assert!(text.ends_with("# EOF\n"));
    endpoint.stop().await;
}

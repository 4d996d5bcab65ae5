//! Pictures for storyboard scenes through the API (issue 25), on SQLite with a local folder and
//! on PostgreSQL with S3 (`moto_server`), against the Pexels and Pixabay fakes
//! (tests/fakes/stock/) and a real media library folder: consent per provider (P-TP-2), only
//! the search words leave (P-TP-3), every search and download in the transfer log (P-TP-4),
//! answers cached for 24 hours, picks that only the server issues (stale, made-up and another
//! user's refused), no results, a provider that is down, and a render that downloads its stock
//! picture, credits it, and fails cleanly (refunded) when a file is over the limits. The search
//! words come from the chat model (tests/fakes/providers/openai_fake.py) only with consent, and
//! nothing leaves while processing is paused (P-RIGHTS-4).

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
use reelsmith_config::{Config, Secret};
use reelsmith_store::{now_ms, JobStatus};
use serde_json::{json, Value};

const GRANT: i64 = 500;
const SCRIPT: &str = "Brown rocks on a beach at sunset.\n\nA lighthouse stands on the rocky coast.\n\nQuantum zebras juggle marmalade.";

/// The fakes and the library folder a case runs against; dropped (fakes killed) at its end.
struct Stock {
    pexels: fakes::Fake,
    pixabay: fakes::Fake,
    /// The operator's chat model (an OpenAI-compatible API).
    chat: fakes::Fake,
    _library: tempfile::TempDir,
}

impl Stock {
    fn start() -> (Stock, impl FnOnce(&mut Config)) {
        let pexels = fakes::Fake::start("../stock/pexels_fake.py");
        let pixabay = fakes::Fake::start("../stock/pixabay_fake.py");
        let chat = fakes::Fake::start("openai_fake.py");
        let library = tempfile::tempdir().unwrap();
        std::fs::create_dir(library.path().join("coast")).unwrap();
        std::fs::write(library.path().join("coast/lighthouse.jpg"), jpeg(640, 360)).unwrap();
        std::fs::write(
            library.path().join("library.toml"),
            "[[item]]\nfile = \"coast/lighthouse.jpg\"\ntitle = \"Lighthouse at dusk\"\n\
             tags = [\"lighthouse\", \"coast\"]\nauthor = \"Jane Doe\"\nlicence = \"CC-BY-4.0\"\n\
             source = \"https://example.org/lighthouse\"\n",
        )
        .unwrap();
        let chat_base = format!("{}/v1", chat.base());
        let (px, pb, lib) = (
            pexels.base(),
            format!("{}/api/", pixabay.base()),
            library.path().to_path_buf(),
        );
        let configure = move |c: &mut Config| {
            c.rate_limits.job_submission.count = 1000;
            c.credits.signup_grant = GRANT;
            c.stock.pexels_key = Some(Secret::new(fakes::KEY.to_owned()));
            c.stock.pexels_base_url = Some(px);
            c.stock.pixabay_key = Some(Secret::new(fakes::KEY.to_owned()));
            c.stock.pixabay_base_url = Some(pb);
            c.stock.library = Some(lib);
            c.stock.max_clip_seconds = 10;
            c.providers.openai.key = Some(Secret::new(fakes::KEY.to_owned()));
            c.providers.openai.base_url = Some(chat_base);
            c.providers.openai.chat_model = Some("gpt-test".into());
        };
        (
            Stock {
                pexels,
                pixabay,
                chat,
                _library: library,
            },
            configure,
        )
    }
}

macro_rules! on_both_with_stock {
    ($($case:ident),* $(,)?) => {
        mod sqlite_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (stock, configure) = super::Stock::start();
                    super::$case(crate::common::app_with(configure).await, stock).await;
                }
            )*
        }
        mod postgres_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (stock, configure) = super::Stock::start();
                    super::$case(crate::backends::postgres_s3_with(configure).await, stock).await;
                }
            )*
        }
    };
}

on_both_with_stock!(
    p_tp_2_without_consent_only_the_library_and_uploads_are_offered,
    p_tp_3_p_tp_4_a_stock_search_sends_only_its_words_is_logged_and_cached,
    p_tp_2_p_tp_4_the_chat_model_chooses_the_words_only_with_consent_and_logged,
    p_rights_4_a_paused_account_searches_only_the_library_and_its_uploads,
    stock_picks_are_the_servers_own_for_that_draft_and_owner,
    no_results_and_a_provider_down_change_and_charge_nothing,
    stock_and_library_pictures_render_credited_and_a_refused_download_refunds,
);

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn user(t: &TestApp, name: &str) -> Auth {
    Auth::Cookie(t.signed_in_user(&format!("{name}@example.org"), name).await)
}

async fn consent(t: &TestApp, auth: &Auth, provider: &str) {
    let r = t
        .json(
            Method::PUT,
            &format!("/api/v1/me/consents/{provider}"),
            auth,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
}

/// A draft of [`SCRIPT`] (three title cards); its id and ETag.
async fn draft(t: &TestApp, auth: &Auth) -> (String, String) {
    let spec = json!({ "script": SCRIPT, "resolution": "480p", "fps": 24, "seed": 3 });
    let r = t
        .json(Method::POST, "/api/v1/storyboards", auth, spec)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    assert_eq!(r.json()["scenes"].as_array().unwrap().len(), 3);
    (
        r.json()["id"].as_str().unwrap().to_owned(),
        r.header("etag").to_owned(),
    )
}

async fn pictures(t: &TestApp, auth: &Auth, id: &str, scene: usize, query: &str) -> Reply {
    t.get(
        &format!("/api/v1/jobs/{id}/storyboard/scenes/{scene}/pictures?{query}"),
        auth,
    )
    .await
}

async fn put(t: &TestApp, auth: &Auth, id: &str, etag: &str, scenes: &Value) -> Reply {
    let req = t
        .request(Method::PUT, &format!("/api/v1/jobs/{id}/storyboard"), auth)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::IF_MATCH, etag);
    t.send(
        req.body(Body::from(json!({ "scenes": scenes }).to_string()))
            .unwrap(),
    )
    .await
}

fn scene(text: &str, visual: Value) -> Value {
    json!({ "text": text, "visual": visual, "motion": "static", "transition": "cut" })
}

fn stock(pick: &str) -> Value {
    json!({ "kind": "stock", "pick": pick })
}

fn card() -> Value {
    json!({ "kind": "card" })
}

async fn balance(t: &TestApp, auth: &Auth) -> i64 {
    t.get("/api/v1/me/credits", auth).await.json()["balance"]
        .as_i64()
        .unwrap()
}

async fn my_transfers(t: &TestApp, auth: &Auth) -> Vec<Value> {
    let r = t.get("/api/v1/me/transfers", auth).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    r.json().as_array().unwrap().clone()
}

async fn p_tp_2_without_consent_only_the_library_and_uploads_are_offered(t: TestApp, s: Stock) {
    let ada = user(&t, "ada").await;
    let up = t
        .upload(&ada, "pic.jpg", "image/jpeg", &jpeg(320, 180))
        .await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", text(&up));
    let upload_id = up.json()["id"].as_str().unwrap().to_owned();
    let consents = t.get("/api/v1/me/consents", &ada).await.json();
    for name in ["pexels", "pixabay"] {
        assert!(
            consents["providers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["provider"] == name && p["state"] == "none"),
            "{name} is consentable: {consents}"
        );
    }
    let (id, _) = draft(&t, &ada).await;

    let r = pictures(&t, &ada, &id, 1, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let found = r.json();
    let results = found["results"].as_array().unwrap();
    assert_eq!(results[0]["source"], "library", "{found}");
    assert_eq!(
        results[0]["credit"]["text"],
        "\"Lighthouse at dusk\" by Jane Doe, CC-BY-4.0"
    );
    assert!(results.iter().any(|p| p["source"] == "upload"
        && p["preview_url"] == format!("/api/v1/uploads/{upload_id}/content").as_str()));
    assert!(results
        .iter()
        .all(|p| p["source"] != "pexels" && p["source"] != "pixabay"));
    assert_eq!(skipped(&found), both_skipped("consent.required"));
    each_alone_is_refused(&t, &ada, &id, "consent.required").await;
    nothing_reached_stock(&s).await;
    assert!(my_transfers(&t, &ada).await.is_empty());
    pictures(&t, &ada, &id, 1, "source=flickr")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "request.invalid_query");
    pictures(&t, &ada, &id, 9, "")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn p_tp_3_p_tp_4_a_stock_search_sends_only_its_words_is_logged_and_cached(
    t: TestApp,
    s: Stock,
) {
    let ada = user(&t, "ada").await;
    consent(&t, &ada, "pexels").await;
    consent(&t, &ada, "pixabay").await;
    let (id, etag) = draft(&t, &ada).await;

    let r = pictures(&t, &ada, &id, 0, "source=pexels").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let first = r.json();
    let best = &first["results"][0];
    assert_eq!(best["source"], "pexels");
    assert_eq!(best["credit"]["text"], "Photo by Ana Costa on Pexels");
    assert_eq!(
        best["credit"]["source_url"],
        "https://www.pexels.com/photo/brown-rocks-on-a-beach-at-sunset-2014422/"
    );
    let sent = s.pexels.bodies().await;
    assert!(!sent.is_empty());
    for body in &sent {
        let mut keys: Vec<&str> = body["query"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["orientation", "page", "per_page", "query"],
            "nothing else leaves"
        );
        let words = body["query"]["query"].as_str().unwrap();
        assert!(words.split(' ').count() <= 3, "{words}");
        assert!(
            !words.contains("at sunset"),
            "never the scene's text: {words}"
        );
    }

    // The same search again: answered from the cache, nothing sent, nothing logged.
    let again = pictures(&t, &ada, &id, 0, "source=pexels").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.json()["results"].as_array().unwrap().len(),
        first["results"].as_array().unwrap().len()
    );
    assert_eq!(
        s.pexels.bodies().await.len(),
        sent.len(),
        "a cache hit calls nobody"
    );

    // Pixabay (its catalogue has no brown rocks, so a scene about the sea): its own credit line.
    let sea = json!([
        scene("Brown rocks on a beach at sunset.", card()),
        scene("The sea at sunset.", card()),
    ]);
    let r = put(&t, &ada, &id, &etag, &sea).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let r = pictures(&t, &ada, &id, 1, "source=pixabay").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let credit = r.json()["results"][0]["credit"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(credit.ends_with("from Pixabay"), "{credit}");

    // Every search that left is in the log, before it left, with its words and how it ended.
    let log = my_transfers(&t, &ada).await;
    let searches: Vec<&Value> = log
        .iter()
        .filter(|x| x["purpose"] == "stock_search")
        .collect();
    let to_pexels: Vec<&&Value> = searches
        .iter()
        .filter(|x| x["provider"] == "pexels")
        .collect();
    assert_eq!(to_pexels.len(), sent.len(), "{log:?}");
    let mut logged: Vec<&str> = to_pexels
        .iter()
        .map(|x| x["sent"]["search words"].as_str().unwrap())
        .collect();
    let mut asked: Vec<&str> = sent
        .iter()
        .map(|b| b["query"]["query"].as_str().unwrap())
        .collect();
    logged.sort_unstable();
    asked.sort_unstable();
    assert_eq!(logged, asked);
    assert!(to_pexels
        .iter()
        .all(|x| x["status"] == "accepted" && x["outcome"] == "delivered"));
    assert!(searches.iter().any(|x| x["provider"] == "pixabay"));
}

/// The Pexels queries sent so far.
async fn pexels_queries(s: &Stock) -> Vec<String> {
    s.pexels
        .bodies()
        .await
        .iter()
        .map(|b| b["query"]["query"].as_str().unwrap().to_owned())
        .collect()
}

/// Both stock providers, each skipped with `code`.
fn both_skipped(code: &str) -> Vec<(String, String)> {
    ["pexels", "pixabay"]
        .map(|p| (p.to_owned(), code.to_owned()))
        .into()
}

/// Each stock provider searched alone (for scene 1) answers `409 code`.
async fn each_alone_is_refused(t: &TestApp, auth: &Auth, id: &str, code: &str) {
    for source in ["pexels", "pixabay"] {
        pictures(t, auth, id, 1, &format!("source={source}"))
            .await
            .assert_problem(StatusCode::CONFLICT, code);
    }
}

async fn nothing_reached_stock(s: &Stock) {
    assert!(s.pexels.bodies().await.is_empty(), "nothing reached Pexels");
    assert!(
        s.pixabay.bodies().await.is_empty(),
        "nothing reached Pixabay"
    );
}

fn skipped(found: &Value) -> Vec<(String, String)> {
    found["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_owned(),
                s["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn p_tp_2_p_tp_4_the_chat_model_chooses_the_words_only_with_consent_and_logged(
    t: TestApp,
    s: Stock,
) {
    let ada = user(&t, "ada").await;
    consent(&t, &ada, "pexels").await;
    let (id, _) = draft(&t, &ada).await;

    // No consent for the chat model: this server chooses the words, nothing goes to the model.
    let r = pictures(&t, &ada, &id, 1, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(r.json()["terms_from"], "local");
    assert!(r.json()["terms"][0] == "lighthouse", "{}", r.json());
    assert!(
        s.chat.bodies().await.is_empty(),
        "nothing reached the chat model"
    );
    assert!(pexels_queries(&s)
        .await
        .iter()
        .all(|q| !q.contains("cinematic")));

    // With consent the model chooses them: the scene's text goes to it, and its words (the fake
    // always leads with "cinematic", a word the scene does not have) go to Pexels.
    consent(&t, &ada, "openai").await;
    let before = pexels_queries(&s).await.len();
    let r = pictures(&t, &ada, &id, 1, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let found = r.json();
    assert_eq!(found["terms_from"], "chat", "{found}");
    assert_eq!(found["terms"][0], "cinematic", "{found}");
    assert_eq!(
        found["results"][0]["source"], "library",
        "the library is still searched with the model's words: {found}"
    );
    let asked = s.chat.bodies().await;
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["model"], "gpt-test");
    assert_eq!(
        asked[0]["messages"][1]["content"],
        "A lighthouse stands on the rocky coast.\nAt most 6 search words.",
        "only the scene's own text goes, not the script: {asked:?}"
    );
    let sent = pexels_queries(&s).await;
    assert!(
        sent[before..].iter().any(|q| q.starts_with("cinematic")),
        "Pexels got the model's words: {sent:?}"
    );
    let log = my_transfers(&t, &ada).await;
    let to_chat: Vec<&Value> = log.iter().filter(|x| x["provider"] == "openai").collect();
    assert_eq!(to_chat.len(), 1, "{log:?}");
    assert_eq!(to_chat[0]["purpose"], "stock_terms");
    assert_eq!(to_chat[0]["outcome"], "delivered");
    assert_eq!(to_chat[0]["sent"], json!({ "scene text chars": 39 }));

    // The same scene again: its words are remembered, nothing is sent or logged.
    let again = pictures(&t, &ada, &id, 1, "").await;
    assert_eq!(again.json()["terms_from"], "chat");
    assert_eq!(
        s.chat.bodies().await.len(),
        1,
        "a remembered answer calls nobody"
    );
    assert_eq!(my_transfers(&t, &ada).await.len(), log.len());

    // The model fails: this server's words are used, the failure is shown and logged.
    s.chat.set(json!({ "mode": "malformed", "count": 5 })).await;
    let r = pictures(&t, &ada, &id, 0, "source=all").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let found = r.json();
    assert_eq!(found["terms_from"], "local", "{found}");
    assert_eq!(found["results"][0]["source"], "pexels", "{found}");
    assert!(skipped(&found).contains(&("openai".into(), "provider.malformed".into())));
    let log = my_transfers(&t, &ada).await;
    assert!(
        log.iter().any(|x| x["provider"] == "openai"
            && x["purpose"] == "stock_terms"
            && x["outcome"] == "provider.malformed"),
        "{log:?}"
    );
}

async fn p_rights_4_a_paused_account_searches_only_the_library_and_its_uploads(
    t: TestApp,
    s: Stock,
) {
    let ada = user(&t, "ada").await;
    consent(&t, &ada, "pexels").await;
    consent(&t, &ada, "pixabay").await;
    consent(&t, &ada, "openai").await;
    let (id, _) = draft(&t, &ada).await;
    let pause = |paused: bool| {
        t.json(
            Method::PUT,
            "/api/v1/me/processing",
            &ada,
            json!({ "paused": paused }),
        )
    };
    assert_eq!(pause(true).await.status, StatusCode::OK);

    let r = pictures(&t, &ada, &id, 1, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let found = r.json();
    assert_eq!(found["terms_from"], "local");
    assert_eq!(found["results"][0]["source"], "library");
    assert_eq!(skipped(&found), both_skipped("processing.paused"));
    each_alone_is_refused(&t, &ada, &id, "processing.paused").await;
    nothing_reached_stock(&s).await;
    assert!(
        s.chat.bodies().await.is_empty(),
        "nothing reached the chat model"
    );
    assert!(my_transfers(&t, &ada).await.is_empty());

    // Resumed, the same search reaches them again.
    assert_eq!(pause(false).await.status, StatusCode::OK);
    let r = pictures(&t, &ada, &id, 1, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(r.json()["terms_from"], "chat");
    assert!(
        skipped(&r.json())
            .iter()
            .all(|(_, code)| code != "processing.paused"),
        "{}",
        r.json()
    );
    assert!(!s.pexels.bodies().await.is_empty());
    assert_eq!(s.chat.bodies().await.len(), 1);
}

async fn stock_picks_are_the_servers_own_for_that_draft_and_owner(t: TestApp, s: Stock) {
    let ada = user(&t, "ada").await;
    let bob = user(&t, "bob").await;
    consent(&t, &ada, "pexels").await;
    let (id, etag) = draft(&t, &ada).await;
    let found = pictures(&t, &ada, &id, 0, "source=pexels").await.json();
    let pick = found["results"][0]["pick"].as_str().unwrap().to_owned();
    let (other, _) = draft(&t, &ada).await;
    let stale = pictures(&t, &ada, &other, 1, "source=library").await.json()["results"][0]["pick"]
        .as_str()
        .unwrap()
        .to_owned();
    let (bobs_draft, _) = draft(&t, &bob).await;
    let bobs = pictures(&t, &bob, &bobs_draft, 1, "source=library")
        .await
        .json()["results"][0]["pick"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bob cannot search Ada's draft: it does not exist for him.
    pictures(&t, &bob, &id, 0, "source=library")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // A made-up pick, a pick of another draft, Bob's pick: refused, nothing changed.
    for bad in ["made-up", stale.as_str(), bobs.as_str()] {
        let scenes = json!([scene("Brown rocks on a beach at sunset.", stock(bad))]);
        put(&t, &ada, &id, &etag, &scenes)
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "storyboard.unknown_pick");
    }
    let now = t.get(&format!("/api/v1/jobs/{id}/storyboard"), &ada).await;
    assert_eq!(now.header("etag"), etag, "no refusal changed anything");

    // A client-sent offer (a URL of its choosing) is replaced by what the server offered.
    let forged = json!({
        "kind": "stock", "pick": pick,
        "offer": { "source": "pexels", "id": "1", "kind": "photo", "width": 9, "height": 9,
            "duration_s": null, "words": "x", "location": "https://evil.example/x.jpg",
            "size_bytes": null, "preview_url": null,
            "attribution": { "text": "forged", "author": "x", "author_url": null,
                "source_url": null, "provider": "Pexels", "licence": "none" } }
    });
    let scenes = json!([
        scene("Brown rocks on a beach at sunset.", forged),
        scene("A lighthouse stands on the rocky coast.", card()),
    ]);
    let r = put(&t, &ada, &id, &etag, &scenes).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let offer = &r.json()["scenes"][0]["visual"]["offer"];
    assert_eq!(offer["attribution"]["text"], "Photo by Ana Costa on Pexels");
    let location = offer["location"].as_str().unwrap();
    assert!(location.starts_with(&s.pexels.base()), "{location}");
    assert_eq!(r.json()["scenes"][0]["visual"]["pick"], pick.as_str());
}

async fn no_results_and_a_provider_down_change_and_charge_nothing(t: TestApp, s: Stock) {
    let ada = user(&t, "ada").await;
    consent(&t, &ada, "pexels").await;
    let (id, etag) = draft(&t, &ada).await;
    let before = balance(&t, &ada).await;

    pictures(&t, &ada, &id, 2, "source=pexels")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "stock.no_results");
    pictures(&t, &ada, &id, 2, "source=library")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "stock.no_results");

    s.pexels
        .set(json!({ "mode": "unavailable", "count": 100 }))
        .await;
    let down = pictures(&t, &ada, &id, 1, "source=pexels").await;
    down.assert_problem(StatusCode::BAD_GATEWAY, "provider.unavailable");
    assert!(!text(&down).contains(fakes::KEY), "the key never shows");
    // With every source, the others still answer and the outage is named.
    let r = pictures(&t, &ada, &id, 1, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let all = r.json();
    assert_eq!(all["results"][0]["source"], "library");
    assert!(all["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["source"] == "pexels" && x["code"] == "provider.unavailable"));

    let now = t.get(&format!("/api/v1/jobs/{id}/storyboard"), &ada).await;
    assert_eq!(now.header("etag"), etag, "the storyboard is unchanged");
    assert_eq!(balance(&t, &ada).await, before, "nothing charged");
    let log = my_transfers(&t, &ada).await;
    assert!(log.iter().any(|x| x["provider"] == "pexels"
        && x["status"] == "failed"
        && x["outcome"] == "provider.unavailable"));
}

async fn render(t: &TestApp, auth: &Auth, id: &str) {
    let r = t
        .json(
            Method::POST,
            &format!("/api/v1/jobs/{id}/render"),
            auth,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
}

async fn stock_and_library_pictures_render_credited_and_a_refused_download_refunds(
    t: TestApp,
    s: Stock,
) {
    let ada = user(&t, "ada").await;
    consent(&t, &ada, "pexels").await;
    let (id, etag) = draft(&t, &ada).await;
    let photo = pictures(&t, &ada, &id, 0, "source=pexels").await.json()["results"][0]["pick"]
        .as_str()
        .unwrap()
        .to_owned();
    let library = pictures(&t, &ada, &id, 1, "source=library").await.json()["results"][0]["pick"]
        .as_str()
        .unwrap()
        .to_owned();
    let scenes = json!([
        scene("Brown rocks on a beach at sunset.", stock(&photo)),
        scene("A lighthouse stands on the rocky coast.", stock(&library)),
        scene("Quantum zebras juggle marmalade.", card()),
    ]);
    let r = put(&t, &ada, &id, &etag, &scenes).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));

    // Clips over this server's 10 s limit are not offered: the fake's landscape clips of the
    // beach (12 s) and of the city (30 s) are all it has, so a landscape draft gets none,
    // though Pexels answered.
    let (wide, wide_etag) = draft(&t, &ada).await;
    let r = put(
        &t,
        &ada,
        &wide,
        &wide_etag,
        &json!([scene("Waves on the beach.", card())]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let asked = s.pexels.bodies().await.len();
    pictures(&t, &ada, &wide, 0, "source=pexels&kind=video")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "stock.no_results");
    assert!(s.pexels.bodies().await.len() > asked, "Pexels was asked");

    // A portrait draft about the beach gets the fake's 4 s portrait clip.
    let spec = json!({ "script": "The beach.", "aspect": "9:16", "resolution": "480p",
                       "fps": 24, "seed": 3 });
    let r = t
        .json(Method::POST, "/api/v1/storyboards", &ada, spec)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let long = r.json()["id"].as_str().unwrap().to_owned();
    let long_etag = r.header("etag").to_owned();
    let clips = pictures(&t, &ada, &long, 0, "source=pexels&kind=video").await;
    assert_eq!(clips.status, StatusCode::OK, "{}", text(&clips));
    let lengths: Vec<f64> = clips.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["duration_s"].as_f64().unwrap())
        .collect();
    assert_eq!(lengths, [4.0], "{}", clips.json());
    let four = clips.json()["results"][0]["pick"]
        .as_str()
        .unwrap()
        .to_owned();
    // An offer made before the operator lowered the limit (the same clip said to last 12 s):
    // the worker checks again, and refuses it before fetching anything.
    let ada_id = t
        .state
        .db
        .user_by_email("ada@example.org")
        .await
        .unwrap()
        .unwrap()
        .id;
    let mut stale = t
        .state
        .db
        .stock_offer(&ada_id, &long, &four)
        .await
        .unwrap()
        .unwrap()
        .candidate;
    stale["duration_s"] = json!(12.0);
    let twelve = t
        .state
        .db
        .add_stock_offers(&ada_id, &long, 0, &[("pexels".into(), stale)], now_ms())
        .await
        .unwrap()
        .remove(0);
    let r = put(
        &t,
        &ada,
        &long,
        &long_etag,
        &json!([scene("The beach.", stock(&twelve))]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));

    let before = balance(&t, &ada).await;
    let downloads_before = s.pexels.stats().await["downloads"].as_i64().unwrap_or(0);
    render(&t, &ada, &id).await;
    render(&t, &ada, &long).await;
    t.work_until_done(&[&id, &long], None).await;

    let job = t.state.db.job_by_id(&id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);
    assert_eq!(
        s.pexels.stats().await["downloads"].as_i64().unwrap_or(0),
        downloads_before + 1,
        "the picked photo, once"
    );
    let view = t.get(&format!("/api/v1/jobs/{id}"), &ada).await.json();
    let credits: Vec<&str> = view["credits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        credits,
        [
            "Photo by Ana Costa on Pexels",
            "\"Lighthouse at dusk\" by Jane Doe, CC-BY-4.0"
        ]
    );
    let description = t
        .get(&format!("/api/v1/jobs/{id}/description.txt"), &ada)
        .await;
    assert_eq!(description.status, StatusCode::OK);
    let description = text(&description);
    assert!(
        description.contains("Photo by Ana Costa on Pexels <https://www.pexels.com/photo/brown-rocks-on-a-beach-at-sunset-2014422/>"),
        "{description}"
    );
    assert!(
        description.contains("<https://example.org/lighthouse>"),
        "{description}"
    );
    let bob = user(&t, "bob").await;
    t.get(&format!("/api/v1/jobs/{id}/description.txt"), &bob)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // The job's transfer log: the searches made for its draft, and the download.
    let log = t
        .get(&format!("/api/v1/jobs/{id}/transfers"), &ada)
        .await
        .json();
    let purposes: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["purpose"].as_str().unwrap(),
                x["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(purposes.contains(&("stock_search", "accepted")), "{log}");
    assert!(purposes.contains(&("stock_download", "accepted")), "{log}");

    // The clip over the limit failed the job with its code; its credits came back.
    let failed = t.state.db.job_by_id(&long).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(
        failed.error.as_ref().map(|e| e.code.as_str()),
        Some("stock.too_long"),
        "{:?}",
        failed.error
    );
    let charged = view["cost"]["charged"].as_i64().unwrap_or(0);
    assert_eq!(
        balance(&t, &ada).await,
        before - charged,
        "the failed job is refunded"
    );

    // Deleting the job deletes its description with it.
    let gone = t.delete(&format!("/api/v1/jobs/{id}"), &ada).await;
    assert!(gone.status.is_success(), "{}", text(&gone));
    t.get(&format!("/api/v1/jobs/{id}/description.txt"), &ada)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

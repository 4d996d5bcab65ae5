//! Sign-in with an outside identity provider (P-ACC-4) against a real OpenID provider the tests
//! start themselves: npm `oidc-provider` on loopback (tests/oidc/provider.mjs), signed in to at
//! its own login page. The test plays the browser: it follows the redirects between the API and
//! the provider, carrying each side's cookies. Every case runs on SQLite and on PostgreSQL (the
//! store's throwaway cluster), so the identity store is proven on both databases.

#[allow(dead_code, unused_macros)]
mod backends;
mod common;
#[path = "../../store/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use common::{app_with, Auth, Reply, TestApp};
use reelsmith_config::{OidcProviderConfig, Secret};
use serde_json::{json, Value};

const PUBLIC_URL: &str = "http://reelsmith.test";
const CALLBACK: &str = "http://reelsmith.test/auth/oidc/test/callback";

struct Provider {
    issuer: String,
    client_id: String,
    client_secret: String,
    // Held for the test binary's life; the provider exits when its stdin closes with us.
    _child: Child,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One provider for the whole test binary: each test signs in as people of its own.
fn provider() -> &'static Provider {
    static PROVIDER: OnceLock<Provider> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let dir = repo_root().join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "tests/oidc/node_modules is missing: run scripts/setup --test (npm ci in tests/oidc)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .args(["--redirect-uri", CALLBACK])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let started: Value = serde_json::from_str(&line).expect("the provider printed its issuer");
        Provider {
            issuer: started["issuer"].as_str().unwrap().to_owned(),
            client_id: started["client_id"].as_str().unwrap().to_owned(),
            client_secret: started["client_secret"].as_str().unwrap().to_owned(),
            _child: child,
        }
    })
}

/// Which database a case runs on.
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn app_on(
    backend: Backend,
    configure: impl FnOnce(&mut reelsmith_config::Config),
) -> TestApp {
    match backend {
        Backend::Sqlite => app_with(configure).await,
        Backend::Postgres => backends::postgres_s3_with(configure).await,
    }
}

/// Each case as a test on either database, with the app `$app` builds.
macro_rules! on_both_databases {
    ($app:ident: $($case:ident),* $(,)?) => {
        mod $app {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let app = crate::$app(crate::Backend::Sqlite).await;
                        crate::$case(app).await;
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let app = crate::$app(crate::Backend::Postgres).await;
                        crate::$case(app).await;
                    }
                )*
            }
        }
    };
}

on_both_databases!(oidc_app:
    p_acc_4_first_sign_in_creates_an_account_after_the_follow_up_step,
    p_acc_4_the_providers_tokens_are_not_kept,
    p_acc_4_a_forged_state_is_refused,
    p_acc_4_a_state_from_another_browser_is_refused,
    p_acc_4_a_replayed_state_is_refused,
    p_acc_4_a_wrong_nonce_is_refused,
    p_acc_4_an_id_token_signed_by_another_key_is_refused,
    p_acc_4_an_expired_id_token_is_refused,
    p_acc_4_an_unverified_email_is_refused,
    p_acc_4_a_matching_email_links_only_after_the_owner_signs_in,
    p_acc_4_identities_unlink_only_while_another_way_in_remains,
);
on_both_databases!(github_app:
    p_acc_4_github_sign_in_takes_the_verified_primary_address_and_keeps_no_token,
    p_acc_4_github_unverified_primary_address_is_refused,
);

async fn oidc_app(backend: Backend) -> TestApp {
    let p = provider();
    app_on(backend, |c| {
        c.server.public_url = Some(PUBLIC_URL.into());
        c.oidc.push(OidcProviderConfig {
            id: "test".into(),
            name: Some("Test ID".into()),
            preset: None,
            issuer: Some(p.issuer.clone()),
            client_id: p.client_id.clone(),
            client_secret: Secret::new(p.client_secret.clone()),
            scopes: Vec::new(),
            authorize_url: None,
            token_url: None,
            api_url: None,
        });
    })
    .await
}

/// A browser: the API's cookies and the provider's, each kept by name.
#[derive(Default)]
struct Browser {
    ours: HashMap<String, String>,
    theirs: HashMap<String, String>,
}

fn keep_cookies(jar: &mut HashMap<String, String>, values: Vec<String>) {
    for value in values {
        let pair = value.split(';').next().unwrap_or("");
        if let Some((name, v)) = pair.split_once('=') {
            if v.is_empty() || value.contains("Max-Age=0") {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), v.to_owned());
            }
        }
    }
}

fn cookie_header(jar: &HashMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn set_cookies(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

impl Browser {
    fn session(&self) -> Option<&String> {
        self.ours.get("reelsmith_session")
    }

    /// A request to the API with this browser's cookies.
    async fn call(
        &mut self,
        app: &TestApp,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = app
            .request(method, uri, &Auth::None)
            .header(header::COOKIE, cookie_header(&self.ours));
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let reply = app.send(request.body(body).unwrap()).await;
        keep_cookies(&mut self.ours, set_cookies(&reply));
        reply
    }

    /// `GET /auth/oidc/test/start`: the provider's authorization URL.
    async fn start(&mut self, app: &TestApp, query: &str) -> String {
        let r = self
            .call(
                app,
                Method::GET,
                &format!("/auth/oidc/test/start{query}"),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        r.header("location").to_owned()
    }

    /// Follows the provider's pages from `url`, signing in as `login` at its login page, until it
    /// sends the browser back to us: that callback URL.
    async fn at_provider(&mut self, url: &str, login: &str) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let issuer = &provider().issuer;
        let mut next = url.to_owned();
        let mut form: Option<Vec<(&str, &str)>> = None;
        for _ in 0..12 {
            if next.starts_with(PUBLIC_URL) {
                return next;
            }
            let request = match form.take() {
                Some(fields) => http.post(&next).form(&fields),
                None => http.get(&next),
            };
            let response = request
                .header(header::COOKIE.as_str(), cookie_header(&self.theirs))
                .send()
                .await
                .unwrap();
            let cookies = response
                .headers()
                .get_all(header::SET_COOKIE.as_str())
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            keep_cookies(&mut self.theirs, cookies);
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                next = if location.starts_with('/') {
                    format!("{issuer}{location}")
                } else {
                    location
                };
                continue;
            }
            let page = response.text().await.unwrap();
            assert_eq!(status, 200, "{page}");
            assert!(
                page.contains("name=\"login\""),
                "not the login page: {page}"
            );
            let action = page
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("the login form's action");
            next = if action.starts_with('/') {
                format!("{issuer}{action}")
            } else {
                action.to_owned()
            };
            form = Some(vec![
                ("prompt", "login"),
                ("login", login),
                ("password", "any password will do"),
            ]);
        }
        panic!("the provider never sent the browser back");
    }

    /// Back at our callback with what the provider sent.
    async fn callback(&mut self, app: &TestApp, url: &str) -> Reply {
        let path = url.strip_prefix(PUBLIC_URL).unwrap().to_owned();
        self.call(app, Method::GET, &path, None).await
    }

    /// The whole round trip as `login`.
    async fn sign_in(&mut self, app: &TestApp, login: &str) -> Reply {
        let url = self.start(app, "").await;
        let back = self.at_provider(&url, login).await;
        self.callback(app, &back).await
    }
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn email_of(login: &str) -> String {
    format!("{login}@example.org")
}

async fn refused_kinds(app: &TestApp) -> Vec<Value> {
    app.state
        .db
        .audit_of_kind("oidc.refused", 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail.unwrap_or(Value::Null))
        .collect()
}

/// A refused sign-in: the stable code, no account or identity, the attempt audit-logged.
async fn assert_refused(
    app: &TestApp,
    browser: &Browser,
    reply: &Reply,
    status: StatusCode,
    code: &str,
    login: &str,
) {
    reply.assert_problem(status, code);
    assert!(
        browser.session().is_none(),
        "a refused sign-in opened a session"
    );
    assert!(
        app.state
            .db
            .user_by_email(&email_of(login))
            .await
            .unwrap()
            .is_none(),
        "a refused sign-in created an account"
    );
    assert!(app
        .state
        .db
        .oidc_identity_by_subject("test", login)
        .await
        .unwrap()
        .is_none());
    let refused = refused_kinds(app).await;
    assert!(
        refused
            .iter()
            .any(|d| d["code"] == code && d["provider"] == "test"),
        "no audit entry for {code}: {refused:?}"
    );
}

/// Signs up through the follow-up step: the new account's profile.
async fn finish_signup(app: &TestApp, browser: &mut Browser, username: &str) -> Value {
    let r = browser
        .call(
            app,
            Method::POST,
            "/api/v1/auth/oidc/signup",
            Some(json!({ "username": username, "age_confirmed": true, "accept_policies": true })),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

async fn p_acc_4_first_sign_in_creates_an_account_after_the_follow_up_step(app: TestApp) {
    let login = unique("ada");
    let mut browser = Browser::default();
    let r = browser.sign_in(&app, &login).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("location"), "/auth/oidc/finish");
    assert!(
        browser.session().is_none(),
        "no session before the account exists"
    );
    assert!(app
        .state
        .db
        .user_by_email(&email_of(&login))
        .await
        .unwrap()
        .is_none());

    let pending = browser
        .call(&app, Method::GET, "/api/v1/auth/oidc/pending", None)
        .await;
    assert_eq!(pending.status, StatusCode::OK);
    assert_eq!(pending.json()["action"], "create");
    assert_eq!(pending.json()["email"], email_of(&login));
    assert_eq!(pending.json()["provider_name"], "Test ID");

    // The step asks what sign-up asks: policies accepted and the age statement.
    for (body, code) in [
        (
            json!({ "username": "ada_l", "age_confirmed": true, "accept_policies": false }),
            "auth.policies_required",
        ),
        (
            json!({ "username": "ada_l", "accept_policies": true }),
            "auth.age_required",
        ),
        (
            json!({ "username": "ada_l", "age_confirmed": false, "accept_policies": true }),
            "auth.too_young",
        ),
    ] {
        let r = browser
            .call(&app, Method::POST, "/api/v1/auth/oidc/signup", Some(body))
            .await;
        assert_eq!(r.json()["code"], code, "{}", r.json());
        assert!(app
            .state
            .db
            .user_by_email(&email_of(&login))
            .await
            .unwrap()
            .is_none());
    }

    let username = unique("ada_");
    let profile = finish_signup(&app, &mut browser, &username).await;
    assert_eq!(profile["email"], email_of(&login));
    assert_eq!(profile["username"], username);
    assert_eq!(
        profile["email_verified"], true,
        "the provider verified the address"
    );
    assert!(browser.session().is_some());
    assert!(
        !browser.ours.contains_key("reelsmith_oidc"),
        "the flow cookie ends with the sign-in"
    );
    let me = browser.call(&app, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me.json()["username"], username);
    let kinds = app.audit_kinds(&email_of(&login)).await;
    assert!(kinds.contains(&"account.created".to_owned()), "{kinds:?}");

    // The step is used up.
    let again = browser
        .call(
            &app,
            Method::POST,
            "/api/v1/auth/oidc/signup",
            Some(
                json!({ "username": unique("x_"), "age_confirmed": true, "accept_policies": true }),
            ),
        )
        .await;
    again.assert_problem(StatusCode::BAD_REQUEST, "oidc.no_pending");

    // Signing in again: straight in, in a fresh browser (a new session at the provider too).
    let mut other = Browser::default();
    let r = other.sign_in(&app, &login).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("location"), "/create");
    let me = other.call(&app, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me.json()["username"], username);

    let identities = other
        .call(&app, Method::GET, "/api/v1/me/identities", None)
        .await;
    let list = identities.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["provider"], "test");
    assert_eq!(list[0]["email"], email_of(&login));
}

async fn p_acc_4_the_providers_tokens_are_not_kept(app: TestApp) {
    let login = unique("grace");
    let mut browser = Browser::default();
    browser.sign_in(&app, &login).await;
    finish_signup(&app, &mut browser, &unique("grace_")).await;
    let r = Browser::default().sign_in(&app, &login).await;
    assert_eq!(r.header("location"), "/create");

    let issued: Vec<String> = reqwest::get(format!("{}/__test/issued", provider().issuer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ours: Vec<&String> = issued
        .iter()
        .filter(|t| !t.contains('.') || jwt_sub(t).as_deref() == Some(login.as_str()))
        .collect();
    assert!(
        ours.iter().any(|t| t.contains('.')),
        "the provider issued ID tokens: {issued:?}"
    );
    for (place, bytes) in everything_stored(&app).await {
        for token in &issued {
            // An ID token's signature alone is enough to recognise it.
            let needle = token.rsplit('.').next().unwrap();
            assert!(
                !common::contains(&bytes, needle.as_bytes()),
                "{place} holds a token the provider issued"
            );
        }
    }
}

/// Everything the service wrote, by where it is: on SQLite the database (and its write-ahead
/// log); on PostgreSQL every row of every table, as text; and on both the data folder's media
/// and outbox. Closes the database.
async fn everything_stored(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let reelsmith_store::Db::Postgres(pool) = &app.state.db {
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                .fetch_all(pool)
                .await
                .unwrap();
        assert!(tables.iter().any(|t| t == "oidc_identities"), "{tables:?}");
        for table in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
                    .fetch_all(pool)
                    .await
                    .unwrap();
            out.push((format!("table {table}"), rows.join("\n").into_bytes()));
        }
    }
    app.state.db.close().await;
    let mut files = Vec::new();
    walk(app.dir.path(), &mut files);
    if matches!(app.state.db, reelsmith_store::Db::Sqlite(_)) {
        assert!(files.iter().any(|f| f.ends_with("reelsmith.db")));
    }
    for file in files {
        out.push((file.display().to_string(), std::fs::read(&file).unwrap()));
    }
    out
}

fn jwt_sub(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["sub"].as_str().map(str::to_owned)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

async fn p_acc_4_a_forged_state_is_refused(app: TestApp) {
    let login = unique("mallory");
    let mut browser = Browser::default();
    let url = browser.start(&app, "").await;
    let back = browser.at_provider(&url, &login).await;
    let forged = back.replace("state=", "state=forged");
    let r = browser.callback(&app, &forged).await;
    assert_refused(
        &app,
        &browser,
        &r,
        StatusCode::BAD_REQUEST,
        "oidc.state_invalid",
        &login,
    )
    .await;
}

async fn p_acc_4_a_state_from_another_browser_is_refused(app: TestApp) {
    // Login CSRF: the attacker's own callback URL, opened in the victim's browser.
    let login = unique("attacker");
    let mut attacker = Browser::default();
    let url = attacker.start(&app, "").await;
    let back = attacker.at_provider(&url, &login).await;
    let mut victim = Browser::default();
    let r = victim.callback(&app, &back).await;
    assert_refused(
        &app,
        &victim,
        &r,
        StatusCode::BAD_REQUEST,
        "oidc.state_invalid",
        &login,
    )
    .await;
}

async fn p_acc_4_a_replayed_state_is_refused(app: TestApp) {
    let login = unique("replay");
    let mut browser = Browser::default();
    browser.sign_in(&app, &login).await;
    finish_signup(&app, &mut browser, &unique("replay_")).await;

    let mut second = Browser::default();
    let url = second.start(&app, "").await;
    let back = second.at_provider(&url, &login).await;
    let flow_cookie = second.ours.clone();
    let r = second.callback(&app, &back).await;
    assert_eq!(r.header("location"), "/create");
    // The same callback again, with the same flow cookie.
    let mut replay = Browser {
        ours: flow_cookie,
        ..Browser::default()
    };
    let r = replay.callback(&app, &back).await;
    r.assert_problem(StatusCode::BAD_REQUEST, "oidc.state_invalid");
    assert!(replay.session().is_none());
    assert!(refused_kinds(&app)
        .await
        .iter()
        .any(|d| d["code"] == "oidc.state_invalid"));
}

async fn p_acc_4_a_wrong_nonce_is_refused(app: TestApp) {
    let login = unique("nonce");
    let mut browser = Browser::default();
    let url = browser.start(&app, "").await;
    let nonce = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("nonce="))
        .expect("the authorization request carries a nonce")
        .to_owned();
    // The provider signs whatever nonce it is sent: one this sign-in never chose.
    let tampered = url.replace(&format!("nonce={nonce}"), "nonce=someone-elses-nonce");
    let back = browser.at_provider(&tampered, &login).await;
    let r = browser.callback(&app, &back).await;
    assert_refused(
        &app,
        &browser,
        &r,
        StatusCode::BAD_REQUEST,
        "oidc.nonce_mismatch",
        &login,
    )
    .await;
}

async fn p_acc_4_an_id_token_signed_by_another_key_is_refused(app: TestApp) {
    let login = unique("badkey-");
    let mut browser = Browser::default();
    let r = browser.sign_in(&app, &login).await;
    assert_refused(
        &app,
        &browser,
        &r,
        StatusCode::BAD_REQUEST,
        "oidc.signature_invalid",
        &login,
    )
    .await;
}

async fn p_acc_4_an_expired_id_token_is_refused(app: TestApp) {
    let login = unique("expired-");
    let mut browser = Browser::default();
    let r = browser.sign_in(&app, &login).await;
    assert_refused(
        &app,
        &browser,
        &r,
        StatusCode::BAD_REQUEST,
        "oidc.token_expired",
        &login,
    )
    .await;
}

async fn p_acc_4_an_unverified_email_is_refused(app: TestApp) {
    let login = unique("unverified-");
    let mut browser = Browser::default();
    let r = browser.sign_in(&app, &login).await;
    assert_refused(
        &app,
        &browser,
        &r,
        StatusCode::FORBIDDEN,
        "oidc.email_unverified",
        &login,
    )
    .await;
}

async fn p_acc_4_a_matching_email_links_only_after_the_owner_signs_in(app: TestApp) {
    let login = unique("bob");
    let owner_session = app.signed_in_user(&email_of(&login), &unique("bob_")).await;
    let owner = app
        .state
        .db
        .user_by_email(&email_of(&login))
        .await
        .unwrap()
        .unwrap();

    // The provider asserts the owner's address: no session, no link, only a pending step.
    let mut browser = Browser::default();
    let r = browser.sign_in(&app, &login).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("location"), "/auth/oidc/finish");
    assert!(
        browser.session().is_none(),
        "an asserted address signed in to someone's account"
    );
    let pending = browser
        .call(&app, Method::GET, "/api/v1/auth/oidc/pending", None)
        .await;
    assert_eq!(pending.json()["action"], "link");
    assert!(app
        .state
        .db
        .oidc_identities_of(&owner.id)
        .await
        .unwrap()
        .is_empty());

    // Neither a new account under that address nor someone else's session completes it.
    let r = browser
        .call(&app, Method::POST, "/api/v1/auth/oidc/signup",
            Some(json!({ "username": unique("thief_"), "age_confirmed": true, "accept_policies": true })))
        .await;
    r.assert_problem(StatusCode::BAD_REQUEST, "oidc.no_pending");
    let stranger = app
        .signed_in_user(&email_of(&unique("carol")), &unique("carol_"))
        .await;
    browser.ours.insert("reelsmith_session".into(), stranger);
    let r = browser
        .call(&app, Method::POST, "/api/v1/auth/oidc/link", None)
        .await;
    r.assert_problem(StatusCode::BAD_REQUEST, "oidc.no_pending");
    assert!(app
        .state
        .db
        .oidc_identity_by_subject("test", &login)
        .await
        .unwrap()
        .is_none());

    // The owner signs in to the account (with the password): now it links.
    browser
        .ours
        .insert("reelsmith_session".into(), owner_session);
    let r = browser
        .call(&app, Method::POST, "/api/v1/auth/oidc/link", None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["provider"], "test");
    let kinds = app.audit_kinds(&email_of(&login)).await;
    assert!(kinds.contains(&"oidc.linked".to_owned()), "{kinds:?}");

    // From now on the provider signs the owner in.
    let mut later = Browser::default();
    let r = later.sign_in(&app, &login).await;
    assert_eq!(r.header("location"), "/create");
    let me = later.call(&app, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me.json()["id"], owner.id);
}

async fn p_acc_4_identities_unlink_only_while_another_way_in_remains(app: TestApp) {
    // An account made through the provider has no password: its only identity stays.
    let login = unique("eve");
    let mut browser = Browser::default();
    browser.sign_in(&app, &login).await;
    finish_signup(&app, &mut browser, &unique("eve_")).await;
    let list = browser
        .call(&app, Method::GET, "/api/v1/me/identities", None)
        .await
        .json();
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let r = browser
        .call(
            &app,
            Method::DELETE,
            &format!("/api/v1/me/identities/{id}"),
            None,
        )
        .await;
    r.assert_problem(StatusCode::CONFLICT, "oidc.last_sign_in_method");

    // A password account links one from the Account page, then may unlink it.
    let other = unique("frank");
    let session = app
        .signed_in_user(&email_of(&other), &unique("frank_"))
        .await;
    let mut owner = Browser::default();
    owner.ours.insert("reelsmith_session".into(), session);
    let url = owner.start(&app, "?link=true").await;
    let back = owner.at_provider(&url, &unique("frank-elsewhere")).await;
    let r = owner.callback(&app, &back).await;
    assert_eq!(
        r.header("location"),
        "/account",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let list = owner
        .call(&app, Method::GET, "/api/v1/me/identities", None)
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let id = list[0]["id"].as_str().unwrap().to_owned();

    // Another person cannot unlink it.
    let r = browser
        .call(
            &app,
            Method::DELETE,
            &format!("/api/v1/me/identities/{id}"),
            None,
        )
        .await;
    r.assert_problem(StatusCode::NOT_FOUND, "not_found");

    let r = owner
        .call(
            &app,
            Method::DELETE,
            &format!("/api/v1/me/identities/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let list = owner
        .call(&app, Method::GET, "/api/v1/me/identities", None)
        .await
        .json();
    assert!(list.as_array().unwrap().is_empty());
    let kinds = app.audit_kinds(&email_of(&other)).await;
    assert!(kinds.contains(&"oidc.unlinked".to_owned()), "{kinds:?}");
}

// ---- GitHub: OAuth 2 and its user and emails API, against tests/fakes/github/github_fake.py ----

const GITHUB_CLIENT_ID: &str = "Iv1.reelsmith-tests";
const GITHUB_SECRET: &str = "github-client-secret-for-tests";

struct GithubFake {
    url: String,
    _child: Child,
}

fn github() -> &'static GithubFake {
    static FAKE: OnceLock<GithubFake> = OnceLock::new();
    FAKE.get_or_init(|| {
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/fakes/github/github_fake.py"))
            .args([
                "--client-id",
                GITHUB_CLIENT_ID,
                "--client-secret",
                GITHUB_SECRET,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let started: Value = serde_json::from_str(&line).expect("the fake printed its address");
        GithubFake {
            url: started["url"].as_str().unwrap().to_owned(),
            _child: child,
        }
    })
}

async fn github_app(backend: Backend) -> TestApp {
    let fake = github();
    app_on(backend, |c| {
        c.server.public_url = Some(PUBLIC_URL.into());
        c.oidc.push(OidcProviderConfig {
            id: "github".into(),
            name: None,
            preset: Some(reelsmith_config::OidcPreset::Github),
            issuer: None,
            client_id: GITHUB_CLIENT_ID.into(),
            client_secret: Secret::new(GITHUB_SECRET.into()),
            scopes: Vec::new(),
            authorize_url: Some(format!("{}/login/oauth/authorize", fake.url)),
            token_url: Some(format!("{}/login/oauth/access_token", fake.url)),
            api_url: Some(fake.url.clone()),
        });
    })
    .await
}

/// Through GitHub's authorize step (the fake's `login` names who approves) and back.
async fn github_sign_in(app: &TestApp, browser: &mut Browser, login: &str) -> Reply {
    let r = browser
        .call(app, Method::GET, "/auth/oidc/github/start", None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let authorize = r.header("location").to_owned();
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    assert!(
        authorize.contains("scope=read%3Auser+user%3Aemail"),
        "{authorize}"
    );
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{authorize}&login={login}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let back = response.headers()["location"].to_str().unwrap().to_owned();
    browser.callback(app, &back).await
}

async fn p_acc_4_github_sign_in_takes_the_verified_primary_address_and_keeps_no_token(
    app: TestApp,
) {
    let login = unique("octo");
    let mut browser = Browser::default();
    let r = github_sign_in(&app, &mut browser, &login).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("location"), "/auth/oidc/finish");
    let pending = browser
        .call(&app, Method::GET, "/api/v1/auth/oidc/pending", None)
        .await;
    assert_eq!(
        pending.json()["email"],
        email_of(&login),
        "the primary address, not the other"
    );
    assert_eq!(pending.json()["provider_name"], "GitHub");
    let profile = finish_signup(&app, &mut browser, &unique("octo_")).await;
    assert_eq!(profile["email_verified"], true);

    let mut again = Browser::default();
    let r = github_sign_in(&app, &mut again, &login).await;
    assert_eq!(r.header("location"), "/create");
    let me = again.call(&app, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me.json()["id"], profile["id"]);

    let issued: Vec<String> = reqwest::get(format!("{}/__test/issued", github().url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!issued.is_empty());
    for (place, bytes) in everything_stored(&app).await {
        for token in &issued {
            assert!(
                !common::contains(&bytes, token.as_bytes()),
                "{place} holds a GitHub token"
            );
        }
    }
}

async fn p_acc_4_github_unverified_primary_address_is_refused(app: TestApp) {
    let login = unique("unverified-octo");
    let mut browser = Browser::default();
    let r = github_sign_in(&app, &mut browser, &login).await;
    r.assert_problem(StatusCode::FORBIDDEN, "oidc.email_unverified");
    assert!(browser.session().is_none());
    assert!(app
        .state
        .db
        .user_by_email(&email_of(&login))
        .await
        .unwrap()
        .is_none());
    let refused = refused_kinds(&app).await;
    assert!(refused
        .iter()
        .any(|d| d["code"] == "oidc.email_unverified" && d["provider"] == "github"));
}

/// The fake the GitHub tests sign in through is what GitHub speaks: `check_github.py` drives it
/// with PyGithub (the `/user` and `/user/emails` answers) and walks the OAuth web flow by hand as
/// GitHub's docs describe it (PKCE, the code for a token, a wrong verifier refused).
#[test]
fn p_acc_4_the_github_fake_answers_as_github_and_its_client_expect() {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/fakes/github/check_github.py"))
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs (scripts/setup --test installs it with PyGithub)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHECK OK"),
        "check_github.py failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

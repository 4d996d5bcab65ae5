//! A whole API in-process: SQLite in a temporary folder, a local media folder and the outbox
//! mailer, driven with `tower::ServiceExt::oneshot`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use reelsmith_config::Config;
use reelsmith_mail::OutboxMailer;
use reelsmith_server::{router, AppState};
use reelsmith_store::{Db, Keyring, MediaStore, OperatorKey, SealedMedia};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const PASSWORD: &str = "violet-harbour-lantern-92";

/// The client address every test request claims through `X-Forwarded-For`.
pub const CLIENT_IP: &str = "198.51.100.7";

pub struct TestApp {
    pub app: Router,
    pub state: AppState,
    pub outbox: PathBuf,
    pub dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts the status, showing the body when it is another.
    pub fn assert_status(&self, status: StatusCode) -> &Reply {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// Asserts an RFC 7807 answer with this status and code.
    pub fn assert_problem(&self, status: StatusCode, code: &str) {
        self.assert_status(status);
        assert_eq!(self.header("content-type"), "application/problem+json");
        let p = self.json();
        assert_eq!(p["code"], code, "{p}");
        assert_eq!(p["status"], status.as_u16());
        assert_eq!(p["type"], format!("urn:reelsmith:problem:{code}"));
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(p["detail"].as_str().is_some());
    }
}

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Cookie(String),
    Bearer(String),
}

pub async fn app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults_for(dir.path());
    // espeak-ng narrates the suite's jobs: only the voice tests pay for Piper (they set it).
    config.speech.default_voice = "espeak".into();
    configure(&mut config);
    let db = Db::open_sqlite(&dir.path().join("reelsmith.db"), 4)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    std::fs::create_dir_all(dir.path().join("media")).unwrap();
    let raw = MediaStore::local(&dir.path().join("media")).unwrap();
    let media = SealedMedia::new(raw, db.clone(), Keyring::new(OperatorKey::generate().0));
    let outbox = dir.path().join("outbox");
    let mailer = Arc::new(OutboxMailer::new(&outbox, &config.email.from).unwrap());
    let state = AppState::new(db, media, mailer, Arc::new(config));
    TestApp {
        app: router(state.clone()),
        state,
        outbox,
        dir,
    }
}

pub async fn app() -> TestApp {
    app_with(|_| {}).await
}

impl TestApp {
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn request(&self, method: Method, uri: &str, auth: &Auth) -> axum::http::request::Builder {
        let builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::USER_AGENT, "reelsmith-tests/1")
            // Read only with `server.trust_proxy_headers` on, as behind a proxy.
            .header("x-forwarded-for", CLIENT_IP);
        match auth {
            Auth::None => builder,
            Auth::Cookie(c) => builder.header(header::COOKIE, format!("reelsmith_session={c}")),
            Auth::Bearer(t) => builder.header(header::AUTHORIZATION, format!("Bearer {t}")),
        }
    }

    pub async fn json(&self, method: Method, uri: &str, auth: &Auth, body: Value) -> Reply {
        let request = self
            .request(method, uri, auth)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    pub async fn get(&self, uri: &str, auth: &Auth) -> Reply {
        self.send(
            self.request(Method::GET, uri, auth)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn get_with(&self, uri: &str, auth: &Auth, name: &str, value: &str) -> Reply {
        self.send(
            self.request(Method::GET, uri, auth)
                .header(name, value)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn delete(&self, uri: &str, auth: &Auth) -> Reply {
        self.send(
            self.request(Method::DELETE, uri, auth)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn upload(
        &self,
        auth: &Auth,
        file_name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Reply {
        let boundary = "reelsmith-test-boundary-7MA4YWxk";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
                 Content-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = self
            .request(Method::POST, "/api/v1/uploads", auth)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    pub fn latest_code(&self, email: &str) -> String {
        reelsmith_mail::latest_code_for(&self.outbox, email)
            .unwrap()
            .expect("a code was emailed")
    }

    pub async fn signup(&self, email: &str, username: &str) -> Reply {
        self.json(
            Method::POST,
            "/api/v1/auth/signup",
            &Auth::None,
            json!({ "email": email, "password": PASSWORD, "username": username, "age_confirmed": true }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.json(
            Method::POST,
            "/api/v1/auth/login",
            &Auth::None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// The kinds of the audit entries about the account registered under `email` (P-SEC-6).
    pub async fn audit_kinds(&self, email: &str) -> Vec<String> {
        let user = self
            .state
            .db
            .user_by_email(email)
            .await
            .unwrap()
            .expect("the account exists");
        self.state
            .db
            .audit_for_user(&user.id, 100, None)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    /// Signs up, verifies with the emailed code and signs in: the session cookie's value.
    pub async fn signed_in_user(&self, email: &str, username: &str) -> String {
        let r = self.signup(email, username).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let code = self.latest_code(email);
        let r = self
            .json(
                Method::POST,
                "/api/v1/auth/verify",
                &Auth::None,
                json!({ "email": email, "code": code }),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let r = self.login(email, PASSWORD).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        session_from(&r)
    }
}

/// The session token a login response set.
pub fn session_from(reply: &Reply) -> String {
    let cookie = reply.header("set-cookie");
    let value = cookie
        .strip_prefix("reelsmith_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie in `{cookie}`"));
    value.to_owned()
}

/// A small photo-like JPEG.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    use image::ImageEncoder;
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 2) as u8, 120])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// `jpeg` with an EXIF APP1 segment holding a GPS position and a camera serial number, and an
/// XMP packet, right after SOI.
pub fn jpeg_with_gps(width: u32, height: u32) -> Vec<u8> {
    let plain = jpeg(width, height);
    let mut tiff = b"MM\x00\x2A\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&[0x88, 0x25, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 38]);
    tiff.extend_from_slice(&[0xA4, 0x31, 0x00, 0x02, 0, 0, 0, 4, b'S', b'9', b'9', 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&[0x00, 0x01, 0x00, 0x02, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    let mut exif = b"Exif\x00\x00".to_vec();
    exif.extend_from_slice(&tiff);
    let xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>exif:GPSLatitude=52,31</x:xmpmeta>";
    let mut out = plain[..2].to_vec();
    for payload in [&exif[..], &xmp[..]] {
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(payload);
    }
    out.extend_from_slice(&plain[2..]);
    out
}

/// A JPEG of noise, which compresses badly: large enough to span several 64 KiB segments.
pub fn noisy_jpeg(width: u32, height: u32) -> Vec<u8> {
    use image::ImageEncoder;
    let mut state = 0x2545_f491_u32;
    let img = image::RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl TestApp {
    /// Runs a real worker beside the API (fast polls, the quickest x264 preset, with
    /// `providers` when the jobs call any) until every job of `ids` has ended.
    pub async fn work_until_done(
        &self,
        ids: &[&str],
        providers: Option<reelsmith_worker::ProviderSet>,
    ) {
        use std::time::Duration;
        let config = self.state.config.clone();
        let mut settings = reelsmith_worker::WorkerSettings::from_config(&config);
        settings.poll_interval = Duration::from_millis(100);
        settings.heartbeat = Duration::from_millis(500);
        settings.engine.encode.preset = "ultrafast".into();
        let mut worker = reelsmith_worker::Worker::with_settings(
            self.state.db.clone(),
            self.state.media.clone(),
            settings,
            "w1",
        );
        if let Some(providers) = providers {
            worker = worker.with_providers(providers);
        }
        let shutdown = tokio_util::sync::CancellationToken::new();
        let token = shutdown.clone();
        let running = tokio::spawn(async move { worker.run(token).await.unwrap() });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
        for id in ids {
            while !self
                .state
                .db
                .job_by_id(id)
                .await
                .unwrap()
                .unwrap()
                .status
                .is_terminal()
            {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "job {id} never ended"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        shutdown.cancel();
        running.await.unwrap();
    }
}

impl TestApp {
    /// Waits until the caller's export `id` is no longer building: its list entry.
    pub async fn export_when_built(&self, auth: &Auth, id: &str) -> Value {
        for _ in 0..600 {
            let list = self.get("/api/v1/me/exports", auth).await;
            assert_eq!(list.status, StatusCode::OK);
            let item = list.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == id)
                .expect("the export is listed")
                .clone();
            if item["status"] != "building" {
                return item;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the export was not built within 30 s");
    }

    /// Asks for the caller's account export (P-RIGHTS-1): the `202` answer's export.
    pub async fn start_export(&self, auth: &Auth) -> Value {
        self.json(Method::POST, "/api/v1/me/exports", auth, json!({}))
            .await
            .assert_status(StatusCode::ACCEPTED)
            .json()
    }

    /// Asks for the caller's account export, waits for it and opens the archive.
    pub async fn exported_archive(&self, auth: &Auth) -> zip::ZipArchive<std::io::Cursor<Vec<u8>>> {
        let id = self.start_export(auth).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let item = self.export_when_built(auth, &id).await;
        assert_eq!(item["status"], "ready", "{item}");
        let got = self.get(item["download_url"].as_str().unwrap(), auth).await;
        assert_eq!(got.status, StatusCode::OK);
        zip::ZipArchive::new(std::io::Cursor::new(got.body.to_vec())).expect("a ZIP archive")
    }

    /// The JSON file `file` of a fresh account export of the caller.
    pub async fn exported_json(&self, auth: &Auth, file: &str) -> Value {
        read_json(&mut self.exported_archive(auth).await, file)
    }
}

/// A JSON file of an export archive.
pub fn read_json(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, file: &str) -> Value {
    let mut body = String::new();
    std::io::Read::read_to_string(&mut archive.by_name(file).unwrap(), &mut body).unwrap();
    serde_json::from_str(&body).unwrap()
}

//! Drives the real `reelsmith` binary over loopback HTTP: a guard that starts `serve` on a free
//! port with a data folder and kills it when dropped, and a small client for the API flows the
//! platform tests share (sign-up with the emailed code, sign-in, upload, submit, follow events).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const PASSWORD: &str = "correct horse battery staple";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_reelsmith")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free loopback port")
        .local_addr()
        .unwrap()
        .port()
}

/// A running `reelsmith serve`; SIGKILLed and reaped on drop.
pub struct Server {
    child: Option<Child>,
    pub data: PathBuf,
    pub base: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts `serve` on `data` with extra environment and flags, and waits until `/readyz`
    /// answers 200. Its log goes beside the data folder, not into it.
    pub async fn start(data: &Path, env: &[(&str, &str)], flags: &[&str]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let log = data.with_extension(format!("{port}.log"));
        let child = Command::new(bin())
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", &listen])
            .args(flags)
            // espeak-ng narrates the suite's jobs; a test about the voice overrides it in `env`.
            .env("REELSMITH__SPEECH__DEFAULT_VOICE", "espeak")
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the binary starts");
        let mut server = Server {
            child: Some(child),
            data: data.to_path_buf(),
            base: format!("http://{listen}"),
            log,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        // A deadline only to turn a hang into a readable failure, not a speed requirement.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("serve exited with {status}: {}", self.log_text());
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "serve never became ready: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, then reap, so the pid is really gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn client(&self) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            cookie: None,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An API client holding one session cookie.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Api {
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("a body").to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// Signs up, reads the code from the outbox, verifies and signs in: the client then holds
    /// the session cookie.
    pub async fn sign_up_and_in(&mut self, data: &Path, email: &str, username: &str) {
        let signup = self
            .post_json(
                "/api/v1/auth/signup",
                &json!({ "email": email, "password": PASSWORD, "username": username,
                         "age_confirmed": true }),
            )
            .await;
        assert!(
            signup.status == 201 || signup.status == 200,
            "signup: {} {}",
            signup.status,
            signup.text()
        );
        let code = code_from_outbox(&data.join("outbox"), email);
        assert_eq!(code.len(), 6, "a 6-digit code: {code}");
        let verify = self
            .post_json(
                "/api/v1/auth/verify",
                &json!({ "email": email, "code": code }),
            )
            .await;
        assert!(
            verify.status < 300,
            "verify: {} {}",
            verify.status,
            verify.text()
        );
        let login = self
            .post_json(
                "/api/v1/auth/login",
                &json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(login.status, 200, "login: {}", login.text());
        let set_cookie = login
            .headers
            .get("set-cookie")
            .expect("a session cookie")
            .to_str()
            .unwrap();
        let pair = set_cookie.split(';').next().unwrap().trim().to_owned();
        self.cookie = Some(pair);
        assert_eq!(self.get("/api/v1/me").await.status, 200);
    }

    /// Uploads a file as the form's one `file` field; returns the upload's id.
    pub async fn upload(&self, name: &str, mime: &str, bytes: &[u8]) -> String {
        let boundary = "reelsmith-e2e-boundary-7c1f";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"{name}\"\r\nContent-Type: {mime}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let reply = self
            .send(
                self.request(reqwest::Method::POST, "/api/v1/uploads")
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(body),
            )
            .await;
        assert_eq!(reply.status, 201, "upload: {}", reply.text());
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    pub async fn submit(&self, spec: &Value, idempotency_key: Option<&str>) -> Reply {
        let mut request = self
            .request(reqwest::Method::POST, "/api/v1/jobs")
            .header("content-type", "application/json")
            .body(spec.to_string());
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        self.send(request).await
    }

    pub async fn job(&self, id: &str) -> Value {
        let reply = self.get(&format!("/api/v1/jobs/{id}")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }

    /// Reads the job's event stream until it ends (after a terminal event); returns every
    /// `(event, data)` pair in order.
    pub async fn follow_events(&self, id: &str) -> Vec<(String, Value)> {
        let mut response = self
            .request(reqwest::Method::GET, &format!("/api/v1/jobs/{id}/events"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("the event stream opens");
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let mut buffer = String::new();
        let mut events = Vec::new();
        while let Some(chunk) = response.chunk().await.expect("the stream reads") {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if let Some(event) = parse_sse_block(&block) {
                    let terminal = matches!(event.0.as_str(), "succeeded" | "failed" | "cancelled");
                    events.push(event);
                    if terminal {
                        return events;
                    }
                }
            }
        }
        events
    }
}

fn parse_sse_block(block: &str) -> Option<(String, Value)> {
    let mut kind = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            kind = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
    let kind = kind?;
    Some((kind, serde_json::from_str(&data).unwrap_or(Value::Null)))
}

/// The 6-digit code in the newest `.eml` addressed to `email`.
pub fn code_from_outbox(outbox: &Path, email: &str) -> String {
    reelsmith_mail::latest_code_for(outbox, email)
        .expect("the outbox reads")
        .unwrap_or_else(|| panic!("no code for {email} in {}", outbox.display()))
}

pub fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg is installed (scripts/setup)");
    assert!(status.success(), "ffmpeg {args:?}");
}

/// A detailed test picture as JPEG bytes.
pub fn photo(dir: &Path) -> Vec<u8> {
    let path = dir.join("photo.jpg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=960x640",
        "-frames:v",
        "1",
        path.to_str().unwrap(),
    ]);
    std::fs::read(path).unwrap()
}

pub fn stream_codecs(path: &Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Every file below `dir`, as paths relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A provider fake from tests/fakes/providers (it prints "READY <port>"), killed on drop.
pub struct ProviderFake {
    child: Child,
    pub port: u16,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl ProviderFake {
    pub fn start(script: &str) -> ProviderFake {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fakes/providers")
            .join(script);
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs (scripts/setup --test installs it)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the fake did not start: {line:?}"));
        ProviderFake {
            child,
            port,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// The fake's counters (`/__fake/stats`).
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/__fake/stats", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for ProviderFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

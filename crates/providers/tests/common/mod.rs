//! Test support: the Python provider fakes (tests/fakes/providers/), started on a free port and
//! killed on drop, and the suite every shot adapter runs against its fake.
#![allow(dead_code)]

pub mod suite;

use reelsmith_providers::http::{CallPolicy, Endpoint};
use reelsmith_providers::Secret;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const KEY: &str = "sk-test-SECRET-0123456789";

pub fn fakes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fakes/providers")
}

/// A running fake; the process is killed when this is dropped.
pub struct Fake {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Fake {
    /// Starts `tests/fakes/providers/{script}` and waits for its "READY <port>" line.
    pub fn start(script: &str) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(fakes_dir().join(script))
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (scripts/setup --test installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{script} did not start: {line:?}"));
        Fake {
            child,
            port,
            dir,
            client: reqwest::Client::new(),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An endpoint at the fake with a fast policy: short timeouts, tiny backoff, quick polls.
    pub fn endpoint(&self, path: &str) -> Endpoint {
        Endpoint::new(&format!("{}{path}", self.base()), Secret::new(KEY))
            .unwrap()
            .with_policy(fast_policy())
    }

    pub fn clip(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("clip.mp4")).unwrap()
    }

    pub async fn stats(&self) -> Value {
        self.client
            .get(format!("{}/__fake/stats", self.base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn last(&self) -> Value {
        self.client
            .get(format!("{}/__fake/last", self.base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Every submission the fake recorded, oldest first.
    pub async fn bodies(&self) -> Vec<Value> {
        self.client
            .get(format!("{}/__fake/bodies", self.base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn set(&self, mode: Value) {
        let r = self
            .client
            .post(format!("{}/__fake/mode", self.base()))
            .json(&mode)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fast_policy() -> CallPolicy {
    CallPolicy {
        timeout: Duration::from_millis(1500),
        download_timeout: Duration::from_secs(10),
        max_attempts: 3,
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        retry_after_max: Duration::from_secs(5),
        poll_every: Duration::from_millis(20),
        max_wait: Duration::from_secs(10),
    }
}

/// Runs an official-client check script (it starts its own fake) and fails with its output.
pub fn run_check(script: &str) {
    let out = Command::new("python3")
        .arg(fakes_dir().join(script))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("CHECK OK"),
        "{script} did not report CHECK OK:\n{stdout}"
    );
}

/// Everything a `tracing` subscriber writes, kept to search for keys (the logs tests of
/// providers and stock).
#[derive(Clone, Default)]
pub struct Recording(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Recording {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Recording {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

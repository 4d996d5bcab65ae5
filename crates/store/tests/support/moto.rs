//! A throwaway S3 server: `moto_server` (PyPI `moto[server]`) on a free loopback port, killed
//! when dropped or when the test binary exits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

const SETUP_HINT: &str = "moto_server was not found (PyPI package `moto[server]`). Run \
    scripts/setup to install it: the S3 half of the storage \
    suite cannot run without it.";

/// A running moto server.
pub struct Moto {
    child: Child,
    log: tempfile::NamedTempFile,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        let port = super::free_port();
        let log = tempfile::NamedTempFile::new().expect("moto log file");
        let mut cmd = moto_command().unwrap_or_else(|| panic!("{SETUP_HINT}"));
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("moto log"))
            .stderr(log.reopen().expect("moto log"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not start moto_server: {e}. {SETUP_HINT}"));
        let moto = Moto { child, log, port };
        super::wait_for_port(port, Duration::from_secs(90), "moto_server", || {
            std::fs::read_to_string(moto.log.path()).unwrap_or_default()
        });
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `moto_server` on PATH, else `python3 -m moto.server` when the module imports.
fn moto_command() -> Option<Command> {
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| dir.join("moto_server").is_file())
    });
    if on_path {
        return Some(Command::new("moto_server"));
    }
    let importable = Command::new("python3")
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    importable.then(|| {
        let mut c = Command::new("python3");
        c.args(["-m", "moto.server"]);
        c
    })
}

/// The address of a running moto server.
#[derive(Debug, Clone, Copy)]
pub struct MotoAddr {
    pub port: u16,
}

impl MotoAddr {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Create a fresh bucket with the S3 CreateBucket call (moto accepts it unsigned) and return
    /// its name.
    pub fn create_bucket(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let bucket = format!(
            "test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("read timeout");
        let request = format!(
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream
            .write_all(request.as_bytes())
            .expect("send CreateBucket");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "CreateBucket failed: {response}"
        );
        bucket
    }
}

/// The moto server this test binary shares, started on first use and stopped at exit.
pub fn shared() -> MotoAddr {
    static ADDR: OnceLock<MotoAddr> = OnceLock::new();
    static OWNER: Mutex<Option<Moto>> = Mutex::new(None);
    *ADDR.get_or_init(|| {
        let moto = Moto::start();
        let addr = MotoAddr { port: moto.port };
        *OWNER.lock().unwrap_or_else(|e| e.into_inner()) = Some(moto);
        super::at_exit(|| {
            let moto = OWNER.lock().unwrap_or_else(|e| e.into_inner()).take();
            drop(moto);
        });
        addr
    })
}

impl Moto {
    /// The server's process id, to freeze it (SIGSTOP) as an S3 service that accepts
    /// connections and never answers.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

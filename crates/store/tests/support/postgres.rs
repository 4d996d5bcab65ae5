//! A throwaway PostgreSQL cluster: `initdb` into a temporary folder, `pg_ctl start` on a free
//! loopback port, one database per test, `pg_ctl stop` and folder removal at the end.

// Test code may use `unsafe` (denied in the workspace): it asks the effective uid (libc `geteuid`) to start PostgreSQL as `postgres` when root.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sqlx::Connection;

const SETUP_HINT: &str = "PostgreSQL server binaries (initdb, pg_ctl) were not found. \
    Run scripts/setup to install them: the PostgreSQL half \
    of the repository suite cannot run without them.";

/// A running cluster. Dropping it stops the server and removes its folder.
pub struct Cluster {
    bin: PathBuf,
    dir: Option<tempfile::TempDir>,
    pub port: u16,
}

impl Cluster {
    /// Make and start a new cluster. Panics with a setup hint when PostgreSQL is missing.
    pub fn start() -> Cluster {
        let bin = find_bin_dir().unwrap_or_else(|| panic!("{SETUP_HINT}"));
        let dir = tempfile::Builder::new()
            .prefix("reelsmith-pg-")
            .tempdir()
            .expect("temporary folder for PostgreSQL");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("PostgreSQL data folder");
        // PostgreSQL refuses to run as root: as root, hand the folder to the `postgres` user.
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_root = unsafe { libc::geteuid() } == 0;
        if as_root {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let port = super::free_port();
        let cluster = Cluster {
            bin,
            dir: Some(dir),
            port,
        };
        cluster.pg(as_root, "initdb", |c| {
            c.arg("-D").arg(&data);
            c.args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
            c.arg("--no-instructions");
        });
        let socket_dir = cluster.folder().to_path_buf();
        let options = format!(
            "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            socket_dir.display()
        );
        let log = cluster.folder().join("server.log");
        cluster.pg(as_root, "pg_ctl", |c| {
            c.arg("-D").arg(&data).arg("-l").arg(&log);
            c.args(["-w", "-t", "120", "-o", &options, "start"]);
        });
        super::wait_for_port(port, Duration::from_secs(60), "PostgreSQL", || {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
        cluster
    }

    fn folder(&self) -> &Path {
        self.dir.as_ref().expect("cluster folder").path()
    }

    fn pg(&self, as_root: bool, program: &str, args: impl FnOnce(&mut Command)) {
        let exe = self.bin.join(program);
        let mut cmd = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        args(&mut cmd);
        run(&mut cmd);
    }

    /// Where to reach the cluster.
    pub fn addr(&self) -> PgAddr {
        PgAddr { port: self.port }
    }
}

/// The address of a running cluster.
#[derive(Debug, Clone, Copy)]
pub struct PgAddr {
    pub port: u16,
}

impl PgAddr {
    /// A URL for a database in this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Create a fresh, empty database and return its URL.
    pub async fn create_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the test cluster");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        self.url(&name)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        let data = dir.path().join("data");
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_root = unsafe { libc::geteuid() } == 0;
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = cmd.output();
        drop(dir);
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}. {SETUP_HINT}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The folder holding initdb and pg_ctl: the newest /usr/lib/postgresql/N/bin, or PATH.
fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    })
}

/// The cluster this test binary shares, started on first use and stopped at exit.
pub fn shared() -> PgAddr {
    static ADDR: OnceLock<PgAddr> = OnceLock::new();
    static OWNER: Mutex<Option<Cluster>> = Mutex::new(None);
    *ADDR.get_or_init(|| {
        let cluster = Cluster::start();
        let addr = cluster.addr();
        *OWNER.lock().unwrap_or_else(|e| e.into_inner()) = Some(cluster);
        super::at_exit(|| {
            let cluster = OWNER.lock().unwrap_or_else(|e| e.into_inner()).take();
            drop(cluster);
        });
        addr
    })
}

/// Stopping and starting a cluster a test owns outright, to prove clients ride out a restart.
impl Cluster {
    fn pg_ctl(&self, action: &[&str]) {
        let data = self.folder().join("data");
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_root = unsafe { libc::geteuid() } == 0;
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.arg("-D").arg(&data).args(action);
        run(&mut cmd);
    }

    /// Stop the server (fast shutdown: open sessions are ended), keeping its data.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    /// Start a stopped server again on the same port with the same settings.
    pub fn restart(&self) {
        let log = self.folder().join("server.log");
        let options = format!(
            "-k {} -p {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            self.folder().display(),
            self.port
        );
        let log = log.display().to_string();
        self.pg_ctl(&["-l", &log, "-w", "-t", "120", "-o", &options, "start"]);
    }
}

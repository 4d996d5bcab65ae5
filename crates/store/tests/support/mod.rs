//! Throwaway services for the store's test suites: a PostgreSQL cluster made with `initdb` in a
//! temporary folder, and a `moto_server` S3 stand-in. One of each per test binary (they are slow
//! to start), shared by every test, stopped when the binary exits (an `atexit` hook, since
//! statics are never dropped) and, for a test that owns one outright, on drop.

// Test code may use `unsafe` (denied in the workspace): it registers the exit hooks with libc `atexit`.
#![allow(unsafe_code)]
#![allow(dead_code)]

pub mod moto;
pub mod postgres;

use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A loopback port nobody is listening on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Wait until something accepts connections on the port, or panic after `limit`.
pub fn wait_for_port(port: u16, limit: Duration, what: &str, log: impl Fn() -> String) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > limit {
            panic!(
                "{what} did not start listening on port {port} within {limit:?}:\n{}",
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Services to stop when the test binary exits.
static AT_EXIT: Mutex<Vec<Box<dyn FnOnce() + Send>>> = Mutex::new(Vec::new());

extern "C" fn run_exit_hooks() {
    let hooks = std::mem::take(&mut *AT_EXIT.lock().unwrap_or_else(|e| e.into_inner()));
    for hook in hooks {
        hook();
    }
}

/// Run `hook` when the process exits normally (the test harness always does, even when tests
/// panic).
pub fn at_exit(hook: impl FnOnce() + Send + 'static) {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    // SAFETY: atexit takes a plain `extern "C" fn()` with no arguments; it is registered once.
    REGISTERED.call_once(|| unsafe {
        libc::atexit(run_exit_hooks);
    });
    AT_EXIT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Box::new(hook));
}

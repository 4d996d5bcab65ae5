//! A fault-injecting TCP proxy in front of moto_server, which has no fault injection of its own:
//! passes traffic through, answers every request with a 500 or 503 S3 error, or delays each new
//! connection. Switching modes cuts the open connections, so pooled keep-alive connections
//! cannot slip past a fault.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Every request answered `500 InternalError`.
    Error500,
    /// Every request answered `503 SlowDown`.
    Error503,
    /// Each new connection waits this long before it reaches the store.
    Slow(Duration),
}

pub struct FaultProxy {
    pub port: u16,
    mode: Arc<AtomicU8>,
    delay_ms: Arc<AtomicU64>,
    cut: tokio::sync::watch::Sender<u64>,
    /// Requests answered with an error so far.
    pub faults_served: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let faults_served = Arc::new(AtomicU64::new(0));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let accept = {
            let (mode, delay_ms, faults, cut) = (
                Arc::clone(&mode),
                Arc::clone(&delay_ms),
                Arc::clone(&faults_served),
                cut.clone(),
            );
            tokio::spawn(async move {
                while let Ok((conn, _)) = listener.accept().await {
                    let cut = cut.subscribe();
                    match mode.load(Ordering::SeqCst) {
                        1 | 2 => {
                            let status = if mode.load(Ordering::SeqCst) == 1 {
                                500
                            } else {
                                503
                            };
                            tokio::spawn(answer_errors(conn, status, Arc::clone(&faults), cut));
                        }
                        3 => {
                            let delay = Duration::from_millis(delay_ms.load(Ordering::SeqCst));
                            tokio::spawn(async move {
                                tokio::time::sleep(delay).await;
                                pipe(conn, upstream_port, cut).await
                            });
                        }
                        _ => {
                            tokio::spawn(pipe(conn, upstream_port, cut));
                        }
                    }
                }
            })
        };
        FaultProxy {
            port,
            mode,
            delay_ms,
            cut,
            faults_served,
            accept,
        }
    }

    pub fn set(&self, mode: Mode) {
        let code = match mode {
            Mode::Pass => 0,
            Mode::Error500 => 1,
            Mode::Error503 => 2,
            Mode::Slow(delay) => {
                self.delay_ms
                    .store(delay.as_millis() as u64, Ordering::SeqCst);
                3
            }
        };
        self.mode.store(code, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    pub fn faults(&self) -> u64 {
        self.faults_served.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn pipe(mut conn: TcpStream, upstream_port: u16, mut cut: tokio::sync::watch::Receiver<u64>) {
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream) => {}
        _ = cut.changed() => {}
    }
}

/// Reads each request (head and `Content-Length` body) and answers it with an S3 error, as
/// long as the client keeps the connection.
/// Answers every request on `conn` with `status` until the mode changes: then the connection is
/// closed, as piped ones are, so a client's kept-alive connection does not go on failing after
/// the outage has ended.
async fn answer_errors(
    mut conn: TcpStream,
    status: u16,
    faults: Arc<AtomicU64>,
    mut cut: tokio::sync::watch::Receiver<u64>,
) {
    let (reason, code) = match status {
        500 => ("Internal Server Error", "InternalError"),
        _ => ("Service Unavailable", "SlowDown"),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>injected fault</Message></Error>"
    );
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 8192];
            let read = tokio::select! {
                read = conn.read(&mut chunk) => read,
                _ = cut.changed() => return,
            };
            match read {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            if buffer.len() > 1 << 20 {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut rest = buffer.split_off(head_end);
        while rest.len() < length {
            let mut chunk = vec![0u8; 65536];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
            }
        }
        buffer = rest.split_off(length);
        faults.fetch_add(1, Ordering::SeqCst);
        let answer = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/xml\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

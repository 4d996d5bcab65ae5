//! Running ffmpeg and ffprobe safely. Every program is started from an argument vector (never a
//! shell), holds a permit from a process-wide semaphore while it runs, is killed by a watchdog when
//! its deadline passes, and is killed and reaped when its handle is dropped, so an early return
//! or a panic in the caller never leaves a stray encoder running.

// The workspace denies `unsafe_code`; this module needs it because sending a signal to a child we spawned and still own is a libc call.
// Each block says why it is sound in its `SAFETY:` comment (clippy checks they are there).
#![allow(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reelsmith_core::{Code, ErrorCode};

/// An external program we depend on, and the Debian package that provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

pub const FFMPEG: Tool = Tool {
    program: "ffmpeg",
    package: "ffmpeg",
};
pub const FFPROBE: Tool = Tool {
    program: "ffprobe",
    package: "ffmpeg",
};

/// The demuxers an input may be opened with when the caller names none: real media containers
/// and single still images. Left to itself ffmpeg tries every demuxer it has, and some of them
/// read other files or URLs named inside the input (HLS and DASH playlists, ffconcat lists), or
/// render any text as a picture (`tty`). Names are ffmpeg's own (`ffmpeg -demuxers`).
pub const MEDIA_DEMUXERS: &[&str] = &[
    "mov",
    "matroska",
    "avi",
    "mp3",
    "wav",
    "ogg",
    "flac",
    "aac",
    "image2",
    "png_pipe",
    "jpeg_pipe",
    "webp_pipe",
    "gif",
    "bmp_pipe",
];

/// The only protocols an input may use: local files and our own pipes, never a URL, `data:`,
/// `subfile:` or `concat:` that could reach something the caller did not name.
pub const INPUT_PROTOCOLS: &str = "file,pipe";

/// Pins every input of an ffmpeg or ffprobe command line: each input gets
/// `-protocol_whitelist file,pipe` and a `-format_whitelist` (the demuxer its `-f` names plus
/// [`MEDIA_DEMUXERS`], so a pinned `concat` list can only name media files), unless the caller
/// already set them. [`Process::spawn`] applies this to every ffmpeg and ffprobe it starts, so
/// no call site can forget it; other programs' arguments pass unchanged.
pub fn pin_inputs(tool: Tool, args: Vec<OsString>) -> Vec<OsString> {
    if tool.program == FFPROBE.program {
        // ffprobe has one input, and every option before it applies to it.
        let mut pinned = input_pins(&args);
        pinned.extend(args);
        return pinned;
    }
    if tool.program != FFMPEG.program {
        return args;
    }
    let mut pinned = Vec::with_capacity(args.len() + 8);
    // Options between one input and the next `-i` belong to that next input.
    let mut group_start = 0;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "-i" {
            let group = &args[group_start..i];
            pinned.extend(input_pins(group));
            pinned.extend(args[group_start..=i].iter().cloned());
            if let Some(input) = args.get(i + 1) {
                pinned.push(input.clone());
            }
            i += 2;
            group_start = i.min(args.len());
        } else {
            i += 1;
        }
    }
    pinned.extend(args[group_start.min(args.len())..].iter().cloned());
    pinned
}

/// The pins one input's options lack.
fn input_pins(options: &[OsString]) -> Vec<OsString> {
    let value_of = |flag: &str| {
        options
            .iter()
            .position(|a| a == flag)
            .and_then(|at| options.get(at + 1))
    };
    let mut pins = Vec::new();
    if value_of("-protocol_whitelist").is_none() {
        pins.push("-protocol_whitelist".into());
        pins.push(INPUT_PROTOCOLS.into());
    }
    if value_of("-format_whitelist").is_none() {
        let mut allowed: Vec<&str> = Vec::new();
        if let Some(named) = value_of("-f").and_then(|f| f.to_str()) {
            allowed.push(named);
        }
        allowed.extend(MEDIA_DEMUXERS);
        pins.push("-format_whitelist".into());
        pins.push(allowed.join(",").into());
    }
    pins
}

/// How much of a program's error output is kept for the error message.
const STDERR_TAIL_BYTES: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{} is not installed: install the Debian package `{}` (scripts/setup does this)", .tool.program, .tool.package)]
    ToolMissing { tool: Tool },
    #[error("{program} could not be started: {source}")]
    Spawn {
        program: &'static str,
        source: std::io::Error,
    },
    #[error("{program} ran longer than {seconds} s and was stopped")]
    TimedOut { program: &'static str, seconds: u64 },
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: &'static str,
        status: ExitStatus,
        stderr: String,
    },
    #[error("{program} output is larger than {limit} bytes")]
    OutputTooLarge { program: &'static str, limit: usize },
    #[error("i/o with {program}: {source}")]
    Io {
        program: &'static str,
        source: std::io::Error,
    },
}

impl ErrorCode for ProcessError {
    fn code(&self) -> Code {
        match self {
            ProcessError::ToolMissing { .. } => Code::EngineToolMissing,
            ProcessError::Spawn { .. } | ProcessError::Io { .. } => Code::EngineProcessIo,
            ProcessError::TimedOut { .. } => Code::EngineTimeout,
            ProcessError::Failed { .. } => Code::EngineProcessFailed,
            ProcessError::OutputTooLarge { .. } => Code::EngineOutputTooLarge,
        }
    }

    fn is_client_error(&self) -> bool {
        false
    }
}

/// Locks `mutex` even when a thread panicked while holding it. Every value these locks guard
/// (a `done` flag, the child handle) is changed by a single assignment or a system call, never
/// left half-updated, so the value a panicking holder left is still a valid one. Propagating the
/// poison instead would turn one panic (in a caller's closure, a test, an allocation failure)
/// into a panic at every later program start in this process, for as long as it lives. The
/// permits (`permits.rs`) recover poison the same way.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

mod permits;
use permits::{Permit, PERMITS};

/// Sets how many programs may run at once in this process (from `Limits::max_concurrent_processes`).
pub fn set_concurrency(limit: usize) {
    PERMITS.set_capacity(limit);
}

/// What the child shares with its watchdog.
struct Shared {
    child: Mutex<Child>,
    done: Mutex<bool>,
    done_signal: Condvar,
    timed_out: AtomicBool,
}

/// A running program. Dropping it kills the program and reaps it.
pub struct Process {
    tool: Tool,
    shared: Arc<Shared>,
    timeout: Duration,
    deadline: Instant,
    watchdog: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    finished: bool,
    _permit: Permit<'static>,
}

/// How the program's standard output is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Read by the caller through [`Process::take_stdout`].
    Piped,
    /// Discarded.
    Null,
}

impl Process {
    /// Starts `tool` with `args`. Standard input is a pipe when `stdin` is true (take it with
    /// [`Process::take_stdin`]); standard error is always captured in the background.
    pub fn spawn<I, S>(
        tool: Tool,
        args: I,
        stdin: bool,
        stdout: Output,
        timeout: Duration,
    ) -> Result<Process, ProcessError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args = pin_inputs(
            tool,
            args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
        );
        let permit = PERMITS.acquire();
        let mut command = Command::new(tool.program);
        command
            .args(args)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(match stdout {
                Output::Piped => Stdio::piped(),
                Output::Null => Stdio::null(),
            })
            .stderr(Stdio::piped());
        // Its own process group, so a timeout or drop kills anything it started too; otherwise a
        // grandchild could hold our pipes open after the program itself is gone.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ProcessError::ToolMissing { tool }
            } else {
                ProcessError::Spawn {
                    program: tool.program,
                    source,
                }
            }
        })?;
        let stdin_pipe = child.stdin.take();
        let stdout_pipe = child.stdout.take();
        // Always `Some`: standard error is piped above.
        let stderr_pipe = child.stderr.take();
        let stderr = std::thread::spawn(move || {
            stderr_pipe.map_or_else(String::new, |pipe| read_tail(pipe, STDERR_TAIL_BYTES))
        });
        let shared = Arc::new(Shared {
            child: Mutex::new(child),
            done: Mutex::new(false),
            done_signal: Condvar::new(),
            timed_out: AtomicBool::new(false),
        });
        let deadline = Instant::now() + timeout;
        let watchdog = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut done = lock(&shared.done);
                while !*done {
                    let now = Instant::now();
                    if now >= deadline {
                        shared.timed_out.store(true, Ordering::SeqCst);
                        kill_group(&mut lock(&shared.child));
                        return;
                    }
                    done = shared
                        .done_signal
                        .wait_timeout(done, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            })
        };
        Ok(Process {
            tool,
            shared,
            timeout,
            deadline,
            watchdog: Some(watchdog),
            stderr: Some(stderr),
            stdin: stdin_pipe,
            stdout: stdout_pipe,
            finished: false,
            _permit: permit,
        })
    }

    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    pub fn program(&self) -> &'static str {
        self.tool.program
    }

    /// Waits for the program to exit (closing its stdin first) and turns a non-zero exit, a
    /// timeout or a kill into an error that carries the tail of its standard error.
    pub fn wait(self) -> Result<(), ProcessError> {
        self.wait_with_stderr().map(drop)
    }

    /// [`Process::wait`], keeping the tail of standard error on success too: some programs
    /// report measurements there (ffmpeg's `loudnorm` and `ebur128`).
    pub fn wait_with_stderr(mut self) -> Result<String, ProcessError> {
        drop(self.stdin.take());
        let status = loop {
            let polled = lock(&self.shared.child).try_wait();
            match polled {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(source) => {
                    return Err(ProcessError::Io {
                        program: self.tool.program,
                        source,
                    })
                }
            }
            if Instant::now() > self.deadline + Duration::from_secs(1) {
                // The watchdog has killed it; give up waiting on a program that ignores SIGKILL.
                break lock(&self.shared.child)
                    .wait()
                    .map_err(|source| ProcessError::Io {
                        program: self.tool.program,
                        source,
                    })?;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        self.finished = true;
        self.stop_watchdog();
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if self.shared.timed_out.load(Ordering::SeqCst) {
            return Err(ProcessError::TimedOut {
                program: self.tool.program,
                seconds: self.timeout.as_secs(),
            });
        }
        if !status.success() {
            return Err(ProcessError::Failed {
                program: self.tool.program,
                status,
                stderr: last_lines(&stderr, 6),
            });
        }
        Ok(stderr)
    }

    fn stop_watchdog(&mut self) {
        *lock(&self.shared.done) = true;
        self.shared.done_signal.notify_all();
        if let Some(h) = self.watchdog.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if !self.finished {
            drop(self.stdin.take());
            drop(self.stdout.take());
            let mut child = lock(&self.shared.child);
            kill_group(&mut child);
            let _ = child.wait();
        }
        self.stop_watchdog();
    }
}

/// Kills the program's whole process group. The group id stays valid until the leader is reaped,
/// and only `wait` reaps it, so this never signals an unrelated group.
fn kill_group(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return; // already reaped: its pid may belong to someone else by now
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
}

/// Runs a program to completion and returns its standard output, refusing more than `limit` bytes.
pub fn run_capture<I, S>(
    tool: Tool,
    args: I,
    timeout: Duration,
    limit: usize,
) -> Result<Vec<u8>, ProcessError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut process = Process::spawn(tool, args, false, Output::Piped, timeout)?;
    let stdout = process.take_stdout().ok_or(ProcessError::Io {
        program: tool.program,
        source: std::io::Error::other("standard output is not a pipe"),
    })?;
    let mut bytes = Vec::new();
    let read = stdout
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ProcessError::Io {
            program: tool.program,
            source,
        });
    if bytes.len() > limit {
        return Err(ProcessError::OutputTooLarge {
            program: tool.program,
            limit,
        });
    }
    // A timeout or failure explains a short read better than the read error itself.
    process.wait()?;
    read?;
    Ok(bytes)
}

/// Reads a pipe to its end, keeping only the last `keep` bytes, so the child never blocks on a
/// full pipe and memory stays bounded.
fn read_tail(mut pipe: impl Read, keep: usize) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > keep * 2 {
                    tail.drain(..tail.len() - keep);
                }
            }
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    String::from_utf8_lossy(&tail).into_owned()
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SH: Tool = Tool {
        program: "sh",
        package: "dash",
    };

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn every_ffmpeg_input_is_pinned_and_outputs_are_untouched() {
        let args: Vec<OsString> = [
            "-y",
            "-f",
            "rawvideo",
            "-s",
            "8x8",
            "-i",
            "pipe:0",
            "-i",
            "file:/a.wav",
            "-map",
            "0:v",
            "-f",
            "mp4",
            "file:/out.mp4",
        ]
        .map(OsString::from)
        .to_vec();
        let pinned = strings(&pin_inputs(FFMPEG, args));
        let media = MEDIA_DEMUXERS.join(",");
        let expected: Vec<String> = [
            "-protocol_whitelist".to_owned(),
            "file,pipe".into(),
            "-format_whitelist".into(),
            format!("rawvideo,{media}"),
            "-y".into(),
            "-f".into(),
            "rawvideo".into(),
            "-s".into(),
            "8x8".into(),
            "-i".into(),
            "pipe:0".into(),
            "-protocol_whitelist".into(),
            "file,pipe".into(),
            "-format_whitelist".into(),
            media.clone(),
            "-i".into(),
            "file:/a.wav".into(),
            "-map".into(),
            "0:v".into(),
            "-f".into(),
            "mp4".into(),
            "file:/out.mp4".into(),
        ]
        .to_vec();
        assert_eq!(pinned, expected);
    }

    #[test]
    fn a_caller_pin_is_kept_and_ffprobe_is_pinned_before_its_input() {
        let args: Vec<OsString> = ["-format_whitelist", "mov", "-i", "x.mp4"]
            .map(OsString::from)
            .to_vec();
        let pinned = strings(&pin_inputs(FFMPEG, args));
        assert_eq!(
            pinned,
            [
                "-protocol_whitelist",
                "file,pipe",
                "-format_whitelist",
                "mov",
                "-i",
                "x.mp4"
            ]
        );
        let probe = strings(&pin_inputs(
            FFPROBE,
            ["-show_format", "x.mp4"].map(OsString::from).to_vec(),
        ));
        assert_eq!(probe[..2], ["-protocol_whitelist", "file,pipe"]);
        assert_eq!(probe[2], "-format_whitelist");
        assert_eq!(probe[4..], ["-show_format", "x.mp4"]);
        let other = strings(&pin_inputs(SH, ["-c", "-i"].map(OsString::from).to_vec()));
        assert_eq!(other, ["-c", "-i"]);
    }

    #[test]
    fn captures_output() {
        let out = run_capture(SH, ["-c", "printf hello"], Duration::from_secs(5), 100).unwrap();
        assert_eq!(out, b"hello");
    }

    #[test]
    fn a_missing_program_names_its_package() {
        let tool = Tool {
            program: "reelsmith-no-such-program",
            package: "no-such-package",
        };
        let err = run_capture(tool, ["x"], Duration::from_secs(5), 10).unwrap_err();
        assert_eq!(err.code(), "engine.tool_missing");
        assert!(err.to_string().contains("no-such-package"), "{err}");
    }

    #[test]
    fn a_slow_program_is_killed_at_its_deadline() {
        let started = Instant::now();
        let err = run_capture(SH, ["-c", "sleep 30"], Duration::from_millis(300), 10).unwrap_err();
        assert_eq!(err.code(), "engine.timeout");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn failure_carries_stderr() {
        let err = run_capture(
            SH,
            ["-c", "echo broken input >&2; exit 3"],
            Duration::from_secs(5),
            10,
        )
        .unwrap_err();
        assert_eq!(err.code(), "engine.process_failed");
        assert!(err.to_string().contains("broken input"), "{err}");
    }

    #[test]
    fn output_is_bounded() {
        let err = run_capture(
            SH,
            ["-c", "yes | head -c 5000"],
            Duration::from_secs(5),
            100,
        )
        .unwrap_err();
        assert_eq!(err.code(), "engine.output_too_large");
    }

    #[test]
    fn a_panic_while_holding_a_program_s_lock_does_not_break_waiting_for_it() {
        // The permits' own poison test is in `permits.rs`.
        // A panic while a program's own handle is locked does not stop it being waited for.
        let process = Process::spawn(
            SH,
            ["-c", "sleep 0.2"],
            false,
            Output::Null,
            Duration::from_secs(5),
        )
        .unwrap();
        let shared = Arc::clone(&process.shared);
        let poisoner = std::thread::spawn(move || {
            let _held = shared.child.lock();
            panic!("a panic while the child is locked");
        });
        assert!(poisoner.join().is_err());
        assert!(process.shared.child.is_poisoned());
        process.wait().unwrap();
    }

    #[test]
    fn dropping_kills_the_program() {
        let marker = tempfile::tempdir().unwrap();
        let path = marker.path().join("survived");
        let script = format!("sleep 2; touch {}", path.display());
        let process = Process::spawn(
            SH,
            ["-c", &script],
            false,
            Output::Null,
            Duration::from_secs(60),
        )
        .unwrap();
        drop(process);
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!path.exists(), "the program outlived its handle");
    }
}

//! Per-job work folders under `<temp_dir>/work/`, and the removal of ones left behind by a crash.
//!
//! A folder is named `p<pid>-<worker id>-<job id>`: the pid of the process that made it comes
//! first so that a worker starting later can tell whether its maker is still alive. A folder is
//! removed when its job ends however it ends (the guard's `Drop`), and at worker start every
//! folder whose maker is dead, or that claims to be this process's but is not in use here (a pid
//! reused after a restart, as in a container where the server is always pid 1), is removed.

// The workspace denies `unsafe_code`; this module needs it because asking whether a pid is alive is a libc call (`kill(pid, 0)`).
// Each block says why it is sound in its `SAFETY:` comment (clippy checks they are there).
#![allow(unsafe_code)]

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Folders in use by jobs of this process, so one worker's start-up sweep never removes a folder
/// another worker in the same process is working in.
fn active_folders() -> &'static Mutex<HashSet<PathBuf>> {
    static ACTIVE: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    ACTIVE.get_or_init(|| Mutex::new(HashSet::new()))
}

fn lock_active() -> std::sync::MutexGuard<'static, HashSet<PathBuf>> {
    // The set stays consistent even if a holder panicked: every operation is a single insert
    // or remove.
    active_folders()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The folder holding every job's work folder.
pub fn work_root(temp_dir: &Path) -> PathBuf {
    temp_dir.join("work")
}

/// Keeps only characters that are safe in a file name and cannot be confused with the separator
/// logic (the pid is read from the first `-`-separated part only).
fn sanitize(part: &str) -> String {
    part.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `p<pid>-<worker id>-<job id>`.
pub fn folder_name(pid: u32, worker_id: &str, job_id: &str) -> String {
    format!("p{pid}-{}-{}", sanitize(worker_id), sanitize(job_id))
}

/// The pid a folder name records, when it follows [`folder_name`].
pub fn pid_of(name: &str) -> Option<u32> {
    let first = name.split('-').next()?;
    first.strip_prefix('p')?.parse().ok()
}

/// One job's work folder; removed (with everything in it) when dropped.
#[derive(Debug)]
pub struct WorkFolder {
    path: PathBuf,
}

impl WorkFolder {
    /// Creates a fresh, empty folder for `job_id`, replacing any left by an earlier attempt of
    /// this worker.
    pub fn create(temp_dir: &Path, worker_id: &str, job_id: &str) -> io::Result<WorkFolder> {
        let root = work_root(temp_dir);
        std::fs::create_dir_all(&root)?;
        let path = root.join(folder_name(std::process::id(), worker_id, job_id));
        lock_active().insert(path.clone());
        let folder = WorkFolder { path };
        match std::fs::remove_dir_all(&folder.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir(&folder.path)?;
        Ok(folder)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for WorkFolder {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(folder = %self.path.display(), error = %e, "cannot remove work folder");
            }
        }
        lock_active().remove(&self.path);
    }
}

/// Whether a process with this pid exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid_t) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid_t <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission; it sends nothing.
    let exists = unsafe { libc::kill(pid_t, 0) } == 0
        || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !is_zombie(pid)
}

/// A killed process stays in the table until its parent reaps it; it holds nothing any more.
fn is_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may contain spaces.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state == "Z")
}

/// Removes every work folder under `<temp_dir>/work/` that no live job owns: made by a process
/// that is gone, or named for this process but not in use here. Folders of other live processes
/// are left alone. Returns the folders removed.
pub fn remove_stale_folders(temp_dir: &Path) -> io::Result<Vec<PathBuf>> {
    let root = work_root(temp_dir);
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let ours = std::process::id();
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let Some(pid) = entry.file_name().to_str().and_then(pid_of) else {
            tracing::warn!(folder = %path.display(), "unrecognised entry in the work folder, left alone");
            continue;
        };
        let stale = if pid == ours {
            !lock_active().contains(&path)
        } else {
            !process_alive(pid)
        };
        if stale {
            let result = if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match result {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_pid_first() {
        let name = folder_name(4242, "host.4242.0", "0190-abcd");
        assert_eq!(name, "p4242-host.4242.0-0190-abcd");
        assert_eq!(pid_of(&name), Some(4242));
        assert_eq!(pid_of("stray"), None);
        assert_eq!(pid_of("pxyz-1"), None);
        assert_eq!(folder_name(1, "a/b c", "../j"), "p1-a_b_c-.._j");
    }

    #[test]
    fn folder_is_removed_on_drop() {
        let temp = tempfile::tempdir().unwrap();
        let path = {
            let folder = WorkFolder::create(temp.path(), "w", "job1").unwrap();
            std::fs::write(folder.file("x"), b"x").unwrap();
            folder.path().to_path_buf()
        };
        assert!(!path.exists());
    }

    #[test]
    fn sweep_removes_dead_and_unused_own_folders_only() {
        let temp = tempfile::tempdir().unwrap();
        let root = work_root(temp.path());
        std::fs::create_dir_all(&root).unwrap();

        // A child that has exited and been reaped: its pid names a dead process.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let dead = root.join(folder_name(dead_pid, "w", "dead"));
        std::fs::create_dir_all(dead.join("sub")).unwrap();

        // Our parent is alive and is not us.
        let live = root.join(folder_name(
            std::os::unix::process::parent_id(),
            "w",
            "live",
        ));
        std::fs::create_dir(&live).unwrap();

        let own_unused = root.join(folder_name(std::process::id(), "w", "leftover"));
        std::fs::create_dir(&own_unused).unwrap();
        let in_use = WorkFolder::create(temp.path(), "w", "busy").unwrap();
        let stray = root.join("not-ours");
        std::fs::create_dir(&stray).unwrap();

        let mut removed = remove_stale_folders(temp.path()).unwrap();
        removed.sort();
        let mut expected = vec![dead.clone(), own_unused.clone()];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(!dead.exists() && !own_unused.exists());
        assert!(live.exists() && in_use.path().exists() && stray.exists());
    }
}

//! One temporary folder per render, removed when the render ends however it ends, and outputs
//! written under temporary names and renamed into place only when complete.

use std::path::{Path, PathBuf};

/// A render's private scratch folder. Dropping it removes the folder and everything in it.
#[derive(Debug)]
pub struct WorkDir {
    dir: tempfile::TempDir,
}

impl WorkDir {
    /// Creates `reelsmith-render-XXXX` inside `parent` (the system temporary folder when `None`).
    pub fn new(parent: Option<&Path>) -> std::io::Result<WorkDir> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("reelsmith-render-");
        let dir = match parent {
            Some(parent) => {
                std::fs::create_dir_all(parent)?;
                builder.tempdir_in(parent)?
            }
            None => builder.tempdir()?,
        };
        Ok(WorkDir { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A path that receives an output under a temporary name beside the final one, so readers never
/// see a half-written file. `commit` renames it into place; dropping without committing removes it.
#[derive(Debug)]
pub struct PendingFile {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PendingFile {
    pub fn new(target: &Path) -> PendingFile {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let temp = target.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        PendingFile {
            temp,
            target: target.to_path_buf(),
            committed: false,
        }
    }

    /// Where to write.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    pub fn commit(mut self) -> std::io::Result<()> {
        std::fs::rename(&self.temp, &self.target)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdir_is_removed_on_drop() {
        let parent = tempfile::tempdir().unwrap();
        let work = WorkDir::new(Some(parent.path())).unwrap();
        std::fs::write(work.file("x"), b"1").unwrap();
        let path = work.path().to_path_buf();
        drop(work);
        assert!(!path.exists());
    }

    #[test]
    fn pending_file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.mp4");
        let pending = PendingFile::new(&target);
        std::fs::write(pending.temp_path(), b"data").unwrap();
        assert!(!target.exists());
        pending.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"data");

        let abandoned = PendingFile::new(&dir.path().join("other.mp4"));
        std::fs::write(abandoned.temp_path(), b"half").unwrap();
        drop(abandoned);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

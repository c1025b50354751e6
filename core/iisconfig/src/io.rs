//! Atomic, serialised writes of configuration files.
//!
//! A write goes to a temporary file in the same folder, is flushed to disk,
//! then renamed over the target, so a reader (IIS, another appcmd) sees the
//! old file or the new one, never half of one. Read-modify-write cycles are
//! serialised by an exclusive lock on a sidecar `<file>.lock` (the file itself
//! cannot carry the lock: the rename replaces it under a waiting process).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// Writes `text` to `path` atomically (temp file + rename).
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ConfigError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".iiswsgi-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| ConfigError::write(path, e))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| ConfigError::write(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o644);
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
            .map_err(|e| ConfigError::write(path, e))?;
    }
    tmp.persist(path)
        .map_err(|e| ConfigError::write(path, e.error))?;
    Ok(())
}

/// An exclusive lock on `<path>.lock`, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
    path: PathBuf,
}

impl FileLock {
    /// Waits for the lock that serialises edits of `path`.
    pub fn acquire(path: &Path) -> Result<FileLock, ConfigError> {
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| ConfigError::write(&lock_path, e))?;
        file.lock().map_err(|e| ConfigError::write(&lock_path, e))?;
        Ok(FileLock {
            _file: file,
            path: lock_path,
        })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a configuration file as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::read(path, e))
}

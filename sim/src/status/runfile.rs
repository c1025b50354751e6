//! `sim-serve.json` next to `sim.toml`: what a running `sim serve` publishes
//! for `iiswsgi sim status` (its pid, the bindings' local URLs, the live
//! `FastCGI` processes). Written atomically (temp file + rename) while it
//! serves, removed when it stops; a file whose pid is gone is stale.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name in the machine's root.
pub const RUN_FILE: &str = "sim-serve.json";

/// A binding and the local URL it is served on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedBinding {
    pub site: String,
    pub binding: String,
    pub url: String,
}

/// A live `FastCGI` process of a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveProcess {
    /// The pool's key: `fullPath|arguments`.
    pub pool: String,
    pub pid: u32,
    /// Requests it completed.
    pub requests: u32,
    /// Serving a request now.
    pub busy: bool,
    /// Start time, seconds since the Unix epoch.
    pub started: u64,
}

/// What a running `sim serve` publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeState {
    pub pid: u32,
    /// Start time, seconds since the Unix epoch.
    pub started: u64,
    pub bindings: Vec<ServedBinding>,
    pub processes: Vec<LiveProcess>,
}

/// Reading or writing the run file failed.
#[derive(Debug, thiserror::Error)]
pub enum RunFileError {
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Atomic(iiswsgi_iisconfig::ConfigError),
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a sim serve state file (delete it; a running sim serve rewrites it within a second)", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ServeState {
    /// The run file of the machine at `root`.
    pub fn path(root: &Path) -> PathBuf {
        root.join(RUN_FILE)
    }

    /// Writes the state atomically (the project's one atomic write: temp
    /// file, flush, rename). Blocking: `sim serve` calls it off its runtime
    /// thread.
    pub fn write(&self, root: &Path) -> Result<(), RunFileError> {
        let path = Self::path(root);
        let text = serde_json::to_string_pretty(self).map_err(|e| RunFileError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        iiswsgi_iisconfig::io::write_atomic(&path, &text).map_err(RunFileError::Atomic)
    }

    /// The state published at `root`, if any.
    pub fn read(root: &Path) -> Result<Option<ServeState>, RunFileError> {
        let path = Self::path(root);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RunFileError::Read { path, source }),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| RunFileError::Parse { path, source })
    }

    /// Removes the run file (when `sim serve` stops).
    pub fn remove(root: &Path) {
        let _ = std::fs::remove_file(Self::path(root));
    }
}

/// Whether a process with this pid exists.
pub fn pid_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: kill(2) with signal 0 only checks that the process exists.
        #[allow(unsafe_code)]
        let r = unsafe { libc::kill(pid, 0) };
        r == 0
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

//! The log file: created private (0600 on Unix), appended to, and rotated by
//! size (`WSGI_LOG_MAX_BYTES`, default 10 MB; [`BACKUPS`] older files kept as
//! `PATH.1` … `PATH.N`).
//!
//! Rotation is done here rather than with `tracing-appender`, whose rolling
//! appender rotates by time only: a burst of `print()` calls can otherwise grow
//! the log without bound between two rotations.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Rotated files kept beside the current one.
pub const BACKUPS: u32 = 3;
/// Default size limit of one log file.
pub const DEFAULT_MAX_BYTES: u64 = 10_000_000;
/// The setting that changes the limit (`0` turns rotation off).
pub const MAX_BYTES_SETTING: &str = "WSGI_LOG_MAX_BYTES";

/// The size limit from `WSGI_LOG_MAX_BYTES`, or the default.
pub fn max_bytes_setting() -> u64 {
    std::env::var(MAX_BYTES_SETTING)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_BYTES)
}

/// How to open a log file.
#[derive(Clone, Copy, Debug)]
pub struct OpenRules {
    /// Refuse a symbolic link or a file owned by another user (the shared
    /// temporary folder, where another local user may have created the name).
    pub own_file_only: bool,
}

/// An append-only log file that rotates itself by size.
#[derive(Debug)]
pub struct RotatingFile {
    file: File,
    path: PathBuf,
    size: u64,
    max: u64,
}

fn open_file(path: &Path, rules: OpenRules) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
        if rules.own_file_only {
            o.custom_flags(libc::O_NOFOLLOW);
        }
    }
    let file = o.open(path)?;
    #[cfg(unix)]
    if rules.own_file_only {
        use std::os::unix::fs::MetadataExt;
        let owner = file.metadata()?.uid();
        let me = crate::transport::unix::euid();
        if owner != me {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("owned by another user (uid {owner})"),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = rules;
    Ok(file)
}

fn backup(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl RotatingFile {
    /// Opens (creating) `path` for appending, rotating at `max` bytes (0: never).
    pub fn open(path: &Path, rules: OpenRules, max: u64) -> io::Result<Self> {
        let file = open_file(path, rules)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RotatingFile {
            file,
            path: path.to_path_buf(),
            size,
            max,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames `PATH` to `PATH.1` (shifting older backups up, dropping the
    /// oldest) and starts a new `PATH`. Processes sharing the file (`--workers`)
    /// notice that another one rotated it and simply reopen.
    fn rotate(&mut self) -> io::Result<()> {
        let on_disk = std::fs::metadata(&self.path).map(|m| m.len()).ok();
        if on_disk.is_none_or(|len| len < self.size) {
            // Another process rotated it: continue in the new file.
            self.file = open_file(
                &self.path,
                OpenRules {
                    own_file_only: false,
                },
            )?;
            self.size = on_disk.unwrap_or(0);
            return Ok(());
        }
        for n in (1..BACKUPS).rev() {
            let from = backup(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, backup(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, backup(&self.path, 1))?;
        self.file = open_file(
            &self.path,
            OpenRules {
                own_file_only: false,
            },
        )?;
        self.size = 0;
        Ok(())
    }

    /// Appends `buf` (one formatted event), rotating first when it would pass the limit.
    pub fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let len = buf.len() as u64;
        if self.max > 0 && self.size > 0 && self.size + len > self.max {
            // A failed rotation must not lose the event: keep writing where we are.
            let _ = self.rotate();
        }
        self.file.write_all(buf)?;
        self.size += len;
        Ok(())
    }
}

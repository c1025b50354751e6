//! Errors of the packager: each names the file (and line when there is one),
//! what is wrong, and what to do.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{}:{line}: {message}; {hint}", file.display())]
    At {
        file: PathBuf,
        line: usize,
        message: String,
        hint: String,
    },
    #[error("{}: {message}; {hint}", file.display())]
    File {
        file: PathBuf,
        message: String,
        hint: String,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
}

impl DeployError {
    pub fn at(
        file: &Path,
        line: usize,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        DeployError::At {
            file: file.to_path_buf(),
            line,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn file(file: &Path, message: impl Into<String>, hint: impl Into<String>) -> Self {
        DeployError::File {
            file: file.to_path_buf(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn read(path: &Path, source: std::io::Error) -> Self {
        DeployError::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn write(path: &Path, source: std::io::Error) -> Self {
        DeployError::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// 1-based line of byte offset `pos` in `text` (iisconfig's, one copy).
pub use iiswsgi_iisconfig::line_of;

pub fn read_text(path: &Path) -> Result<String, DeployError> {
    std::fs::read_to_string(path).map_err(|e| DeployError::read(path, e))
}

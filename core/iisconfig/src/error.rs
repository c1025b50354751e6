//! Errors of the IIS configuration model: each names the file, the line when
//! there is one, what is wrong and what to do.

use std::path::{Path, PathBuf};

/// An error's message followed by those of its sources, joined with ": " (as
/// anyhow's `{:#}`): for log lines and reports, since a message never repeats
/// its source's text.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

/// What went wrong, for callers that must branch on it (`matches!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not well-formed XML.
    Malformed,
    /// A DOCTYPE (DTD, entity declarations) was found: refused everywhere.
    Doctype,
    /// Well-formed, but not what IIS accepts (a bad value, a missing attribute).
    Invalid,
    /// A collection entry with the same key already exists.
    Duplicate,
    /// The element to change or remove does not exist.
    NotFound,
}

/// An error reading, checking or writing an IIS configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A problem at a line of a file.
    #[error("{}:{line}: {message}; {hint}", file.display())]
    At {
        kind: ErrorKind,
        file: PathBuf,
        line: usize,
        message: String,
        hint: String,
    },
    /// A problem with a file as a whole, or with an edit.
    #[error("{}: {message}; {hint}", file.display())]
    File {
        kind: ErrorKind,
        file: PathBuf,
        message: String,
        hint: String,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    pub fn at(
        kind: ErrorKind,
        file: &Path,
        line: usize,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ConfigError::At {
            kind,
            file: file.to_path_buf(),
            line,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn file(
        kind: ErrorKind,
        file: &Path,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ConfigError::File {
            kind,
            file: file.to_path_buf(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn read(path: &Path, source: std::io::Error) -> Self {
        ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn write(path: &Path, source: std::io::Error) -> Self {
        ConfigError::Write {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The kind of a checked or edit error; `None` for I/O errors.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ConfigError::At { kind, .. } | ConfigError::File { kind, .. } => Some(*kind),
            ConfigError::Read { .. } | ConfigError::Write { .. } => None,
        }
    }

    /// The line the error is at, when it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::At { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// 1-based line of byte offset `pos` in `text`.
#[allow(
    clippy::naive_bytecount,
    reason = "a line count for error messages needs no bytecount dependency"
)]
pub fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&c| c == b'\n')
        .count()
        + 1
}

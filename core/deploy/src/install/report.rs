//! Progress of an install: one line per step on stderr (more with `-v`),
//! and everything, command output included, in `iiswsgi-install.log` in the
//! application's folder, so that `WebPI`'s log (which shows only the output)
//! and the log file each suffice to diagnose a failure.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where progress goes.
pub struct Reporter {
    log: Option<std::fs::File>,
    log_path: PathBuf,
    verbosity: u8,
    sink: Box<dyn FnMut(&str) + Send>,
}

impl Reporter {
    /// Progress to `sink`; details too when `verbosity` > 0.
    pub fn new(verbosity: u8, sink: Box<dyn FnMut(&str) + Send>) -> Self {
        Reporter {
            log: None,
            log_path: PathBuf::from("iiswsgi-install.log"),
            verbosity,
            sink,
        }
    }

    /// Starts the log file (appending: a re-run after a failure keeps both).
    pub fn open_log(&mut self, path: &Path) {
        self.log_path = path.to_path_buf();
        self.log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok();
        if self.log.is_none() {
            (self.sink)(&format!(
                "warning: cannot write the log {}; progress is only shown here",
                path.display()
            ));
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    fn write_log(&mut self, line: &str) {
        if let Some(f) = &mut self.log {
            let _ = writeln!(f, "{line}");
        }
    }

    /// A step's progress line.
    pub fn progress(&mut self, line: &str) {
        self.write_log(line);
        (self.sink)(line);
    }

    /// A detail: the log, and the progress stream with `-v`.
    pub fn detail(&mut self, line: &str) {
        self.write_log(line);
        if self.verbosity > 0 {
            (self.sink)(line);
        }
    }

    /// A warning.
    pub fn warn(&mut self, line: &str) {
        self.progress(&format!("warning: {line}"));
    }
}

//! A text stream whose lines go to the log: `wsgi.errors`, and in the IIS model
//! `sys.stdout` / `sys.stderr` (IIS gives the process no usable handles there).

use std::sync::Mutex;

use pyo3::prelude::*;

/// Log level of a stream's lines.
#[derive(Clone, Copy, Debug)]
pub enum Level {
    Info,
    Warn,
}

#[pyclass(module = "iiswsgi", name = "LogStream")]
pub struct LogStream {
    name: &'static str,
    level: Level,
    partial: Mutex<String>,
}

impl LogStream {
    pub fn new(name: &'static str, level: Level) -> Self {
        LogStream {
            name,
            level,
            partial: Mutex::new(String::new()),
        }
    }

    fn emit(&self, line: &str) {
        match self.level {
            Level::Info => tracing::info!(stream = self.name, "{line}"),
            Level::Warn => tracing::warn!(stream = self.name, "{line}"),
        }
    }
}

#[allow(
    clippy::unused_self,
    reason = "Python methods of a file-like object: pyo3 needs the receiver"
)]
#[pymethods]
impl LogStream {
    fn write(&self, s: &str) -> usize {
        let mut partial = self
            .partial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        partial.push_str(s);
        while let Some(i) = partial.find('\n') {
            let line: String = partial.drain(..=i).collect();
            self.emit(line.trim_end_matches(['\r', '\n']));
        }
        s.chars().count()
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(&line?.extract::<String>()?);
        }
        Ok(())
    }

    fn flush(&self) {
        let mut partial = self
            .partial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !partial.is_empty() {
            let line = std::mem::take(&mut *partial);
            self.emit(&line);
        }
    }

    fn isatty(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        "utf-8"
    }
}

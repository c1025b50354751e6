//! Logging to a file (never to stdout/stderr in the IIS model, where IIS gives
//! the process invalid handles). The file can be switched once `web.config` has
//! been read, so that start-up is always recorded somewhere.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::logfile::{self, OpenRules, RotatingFile};
use crate::GatewayError;

struct Target {
    file: Option<RotatingFile>,
    path: PathBuf,
    /// Default locations passed over, and why, to be logged once logging works.
    skipped: Vec<String>,
}

static TARGET: OnceLock<Mutex<Target>> = OnceLock::new();

fn target() -> &'static Mutex<Target> {
    TARGET.get_or_init(|| {
        Mutex::new(Target {
            file: None,
            path: PathBuf::new(),
            skipped: Vec::new(),
        })
    })
}

/// Writes whole formatted events to the current log file.
#[derive(Clone, Copy)]
struct FileWriter;

impl Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut t = target()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = t.file.as_mut() {
            f.append(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for FileWriter {
    type Writer = FileWriter;
    fn make_writer(&'a self) -> Self::Writer {
        FileWriter
    }
}

/// Opens a log file named by the user (`--log`, `WSGI_LOG`).
fn open_named(path: &Path) -> std::io::Result<RotatingFile> {
    RotatingFile::open(
        path,
        OpenRules {
            own_file_only: false,
        },
        logfile::max_bytes_setting(),
    )
}

/// Opens a default location: in a shared folder, a file another user created
/// (or a symbolic link) is not used.
fn open_default(path: &Path) -> std::io::Result<RotatingFile> {
    RotatingFile::open(
        path,
        OpenRules {
            own_file_only: true,
        },
        logfile::max_bytes_setting(),
    )
}

/// A name of this user for the last default location.
fn user_tag() -> String {
    #[cfg(unix)]
    {
        crate::transport::unix::euid().to_string()
    }
    #[cfg(not(unix))]
    {
        std::env::var("USERNAME")
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

/// Where the log goes when nothing names a file: the first usable of
/// `%IIS_USER_HOME%\Logs\%IISEXPRESS_SITENAME%\iiswsgi.log`,
/// `%IIS_USER_HOME%\Logs\iiswsgi.log`, `%TEMP%\iiswsgi.log` (`$TMPDIR` on Unix)
/// and `%TEMP%\iiswsgi-USER.log` (for when another user owns the previous one).
pub fn default_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(home) = std::env::var_os("IIS_USER_HOME").filter(|v| !v.is_empty()) {
        let logs = PathBuf::from(home).join("Logs");
        if let Some(site) = std::env::var_os("IISEXPRESS_SITENAME").filter(|v| !v.is_empty()) {
            out.push(logs.join(site).join("iiswsgi.log"));
        }
        out.push(logs.join("iiswsgi.log"));
    }
    out.push(std::env::temp_dir().join("iiswsgi.log"));
    out.push(std::env::temp_dir().join(format!("iiswsgi-{}.log", user_tag())));
    out
}

/// Sets up tracing. `explicit` (from `--log` or `WSGI_LOG`) must be writable;
/// otherwise the first writable default is used. `mirror_stderr` also prints
/// events on stderr (never in the IIS model). Returns the log file's path.
pub fn init(
    explicit: Option<&Path>,
    level: &str,
    mirror_stderr: bool,
) -> Result<PathBuf, GatewayError> {
    let mut skipped = Vec::new();
    let (file, path) = if let Some(p) = explicit {
        (
            open_named(p).map_err(|source| GatewayError::Log {
                path: p.to_path_buf(),
                source,
            })?,
            p.to_path_buf(),
        )
    } else {
        let mut found = None;
        let mut last = None;
        for p in default_candidates() {
            match open_default(&p) {
                Ok(f) => {
                    found = Some((f, p));
                    break;
                }
                Err(e) => {
                    skipped.push(format!("cannot use the log file {}: {e}", p.display()));
                    last = Some((p, e));
                }
            }
        }
        match (found, last) {
            (Some(x), _) => x,
            (None, Some((path, source))) => return Err(GatewayError::Log { path, source }),
            (None, None) => return Err(GatewayError::Fatal("no log file location to try".into())),
        }
    };
    {
        let mut t = target()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        t.file = Some(file);
        t.path.clone_from(&path);
        t.skipped = skipped;
    }
    let filter = || EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let file_layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(FileWriter)
        .with_filter(filter());
    let stderr_layer = mirror_stderr.then(|| {
        use std::io::IsTerminal;
        tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .with_filter(filter())
    });
    // A second initialisation (serve called twice in one process) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr_layer)
        .try_init();
    Ok(path)
}

/// Logs the default locations that were passed over (after the first line).
pub fn report_skipped() {
    let skipped = std::mem::take(
        &mut target()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .skipped,
    );
    for why in skipped {
        tracing::warn!("{why}; using the next location");
    }
}

/// Switches the log to `path` (a `WSGI_LOG` found in `web.config`).
pub fn retarget(path: &Path) -> Result<(), GatewayError> {
    let file = open_named(path).map_err(|source| GatewayError::Log {
        path: path.to_path_buf(),
        source,
    })?;
    let mut t = target()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if t.path != path {
        let old = std::mem::replace(&mut t.path, path.to_path_buf());
        if let Some(f) = t.file.as_mut() {
            let _ = f.append(format!("log continues in {}\n", path.display()).as_bytes());
        }
        t.file = Some(file);
        drop(t);
        tracing::info!("log continued from {}", old.display());
    }
    Ok(())
}

/// The current log file.
pub fn current_path() -> PathBuf {
    target()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .path
        .clone()
}

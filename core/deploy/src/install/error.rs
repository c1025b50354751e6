//! Why an install failed: each error says what failed and what to do, in
//! one line (what Web Deploy's runCommand shows) with the details after it.

use std::path::PathBuf;

use super::platform::PlatformError;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("APPL_PHYSICAL_PATH is {path:?}, but {} is not a folder; set it to the application's folder", host.display())]
    NoAppDir { path: String, host: PathBuf },
    #[error("no application to install was found; looked at:\n  {}", looked.join("\n  "))]
    NotFound { looked: Vec<String> },
    #[error("appcmd {args} failed with exit code {code}: {}", output.trim())]
    Appcmd {
        args: String,
        code: i32,
        output: String,
    },
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(transparent)]
    Config(#[from] iiswsgi_iisconfig::ConfigError),
    #[error(transparent)]
    Deploy(#[from] crate::DeployError),
    #[error("{step} failed: `{command}` exited with code {code}; its output is in {}", log.display())]
    Command {
        step: String,
        command: String,
        code: i32,
        log: PathBuf,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the smoke test of {url} got status {status}{detail}")]
    Smoke {
        url: String,
        status: u16,
        detail: String,
    },
}

#![allow(clippy::unwrap_used)]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "benchmark and test statistics: counts and durations as f64 for rates and percentiles, and back"
)]
//! End-to-end tests of the gateway process. They need the `iiswsgi` package
//! installed in the Python named by `IISWSGI_PYTHON` (default: the repo's
//! `.venv`), which `ci/test.sh` prepares; on Windows (`ci/windows.sh`, under
//! Wine) the embeddable `CPython` with the `win_amd64` wheel, driven through
//! IIS's named pipe and shutdown event.

// Not yet run on Windows (not Unix by nature): the CLI and simulator
// transcripts are snapshots taken with Unix paths and `/` separators; making
// them OS-independent is left for later (see README, Windows).
#[cfg(unix)]
mod cli;
mod lifecycle;
// Unix by nature: a real nginx in front of a Unix-socket gateway.
#[cfg(unix)]
mod nginx;
mod pipe;
#[cfg(unix)]
mod sim;
// Written for Unix hosts (listening sockets, --workers, the simulator's
// socketpairs, real virtualenvs with bin/python): not run under Wine yet.
#[cfg(unix)]
mod bind;
#[cfg(unix)]
mod deploy_sim;
#[cfg(unix)]
mod fixtures;
#[cfg(unix)]
mod install;
#[cfg(unix)]
mod logging;
#[cfg(unix)]
mod protocol;
#[cfg(unix)]
mod scenarios;
#[cfg(unix)]
mod sim_serve;
#[cfg(unix)]
mod sim_status;
mod snapshot;
#[cfg(unix)]
mod wsgi_rules;

use serde_json::Value;

pub fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("iiswsgi-test-")
        .tempdir()
        .expect("temporary directory")
}

pub fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

pub trait Strings {
    fn strings(&self) -> Vec<String>;
}

impl Strings for Value {
    fn strings(&self) -> Vec<String> {
        self.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#![allow(clippy::unwrap_used)]
#![cfg(unix)]
//! End-to-end tests of the gateway process. They need the `iiswsgi` package
//! installed in the Python named by `IISWSGI_PYTHON` (default: the repo's
//! `.venv`), which `ci/test.sh` prepares.

mod bind;
mod cli;
mod deploy_sim;
mod install;
mod logging;
mod nginx;
mod pipe;
mod protocol;
mod sim;
mod sim_serve;
mod snapshot;
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

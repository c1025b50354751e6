//! Declarative scenarios (`harness/scenarios/*.toml`): a project, `WebPI`'s
//! parameters, the faults to inject and what must be seen (exit code and
//! failing stage, the messages, where the product says to look, pages and
//! log lines). `iiswsgi sim replay SCENARIO.toml` runs one on a fresh
//! machine; the harness runs them all. `replay` also rebuilds an install
//! from `WebPI`'s install log folder.

pub mod check;
pub mod client;
pub mod faults;
pub mod model;
pub mod replay;
pub mod run;

use std::path::PathBuf;

pub use model::{load, Loaded, Scenario};
pub use run::{run, Outcome, RunOptions};

/// What stops a scenario or a replay before its stages run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
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
    #[error("{}: {message}", path.display())]
    Toml { path: PathBuf, message: String },
    #[error("{}: {key}: {why}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        why: String,
    },
    #[error("{what}")]
    Unsupported { what: String },
    #[error("{}: {why}", dir.display())]
    Log { dir: PathBuf, why: String },
    #[error("{0}")]
    Machine(#[from] crate::machine::MachineError),
    #[error("{0}")]
    Config(#[from] iiswsgi_iisconfig::ConfigError),
}

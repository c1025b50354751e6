//! The on-target installer's view of IIS: one [`Platform`] value chosen at
//! run time (the shape of rustls's `CryptoProvider`: a plain struct of trait
//! objects), so the same install code drives the real IIS through
//! `appcmd.exe` on Windows and the simulated IIS on any OS, and a test or a
//! fault injection swaps one part.
//!
//! * [`backend`]: `--backend` > `IISWSGI_BACKEND` > auto (appcmd.exe found →
//!   Windows; `IISWSGI_SIM_ROOT` names a root → simulator; else no IIS);
//! * [`windows`]: the real implementation (compiled on every OS, tested on
//!   Linux against a stub appcmd);
//! * the simulated implementation lives in the `sim` crate, which
//!   `native/` links in: nothing in `core` depends on it.

pub mod backend;
pub mod error;
pub mod find;
pub mod http;
pub mod platform;
pub mod report;
pub mod run;
pub mod steps;
pub mod windows;

pub use backend::{Backend, BackendChoice, BackendKind, Source};
pub use error::InstallError;
pub use platform::{
    AppcmdOutput, CommandRunner, CommandSpec, IisAdmin, Machine, Platform, PlatformError,
    SmokeClient, SmokeResponse, SmokeTarget,
};
pub use run::{install, uninstall, InstallOptions, Installed};

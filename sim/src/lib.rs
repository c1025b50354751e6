//! The simulated IIS machine: what IIS's FastCGI module, appcmd, Web Deploy
//! and WebPI do, emulated on any OS so every stage of serving and deploying
//! a Python app on IIS runs in Linux CI.
//!
//! * [`model`]: pure modules (the CGI head, IIS's server variables; later
//!   appcmd parsing and printing and routing), no I/O;
//! * [`fcgi`]: the web server's side of a FastCGI connection, blocking, on
//!   the project's codec;
//! * [`spawn`]: starting a FastCGI process as IIS starts it (a socketpair
//!   on Unix; on Windows IIS's own calls: named pipe, shutdown event,
//!   `CreateProcessW` with a handle list).
//!
//! Nothing in `core` depends on this crate; `native/` links it into the CLI.

pub mod appcmd;
pub mod create;
pub mod machine;
pub mod model;
pub mod platform;

pub mod fcgi;
#[cfg(windows)]
pub mod pipe;
pub mod process;
#[cfg(unix)]
pub mod spawn;
#[cfg(windows)]
#[path = "spawn_windows.rs"]
pub mod spawn;

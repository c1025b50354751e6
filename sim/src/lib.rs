//! The simulated IIS machine: what IIS's `FastCGI` module, appcmd, Web Deploy
//! and `WebPI` do, emulated on any OS so every stage of serving and deploying
//! a Python app on IIS runs in Linux CI.
//!
//! * [`model`]: pure modules (the CGI head, IIS's server variables; later
//!   appcmd parsing and printing and routing), no I/O;
//! * [`fcgi`]: the web server's side of a `FastCGI` connection, blocking, on
//!   the project's codec;
//! * [`spawn`]: starting a `FastCGI` process as IIS starts it (a socketpair
//!   on Unix; on Windows IIS's own calls: named pipe, shutdown event,
//!   `CreateProcessW` with a handle list).
//! * [`host`]: IIS's `FastCGI` module (process pools, the wire, lifecycle);
//! * [`front`]: `iiswsgi sim serve`, the HTTP front and IIS's routing;
//! * [`msdeploy`] and [`webpi`]: Web Deploy's msdeploy.exe and `WebPI`, installing
//!   packages and feeds built by `iiswsgi package` / `iiswsgi feed`;
//! * [`status`]: `iiswsgi sim status`, what a machine holds and runs.
//!
//! Nothing in `core` depends on this crate; `native/` links it into the CLI.

pub mod appcmd;
pub mod create;
#[cfg(unix)]
pub mod deploy;
pub mod machine;
pub mod model;
pub mod msdeploy;
pub mod platform;
#[cfg(unix)]
pub mod scenario;
pub mod status;
pub mod webpi;

pub mod fcgi;
#[cfg(unix)]
pub mod front;
#[cfg(unix)]
pub mod host;
#[cfg(windows)]
pub mod pipe;
pub mod process;
#[cfg(unix)]
pub mod spawn;
#[cfg(windows)]
#[path = "spawn_windows.rs"]
pub mod spawn;

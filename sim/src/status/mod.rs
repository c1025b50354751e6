//! `iiswsgi sim status`: what a simulated machine holds and does now —
//! its sites and applications, the registered `FastCGI` applications with
//! their live processes (from a running `sim serve`'s [`runfile`]), the last
//! requests of each site's W3C log, and where every log is.

pub mod logs;
mod render;
pub mod runfile;

use std::path::{Path, PathBuf};

use iiswsgi_iisconfig::ApplicationHost;
use serde::Serialize;

use crate::machine::{MachineError, SimMachine};
use runfile::{pid_alive, LiveProcess, RunFileError, ServeState, ServedBinding};

pub use logs::{LogRef, RequestLine};

/// `sim status` could not read the machine.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Machine(#[from] MachineError),
    #[error(transparent)]
    Config(#[from] iiswsgi_iisconfig::ConfigError),
    #[error(transparent)]
    RunFile(#[from] RunFileError),
}

/// Whether `sim serve` runs on the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Serving {
    /// No `sim serve` runs.
    Stopped,
    /// A run file was left by a `sim serve` that is gone (killed).
    Stale { pid: u32 },
    Running {
        pid: u32,
        started: u64,
        bindings: Vec<ServedBinding>,
    },
}

/// An application of a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppStatus {
    pub path: String,
    pub pool: String,
    pub physical_path: String,
}

/// A site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteStatus {
    pub id: u32,
    pub name: String,
    pub bindings: Vec<String>,
    pub applications: Vec<AppStatus>,
}

/// A registered `FastCGI` application and its live processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FastCgiStatus {
    pub full_path: String,
    pub arguments: String,
    pub max_instances: u32,
    pub instance_max_requests: u32,
    pub activity_timeout: u32,
    pub request_timeout: u32,
    pub idle_timeout: u32,
    pub processes: Vec<LiveProcess>,
}

/// Everything `sim status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub root: PathBuf,
    pub machine: String,
    pub server: &'static str,
    pub apphost: LogRef,
    pub serving: Serving,
    pub sites: Vec<SiteStatus>,
    pub fastcgi: Vec<FastCgiStatus>,
    /// Live processes of pools no registered application names any more
    /// (their entry changed or was removed; they are being recycled).
    pub other_processes: Vec<LiveProcess>,
    pub last_requests: Vec<RequestLine>,
    pub logs: Vec<LogRef>,
}

/// How many requests of each site's log are shown.
pub const LAST_REQUESTS: usize = 5;

/// Reads the status of the machine at `root`.
pub fn collect(root: &Path) -> Result<Status, StatusError> {
    let machine = SimMachine::open(root)?;
    let apphost_path = machine.apphost_path()?;
    let host = ApplicationHost::load(&apphost_path)?;
    let serving = serving(root)?;
    let mut processes = match &serving {
        Serving::Running { .. } => ServeState::read(root)?.map(|s| s.processes),
        _ => None,
    }
    .unwrap_or_default();
    let mut fastcgi = Vec::new();
    for app in host.fastcgi_applications()? {
        let key = app.script_processor();
        let (mine, rest): (Vec<_>, Vec<_>) = processes
            .into_iter()
            .partition(|p| p.pool.eq_ignore_ascii_case(&key));
        processes = rest;
        fastcgi.push(FastCgiStatus {
            full_path: app.full_path,
            arguments: app.arguments,
            max_instances: app.max_instances,
            instance_max_requests: app.instance_max_requests,
            activity_timeout: app.activity_timeout,
            request_timeout: app.request_timeout,
            idle_timeout: app.idle_timeout,
            processes: mine,
        });
    }
    let sites: Vec<SiteStatus> = host
        .sites()?
        .into_iter()
        .map(|s| SiteStatus {
            id: s.id,
            name: s.name,
            bindings: s
                .bindings
                .iter()
                .map(|b| format!("{}/{}", b.protocol, b.binding_information))
                .collect(),
            applications: s
                .applications
                .into_iter()
                .map(|a| AppStatus {
                    physical_path: a
                        .virtual_directories
                        .iter()
                        .find(|v| v.path == "/")
                        .map(|v| v.physical_path.clone())
                        .unwrap_or_default(),
                    path: a.path,
                    pool: a.application_pool,
                })
                .collect(),
        })
        .collect();
    let found = logs::find(&machine, &host, &sites);
    Ok(Status {
        root: root.to_path_buf(),
        machine: machine.config.machine.name.clone(),
        server: if machine.config.machine.iis_express {
            "IIS Express"
        } else {
            "IIS"
        },
        apphost: LogRef::new(
            "applicationHost.config",
            &machine.config.machine.apphost,
            &apphost_path,
        ),
        serving,
        sites,
        fastcgi,
        other_processes: processes,
        last_requests: found.requests,
        logs: found.logs,
    })
}

fn serving(root: &Path) -> Result<Serving, StatusError> {
    Ok(match ServeState::read(root)? {
        None => Serving::Stopped,
        Some(s) if !pid_alive(s.pid) => Serving::Stale { pid: s.pid },
        Some(s) => Serving::Running {
            pid: s.pid,
            started: s.started,
            bindings: s.bindings,
        },
    })
}

impl Status {
    /// The status as text, ages counted from `now` (seconds since the epoch).
    pub fn render(&self, now: u64) -> String {
        render::text(self, now)
    }
}

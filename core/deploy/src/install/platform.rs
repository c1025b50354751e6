//! The parts of a [`Platform`] and the values they exchange.

use std::ffi::OsString;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

/// An error of a platform part: what was attempted, and why it failed.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("cannot run {program} (check that it exists and can be executed)")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} did not finish")]
    Wait {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("smoke test of {url}: {message}")]
    Smoke { url: String, message: String },
    #[error("no IIS on this machine: {0}")]
    NoIis(String),
}

/// What appcmd printed and its exit code (appcmd reports errors on stdout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppcmdOutput {
    pub code: i32,
    pub stdout: String,
}

impl AppcmdOutput {
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// IIS administration: appcmd with an argument list (the same list for the
/// real appcmd.exe and the simulator's emulator).
pub trait IisAdmin: Send + Sync + Debug {
    /// Runs appcmd with `args` (without the program name).
    fn appcmd(&self, args: &[String]) -> Result<AppcmdOutput, PlatformError>;
    /// Where the administration goes, for messages (`C:\Windows\…\appcmd.exe`).
    fn describe(&self) -> String;
}

/// A command to run: program, arguments, working directory, extra environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(OsString, OsString)>,
}

impl CommandSpec {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        CommandSpec {
            program: program.into(),
            ..CommandSpec::default()
        }
    }

    #[must_use]
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    /// The command line, for messages and logs.
    pub fn display(&self) -> String {
        std::iter::once(self.program.to_string_lossy().into_owned())
            .chain(self.args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Runs commands (pip, venv, hooks), streaming their output line by line.
pub trait CommandRunner: Send + Sync + Debug {
    /// Runs `cmd` to completion; each output line (stdout and stderr) goes to
    /// `line`. Returns the exit code (-1 when killed by a signal).
    fn run(&self, cmd: &CommandSpec, line: &mut dyn FnMut(&str)) -> Result<i32, PlatformError>;
}

/// What the smoke test requests: the application as IIS will serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeTarget {
    /// The site's name and its first binding (`protocol`, `IP:port:host`).
    pub site: String,
    pub binding: (String, String),
    /// The application's path in the site (`/` or `/app`).
    pub app_path: String,
    /// The URL path requested (under `app_path`).
    pub url_path: String,
    /// The application's physical folder, as IIS stores it.
    pub physical_path: String,
    /// The registered `FastCGI` process: `fullPath` and `arguments`.
    pub full_path: String,
    pub arguments: String,
    pub environment: Vec<(String, String)>,
}

/// A response to the smoke test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmokeResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the `FastCGI` process wrote to `FCGI_STDERR`, when the client sees it.
    pub stderr: Vec<u8>,
}

/// Sends the smoke test's request.
pub trait SmokeClient: Send + Sync + Debug {
    fn request(&self, target: &SmokeTarget) -> Result<SmokeResponse, PlatformError>;
}

/// The machine: its environment and the mapping between the Windows paths
/// IIS stores and the paths a process opens here.
pub trait Machine: Send + Sync + Debug {
    /// An environment variable, name compared case-insensitively as on Windows.
    fn var(&self, name: &str) -> Option<String>;
    /// A Windows path (`%VAR%` expanded) as a path to open on this host.
    fn host_path(&self, windows_path: &str) -> PathBuf;
    /// A host path as IIS would store it.
    fn windows_path(&self, host: &std::path::Path) -> String;

    /// Expands `%VAR%` references with [`Machine::var`]; unknown ones are kept.
    fn expand(&self, s: &str) -> String {
        iiswsgi_iisconfig::expand_percent(s, &|n| self.var(n))
    }
}

/// One IIS backend: every way the installer reaches the machine.
#[derive(Debug, Clone)]
pub struct Platform {
    /// `windows`, `sim`, or `none`.
    pub name: &'static str,
    /// IIS administration; `None` when the machine has no IIS (steps that
    /// need it are reported as skipped).
    pub iis: Option<Arc<dyn IisAdmin>>,
    pub runner: Arc<dyn CommandRunner>,
    pub smoke: Arc<dyn SmokeClient>,
    pub machine: Arc<dyn Machine>,
}

impl Platform {
    /// Runs appcmd, or says there is no IIS.
    pub fn appcmd(&self, args: &[String]) -> Result<AppcmdOutput, PlatformError> {
        match &self.iis {
            Some(iis) => iis.appcmd(args),
            None => Err(PlatformError::NoIis(
                "neither appcmd.exe nor a simulated IIS (IISWSGI_SIM_ROOT) was found".into(),
            )),
        }
    }
}

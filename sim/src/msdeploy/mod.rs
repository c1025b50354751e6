//! `iiswsgi sim msdeploy`: Web Deploy's `msdeploy.exe` on the simulated
//! machine, for manifest-based (Web App Gallery) packages: `-verb:sync
//! -source:package=ZIP -dest:auto` with parameters, and
//! `-verb:getParameters`. Output in msdeploy's words (`Info: …`,
//! `Warning: …`, `Error: …`, `Total changes: …`, `Error count: N.`) and its
//! exit codes (0, or -1 on an error).
//!
//! * [`package`]: reading and checking the zip (hostile ones refused);
//! * [`params`]: settling parameter values; [`replace`] and [`xpath`]:
//!   `TextFile` and `XmlFile` entries;
//! * [`sync`]: the providers, in manifest order;
//! * [`run_command`] over [`batch`]: runCommand through the simulated cmd.exe.
//!
//! `WebPI` ([`crate::webpi`]) calls [`sync::sync`] in process, as the real
//! `WebPI` calls the Web Deploy API rather than msdeploy.exe.

pub mod batch;
pub mod package;
pub mod params;
pub mod replace;
pub mod run_command;
pub mod sync;
pub mod xpath;

use std::path::{Path, PathBuf};

use crate::machine::{MachineError, SimMachine};
use crate::model::msdeploy_args::{self, ArgError, SetParam, Verb};

/// msdeploy's exit code on an error.
pub const EXIT_ERROR: i32 = -1;

/// What can stop a sync.
#[derive(Debug, thiserror::Error)]
pub enum MsdeployError {
    #[error(transparent)]
    Args(#[from] ArgError),
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
    #[error("{} is not a valid package zip: {why}", path.display())]
    NotZip { path: PathBuf, why: String },
    #[error("refusing the package {}: the entry {entry:?} is unsafe: {why}. Nothing was written.", package.display())]
    Hostile {
        package: PathBuf,
        entry: String,
        why: String,
    },
    #[error("{} is a Web Deploy archive package (archive.xml at its root, as Visual Studio or `msdeploy -dest:package` make them); the simulator installs manifest-based (Web App Gallery) packages, with manifest.xml and parameters.xml at the root, as `iiswsgi package` builds them", path.display())]
    ArchivePackage { path: PathBuf },
    #[error("{} has no manifest.xml at its root: it is not a Web App Gallery package (build one with `iiswsgi package`)", path.display())]
    NoManifest { path: PathBuf },
    #[error("refusing the package: {0}. Nothing was written.")]
    Xml(Box<iiswsgi_deploy::format::FormatError>),
    #[error("The declared parameter '{name}' is not recognized.")]
    UnknownParameter { name: String },
    #[error("The parameter '{name}' has no value: give one with -setParam:name=\"{name}\",value=\"…\" (WebPI: --param \"{name}=…\"), or a defaultValue in parameters.xml.")]
    MissingValue { name: String },
    #[error("The value '{value}' of parameter '{name}' is not valid: {why}.")]
    Validation {
        name: String,
        value: String,
        why: String,
    },
    #[error("parameter '{name}'")]
    Entry {
        name: String,
        source: replace::EntryError,
    },
    #[error("The {provider} provider ({path}) is not supported by the simulator: it cannot run database scripts. Skip it with -skip:objectName={provider} (WebPI skips the providers of the database engines not chosen).")]
    DbNotSupported { provider: String, path: String },
    #[error("The {provider} provider is not supported by the simulator in a package manifest; skip it with -skip:objectName={provider}.")]
    Unsupported { provider: String },
    #[error("The iisApp parameter value {value:?} names no site: use \"Site Name/app\" (e.g. \"Default Web Site/app\").")]
    BadAppPath { value: String },
    #[error("Site '{site}' does not exist.")]
    NoSite { site: String },
    #[error(transparent)]
    Config(#[from] iiswsgi_iisconfig::ConfigError),
    #[error(transparent)]
    Machine(#[from] MachineError),
    #[error("runCommand setting {name}={value:?} is not valid: {why}")]
    RunCommandSetting {
        name: String,
        value: String,
        why: String,
    },
    #[error("{message}")]
    RunCommandFailed { message: String },
    #[error("{what} was terminated: it ran past its wait budget of waitAttempts={attempts} × waitInterval={interval_ms} ms; raise them in the runCommand's MSDeploy.MSDeployProviderOptions.")]
    RunCommandTimeout {
        what: String,
        attempts: u64,
        interval_ms: u64,
    },
}

/// Where output lines go, with msdeploy's prefixes.
pub struct Emit<'a> {
    pub sink: &'a mut dyn FnMut(&str),
    pub verbose: bool,
}

impl Emit<'_> {
    /// Each line of `s` with `prefix`.
    fn prefixed(&mut self, prefix: &str, s: &str) {
        if s.is_empty() {
            (self.sink)(&format!("{prefix} "));
        }
        for l in s.lines() {
            (self.sink)(&format!("{prefix} {l}"));
        }
    }
    pub fn info(&mut self, s: &str) {
        self.prefixed("Info:", s);
    }
    pub fn warning(&mut self, s: &str) {
        self.prefixed("Warning:", s);
    }
    pub fn error(&mut self, s: &str) {
        self.prefixed("Error:", s);
    }
    pub fn verbose(&mut self, s: &str) {
        if self.verbose {
            self.prefixed("Verbose:", s);
        }
    }
    /// A line a runCommand process wrote: stdout as Info, stderr as Warning.
    pub fn process_line(&mut self, s: &str, stderr: bool) {
        if stderr {
            self.warning(s);
        } else {
            self.info(s);
        }
    }
    pub fn raw(&mut self, s: &str) {
        (self.sink)(s);
    }
}

/// Options of the simulator beyond msdeploy's own.
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// Give runCommand's process `APPL_PHYSICAL_PATH` (what Windows does not).
    pub set_appl_physical_path: bool,
}

/// A path from the command line: a host path when it exists, else a Windows
/// path on the machine.
fn locate(machine: &SimMachine, p: &str) -> Result<PathBuf, MsdeployError> {
    let p = p.trim().trim_matches('"').trim_matches('\'');
    if Path::new(p).exists() || !p.contains(':') {
        return Ok(PathBuf::from(p));
    }
    Ok(machine.host_path(p)?)
}

fn run_args(
    machine: &SimMachine,
    args: &[String],
    opts: &SimOptions,
    emit: &mut Emit<'_>,
) -> Result<(), MsdeployError> {
    let a = msdeploy_args::parse(args)?;
    emit.verbose = a.verbose;
    if !a.source.provider.eq_ignore_ascii_case("package") {
        return Err(ArgError::Invalid {
            arg: "-source".into(),
            why: format!(
                "the simulator syncs from a package (-source:package=app.zip), not {}",
                a.source.provider
            ),
        }
        .into());
    }
    if let Some(d) = &a.dest {
        if !d.provider.eq_ignore_ascii_case("auto") {
            return Err(ArgError::Invalid {
                arg: "-dest".into(),
                why: format!(
                    "the simulator syncs to -dest:auto (the machine itself), not {}",
                    d.provider
                ),
            }
            .into());
        }
    }
    let zip = locate(machine, &a.source.path)?;
    let pkg = package::Package::open(&zip)?;
    if a.verb == Verb::GetParameters {
        emit.raw(&get_parameters(&pkg));
        return Ok(());
    }
    let mut set: Vec<SetParam> = Vec::new();
    for f in &a.set_param_files {
        let path = locate(machine, f)?;
        let text = std::fs::read_to_string(&path).map_err(|source| MsdeployError::Read {
            path: path.clone(),
            source,
        })?;
        set.extend(params::read_set_param_file(&path, &text)?);
    }
    set.extend(a.set_params.iter().cloned());
    let request = sync::Request {
        set_params: set,
        skips: a
            .skips
            .iter()
            .flat_map(|s| s.iter())
            .filter(|(k, _)| k.eq_ignore_ascii_case("objectName"))
            .map(|(_, v)| v.clone())
            .collect(),
        whatif: a.whatif,
        set_appl_physical_path: opts.set_appl_physical_path,
    };
    sync::sync(machine, &pkg, &request, emit).map(|_| ())
}

/// `-verb:getParameters`: the declared parameters, as msdeploy lists them.
pub fn get_parameters(pkg: &package::Package) -> String {
    let xml = pkg.parameters.to_xml();
    let body = xml
        .lines()
        .skip_while(|l| l.starts_with("<?xml"))
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!("<output>\n{body}\n</output>")
}

/// Runs msdeploy's command line on `machine`; each output line goes to
/// `sink`; the exit code.
pub fn run(
    machine: &SimMachine,
    args: &[String],
    opts: &SimOptions,
    sink: &mut dyn FnMut(&str),
) -> i32 {
    let mut emit = Emit {
        sink,
        verbose: false,
    };
    match run_args(machine, args, opts, &mut emit) {
        Ok(()) => 0,
        Err(e) => {
            tracing::debug!(error = %e, "msdeploy failed");
            emit.error(&iiswsgi_iisconfig::error_chain(&e));
            emit.raw("Error count: 1.");
            EXIT_ERROR
        }
    }
}

//! The simulator's implementation of the installer's `Platform`: IIS
//! administration through the appcmd emulator in process (the same argument
//! lists the Windows backend sends to appcmd.exe), commands through the
//! machine's program map, the machine's environment and paths, and a smoke
//! test that starts the registered `FastCGI` process as IIS does (STDIN a
//! socketpair, IIS's server variables) and sends it one request.
//!
//! Host processes get the host's environment (its `PATH` above all: pip and
//! venv run host programs), then the machine's variables other than `PATH`,
//! then `IISWSGI_SIM_ROOT` and `IISWSGI_BACKEND=sim`, so that an `iiswsgi`
//! started inside the simulation picks the simulated backend again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use iiswsgi_deploy::install::windows::ProcessRunner;
use iiswsgi_deploy::install::{
    AppcmdOutput, CommandRunner, CommandSpec, IisAdmin, Machine, Platform, PlatformError,
    SmokeClient, SmokeResponse, SmokeTarget,
};

use crate::machine::{MachineError, Program, SimMachine};

/// IIS administration through the emulator.
#[derive(Debug, Clone)]
pub struct SimIis {
    pub machine: SimMachine,
}

impl IisAdmin for SimIis {
    fn appcmd(&self, args: &[String]) -> Result<AppcmdOutput, PlatformError> {
        let out = crate::appcmd::run(&self.machine, args);
        Ok(AppcmdOutput {
            code: out.code,
            stdout: out.stdout,
        })
    }

    fn describe(&self) -> String {
        format!("the simulated IIS at {}", self.machine.root().display())
    }
}

impl Machine for SimMachine {
    fn var(&self, name: &str) -> Option<String> {
        SimMachine::var(self, name)
    }

    fn host_path(&self, windows_path: &str) -> PathBuf {
        SimMachine::host_path(self, windows_path).unwrap_or_else(|_| PathBuf::from(windows_path))
    }

    fn windows_path(&self, host: &Path) -> String {
        SimMachine::windows_path(self, host).unwrap_or_else(|_| host.display().to_string())
    }
}

/// The environment for a host process started inside the simulation.
pub fn process_env(machine: &SimMachine) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = machine
        .environment()
        .into_iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("PATH"))
        .collect();
    env.push((
        "IISWSGI_SIM_ROOT".into(),
        machine.root().display().to_string(),
    ));
    env.push(("IISWSGI_BACKEND".into(), "sim".into()));
    env
}

/// Runs commands through the machine's program map.
#[derive(Debug, Clone)]
pub struct SimRunner {
    pub machine: SimMachine,
}

fn map_err(program: &Path, e: &MachineError) -> PlatformError {
    PlatformError::Spawn {
        program: program.display().to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            iiswsgi_iisconfig::error_chain(e),
        ),
    }
}

impl CommandRunner for SimRunner {
    fn run(&self, cmd: &CommandSpec, line: &mut dyn FnMut(&str)) -> Result<i32, PlatformError> {
        let program = cmd.program.to_string_lossy().into_owned();
        let resolved = if cmd.program.is_absolute() && cmd.program.exists() {
            Program::Host(cmd.program.clone())
        } else {
            self.machine
                .resolve_program(&program)
                .map_err(|e| map_err(&cmd.program, &e))?
        };
        match resolved {
            Program::Host(exe) => {
                let mut spec = cmd.clone();
                spec.program = exe;
                let args: Vec<String> = cmd.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
                spec.args = SimMachine::launcher_args(&program, &args).into_iter().map(Into::into).collect();
                let mut env: Vec<(std::ffi::OsString, std::ffi::OsString)> =
                    process_env(&self.machine).into_iter().map(|(k, v)| (k.into(), v.into())).collect();
                env.extend(cmd.env.iter().cloned());
                spec.env = env;
                ProcessRunner.run(&spec, line)
            }
            Program::Appcmd => {
                let args: Vec<String> = cmd.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
                let out = crate::appcmd::run(&self.machine, &args);
                for l in out.stdout.lines() {
                    line(l);
                }
                Ok(out.code)
            }
            Program::Cmd => Err(PlatformError::Spawn {
                program,
                source: std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "cmd.exe is emulated only for Web Deploy's runCommand (iiswsgi sim msdeploy); run the program directly",
                ),
            }),
        }
    }
}

/// The smoke test through the `FastCGI` process started as IIS starts it.
#[derive(Debug, Clone)]
pub struct SimSmoke {
    pub machine: SimMachine,
    pub timeout: std::time::Duration,
}

#[cfg(unix)]
impl SmokeClient for SimSmoke {
    fn request(&self, t: &SmokeTarget) -> Result<SmokeResponse, PlatformError> {
        let url = format!("{} {}", t.site, t.url_path);
        let smoke_err = |message: String| PlatformError::Smoke {
            url: url.clone(),
            message,
        };
        let exe = match self.machine.resolve_program(&t.full_path) {
            Ok(Program::Host(p)) => p,
            Ok(other) => {
                return Err(smoke_err(format!(
                    "fullPath {:?} maps to {other:?}, not a program",
                    t.full_path
                )))
            }
            Err(e) => return Err(smoke_err(iiswsgi_iisconfig::error_chain(&e))),
        };
        let physical = self
            .machine
            .host_path(&t.physical_path)
            .map_err(|e| smoke_err(e.to_string()))?;
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(
            self.machine
                .host_args(&crate::model::cmdline::split_windows(&t.arguments)),
        );
        cmd.current_dir(&physical);
        for (k, v) in process_env(&self.machine)
            .into_iter()
            .chain(t.environment.iter().cloned())
        {
            cmd.env(k, v);
        }
        // The gateway logs nothing to stderr under IIS: its log during the
        // smoke test goes to a file, shown when the process does not answer.
        let log = self
            .machine
            .host_path(&format!(
                "{}\\iiswsgi-smoke.log",
                self.machine
                    .var("TEMP")
                    .unwrap_or_else(|| "C:\\Windows\\Temp".into())
            ))
            .ok();
        if let Some(l) = &log {
            let _ = std::fs::remove_file(l);
            cmd.env("WSGI_LOG", l);
        }
        let mut p = crate::spawn::spawn_pipe(&mut cmd, crate::spawn::Output::Capture)
            .map_err(|e| smoke_err(format!("cannot start {}: {e}", exe.display())))?;
        let _ = p.client.socket().set_read_timeout(Some(self.timeout));
        let mount = if t.app_path == "/" {
            ""
        } else {
            t.app_path.trim_end_matches('/')
        };
        let params = crate::model::vars::iis_params(&physical, "GET", mount, &t.url_path, "", 0);
        let result = p
            .client
            .request(&crate::fcgi::RequestSpec::new(params, Vec::new()));
        let _ = p.client.shutdown();
        let waited = crate::spawn::wait_output(&mut p.child, std::time::Duration::from_secs(5));
        let (status, stderr) = match waited {
            Ok((s, _, e)) => (Some(s), e),
            Err(_) => (None, String::new()),
        };
        match result {
            Ok(r) => Ok(SmokeResponse {
                status: r.status,
                headers: r.headers,
                body: r.body,
                stderr: r.stderr,
            }),
            Err(e) => Err(smoke_err(no_answer(
                &e.to_string(),
                status,
                &stderr,
                log.as_deref(),
            ))),
        }
    }
}

/// Why a smoke test got no answer: the error, how the process ended, what
/// it wrote, and the end of its log (the traceback of an import error).
#[cfg(unix)]
fn no_answer(
    e: &str,
    status: Option<std::process::ExitStatus>,
    stderr: &str,
    log: Option<&Path>,
) -> String {
    use std::fmt::Write as _;
    let mut m = match status.and_then(|s| s.code()) {
        Some(c) => {
            format!("no FastCGI response: the process exited with code {c} before answering")
        }
        None => format!("no FastCGI response ({e}): the process did not answer"),
    };
    if !stderr.trim().is_empty() {
        let _ = write!(m, "; it wrote: {}", stderr.trim());
    }
    let text = log
        .and_then(|l| std::fs::read_to_string(l).ok())
        .unwrap_or_default();
    if let (Some(l), false) = (log, text.trim().is_empty()) {
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        let _ = write!(m, "; the end of its log {}:\n{tail}", l.display());
    }
    m
}

#[cfg(not(unix))]
impl SmokeClient for SimSmoke {
    fn request(&self, t: &SmokeTarget) -> Result<SmokeResponse, PlatformError> {
        Err(PlatformError::Smoke {
            url: t.url_path.clone(),
            message: "the simulator's smoke test needs a Unix host".into(),
        })
    }
}

/// The simulated backend for the machine at `root`.
pub fn platform(root: &Path) -> Result<Platform, MachineError> {
    let machine = SimMachine::open(root)?;
    Ok(Platform {
        name: "sim",
        iis: Some(Arc::new(SimIis {
            machine: machine.clone(),
        })),
        runner: Arc::new(SimRunner {
            machine: machine.clone(),
        }),
        smoke: Arc::new(SimSmoke {
            machine: machine.clone(),
            timeout: std::time::Duration::from_mins(1),
        }),
        machine: Arc::new(machine),
    })
}

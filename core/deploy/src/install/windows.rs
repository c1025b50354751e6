//! The real Windows backend: `appcmd.exe`, processes started directly, the
//! smoke test through IIS itself (an HTTP request to the site's binding: on a
//! real server that is the whole path a user's request takes), and the
//! process's own environment. Compiled on every OS, so it is tested on Linux
//! against a stub appcmd.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use super::platform::{
    AppcmdOutput, CommandRunner, CommandSpec, IisAdmin, Machine, Platform, PlatformError,
    SmokeClient, SmokeResponse, SmokeTarget,
};

/// Where appcmd.exe is looked for, in order: full IIS
/// (`%windir%\system32\inetsrv\appcmd.exe`), `%IIS_BIN%\appcmd.exe`, then IIS
/// Express (`%ProgramFiles%\IIS Express\appcmd.exe`).
pub fn appcmd_candidates(var: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(windir) = var("windir").or_else(|| var("SystemRoot")) {
        out.push(
            Path::new(&windir)
                .join("system32")
                .join("inetsrv")
                .join("appcmd.exe"),
        );
    }
    if let Some(bin) = var("IIS_BIN") {
        out.push(Path::new(&bin).join("appcmd.exe"));
    }
    for pf in ["ProgramFiles", "ProgramFiles(x86)"] {
        if let Some(dir) = var(pf) {
            out.push(Path::new(&dir).join("IIS Express").join("appcmd.exe"));
        }
    }
    out
}

/// The first appcmd.exe that exists.
pub fn find_appcmd(var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    appcmd_candidates(var).into_iter().find(|p| p.is_file())
}

/// IIS administration through an appcmd executable.
#[derive(Debug, Clone)]
pub struct Appcmd {
    pub exe: PathBuf,
}

impl IisAdmin for Appcmd {
    fn appcmd(&self, args: &[String]) -> Result<AppcmdOutput, PlatformError> {
        tracing::debug!(exe = %self.exe.display(), ?args, "appcmd");
        let out = Command::new(&self.exe)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| PlatformError::Spawn {
                program: self.exe.display().to_string(),
                source,
            })?;
        let mut stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        stdout.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok(AppcmdOutput {
            code: out.status.code().unwrap_or(-1),
            stdout,
        })
    }

    fn describe(&self) -> String {
        self.exe.display().to_string()
    }
}

/// Runs programs as child processes, their output streamed line by line.
#[derive(Debug, Clone, Default)]
pub struct ProcessRunner;

impl CommandRunner for ProcessRunner {
    fn run(&self, cmd: &CommandSpec, line: &mut dyn FnMut(&str)) -> Result<i32, PlatformError> {
        let program = cmd.program.display().to_string();
        let mut c = Command::new(&cmd.program);
        c.args(&cmd.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &cmd.cwd {
            c.current_dir(dir);
        }
        for (k, v) in &cmd.env {
            c.env(k, v);
        }
        let mut child = c.spawn().map_err(|source| PlatformError::Spawn {
            program: program.clone(),
            source,
        })?;
        let (tx, rx) = mpsc::channel::<String>();
        let pipes: Vec<Box<dyn std::io::Read + Send>> = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        let readers: Vec<_> = pipes
            .into_iter()
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for l in BufReader::new(p).lines().map_while(Result::ok) {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        for l in rx {
            line(&l);
        }
        for r in readers {
            let _ = r.join();
        }
        let status = child
            .wait()
            .map_err(|source| PlatformError::Wait { program, source })?;
        Ok(status.code().unwrap_or(-1))
    }
}

/// The smoke test through IIS: a GET to the site's binding.
#[derive(Debug, Clone)]
pub struct IisHttpSmoke {
    pub timeout: Duration,
}

impl SmokeClient for IisHttpSmoke {
    fn request(&self, t: &SmokeTarget) -> Result<SmokeResponse, PlatformError> {
        let (url, addr, host) = super::http::binding_url(&t.binding.0, &t.binding.1, &t.url_path)
            .map_err(|message| PlatformError::Smoke {
            url: format!("{} {}", t.site, t.url_path),
            message,
        })?;
        super::http::get(&url, &addr, &host, &t.url_path, self.timeout)
    }
}

/// This machine as it is: the process environment, paths unchanged.
#[derive(Debug, Clone, Default)]
pub struct HostMachine;

impl Machine for HostMachine {
    fn var(&self, name: &str) -> Option<String> {
        iiswsgi_iisconfig::env_var(name)
    }

    fn host_path(&self, windows_path: &str) -> PathBuf {
        PathBuf::from(self.expand(windows_path))
    }

    fn windows_path(&self, host: &Path) -> String {
        host.display().to_string()
    }
}

/// The real IIS backend driving `appcmd` (`None`: a machine without IIS, where
/// the IIS steps are skipped).
pub fn platform(appcmd: Option<PathBuf>) -> Platform {
    Platform {
        name: if appcmd.is_some() { "windows" } else { "none" },
        iis: appcmd.map(|exe| Arc::new(Appcmd { exe }) as Arc<dyn IisAdmin>),
        runner: Arc::new(ProcessRunner),
        smoke: Arc::new(IisHttpSmoke {
            timeout: Duration::from_mins(1),
        }),
        machine: Arc::new(HostMachine),
    }
}

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "benchmark and test statistics: counts and durations as f64 for rates and percentiles, and back"
)]
//! Drives the gateway as a web server does: IIS's model (on Unix one end of
//! a socketpair as the process's STDIN, on Windows IIS's named pipe and
//! shutdown event) or a `--bind` socket, through the web-server side of the
//! project's `FastCGI` codec.

#[cfg(unix)]
pub mod bench;
#[cfg(unix)]
pub mod bench_cli;
#[cfg(unix)]
pub mod bench_http;
pub mod context;
pub mod http;
pub mod simserve;

use std::io;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::process::{Child, Stdio};
use std::process::{Command, ExitStatus};
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

use iiswsgi_sim::spawn;

/// The repository's root: `$IISWSGI_REPO`, else where this crate was built
/// (a Windows test binary run by Wine on Linux is given the root as Wine sees
/// it, `Z:\…`).
pub fn repo_root() -> PathBuf {
    if let Some(r) = std::env::var_os("IISWSGI_REPO") {
        return PathBuf::from(r);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Copies `fixtures/NAME` to `dst` (without build output or virtualenvs, as
/// the scenarios copy a project), as a project a test may change.
#[cfg(unix)]
pub fn copy_fixture(name: &str, dst: &Path) {
    let src = repo_root().join("fixtures").join(name);
    iiswsgi_sim::scenario::faults::copy_project(&src, dst)
        .unwrap_or_else(|e| panic!("copy fixtures/{name} to {}: {e:?}", dst.display()));
}

/// The Python with iiswsgi installed: `$IISWSGI_PYTHON`, else the repo's `.venv`.
pub fn python() -> PathBuf {
    let venv = if cfg!(windows) {
        ".venv/Scripts/python.exe"
    } else {
        ".venv/bin/python"
    };
    std::env::var_os("IISWSGI_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(venv))
}

pub fn fixtures_apps() -> PathBuf {
    repo_root().join("fixtures/apps")
}

pub use iiswsgi_sim::fcgi::{Client, RequestSpec, Transport};
pub use iiswsgi_sim::model::cgi::Response;
pub use iiswsgi_sim::spawn::wait_output;

/// Parameters of a request as IIS sends them for an application mounted at
/// `mount` (`""` for the site root) whose folder is the fixture apps.
pub fn iis_params(
    method: &str,
    mount: &str,
    path: &str,
    query: &str,
    body_len: usize,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    iiswsgi_sim::model::vars::iis_params(&fixtures_apps(), method, mount, path, query, body_len)
}

#[cfg(unix)]
/// A child process that is killed (with its own children, e.g. `--workers`)
/// when the guard is dropped, so a failing test leaves no process behind.
pub struct ChildGuard(pub Child);

#[cfg(unix)]
impl ChildGuard {
    /// Kills the process and its children now and reaps it.
    pub fn kill_all(&mut self) {
        let kids = bench::children_of(self.0.id());
        let _ = self.0.kill();
        for pid in kids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
impl std::ops::Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

#[cfg(unix)]
impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

#[cfg(unix)]
impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.kill_all();
        }
    }
}

/// A gateway process in IIS's model: STDIN is one end of a socketpair (on
/// Windows, IIS's named pipe; the process also has IIS's shutdown event).
pub struct PipeGateway {
    pub child: spawn::Child,
    pub client: Client,
    pub log: PathBuf,
    #[cfg(windows)]
    shutdown_event: std::os::windows::io::OwnedHandle,
}

/// What to start.
pub struct GatewayCommand {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub log: PathBuf,
}

impl GatewayCommand {
    /// `python -m iiswsgi serve ARGS...` with the fixtures importable and logging to `log`.
    pub fn serve(args: &[&str], log: &Path) -> Self {
        let mut all = vec!["-m".to_string(), "iiswsgi".into(), "serve".into()];
        all.extend(args.iter().map(std::string::ToString::to_string));
        GatewayCommand {
            args: all,
            env: vec![
                ("PYTHONPATH".into(), fixtures_apps().display().to_string()),
                ("WSGI_LOG".into(), log.display().to_string()),
            ],
            cwd: fixtures_apps(),
            log: log.to_path_buf(),
        }
    }

    #[must_use]
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(a, _)| a != k);
        self.env.push((k.into(), v.into()));
        self
    }

    #[must_use]
    pub fn without_env(mut self, k: &str) -> Self {
        self.env.retain(|(a, _)| a != k);
        self
    }

    #[must_use]
    pub fn cwd(mut self, d: &Path) -> Self {
        self.cwd = d.to_path_buf();
        self
    }

    fn command(&self) -> Command {
        let mut c = Command::new(python());
        c.args(&self.args).current_dir(&self.cwd);
        for key in [
            "WSGI_HANDLER",
            "WSGI_LOG",
            "WSGI_RESTART_FILE_REGEX",
            "SCRIPT_NAME",
            "PYTHONPATH",
        ] {
            c.env_remove(key);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    #[cfg(unix)]
    /// Runs it to completion with STDIN closed (start-up errors), killing it
    /// after `timeout`; returns the exit status, stdout and stderr.
    pub fn run_to_exit(
        &self,
        extra: &[&str],
        timeout: Duration,
    ) -> io::Result<(ExitStatus, String, String)> {
        let mut child = ChildGuard(
            self.command()
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?,
        );
        wait_output(&mut child, timeout)
    }

    /// Starts it in IIS's model.
    pub fn spawn_pipe(&self) -> io::Result<PipeGateway> {
        let p = spawn::spawn_pipe(&mut self.command(), spawn::Output::Capture)?;
        Ok(PipeGateway {
            child: p.child,
            client: p.client,
            log: self.log.clone(),
            #[cfg(windows)]
            shutdown_event: p.shutdown_event,
        })
    }

    /// Starts it with a listening socket at `sock` as STDIN, as `FastCGI`
    /// spawners (and IIS's `protocol="Tcp"`) do.
    #[cfg(unix)]
    pub fn spawn_listening(&self, sock: &Path) -> io::Result<ChildGuard> {
        spawn::spawn_listening(&mut self.command(), sock, spawn::Output::Capture).map(ChildGuard)
    }

    /// Starts it with `--bind unix:SOCK` and waits for the socket.
    #[cfg(unix)]
    pub fn spawn_bind(&self, sock: &Path) -> io::Result<ChildGuard> {
        let mut c = self.command();
        c.arg("--bind").arg(format!("unix:{}", sock.display()));
        let mut child = ChildGuard(
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?,
        );
        let start = Instant::now();
        while UnixStream::connect(sock).is_err() {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!("gateway exited early: {status}")));
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(io::Error::other("gateway did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(child)
    }
}

impl Drop for PipeGateway {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl PipeGateway {
    pub fn request(&mut self, spec: &RequestSpec) -> io::Result<Response> {
        self.client.request(spec)
    }

    /// A GET in IIS's shape for the application at the site root.
    pub fn get(&mut self, path: &str, query: &str) -> io::Result<Response> {
        self.client.get(path, query)
    }

    pub fn post(&mut self, path: &str, query: &str, body: Vec<u8>) -> io::Result<Response> {
        let params = iis_params("POST", "", path, query, body.len());
        self.request(&RequestSpec::new(params, body))
    }

    /// Closes IIS's end (EOF for the gateway) and waits for the exit status.
    pub fn close_and_wait(mut self, timeout: Duration) -> io::Result<(ExitStatus, String, String)> {
        self.client.shutdown()?;
        wait_output(&mut self.child, timeout)
    }

    /// Waits for the process to exit by itself.
    pub fn wait(mut self, timeout: Duration) -> io::Result<(ExitStatus, String, String)> {
        wait_output(&mut self.child, timeout)
    }

    /// Signals IIS's `_FCGI_SHUTDOWN_EVENT_` (Windows: what IIS does before
    /// it ends a process).
    #[cfg(windows)]
    pub fn signal_shutdown(&self) -> io::Result<()> {
        use std::os::windows::io::{AsHandle, BorrowedHandle};
        let h: BorrowedHandle<'_> = self.shutdown_event.as_handle();
        iiswsgi_sim::spawn::set_event(h)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[cfg(unix)]
/// Waits until process `pid` has `n` children (`--workers`) and returns them.
pub fn wait_for_children(pid: u32, n: usize, timeout: Duration) -> io::Result<Vec<u32>> {
    let deadline = Instant::now() + timeout;
    loop {
        let kids = bench::children_of(pid);
        if kids.len() >= n {
            return Ok(kids);
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "process {pid} has {} children, not {n}",
                kids.len()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// IIS-shaped requests on a `FastCGI` client (the application at the site root).
pub trait IisGet {
    fn get(&mut self, path: &str, query: &str) -> io::Result<Response>;
}

impl IisGet for Client {
    fn get(&mut self, path: &str, query: &str) -> io::Result<Response> {
        self.request(&RequestSpec::new(
            iis_params("GET", "", path, query, 0),
            Vec::new(),
        ))
    }
}

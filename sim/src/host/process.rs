//! One `FastCGI` process started as IIS starts it (reference §1.1): the
//! program and arguments, STDIN the process's end of the transport (one end
//! of a Unix socketpair standing in for the named pipe, or a listening TCP
//! socket on 127.0.0.1 for `protocol="Tcp"`), stdout and stderr `/dev/null`
//! (IIS gives invalid handles) unless captured, the environment block in
//! IIS's order, and IIS's shutdown: close the pipe, signal, wait, kill.

use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use iiswsgi_fastcgi::server::ServerConnection;
use iiswsgi_iisconfig::Protocol;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::process::{Child, Command};

/// IIS's end of the transport.
pub enum Conn {
    Pipe(UnixStream),
    Tcp(TcpStream),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The environment block, in order (IIS's order; first of a name wins).
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub protocol: Protocol,
    /// Capture stdout and stderr into the simulator's log (`--show-process-output`).
    pub capture: bool,
    /// The pool's key, for log lines.
    pub label: String,
}

/// A live process and IIS's connection to it.
pub struct Process {
    pub pid: u32,
    child: Child,
    pub conn: Option<Conn>,
    pub codec: ServerConnection,
    /// `BEGIN_REQUEST` and PARAMS of the current request (reused).
    pub write_buf: Vec<u8>,
    next_id: u16,
    pub served: u32,
    pub generation: u64,
    pub last_used: Instant,
    /// Its entry in the registry of live processes (`sim status`).
    pub live: Option<super::live::Guard>,
}

fn env_program() -> PathBuf {
    let p = PathBuf::from("/usr/bin/env");
    if p.exists() {
        p
    } else {
        PathBuf::from("env")
    }
}

/// The command: `env -i NAME=VALUE… PROGRAM ARGS…`, so that the process
/// receives its environment block in exactly the given order (a plain
/// `Command::env` sorts it).
fn command(spec: &LaunchSpec) -> Command {
    let mut cmd = Command::new(env_program());
    cmd.arg("-i");
    let mut seen: Vec<String> = Vec::new();
    for (k, v) in &spec.env {
        if k.is_empty() || k.contains('=') || seen.iter().any(|s| s.eq_ignore_ascii_case(k)) {
            continue;
        }
        seen.push(k.clone());
        cmd.arg(format!("{k}={v}"));
    }
    cmd.arg(&spec.program)
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .kill_on_drop(true);
    if spec.capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    parent_death_signal(&mut cmd);
    cmd
}

/// On Linux the process is killed if the simulator dies without cleaning up
/// (IIS's job object does the same for w3wp's children).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn parent_death_signal(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only
    // calls prctl(2), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn parent_death_signal(_cmd: &mut Command) {}

fn forward_output(
    label: String,
    pid: u32,
    what: &'static str,
    r: Option<impl AsyncRead + Unpin + Send + 'static>,
) {
    let Some(r) = r else { return };
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(target: "iiswsgi_sim::process", "[{label} pid {pid} {what}] {line}");
        }
    });
}

impl Process {
    /// Starts the process; its transport is connected when this returns.
    pub async fn start(spec: &LaunchSpec, generation: u64) -> io::Result<Process> {
        let mut cmd = command(spec);
        let (child, conn) = match spec.protocol {
            Protocol::NamedPipe => {
                let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
                cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)));
                let child = cmd.spawn()?;
                ours.set_nonblocking(true)?;
                (child, Conn::Pipe(UnixStream::from_std(ours)?))
            }
            Protocol::Tcp => {
                let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                let addr = listener.local_addr()?;
                cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(listener)));
                let child = cmd.spawn()?;
                drop(cmd);
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                (child, Conn::Tcp(s))
            }
        };
        let mut child = child;
        let pid = child.id().unwrap_or(0);
        forward_output(spec.label.clone(), pid, "stdout", child.stdout.take());
        forward_output(spec.label.clone(), pid, "stderr", child.stderr.take());
        Ok(Process {
            pid,
            child,
            conn: Some(conn),
            codec: ServerConnection::new(),
            write_buf: Vec::new(),
            next_id: 1,
            served: 0,
            generation,
            last_used: Instant::now(),
            live: None,
        })
    }

    /// The next request id: 1, 2, …, 255, 1, … as IIS's.
    pub fn take_id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = if id >= 255 { 1 } else { id + 1 };
        id
    }

    /// Tells the live registry (`sim status`) that the process took a request
    /// (`busy`) or finished one.
    pub fn report(&self, busy: bool) {
        if let Some(live) = &self.live {
            live.update(self.served, busy);
        }
    }

    /// Whether the process may have exited since its last request: IIS's end
    /// of the transport became readable (the process closed it, or wrote
    /// out of turn). Answered from the runtime's readiness, without a
    /// system call; a `false` spares [`Process::exited`]'s `waitpid`.
    pub fn may_have_exited(&self) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match &self.conn {
            Some(Conn::Pipe(s)) => s.poll_read_ready(&mut cx).is_ready(),
            Some(Conn::Tcp(s)) => s.poll_read_ready(&mut cx).is_ready(),
            None => true,
        }
    }

    /// Whether the process has exited (and its exit code).
    pub fn exited(&mut self) -> Option<i32> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.code().unwrap_or(-1)),
            Ok(None) => None,
            Err(_) => Some(-1),
        }
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(Ok(s)) => Some(s.code().unwrap_or(-1)),
            _ => None,
        }
    }

    /// Kills the process at once (`TerminateProcess`).
    pub async fn kill(mut self) {
        self.conn = None;
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// IIS's shutdown (`APPLICATION::RealShutdown`): close the transport,
    /// then with `signal_wait` > 0 signal the shutdown event (SIGTERM here)
    /// and wait that long, then terminate unconditionally.
    pub async fn shutdown(mut self, signal_wait: Duration) {
        self.conn = None;
        if !signal_wait.is_zero() {
            terminate_signal(self.pid);
            let _ = tokio::time::timeout(signal_wait, self.child.wait()).await;
        }
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

#[allow(unsafe_code)]
fn terminate_signal(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid > 0 {
        // SAFETY: kill(2) with a pid of our own child and a valid signal.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

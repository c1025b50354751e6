//! Starting a `FastCGI` process as IIS starts it (reference `iis-fastcgi.md`
//! §1.1): STDIN is IIS's end of the transport. On Unix the stand-in for the
//! named pipe is one end of a socketpair; for `protocol="Tcp"` a listening
//! socket. IIS gives the process invalid stdout and stderr handles; here they
//! are either discarded or captured, to show what IIS would swallow.

use std::io::{self, Read};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
pub use std::process::Child;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::fcgi::Client;

/// A process started in IIS's pipe model, and the web server's end of its pipe.
pub struct PipeProcess {
    pub child: Child,
    pub client: Client,
}

/// Where the process's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Discarded, as IIS's invalid handles make them.
    Discard,
    /// Captured, for tests and `--show-process-output`.
    Capture,
}

fn stdio(o: Output) -> Stdio {
    match o {
        Output::Discard => Stdio::null(),
        Output::Capture => Stdio::piped(),
    }
}

/// Starts `cmd` with STDIN one end of a socketpair.
pub fn spawn_pipe(cmd: &mut Command, output: Output) -> io::Result<PipeProcess> {
    let (ours, theirs) = UnixStream::pair()?;
    let child = cmd
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(stdio(output))
        .stderr(stdio(output))
        .spawn()?;
    // `cmd` keeps the child's end open until it is dropped; without this
    // the web server's end never sees the process go away.
    cmd.stdin(Stdio::null());
    Ok(PipeProcess {
        child,
        client: Client::new(ours),
    })
}

/// Starts `cmd` with a listening socket at `sock` as STDIN, as IIS's
/// `protocol="Tcp"` and `FastCGI` spawners do.
pub fn spawn_listening(cmd: &mut Command, sock: &Path, output: Output) -> io::Result<Child> {
    let listener = UnixListener::bind(sock)?;
    cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(listener)))
        .stdout(Stdio::null())
        .stderr(stdio(output))
        .spawn()
}

/// Waits for `child` (killing it after `timeout`) and returns its exit
/// status and whatever was captured of its stdout and stderr.
pub fn wait_output(
    child: &mut Child,
    timeout: Duration,
) -> io::Result<(ExitStatus, String, String)> {
    let status = crate::process::wait_timeout(child, timeout)?;
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    Ok((status, out, err))
}

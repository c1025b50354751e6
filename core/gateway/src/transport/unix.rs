//! Unix: STDIN is a connected socket (the IIS model as tests, benchmarks and the
//! simulator drive it) or a listening socket (classic `FastCGI` spawners).
#![allow(unsafe_code)]

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};

use super::{Listener, StdinKind, Stream};

/// A connected socket of any family.
pub struct SockStream(socket2::Socket);

impl From<socket2::Socket> for SockStream {
    fn from(s: socket2::Socket) -> Self {
        SockStream(s)
    }
}

impl Stream for SockStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn write_all_vectored(&mut self, bufs: &mut [io::IoSlice<'_>]) -> io::Result<()> {
        super::vectored::write_all_vectored(&mut self.0, bufs)
    }

    fn set_read_timeout(&mut self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        self.0.set_read_timeout(timeout)
    }

    fn readable_now(&mut self) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid pollfd for the duration of the call and nfds is 1.
        let r = unsafe { libc::poll(&raw mut pfd, 1, 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r > 0)
    }
}

/// Inspects fd 0.
#[allow(clippy::cast_possible_truncation, reason = "AF_UNIX is 1")]
pub fn stdin_kind() -> io::Result<StdinKind> {
    // SAFETY: fd 0 is owned by this process for its whole life and is only used
    // through this socket from here on. If it is not a socket, the checks below fail
    // and the wrapper is forgotten so fd 0 is not closed.
    let sock = unsafe { socket2::Socket::from_raw_fd(0) };
    match sock.is_listener() {
        Ok(true) => {
            let is_unix = sock
                .local_addr()
                .is_ok_and(|a| a.family() == libc::AF_UNIX as libc::sa_family_t);
            let fd: std::os::fd::OwnedFd = sock.into();
            if is_unix {
                Ok(StdinKind::Listening(Listener::Unix(fd.into())))
            } else {
                Ok(StdinKind::Listening(Listener::Tcp(fd.into())))
            }
        }
        Ok(false) => Ok(StdinKind::Connected(Box::new(SockStream(sock)))),
        Err(e) => {
            std::mem::forget(sock);
            Err(io::Error::new(
                e.kind(),
                format!(
                    "stdin is not a socket ({e}): `iiswsgi serve` expects the FastCGI connection or \
                     listening socket on stdin, as IIS and FastCGI spawners provide; to listen \
                     yourself, pass --bind unix:PATH or --bind tcp:HOST:PORT"
                ),
            ))
        }
    }
}

/// Raises the soft limit of open files to the hard limit, so that a listening
/// gateway can hold many parked keep-alive connections. Returns the new limit.
pub fn raise_open_files_limit() -> Option<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: FFI edge; `lim` is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: FFI edge; `raised` is a valid rlimit within the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) } == 0 {
            lim = raised;
        }
    }
    Some(lim.rlim_cur)
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: FFI edge; geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

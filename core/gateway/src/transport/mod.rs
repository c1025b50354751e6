//! Byte streams to the web server, and how the process finds them.

use std::io::{self, IoSlice};
use std::time::Duration;

#[cfg(unix)]
pub mod unix;
pub mod vectored;
#[cfg(windows)]
pub mod windows;

/// A connected, duplex stream to the web server.
pub trait Stream: Send + 'static {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Writes every slice, in order. Sockets gather them in `writev` calls, so
    /// record headers and the application's buffers are not copied together;
    /// this default copies them into bounded blocks.
    fn write_all_vectored(&mut self, bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
        vectored::write_all_copying(&mut |b| self.write_all(b), bufs)
    }
    /// Whether a read would return data (or end of stream) without blocking.
    fn readable_now(&mut self) -> io::Result<bool>;
    /// Makes a blocking read fail after `timeout` (`None`: wait forever).
    /// Streams without timeouts (IIS's pipe, where IIS times requests) ignore it.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }
}

/// Where `--bind` listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Unix(std::path::PathBuf),
    Tcp(String),
}

impl std::str::FromStr for Bind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err("unix: needs a socket path, e.g. unix:/run/iiswsgi.sock".into());
            }
            Ok(Bind::Unix(p.into()))
        } else if let Some(a) = s.strip_prefix("tcp:") {
            if !a.contains(':') {
                return Err(format!(
                    "tcp: needs HOST:PORT, e.g. tcp:127.0.0.1:9000, got {a:?}"
                ));
            }
            Ok(Bind::Tcp(a.into()))
        } else {
            Err(format!(
                "{s:?} is not a bind address: use unix:PATH or tcp:HOST:PORT"
            ))
        }
    }
}

impl std::fmt::Display for Bind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bind::Unix(p) => write!(f, "unix:{}", p.display()),
            Bind::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// What the process was given on STDIN.
pub enum StdinKind {
    /// IIS's model: one already-connected duplex stream (a named pipe on
    /// Windows, a connected socket on Unix).
    Connected(Box<dyn Stream>),
    /// A listening socket to accept on (IIS `protocol="Tcp"`, Unix spawners).
    Listening(Listener),
}

/// A listening socket.
pub enum Listener {
    Tcp(std::net::TcpListener),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener),
}

impl Listener {
    /// Accepts one connection.
    pub fn accept(&self) -> io::Result<Box<dyn Stream>> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                Ok(Box::new(TcpStream(s)))
            }
            #[cfg(unix)]
            Listener::Unix(l) => {
                let (s, _) = l.accept()?;
                Ok(Box::new(unix::SockStream::from(socket2::Socket::from(s))))
            }
        }
    }

    /// Opens `--bind`. The error says what failed and what to do about it.
    pub fn bind(bind: &Bind) -> io::Result<Self> {
        Self::bind_raw(bind).map_err(|e| explain_bind_error(bind, e))
    }

    fn bind_raw(bind: &Bind) -> io::Result<Self> {
        match bind {
            Bind::Tcp(addr) => Ok(Listener::Tcp(std::net::TcpListener::bind(addr.as_str())?)),
            #[cfg(unix)]
            Bind::Unix(path) => {
                if let Ok(meta) = std::fs::symlink_metadata(path) {
                    use std::os::unix::fs::FileTypeExt;
                    if !meta.file_type().is_socket() {
                        return Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!("{} exists and is not a socket", path.display()),
                        ));
                    }
                    // A socket left by a previous run that nobody listens on any more.
                    if std::os::unix::net::UnixStream::connect(path).is_err() {
                        std::fs::remove_file(path)?;
                    }
                }
                Ok(Listener::Unix(std::os::unix::net::UnixListener::bind(
                    path,
                )?))
            }
            #[cfg(not(unix))]
            Bind::Unix(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "unix: sockets are not supported here; use tcp:HOST:PORT",
            )),
        }
    }
}

/// Turns a failure to listen into a message that says what to do.
#[allow(
    clippy::needless_pass_by_value,
    reason = "the error is replaced by the explained one"
)]
fn explain_bind_error(bind: &Bind, e: io::Error) -> io::Error {
    let hint = match (bind, e.kind()) {
        (_, io::ErrorKind::AddrInUse) => {
            "the address is in use by another process: stop it, or choose another address"
                .to_owned()
        }
        (_, io::ErrorKind::PermissionDenied) => {
            "permission denied: choose a TCP port above 1023 or a socket path you may write"
                .to_owned()
        }
        (Bind::Unix(path), io::ErrorKind::NotFound) => format!(
            "the folder {} does not exist: create it, or choose another socket path",
            path.parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
        (Bind::Unix(_), io::ErrorKind::AlreadyExists) => {
            format!("{e}: remove it, or choose another socket path")
        }
        (Bind::Tcp(addr), _)
            if std::net::ToSocketAddrs::to_socket_addrs(addr.as_str()).is_err() =>
        {
            format!(
                "cannot resolve {addr:?} ({e}): use an IP address such as 127.0.0.1:9000, or a \
                 host name that resolves"
            )
        }
        _ => format!("{e}"),
    };
    io::Error::new(e.kind(), format!("cannot listen on {bind}: {hint}"))
}

/// A TCP connection.
pub struct TcpStream(pub std::net::TcpStream);

impl Stream for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut self.0, buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut self.0, buf)
    }
    fn write_all_vectored(&mut self, bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
        vectored::write_all_vectored(&mut self.0, bufs)
    }
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.set_read_timeout(timeout)
    }
    fn readable_now(&mut self) -> io::Result<bool> {
        self.0.set_nonblocking(true)?;
        let mut b = [0u8; 1];
        let r = self.0.peek(&mut b);
        self.0.set_nonblocking(false)?;
        match r {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Inspects STDIN: IIS's pipe (or a connected socket), or a listening socket.
pub fn stdin_kind() -> io::Result<StdinKind> {
    #[cfg(unix)]
    {
        unix::stdin_kind()
    }
    #[cfg(windows)]
    {
        windows::stdin_kind()
    }
}

//! A blocking `FastCGI` client: the web server's side of a connection, as IIS
//! drives it (one request at a time, ids cycling 1..=255, `KEEP_CONN`), on the
//! web-server side of the project's codec, over any [`Transport`]: a Unix
//! stream socket, or on Windows IIS's end of the named pipe
//! ([`crate::pipe::PipeStream`]).

use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::path::Path;
use std::time::Duration;

use iiswsgi_fastcgi::proto::{ProtocolStatus, RecordType, Role};
use iiswsgi_fastcgi::server::{ServerConnection, ServerEvent};

use crate::model::cgi::{parse_head, Response};

/// A response without its body: see [`Client::read_summary`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// As IIS reads the CGI head (`Status:`, a bare `Location:` is 302, else 200).
    pub status: u16,
    pub body_len: usize,
    pub app_status: u32,
}

/// How to send one request.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Cut the PARAMS stream into records of at most this many bytes.
    pub params_split: Option<usize>,
    /// Body bytes per STDIN record (IIS uses about 10 KB; default 64 KiB - 8).
    pub stdin_chunk: Option<usize>,
    pub keep_conn: bool,
}

impl RequestSpec {
    pub fn new(params: Vec<(Vec<u8>, Vec<u8>)>, body: Vec<u8>) -> Self {
        RequestSpec {
            params,
            body,
            params_split: None,
            stdin_chunk: None,
            keep_conn: true,
        }
    }
}

/// A byte stream a `FastCGI` client can run over.
pub trait Transport: Read + Write + Send + Sized + 'static {
    /// A second handle on the same stream (the request writer's).
    fn try_clone(&self) -> io::Result<Self>;
    /// Ends the connection for the other side (it reads EOF).
    fn shutdown(&mut self) -> io::Result<()>;
    /// Bounds each read (`None`: wait for ever).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

#[cfg(unix)]
impl Transport for UnixStream {
    fn try_clone(&self) -> io::Result<Self> {
        UnixStream::try_clone(self)
    }
    fn shutdown(&mut self) -> io::Result<()> {
        UnixStream::shutdown(self, std::net::Shutdown::Both)
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
}

/// The transport IIS's model uses on this OS: one end of a socketpair on
/// Unix, the client end of the named pipe on Windows.
#[cfg(unix)]
pub type Stream = UnixStream;
/// The transport IIS's model uses on this OS: one end of a socketpair on
/// Unix, the client end of the named pipe on Windows.
#[cfg(windows)]
pub type Stream = crate::pipe::PipeStream;

/// A `FastCGI` client connection (the web server's side).
pub struct Client<S: Transport = Stream> {
    sock: S,
    codec: ServerConnection,
    next_id: u16,
}

#[cfg(unix)]
impl Client<UnixStream> {
    pub fn connect(path: &Path) -> io::Result<Self> {
        Ok(Client::new(UnixStream::connect(path)?))
    }
}

impl<S: Transport> Client<S> {
    pub fn new(sock: S) -> Self {
        Client {
            sock,
            codec: ServerConnection::new(),
            next_id: 1,
        }
    }

    pub fn socket(&self) -> &S {
        &self.sock
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sock.write_all(bytes)
    }

    /// Encodes a request; the id cycles 1..=255 as IIS's does.
    pub fn encode(&mut self, spec: &RequestSpec) -> io::Result<(u16, Vec<u8>)> {
        let id = self.next_id;
        self.next_id = if self.next_id >= 255 {
            1
        } else {
            self.next_id + 1
        };
        let mut w = Vec::new();
        self.codec
            .begin_request(&mut w, id, Role::Responder, spec.keep_conn);
        self.codec
            .params(
                &mut w,
                id,
                spec.params.iter().map(|(a, b)| (a, b)),
                spec.params_split,
            )
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        match spec.stdin_chunk {
            Some(n) => {
                for c in spec.body.chunks(n.max(1)) {
                    self.codec.stdin(&mut w, id, c);
                }
            }
            None => self.codec.stdin(&mut w, id, &spec.body),
        }
        self.codec.stdin_end(&mut w, id);
        Ok((id, w))
    }

    /// Sends a request (from a thread, so large bodies and responses cannot
    /// deadlock) and reads its response.
    pub fn request(&mut self, spec: &RequestSpec) -> io::Result<Response> {
        let (id, wire) = self.encode(spec)?;
        let mut w = self.sock.try_clone()?;
        let writer = std::thread::spawn(move || w.write_all(&wire));
        let resp = self.read_response(id);
        writer
            .join()
            .map_err(|_| io::Error::other("writer thread panicked"))??;
        resp
    }

    /// Reads records until `END_REQUEST` for `id`.
    pub fn read_response(&mut self, id: u16) -> io::Result<Response> {
        let mut resp = Response::default();
        let (app_status, protocol_status) = self.read_records(id, |stream, data| match stream {
            RecordType::Stdout => {
                resp.stdout_records.push(data.len());
                resp.raw.extend_from_slice(data);
            }
            _ => resp.stderr.extend_from_slice(data),
        })?;
        resp.app_status = app_status;
        resp.protocol_status = Some(protocol_status);
        resp.parse_head();
        Ok(resp)
    }

    /// Reads records until `END_REQUEST` for `id` keeping only the response
    /// head: what a load generator needs, without copying bodies.
    pub fn read_summary(&mut self, id: u16) -> io::Result<Summary> {
        let mut head = Vec::new();
        let mut head_len = None;
        let mut stdout_len = 0usize;
        let (app_status, _) = self.read_records(id, |stream, data| {
            if stream != RecordType::Stdout {
                return;
            }
            stdout_len += data.len();
            if head_len.is_none() {
                head.extend_from_slice(data);
                head_len = head.windows(4).position(|w| w == b"\r\n\r\n");
            }
        })?;
        let (status, body_len) = match head_len {
            Some(end) => (parse_head(&head[..end]).status, stdout_len - end - 4),
            None => (200, stdout_len),
        };
        Ok(Summary {
            status,
            body_len,
            app_status,
        })
    }

    /// Hands the STDOUT and STDERR data of request `id` to `data` until its
    /// `END_REQUEST`; returns the `END_REQUEST`'s appStatus and protocolStatus.
    fn read_records(
        &mut self,
        id: u16,
        mut data: impl FnMut(RecordType, &[u8]),
    ) -> io::Result<(u32, ProtocolStatus)> {
        loop {
            while let Some(ev) = self
                .codec
                .poll()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                match ev {
                    ServerEvent::Stdout {
                        request_id,
                        data: d,
                    } if request_id == id => data(RecordType::Stdout, d),
                    ServerEvent::Stderr {
                        request_id,
                        data: d,
                    } if request_id == id => data(RecordType::Stderr, d),
                    ServerEvent::EndRequest {
                        request_id,
                        app_status,
                        protocol_status,
                    } if request_id == id => return Ok((app_status, protocol_status)),
                    other => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("unexpected record while waiting for request {id}: {other:?}"),
                        ))
                    }
                }
            }
            let slot = self.codec.read_buf().spare(128 * 1024);
            let n = self.sock.read(slot)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed before END_REQUEST of request {id}"),
                ));
            }
            self.codec.read_buf().advance(n);
        }
    }

    /// Reads the next events whatever they are (management replies).
    pub fn read_events(&mut self, want: usize) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        while out.len() < want {
            while let Some(ev) = self
                .codec
                .poll()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                out.push(format!("{ev:?}"));
            }
            if out.len() >= want {
                break;
            }
            let slot = self.codec.read_buf().spare(4096);
            let n = self.sock.read(slot)?;
            if n == 0 {
                break;
            }
            self.codec.read_buf().advance(n);
        }
        Ok(out)
    }

    pub fn codec(&mut self) -> &mut ServerConnection {
        &mut self.codec
    }

    /// Shuts the connection down both ways (EOF for the application).
    pub fn shutdown(&mut self) -> io::Result<()> {
        self.sock.shutdown()
    }
}

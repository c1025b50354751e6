//! One FastCGI connection: decode requests, run each through the WSGI bridge,
//! encode the response. One request at a time (IIS never multiplexes; nginx
//! neither).

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use iiswsgi_fastcgi::app::{AppConfig, AppConnection, AppEvent, Request};
use iiswsgi_fastcgi::proto::{self, RecordType, HEADER_LEN, WRITE_CHUNK};
use iiswsgi_wsgi::RequestChannel;

use crate::transport::Stream;
use crate::Server;

/// Bytes asked of the stream per read: a full record and then some.
const READ_SIZE: usize = 128 * 1024;
/// Output buffer capacity kept between responses.
const MAX_KEPT_OUT: usize = 4 * 1024 * 1024;

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ConnEnd {
    /// The web server closed it (for IIS: the process should exit).
    Eof,
    /// The web server did not ask to keep it (`FCGI_KEEP_CONN` clear).
    Closed,
    /// The process is stopping.
    Stopping,
}

struct Inner {
    stream: Box<dyn Stream>,
    codec: AppConnection,
    out: Vec<u8>,
    req: Option<ReqState>,
}

struct ReqState {
    id: u16,
    body_done: bool,
    aborted: bool,
    finished: bool,
    /// Whether any of the response has been written to the stream.
    flushed: bool,
    /// Body bytes received beyond what the application asked for.
    spill: Vec<u8>,
}

impl Inner {
    /// One read from the stream into the codec; false at end of stream.
    fn read_more(&mut self) -> io::Result<bool> {
        inner_read(&mut self.stream, &mut self.codec)
    }

    fn write_out(&mut self) -> io::Result<()> {
        self.codec.take_output_into(&mut self.out);
        let r = if self.out.is_empty() {
            Ok(())
        } else {
            self.stream.write_all(&self.out)
        };
        self.out.clear();
        // One huge response must not pin its size for the connection's life.
        if self.out.capacity() > MAX_KEPT_OUT {
            self.out.shrink_to(MAX_KEPT_OUT);
        }
        r
    }
}

fn protocol_error(e: iiswsgi_fastcgi::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Frames `parts` as one stream of STDOUT/STDERR records without copying them
/// together first.
fn write_parts(out: &mut Vec<u8>, rt: RecordType, id: u16, parts: &[&[u8]]) {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total == 0 {
        return;
    }
    out.reserve(total + (total / WRITE_CHUNK + 1) * (HEADER_LEN + 8));
    let (mut part, mut off) = (0, 0);
    let mut left = total;
    while left > 0 {
        let n = left.min(WRITE_CHUNK);
        let pad = proto::padding_for(n);
        let header = proto::Header {
            version: proto::VERSION_1,
            record_type: rt,
            request_id: id,
            content_length: n as u16,
            padding_length: pad,
        };
        out.extend_from_slice(&header.encode());
        let mut need = n;
        while need > 0 {
            let p = parts[part];
            let take = (p.len() - off).min(need);
            out.extend_from_slice(&p[off..off + take]);
            off += take;
            need -= take;
            if off == p.len() {
                part += 1;
                off = 0;
            }
        }
        out.extend_from_slice(&[0u8; 8][..usize::from(pad)]);
        left -= n;
    }
}

/// The [`RequestChannel`] of the request in flight on a connection.
struct Channel {
    inner: Arc<Mutex<Inner>>,
    id: u16,
}

impl Channel {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the web server aborted the request",
    )
}

/// The state of request `id` while it is being served.
fn live(req: &mut Option<ReqState>, id: u16) -> Option<&mut ReqState> {
    req.as_mut().filter(|r| r.id == id && !r.finished)
}

impl RequestChannel for Channel {
    fn read_body(&self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(req) = live(&mut inner.req, self.id) else {
            return Ok(0);
        };
        if !req.spill.is_empty() {
            let n = req.spill.len().min(max);
            buf.extend_from_slice(&req.spill[..n]);
            req.spill.drain(..n);
            return Ok(n);
        }
        // `max` is a hint: a whole STDIN record is handed over when it is at most
        // one record more, which saves copying the rest aside.
        let max = max.max(proto::MAX_CONTENT_LEN);
        if req.aborted {
            return Err(gone());
        }
        if req.body_done {
            return Ok(0);
        }
        loop {
            match inner.codec.poll().map_err(protocol_error)? {
                Some(AppEvent::Stdin { data, .. }) => {
                    let n = data.len().min(max);
                    buf.extend_from_slice(&data[..n]);
                    req.spill.extend_from_slice(&data[n..]);
                    return Ok(n);
                }
                Some(AppEvent::StdinEnd { .. }) => {
                    req.body_done = true;
                    return Ok(0);
                }
                Some(AppEvent::Abort { .. }) => {
                    req.aborted = true;
                    return Err(gone());
                }
                Some(AppEvent::Request(_)) => {}
                None => {
                    if !inner_read(&mut inner.stream, &mut inner.codec)? {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the web server closed the connection in the middle of the request body",
                        ));
                    }
                }
            }
        }
    }

    fn send(&self, head: &[u8], body: &[u8], flush: bool) -> io::Result<()> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(req) = live(&mut inner.req, self.id) else {
            return Err(io::Error::other("the request is over"));
        };
        if req.aborted {
            return Err(gone());
        }
        write_parts(&mut inner.out, RecordType::Stdout, self.id, &[head, body]);
        if flush {
            // Notice an ABORT_REQUEST sent while the response streams. Only once the
            // body is complete: earlier, unread body bytes would pile up here.
            if req.body_done && inner.stream.readable_now()? {
                check_abort(inner, self.id)?;
            }
            if let Some(r) = inner.req.as_mut() {
                r.flushed = true;
            }
            inner.write_out()?;
        }
        Ok(())
    }

    fn discard_pending(&self) -> bool {
        let mut inner = self.lock();
        if inner
            .req
            .as_ref()
            .is_some_and(|r| r.id == self.id && r.flushed)
        {
            return false;
        }
        inner.out.clear();
        true
    }

    fn send_diagnostic(&self, text: &[u8]) -> io::Result<()> {
        let mut inner = self.lock();
        write_parts(&mut inner.out, RecordType::Stderr, self.id, &[text]);
        Ok(())
    }
}

fn inner_read(stream: &mut Box<dyn Stream>, codec: &mut AppConnection) -> io::Result<bool> {
    if !codec.output().is_empty() {
        let r = stream.write_all(codec.output());
        codec.clear_output();
        r?;
    }
    let slot = codec.read_buf().spare(READ_SIZE);
    let n = stream.read(slot)?;
    codec.read_buf().advance(n);
    Ok(n > 0)
}

fn check_abort(inner: &mut Inner, id: u16) -> io::Result<()> {
    if !inner_read(&mut inner.stream, &mut inner.codec)? {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the web server closed the connection",
        ));
    }
    while let Some(ev) = inner.codec.poll().map_err(protocol_error)? {
        if let AppEvent::Abort { request_id } = ev {
            if request_id == id {
                if let Some(r) = inner.req.as_mut() {
                    r.aborted = true;
                }
                return Err(gone());
            }
        }
    }
    Ok(())
}

/// Serves requests on one connection until it ends.
pub fn serve_connection(
    server: &Server,
    stream: Box<dyn Stream>,
    config: AppConfig,
) -> io::Result<ConnEnd> {
    let inner = Arc::new(Mutex::new(Inner {
        stream,
        codec: AppConnection::new(config),
        out: Vec::with_capacity(64 * 1024),
        req: None,
    }));
    loop {
        let request: Request = {
            let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match guard.codec.poll().map_err(protocol_error)? {
                    Some(AppEvent::Request(r)) => break r,
                    Some(AppEvent::Abort { request_id }) => {
                        // Aborted before its parameters were complete: the
                        // application never saw it, but the web server waits
                        // for its END_REQUEST.
                        let g = &mut *guard;
                        let close = g.codec.end_request(&mut g.out, request_id, 0);
                        g.write_out()?;
                        if close {
                            return Ok(ConnEnd::Closed);
                        }
                    }
                    Some(_) => {}
                    None => {
                        if !guard.read_more()? {
                            return Ok(ConnEnd::Eof);
                        }
                    }
                }
            }
        };
        if !server.lifecycle.begin() {
            return Ok(ConnEnd::Stopping);
        }
        let result = run_one(server, &inner, &request);
        server.lifecycle.end();
        match result {
            Ok(true) => return Ok(ConnEnd::Closed),
            Ok(false) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Runs one request and writes its end; Ok(true) when the connection must close.
fn run_one(server: &Server, inner: &Arc<Mutex<Inner>>, request: &Request) -> io::Result<bool> {
    let id = request.request_id;
    {
        let mut g = inner.lock().unwrap_or_else(|e| e.into_inner());
        g.req = Some(ReqState {
            id,
            body_done: false,
            aborted: false,
            finished: false,
            flushed: false,
            spill: Vec::new(),
        });
    }
    let channel: Arc<dyn RequestChannel> = Arc::new(Channel {
        inner: inner.clone(),
        id,
    });
    let fatal = server.handle(&request.params, channel);
    let mut g = inner.lock().unwrap_or_else(|e| e.into_inner());
    let g = &mut *g;
    if let Some(r) = g.req.as_mut() {
        r.finished = true;
        r.spill = Vec::new();
    }
    proto::write_stream_end(&mut g.out, RecordType::Stdout, id);
    let close = g.codec.end_request(&mut g.out, id, 0);
    g.write_out()?;
    if let Some(err) = fatal {
        return Err(err);
    }
    Ok(close)
}

//! One FastCGI connection: decode requests, run each through the WSGI bridge,
//! encode the response. One request at a time (IIS never multiplexes; nginx
//! neither).

use std::io::{self, IoSlice};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use iiswsgi_fastcgi::app::{AppConfig, AppConnection, AppEvent, Request};
use iiswsgi_fastcgi::nv::Params;
use iiswsgi_fastcgi::proto::{self, RecordType, HEADER_LEN, PADDING, WRITE_CHUNK};
use iiswsgi_wsgi::{Outcome, RequestChannel};

use crate::slots::Slots;
use crate::transport::Stream;
use crate::Server;

/// Bytes asked of the stream per read in the middle of a request: a full
/// record and then some.
const READ_SIZE: usize = 128 * 1024;
/// Bytes asked of the stream while waiting for a request: enough for the
/// parameters of most, without pinning a large buffer per idle connection.
const IDLE_READ_SIZE: usize = 16 * 1024;
/// Unread body bytes set aside while looking for an ABORT_REQUEST during a
/// response; past this the web server's ABORT would be behind more body bytes
/// and the gateway stops looking (memory stays bounded).
const SPILL_MAX: usize = 1024 * 1024;

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

/// How connections of a serving mode behave.
#[derive(Clone)]
pub struct ConnOptions {
    pub codec: AppConfig,
    /// Longest wait for more of a request that has begun (listening modes).
    pub read_timeout: Option<Duration>,
    /// Serving slots shared by the connections (listening modes).
    pub slots: Option<Arc<Slots>>,
    /// Buffer capacity a connection keeps between requests.
    pub keep_buffers: usize,
}

impl ConnOptions {
    /// IIS's pipe: one connection, one request at a time, buffers kept.
    pub fn pipe() -> Self {
        ConnOptions {
            codec: AppConfig::single_request(),
            read_timeout: None,
            slots: None,
            keep_buffers: 4 * 1024 * 1024,
        }
    }
}

/// The stream and its read timeout state.
struct Io {
    stream: Box<dyn Stream>,
    read_timeout: Option<Duration>,
    /// Whether the read timeout is set on the stream now.
    timed: bool,
}

impl Io {
    /// Writes what the codec queued, then reads once into it; false at end of
    /// stream. `mid_request`: a request has begun, so the read timeout applies.
    fn read(&mut self, codec: &mut AppConnection, mid_request: bool) -> io::Result<bool> {
        if !codec.output().is_empty() {
            let r = self.stream.write_all(codec.output());
            codec.clear_output();
            r?;
        }
        let timeout = self.read_timeout.filter(|_| mid_request);
        if timeout.is_some() != self.timed {
            self.stream.set_read_timeout(timeout)?;
            self.timed = timeout.is_some();
        }
        let want = if mid_request {
            READ_SIZE
        } else {
            IDLE_READ_SIZE
        };
        let slot = codec.read_buf().spare(want);
        let n = match self.stream.read(slot) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no data from the web server for {}s in the middle of a request \
                         (--read-timeout); closing the connection",
                        timeout.unwrap_or_default().as_secs_f64()
                    ),
                ))
            }
            Err(e) => return Err(e),
        };
        codec.read_buf().advance(n);
        if n == 0 && codec.read_buf().buffered() > 0 {
            tracing::warn!(
                "the web server closed the connection inside a record: a truncated record \
                 ({} bytes) was dropped",
                codec.read_buf().buffered()
            );
        }
        Ok(n > 0)
    }
}

struct Inner {
    io: Io,
    codec: AppConnection,
    out: Vec<u8>,
    req: Option<ReqState>,
    keep_buffers: usize,
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
    /// Why the connection cannot go on after this request (a read failed).
    broken: Option<String>,
}

impl Inner {
    fn write_out(&mut self) -> io::Result<()> {
        self.codec.take_output_into(&mut self.out);
        let r = if self.out.is_empty() {
            Ok(())
        } else {
            self.io.stream.write_all(&self.out)
        };
        self.out.clear();
        // One huge response must not pin its size for the connection's life.
        if self.out.capacity() > self.keep_buffers {
            self.out.shrink_to(self.keep_buffers);
        }
        r
    }
}

fn protocol_error(e: iiswsgi_fastcgi::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Walks `parts` as one byte stream, a given number of bytes at a time.
struct Parts<'p, 'a> {
    parts: &'p [&'a [u8]],
    part: usize,
    off: usize,
}

impl<'a> Parts<'_, 'a> {
    /// Hands the next `n` bytes to `f`, as pieces of the original slices.
    fn take(&mut self, mut n: usize, mut f: impl FnMut(&'a [u8])) {
        while n > 0 {
            let Some(&p) = self.parts.get(self.part) else {
                return;
            };
            let take = (p.len() - self.off).min(n);
            if take > 0 {
                f(&p[self.off..self.off + take]);
            }
            self.off += take;
            n -= take;
            if self.off == p.len() {
                self.part += 1;
                self.off = 0;
            }
        }
    }
}

fn total_len(parts: &[&[u8]]) -> usize {
    parts.iter().map(|p| p.len()).sum()
}

/// Appends `parts` to `out` as one stream of records (the buffered path).
fn write_parts(out: &mut Vec<u8>, rt: RecordType, id: u16, parts: &[&[u8]]) {
    let total = total_len(parts);
    out.reserve(total + (total / WRITE_CHUNK + 1) * (HEADER_LEN + 8));
    let mut cursor = Parts {
        parts,
        part: 0,
        off: 0,
    };
    for f in proto::stream_frames(rt, id, total) {
        out.extend_from_slice(&f.header);
        cursor.take(f.content, |s| out.extend_from_slice(s));
        out.extend_from_slice(&PADDING[..f.padding]);
    }
}

/// Writes `pending`, then `parts` framed as STDOUT records, with gather I/O:
/// the record headers come from the codec, the content stays in the
/// application's own buffers.
fn write_framed(io: &mut Io, pending: &[u8], id: u16, parts: &[&[u8]]) -> io::Result<()> {
    let frames: Vec<proto::Frame> =
        proto::stream_frames(RecordType::Stdout, id, total_len(parts)).collect();
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(1 + frames.len() * 4);
    if !pending.is_empty() {
        slices.push(IoSlice::new(pending));
    }
    let mut cursor = Parts {
        parts,
        part: 0,
        off: 0,
    };
    for f in &frames {
        slices.push(IoSlice::new(&f.header));
        cursor.take(f.content, |s| slices.push(IoSlice::new(s)));
        if f.padding > 0 {
            slices.push(IoSlice::new(&PADDING[..f.padding]));
        }
    }
    io.stream.write_all_vectored(&mut slices)
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
                    let failed = match inner.io.read(&mut inner.codec, true) {
                        Ok(true) => continue,
                        Ok(false) => io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the web server closed the connection in the middle of the request body",
                        ),
                        Err(e) => e,
                    };
                    req.broken = Some(failed.to_string());
                    return Err(failed);
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
        if !flush {
            write_parts(&mut inner.out, RecordType::Stdout, self.id, &[head, body]);
            return Ok(());
        }
        // Notice an ABORT_REQUEST sent while the response streams, whether or not
        // the application read the body: unread body bytes are set aside (up to
        // SPILL_MAX) for a later read.
        let look = req.body_done || req.spill.len() < SPILL_MAX;
        req.flushed = true;
        if look && inner.io.stream.readable_now()? {
            check_abort(inner, self.id)?;
        }
        inner.codec.take_output_into(&mut inner.out);
        let r = write_framed(&mut inner.io, &inner.out, self.id, &[head, body]);
        inner.out.clear();
        r
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

/// Reads what the web server sent while the response streams: an ABORT_REQUEST
/// for `id` fails the send; body bytes are kept for the application.
fn check_abort(inner: &mut Inner, id: u16) -> io::Result<()> {
    if !inner.io.read(&mut inner.codec, true)? {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the web server closed the connection",
        ));
    }
    while let Some(ev) = inner.codec.poll().map_err(protocol_error)? {
        let Some(req) = live(&mut inner.req, id) else {
            break;
        };
        match ev {
            AppEvent::Abort { request_id } if request_id == id => {
                req.aborted = true;
                return Err(gone());
            }
            AppEvent::Stdin { request_id, data } if request_id == id => {
                req.spill.extend_from_slice(data)
            }
            AppEvent::StdinEnd { request_id } if request_id == id => req.body_done = true,
            _ => {}
        }
    }
    Ok(())
}

/// `METHOD /path?query` of a request, for log lines about it.
fn describe(params: &Params) -> String {
    let text = |k: &[u8]| String::from_utf8_lossy(params.get(k).unwrap_or_default()).into_owned();
    let uri = match params.get(b"REQUEST_URI") {
        Some(u) => String::from_utf8_lossy(u).into_owned(),
        None => {
            let q = text(b"QUERY_STRING");
            let path = text(b"PATH_INFO");
            if q.is_empty() {
                path
            } else {
                format!("{path}?{q}")
            }
        }
    };
    format!("{} {uri}", text(b"REQUEST_METHOD"))
}

/// Waits for the next request on the connection; `Err(end)` when it ends instead.
fn next_request(inner: &Mutex<Inner>) -> io::Result<Result<Request, ConnEnd>> {
    let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
    let g = &mut *guard;
    loop {
        match g.codec.poll().map_err(protocol_error)? {
            Some(AppEvent::Request(r)) => return Ok(Ok(r)),
            Some(AppEvent::Abort { request_id }) => {
                // Aborted before its parameters were complete: the application
                // never saw it, but the web server waits for its END_REQUEST.
                let close = g.codec.end_request(&mut g.out, request_id, 0);
                g.write_out()?;
                if close {
                    return Ok(Err(ConnEnd::Closed));
                }
            }
            Some(_) => {}
            None => {
                let mid = g.codec.read_buf().buffered() > 0 || g.codec.active_request().is_some();
                if !g.io.read(&mut g.codec, mid)? {
                    return Ok(Err(ConnEnd::Eof));
                }
            }
        }
    }
}

/// Serves requests on one connection until it ends.
pub fn serve_connection(
    server: &Server,
    stream: Box<dyn Stream>,
    opts: &ConnOptions,
) -> io::Result<ConnEnd> {
    let inner = Arc::new(Mutex::new(Inner {
        io: Io {
            stream,
            read_timeout: opts.read_timeout,
            timed: false,
        },
        codec: AppConnection::new(opts.codec.clone()),
        out: Vec::new(),
        req: None,
        keep_buffers: opts.keep_buffers,
    }));
    loop {
        let request = match next_request(&inner)? {
            Ok(r) => r,
            Err(end) => return Ok(end),
        };
        // Only a request being served holds a slot; a parked connection does not.
        let _slot = opts.slots.as_ref().map(|s| s.acquire());
        let Some(token) = server.lifecycle.begin(describe(&request.params)) else {
            return Ok(ConnEnd::Stopping);
        };
        let result = run_one(server, &inner, &request);
        server.lifecycle.end(token);
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
            broken: None,
        });
    }
    let channel: Arc<dyn RequestChannel> = Arc::new(Channel {
        inner: inner.clone(),
        id,
    });
    let outcome = server.handle(&request.params, channel);
    let mut g = inner.lock().unwrap_or_else(|e| e.into_inner());
    let g = &mut *g;
    let broken = g.req.as_mut().and_then(|r| {
        r.finished = true;
        r.spill = Vec::new();
        r.broken.take()
    });
    // A body cut short by the application's error: a non-zero appStatus lets the
    // web server's logs tell.
    let app_status = u32::from(matches!(outcome, Ok(Outcome::Truncated)));
    proto::write_stream_end(&mut g.out, RecordType::Stdout, id);
    let close = g.codec.end_request(&mut g.out, id, app_status);
    let written = g.write_out();
    g.codec.read_buf().release_if_empty(g.keep_buffers);
    if let Some(why) = broken {
        return Err(io::Error::other(why));
    }
    written?;
    outcome.map(|_| close)
}

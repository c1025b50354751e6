//! One `FastCGI` connection: decode requests, run each through a [`Handler`]
//! (the WSGI bridge in the gateway, any Rust handler in tests), encode the
//! response. One request at a time (IIS never multiplexes; nginx neither).
//!
//! The codec (`iiswsgi-fastcgi`) owns the protocol: record framing, the
//! request's state (body complete, aborted, ended) and how a response ends.
//! This module owns the I/O: reads, gather writes, read timeouts, and the body
//! bytes set aside while it looks for an `ABORT_REQUEST`.

use std::io::{self, IoSlice};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use iiswsgi_fastcgi::app::{AppConfig, AppConnection, AppEvent, Request};
use iiswsgi_fastcgi::nv::Params;
use iiswsgi_fastcgi::proto::{self, FramedStream, RecordType};
use iiswsgi_wsgi::{Ending, Outcome, RequestChannel};

use crate::slots::Slots;
use crate::transport::Stream;

/// What serves the requests of a connection.
pub trait Handler: Sync {
    /// Request `what` (`METHOD /path`) is about to run: a token for
    /// [`Handler::end`], or `None` when the process is stopping instead (the
    /// connection ends without running it).
    fn begin(&self, what: String) -> Option<u64> {
        let _ = what;
        Some(0)
    }

    /// Runs one request: read its body from `channel` and send its response
    /// there. `Err`: the process must stop; the connection writes the
    /// request's end and ends with this error.
    fn handle(&self, request: &Request, channel: Arc<dyn RequestChannel>) -> io::Result<Outcome>;

    /// The request of `token` has ended.
    fn end(&self, token: u64) {
        let _ = token;
    }
}

/// Bytes asked of the stream per read in the middle of a request: a full
/// record and then some.
const READ_SIZE: usize = 128 * 1024;
/// Bytes asked of the stream while waiting for a request: enough for the
/// parameters of most, without pinning a large buffer per idle connection.
const IDLE_READ_SIZE: usize = 16 * 1024;
/// Unread body bytes set aside while looking for an `ABORT_REQUEST` during a
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
    /// Requests begun on this connection (for [`ReqState::serial`]).
    serial: u64,
    keep_buffers: usize,
}

/// What the connection keeps about the request being served, beyond the
/// codec's protocol state.
struct ReqState {
    id: u16,
    /// Tells this request from an earlier one with the same id (a channel kept
    /// by the application past its request must not reach the next one).
    serial: u64,
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

/// Writes `pending`, then `parts` framed as STDOUT records, with gather I/O:
/// the record headers come from the codec, the content stays in the
/// application's own buffers.
fn write_framed(io: &mut Io, pending: &[u8], id: u16, parts: &[&[u8]]) -> io::Result<()> {
    let total = parts.iter().map(|p| p.len()).sum();
    let framed = FramedStream::new(RecordType::Stdout, id, total);
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(1 + framed.piece_count(parts.len()));
    if !pending.is_empty() {
        slices.push(IoSlice::new(pending));
    }
    framed.pieces(parts, |piece| slices.push(IoSlice::new(piece)));
    io.stream.write_all_vectored(&mut slices)
}

/// The [`RequestChannel`] of the request in flight on a connection.
struct Channel {
    inner: Arc<Mutex<Inner>>,
    id: u16,
    serial: u64,
}

impl Channel {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the web server aborted the request",
    )
}

/// The parts of a connection a request's channel works with.
struct Live<'a> {
    req: &'a mut ReqState,
    codec: &'a mut AppConnection,
    io: &'a mut Io,
    out: &'a mut Vec<u8>,
}

/// The request of `serial` while it is being served (the codec has not ended it).
fn live(inner: &mut Inner, serial: u64) -> Option<Live<'_>> {
    let req = inner.req.as_mut().filter(|r| r.serial == serial)?;
    if inner.codec.active_request() != Some(req.id) {
        return None;
    }
    Some(Live {
        req,
        codec: &mut inner.codec,
        io: &mut inner.io,
        out: &mut inner.out,
    })
}

impl RequestChannel for Channel {
    fn read_body(&self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let mut guard = self.lock();
        let Some(Live { req, codec, io, .. }) = live(&mut guard, self.serial) else {
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
        if codec.is_aborted(self.id) {
            return Err(gone());
        }
        if codec.body_complete(self.id) {
            return Ok(0);
        }
        loop {
            match codec.poll().map_err(protocol_error)? {
                Some(AppEvent::Stdin { data, .. }) => {
                    let n = data.len().min(max);
                    buf.extend_from_slice(&data[..n]);
                    req.spill.extend_from_slice(&data[n..]);
                    return Ok(n);
                }
                Some(AppEvent::StdinEnd { .. }) => return Ok(0),
                Some(AppEvent::Abort { .. }) => return Err(gone()),
                Some(AppEvent::Request(_)) => {}
                None => {
                    let failed = match io.read(codec, true) {
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
        let Some(Live {
            req,
            codec,
            io,
            out,
        }) = live(&mut guard, self.serial)
        else {
            return Err(io::Error::other("the request is over"));
        };
        if codec.is_aborted(self.id) {
            return Err(gone());
        }
        if !flush {
            proto::write_stream_parts(out, RecordType::Stdout, self.id, &[head, body]);
            return Ok(());
        }
        // Notice an ABORT_REQUEST sent while the response streams, whether or not
        // the application read the body: unread body bytes are set aside (up to
        // SPILL_MAX) for a later read.
        let look = codec.body_complete(self.id) || req.spill.len() < SPILL_MAX;
        req.flushed = true;
        if look && io.stream.readable_now()? {
            check_abort(req, codec, io)?;
        }
        codec.take_output_into(out);
        let r = write_framed(io, out, self.id, &[head, body]);
        out.clear();
        r
    }

    fn discard_pending(&self) -> bool {
        let mut inner = self.lock();
        let ours = inner.req.as_ref().filter(|r| r.serial == self.serial);
        if ours.is_none_or(|r| r.flushed) {
            return false;
        }
        inner.out.clear();
        true
    }

    fn send_diagnostic(&self, text: &[u8]) -> io::Result<()> {
        let mut guard = self.lock();
        if let Some(live) = live(&mut guard, self.serial) {
            proto::write_stream_parts(live.out, RecordType::Stderr, self.id, &[text]);
        }
        Ok(())
    }
}

/// Reads what the web server sent while the response streams: an `ABORT_REQUEST`
/// for the request fails the send; body bytes are kept for the application.
fn check_abort(req: &mut ReqState, codec: &mut AppConnection, io: &mut Io) -> io::Result<()> {
    if !io.read(codec, true)? {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the web server closed the connection",
        ));
    }
    let id = req.id;
    while let Some(ev) = codec.poll().map_err(protocol_error)? {
        match ev {
            AppEvent::Abort { request_id } if request_id == id => return Err(gone()),
            AppEvent::Stdin { request_id, data } if request_id == id => {
                req.spill.extend_from_slice(data);
            }
            _ => {}
        }
    }
    Ok(())
}

/// `METHOD /path?query` of a request, for log lines about it.
fn describe(params: &Params) -> String {
    let text = |k: &[u8]| String::from_utf8_lossy(params.get(k).unwrap_or_default()).into_owned();
    let uri = if let Some(u) = params.get(b"REQUEST_URI") {
        String::from_utf8_lossy(u).into_owned()
    } else {
        let q = text(b"QUERY_STRING");
        let path = text(b"PATH_INFO");
        if q.is_empty() {
            path
        } else {
            format!("{path}?{q}")
        }
    };
    format!("{} {uri}", text(b"REQUEST_METHOD"))
}

/// Waits for the next request on the connection; `Err(end)` when it ends instead.
fn next_request(inner: &Mutex<Inner>) -> io::Result<Result<Request, ConnEnd>> {
    let mut guard = inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
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

/// Serves requests on one connection until it ends, running each through `handler`.
pub fn serve_connection(
    stream: Box<dyn Stream>,
    handler: &dyn Handler,
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
        serial: 0,
        keep_buffers: opts.keep_buffers,
    }));
    loop {
        let request = match next_request(&inner)? {
            Ok(r) => r,
            Err(end) => return Ok(end),
        };
        // Only a request being served holds a slot; a parked connection does not.
        let _slot = opts.slots.as_ref().map(super::slots::Slots::acquire);
        let what = describe(&request.params);
        let Some(token) = handler.begin(what.clone()) else {
            return Ok(ConnEnd::Stopping);
        };
        let started = std::time::Instant::now();
        let result = run_one(handler, &inner, &request);
        handler.end(token);
        log_request(&what, &result, started.elapsed());
        match result {
            Ok((_, true)) => return Ok(ConnEnd::Closed),
            Ok((_, false)) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The request's log line (debug level): what it was, its status, body
/// bytes, time, and how it ended when that was not normally.
fn log_request(what: &str, result: &io::Result<(Outcome, bool)>, took: Duration) {
    let ms = took.as_secs_f64() * 1000.0;
    match result {
        Ok((o, _)) if o.ending == Ending::Complete => {
            tracing::debug!("{what} -> {} {} bytes {ms:.1} ms", o.status, o.body_bytes);
        }
        Ok((o, _)) => tracing::debug!(
            "{what} -> {} {} bytes {ms:.1} ms ({:?})",
            o.status,
            o.body_bytes,
            o.ending
        ),
        Err(e) => tracing::debug!("{what} failed after {ms:.1} ms: {e}"),
    }
}

/// Runs one request and writes its end; its outcome, and true when the
/// connection must close.
fn run_one(
    handler: &dyn Handler,
    inner: &Arc<Mutex<Inner>>,
    request: &Request,
) -> io::Result<(Outcome, bool)> {
    let id = request.request_id;
    let serial = {
        let mut g = inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.serial += 1;
        let serial = g.serial;
        g.req = Some(ReqState {
            id,
            serial,
            flushed: false,
            spill: Vec::new(),
            broken: None,
        });
        serial
    };
    let channel: Arc<dyn RequestChannel> = Arc::new(Channel {
        inner: inner.clone(),
        id,
        serial,
    });
    let outcome = handler.handle(request, channel);
    let mut g = inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let g = &mut *g;
    let broken = g.req.take().and_then(|r| r.broken);
    // A body cut short by the application's error: a non-zero appStatus lets the
    // web server's logs tell.
    let app_status = u32::from(matches!(outcome, Ok(o) if o.ending == Ending::Truncated));
    let close = g.codec.finish_response(&mut g.out, id, app_status);
    let written = g.write_out();
    g.codec.read_buf().release_if_empty(g.keep_buffers);
    if let Some(why) = broken {
        return Err(io::Error::other(why));
    }
    written?;
    outcome.map(|o| (o, close))
}

//! One request on one process, on the wire exactly as IIS speaks it
//! (reference §1.5): `BEGIN_REQUEST` RESPONDER with `KEEP_CONN`, every parameter
//! in one PARAMS record, the empty PARAMS, the body in STDIN records as it
//! arrives, the empty STDIN. Back, only `END_REQUEST`, STDOUT, STDERR and
//! `GET_VALUES_RESULT` are accepted, with the request's id (id 0 only for
//! `GET_VALUES_RESULT`); empty STDOUT/STDERR are dropped, anything after
//! `END_REQUEST` discarded; anything else is "invalid data".

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use iiswsgi_fastcgi::proto::{self, RecordType, Role, HEADER_LEN};
use iiswsgi_fastcgi::server::ServerEvent;
use iiswsgi_iisconfig::StderrMode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::head::{parse_response_head, ResponseHead};
use super::process::{Conn, Process};
use super::relay::Sender;

/// What the front receives for a request.
#[derive(Debug)]
pub enum Event {
    Head(ResponseHead),
    Data(Bytes),
    /// The request failed: before the head, IIS's error page; after, the
    /// response is cut short.
    Failed(crate::model::errors::IisError),
}

/// A request for the process.
pub struct Job {
    /// The parameters, encoded as PARAMS content (name-value pairs).
    pub params: Vec<u8>,
    pub body: Option<hyper::body::Incoming>,
    /// The declared body length (`Some(0)`: no body; `None`: chunked).
    pub content_length: Option<u64>,
    pub max_body: u64,
    /// `responseBufferLimit`: bytes buffered before the head is sent.
    pub buffer_limit: u64,
    pub stderr_mode: StderrMode,
}

/// The pool's time limits for one exchange.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `activityTimeout`: the longest the process may stay silent.
    pub activity: Duration,
    /// When `requestTimeout` ends the request.
    pub deadline: tokio::time::Instant,
}

/// How an exchange ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The process closed the connection or died (its exit code later).
    Exited,
    ActivityTimeout,
    RequestTimeout,
    InvalidData(String),
    /// STDERR with `ReturnStdErrIn500` / `ReturnGeneric500` (process reusable).
    Stderr(String),
    /// STDERR with `TerminateProcess`.
    StderrTerminate,
    /// A chunked body grew past maxAllowedContentLength.
    BodyTooLarge,
    /// The client went away while sending the body.
    ClientGone,
}

/// Bytes asked of the process's transport per read (a 1 MiB reply in a
/// few reads rather than sixteen).
const READ_SIZE: usize = 256 * 1024;

/// Bytes reserved for a body whose length the head does not give, and the
/// most reserved for one that it gives.
const BODY_RESERVE: (usize, usize) = (64 * 1024, 4 << 20);

struct Reply {
    head_buf: Vec<u8>,
    /// Parsed and not yet released.
    head: Option<ResponseHead>,
    /// The head has been parsed (and perhaps released).
    parsed: bool,
    /// Body bytes not yet released, in one buffer: released as one chunk
    /// (split off, so the allocation is shared, not copied), and reserved
    /// at the head's `Content-Length` so that a buffered body costs one
    /// allocation, which the allocator keeps for the next one.
    pending: BytesMut,
    committed: bool,
    stderr: Vec<u8>,
}

impl Reply {
    fn new() -> Self {
        Reply {
            head_buf: Vec::new(),
            head: None,
            parsed: false,
            pending: BytesMut::new(),
            committed: false,
            stderr: Vec::new(),
        }
    }

    fn set_head(&mut self, head: ResponseHead, limit: u64) {
        for line in &head.skipped {
            tracing::warn!("a header line HTTP cannot carry was left out: {line:?}");
        }
        let declared = head.content_length();
        let want = match declared {
            Some(n) => n.min(limit.max(BODY_RESERVE.0 as u64)),
            None => BODY_RESERVE.0 as u64,
        };
        let want = usize::try_from(want).unwrap_or(BODY_RESERVE.1);
        self.pending.reserve(want.min(BODY_RESERVE.1));
        self.head = Some(head);
        self.parsed = true;
    }

    fn stdout(&mut self, data: &[u8], limit: u64) {
        if self.parsed {
            self.pending.extend_from_slice(data);
            return;
        }
        self.head_buf.extend_from_slice(data);
        if let Some(end) = self.head_buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = parse_response_head(&self.head_buf[..end]);
            self.set_head(head, limit);
            self.pending.extend_from_slice(&self.head_buf[end + 4..]);
            self.head_buf.clear();
        }
    }

    /// Sends the head and what is buffered once past the buffer limit (or at `end`).
    async fn flush(&mut self, tx: &Sender<Event>, limit: u64, end: bool) {
        if !self.committed {
            if !self.parsed && end {
                // No blank line: IIS takes it all as the body of a 200.
                let body = std::mem::take(&mut self.head_buf);
                self.set_head(parse_response_head(b""), limit);
                self.pending.extend_from_slice(&body);
            }
            if !self.parsed || !(end || limit == 0 || self.pending.len() as u64 > limit) {
                return;
            }
            let Some(head) = self.head.take() else {
                return;
            };
            self.committed = true;
            tx.send(Event::Head(head)).await;
        }
        if !self.pending.is_empty() {
            tx.send(Event::Data(self.pending.split().freeze())).await;
        }
    }
}

/// Checks a record header as `PROTOCOL::SplitMessages` does.
fn iis_accepts(h: &[u8], id: u16) -> Result<(), String> {
    let (rt, b1, b0) = (h[1], h[2], h[3]);
    let ok_type = matches!(rt, 3 | 6 | 7 | 10);
    let ok_id = b1 == 0
        && if b0 != 0 {
            u16::from(b0) == id
        } else {
            rt == 10
        };
    if ok_type && ok_id {
        Ok(())
    } else {
        Err(format!(
            "a record of type {rt} for request id {} (IIS accepts only types 3, 6, 7 and 10 for request {id})",
            u16::from(b1) << 8 | u16::from(b0)
        ))
    }
}

async fn pump_body<W: AsyncWrite + Unpin>(
    w: &mut W,
    id: u16,
    mut body: Option<hyper::body::Incoming>,
    max: u64,
) -> Result<(), Failure> {
    let mut sent: u64 = 0;
    let mut out = Vec::new();
    while let Some(b) = body.as_mut() {
        let Some(frame) = b.frame().await else { break };
        let frame = frame.map_err(|_| Failure::ClientGone)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        sent += data.len() as u64;
        if sent > max {
            return Err(Failure::BodyTooLarge);
        }
        out.clear();
        proto::write_stream(&mut out, RecordType::Stdin, id, &data);
        w.write_all(&out).await.map_err(|_| Failure::Exited)?;
    }
    out.clear();
    proto::write_stream_end(&mut out, RecordType::Stdin, id);
    w.write_all(&out).await.map_err(|_| Failure::Exited)?;
    Ok(())
}

async fn read_replies<R: AsyncRead + Unpin>(
    r: &mut R,
    p: &mut Process,
    (id, job): (u16, &Job),
    tx: &Sender<Event>,
    activity: &Activity,
) -> Result<(), Failure> {
    let mut reply = Reply::new();
    loop {
        // Decode what is buffered, record by record, IIS's checks first.
        loop {
            let pending = p.codec.read_buf().pending();
            let Some(h) = pending.get(..HEADER_LEN) else {
                break;
            };
            iis_accepts(h, id).map_err(Failure::InvalidData)?;
            let ev = match p.codec.poll() {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(e) => return Err(Failure::InvalidData(e.to_string())),
            };
            match ev {
                ServerEvent::Stdout { data, .. } if !data.is_empty() => {
                    reply.stdout(data, job.buffer_limit);
                }
                ServerEvent::Stderr { data, .. } if !data.is_empty() => match job.stderr_mode {
                    StderrMode::IgnoreAndReturn200 => {}
                    StderrMode::TerminateProcess => return Err(Failure::StderrTerminate),
                    _ => reply.stderr.extend_from_slice(data),
                },
                ServerEvent::EndRequest { .. } => {
                    p.codec.read_buf().clear();
                    if !reply.stderr.is_empty() && !reply.committed {
                        return Err(Failure::Stderr(
                            String::from_utf8_lossy(&reply.stderr).into_owned(),
                        ));
                    }
                    reply.flush(tx, job.buffer_limit, true).await;
                    return Ok(());
                }
                _ => {}
            }
            reply.flush(tx, job.buffer_limit, false).await;
        }
        let slot = p.codec.read_buf().spare(READ_SIZE);
        let n = match r.read(slot).await {
            Err(_) | Ok(0) => return Err(Failure::Exited),
            Ok(n) => n,
        };
        activity.mark();
        p.codec.read_buf().advance(n);
    }
}

/// Runs `job` on `p`, sending the response to `tx` as IIS would release it.
pub async fn exchange(
    p: &mut Process,
    mut job: Job,
    limits: Limits,
    tx: &Sender<Event>,
) -> Result<(), Failure> {
    let id = p.take_id();
    let mut head = std::mem::take(&mut p.write_buf);
    head.clear();
    p.codec.begin_request(&mut head, id, Role::Responder, true);
    p.codec.params_encoded(&mut head, id, &job.params, None);
    let body = if job.content_length == Some(0) {
        proto::write_stream_end(&mut head, RecordType::Stdin, id);
        None
    } else {
        job.body.take()
    };
    let mut conn = p.conn.take().ok_or(Failure::Exited)?;
    let result = match &mut conn {
        Conn::Pipe(s) => run(s, p, (id, &head), body, (&job, limits), tx).await,
        Conn::Tcp(s) => run(s, p, (id, &head), body, (&job, limits), tx).await,
    };
    p.conn = Some(conn);
    p.write_buf = head;
    result
}

trait Split {
    type R<'a>: AsyncRead + Unpin
    where
        Self: 'a;
    type W<'a>: AsyncWrite + Unpin
    where
        Self: 'a;
    fn halves(&mut self) -> (Self::R<'_>, Self::W<'_>);
}

impl Split for tokio::net::UnixStream {
    type R<'a> = tokio::net::unix::ReadHalf<'a>;
    type W<'a> = tokio::net::unix::WriteHalf<'a>;
    fn halves(&mut self) -> (Self::R<'_>, Self::W<'_>) {
        self.split()
    }
}

impl Split for tokio::net::TcpStream {
    type R<'a> = tokio::net::tcp::ReadHalf<'a>;
    type W<'a> = tokio::net::tcp::WriteHalf<'a>;
    fn halves(&mut self) -> (Self::R<'_>, Self::W<'_>) {
        self.split()
    }
}

/// When the process last answered, for `activityTimeout`: one timer per
/// request, moved on only when it fires, instead of one per read. Atomic
/// because the exchange's future must stay `Send` while it borrows this.
struct Activity {
    start: tokio::time::Instant,
    /// Nanoseconds after `start` of the last read.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: tokio::time::Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn mark(&self) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.store(nanos, Ordering::Relaxed);
    }

    fn last(&self) -> tokio::time::Instant {
        self.start + Duration::from_nanos(self.last.load(Ordering::Relaxed))
    }
}

async fn run<S: Split>(
    s: &mut S,
    p: &mut Process,
    (id, head): (u16, &[u8]),
    body: Option<hyper::body::Incoming>,
    (job, limits): (&Job, Limits),
    tx: &Sender<Event>,
) -> Result<(), Failure> {
    let activity = Activity::new();
    let timer = tokio::time::sleep_until(limits.deadline.min(activity.start + limits.activity));
    let work = serve_on(s, p, (id, head), body, job, tx, &activity);
    tokio::pin!(timer, work);
    loop {
        tokio::select! {
            biased;
            res = &mut work => return res,
            () = &mut timer => {
                let now = tokio::time::Instant::now();
                if now >= limits.deadline {
                    return Err(Failure::RequestTimeout);
                }
                let quiet_until = activity.last() + limits.activity;
                if now >= quiet_until {
                    return Err(Failure::ActivityTimeout);
                }
                timer.as_mut().reset(limits.deadline.min(quiet_until));
            }
        }
    }
}

async fn serve_on<S: Split>(
    s: &mut S,
    p: &mut Process,
    (id, head): (u16, &[u8]),
    body: Option<hyper::body::Incoming>,
    job: &Job,
    tx: &Sender<Event>,
    activity: &Activity,
) -> Result<(), Failure> {
    let (mut r, mut w) = s.halves();
    w.write_all(head).await.map_err(|_| Failure::Exited)?;
    let sending = job.content_length != Some(0);
    let pump = async {
        if sending {
            pump_body(&mut w, id, body, job.max_body).await
        } else {
            Ok(())
        }
    };
    let read = read_replies(&mut r, p, (id, job), tx, activity);
    tokio::pin!(pump, read);
    let mut pumped = false;
    loop {
        tokio::select! {
            biased;
            res = &mut read => return res,
            res = &mut pump, if !pumped => {
                pumped = true;
                res?;
            }
        }
    }
}

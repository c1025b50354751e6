//! A sans-IO `FastCGI` 1.0 codec for both roles.
//!
//! * [`app::AppConnection`] is the application side (what a gateway runs): feed it
//!   the bytes read from the web server, take [`app::AppEvent`]s out, and write the
//!   bytes it queues (management replies) together with the response records built
//!   by the `proto::write_*` functions.
//! * [`server::ServerConnection`] is the web-server side (what IIS or nginx runs),
//!   used by tests, the simulator and the benchmarks.
//!
//! Neither does I/O: the caller reads into [`ReadBuf::spare`] and writes the bytes
//! the codec appends to its output buffers. Malformed input gives an [`Error`],
//! never a panic.
//!
//! ```
//! use iiswsgi_fastcgi::{app::{AppConfig, AppConnection, AppEvent}, proto::{self, Role}};
//! let mut wire = Vec::new();
//! proto::write_begin_request(&mut wire, 1, Role::Responder, proto::KEEP_CONN);
//! let params = iiswsgi_fastcgi::nv::encode_pairs([("REQUEST_METHOD", "GET")]).unwrap();
//! proto::write_stream(&mut wire, proto::RecordType::Params, 1, &params);
//! proto::write_stream_end(&mut wire, proto::RecordType::Params, 1);
//!
//! let mut conn = AppConnection::new(AppConfig::single_request());
//! let slot = conn.read_buf().spare(wire.len());
//! slot[..wire.len()].copy_from_slice(&wire);
//! conn.read_buf().advance(wire.len());
//! match conn.poll().unwrap() {
//!     Some(AppEvent::Request(req)) => assert_eq!(req.params.get(b"REQUEST_METHOD"), Some(&b"GET"[..])),
//!     other => panic!("{other:?}"),
//! }
//! ```
#![forbid(unsafe_code)]

pub mod app;
pub mod nv;
pub mod proto;
pub mod server;

use proto::{Header, RecordType, HEADER_LEN, VERSION_1};

/// Malformed or unexpected input.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    #[error("unsupported FastCGI version {version} in a record header (only version 1 exists)")]
    BadVersion { version: u8 },
    #[error("{record_type:?} record for request {request_id} has {len} content bytes; it must have {expected}")]
    BadLength {
        record_type: RecordType,
        request_id: u16,
        len: usize,
        expected: usize,
    },
    #[error("{record_type:?} record for request {request_id}, which is not active")]
    UnknownRequest {
        record_type: RecordType,
        request_id: u16,
    },
    #[error("{record_type:?} record for request {request_id} is not valid here: {why}")]
    UnexpectedRecord {
        record_type: RecordType,
        request_id: u16,
        why: &'static str,
    },
    #[error("BEGIN_REQUEST for request {request_id}, which is already active")]
    DuplicateBegin { request_id: u16 },
    #[error("name-value stream ended inside a pair ({leftover} bytes left over)")]
    TruncatedPair { leftover: usize },
    #[error("name-value pairs exceed the limit of {limit} bytes")]
    ParamsTooLarge { limit: usize },
    #[error("a name or value of {len} bytes cannot be encoded (the limit is 2^31-1)")]
    PairTooLong { len: usize },
}

/// Buffer for bytes read from the peer: the caller reads into [`ReadBuf::spare`],
/// reports how much with [`ReadBuf::advance`], and the codec consumes records.
#[derive(Debug, Default)]
pub struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    /// Room for at least `want` more bytes, compacting or growing as needed.
    pub fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.data.len() - self.end < want {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.data.len() - self.end < want {
                self.data.resize(self.end + want, 0);
            }
        }
        &mut self.data[self.end..]
    }

    /// Marks `n` bytes of the last [`ReadBuf::spare`] slice as filled.
    pub fn advance(&mut self, n: usize) {
        self.end = (self.end + n).min(self.data.len());
    }

    /// Appends bytes (convenience for tests and in-memory use).
    pub fn extend(&mut self, bytes: &[u8]) {
        self.spare(bytes.len())[..bytes.len()].copy_from_slice(bytes);
        self.advance(bytes.len());
    }

    /// Frees the buffer when it holds nothing and has grown past `keep` bytes
    /// (a connection parked between requests should not pin a large buffer).
    pub fn release_if_empty(&mut self, keep: usize) {
        if self.start == self.end && self.data.len() > keep {
            *self = ReadBuf::default();
        }
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The bytes received but not yet decoded (to look at a record header
    /// before decoding it, as IIS's acceptance checks do).
    pub fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Drops every byte received but not yet decoded.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Takes the next complete record: its header and the range of its content in
    /// [`ReadBuf::bytes`]. The bytes stay valid until the next call to `spare`.
    fn next_record(&mut self) -> Result<Option<(Header, std::ops::Range<usize>)>, Error> {
        let avail = &self.data[self.start..self.end];
        let Some(head) = avail.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(head);
        let header = Header::parse(&h);
        if header.version != VERSION_1 {
            return Err(Error::BadVersion {
                version: header.version,
            });
        }
        let total = header.record_len();
        if avail.len() < total {
            return Ok(None);
        }
        let content_start = self.start + HEADER_LEN;
        let content = content_start..content_start + usize::from(header.content_length);
        self.start += total;
        Ok(Some((header, content)))
    }

    fn bytes(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.data[range]
    }
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "mirrors the other header checks, which take the header by reference"
)]
fn expect_len(header: &Header, expected: usize) -> Result<(), Error> {
    let len = usize::from(header.content_length);
    if len == expected {
        Ok(())
    } else {
        Err(Error::BadLength {
            record_type: header.record_type,
            request_id: header.request_id,
            len,
            expected,
        })
    }
}

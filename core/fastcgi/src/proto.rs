//! Wire constants and fixed-layout bodies of `FastCGI` 1.0 (the spec's §8, `fastcgi.h`).

/// Length of a record header.
pub const HEADER_LEN: usize = 8;
/// The only protocol version.
pub const VERSION_1: u8 = 1;
/// Largest content a single record can carry.
pub const MAX_CONTENT_LEN: usize = 0xFFFF;
/// Largest content this crate writes in one record: a multiple of 8, so full
/// records need no padding.
pub const WRITE_CHUNK: usize = 0xFFF8;
/// Request id of management records.
pub const NULL_REQUEST_ID: u16 = 0;
/// `FCGI_KEEP_CONN` flag of `BEGIN_REQUEST`.
pub const KEEP_CONN: u8 = 1;

/// Names of the `GET_VALUES` variables.
pub const MAX_CONNS: &[u8] = b"FCGI_MAX_CONNS";
/// See [`MAX_CONNS`].
pub const MAX_REQS: &[u8] = b"FCGI_MAX_REQS";
/// See [`MAX_CONNS`].
pub const MPXS_CONNS: &[u8] = b"FCGI_MPXS_CONNS";

/// A record type; values the spec does not define are kept as `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordType {
    BeginRequest,
    AbortRequest,
    EndRequest,
    Params,
    Stdin,
    Stdout,
    Stderr,
    Data,
    GetValues,
    GetValuesResult,
    UnknownType,
    Other(u8),
}

impl From<u8> for RecordType {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::BeginRequest,
            2 => Self::AbortRequest,
            3 => Self::EndRequest,
            4 => Self::Params,
            5 => Self::Stdin,
            6 => Self::Stdout,
            7 => Self::Stderr,
            8 => Self::Data,
            9 => Self::GetValues,
            10 => Self::GetValuesResult,
            11 => Self::UnknownType,
            other => Self::Other(other),
        }
    }
}

impl From<RecordType> for u8 {
    fn from(t: RecordType) -> u8 {
        match t {
            RecordType::BeginRequest => 1,
            RecordType::AbortRequest => 2,
            RecordType::EndRequest => 3,
            RecordType::Params => 4,
            RecordType::Stdin => 5,
            RecordType::Stdout => 6,
            RecordType::Stderr => 7,
            RecordType::Data => 8,
            RecordType::GetValues => 9,
            RecordType::GetValuesResult => 10,
            RecordType::UnknownType => 11,
            RecordType::Other(v) => v,
        }
    }
}

/// A record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub record_type: RecordType,
    pub request_id: u16,
    pub content_length: u16,
    pub padding_length: u8,
}

impl Header {
    /// Parses the 8 header bytes. Every bit pattern is a header; checks are the caller's.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Self {
        Header {
            version: b[0],
            record_type: RecordType::from(b[1]),
            request_id: u16::from_be_bytes([b[2], b[3]]),
            content_length: u16::from_be_bytes([b[4], b[5]]),
            padding_length: b[6],
        }
    }

    /// Encodes the header (the reserved byte is zero).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let id = self.request_id.to_be_bytes();
        let len = self.content_length.to_be_bytes();
        [
            self.version,
            self.record_type.into(),
            id[0],
            id[1],
            len[0],
            len[1],
            self.padding_length,
            0,
        ]
    }

    /// Total length of the record this header starts.
    pub fn record_len(&self) -> usize {
        HEADER_LEN + usize::from(self.content_length) + usize::from(self.padding_length)
    }
}

/// The role of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Responder,
    Authorizer,
    Filter,
    Other(u16),
}

impl From<u16> for Role {
    fn from(v: u16) -> Self {
        match v {
            1 => Self::Responder,
            2 => Self::Authorizer,
            3 => Self::Filter,
            other => Self::Other(other),
        }
    }
}

impl From<Role> for u16 {
    fn from(r: Role) -> u16 {
        match r {
            Role::Responder => 1,
            Role::Authorizer => 2,
            Role::Filter => 3,
            Role::Other(v) => v,
        }
    }
}

/// `protocolStatus` of `END_REQUEST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolStatus {
    RequestComplete,
    CantMpxConn,
    Overloaded,
    UnknownRole,
    Other(u8),
}

impl From<u8> for ProtocolStatus {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::RequestComplete,
            1 => Self::CantMpxConn,
            2 => Self::Overloaded,
            3 => Self::UnknownRole,
            other => Self::Other(other),
        }
    }
}

impl From<ProtocolStatus> for u8 {
    fn from(s: ProtocolStatus) -> u8 {
        match s {
            ProtocolStatus::RequestComplete => 0,
            ProtocolStatus::CantMpxConn => 1,
            ProtocolStatus::Overloaded => 2,
            ProtocolStatus::UnknownRole => 3,
            ProtocolStatus::Other(v) => v,
        }
    }
}

/// Padding that brings `content_len` to a multiple of 8.
#[allow(clippy::cast_possible_truncation, reason = "the result is in 0..8")]
pub fn padding_for(content_len: usize) -> u8 {
    // The result is in 0..8, so the cast is lossless.
    ((8 - content_len % 8) % 8) as u8
}

/// Appends one record (header, content, padding to 8 bytes) to `out`.
///
/// # Panics
/// If `content` is longer than [`MAX_CONTENT_LEN`]; callers split streams with
/// [`write_stream`].
pub fn write_record(out: &mut Vec<u8>, record_type: RecordType, request_id: u16, content: &[u8]) {
    let content_length =
        u16::try_from(content.len()).expect("record content must be at most 65535 bytes");
    let padding_length = padding_for(content.len());
    let header = Header {
        version: VERSION_1,
        record_type,
        request_id,
        content_length,
        padding_length,
    };
    out.reserve(content.len() + HEADER_LEN + usize::from(padding_length));
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(content);
    out.extend_from_slice(&[0u8; 8][..usize::from(padding_length)]);
}

/// Appends `data` as records of a stream type, at most [`WRITE_CHUNK`] bytes each.
/// Empty `data` appends nothing: the empty record that ends a stream is written
/// only by [`write_stream_end`].
pub fn write_stream(out: &mut Vec<u8>, record_type: RecordType, request_id: u16, data: &[u8]) {
    for chunk in data.chunks(WRITE_CHUNK) {
        write_record(out, record_type, request_id, chunk);
    }
}

/// The framing of `len` bytes of a stream type as records of at most
/// [`WRITE_CHUNK`] bytes, without the bytes themselves: for each record its
/// encoded header, content length and padding length. A caller that writes
/// with gather I/O sends each header, the content from its own buffers, and
/// `padding` zero bytes, so the content is never copied. `len == 0` gives no
/// records (the empty record that ends a stream is [`write_stream_end`]'s).
#[allow(
    clippy::cast_possible_truncation,
    reason = "a chunk is at most WRITE_CHUNK bytes"
)]
pub fn stream_frames(
    record_type: RecordType,
    request_id: u16,
    len: usize,
) -> impl Iterator<Item = Frame> {
    let records = len.div_ceil(WRITE_CHUNK);
    (0..records).map(move |i| {
        let content = (len - i * WRITE_CHUNK).min(WRITE_CHUNK);
        let padding = padding_for(content);
        let header = Header {
            version: VERSION_1,
            record_type,
            request_id,
            // At most WRITE_CHUNK, so the cast is lossless.
            content_length: content as u16,
            padding_length: padding,
        };
        Frame {
            header: header.encode(),
            content,
            padding: usize::from(padding),
        }
    })
}

/// One record of [`stream_frames`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub header: [u8; HEADER_LEN],
    pub content: usize,
    pub padding: usize,
}

/// Zero bytes for record padding (at most 7 are needed).
pub const PADDING: [u8; 8] = [0; 8];

/// Walks several buffers as one byte stream, a given number of bytes at a time.
#[allow(
    clippy::struct_field_names,
    reason = "parts and part: the buffers and the index into them"
)]
struct Parts<'p, 'a> {
    parts: &'p [&'a [u8]],
    part: usize,
    off: usize,
}

impl<'a> Parts<'_, 'a> {
    /// Hands the next `n` bytes to `f`, as pieces of the original slices.
    fn take(&mut self, mut n: usize, f: &mut impl FnMut(&'a [u8])) {
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

/// The records of a stream whose content lies in several buffers (a CGI head
/// and a body chunk, say), framed without copying the content: for gather
/// writes. Empty content gives no records.
#[derive(Debug, Clone)]
pub struct FramedStream {
    frames: Vec<Frame>,
}

impl FramedStream {
    /// Frames `len` bytes of `record_type` for `request_id`.
    pub fn new(record_type: RecordType, request_id: u16, len: usize) -> Self {
        FramedStream {
            frames: stream_frames(record_type, request_id, len).collect(),
        }
    }

    /// Pieces handed to [`FramedStream::pieces`]: at most 3 per record plus one
    /// per buffer boundary (a capacity hint).
    pub fn piece_count(&self, buffers: usize) -> usize {
        self.frames.len() * 3 + buffers
    }

    /// Calls `piece` with the bytes of the records in order: each header (from
    /// `self`), the content as sub-slices of `parts` (whose total length must
    /// be the `len` given to [`FramedStream::new`]), and the padding.
    pub fn pieces<'s>(&'s self, parts: &[&'s [u8]], mut piece: impl FnMut(&'s [u8])) {
        let mut cursor = Parts {
            parts,
            part: 0,
            off: 0,
        };
        for f in &self.frames {
            piece(&f.header);
            cursor.take(f.content, &mut piece);
            if f.padding > 0 {
                piece(&PADDING[..f.padding]);
            }
        }
    }
}

/// Appends the content of `parts`, as one stream, as records of
/// `record_type` (at most [`WRITE_CHUNK`] bytes each) to `out`.
pub fn write_stream_parts(
    out: &mut Vec<u8>,
    record_type: RecordType,
    request_id: u16,
    parts: &[&[u8]],
) {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    out.reserve(total + (total / WRITE_CHUNK + 1) * (HEADER_LEN + 8));
    let mut cursor = Parts {
        parts,
        part: 0,
        off: 0,
    };
    for f in stream_frames(record_type, request_id, total) {
        out.extend_from_slice(&f.header);
        cursor.take(f.content, &mut |s| out.extend_from_slice(s));
        out.extend_from_slice(&PADDING[..f.padding]);
    }
}

/// Appends the empty record that ends a stream.
pub fn write_stream_end(out: &mut Vec<u8>, record_type: RecordType, request_id: u16) {
    write_record(out, record_type, request_id, &[]);
}

/// Appends a `BEGIN_REQUEST` record.
pub fn write_begin_request(out: &mut Vec<u8>, request_id: u16, role: Role, flags: u8) {
    let r = u16::from(role).to_be_bytes();
    write_record(
        out,
        RecordType::BeginRequest,
        request_id,
        &[r[0], r[1], flags, 0, 0, 0, 0, 0],
    );
}

/// Appends an `END_REQUEST` record.
pub fn write_end_request(
    out: &mut Vec<u8>,
    request_id: u16,
    app_status: u32,
    protocol_status: ProtocolStatus,
) {
    let s = app_status.to_be_bytes();
    write_record(
        out,
        RecordType::EndRequest,
        request_id,
        &[s[0], s[1], s[2], s[3], protocol_status.into(), 0, 0, 0],
    );
}

/// Appends an `UNKNOWN_TYPE` record naming `unknown`.
pub fn write_unknown_type(out: &mut Vec<u8>, unknown: u8) {
    write_record(
        out,
        RecordType::UnknownType,
        NULL_REQUEST_ID,
        &[unknown, 0, 0, 0, 0, 0, 0, 0],
    );
}

//! The web-server side: what IIS or nginx runs. Used by the tests, the IIS
//! simulator and the load generator.

use crate::nv::{self, Pair};
use crate::proto::{self, ProtocolStatus, RecordType, Role, KEEP_CONN, NULL_REQUEST_ID};
use crate::{expect_len, Error, ReadBuf};

/// What the application sent.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerEvent<'a> {
    Stdout {
        request_id: u16,
        data: &'a [u8],
    },
    Stderr {
        request_id: u16,
        data: &'a [u8],
    },
    EndRequest {
        request_id: u16,
        app_status: u32,
        protocol_status: ProtocolStatus,
    },
    GetValuesResult(Vec<Pair>),
    UnknownType {
        record_type: u8,
    },
}

/// Web-server-side connection state: builds requests and decodes replies,
/// checking that replies belong to requests this side began.
#[derive(Debug, Default)]
pub struct ServerConnection {
    rbuf: ReadBuf,
    active: Vec<u16>,
}

impl ServerConnection {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn read_buf(&mut self) -> &mut ReadBuf {
        &mut self.rbuf
    }

    /// Requests begun and not yet ended.
    pub fn active(&self) -> &[u16] {
        &self.active
    }

    /// Appends `BEGIN_REQUEST` (RESPONDER unless `role` says otherwise).
    pub fn begin_request(
        &mut self,
        out: &mut Vec<u8>,
        request_id: u16,
        role: Role,
        keep_conn: bool,
    ) {
        proto::write_begin_request(out, request_id, role, if keep_conn { KEEP_CONN } else { 0 });
        if !self.active.contains(&request_id) {
            self.active.push(request_id);
        }
    }

    /// Appends the PARAMS stream, including its empty end record. `split` cuts
    /// the encoded pairs into records of at most that many bytes (anywhere,
    /// even inside a length), to exercise reassembly.
    pub fn params<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        out: &mut Vec<u8>,
        request_id: u16,
        pairs: impl IntoIterator<Item = (N, V)>,
        split: Option<usize>,
    ) -> Result<(), Error> {
        let body = nv::encode_pairs(pairs)?;
        self.params_encoded(out, request_id, &body, split);
        Ok(())
    }

    /// [`ServerConnection::params`] for pairs already encoded (with
    /// [`nv::encode_pair`]): the PARAMS records and the empty one.
    pub fn params_encoded(
        &mut self,
        out: &mut Vec<u8>,
        request_id: u16,
        body: &[u8],
        split: Option<usize>,
    ) {
        let chunk = split
            .unwrap_or(proto::WRITE_CHUNK)
            .clamp(1, proto::WRITE_CHUNK);
        for piece in body.chunks(chunk) {
            proto::write_record(out, RecordType::Params, request_id, piece);
        }
        proto::write_stream_end(out, RecordType::Params, request_id);
    }

    /// Appends body bytes as STDIN records (nothing for empty `data`).
    pub fn stdin(&mut self, out: &mut Vec<u8>, request_id: u16, data: &[u8]) {
        proto::write_stream(out, RecordType::Stdin, request_id, data);
    }

    /// Appends the empty STDIN record that ends the body.
    pub fn stdin_end(&mut self, out: &mut Vec<u8>, request_id: u16) {
        proto::write_stream_end(out, RecordType::Stdin, request_id);
    }

    pub fn abort(&mut self, out: &mut Vec<u8>, request_id: u16) {
        proto::write_record(out, RecordType::AbortRequest, request_id, &[]);
    }

    /// Appends `GET_VALUES` asking for `names`.
    pub fn get_values<N: AsRef<[u8]>>(
        &mut self,
        out: &mut Vec<u8>,
        names: impl IntoIterator<Item = N>,
    ) -> Result<(), Error> {
        let body = nv::encode_pairs(names.into_iter().map(|n| (n, b"")))?;
        proto::write_record(out, RecordType::GetValues, NULL_REQUEST_ID, &body);
        Ok(())
    }

    /// Decodes the next reply from the buffered input; `Ok(None)` means more
    /// bytes are needed.
    pub fn poll(&mut self) -> Result<Option<ServerEvent<'_>>, Error> {
        let Some((header, range)) = self.rbuf.next_record()? else {
            return Ok(None);
        };
        let id = header.request_id;
        let rt = header.record_type;
        if id == NULL_REQUEST_ID {
            return match rt {
                RecordType::GetValuesResult => Ok(Some(ServerEvent::GetValuesResult(
                    nv::decode_pairs(self.rbuf.bytes(range))?,
                ))),
                RecordType::UnknownType => {
                    expect_len(&header, 8)?;
                    Ok(Some(ServerEvent::UnknownType {
                        record_type: self.rbuf.bytes(range)[0],
                    }))
                }
                _ => Err(Error::UnexpectedRecord {
                    record_type: rt,
                    request_id: id,
                    why: "an application sends only GET_VALUES_RESULT and UNKNOWN_TYPE as management records",
                }),
            };
        }
        if !self.active.contains(&id) {
            return Err(Error::UnknownRequest {
                record_type: rt,
                request_id: id,
            });
        }
        match rt {
            RecordType::Stdout => Ok(Some(ServerEvent::Stdout {
                request_id: id,
                data: self.rbuf.bytes(range),
            })),
            RecordType::Stderr => Ok(Some(ServerEvent::Stderr {
                request_id: id,
                data: self.rbuf.bytes(range),
            })),
            RecordType::EndRequest => {
                expect_len(&header, 8)?;
                self.active.retain(|&i| i != id);
                let b = self.rbuf.bytes(range);
                Ok(Some(ServerEvent::EndRequest {
                    request_id: id,
                    app_status: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    protocol_status: ProtocolStatus::from(b[4]),
                }))
            }
            _ => Err(Error::UnexpectedRecord {
                record_type: rt,
                request_id: id,
                why: "an application sends only STDOUT, STDERR and END_REQUEST for a request",
            }),
        }
    }
}

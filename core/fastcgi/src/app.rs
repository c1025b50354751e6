//! The application side: what a `FastCGI` responder (the gateway) runs.

use crate::nv::{self, PairStream, Params};
use crate::proto::{self, ProtocolStatus, RecordType, Role, KEEP_CONN, NULL_REQUEST_ID};
use crate::{expect_len, Error, ReadBuf};

/// What the application tells `GET_VALUES`, and limits on input.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// `FCGI_MAX_CONNS`: connections this process accepts at once.
    pub max_conns: u32,
    /// `FCGI_MAX_REQS`: requests this process serves at once.
    pub max_reqs: u32,
    /// Largest PARAMS stream accepted for one request, in bytes.
    pub max_params_len: usize,
}

impl AppConfig {
    /// One connection and one request at a time: IIS's pipe model.
    pub fn single_request() -> Self {
        AppConfig {
            max_conns: 1,
            max_reqs: 1,
            max_params_len: 1 << 20,
        }
    }
}

/// A request whose parameters are complete: the application may run it while
/// its body (STDIN) arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub request_id: u16,
    pub keep_conn: bool,
    pub params: Params,
}

/// What the web server asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum AppEvent<'a> {
    /// `BEGIN_REQUEST` and the whole PARAMS stream have arrived.
    Request(Request),
    /// A piece of the request body.
    Stdin { request_id: u16, data: &'a [u8] },
    /// The empty STDIN record: the body is complete.
    StdinEnd { request_id: u16 },
    /// The web server aborted the request; answer with `END_REQUEST` soon.
    Abort { request_id: u16 },
}

#[allow(
    clippy::struct_excessive_bools,
    reason = "independent flags of one request as the protocol defines them"
)]
#[derive(Debug)]
struct Active {
    id: u16,
    keep_conn: bool,
    params: Option<PairStream>,
    stdin_done: bool,
    ended: bool,
    aborted: bool,
}

/// Application-side connection state. This implementation serves one request
/// at a time per connection (`FCGI_MPXS_CONNS=0`): a `BEGIN_REQUEST` while another
/// request is active is answered with `END_REQUEST` `CANT_MPX_CONN`.
#[derive(Debug)]
pub struct AppConnection {
    config: AppConfig,
    rbuf: ReadBuf,
    out: Vec<u8>,
    active: Option<Active>,
    /// Requests refused at `BEGIN_REQUEST` whose remaining records are skipped.
    ignored: Vec<u16>,
}

/// The live state of request `id`; `None` when its records are to be skipped:
/// refused, already answered, or never begun (the `FastCGI` specification, §3.3:
/// records for a request id that is not active are ignored).
fn live<'a>(
    active: &'a mut Option<Active>,
    ignored: &mut Vec<u16>,
    rt: RecordType,
    id: u16,
    record_len: usize,
) -> Option<&'a mut Active> {
    if let Some(pos) = ignored.iter().position(|&i| i == id) {
        if rt == RecordType::Stdin && record_len == 0 {
            // The refused request's body is over: nothing more will come for it.
            ignored.remove(pos);
        }
        return None;
    }
    active.as_mut().filter(|a| a.id == id && !a.ended)
}

impl AppConnection {
    pub fn new(config: AppConfig) -> Self {
        AppConnection {
            config,
            rbuf: ReadBuf::default(),
            out: Vec::new(),
            active: None,
            ignored: Vec::new(),
        }
    }

    /// Where the caller puts bytes read from the web server.
    pub fn read_buf(&mut self) -> &mut ReadBuf {
        &mut self.rbuf
    }

    /// Bytes the codec wants sent (management replies, refusals). The caller
    /// writes them and then calls [`AppConnection::clear_output`].
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    pub fn clear_output(&mut self) {
        self.out.clear();
    }

    /// Moves the pending output to the end of `dst` (to batch it with a response).
    pub fn take_output_into(&mut self, dst: &mut Vec<u8>) {
        dst.append(&mut self.out);
    }

    /// Id of the request being served, if any.
    pub fn active_request(&self) -> Option<u16> {
        self.active.as_ref().filter(|a| !a.ended).map(|a| a.id)
    }

    /// Whether the active request was aborted by the web server.
    pub fn is_aborted(&self, request_id: u16) -> bool {
        self.active
            .as_ref()
            .is_some_and(|a| a.id == request_id && a.aborted)
    }

    /// Whether the body (STDIN stream) of `request_id`, being served, is complete.
    pub fn body_complete(&self, request_id: u16) -> bool {
        self.active
            .as_ref()
            .is_some_and(|a| a.id == request_id && !a.ended && a.stdin_done)
    }

    /// Ends the response of `request_id`: appends the empty STDOUT record and
    /// `END_REQUEST` (`REQUEST_COMPLETE`, `app_status`) to `out`. Returns true when
    /// the connection must be closed afterwards (see [`AppConnection::end_request`]).
    pub fn finish_response(&mut self, out: &mut Vec<u8>, request_id: u16, app_status: u32) -> bool {
        proto::write_stream_end(out, RecordType::Stdout, request_id);
        self.end_request(out, request_id, app_status)
    }

    /// Appends `END_REQUEST` (`REQUEST_COMPLETE`) for `request_id` to `out` and ends
    /// the request. Returns true when the connection must be closed afterwards
    /// (the web server did not set `FCGI_KEEP_CONN`).
    pub fn end_request(&mut self, out: &mut Vec<u8>, request_id: u16, app_status: u32) -> bool {
        proto::write_end_request(out, request_id, app_status, ProtocolStatus::RequestComplete);
        match self.active.as_mut() {
            Some(a) if a.id == request_id => {
                a.ended = true;
                a.params = None;
                !a.keep_conn
            }
            _ => false,
        }
    }

    /// Decodes the next event from the buffered input. `Ok(None)`: more bytes are
    /// needed (management records met on the way have been answered in
    /// [`AppConnection::output`]).
    pub fn poll(&mut self) -> Result<Option<AppEvent<'_>>, Error> {
        loop {
            let Some((header, range)) = self.rbuf.next_record()? else {
                return Ok(None);
            };
            let id = header.request_id;
            let rt = header.record_type;
            if id == NULL_REQUEST_ID {
                self.management(rt, range)?;
                continue;
            }
            match rt {
                RecordType::BeginRequest => {
                    expect_len(&header, 8)?;
                    let body = self.rbuf.bytes(range);
                    let role = Role::from(u16::from_be_bytes([body[0], body[1]]));
                    let flags = body[2];
                    self.begin(id, role, flags)?;
                }
                RecordType::AbortRequest => {
                    expect_len(&header, 0)?;
                    if let Some(a) = live(&mut self.active, &mut self.ignored, rt, id, range.len())
                    {
                        a.aborted = true;
                        return Ok(Some(AppEvent::Abort { request_id: id }));
                    }
                }
                RecordType::Params => {
                    let Some(a) = live(&mut self.active, &mut self.ignored, rt, id, range.len())
                    else {
                        continue;
                    };
                    let Some(params) = a.params.as_mut() else {
                        return Err(Error::UnexpectedRecord {
                            record_type: rt,
                            request_id: id,
                            why: "the PARAMS stream already ended",
                        });
                    };
                    if !range.is_empty() {
                        params.feed(self.rbuf.bytes(range))?;
                        continue;
                    }
                    let pairs = a.params.take().map(PairStream::finish).transpose()?;
                    return Ok(Some(AppEvent::Request(Request {
                        request_id: id,
                        keep_conn: a.keep_conn,
                        params: pairs.unwrap_or_default(),
                    })));
                }
                RecordType::Stdin => {
                    let Some(a) = live(&mut self.active, &mut self.ignored, rt, id, range.len())
                    else {
                        continue;
                    };
                    if a.params.is_some() {
                        return Err(Error::UnexpectedRecord {
                            record_type: rt,
                            request_id: id,
                            why: "STDIN before the PARAMS stream ended",
                        });
                    }
                    if a.stdin_done {
                        return Err(Error::UnexpectedRecord {
                            record_type: rt,
                            request_id: id,
                            why: "the STDIN stream already ended",
                        });
                    }
                    if range.is_empty() {
                        a.stdin_done = true;
                        return Ok(Some(AppEvent::StdinEnd { request_id: id }));
                    }
                    return Ok(Some(AppEvent::Stdin {
                        request_id: id,
                        data: self.rbuf.bytes(range),
                    }));
                }
                RecordType::Data => {
                    // DATA belongs to the FILTER role, which is refused at BEGIN_REQUEST.
                    live(&mut self.active, &mut self.ignored, rt, id, range.len());
                }
                _ => {
                    return Err(Error::UnexpectedRecord {
                        record_type: rt,
                        request_id: id,
                        why: "a web server does not send this record type",
                    })
                }
            }
        }
    }

    fn begin(&mut self, id: u16, role: Role, flags: u8) -> Result<(), Error> {
        self.ignored.retain(|&i| i != id);
        if role != Role::Responder {
            proto::write_end_request(&mut self.out, id, 0, ProtocolStatus::UnknownRole);
            self.remember_ignored(id);
            return Ok(());
        }
        if let Some(a) = &self.active {
            if !a.ended {
                if a.id == id {
                    return Err(Error::DuplicateBegin { request_id: id });
                }
                proto::write_end_request(&mut self.out, id, 0, ProtocolStatus::CantMpxConn);
                self.remember_ignored(id);
                return Ok(());
            }
        }
        self.active = Some(Active {
            id,
            keep_conn: flags & KEEP_CONN != 0,
            params: Some(PairStream::new(self.config.max_params_len)),
            stdin_done: false,
            ended: false,
            aborted: false,
        });
        Ok(())
    }

    fn remember_ignored(&mut self, id: u16) {
        // Bounded: a web server cannot have more than 65535 ids outstanding, and
        // in practice it has a handful; keep the most recent ones.
        if self.ignored.len() >= 64 {
            self.ignored.remove(0);
        }
        self.ignored.push(id);
    }

    fn management(&mut self, rt: RecordType, range: std::ops::Range<usize>) -> Result<(), Error> {
        if rt != RecordType::GetValues {
            proto::write_unknown_type(&mut self.out, rt.into());
            return Ok(());
        }
        let asked = nv::decode_pairs(self.rbuf.bytes(range))?;
        let mut reply = Vec::new();
        for (name, _) in asked {
            let value = match name.as_slice() {
                proto::MAX_CONNS => self.config.max_conns.to_string(),
                proto::MAX_REQS => self.config.max_reqs.to_string(),
                proto::MPXS_CONNS => "0".to_string(),
                _ => continue,
            };
            nv::encode_pair(&mut reply, &name, value.as_bytes())?;
        }
        if reply.len() > proto::MAX_CONTENT_LEN {
            reply.truncate(0);
        }
        proto::write_record(
            &mut self.out,
            RecordType::GetValuesResult,
            NULL_REQUEST_ID,
            &reply,
        );
        Ok(())
    }
}

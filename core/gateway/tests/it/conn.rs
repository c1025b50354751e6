//! The connection loop without Python: `serve_connection` over one end of a
//! socketpair (the gateway's own Unix stream, gather writes included), a Rust
//! [`Handler`], and the codec's web-server side as the client.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use iiswsgi_fastcgi::app::Request;
use iiswsgi_fastcgi::proto::{self, ProtocolStatus, RecordType, Role, WRITE_CHUNK};
use iiswsgi_fastcgi::server::{ServerConnection, ServerEvent};
use iiswsgi_gateway::conn::{serve_connection, ConnEnd, ConnOptions, Handler};
use iiswsgi_gateway::transport::unix::SockStream;
use iiswsgi_wsgi::{Ending, Outcome, RequestChannel};

const HEAD: &[u8] = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n";
const BIG: usize = 3 * WRITE_CHUNK + 1000;

/// Answers by `PATH_INFO`; records what it saw.
#[derive(Default)]
struct TestHandler {
    seen: Mutex<Vec<String>>,
    /// `begin` refuses (the process is stopping).
    stopping: bool,
    ended: Mutex<u32>,
}

impl TestHandler {
    fn note(&self, s: String) {
        self.seen.lock().unwrap().push(s);
    }
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn outcome(ending: Ending, status: u16, body_bytes: u64) -> Outcome {
    Outcome {
        ending,
        status,
        body_bytes,
    }
}

fn read_all(channel: &dyn RequestChannel) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    while channel.read_body(&mut body, 4096)? > 0 {}
    Ok(body)
}

impl Handler for TestHandler {
    fn begin(&self, what: String) -> Option<u64> {
        self.note(format!("begin {what}"));
        (!self.stopping).then_some(7)
    }

    fn end(&self, token: u64) {
        assert_eq!(token, 7);
        *self.ended.lock().unwrap() += 1;
    }

    fn handle(&self, req: &Request, channel: Arc<dyn RequestChannel>) -> io::Result<Outcome> {
        let path = String::from_utf8_lossy(req.params.get(b"PATH_INFO").unwrap_or_default());
        match &*path {
            "/hello" => channel.send(HEAD, b"hello", false)?,
            "/echo" => {
                let body = read_all(channel.as_ref())?;
                channel.send(HEAD, &body, true)?;
            }
            "/big" => {
                // Flushed and buffered chunks, crossing record boundaries.
                let chunk = vec![b'b'; BIG / 4];
                channel.send(HEAD, &chunk, true)?;
                channel.send(b"", &chunk, false)?;
                channel.send(b"", &chunk, true)?;
                channel.send(b"", &chunk, false)?;
            }
            "/wait-body" => {
                let e = read_all(channel.as_ref()).expect_err("the body is aborted");
                self.note(format!("read failed: {:?}", e.kind()));
                assert!(channel.send(HEAD, b"late", true).is_err());
                return Ok(outcome(Ending::ChannelFailed, 0, 0));
            }
            "/diagnostic" => {
                channel.send(HEAD, b"partial", false)?;
                assert!(channel.discard_pending(), "nothing was flushed yet");
                channel.send_diagnostic(b"it broke")?;
                channel.send(HEAD, b"error page", false)?;
            }
            "/truncated" => {
                channel.send(HEAD, b"part", true)?;
                assert!(!channel.discard_pending(), "the head is out");
                return Ok(outcome(Ending::Truncated, 200, 4));
            }
            "/fatal" => {
                channel.send(HEAD, b"dying", false)?;
                return Err(io::Error::other("the application cannot be loaded"));
            }
            other => panic!("unexpected path {other}"),
        }
        self.note(format!("served {path}"));
        Ok(outcome(Ending::Complete, 200, 0))
    }
}

/// The web server's side.
struct Client {
    sock: UnixStream,
    codec: ServerConnection,
}

#[derive(Debug, Default)]
struct Response {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    records: Vec<usize>,
    app_status: u32,
    protocol_status: Option<ProtocolStatus>,
}

impl Response {
    fn body(&self) -> &[u8] {
        let end = self.stdout.windows(4).position(|w| w == b"\r\n\r\n");
        end.map_or(&self.stdout[..], |e| &self.stdout[e + 4..])
    }
}

impl Client {
    fn request(&mut self, out: &mut Vec<u8>, id: u16, path: &str, body: &[u8], keep: bool) {
        self.codec.begin_request(out, id, Role::Responder, keep);
        let params = [
            (
                "REQUEST_METHOD",
                if body.is_empty() { "GET" } else { "POST" },
            ),
            ("PATH_INFO", path),
        ];
        self.codec.params(out, id, params, None).unwrap();
        self.codec.stdin(out, id, body);
        self.codec.stdin_end(out, id);
    }

    fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).unwrap();
    }

    fn fill(&mut self) -> bool {
        let slot = self.codec.read_buf().spare(64 * 1024);
        let n = self.sock.read(slot).unwrap();
        self.codec.read_buf().advance(n);
        n > 0
    }

    fn response(&mut self, id: u16) -> Response {
        let mut r = Response::default();
        loop {
            while let Some(ev) = self.codec.poll().unwrap() {
                match ev {
                    ServerEvent::Stdout { request_id, data } => {
                        assert_eq!(request_id, id);
                        r.records.push(data.len());
                        r.stdout.extend_from_slice(data);
                    }
                    ServerEvent::Stderr { request_id, data } => {
                        assert_eq!(request_id, id);
                        r.stderr.extend_from_slice(data);
                    }
                    ServerEvent::EndRequest {
                        request_id,
                        app_status,
                        protocol_status,
                    } => {
                        assert_eq!(request_id, id);
                        r.app_status = app_status;
                        r.protocol_status = Some(protocol_status);
                        return r;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert!(self.fill(), "EOF before END_REQUEST of {id}");
        }
    }

    fn get(&mut self, id: u16, path: &str) -> Response {
        let mut out = Vec::new();
        self.request(&mut out, id, path, b"", true);
        self.send(&out);
        self.response(id)
    }

    /// Ends the connection for the gateway and checks that it sends nothing more.
    fn close(mut self) {
        self.sock.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(!self.fill(), "bytes after the last response");
    }
}

type Served = JoinHandle<io::Result<ConnEnd>>;

fn start_with(handler: TestHandler, opts: ConnOptions) -> (Client, Arc<TestHandler>, Served) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    ours.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let handler = Arc::new(handler);
    let h = Arc::clone(&handler);
    let served = std::thread::spawn(move || {
        let stream = SockStream::from(socket2::Socket::from(std::os::fd::OwnedFd::from(theirs)));
        serve_connection(Box::new(stream), h.as_ref(), &opts)
    });
    let client = Client {
        sock: ours,
        codec: ServerConnection::new(),
    };
    (client, handler, served)
}

fn start() -> (Client, Arc<TestHandler>, Served) {
    start_with(TestHandler::default(), ConnOptions::pipe())
}

fn ended(served: Served) -> io::Result<ConnEnd> {
    served.join().expect("serve_connection panicked")
}

#[test]
fn a_kept_connection_serves_requests_until_the_web_server_closes_it() {
    let (mut c, h, served) = start();
    for (id, path) in [(1, "/hello"), (2, "/hello"), (1, "/hello")] {
        let r = c.get(id, path);
        assert_eq!(r.body(), b"hello");
        assert_eq!(r.app_status, 0);
        assert_eq!(r.protocol_status, Some(ProtocolStatus::RequestComplete));
        assert_eq!(
            r.records.last(),
            Some(&0),
            "the empty STDOUT ends the stream"
        );
    }
    c.close();
    assert_eq!(ended(served).unwrap(), ConnEnd::Eof);
    assert_eq!(*h.ended.lock().unwrap(), 3);
    assert_eq!(h.seen()[0], "begin GET /hello");
}

#[test]
fn without_keep_conn_the_connection_closes_after_the_response() {
    let (mut c, _h, served) = start();
    let mut out = Vec::new();
    c.request(&mut out, 1, "/echo", b"body", false);
    c.send(&out);
    assert_eq!(c.response(1).body(), b"body");
    assert_eq!(ended(served).unwrap(), ConnEnd::Closed);
    assert!(!c.fill(), "the gateway closed its end");
}

#[test]
fn requests_in_turn_each_get_their_own_body() {
    let (mut c, h, served) = start();
    let bodies: Vec<Vec<u8>> = vec![vec![1; 10], vec![2; 3 * WRITE_CHUNK + 5], Vec::new()];
    for (i, b) in bodies.iter().enumerate() {
        let id = i as u16 + 1;
        let mut out = Vec::new();
        c.request(&mut out, id, "/echo", b, true);
        let mut writer = c.sock.try_clone().unwrap();
        let sending = std::thread::spawn(move || writer.write_all(&out));
        assert_eq!(c.response(id).body(), &b[..], "request {id}");
        sending.join().unwrap().unwrap();
    }
    c.close();
    assert_eq!(ended(served).unwrap(), ConnEnd::Eof);
    assert_eq!(h.seen().iter().filter(|s| *s == "served /echo").count(), 3);
}

#[test]
fn large_responses_are_framed_in_records_from_flushed_and_held_chunks() {
    let (mut c, _h, served) = start();
    let r = c.get(1, "/big");
    assert_eq!(r.body().len(), BIG / 4 * 4);
    assert!(r.body().iter().all(|&b| b == b'b'));
    assert!(
        r.records.iter().all(|&n| n <= WRITE_CHUNK),
        "{:?}",
        r.records
    );
    assert!(r.records.len() > 4, "{:?}", r.records);
    // The connection is still in step afterwards.
    assert_eq!(c.get(2, "/hello").body(), b"hello");
    c.close();
    assert_eq!(ended(served).unwrap(), ConnEnd::Eof);
}

#[test]
fn an_abort_while_the_body_is_read_fails_the_read_and_ends_the_request() {
    let (mut c, h, served) = start();
    let mut out = Vec::new();
    c.codec.begin_request(&mut out, 1, Role::Responder, true);
    c.codec
        .params(&mut out, 1, [("PATH_INFO", "/wait-body")], None)
        .unwrap();
    c.codec.stdin(&mut out, 1, b"some of the body");
    c.send(&out);
    std::thread::sleep(Duration::from_millis(100));
    let mut abort = Vec::new();
    c.codec.abort(&mut abort, 1);
    c.send(&abort);
    let r = c.response(1);
    assert!(r.stdout.is_empty(), "{:?}", r.stdout);
    assert!(h
        .seen()
        .contains(&"read failed: ConnectionAborted".to_owned()));
    assert_eq!(c.get(2, "/hello").body(), b"hello");
    c.close();
    assert_eq!(ended(served).unwrap(), ConnEnd::Eof);
}

#[test]
fn an_abort_before_the_parameters_end_is_answered_without_running_anything() {
    let (mut c, h, served) = start();
    let mut out = Vec::new();
    c.codec.begin_request(&mut out, 3, Role::Responder, true);
    proto::write_record(&mut out, RecordType::Params, 3, b"\x09\x05PATH_INFO");
    c.codec.abort(&mut out, 3);
    c.send(&out);
    let r = c.response(3);
    assert!(r.stdout.is_empty());
    assert_eq!(r.protocol_status, Some(ProtocolStatus::RequestComplete));
    c.close();
    assert_eq!(ended(served).unwrap(), ConnEnd::Eof);
    assert!(h.seen().is_empty(), "{:?}", h.seen());
}

#[test]
fn get_values_is_answered_between_requests() {
    let (mut c, _h, served) = start();
    let mut out = Vec::new();
    c.codec
        .get_values(
            &mut out,
            ["FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"],
        )
        .unwrap();
    c.send(&out);
    let pairs = loop {
        if let Some(ev) = c.codec.poll().unwrap() {
            match ev {
                ServerEvent::GetValuesResult(pairs) => break pairs,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(c.fill());
    };
    let text: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        text,
        [
            ("FCGI_MAX_CONNS".into(), "1".into()),
            ("FCGI_MAX_REQS".into(), "1".into()),
            ("FCGI_MPXS_CONNS".into(), "0".into())
        ]
    );
    assert_eq!(c.get(1, "/hello").body(), b"hello");
    c.close();
    assert_eq!(ended(served).unwrap(), ConnEnd::Eof);
}

#[test]
fn unknown_management_records_are_answered_and_bad_records_end_the_connection() {
    let (mut c, _h, served) = start();
    let mut out = Vec::new();
    proto::write_record(&mut out, RecordType::Other(42), 0, b"");
    c.send(&out);
    loop {
        if let Some(ev) = c.codec.poll().unwrap() {
            assert_eq!(ev, ServerEvent::UnknownType { record_type: 42 });
            break;
        }
        assert!(c.fill());
    }
    // A record header with version 2.
    c.send(&[2, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    let e = ended(served).expect_err("a bad version is a protocol error");
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("version 2"), "{e}");

    let (mut c, _h, served) = start();
    let mut out = Vec::new();
    c.codec.begin_request(&mut out, 1, Role::Responder, true);
    proto::write_record(&mut out, RecordType::Stdin, 1, b"body before params");
    c.send(&out);
    let e = ended(served).expect_err("STDIN before PARAMS ended");
    assert!(e.to_string().contains("STDIN before the PARAMS"), "{e}");
}

#[test]
fn a_second_request_while_one_runs_is_refused_with_cant_mpx_conn() {
    let (mut c, _h, served) = start();
    let mut out = Vec::new();
    c.codec.begin_request(&mut out, 1, Role::Responder, true);
    c.codec
        .params(&mut out, 1, [("PATH_INFO", "/echo")], None)
        .unwrap();
    c.codec.begin_request(&mut out, 2, Role::Responder, true);
    c.codec.stdin(&mut out, 1, b"x");
    c.codec.stdin_end(&mut out, 1);
    c.send(&out);
    let refused = c.response(2);
    assert_eq!(refused.protocol_status, Some(ProtocolStatus::CantMpxConn));
    assert_eq!(c.response(1).body(), b"x");
    c.close();
    assert_eq!(ended(served).unwrap(), ConnEnd::Eof);
}

#[test]
fn outcomes_reach_the_end_request_and_the_diagnostic_stream() {
    let (mut c, _h, served) = start();
    let r = c.get(1, "/truncated");
    assert_eq!(r.body(), b"part");
    assert_eq!(r.app_status, 1, "a body cut short has appStatus 1");
    let r = c.get(2, "/diagnostic");
    assert_eq!(r.body(), b"error page", "the held response was discarded");
    assert_eq!(r.stderr, b"it broke");
    assert_eq!(r.app_status, 0);
    c.close();
    assert_eq!(ended(served).unwrap(), ConnEnd::Eof);
}

#[test]
fn a_failing_handler_ends_its_request_then_the_connection() {
    let (mut c, h, served) = start();
    let r = c.get(1, "/fatal");
    assert_eq!(r.body(), b"dying");
    assert_eq!(r.protocol_status, Some(ProtocolStatus::RequestComplete));
    let e = ended(served).expect_err("the handler's error ends the connection");
    assert!(e.to_string().contains("cannot be loaded"), "{e}");
    assert_eq!(*h.ended.lock().unwrap(), 1);
}

#[test]
fn a_stopping_process_takes_no_new_request() {
    let handler = TestHandler {
        stopping: true,
        ..TestHandler::default()
    };
    let (mut c, h, served) = start_with(handler, ConnOptions::pipe());
    let mut out = Vec::new();
    c.request(&mut out, 1, "/hello", b"", true);
    c.send(&out);
    assert_eq!(ended(served).unwrap(), ConnEnd::Stopping);
    assert_eq!(h.seen(), ["begin GET /hello"]);
    assert_eq!(*h.ended.lock().unwrap(), 0);
}

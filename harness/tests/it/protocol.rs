//! `FastCGI` protocol edge cases in IIS's model (issue 8, point 2): ABORT while a
//! response streams, records for inactive ids, truncated records, and the
//! appStatus of a response cut short.

use std::io::Read;
use std::time::{Duration, Instant};

use iiswsgi_fastcgi::proto::{self, ProtocolStatus, RecordType, Role};
use iiswsgi_fastcgi::server::ServerEvent;
use iiswsgi_harness::{iis_params, PipeGateway, RequestSpec};

use crate::pipe::start;

/// Reads events of request `id` until `END_REQUEST` or `deadline`; returns the
/// STDOUT bytes seen and the `END_REQUEST`'s app status, if it came.
fn read_until_end(gw: &mut PipeGateway, id: u16, deadline: Instant) -> (usize, Option<u32>) {
    let mut stdout = 0usize;
    let sock = gw.client.socket().try_clone().unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut sock = sock;
    loop {
        let codec = gw.client.codec();
        while let Some(ev) = codec.poll().unwrap() {
            match ev {
                ServerEvent::Stdout { request_id, data } if request_id == id => {
                    stdout += data.len();
                }
                ServerEvent::EndRequest {
                    request_id,
                    app_status,
                    ..
                } if request_id == id => return (stdout, Some(app_status)),
                _ => {}
            }
        }
        if Instant::now() > deadline {
            return (stdout, None);
        }
        let slot = codec.read_buf().spare(256 * 1024);
        match sock.read(slot) {
            Ok(0) => return (stdout, None),
            Ok(n) => codec.read_buf().advance(n),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn abort_while_a_response_streams_stops_it_and_keeps_serving() {
    let (mut gw, dir) = start("conformance:app");
    let marker = dir.path().join("closed.txt");
    let spec = RequestSpec::new(
        iis_params(
            "GET",
            "",
            "/forever",
            &format!("marker={}", marker.display()),
            0,
        ),
        vec![],
    );
    let (id, wire) = gw.client.encode(&spec).unwrap();
    gw.client.send_raw(&wire).unwrap();
    // Let the response start streaming (however long a loaded machine
    // takes to start it), then abort.
    let give_up = Instant::now() + Duration::from_secs(20);
    let mut seen = 0;
    while seen == 0 && Instant::now() < give_up {
        let (n, end) = read_until_end(&mut gw, id, Instant::now() + Duration::from_millis(300));
        assert!(end.is_none(), "the response streams until aborted");
        seen += n;
    }
    assert!(seen > 0, "the response streams: {seen}");
    let mut abort = Vec::new();
    gw.client.codec().abort(&mut abort, id);
    gw.client.send_raw(&abort).unwrap();
    let (_, end) = read_until_end(&mut gw, id, Instant::now() + Duration::from_secs(20));
    assert!(end.is_some(), "END_REQUEST after ABORT_REQUEST");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap_or_default(),
        "closed\n",
        "the application's close() was called"
    );
    // The connection keeps serving.
    let r = gw.get("/hello", "").unwrap();
    assert_eq!(r.body, b"Hello, World!");
}

#[test]
fn records_for_inactive_request_ids_are_ignored() {
    let (mut gw, _d) = start("conformance:app");
    let mut w = Vec::new();
    proto::write_stream(&mut w, RecordType::Stdin, 77, b"stray");
    proto::write_record(&mut w, RecordType::AbortRequest, 78, b"");
    gw.client.send_raw(&w).unwrap();
    let r = gw.get("/hello", "").unwrap();
    assert_eq!(r.body, b"Hello, World!", "the connection still serves");
    let log = gw.log_text();
    let (status, _, _) = gw.close_and_wait(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn eof_inside_a_record_is_logged_as_truncated() {
    let (mut gw, _d) = start("conformance:app");
    let mut w = Vec::new();
    proto::write_begin_request(&mut w, 1, Role::Responder, proto::KEEP_CONN);
    gw.client.send_raw(&w[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let log_path = gw.log.clone();
    let _ = gw.close_and_wait(Duration::from_secs(20)).unwrap();
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    assert!(log.contains("truncated record"), "{log}");
}

#[test]
fn an_iterator_failing_after_output_ends_with_a_non_zero_app_status() {
    let (mut gw, _d) = start("conformance:app");
    let r = gw.get("/error-during", "").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"first part;");
    assert_eq!(r.protocol_status, Some(ProtocolStatus::RequestComplete));
    assert_ne!(r.app_status, 0, "the body was cut short");
    // A complete response still has appStatus 0.
    assert_eq!(gw.get("/hello", "").unwrap().app_status, 0);
}

#[test]
fn the_debug_log_has_a_line_per_request_with_status_bytes_and_ending() {
    let dir = crate::tmp();
    let mut gw = iiswsgi_harness::GatewayCommand::serve(
        &["conformance:app", "--log-level", "debug"],
        &dir.path().join("iiswsgi.log"),
    )
    .env("WSGI_RESTART_FILE_REGEX", "")
    .spawn_pipe()
    .expect("gateway starts");
    let hello = gw.get("/hello", "").unwrap();
    assert_eq!(hello.status, 200);
    assert_eq!(gw.get("/error-during", "").unwrap().body, b"first part;");
    // The line follows the request's END_REQUEST: read the log once the gateway is gone.
    let log_path = gw.log.clone();
    let _ = gw.close_and_wait(Duration::from_secs(20));
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    let line = |what: &str| {
        log.lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} line in:\n{log}"))
            .to_owned()
    };
    let hello_line = line("GET /hello -> ");
    assert!(
        hello_line.contains(&format!("-> 200 {} bytes", hello.body.len())),
        "{hello_line}"
    );
    let cut = line("GET /error-during -> ");
    assert!(cut.contains("-> 200 11 bytes"), "{cut}");
    assert!(cut.ends_with("(Truncated)"), "{cut}");
    // The settings and where each came from are logged at start-up.
    assert!(
        line("setting log level").contains("(command line)"),
        "{log}"
    );
    assert!(
        line("setting restart regex").contains("(environment variable WSGI_RESTART_FILE_REGEX)"),
        "{log}"
    );
}

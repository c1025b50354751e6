#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    clippy::items_after_statements,
    reason = "test data: small numbers cast to wire types, helpers next to their use"
)]
#![allow(clippy::unwrap_used)]
//! Codec tests: both roles against each other, malformed input, property tests.

mod framing;

use iiswsgi_fastcgi::app::{AppConfig, AppConnection, AppEvent, Request};
use iiswsgi_fastcgi::nv::{self, PairStream};
use iiswsgi_fastcgi::proto::{self, Header, ProtocolStatus, RecordType, Role};
use iiswsgi_fastcgi::server::{ServerConnection, ServerEvent};
use iiswsgi_fastcgi::Error;
use proptest::prelude::*;

/// Everything the application side produced, in a comparable form.
#[derive(Debug, Default, PartialEq)]
struct AppSaw {
    requests: Vec<Request>,
    body: Vec<u8>,
    stdin_ended: bool,
    aborted: Vec<u16>,
}

/// Feeds `wire` to `app` in pieces of the given sizes (cycled) and collects events.
fn drive_app(app: &mut AppConnection, wire: &[u8], pieces: &[usize]) -> Result<AppSaw, Error> {
    let mut saw = AppSaw::default();
    let mut pos = 0;
    let mut i = 0;
    while pos < wire.len() {
        let n = pieces
            .get(i % pieces.len().max(1))
            .copied()
            .unwrap_or(wire.len())
            .max(1)
            .min(wire.len() - pos);
        i += 1;
        app.read_buf().extend(&wire[pos..pos + n]);
        pos += n;
        while let Some(ev) = app.poll()? {
            match ev {
                AppEvent::Request(r) => saw.requests.push(r),
                AppEvent::Stdin { data, .. } => saw.body.extend_from_slice(data),
                AppEvent::StdinEnd { .. } => saw.stdin_ended = true,
                AppEvent::Abort { request_id } => saw.aborted.push(request_id),
            }
        }
    }
    Ok(saw)
}

/// Decodes every record the application wrote, checking framing as it goes.
fn drive_server(server: &mut ServerConnection, wire: &[u8]) -> Vec<String> {
    check_framing(wire);
    server.read_buf().extend(wire);
    let mut out = Vec::new();
    while let Some(ev) = server.poll().expect("application output decodes") {
        out.push(match ev {
            ServerEvent::Stdout { request_id, data } => {
                format!("stdout {request_id} {}", String::from_utf8_lossy(data))
            }
            ServerEvent::Stderr { request_id, data } => {
                format!("stderr {request_id} {}", String::from_utf8_lossy(data))
            }
            ServerEvent::EndRequest {
                request_id,
                app_status,
                protocol_status,
            } => format!("end {request_id} {app_status} {protocol_status:?}"),
            ServerEvent::GetValuesResult(pairs) => format!(
                "values {}",
                pairs
                    .iter()
                    .map(|(n, v)| format!(
                        "{}={}",
                        String::from_utf8_lossy(n),
                        String::from_utf8_lossy(v)
                    ))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            ServerEvent::UnknownType { record_type } => format!("unknown {record_type}"),
        });
    }
    out
}

/// Every record written by this crate is 8-byte aligned and at most 65535 bytes of content.
fn check_framing(wire: &[u8]) {
    let mut pos = 0;
    while pos < wire.len() {
        let mut h = [0u8; 8];
        h.copy_from_slice(&wire[pos..pos + 8]);
        let header = Header::parse(&h);
        assert_eq!(header.version, 1);
        assert_eq!(
            header.record_len() % 8,
            0,
            "record at {pos} is not 8-byte aligned"
        );
        pos += header.record_len();
    }
    assert_eq!(pos, wire.len());
}

fn request_wire(
    id: u16,
    keep: bool,
    params: &[(Vec<u8>, Vec<u8>)],
    split: Option<usize>,
    body: &[u8],
) -> Vec<u8> {
    let mut s = ServerConnection::new();
    let mut w = Vec::new();
    s.begin_request(&mut w, id, Role::Responder, keep);
    s.params(&mut w, id, params.iter().map(|(a, b)| (a, b)), split)
        .unwrap();
    s.stdin(&mut w, id, body);
    s.stdin_end(&mut w, id);
    w
}

#[test]
fn request_and_response_round_trip() {
    let params = vec![
        (b"REQUEST_METHOD".to_vec(), b"POST".to_vec()),
        (b"PATH_INFO".to_vec(), b"/caf\xe9".to_vec()),
        (vec![b'N'; 200], vec![b'v'; 70_000]),
    ];
    let body = vec![7u8; 200_000];
    let wire = request_wire(1, true, &params, Some(3), &body);
    let mut app = AppConnection::new(AppConfig::single_request());
    let saw = drive_app(&mut app, &wire, &[5, 1, 4096, 65_536]).unwrap();
    assert_eq!(saw.requests.len(), 1);
    assert_eq!(saw.requests[0].params.to_pairs(), params);
    assert!(saw.requests[0].keep_conn);
    assert_eq!(saw.body, body);
    assert!(saw.stdin_ended);
    assert_eq!(app.active_request(), Some(1));

    let mut out = Vec::new();
    proto::write_stream(
        &mut out,
        RecordType::Stdout,
        1,
        b"Status: 200 OK\r\n\r\nhello",
    );
    proto::write_stream(&mut out, RecordType::Stderr, 1, b"warn");
    proto::write_stream_end(&mut out, RecordType::Stdout, 1);
    assert!(
        !app.end_request(&mut out, 1, 0),
        "KEEP_CONN set: keep the connection"
    );
    assert_eq!(app.active_request(), None);
    let mut server = ServerConnection::new();
    server.begin_request(&mut Vec::new(), 1, Role::Responder, true);
    assert_eq!(
        drive_server(&mut server, &out),
        vec![
            "stdout 1 Status: 200 OK\r\n\r\nhello",
            "stderr 1 warn",
            "stdout 1 ",
            "end 1 0 RequestComplete"
        ]
    );
    assert!(server.active().is_empty());
}

#[test]
fn keep_conn_clear_means_close() {
    let wire = request_wire(9, false, &[], None, b"");
    let mut app = AppConnection::new(AppConfig::single_request());
    let saw = drive_app(&mut app, &wire, &[wire.len()]).unwrap();
    assert!(!saw.requests[0].keep_conn);
    assert!(app.end_request(&mut Vec::new(), 9, 0));
}

#[test]
fn three_requests_on_one_connection() {
    let mut app = AppConnection::new(AppConfig::single_request());
    for id in [1u16, 2, 3] {
        let wire = request_wire(
            id,
            true,
            &[(b"A".to_vec(), id.to_string().into_bytes())],
            None,
            b"x",
        );
        let saw = drive_app(&mut app, &wire, &[7]).unwrap();
        assert_eq!(saw.requests[0].request_id, id);
        assert!(!app.end_request(&mut Vec::new(), id, 0));
    }
}

#[test]
fn get_values_answered_in_the_codec() {
    let mut s = ServerConnection::new();
    let mut w = Vec::new();
    s.get_values(
        &mut w,
        [
            "FCGI_MAX_CONNS",
            "FCGI_MAX_REQS",
            "FCGI_MPXS_CONNS",
            "NOT_A_VARIABLE",
        ],
    )
    .unwrap();
    let mut app = AppConnection::new(AppConfig::single_request());
    assert_eq!(drive_app(&mut app, &w, &[3]).unwrap(), AppSaw::default());
    let reply = app.output().to_vec();
    assert_eq!(
        drive_server(&mut s, &reply),
        vec!["values FCGI_MAX_CONNS=1,FCGI_MAX_REQS=1,FCGI_MPXS_CONNS=0"]
    );

    let mut app = AppConnection::new(AppConfig {
        max_conns: 64,
        max_reqs: 64,
        ..AppConfig::single_request()
    });
    drive_app(&mut app, &w, &[w.len()]).unwrap();
    let reply = app.output().to_vec();
    assert_eq!(
        drive_server(&mut s, &reply),
        vec!["values FCGI_MAX_CONNS=64,FCGI_MAX_REQS=64,FCGI_MPXS_CONNS=0"]
    );
}

#[test]
fn unknown_management_record_gets_unknown_type() {
    let mut w = Vec::new();
    proto::write_record(&mut w, RecordType::Other(42), 0, b"whatever");
    let mut app = AppConnection::new(AppConfig::single_request());
    drive_app(&mut app, &w, &[1]).unwrap();
    let reply = app.output().to_vec();
    assert_eq!(
        drive_server(&mut ServerConnection::new(), &reply),
        vec!["unknown 42"]
    );
}

#[test]
fn other_roles_get_unknown_role_and_their_records_are_skipped() {
    let mut s = ServerConnection::new();
    let mut w = Vec::new();
    s.begin_request(&mut w, 4, Role::Authorizer, true);
    s.params(&mut w, 4, [("A", "B")], None).unwrap();
    s.stdin(&mut w, 4, b"body");
    s.stdin_end(&mut w, 4);
    let mut app = AppConnection::new(AppConfig::single_request());
    assert_eq!(
        drive_app(&mut app, &w, &[w.len()]).unwrap(),
        AppSaw::default()
    );
    let reply = app.output().to_vec();
    assert_eq!(drive_server(&mut s, &reply), vec!["end 4 0 UnknownRole"]);
    // The id is free again: a later STDIN for it is ignored (FastCGI §3.3).
    let mut late = Vec::new();
    proto::write_stream(&mut late, RecordType::Stdin, 4, b"late");
    assert_eq!(
        drive_app(&mut app, &late, &[late.len()]).unwrap(),
        AppSaw::default()
    );
}

#[test]
fn stream_frames_match_write_stream() {
    for len in [0usize, 1, 7, 8, 0xFFF8, 0xFFF9, 3 * 0xFFF8 + 5, 1 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut expected = Vec::new();
        proto::write_stream(&mut expected, RecordType::Stdout, 3, &data);
        let mut framed = Vec::new();
        let mut at = 0;
        for f in proto::stream_frames(RecordType::Stdout, 3, len) {
            framed.extend_from_slice(&f.header);
            framed.extend_from_slice(&data[at..at + f.content]);
            framed.extend_from_slice(&proto::PADDING[..f.padding]);
            at += f.content;
        }
        assert_eq!(at, len);
        assert!(framed == expected, "framing of {len} bytes differs");
    }
}

#[test]
fn records_for_an_inactive_request_are_ignored() {
    // FastCGI §3.3: records whose request id is not active are ignored, and
    // the connection keeps serving.
    let mut app = AppConnection::new(AppConfig::single_request());
    let mut w = Vec::new();
    proto::write_stream(&mut w, RecordType::Stdin, 9, b"stray body");
    proto::write_stream_end(&mut w, RecordType::Stdin, 9);
    proto::write_record(&mut w, RecordType::AbortRequest, 7, b"");
    proto::write_stream(&mut w, RecordType::Params, 5, b"\x01\x01AB");
    proto::write_stream(&mut w, RecordType::Data, 6, b"data");
    assert_eq!(
        drive_app(&mut app, &w, &[w.len()]).unwrap(),
        AppSaw::default()
    );
    assert!(app.output().is_empty(), "nothing is answered");
    let req = request_wire(1, true, &[], None, b"ok");
    let saw = drive_app(&mut app, &req, &[req.len()]).unwrap();
    assert_eq!(saw.requests.len(), 1);
    assert_eq!(saw.body, b"ok");
}

#[test]
fn second_request_while_active_gets_cant_mpx_conn() {
    let mut app = AppConnection::new(AppConfig::single_request());
    let first = request_wire(1, true, &[], None, b"");
    drive_app(&mut app, &first, &[first.len()]).unwrap();
    let second = request_wire(2, true, &[], None, b"zzz");
    let saw = drive_app(&mut app, &second, &[second.len()]).unwrap();
    assert!(saw.requests.is_empty() && saw.body.is_empty());
    let mut s = ServerConnection::new();
    s.begin_request(&mut Vec::new(), 2, Role::Responder, true);
    assert_eq!(
        drive_server(&mut s, app.output()),
        vec!["end 2 0 CantMpxConn"]
    );
}

#[test]
fn abort_is_reported_and_late_records_are_skipped() {
    let mut s = ServerConnection::new();
    let mut w = Vec::new();
    s.begin_request(&mut w, 3, Role::Responder, true);
    s.params(&mut w, 3, [("A", "B")], None).unwrap();
    s.stdin(&mut w, 3, b"part");
    s.abort(&mut w, 3);
    let mut app = AppConnection::new(AppConfig::single_request());
    let saw = drive_app(&mut app, &w, &[w.len()]).unwrap();
    assert_eq!(saw.aborted, vec![3]);
    assert!(app.is_aborted(3));
    app.end_request(&mut Vec::new(), 3, 0);
    // The web server may still be sending the body: skipped, not an error.
    let mut rest = Vec::new();
    s.stdin(&mut rest, 3, b"more");
    s.stdin_end(&mut rest, 3);
    assert_eq!(drive_app(&mut app, &rest, &[1]).unwrap(), AppSaw::default());
}

#[test]
fn malformed_input_gives_typed_errors() {
    let mut app = AppConnection::new(AppConfig::single_request());
    let mut bad = request_wire(1, true, &[], None, b"");
    bad[0] = 2;
    assert_eq!(
        drive_app(&mut app, &bad, &[8]),
        Err(Error::BadVersion { version: 2 })
    );

    let mut app = AppConnection::new(AppConfig::single_request());
    let mut w = Vec::new();
    proto::write_record(&mut w, RecordType::BeginRequest, 1, &[0, 1, 1, 0, 0, 0, 0]);
    assert!(matches!(
        drive_app(&mut app, &w, &[w.len()]),
        Err(Error::BadLength {
            expected: 8,
            len: 7,
            ..
        })
    ));

    let mut app = AppConnection::new(AppConfig::single_request());
    let mut w = Vec::new();
    proto::write_begin_request(&mut w, 1, Role::Responder, 1);
    proto::write_stream(&mut w, RecordType::Params, 1, b"\x05\x01AB");
    proto::write_stream_end(&mut w, RecordType::Params, 1);
    assert_eq!(
        drive_app(&mut app, &w, &[w.len()]),
        Err(Error::TruncatedPair { leftover: 4 })
    );

    let mut app = AppConnection::new(AppConfig::single_request());
    let mut w = Vec::new();
    proto::write_begin_request(&mut w, 1, Role::Responder, 1);
    proto::write_stream(&mut w, RecordType::Stdout, 1, b"nope");
    assert!(matches!(
        drive_app(&mut app, &w, &[w.len()]),
        Err(Error::UnexpectedRecord {
            record_type: RecordType::Stdout,
            ..
        })
    ));

    let mut app = AppConnection::new(AppConfig {
        max_params_len: 100,
        ..AppConfig::single_request()
    });
    let w = request_wire(1, true, &[(b"BIG".to_vec(), vec![0; 200])], Some(10), b"");
    assert_eq!(
        drive_app(&mut app, &w, &[w.len()]),
        Err(Error::ParamsTooLarge { limit: 100 })
    );
}

#[test]
fn padding_is_read_and_max_content_accepted() {
    // A hand-made record with 255 bytes of padding and 65535 bytes of content.
    let mut w = Vec::new();
    proto::write_begin_request(&mut w, 1, Role::Responder, 1);
    proto::write_stream_end(&mut w, RecordType::Params, 1);
    let header = Header {
        version: 1,
        record_type: RecordType::Stdin,
        request_id: 1,
        content_length: 0xFFFF,
        padding_length: 255,
    };
    w.extend_from_slice(&header.encode());
    w.extend(std::iter::repeat_n(b'q', 0xFFFF));
    w.extend(std::iter::repeat_n(0xEE, 255));
    proto::write_stream_end(&mut w, RecordType::Stdin, 1);
    let mut app = AppConnection::new(AppConfig::single_request());
    let saw = drive_app(&mut app, &w, &[1000]).unwrap();
    assert_eq!(saw.body.len(), 0xFFFF);
    assert!(saw.body.iter().all(|&b| b == b'q'));
    assert!(saw.stdin_ended);
}

#[test]
fn nv_length_forms() {
    for (n, v) in [(0usize, 0usize), (127, 128), (128, 127), (128, 70_000)] {
        let name = vec![b'n'; n];
        let value = vec![b'v'; v];
        let enc = nv::encode_pairs([(&name, &value)]).unwrap();
        let head = usize::from(n >= 128) * 3 + usize::from(v >= 128) * 3 + 2;
        assert_eq!(enc.len(), head + n + v);
        assert_eq!(nv::decode_pairs(&enc).unwrap(), vec![(name, value)]);
    }
}

fn pairs_strategy() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..4),
        proptest::collection::vec(any::<u8>(), 125..131),
        proptest::collection::vec(any::<u8>(), 0..2000),
    ];
    proptest::collection::vec((bytes.clone(), bytes), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn prop_request_round_trip(
        id in 1u16..=u16::MAX,
        keep in any::<bool>(),
        params in pairs_strategy(),
        split in proptest::option::of(1usize..300),
        body in proptest::collection::vec(any::<u8>(), 0..150_000),
        pieces in proptest::collection::vec(1usize..70_000, 1..8),
    ) {
        let wire = request_wire(id, keep, &params, split, &body);
        let mut app = AppConnection::new(AppConfig::single_request());
        let saw = drive_app(&mut app, &wire, &pieces).unwrap();
        prop_assert_eq!(saw.requests.len(), 1);
        prop_assert_eq!(&saw.requests[0].params.to_pairs(), &params);
        prop_assert_eq!(saw.requests[0].keep_conn, keep);
        prop_assert_eq!(saw.body, body);
        prop_assert!(saw.stdin_ended);
    }

    #[test]
    fn prop_pair_stream_split_anywhere(params in pairs_strategy(), cuts in proptest::collection::vec(0usize..5000, 0..10)) {
        let enc = nv::encode_pairs(params.iter().map(|(a, b)| (a, b))).unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(enc.len())).collect();
        cuts.sort_unstable();
        let mut stream = PairStream::new(usize::MAX);
        let mut last = 0;
        for c in cuts.into_iter().chain([enc.len()]) {
            stream.feed(&enc[last..c]).unwrap();
            last = c;
        }
        prop_assert_eq!(stream.finish().unwrap().to_pairs(), params);
    }

    #[test]
    fn prop_response_round_trip(
        stdout in proptest::collection::vec(any::<u8>(), 0..200_000),
        stderr in proptest::collection::vec(any::<u8>(), 0..1000),
        status in any::<u32>(),
    ) {
        let mut out = Vec::new();
        proto::write_stream(&mut out, RecordType::Stdout, 7, &stdout);
        proto::write_stream(&mut out, RecordType::Stderr, 7, &stderr);
        proto::write_stream_end(&mut out, RecordType::Stdout, 7);
        proto::write_end_request(&mut out, 7, status, ProtocolStatus::RequestComplete);
        check_framing(&out);
        let mut s = ServerConnection::new();
        s.begin_request(&mut Vec::new(), 7, Role::Responder, true);
        s.read_buf().extend(&out);
        let (mut got_out, mut got_err, mut end) = (Vec::new(), Vec::new(), None);
        while let Some(ev) = s.poll().unwrap() {
            match ev {
                ServerEvent::Stdout { data, .. } => got_out.extend_from_slice(data),
                ServerEvent::Stderr { data, .. } => got_err.extend_from_slice(data),
                ServerEvent::EndRequest { app_status, .. } => end = Some(app_status),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(got_out, stdout);
        prop_assert_eq!(got_err, stderr);
        prop_assert_eq!(end, Some(status));
    }

    /// Arbitrary bytes never panic either side.
    #[test]
    fn prop_garbage_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..4000), valid_prefix in any::<bool>()) {
        let mut wire = if valid_prefix { request_wire(1, true, &[], None, b"") } else { Vec::new() };
        wire.extend_from_slice(&garbage);
        let mut app = AppConnection::new(AppConfig::single_request());
        let _ = drive_app(&mut app, &wire, &[13]);
        let mut s = ServerConnection::new();
        s.begin_request(&mut Vec::new(), 1, Role::Responder, true);
        s.read_buf().extend(&wire);
        while let Ok(Some(_)) = s.poll() {}
    }
}
